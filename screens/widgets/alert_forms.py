"""The small dialogs of the alerts area: the comment that goes with an acknowledge or close, and the filter form."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class _OneLineForm(ModalScreen[str | None]):
    """A title, a line of help and one input: enter gives the text, esc gives None."""

    DEFAULT_CSS = """
    _OneLineForm { align: center middle; }
    _OneLineForm > Vertical {
        width: 90; height: auto; border: round $accent; background: $surface; padding: 0 1;
    }
    _OneLineForm .form-title { text-style: bold; }
    _OneLineForm .form-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="alertform.cancel")]

    def __init__(self, title: str, help_text: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.help_text = help_text
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="form-title")
            yield Input(self.value, placeholder=self.placeholder, id="form-input")
            yield Static("", id="form-problem", classes="form-problem")
            yield Static(Text(self.help_text, style="dim"))

    def on_mount(self) -> None:
        self.query_one("#form-input", Input).focus()

    @on(Input.Submitted, "#form-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.problem(event.value)
        if problem:
            self.query_one("#form-problem", Static).update(problem)
            return
        self.dismiss(event.value)

    def problem(self, text: str) -> str:
        """Why the text cannot be taken (empty when it can)."""
        return ""

    def action_cancel(self) -> None:
        self.dismiss(None)


class CommentScreen(_OneLineForm):
    """Asks for the comment kept in each alert's history; enter goes on to the confirm dialog (empty is fine)."""

    def __init__(self, what: str) -> None:
        super().__init__(what, "enter goes on (a comment is optional), esc cancels", placeholder="comment, e.g. on it")


class AlertFilterScreen(_OneLineForm):
    """Edits the alert filter as words: `sev=0,1 state=new cond=fired rg=rg-web service=Platform since=7d`."""

    def __init__(self, value: str, check: object) -> None:
        super().__init__(
            "Filter the fired alerts",
            "sev=0,1  state=new,acknowledged,closed  cond=fired,resolved  rg=NAME  service=NAME  since=1h|24h|7d|30d\n"
            "enter applies, esc cancels",
            value,
        )
        self.check = check

    def problem(self, text: str) -> str:
        try:
            if callable(self.check):
                self.check(text)
        except ValueError as error:
            return str(error)
        return ""
