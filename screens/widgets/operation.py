"""Changes to Azure while they run: the operations an area started, a panel that shows their progress, and a
one-line indicator that stays on screen when the panel is sent to the background (and brings it back)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.models import OperationProgress


@dataclass
class TrackedOperation:
    """One change: what, on what, its latest status, and how it ended."""

    action: str
    target: str
    status: str = "Starting"
    started: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0
    done: bool = False
    failed: bool = False
    sentence: str = ""
    """How it ended, for the user: the outcome, or the failure with where things now stand."""

    def line(self) -> Text:
        text = Text()
        mark = ("FAILED", "bold red") if self.failed else ("DONE", "bold green") if self.done else ("…", "bold")
        text.append(f"{mark[0]:>6}  ", style=mark[1])
        text.append(f"{self.action} on {self.target}", style="bold")
        elapsed = self.elapsed_s if self.done else time.monotonic() - self.started
        text.append(f"   {self.status}, {elapsed:.0f} s")
        if self.sentence:
            text.append(f"\n        {self.sentence}", style="red" if self.failed else "")
        return text


class Operations:
    """The operations started in this console, newest last (plain state: any screen may show it)."""

    def __init__(self) -> None:
        self.items: list[TrackedOperation] = []

    def start(self, action: str, target: str) -> TrackedOperation:
        operation = TrackedOperation(action, target)
        self.items.append(operation)
        return operation

    @staticmethod
    def progress(operation: TrackedOperation, update: OperationProgress) -> None:
        """Take a progress report from the service's mutation path."""
        operation.status = update.status
        operation.elapsed_s = update.elapsed_s

    @staticmethod
    def finish(operation: TrackedOperation, sentence: str, *, failed: bool = False) -> None:
        operation.done = True
        operation.failed = failed
        operation.sentence = sentence
        operation.elapsed_s = time.monotonic() - operation.started
        if failed:
            operation.status = "Failed"

    @property
    def running(self) -> list[TrackedOperation]:
        return [o for o in self.items if not o.done]


class OperationIndicator(Static):
    """One line above the footer while an operation runs (or just ended): `O` brings the panel back."""

    DEFAULT_CSS = """
    OperationIndicator {
        dock: bottom; height: 1; margin-bottom: 1; padding: 0 1;
        background: $warning 30%; display: none;
    }
    OperationIndicator.-shown { display: block; }
    OperationIndicator.-failed { background: $error 40%; }
    """

    def __init__(self, operations: Operations) -> None:
        super().__init__(id="operation-indicator")
        self.operations = operations
        self._seen = 0
        """How many operations the user has already seen end (their line goes once looked at)."""

    def on_mount(self) -> None:
        self.set_interval(0.5, self.update_line)
        self.update_line()

    def acknowledge(self) -> None:
        """The user has seen every ended operation (the panel showed them)."""
        self._seen = len(self.operations.items)
        self.update_line()

    def update_line(self) -> None:
        running = self.operations.running
        unseen = [o for o in self.operations.items[self._seen :] if o.done]
        self.set_class(bool(running or unseen), "-shown")
        self.set_class(any(o.failed for o in unseen) and not running, "-failed")
        if running:
            latest = running[-1]
            more = f" (+{len(running) - 1} more)" if len(running) > 1 else ""
            elapsed = time.monotonic() - latest.started
            line = f"{latest.action} on {latest.target}: {latest.status}, {elapsed:.0f} s{more}   O shows progress"
        elif unseen:
            latest = unseen[-1]
            outcome = "failed" if latest.failed else "done"
            line = f"{latest.action} on {latest.target} {outcome}   O shows how it ended"
        else:
            line = ""
        self.update(line)


class OperationPanel(ModalScreen[None]):
    """The operations and their progress; esc leaves them running in the background."""

    DEFAULT_CSS = """
    OperationPanel { align: center middle; }
    OperationPanel > Vertical {
        width: 100; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    OperationPanel #operations-body { height: auto; max-height: 30; }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Background", id="operations.background"),
        Binding("O", "dismiss", "Close", show=False, id="operations.close"),
    ]

    def __init__(self, operations: Operations) -> None:
        super().__init__()
        self.operations = operations

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Operations", style="bold"))
            with VerticalScroll(id="operations-body"):
                yield Static("", id="operations-list")
            yield Static(Text("esc leaves them running in the background; O brings this back", style="dim"))

    def on_mount(self) -> None:
        self.set_interval(0.25, self.update_list)
        self.update_list()

    def update_list(self) -> None:
        text = Text()
        for operation in reversed(self.operations.items):
            text.append_text(operation.line())
            text.append("\n")
        if not self.operations.items:
            text.append("No operation has run in this console yet.", style="dim")
        self.query_one("#operations-list", Static).update(text)
