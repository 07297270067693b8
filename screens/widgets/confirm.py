"""The confirm dialog every change to Azure passes: it names the action, the target and the subscription; in a
protected subscription the user types the target's name before the change may go ahead."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual._time import get_time
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


@dataclass(frozen=True)
class ChangeRequest:
    """What a change is about to do, in the words the dialog shows."""

    action: str
    """A verb phrase: "set tags"."""
    target: str
    """The target's name, which a protected subscription asks the user to type."""
    target_id: str
    subscription: str
    """The subscription's display name."""
    protected: bool = False
    details: str = ""
    """What will change, one or more lines."""
    typed: bool = False
    """Ask for the typed target name whatever the subscription (a restore overwrites or creates data)."""

    @property
    def needs_name(self) -> bool:
        """Whether the user types the target's name to go ahead."""
        return self.protected or self.typed


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a change: y or enter goes ahead, n or esc cancels (nothing is sent). Keys typed before the
    dialog showed (type-ahead meant for the screen underneath) are dropped: only a key the user pressed seeing the
    question answers it."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 90; height: auto; max-height: 80%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    ConfirmScreen.-protected > Vertical { border: round $error; }
    ConfirmScreen #confirm-title { text-style: bold; }
    ConfirmScreen #confirm-name { margin: 1 0 0 0; }
    ConfirmScreen #confirm-problem { color: $error; height: auto; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("n", "cancel", "No", show=False, id="confirm.no"),
        Binding("y,enter", "confirm", "Yes", id="confirm.yes"),
    ]

    def __init__(self, request: ChangeRequest) -> None:
        super().__init__(classes="-protected" if request.needs_name else "")
        self.request = request
        self.shown_at = float("inf")
        """When the dialog mounted, on the clock key events are stamped with (the app drops keys typed before)."""

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical():
            yield Static(f"{request.action[:1].upper()}{request.action[1:]} on {request.target}?", id="confirm-title")
            body = Text()
            body.append("target\n", style="bold")
            body.append(f"{request.target_id}\n")
            body.append("subscription  ", style="bold")
            body.append(request.subscription)
            if request.protected:
                body.append("  PROTECTED", style="bold reverse")
            body.append("\n")
            if request.details:
                body.append(f"\n{request.details}\n")
            yield Static(body, id="confirm-body")
            if request.needs_name:
                yield Input(placeholder=f"type {request.target} to confirm", id="confirm-name")
                yield Static("", id="confirm-problem")
                yield Static(Text("enter confirms once the name is typed, esc cancels", style="dim"))
            else:
                yield Static(Text("y or enter goes ahead, n or esc cancels", style="dim"))

    def on_mount(self) -> None:
        self.shown_at = get_time()
        if self.request.needs_name:
            self.query_one("#confirm-name", Input).focus()

    @on(Input.Submitted, "#confirm-name")
    def _name_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        if self.request.needs_name:
            typed = self.query_one("#confirm-name", Input).value.strip()
            if typed != self.request.target:
                why = "The subscription is protected" if self.request.protected else "This change needs its name"
                sentence = f"{why}: type {self.request.target} exactly to go ahead."
                self.query_one("#confirm-problem", Static).update(sentence)
                return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def parse_tags(text: str) -> dict[str, str]:
    """Tags from `key=value, key=value` text; a ValueError with a sentence when a pair cannot be read."""
    tags: dict[str, str] = {}
    for index, pair in enumerate(p for p in text.split(",") if p.strip()):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or not key:
            raise ValueError(f"Tag {index + 1} ({pair.strip()!r}) is not key=value.")
        if key in tags:
            raise ValueError(f"The tag {key!r} is given twice.")
        tags[key] = value.strip()
    return tags


class TagsScreen(ModalScreen[dict[str, str] | None]):
    """Edit tags as `key=value, key=value`; enter gives the tags, esc cancels."""

    DEFAULT_CSS = """
    TagsScreen { align: center middle; }
    TagsScreen > Vertical {
        width: 100; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    TagsScreen #tags-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="tags.cancel")]

    def __init__(self, target: str, tags: dict[str, str]) -> None:
        super().__init__()
        self.target = target
        self.tags = tags

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Tags of {self.target}: key=value, comma separated; enter goes on, esc cancels"))
            # Not selected on focus: a key typed first must add to the tags, not replace them all.
            text = ", ".join(f"{k}={v}" for k, v in self.tags.items())
            yield Input(text, id="tags-input", select_on_focus=False)
            yield Static("", id="tags-problem")

    def on_mount(self) -> None:
        box = self.query_one("#tags-input", Input)
        box.focus()
        box.cursor_position = len(box.value)

    @on(Input.Submitted, "#tags-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            tags = parse_tags(event.value)
        except ValueError as error:
            self.query_one("#tags-problem", Static).update(str(error))
            return
        self.dismiss(tags)

    def action_cancel(self) -> None:
        self.dismiss(None)
