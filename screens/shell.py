"""The shell every area screen shares: header, `:` command bar, key help; the areas come from the app's registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text
from textual import on
from textual._time import get_time
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from console.models import Subscription, preferred_subscription


@dataclass(frozen=True)
class AreaIndex:
    """What the shell knows of the areas (titles, `:` aliases, which are built), given by the app's registry."""

    titles: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    built: tuple[str, ...] = ()

    def title(self, name: str) -> str:
        return self.titles.get(name, name.capitalize())

    def resolve(self, text: str) -> str | None:
        """The area a `:` command names (prefixes and aliases allowed), or None."""
        word = text.strip().lstrip(":").strip().lower()
        if not word:
            return None
        if word in self.titles:
            return word
        if word in self.aliases:
            return self.aliases[word]
        matches = [name for name in self.titles if name.startswith(word)]
        return matches[0] if len(matches) == 1 else None


@dataclass
class ShellContext:
    """What the header shows and every screen may need: tenant, subscriptions, modes, cloud links."""

    tenant_id: str = ""
    cloud: str = ""
    subscriptions: list[Subscription] = field(default_factory=list)
    current: Subscription | None = None
    read_only: Callable[[str | None], bool] = lambda _s: False
    protected: Callable[[str | None], bool] = lambda _s: False
    portal_link: Callable[[str], str] = lambda resource_id: resource_id
    demo: bool = False
    preferred: str | None = None
    areas: AreaIndex = field(default_factory=AreaIndex)

    def choose_initial(self) -> str | None:
        """Make the preferred subscription (id or name) current, else the first one.

        Returns a sentence for the user when a preferred subscription was named but is not known.
        """
        match = preferred_subscription(self.subscriptions, self.preferred)
        if match:
            self.current = match
            return None
        if self.current is None and self.subscriptions:
            self.current = self.subscriptions[0]
        if not (self.preferred or "").strip():
            return None
        known = ", ".join(s.display_name for s in self.subscriptions) or "none"
        opened = f"showing {self.current.display_name} instead" if self.current else "no subscription is open"
        return f"No subscription is called {self.preferred!r} ({opened}); known: {known}."

    def subscription_name(self, subscription_id: str) -> str:
        """A subscription's display name (its id when it is not one of those listed)."""
        wanted = subscription_id.lower()
        match = next((s for s in self.subscriptions if s.subscription_id.lower() == wanted), None)
        return match.display_name if match else subscription_id

    @property
    def is_read_only(self) -> bool:
        return self.read_only(self.current.subscription_id if self.current else None)

    @property
    def is_protected(self) -> bool:
        return self.protected(self.current.subscription_id if self.current else None)


class SubscriptionChanged(Message):
    """The user switched the current subscription."""

    def __init__(self, subscription: Subscription) -> None:
        super().__init__()
        self.subscription = subscription


class JumpRequested(Message):
    """The user asked, with `:` or the palette, to go to an area."""

    def __init__(self, area: str) -> None:
        super().__init__()
        self.area = area


class ShellHeader(Static):
    """One line: product, cloud, tenant, subscription, and the read-only / protected cues."""

    DEFAULT_CSS = """
    ShellHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    ShellHeader.-protected {
        background: $error 40%;
    }
    """

    def __init__(self, context: ShellContext, area: str) -> None:
        super().__init__()
        self.context = context
        self.area = area

    def on_mount(self) -> None:
        self.update_from_context()

    def update_from_context(self) -> None:
        context = self.context
        line = Text()
        line.append(" opsconsole ", style="bold reverse")
        line.append(f" {context.areas.title(self.area)} ", style="bold")
        if context.demo:
            line.append(" local Azure ", style="italic")
        if context.cloud and not context.demo:
            line.append(f" {context.cloud} ")
        if context.tenant_id:
            line.append(f" tenant {context.tenant_id[:8]}… ", style="dim")
        current = context.current
        line.append(f" {current.display_name} " if current else " no subscription ", style="bold")
        if context.is_protected:
            line.append(" PROTECTED ", style="bold reverse")
        if context.is_read_only:
            line.append(" READ-ONLY ", style="bold")
        else:
            line.append(" read-write ", style="dim")
        self.set_class(context.is_protected, "-protected")
        self.update(line)


