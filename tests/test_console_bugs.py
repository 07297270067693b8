"""Faults a new user met in the console, each driven the way the user hit it (Pilot, real local Azure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, DataTable, Input, Static, TabbedContent

from console.app import OpsConsole
from console.services import Services
from console.settings import Settings
from screens.messages import OpenRunbook
from screens.resources import MASK, ResourcesScreen, mask_secrets
from screens.runbooks import RunbooksScreen, StepView
from screens.shell import AreaScreen, CommandBar, PlaceholderScreen

SIZE = (200, 50)
Faults = Callable[[list[dict[str, Any]]], Any]


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, attempts: int = 1200) -> None:
    """Let the app run until `condition` holds (bounded by a number of pauses, never by wall time)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def build_app(make_local_services: Callable[..., Services], settings: Settings) -> Callable[..., OpsConsole]:
    def build(start_area: str = "resources", **changes: Any) -> OpsConsole:
        chosen = replace(settings, **changes)
        return OpsConsole(chosen, make_local_services(**changes), start_area=start_area)

    return build


def notices(app: OpsConsole) -> list[str]:
    return [str(n.message) for n in app._notifications]


# bug 1: a second runbook ---------------------------------------------------------------------


async def _open_from_list(pilot: Pilot[Any], screen: RunbooksScreen, name: str) -> None:
    table = screen.query_one("#runbook-table", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(name))
    await pilot.press("enter")

    def shown() -> bool:
        views = list(screen.query(StepView).results(StepView))
        return screen.current is not None and screen.current.name == name and bool(views)

    await until(pilot, shown, f"the {name} document")


def _runbooks(app: OpsConsole) -> RunbooksScreen:
    screen = app.screen
    assert isinstance(screen, RunbooksScreen), screen
    return screen


@pytest.mark.asyncio
async def test_going_back_while_the_steps_mount_leaves_the_list_focused(build_app: Callable[..., OpsConsole]) -> None:
    """The runbook's title shows at once and its steps mount a moment later; an escape in between goes back
    to the list, and the steps, once mounted, must not take the focus into the hidden document (where enter
    runs a step)."""
    app = build_app(start_area="runbooks")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen) and bool(app.screen.shown), "the list")
        screen = _runbooks(app)
        table = screen.query_one("#runbook-table", DataTable)
        build = screen._document_widgets

        def back_while_building(runbook: Any) -> list[Any]:
            screen.action_back()  # the escape, read while the document's worker builds the steps
            return build(runbook)

        screen._document_widgets = back_while_building  # type: ignore[method-assign]
        for _ in range(2):
            screen.open_runbook(table.get_row_at(0)[-1])
            await pilot.app.workers.wait_for_complete()
            await until(pilot, lambda: app.focused is table, "the list focused")
            await pilot.pause(0.1)
            assert app.focused is table and screen.current is None
        screen._document_widgets = build  # type: ignore[method-assign]
        await pilot.press("down", "enter")
        await until(pilot, lambda: screen.current is not None, "the second runbook")
        assert screen.current is not None and screen.current.name == table.get_row_at(1)[-1]


@pytest.mark.asyncio
async def test_opening_a_second_runbook_and_the_same_one_again_does_not_crash(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app(start_area="runbooks")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen) and bool(app.screen.shown), "the list")
        screen = _runbooks(app)
        await _open_from_list(pilot, screen, "slot-health")
        await pilot.press("escape")
        await _open_from_list(pilot, screen, "missing-heartbeats")
        await pilot.pause(0.1)
        assert len(screen.query("#parameters")) == 1
        assert screen.query_one("#param-silence", Input)
        assert not screen.query("#param-window")  # slot-health's form is gone
        await pilot.press("escape")
        await _open_from_list(pilot, screen, "missing-heartbeats")
        await pilot.pause(0.1)
        # Straight from one open runbook to another (the palette does this).
        app.post_message(OpenRunbook("slot-health"))
        await until(pilot, lambda: bool(screen.query("#param-window")), "slot-health's form")
        await pilot.pause(0.1)
        assert len(screen.query("#parameters")) == 1 and not screen.query("#param-silence")
        assert app.is_running and app.return_code is None


