"""OpsConsole: the Textual application. Areas are modes; services are injected, never created here."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from textual import events
from textual.actions import ActionParseResult
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea
from textual.worker import Worker, WorkerState

from console.areas import AREAS, area_index, palette_providers
from console.cloud import CloudProfile
from console.errors import ErrorKind, OpsError
from console.models import Resource, Subscription
from screens.inventory_preview import inventory_preview
from screens.messages import AreaRequest, OpenInLogs, OpenRunbook, RevealResource
from screens.palette import AreaCommands, SubscriptionCommands, SubscriptionSwitcher
from screens.shell import (
    AreaScreen,
    CommandBar,
    JumpRequested,
    PlaceholderScreen,
    ShellContext,
    ShellHeader,
    SubscriptionChanged,
)
from screens.widgets.confirm import ConfirmScreen

if TYPE_CHECKING:
    from pathlib import Path

    from console.services import Services
    from console.settings import Settings

QUIT_AGAIN_S = 3.0
"""How long after a first `q` a second one quits."""


def known_binding_ids() -> set[str]:
    """Every key binding id of the console's areas and widgets (what `[keys]` in the config can remap)."""
    import importlib

    from textual.dom import DOMNode

    screen_modules = [area.screen_module for area in AREAS.values() if area.screen_module]
    for module in (
        *screen_modules,
        "screens.shell",
        "screens.widgets.kql_editor",
        "screens.widgets.result_grid",
        "screens.widgets.time_range",
        "screens.widgets.chart",
    ):
        importlib.import_module(module)
    ids: set[str] = set()
    pending: list[type] = [DOMNode]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for binding in cls.__dict__.get("BINDINGS", []):
            binding_id = getattr(binding, "id", None)
            if binding_id:
                ids.add(binding_id)
    return ids


