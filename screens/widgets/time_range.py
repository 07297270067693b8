"""TimeRangePicker: the query's time range, apart from the query text (last 15m ... 7d, or custom)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select

from console.services.logs import Timespan

PRESETS: dict[str, tuple[str, timedelta]] = {
    "15m": ("Last 15 minutes", timedelta(minutes=15)),
    "1h": ("Last hour", timedelta(hours=1)),
    "4h": ("Last 4 hours", timedelta(hours=4)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}
CUSTOM = "custom"
DEFAULT_PRESET = "24h"


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date/time (naive means UTC) or `now`; ValueError with a sentence otherwise."""
    value = text.strip()
    if not value:
        raise ValueError("is empty")
    if value.lower() == "now":
        return now or datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time like 2024-05-01 13:30") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def custom_range(start_text: str, end_text: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The (start, end) a custom range names; ValueError with a sentence when it makes no sense."""
    try:
        start = parse_moment(start_text, now)
    except ValueError as error:
        raise ValueError(f"Start {error}.") from None
    try:
        end = parse_moment(end_text, now) if end_text.strip() else (now or datetime.now(UTC))
    except ValueError as error:
        raise ValueError(f"End {error}.") from None
    if end <= start:
        raise ValueError("The end of the time range must be after its start.")
    return start, end


def describe(timespan: Timespan) -> str:
    """A short label for a timespan, as history and the status line show it."""
    if timespan is None:
        return "set in query"
    if isinstance(timespan, timedelta):
        for key, (_label, delta) in PRESETS.items():
            if delta == timespan:
                return f"last {key}"
        return f"last {timespan}"
    start, end = timespan
    return f"{start.isoformat(timespec='minutes')} – {end.isoformat(timespec='minutes')}"


class TimeRangePicker(Horizontal):
    """A preset list plus start/end boxes for a custom range; `timespan` is what the query gets."""

    DEFAULT_CSS = """
    TimeRangePicker {
        height: auto;
        width: auto;
    }
    TimeRangePicker Select {
        width: 24;
    }
    TimeRangePicker Input {
        width: 28;
        display: none;
    }
    TimeRangePicker.-custom Input {
        display: block;
    }
    TimeRangePicker Input.-invalid {
        border: tall $error;
    }
    """

    class Changed(Message):
        """The time range changed (for a custom range: once both ends make sense)."""

        def __init__(self, picker: TimeRangePicker) -> None:
            super().__init__()
            self.picker = picker

        @property
        def control(self) -> TimeRangePicker:
            return self.picker

    def __init__(self, preset: str = DEFAULT_PRESET, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = preset if preset in PRESETS or preset == CUSTOM else DEFAULT_PRESET

    def compose(self) -> ComposeResult:
        options = [(label, key) for key, (label, _delta) in PRESETS.items()] + [("Custom range…", CUSTOM)]
        yield Select(options, value=self._initial, allow_blank=False, id="time-preset", compact=True)
        yield Input(placeholder="start 2024-05-01 13:00", id="time-start", compact=True)
        yield Input(placeholder="end (blank = now)", id="time-end", compact=True)

    @property
    def preset(self) -> str:
        value = self.query_one("#time-preset", Select).value
        return str(value) if isinstance(value, str) else DEFAULT_PRESET

    @property
    def problem(self) -> str | None:
        """Why the custom range cannot be used, or None."""
        if self.preset != CUSTOM:
            return None
        try:
            custom_range(self.query_one("#time-start", Input).value, self.query_one("#time-end", Input).value)
        except ValueError as error:
            return str(error)
        return None

    @property
    def timespan(self) -> Timespan:
        """What the query API gets: a duration back from now, or (start, end). Raises ValueError if invalid."""
        if self.preset != CUSTOM:
            return PRESETS[self.preset][1]
        return custom_range(self.query_one("#time-start", Input).value, self.query_one("#time-end", Input).value)

    def open(self) -> None:
        """Focus the preset list and show its choices."""
        select = self.query_one("#time-preset", Select)
        select.focus()
        select.expanded = True

    def set_preset(self, preset: str) -> None:
        """Choose a preset (`15m`, `1h`, `4h`, `24h`, `7d`) or `custom`."""
        self.query_one("#time-preset", Select).value = preset

    def set_custom(self, start: str, end: str = "") -> None:
        """Switch to a custom range with the given start and end texts."""
        self.query_one("#time-start", Input).value = start
        self.query_one("#time-end", Input).value = end
        self.set_preset(CUSTOM)

    @on(Select.Changed, "#time-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        event.stop()
        custom = event.value == CUSTOM
        self.set_class(custom, "-custom")
        if custom:
            self.query_one("#time-start", Input).focus()
        self.post_message(self.Changed(self))

    @on(Input.Changed)
    def _custom_changed(self, event: Input.Changed) -> None:
        event.stop()
        problem = self.problem
        for box in self.query(Input):
            box.set_class(problem is not None and bool(box.value.strip()), "-invalid")
        if problem is None:
            self.post_message(self.Changed(self))
