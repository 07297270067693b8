"""KQL text shared by the console and the local Azure: literals, and Kusto's spellings of datetimes
and timespans. The one place a value becomes query text."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

__all__ = ["datetime_text", "real_text", "string_literal", "timespan_text"]

_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TICKS_PER_SECOND = 10_000_000


def string_literal(value: str) -> str:
    """A double-quoted KQL string: backslash escapes for the characters the lexer would refuse raw
    (a newline, the closing quote, a dangling backslash); every other character stands for itself."""
    return '"' + "".join(_STRING_ESCAPES.get(ch, ch) for ch in value) + '"'


def real_text(value: float) -> str:
    """A real as KQL reads it back exactly (`repr`), with `+inf`/`-inf` for the infinities."""
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return repr(value)


def datetime_text(value: datetime, *, trim: bool = False) -> str:
    """ISO 8601 in UTC with seven fraction digits and a Z, as Kusto writes datetimes; with `trim`,
    the fraction without trailing zeros (none at all on a whole second), as Log Analytics answers."""
    utc = value.astimezone(UTC) if value.tzinfo is not None else value
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    fraction = f"{utc.microsecond:06d}0"
    if trim:
        fraction = fraction.rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def timespan_text(value: timedelta) -> str:
    """A timespan as Kusto writes it: `[-][d.]hh:mm:ss[.fffffff]` (ticks, when there are any)."""
    ticks = (value.days * 86_400 + value.seconds) * _TICKS_PER_SECOND + value.microseconds * 10
    sign = "-" if ticks < 0 else ""
    seconds, fraction = divmod(abs(ticks), _TICKS_PER_SECOND)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{fraction:07d}" if fraction else "")
