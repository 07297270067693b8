"""Small forms the Backup area asks before a change: which recovery point to restore and where, and what a
restore drill verifies."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from console.services.backups import RecoveryPoint


@dataclass(frozen=True)
class RestorePlan:
    """A restore as asked: the recovery point and, for an alternate location, the target."""

    point: RecoveryPoint
    target: str | None


class RestoreScreen(ModalScreen[RestorePlan | None]):
    """Pick a recovery point (newest first) and, where the item allows, an alternate target; enter goes on."""

    DEFAULT_CSS = """
    RestoreScreen { align: center middle; }
    RestoreScreen > Vertical {
        width: 100; height: auto; max-height: 85%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    RestoreScreen #restore-points { height: 12; }
    RestoreScreen #restore-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="restore.cancel")]

    def __init__(self, item: str, points: list[RecoveryPoint], alternate: bool, suggested: str) -> None:
        super().__init__()
        self.item = item
        self.points = points
        self.alternate = alternate
        self.suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Restore {self.item}: pick a recovery point (newest first)", style="bold"))
            yield OptionList(
                *(Option(f"{p.time:%Y-%m-%d %H:%M:%S} UTC   {p.kind:<28} {p.name}", id=p.name) for p in self.points),
                id="restore-points",
            )
            if self.alternate:
                yield Static("Alternate location (blank restores over the original):")
                yield Input(placeholder=self.suggested, id="restore-target")
            yield Static("", id="restore-problem")
            yield Static(Text("enter picks the highlighted point, esc cancels", style="dim"))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.alternate:
            self.query_one("#restore-target", Input).focus()
            return
        self._finish()

    @on(Input.Submitted, "#restore-target")
    def _target_given(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish()

    def _finish(self) -> None:
        options = self.query_one(OptionList)
        index = options.highlighted
        if index is None or not self.points:
            self.query_one("#restore-problem", Static).update("Pick a recovery point first.")
            return
        target = None
        if self.alternate:
            target = self.query_one("#restore-target", Input).value.strip() or None
        self.dismiss(RestorePlan(self.points[index], target))

    def action_cancel(self) -> None:
        self.dismiss(None)


class DrillScreen(ModalScreen[str | None]):
    """What a restore drill verifies: a runbook's name, or a KQL query that must return rows (it may use
    `item`, `target` and `since`)."""

    DEFAULT_CSS = """
    DrillScreen { align: center middle; }
    DrillScreen > Vertical {
        width: 100; height: auto; border: round $accent; background: $surface; padding: 0 1;
    }
    DrillScreen #drill-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="drill.cancel")]

    def __init__(self, item: str, suggested: str) -> None:
        super().__init__()
        self.item = item
        self.suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Restore drill of {self.item}", style="bold"))
            yield Static(
                "Restores the newest recovery point to an alternate target, then verifies it. Verify with a "
                "runbook's name, or a KQL query that must return rows (it may use item, target and since):"
            )
            yield Input(self.suggested, id="drill-verify", select_on_focus=False)
            yield Static("", id="drill-problem")
            yield Static(Text("enter goes on (a confirmation follows), esc cancels", style="dim"))

    @on(Input.Submitted, "#drill-verify")
    def _given(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#drill-problem", Static).update("Name a runbook or write a KQL query.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