@pytest.mark.asyncio
async def test_escape_in_a_parameter_box_stays_in_the_runbook(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(start_area="runbooks")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen) and bool(app.screen.shown), "the list")
        screen = _runbooks(app)
        await _open_from_list(pilot, screen, "slot-health")
        await pilot.press("p")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        assert screen.query_one("#views", ContentSwitcher).current == "doc-view"
        assert isinstance(app.focused, StepView)
        await pilot.press("escape")
        assert screen.query_one("#views", ContentSwitcher).current == "list-view"
        await _open_from_list(pilot, screen, "slot-health")
        assert app.is_running and app.return_code is None


# bug 4: h in an open runbook --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_h_shows_the_history_and_it_stays(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(start_area="runbooks")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen) and bool(app.screen.shown), "the list")
        screen = _runbooks(app)
        await _open_from_list(pilot, screen, "slot-health")
        await pilot.pause(0.1)
        tabs = screen.query_one("#doc-tabs", TabbedContent)
        await pilot.press("h")
        for _ in range(5):
            await pilot.pause(0.05)
            assert tabs.active == "history-pane"
        await pilot.press("h")
        await pilot.pause(0.1)
        assert tabs.active == "doc-pane"


# bug 3: `:` stuck after visiting an area (first seen on a placeholder area) ----------------------------


@pytest.mark.asyncio
async def test_colon_keeps_working_after_visiting_an_area_twice(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        for _ in range(2):
            await pilot.press("colon", *"backup", "enter")
            await until(pilot, lambda: app.current_mode == "backup", "the backup area")
            await pilot.press("colon", *"logs", "enter")
            await until(pilot, lambda: app.current_mode == "logs", "logs")
            await pilot.press("escape")
        await pilot.press("colon", *"backup", "enter")
        await until(pilot, lambda: app.current_mode == "backup", "backup again")
        await pilot.press("colon")
        bar = app.screen.query_one(CommandBar)
        assert bar.is_open and bar.value == ""
        await pilot.press(*"resources", "enter")
        await until(pilot, lambda: app.current_mode == "resources", "resources again")
        assert not any("No area called" in text for text in notices(app))


@pytest.mark.asyncio
async def test_an_escape_and_colon_read_together_still_open_the_bar(build_app: Callable[..., OpsConsole]) -> None:
    """On a busy machine the terminal's escape and `:` arrive as one alt+colon; it is read as the two keys."""
    from textual import events

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        await pilot.press("colon", *"backup", "enter")
        await until(pilot, lambda: app.current_mode == "backup", "the backup area")
        await until(pilot, lambda: app.focused is not None, "the backup area's own focus")
        app.post_message(events.Key("alt+colon", ":"))
        await until(pilot, lambda: app.screen.query_one(CommandBar).is_open, "the bar open")
        assert app.screen.query_one(CommandBar).value == ""
        await pilot.press(*"runbooks", "enter")
        await until(pilot, lambda: app.current_mode == "runbooks", "runbooks")
        app.post_message(events.Key("alt+3", "3"))  # an area's own alt key still jumps, and is not split
        await pilot.pause()
        assert app.current_mode == "runbooks"
        app.post_message(events.Key("alt+1", "1"))
        await until(pilot, lambda: app.current_mode == "resources", "resources by alt+1")


@pytest.mark.asyncio
async def test_keys_typed_after_escape_and_colon_reach_the_bar_not_the_area(
    build_app: Callable[..., OpsConsole],
) -> None:
    """A busy machine reads escape and `:` as one alt+colon, with the next keys queued behind it. The escape's
    action (clear the filter, focus the table) moves the focus later; the keys after `:` must still reach the bar:
    on Slots, `b` is Roll back and enter would confirm it."""
    from textual import events

    from screens.slots import SlotsScreen
    from screens.widgets.confirm import ConfirmScreen

    app = build_app(start_area="slots")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SlotsScreen), "slots")
        screen = app.screen
        await until(pilot, lambda: screen.query_one(DataTable).row_count > 0, "the slots table")
        for _ in range(2):
            app.post_message(events.Key("alt+colon", ":"))
            for key in ("b", "a", "c", "k", "u", "p"):
                app.post_message(events.Key(key, key))
            app.post_message(events.Key("enter", "\r"))
            await until(pilot, lambda: app.current_mode == "backup", "the backup area")
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.press("colon", *"slots", "enter")
            await until(pilot, lambda: app.current_mode == "slots", "slots again")
        assert not any("roll back" in text.lower() for text in notices(app))


