"""Durations as people and Azure write them: `PT1H`, `P7D`, `1h`, `30m`, `2d`, `00:15:00`."""

from __future__ import annotations

import re
from datetime import timedelta

_ISO = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_SHORT = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d|w)$", re.IGNORECASE)
_CLOCK = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{2})(?::(?P<seconds>\d{2}(?:\.\d+)?))?$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raises ValueError with a sentence that shows accepted forms."""
    value = text.strip()
    match = _ISO.match(value)
    if match and value.upper() not in {"P", "PT"}:
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        if parts:
            return timedelta(**parts)
    match = _SHORT.match(value)
    if match:
        return timedelta(**{_UNITS[match.group("unit").lower()]: float(match.group("value"))})
    match = _CLOCK.match(value)
    if match:
        return timedelta(**{k: float(v) for k, v in match.groupdict().items() if v})
    raise ValueError(f"{text!r} is not a duration; use e.g. PT1H, P7D, 30m, 4h, 2d or 01:30:00.")


def format_duration(delta: timedelta) -> str:
    """The ISO 8601 form Log Analytics takes, e.g. `PT4H`, `P7D`."""
    seconds = int(delta.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    clock = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if v)
    if not days and not clock:
        return "PT0S"
    return "P" + (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
