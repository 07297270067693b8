"""A guarded release while it runs: its state (plain data any screen may show), a chart of the gate's readings
against the threshold, and a panel with the countdown and the decision that can go to the background."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.models import GateReading, OperationProgress, ReleaseOutcome
from console.services.slots import ReleaseStop

VERDICT_MARKS = {
    "pass": ("✓", "green"),
    "fail": ("✗", "bold red"),
    "inconclusive": ("?", "yellow"),
    "error": ("!", "red"),
}
DECISION_STYLES = {
    "promoted": "bold green",
    "rolled back": "bold red",
    "failed": "bold red",
    "inconclusive": "bold yellow",
    "kept": "bold yellow",
    "stopped": "bold yellow",
}
_BLOCKS = " ▁▂▃▄▅▆▇█"


def reading_value(observed: Any, metric: str | None = None) -> float | None:
    """The number a reading observed, for the chart: the value itself, the `metric` entry of a mapping (else
    its first number), or the first number of a sequence; None when there is none (an error, no data)."""
    if isinstance(observed, bool):
        return None
    if isinstance(observed, int | float):
        return float(observed) if math.isfinite(observed) else None
    if isinstance(observed, dict):
        if metric is not None and metric in observed:
            return reading_value(observed[metric])
        for value in observed.values():
            found = reading_value(value)
            if found is not None:
                return found
        return None
    if isinstance(observed, list | tuple):
        for value in observed:
            found = reading_value(value, metric)
            if found is not None:
                return found
    return None


def duration_text(seconds: float) -> str:
    """`1m 05s`, `42 s`, `1h 02m`: a countdown as people read it."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def gate_chart(readings: list[GateReading], threshold: float | None, metric: str | None, height: int = 6) -> Text:
    """Each reading as a column (oldest left) scaled against the threshold, which is drawn as a dashed line;
    a column over the threshold is red. Under the columns, each reading's verdict mark."""
    values = [reading_value(r.observed, metric) for r in readings]
    numbers = [v for v in values if v is not None]
    # Head room above the threshold, so its line sits inside the chart and a breach shows above it.
    top = max([*numbers, (threshold or 0.0) * 1.5, 1e-9])
    line_row = None if threshold is None else min(height - 1, int(threshold / top * height))
    text = Text()
    axis = 8
    for row in range(height - 1, -1, -1):
        label = ""
        if row == height - 1:
            label = f"{top:.3g}"
        elif row == line_row:
            label = f"{threshold:.3g}"
        text.append(f"{label:>{axis}} ", style="dim")
        text.append("│", style="dim")
        for value in values:
            cell = " "
            style = ""
            if value is not None:
                level = value / top * height - row  # how much of this row the column fills
                if level >= 1:
                    cell = "█"
                elif level > 0:
                    cell = _BLOCKS[max(1, int(level * 8))]
                elif row == 0:
                    cell = "▁"  # a zero is drawn as a floor, unlike a reading with no number
                style = "red" if threshold is not None and value > threshold else "green"
            if cell == " " and row == line_row:
                cell, style = "╌", "yellow"
            text.append(f" {cell}", style=style)
        if row == line_row:
            text.append(" ╌╌ threshold", style="yellow")
        text.append("\n")
    text.append(" " * axis + " └" + "──" * len(values) + "\n", style="dim")
    text.append(" " * (axis + 1) + " ")
    for reading in readings:
        mark, style = VERDICT_MARKS.get(reading.verdict, ("·", "dim"))
        text.append(f"{mark} ", style=style)
    return text