class OpsConsole(App[int]):
    """The console. Give it services (or a `connect` that builds them off the UI thread) and settings."""

    TITLE = "opsconsole"
    COMMANDS = App.COMMANDS | {AreaCommands, SubscriptionCommands} | palette_providers()
    BINDINGS = [
        # A priority binding runs before the next key is dispatched, so `:logs` typed in one burst
        # lands in the bar; check_action lets `:` through to text fields.
        Binding("colon", "open_command_bar", "Jump", id="shell.jump", priority=True),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("q", "quit_q", "Quit (press twice)", show=False, id="app.quit_q"),
        Binding("ctrl+s", "switch_subscription", "Subscription", id="app.subscription"),
        *(
            Binding(area.key, f"jump({area.name!r})", f"Go to {area.title}", show=False, id=f"area.{area.name}")
            for area in AREAS.values()
            if area.key
        ),
    ]

    def __init__(
        self,
        settings: Settings,
        services: Services,
        *,
        connect: Callable[[], tuple[CloudProfile, Any]] | None = None,
        demo: bool = False,
        start_area: str = "resources",
    ) -> None:
        super().__init__()
        self.settings = settings
        self.services = services
        self._connect = connect
        self.start_area = start_area
        self.shell = ShellContext(
            read_only=settings.is_read_only,
            protected=settings.is_protected,
            demo=demo,
            preferred=settings.subscription,
            areas=area_index(),
        )
        self._areas: dict[str, Screen[Any]] = {}
        self._index: tuple[float, list[Resource]] | None = None
        self._q_pressed_at: float | None = None
        if settings.theme in self.available_themes:
            self.theme = settings.theme

    def on_mount(self) -> None:
        if self.settings.keys:
            self.set_keymap(self.settings.keys)
            # Naming the ids nothing has needs every area's classes: imported off the loop, after the first paint.
            self.call_after_refresh(
                self.run_worker, self._unknown_key_ids, thread=True, group="keymap", exit_on_error=False
            )
        # In a terminal the first frame is the shell and a word: the start area (its widgets, its cached rows)
        # is built right after it, then connecting starts (it imports the SDK, so it waits for that frame too).
        # Headless there is no frame to hurry: the area opens at once.
        if self.is_headless:
            self._open_start_area()
        else:
            self.call_after_refresh(self._open_start_area)

    def compose(self) -> ComposeResult:
        # The first frame, cheap enough to paint at once: the shell's header and, on a warm start of Resources,
        # the last inventory listed (stamped as cached); else what is being opened.
        if not self.is_headless:
            yield ShellHeader(self.shell, self.start_area)
            yield self._warm_start_preview() or Static(
                f"\n  Opening {self.shell.areas.title(self.start_area)}…", id="opening"
            )

    def _warm_start_preview(self) -> Widget | None:
        if self.start_area != "resources":
            return None
        cached = self.services.resources.cached_inventory()
        if cached is None:
            return None
        # Choose as the Resources area will, without touching the shell: it lists the subscriptions afresh.
        choice = ShellContext(subscriptions=list(cached.subscriptions), preferred=self.shell.preferred)
        choice.choose_initial()
        return inventory_preview(cached, choice.current, self.size.width, self.size.height)

    def _open_start_area(self) -> None:
        if self.services.resources.first_listing is not None:
            self.services.resources.first_listing.go()
        self.jump(self.start_area)
        if self.services.context.is_connected:
            self._connected()
            return
        # Connecting imports the SDK (and may wait for the local Azure); after the first paint, off the loop.
        self.call_after_refresh(self._start_connecting)

    def _start_connecting(self) -> None:
        self.run_worker(
            self._connect_in_thread, thread=True, exclusive=True, exit_on_error=False, group="connect", name="connect"
        )

    def _unknown_key_ids(self) -> None:
        from console.settings import unknown_binding_ids

        problem = unknown_binding_ids(self.settings.keys, known_binding_ids(), self.settings.config_path)
        if problem:
            self.call_from_thread(self.notify, problem, title="Keys", severity="warning", timeout=20)

    def _connect_in_thread(self) -> tuple[CloudProfile, Any]:
        assert self._connect is not None
        return self._connect()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "connect":
            return
        if event.state == WorkerState.SUCCESS:
            profile, credential = cast("tuple[CloudProfile, Any]", event.worker.result)
            self.services.connect(profile, credential)
            self._connected()
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            failure = (
                error if isinstance(error, OpsError) else OpsError(ErrorKind.CONFIG, f"Could not connect: {error}")
            )
            # The next call of any area (r in a list) tries again: what was in the way may have gone.
            self.services.context.fail(failure, retry=self._start_connecting)
            self.notify(str(failure), title="Not connected", severity="error", timeout=30)

    def _connected(self) -> None:
        """The services are connected: show the cloud and tenant in every header."""
        profile = self.services.profile
        self.shell.cloud = profile.name
        self.shell.tenant_id = profile.tenant_id or ""
        self.shell.portal_link = profile.portal_link
        for header in self.screen.query(ShellHeader):
            header.update_from_context()

    async def on_unmount(self) -> None:
        await self.services.close()

    # containing errors: one area's fault is a notice, not the end of the console ---------------

    @property
    def error_log(self) -> Path:
        """Where the tracebacks of contained errors go."""
        return self.settings.data_dir / "console-errors.log"

    def contain_error(self, error: Exception) -> None:
        """Tell the user an action failed, keep the traceback in the error log, and carry on."""
        where = self.shell.areas.title(self.current_mode) if self.current_mode else "The console"
        detail = "".join(traceback.format_exception(error))
        try:
            self.error_log.parent.mkdir(parents=True, exist_ok=True)
            with self.error_log.open("a", encoding="utf-8") as log:
                log.write(f"--- {datetime.now(UTC).isoformat()} in {where}\n{detail}\n")
            saved = f" The details are in {self.error_log}."
        except OSError:
            saved = ""
        self.log.error(detail)
        self.notify(
            f"{where} hit an unexpected error ({type(error).__name__}: {error}); the console carries on.{saved}",
            title="Unexpected error",
            severity="error",
            timeout=20,
        )

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        # Keys run their actions on the app's own message loop: an error there would stop every area.
        try:
            return await super().run_action(action, default_namespace, namespaces)
        except Exception as error:  # any fault in an action is contained and reported
            if not self.is_running:
                raise
            self.contain_error(error)
            return True

    def _handle_exception(self, error: Exception) -> None:
        # A widget's handler failed: that widget stops, the console does not. Errors of the app
        # itself (start-up, rendering) still end it, with a non-zero exit code. Which widget was handling
        # a message is only known to Textual's private context (imported here, only when something failed).
        from textual._context import active_message_pump

        pump = active_message_pump.get(None)
        if self.is_running and isinstance(pump, Widget) and pump.is_attached:
            self.contain_error(error)
            return
        super()._handle_exception(error)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._open_bar_takes_the_keys()
            # An escape and the key after it read together (a busy machine, a slow link) arrive as one alt+key.
            # An alt+key nothing binds is read as the two keys typed.
            if self._typed_after_escape(event):
                key = event.key.removeprefix("alt+")
                plain = key.removeprefix("shift+").upper() if key.startswith("shift+") else key
                # The escape's binding runs here and now: forwarded, it would come back to the app after the key.
                escape = self.active_bindings.get("escape")
                if escape is not None and escape.enabled:
                    await self.run_action(escape.binding.action, escape.node)
                await super().on_event(events.Key(plain, event.character))
                return
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        # A key's bindings are looked up here, once it has passed through the widget focused when it arrived:
        # by then a screen may have opened that the key was not typed for.
        # - An escape typed just before `:` must not close the bar it came before (`:` is a priority binding,
        #   run at once, while the escape went to the widget focused then).
        # - Type-ahead never answers a confirm dialog: `b` then enter read together must not roll back.
        # (Textual calls App's own handler, the bindings, after this one unless the default is prevented.)
        screen = self.screen
        if isinstance(screen, ConfirmScreen) and event.time < screen.shown_at:
            event.prevent_default()
        if event.key == "escape" and isinstance(screen, AreaScreen):
            bar = screen.command_bar
            if bar.is_open and event.time < bar.opened_at:
                event.prevent_default()

    def _open_bar_takes_the_keys(self) -> None:
        # A focus change asked for before `:` (an escape's action focusing the table) lands after the bar opened;
        # the keys typed into the bar must not go to the area underneath, where a letter may start a change.
        screen = self.screen
        if isinstance(screen, AreaScreen) and screen.command_bar.is_open and screen.focused is not screen.command_bar:
            screen.set_focus(screen.command_bar)

    def _typed_after_escape(self, event: events.Key) -> bool:
        if not event.key.startswith("alt+") or event.character is None or not event.character.isprintable():
            return False
        return event.key not in self.active_bindings

    def jump(self, area: str) -> None:
        """Go to an area, creating its screen the first time."""
        if area not in self._areas:
            entry = AREAS.get(area)
            if entry is None or entry.screen is None:
                self._install(area, PlaceholderScreen(self.shell, area))
            else:
                self._install(area, entry.screen(self.services, self.shell))
        self.switch_mode(area)

    def action_jump(self, area: str) -> None:
        """An area's own key (`area.<name>` in the keys config) jumps to it."""
        self.jump(area)

    def _install(self, area: str, screen: Screen[Any]) -> None:
        self._areas[area] = screen
        self.add_mode(area, lambda: screen)

    def on_jump_requested(self, message: JumpRequested) -> None:
        self.jump(message.area)

    def select_subscription(self, subscription_id: str) -> None:
        """Make a subscription current and tell every open area."""
        match = next((s for s in self.shell.subscriptions if s.subscription_id == subscription_id), None)
        if match is None:
            self.notify(f"Unknown subscription {subscription_id}.", severity="error")
            return
        self.shell.current = match
        for screen in self._areas.values():
            screen.post_message(SubscriptionChanged(match))
        self.notify(f"Subscription: {match.display_name}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_command_bar":
            focused = self.focused
            if isinstance(focused, CommandBar):
                return not focused.is_open  # a closed bar that kept the focus must not swallow `:`
            return not isinstance(focused, Input | TextArea)
        return True

    def action_open_command_bar(self) -> None:
        """`:` opens the command bar of the current area."""
        if isinstance(self.screen, AreaScreen):
            self.screen.action_open_command_bar()

    async def action_quit(self) -> None:
        """Quit, unless an area takes over first (a release running asks whether to keep or roll back)."""
        for screen in self._areas.values():
            if isinstance(screen, AreaScreen) and screen.holds_quit(self.exit):
                return
        self.exit()

    async def action_quit_q(self) -> None:
        """A single `q` asks; a second `q` soon after quits (ctrl+q quits at once)."""
        now = time.monotonic()
        if self._q_pressed_at is not None and now - self._q_pressed_at < QUIT_AGAIN_S:
            await self.action_quit()
            return
        self._q_pressed_at = now
        self.notify("Press q again to quit (ctrl+q quits at once).", title="Quit?", timeout=QUIT_AGAIN_S)

    def action_switch_subscription(self) -> None:
        """`ctrl+s`: a palette of the subscriptions only, listed at once."""
        from textual.command import CommandPalette

        if not CommandPalette.is_open(cast("App[object]", self)):
            self.push_screen(
                CommandPalette(
                    providers=[SubscriptionSwitcher],
                    placeholder="Switch subscription: type a name or id, enter switches, esc cancels",
                    id="--command-palette",
                )
            )

    async def known_subscriptions(self) -> list[Subscription]:
        """The subscriptions the sign-in can see (listed once, then kept in the shell)."""
        if not self.shell.subscriptions:
            self.shell.subscriptions = await self.services.resources.list_subscriptions()
            self.shell.choose_initial()
        return list(self.shell.subscriptions)

    async def resource_index(self) -> list[Resource]:
        """Every resource across the known subscriptions, for the palette; cached for a minute."""
        now = time.monotonic()
        if self._index is None or now - self._index[0] > 60:
            ids = [s.subscription_id for s in self.shell.subscriptions]
            if not ids:
                self.shell.subscriptions = await self.services.resources.list_subscriptions()
                ids = [s.subscription_id for s in self.shell.subscriptions]
            self._index = (now, await self.services.resources.list_all_resources(ids))
        return self._index[1]

    def runbook_titles(self) -> list[tuple[str, str, str]]:
        """(name, title, tags) of every runbook, for the palette; a broken runbook file hides none of the rest."""
        from console.runbooks import RunbookError

        try:
            runbooks = self.services.runbooks.available()
        except RunbookError as error:
            self.notify(str(error), severity="warning")
            return []
        return [(r.name, r.title, ", ".join(r.tags)) for r in runbooks]

    # navigation between areas: a request goes up to the app, which switches areas and hands it over

    def deliver(self, request: AreaRequest) -> None:
        """Go to the request's area and give its screen the request (a new screen gets it once mounted)."""
        if request.delivered:
            return  # the area's screen has had it; this is the same request bubbling back up
        self.jump(request.AREA)
        self._areas[request.AREA].post_message(request.for_area())

    def on_open_in_logs(self, message: OpenInLogs) -> None:
        self.deliver(message)

    def on_open_runbook(self, message: OpenRunbook) -> None:
        self.deliver(message)

    def on_reveal_resource(self, message: RevealResource) -> None:
        self.deliver(message)
