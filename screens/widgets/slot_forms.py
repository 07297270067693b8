"""Small forms the Slots area asks before a change: a guarded swap's gate and timing, a routing share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from console.durations import parse_timespan
from console.errors import OpsError
from console.services.slots import read_ramp_steps
from screens.widgets.confirm import parse_tags


@dataclass(frozen=True)
class GuardPlan:
    """A guarded swap as asked: the gate (a runbook's name, or a KQL query with its check), the runbook's
    parameters, the watch and the interval."""

    gate: str
    parameters: dict[str, str] = field(default_factory=dict)
    check: str = ""
    """The check of a KQL gate (`value(failure_pct) <= 5`); empty for a runbook."""
    watch: timedelta = timedelta(minutes=10)
    interval: timedelta = timedelta(seconds=30)
    preview: bool = False
    steps: tuple[float, ...] = ()
    """A ramp's shares of production traffic, in turn; empty for a guarded swap."""
    hold: timedelta = timedelta(minutes=5)
    """How long a ramp watches each share."""

    @property
    def is_ramp(self) -> bool:
        return bool(self.steps)

    @property
    def is_kql(self) -> bool:
        """Whether the gate is a KQL query (a runbook's name is one word)."""
        return bool(self.check) or len(self.gate.split()) > 1 or "|" in self.gate

    def describe(self) -> str:
        if self.is_kql:
            return f"KQL check {self.check}"
        params = ", ".join(f"{k}={v}" for k, v in self.parameters.items())
        return f"{self.gate}{f' ({params})' if params else ''}"


def _positive_span(text: str, what: str, example: str) -> timedelta:
    span = parse_timespan(text)
    if span is None or span <= timedelta(0):
        raise ValueError(f"{what} {text.strip()!r} is not a positive timespan (for example {example}).")
    return span


def read_guard_plan(
    gate: str,
    parameters: str,
    watch: str,
    interval: str,
    preview: bool = False,
    check: str = "",
    steps: str = "",
    hold: str = "",
) -> GuardPlan:
    """A plan from the form's text (a ramp's when `steps` is given); a ValueError with a sentence for anything
    that cannot be read."""
    gate, check = gate.strip(), check.strip()
    if not gate:
        raise ValueError("Name a gate: a runbook (slot-health), or a KQL query with a check.")
    if (len(gate.split()) > 1 or "|" in gate) and not check:
        raise ValueError("A KQL gate needs a check, for example: value(failure_pct) <= 5.")
    try:
        values = parse_tags(parameters)
    except ValueError as error:
        raise ValueError(f"Parameters: {str(error).replace('Tag', 'parameter')}") from None
    watched = _positive_span(watch, "Watch", "10m")
    every = _positive_span(interval, "Interval", "30s")
    if every > watched:
        raise ValueError("The interval is longer than the watch: the gate would never be read.")
    if not steps.strip():
        return GuardPlan(gate, values, check, watched, every, preview)
    try:
        shares = read_ramp_steps(steps)
    except OpsError as error:
        raise ValueError(error.message) from None
    held = _positive_span(hold, "Hold", "5m")
    if every > held:
        raise ValueError("The interval is longer than the hold: no step would be judged.")
    return GuardPlan(gate, values, check, watched, every, False, shares, held)


class GuardScreen(ModalScreen[GuardPlan | None]):
    """Ask for a guarded swap's (or a ramp's) gate, parameters, watch and interval (and a ramp's steps and
    hold); enter goes on, esc cancels."""

    DEFAULT_CSS = """
    GuardScreen { align: center middle; }
    GuardScreen > Vertical {
        width: 100; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    GuardScreen Horizontal { height: 1; margin: 0 0 1 0; }
    GuardScreen Label { width: 12; }
    GuardScreen Input { width: 1fr; height: 1; border: none; padding: 0 1; background: $boost; }
    GuardScreen Input:focus { border: none; background: $primary 30%; }
    GuardScreen Checkbox { border: none; padding: 0; height: 1; background: $surface; }
    GuardScreen #guard-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="guard.cancel")]

    def __init__(self, title: str, plan: GuardPlan) -> None:
        super().__init__()
        self.title_text = title
        self.plan = plan

    def compose(self) -> ComposeResult:
        plan = self.plan
        params = ", ".join(f"{k}={v}" for k, v in plan.parameters.items())
        with Vertical():
            yield Static(Text(self.title_text, style="bold"))
            how = (
                "Each share of production traffic goes to the slot in turn, its traffic judged by the gate every\n"
                "interval for the hold; then a guarded swap. A breach routes all traffic back to production.\n"
                if plan.is_ramp
                else "The gate runs against the source slot first, then against production every interval.\n"
            )
            yield Static(
                Text(
                    how + "gate: a runbook's name (parameters as k=v, comma separated), or a KQL query with its check.",
                    "dim",
                )
            )
            fields = [
                ("gate", "guard-gate", plan.gate),
                ("parameters", "guard-params", params),
                ("check", "guard-check", plan.check),
            ]
            if plan.is_ramp:
                fields += [
                    ("steps %", "guard-steps", ",".join(f"{share:g}" for share in plan.steps)),
                    ("hold", "guard-hold", span_text(plan.hold)),
                ]
            fields += [
                ("watch", "guard-watch", span_text(plan.watch)),
                ("interval", "guard-interval", span_text(plan.interval)),
            ]
            for label, field_id, value in fields:
                with Horizontal():
                    yield Label(label)
                    yield Input(value, id=field_id, select_on_focus=False)
            if not plan.is_ramp:
                yield Checkbox("swap with preview first", plan.preview, id="guard-preview")
            yield Static("", id="guard-problem")
            yield Static(Text("enter goes on to the confirmation, esc cancels", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#guard-gate", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()

        def value(field_id: str) -> str:
            found = self.query(f"#{field_id}").results(Input)
            return next((field.value for field in found), "")

        try:
            plan = read_guard_plan(
                value("guard-gate"),
                value("guard-params"),
                value("guard-watch"),
                value("guard-interval"),
                any(box.value for box in self.query("#guard-preview").results(Checkbox)),
                value("guard-check"),
                value("guard-steps"),
                value("guard-hold"),
            )
        except ValueError as error:
            self.query_one("#guard-problem", Static).update(str(error))
            return
        self.dismiss(plan)

    def action_cancel(self) -> None:
        self.dismiss(None)


def span_text(value: timedelta) -> str:
    """`10m`, `30s`, `1h`: a timespan as the form shows it."""
    seconds = int(value.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def read_percent(text: str) -> float:
    """A routing share from `25`, `25%` or `12.5`; a ValueError with a sentence otherwise."""
    cleaned = text.strip().rstrip("%").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a percentage: type a number from 0 to 100.") from None
    if not 0 <= value <= 100:
        raise ValueError(f"{value:g} % is not a share of traffic: type a number from 0 to 100.")
    return value


class RoutingScreen(ModalScreen[float | None]):
    """Ask for the share of production traffic a slot serves (0 clears the routing)."""

    DEFAULT_CSS = """
    RoutingScreen { align: center middle; }
    RoutingScreen > Vertical {
        width: 80; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    RoutingScreen Input { height: 1; border: none; padding: 0 1; background: $boost; margin: 1 0 0 0; }
    RoutingScreen Input:focus { border: none; background: $primary 30%; }
    RoutingScreen #routing-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="routing.cancel")]

    def __init__(self, app_name: str, slot: str, percent: float) -> None:
        super().__init__()
        self.app_name = app_name
        self.slot = slot
        self.percent = percent

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Share of {self.app_name}'s production traffic served by {self.slot}, in percent", "bold")
            )
            yield Input(f"{self.percent:g}", id="routing-input", select_on_focus=True)
            yield Static("", id="routing-problem")
            yield Static(Text("0 sends every request to production; enter goes on, esc cancels", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#routing-input", Input).focus()

    @on(Input.Submitted, "#routing-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            value = read_percent(event.value)
        except ValueError as error:
            self.query_one("#routing-problem", Static).update(str(error))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)