@dataclass
class Release:
    """One guarded swap as the console follows it: the plan, each gate reading, the phase and the decision."""

    app: str
    slot: str
    target: str
    gate: str
    """The gate in words: a runbook's name with its parameters, or the KQL check."""
    watch_s: float
    interval_s: float
    threshold: float | None = None
    hold_s: float = 0.0
    metric: str | None = None
    """What the chart draws: the observed value's name (e.g. failure_pct), when the gate observes several."""
    started: float = field(default_factory=time.monotonic)
    phase: str = "pre-flight"
    """pre-flight, swapping, watching, rolling back, done."""
    readings: list[GateReading] = field(default_factory=list)
    watch_started: float | None = None
    last_reading_at: float | None = None
    outcome: ReleaseOutcome | None = None
    failure: str | None = None
    """The sentence of a release that could not run to a decision (refused, Azure failed)."""
    _preflight: list[int] = field(default_factory=list)
    """The indexes of the readings taken before a swap (the gate against the source slot)."""
    steps: tuple[float, ...] = ()
    """A ramp's shares of production traffic; empty for a guarded swap."""
    share: float = 0.0
    """The share of production traffic the slot serves now (a ramp's current step)."""
    stop: ReleaseStop = field(default_factory=ReleaseStop)
    """How the console stops the release (keeping or rolling back what it changed)."""

    @property
    def kind(self) -> str:
        return "Ramp" if self.steps else "Guarded swap"

    def routed(self, share: float) -> None:
        """A ramp routed `share` percent of production traffic to the slot; its watch of that step begins."""
        self.share = share
        if not self.done:
            # A share starts a step's watch; 0 ends the ramp's steps: its guarded swap's pre-flight comes next.
            self.phase = "ramping" if share else "pre-flight"
            self.watch_started = time.monotonic() if share else None

    @property
    def done(self) -> bool:
        return self.outcome is not None or self.failure is not None

    def progress(self, update: OperationProgress, swap_action: str) -> None:
        """A progress report of the release's changes: a swap with preview's first phase, the swap (whose end
        starts the watch), or, after a breach, the swap back."""
        if self.done:
            return
        if self.watch_started is not None:
            self.phase = "rolling back"  # the only change after the watch began is the swap back
        elif update.action == swap_action and update.done and update.status == "Succeeded":
            self.phase = "watching"
            self.watch_started = time.monotonic()
        else:
            self.phase = "swapping"

    @property
    def preflight_readings(self) -> int:
        """How many readings came before the watch (the gate against the source slot)."""
        return len(self._preflight)

    def reading(self, reading: GateReading) -> None:
        """One evaluation of the gate (the pre-flight one comes before the swap)."""
        if self.watch_started is None:
            self._preflight.append(len(self.readings))
        self.readings.append(reading)
        self.last_reading_at = time.monotonic()

    def finish(self, outcome: ReleaseOutcome) -> None:
        self.outcome = outcome
        self.phase = "done"

    def fail(self, sentence: str) -> None:
        self.failure = sentence
        self.phase = "done"

    def countdown(self, now: float | None = None) -> str:
        """What the release waits for, in words: the watch's time left and the next reading."""
        now = time.monotonic() if now is None else now
        if self.done:
            return ""
        if self.phase == "watching" and self.watch_started is not None:
            left = self.watch_s - (now - self.watch_started)
            since = self.last_reading_at if self.last_reading_at and self.last_reading_at > self.watch_started else None
            next_in = self.interval_s - (now - (since or self.watch_started))
            return f"watching: {duration_text(left)} left, next reading in {duration_text(next_in)}"
        if self.phase == "ramping" and self.watch_started is not None:
            step = self.steps.index(self.share) + 1 if self.share in self.steps else 0
            left = self.hold_s - (now - self.watch_started)
            return (
                f"ramping: {self.share:g}% of production traffic to {self.slot} (step {step} of {len(self.steps)}), "
                f"{duration_text(left)} left of this step"
            )
        if self.phase == "stopping":
            return "stopping: the current reading finishes, then the release keeps or rolls back as you chose"
        if self.phase == "rolling back":
            return "rolling back: swapping the slots back"
        if self.phase == "swapping":
            return "swapping"
        return "pre-flight: checking both slots and the gate against the source slot"

    def summary(self) -> Text:
        """The release's header lines, its readings and its decision."""
        text = Text()
        text.append(f"{self.app}", style="bold")
        text.append(f"   {self.slot} → {self.target}   gate {self.gate}\n")
        if self.steps:
            shares = ", ".join(f"{share:g}%" for share in self.steps)
            text.append(f"steps {shares}, each held {duration_text(self.hold_s)}; ", style="dim")
            text.append(f"routing now {self.share:g}%\n", style="bold" if self.share else "dim")
        text.append(
            f"watch {duration_text(self.watch_s)}, a reading every {duration_text(self.interval_s)}", style="dim"
        )
        if self.threshold is not None:
            named = f" on {self.metric}" if self.metric and self.metric != "gate" else ""
            text.append(f", threshold {self.threshold:g}{named}", style="dim")
        text.append("\n\n")
        if self.outcome is not None:
            style = DECISION_STYLES.get(self.outcome.decision, "bold")
            text.append(f"{self.outcome.decision.upper()}", style=f"{style} reverse")
            text.append(f"  {self.outcome.sentence}\n")
            where = ", ".join(f"{slot} runs {build}" for slot, build in self.outcome.where.items())
            if where:
                text.append(f"now: {where}\n", style="bold")
        elif self.failure is not None:
            text.append("FAILED", style="bold red reverse")
            text.append(f"  {self.failure}\n")
        else:
            text.append(self.countdown(), style="italic")
            text.append("\n")
        return text

    def reading_lines(self) -> Text:
        text = Text()
        for index, reading in enumerate(self.readings, 1):
            mark, style = VERDICT_MARKS.get(reading.verdict, ("·", "dim"))
            text.append(f"{index:>3} {reading.at:%H:%M:%S} ", style="dim")
            if index - 1 in self._preflight:
                text.append("pre-flight ", style="italic")
            text.append(f"{mark} {reading.verdict:<12}", style=style)
            text.append(f" {reading.sentence}\n")
        if not self.readings:
            text.append("No reading yet.", style="dim")
        return text