class CommandBar(Input):
    """The `:` bar: type an area name and press enter; escape closes it."""

    DEFAULT_CSS = """
    CommandBar {
        display: none;
        border: none;
        height: 1;
        padding: 0 1;
        background: $boost;
    }
    CommandBar:focus {
        border: none;
    }
    CommandBar.-open {
        display: block;
    }
    """

    BINDINGS = [Binding("escape", "close", "Close", id="commandbar.close")]

    def __init__(self, areas: AreaIndex) -> None:
        super().__init__(placeholder=":" + "  ".join(areas.titles), id="command-bar")
        self.areas = areas
        # Closed, the bar must not take the focus (a screen's auto-focus would pick it while hidden, and an
        # Input swallows `:`).
        self.can_focus = False
        self.opened_at = 0.0
        """When the bar last opened, on the clock key events are stamped with."""

    def open(self) -> None:
        self.value = ""
        self.can_focus = True
        self.add_class("-open")
        self.opened_at = get_time()
        # Focus now, not after a refresh: keys typed right after `:` must land in the bar.
        self.screen.set_focus(self)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def close(self) -> None:
        """Hide the bar and give the focus back to the screen (never leave it on the hidden bar)."""
        self.remove_class("-open")
        self.value = ""
        self.can_focus = False
        self.screen.focus_next()
        if self.screen.focused is self:
            self.screen.set_focus(None)

    def action_close(self) -> None:
        self.close()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        area = self.areas.resolve(event.value)
        self.close()
        if area is None:
            known = ", ".join(self.areas.titles)
            self.notify(f"No area called {event.value.strip()!r}; try one of: {known}.", severity="warning")
            return
        self.post_message(JumpRequested(area))


class AreaScreen(Screen[None]):
    """Base for the area screens: shell header, body, command bar and footer."""

    AREA = ""
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="shell.filter"),
        Binding("question_mark", "key_help", "Keys", id="shell.help"),
    ]

    def __init__(self, context: ShellContext) -> None:
        super().__init__()
        self.context = context
        self.command_bar = CommandBar(context.areas)
        """The area's `:` bar (kept: the app asks whether it is open on every key)."""

    def compose(self) -> ComposeResult:
        yield ShellHeader(self.context, self.AREA)
        yield from self.compose_body()
        yield self.command_bar

    def on_mount(self) -> None:
        # The footer (one widget per key) costs ~40 ms to build: it arrives just after the first paint.
        self.call_after_refresh(self._mount_footer)

    async def _mount_footer(self) -> None:
        await self.mount(Footer())
        self.refresh_bindings()

    def compose_body(self) -> ComposeResult:
        yield from ()

    async def _dispatch_message(self, message: Message) -> None:
        # A failing handler of this area is reported and contained; the area keeps handling messages.
        try:
            await super()._dispatch_message(message)
        except Exception as error:  # reported to the user by the app
            contain = getattr(self.app, "contain_error", None)
            if not callable(contain) or not self.is_attached:
                raise
            contain(error)

    def holds_quit(self, quit_now: Callable[[], None]) -> bool:
        """Whether this area takes over quitting (to ask first, or to finish something); it then calls
        `quit_now` itself when the console may close."""
        return False

    def action_open_command_bar(self) -> None:
        self.command_bar.open()

    def action_filter(self) -> None:
        self.notify("This screen has nothing to filter.", severity="information")

    def action_key_help(self) -> None:
        self.app.push_screen(KeyHelpScreen(self))

    def on_subscription_changed(self, message: SubscriptionChanged) -> None:
        self.query_one(ShellHeader).update_from_context()


class PlaceholderScreen(AreaScreen):
    """An area that is not built yet: says so, and keeps the shell working."""

    def __init__(self, context: ShellContext, area: str) -> None:
        super().__init__(context)
        self.AREA = area

    def compose_body(self) -> ComposeResult:
        areas = self.context.areas
        title = areas.title(self.AREA)
        built = ", ".join(areas.built[:-1]) + f" or {areas.built[-1]}" if len(areas.built) > 1 else "".join(areas.built)
        yield Static(
            f"\n  {title} is not built yet.\n\n  Press : and type {built} to go to an area that is.",
            id="placeholder",
        )


class KeyHelpScreen(ModalScreen[None]):
    """Every key active on the screen below, with the binding id to remap it in the config file."""

    DEFAULT_CSS = """
    KeyHelpScreen { align: center middle; }
    KeyHelpScreen > Vertical {
        width: 90; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_alt"),
        Binding("q", "dismiss", "Close", show=False, id="help.close_q"),
    ]

    def __init__(self, below: Screen[None]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        lines = Text()
        lines.append('Keys (remap with [keys] in the config file: id = "key")\n\n', style="bold")
        bindings = [
            active.binding
            for key, active in self.below.active_bindings.items()
            if active.binding.description and key != "escape"
        ]
        # The console's own keys (they have ids) first; the focused widget's movement keys after them.
        bindings.sort(key=lambda binding: binding.id is None)
        for binding in bindings:
            lines.append(f"{self.app.get_key_display(binding):>12}  ", style="bold")
            lines.append(f"{binding.description:<28}")
            lines.append(f"{binding.id or ''}\n", style="dim")
        with Vertical():
            with VerticalScroll():
                yield Static(lines)
            yield Static("esc closes", classes="dim")
