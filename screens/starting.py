"""The first screen while the console connects (and, with --demo, while the local Azure starts)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, Static


class StartingScreen(Screen[None]):
    """Shows progress while connecting, or the reason connecting failed."""

    DEFAULT_CSS = """
    StartingScreen #starting-message { width: auto; padding: 1 2; }
    StartingScreen #starting-message.-error { color: $error; }
    StartingScreen LoadingIndicator { height: 3; }
    """
    BINDINGS = [Binding("q", "app.quit", "Quit", id="starting.quit")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                yield Static(self.message, id="starting-message")
            yield LoadingIndicator()
        yield Footer()

    def show_error(self, message: str) -> None:
        """Replace the progress with the failure and how to get out."""
        self.query_one(LoadingIndicator).display = False
        label = self.query_one("#starting-message", Static)
        label.add_class("-error")
        label.update(f"{message}\n\nPress q to quit.")