class ReleasePanel(ModalScreen[None]):
    """The release: plan, chart of the gate against its threshold, countdown, readings and the decision.

    esc leaves the release running in the background; the area's key brings the panel back.
    """

    DEFAULT_CSS = """
    ReleasePanel { align: center middle; }
    ReleasePanel > Vertical {
        width: 110; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ReleasePanel #release-chart { height: auto; margin: 1 0; }
    ReleasePanel #release-readings { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape", "dismiss", "Background", id="release.background")]

    def __init__(self, release: Release) -> None:
        super().__init__()
        self.release = release

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.release.kind, style="bold"), id="release-title")
            yield Static("", id="release-summary")
            yield Static("", id="release-chart")
            with VerticalScroll(id="release-readings"):
                yield Static("", id="release-reading-list")
            yield Static(Text("esc leaves the release running in the background; G brings this back", style="dim"))

    def on_mount(self) -> None:
        self.set_interval(0.5, self.update_release)
        self.update_release()

    def update_release(self) -> None:
        release = self.release
        self.query_one("#release-summary", Static).update(release.summary())
        self.query_one("#release-chart", Static).update(gate_chart(release.readings, release.threshold, release.metric))
        self.query_one("#release-reading-list", Static).update(release.reading_lines())


class StopReleaseScreen(ModalScreen[bool | None]):
    """Asked when quitting during a release: keep what it changed (False), roll it back (True), or go on (None)."""

    DEFAULT_CSS = """
    StopReleaseScreen { align: center middle; }
    StopReleaseScreen > Vertical {
        width: 90; height: auto; border: thick $warning; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("k", "choose(False)", "Keep", id="release.keep"),
        Binding("r", "choose(True)", "Roll back", id="release.roll_back"),
        Binding("escape", "choose(None)", "Go on", id="release.go_on"),
    ]

    def __init__(self, release: Release) -> None:
        super().__init__()
        self.release = release

    def compose(self) -> ComposeResult:
        release = self.release
        changed = (
            f"{release.share:g}% of production traffic goes to {release.slot}"
            if release.phase == "ramping"
            else f"{release.slot} was swapped into {release.target}"
            if release.watch_started is not None
            else "nothing has changed yet"
        )
        with Vertical():
            yield Static(Text(f"A {release.kind.lower()} of {release.app} is running", style="bold"))
            yield Static(f"It is {release.phase}; {changed}, and the gate has not decided.\n")
            yield Static(
                Text.assemble(
                    ("k", "bold"),
                    " keep what it changed (unproven) and quit   ",
                    ("r", "bold"),
                    " roll it back, then quit   ",
                    ("esc", "bold"),
                    " go on watching",
                )
            )

    def action_choose(self, roll_back: bool | None) -> None:
        self.dismiss(roll_back)