@pytest.mark.asyncio
async def test_the_confirm_dialog_ignores_keys_typed_before_it_showed(build_app: Callable[..., OpsConsole]) -> None:
    """Type-ahead never confirms a change: `b` then enter, read together, leaves the dialog asking."""
    from textual import events

    from screens.slots import SlotsScreen
    from screens.widgets.confirm import ConfirmScreen

    app = build_app(start_area="slots")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SlotsScreen), "slots")
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count > 0, "the slots table")
        table.focus()
        await pilot.pause()
        app.post_message(events.Key("b", "b"))
        app.post_message(events.Key("enter", "\r"))
        app.post_message(events.Key("y", "y"))
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        for _ in range(5):
            await pilot.pause(0.02)
            assert isinstance(app.screen, ConfirmScreen), "a key typed before the dialog confirmed it"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SlotsScreen), "the dialog cancelled")
        assert not any("roll back" in text.lower() for text in notices(app))
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dialog again")
        await pilot.press("y")
        await until(pilot, lambda: any("roll back" in text.lower() for text in notices(app)), "the roll back ran")


@pytest.mark.asyncio
async def test_placeholder_names_every_built_area() -> None:
    from console.areas import AREAS, area_index
    from screens.shell import ShellContext

    screen = PlaceholderScreen(ShellContext(areas=area_index()), "alerts")
    text = str(next(iter(screen.compose_body())).render())
    assert "Alerts is not built yet" in text
    built = [name for name, area in AREAS.items() if area.screen is not None]
    assert built == ["resources", "logs", "runbooks", "alerts", "cost", "slots", "backup"]
    assert all(name in text for name in built)
    assert not any(name in text.split("type", 1)[1] for name, area in AREAS.items() if area.screen is None)


# bug 6: an unknown --subscription ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unknown_subscription_is_named_not_silently_replaced(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(subscription="Contoso Nowhere")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.shell.current is not None, "a subscription")
        await until(pilot, lambda: any("Contoso Nowhere" in text for text in notices(app)), "the warning")
        warning = next(text for text in notices(app) if "Contoso Nowhere" in text)
        assert "No subscription is called 'Contoso Nowhere'" in warning
        assert app.shell.current is not None and app.shell.current.display_name in warning


# bug 7 and bug 2 (console side): the details pane -------------------------------------------------


async def _resources_ready(pilot: Pilot[Any], app: OpsConsole) -> ResourcesScreen:
    await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
    screen = app.screen
    assert isinstance(screen, ResourcesScreen)
    await until(pilot, lambda: screen.query_one(DataTable).row_count > 0, "the resource table")
    screen.query_one(DataTable).focus()
    return screen


