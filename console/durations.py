"""Timespans as people and Azure write them (`30m`, `1h`, `2d`, `1w`, `00:15:00`, `PT1H`, `P1W`), and the
console's one spelling of a moment, in one place."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

_UNIT_SECONDS = {
    **dict.fromkeys(("w", "week", "weeks"), 604800.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60.0),
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), 0.001),
}
_TIMESPAN_UNIT = re.compile(r"^(-)?(\d+(?:\.\d+)?)\s*([a-z]+)$")
_TIMESPAN_CLOCK = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?$")
_TIMESPAN_ISO = re.compile(
    r"^(-)?P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_timespan(text: str) -> timedelta | None:
    """A timespan as people and Azure write it, or None when `text` is not one."""
    lowered = text.strip().lower()
    unit = _TIMESPAN_UNIT.match(lowered)
    if unit is not None:
        negative, number, name = unit.groups()
        if name not in _UNIT_SECONDS:
            return None
        value = timedelta(seconds=float(Decimal(number) * Decimal(str(_UNIT_SECONDS[name]))))
        return -value if negative else value
    clock = _TIMESPAN_CLOCK.match(lowered)
    if clock is not None:
        negative, days, hours, minutes, seconds, fraction = clock.groups()
        if int(hours) > 23 or int(minutes) > 59 or int(seconds or 0) > 59:
            return None
        value = timedelta(
            days=int(days or 0),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds or 0),
            microseconds=int((fraction or "0").ljust(7, "0")[:7]) // 10,
        )
        return -value if negative else value
    iso = _TIMESPAN_ISO.match(text.strip().upper())
    if iso is not None and any(iso.groups()[1:]):
        negative, weeks, days, hours, minutes, seconds = iso.groups()
        value = timedelta(
            weeks=float(weeks or 0),
            days=float(days or 0),
            hours=float(hours or 0),
            minutes=float(minutes or 0),
            seconds=float(seconds or 0),
        )
        return -value if negative else value
    return None


def timespan_text(value: timedelta) -> str:
    """A timespan as a runbook parameter is typed (`15m`, `1d`, `250ms`), which reads back to the same value."""
    micros = value // timedelta(microseconds=1)
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000)):
        if micros and micros % size == 0:
            return f"{sign}{micros // size}{unit}"
    if micros % 1000 == 0:
        return f"{sign}{micros // 1000}ms"
    seconds, fraction = divmod(micros, 1_000_000)
    days, seconds = divmod(seconds, 86_400)
    clock = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}.{fraction:06d}"
    return f"{sign}{days}.{clock}" if days else f"{sign}{clock}"


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


def iso_utc(moment: datetime) -> str:
    """The console's one spelling of a moment: ISO 8601 UTC, `2026-12-01T20:54:12Z`, with milliseconds
    only when there are some. Naive datetimes are taken as UTC."""
    value = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