@pytest.mark.asyncio
async def test_d_before_enter_shows_the_resource_under_the_cursor(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _resources_ready(pilot, app)
        await pilot.press("slash", *"^Microsoft.Web/", "enter")
        assert len(screen.shown) >= 2
        await pilot.press("d")
        body = screen.query_one("#detail-body", Static)
        assert not screen.query_one("#detail").has_class("-hidden")
        first = screen.shown[0]
        await until(pilot, lambda: first.resource_id in str(body.render()), "the first resource's details")
        # The open pane follows the cursor.
        await pilot.press("down")
        second = screen.shown[1]
        await until(pilot, lambda: second.resource_id in str(body.render()), "the next resource's details")
        await pilot.press("d")
        assert screen.query_one("#detail").has_class("-hidden")


@pytest.mark.asyncio
async def test_failed_details_say_why_instead_of_loading_forever(
    build_app: Callable[..., OpsConsole], faults: Faults
) -> None:
    faults([{"path": "/providers/Microsoft\\.DBforPostgreSQL/flexibleServers/psql-orders-stg$", "status": 404}])
    app = build_app(retry_total=0)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _resources_ready(pilot, app)
        await pilot.press("slash", *"psql-orders", "enter", "enter")
        body = screen.query_one("#detail-body", Static)
        await until(pilot, lambda: "Could not load the details" in str(body.render()), "the error in the pane")
        assert "Loading" not in str(body.render())


# bug 8: masking ------------------------------------------------------------------------------------


def test_masking_hides_secret_values_not_settings_under_secret_sounding_keys() -> None:
    properties = {
        "administratorLoginPassword": "Ord3rs!abc",
        "linuxConfiguration": {"disablePasswordAuthentication": True},
        "authConfig": {"passwordAuth": "Enabled", "activeDirectoryAuth": "Enabled"},
        "tokenLifetimeSeconds": 3600,
        "siteConfig": {"appSettings": [{"name": "STORAGE", "value": "Protocol=https;AccountKey=abc=="}]},
        "publicKey": "ssh-ed25519 AAAA",
    }
    masked = mask_secrets(properties)
    assert masked["administratorLoginPassword"] == MASK
    assert masked["linuxConfiguration"]["disablePasswordAuthentication"] is True
    assert masked["authConfig"]["passwordAuth"] == "Enabled"
    assert masked["tokenLifetimeSeconds"] == 3600
    assert masked["siteConfig"]["appSettings"][0]["value"] == MASK  # a connection string is a secret by value
    assert masked["publicKey"] == "ssh-ed25519 AAAA"
    assert mask_secrets(properties, reveal=True) == properties


# a fault in one area is contained -----------------------------------------------------------------


class _Broken(Message):
    """Asks the broken area's handler to fail."""


class BrokenScreen(AreaScreen):
    """An area whose action and message handler both fail."""

    AREA = "broken"
    BINDINGS = [Binding("b", "break", "Break")]

    def compose_body(self) -> ComposeResult:
        yield Static("broken area", id="broken")

    def action_break(self) -> None:
        raise RuntimeError("the action failed")

    def on__broken(self, message: _Broken) -> None:
        raise ValueError("the handler failed")


@pytest.mark.asyncio
async def test_an_error_in_one_area_is_reported_and_the_console_carries_on(
    build_app: Callable[..., OpsConsole], settings: Settings
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        broken = BrokenScreen(app.shell)
        app._install("broken", broken)
        app.switch_mode("broken")
        await until(pilot, lambda: app.screen is broken, "the broken area")
        await pilot.press("b")
        await until(pilot, lambda: any("the action failed" in text for text in notices(app)), "the action's notice")
        broken.post_message(_Broken())
        await until(pilot, lambda: any("the handler failed" in text for text in notices(app)), "the handler's notice")
        assert app.is_running and app.return_code is None
        log = app.error_log.read_text()
        assert "RuntimeError: the action failed" in log and "ValueError: the handler failed" in log
        await pilot.press("colon", *"resources", "enter")
        await until(pilot, lambda: app.current_mode == "resources", "resources again")
        await pilot.press("ctrl+q")
    assert app.return_code == 0


# rough edges of Resources ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ctrl_s_lists_every_subscription_and_switches(build_app: Callable[..., OpsConsole]) -> None:
    from textual.command import CommandList

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _resources_ready(pilot, app)
        assert app.shell.current is not None and app.shell.current.display_name == "Contoso Non-Production"
        await pilot.press("ctrl+s")

        def options() -> list[str]:
            lists = app.screen.query(CommandList)
            if not lists:
                return []
            found = lists.first(CommandList)
            return [str(found.get_option_at_index(i).prompt) for i in range(found.option_count)]

        await until(pilot, lambda: len(options()) == 2, "both subscriptions, before anything is typed")
        assert any("Contoso Non-Production" in text and "(current)" in text for text in options())
        await pilot.press(*"Contoso Production")
        await until(pilot, lambda: bool(options()) and options()[0].startswith("Contoso Production"), "the match")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: app.shell.current is not None and app.shell.current.display_name == "Contoso Production",
            "the switch",
        )
        await until(
            pilot,
            lambda: bool(screen.shown) and screen.shown[0].subscription_id == app.shell.current.subscription_id,
            "the production table",
        )  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_all_subscriptions_has_a_subscription_column_and_long_names_end_in_an_ellipsis(
    build_app: Callable[..., OpsConsole],
) -> None:
    from screens.inventory_preview import COLUMN_WIDTHS
    from screens.resources import Scope

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await _resources_ready(pilot, app)
        table = screen.query_one(DataTable)
        assert "subscription" not in [str(key.value) for key in table.columns]
        screen._set_scope(Scope())
        await until(pilot, lambda: len({r.subscription_id for r in screen.shown}) == 2, "every subscription's rows")
        assert "subscription" in [str(key.value) for key in table.columns]
        cells = {str(table.get_row_at(i)[4]) for i in range(table.row_count)}
        assert cells == {"Contoso Production", "Contoso Non-Production"}
        long = next(r for r in screen.shown if len(r.name) > COLUMN_WIDTHS["name"])
        shown_name = str(table.get_row(long.resource_id)[0])
        assert shown_name.endswith("…") and len(shown_name) == COLUMN_WIDTHS["name"]
        assert long.name.startswith(shown_name[:-1])


# runbook history reopens a run ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_enter_on_a_history_row_reopens_that_run(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(start_area="runbooks")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen) and bool(app.screen.shown), "the list")
        screen = _runbooks(app)
        await _open_from_list(pilot, screen, "missing-heartbeats")
        await until(pilot, lambda: screen.current is screen._document_ready, "the document")
        screen.query_one("#param-silence", Input).value = "1h"
        await pilot.press("R")
        views = list(screen.query(StepView).results(StepView))
        await until(pilot, lambda: all(view.result is not None for view in views), "every step to run")
        await until(pilot, lambda: len(screen.history_entries) == 1, "the history row")
        ran = views[1].result
        assert ran is not None and ran.status in ("fail", "inconclusive")  # inconclusive while telemetry loads
        # Leave and come back: the document starts fresh, then the past run is reopened from History.
        await pilot.press("escape")
        await _open_from_list(pilot, screen, "missing-heartbeats")
        await until(pilot, lambda: screen.current is screen._document_ready, "the document again")
        assert screen.query_one("#param-silence", Input).value == "15m"
        await until(pilot, lambda: len(screen.history_entries) == 1, "the history")
        await pilot.press("h")
        await pilot.press("enter")
        assert screen.query_one("#doc-tabs", TabbedContent).active == "doc-pane"
        assert screen.query_one("#param-silence", Input).value == "1h"
        views = list(screen.query(StepView).results(StepView))
        assert views[1].has_class(f"-{ran.status}")
        outcome = str(views[1].query_one(".step-outcome", Static).render())
        assert f"Recorded {ran.status.upper()}" in outcome and f"{ran.row_count} row" in outcome
        assert "the run of" in str(screen.query_one("#summary", Static).render())
