"""The shell and the Resources screen, driven with Pilot against real services and the local Azure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from conftest import EmulatorThread, control, until
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, Tree

from console.app import OpsConsole
from console.emulator import estate
from console.services import Services
from console.settings import Settings
from screens.resources import MASK, ResourcesScreen
from screens.shell import KeyHelpScreen

SIZE = (200, 50)
Faults = Callable[[list[dict[str, Any]]], Any]


def text_of(widget: Static) -> str:
    """The plain text a Static shows."""
    return str(widget.render())


def resources_screen(app: OpsConsole) -> ResourcesScreen:
    screen = app.screen
    assert isinstance(screen, ResourcesScreen), screen
    return screen


def table_rows(app: OpsConsole) -> int:
    screen = app.screen
    if not isinstance(screen, ResourcesScreen):
        return 0
    return screen.query_one(DataTable).row_count


async def wait_for_rows(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, OpsConsole)
    await until(pilot, lambda: table_rows(app) > 0, "the resource table to fill")


def names_shown(app: OpsConsole) -> list[str]:
    return [r.name for r in resources_screen(app).shown]


@pytest.fixture
def build_app(make_local_services: Callable[..., Services], settings: Settings) -> Callable[..., OpsConsole]:
    def build(**changes: Any) -> OpsConsole:
        chosen = replace(settings, **changes)
        return OpsConsole(chosen, make_local_services(**changes))

    return build


@pytest.mark.asyncio
async def test_opens_on_the_first_subscription_with_its_resources(
    build_app: Callable[..., OpsConsole], local_azure: EmulatorThread
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        screen = resources_screen(app)
        assert app.shell.current is not None
        assert app.shell.current.display_name == "Contoso Non-Production"
        expected = local_azure.running.store.resources(estate.NONPROD_SUBSCRIPTION)  # type: ignore[union-attr]
        assert table_rows(app) == len(expected)
        assert f"({len(expected)} resources)" in text_of(screen.query_one("#crumbs", Static))


@pytest.mark.asyncio
async def test_tree_drills_down_to_one_resource_group(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        screen = resources_screen(app)
        tree: Tree[Any] = screen.query_one("#scope-tree", Tree)
        production = next(n for n in tree.root.children if str(n.label) == "Contoso Production")
        tree.focus()
        tree.cursor_line = production.line
        await pilot.press("enter")  # selects the subscription and expands it
        await until(pilot, lambda: any(c.data and c.data[0] == "group" for c in production.children), "groups")
        await until(pilot, lambda: screen.scope.group is None and table_rows(app) > 20, "production resources")
        assert app.shell.current is not None and app.shell.current.subscription_id == estate.PROD_SUBSCRIPTION

        group = next(c for c in production.children if str(c.label) == "rg-prod-data")
        tree.cursor_line = group.line
        await pilot.press("enter")
        await until(pilot, lambda: screen.scope.group == "rg-prod-data" and table_rows(app) > 0, "group resources")
        assert {r.resource_group for r in screen.shown} == {"rg-prod-data"}
        assert "psql-orders-prod" in names_shown(app)
        assert "rg-prod-data" in text_of(screen.query_one("#crumbs", Static))

        screen.query_one(DataTable).focus()
        await pilot.press("backspace")  # up to the whole subscription
        await until(pilot, lambda: screen.scope.group is None and table_rows(app) > 20, "subscription again")


@pytest.mark.asyncio
async def test_slash_filters_by_substring_regex_and_inverse(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        screen = resources_screen(app)
        total = len(screen.resources)

        await pilot.press("slash", *"psql")
        assert names_shown(app) == ["psql-orders-stg"]
        assert table_rows(app) == 1
        assert "1 of" in text_of(screen.query_one("#crumbs", Static))

        await pilot.press("escape")
        assert len(screen.shown) == total

        await pilot.press("slash", *"^asp-|^kv-")
        assert sorted(names_shown(app)) == ["asp-web-stg-weu", "kv-stg-shared"]

        await pilot.press("escape", "slash", "!", *"stg")
        assert 0 < len(screen.shown) < total
        assert all("stg" not in f"{r.name} {r.resource_group} {r.tags}" for r in screen.shown)

        await pilot.press("escape", "slash", *"zzz")
        assert text_of(screen.query_one("#empty-state", Static)) == "No resources match the filter."


@pytest.mark.asyncio
async def test_enter_shows_properties_with_secrets_masked_until_x(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        screen = resources_screen(app)
        await pilot.press("slash", *"psql-orders", "enter")  # enter in the filter moves to the table
        assert isinstance(app.focused, DataTable)
        await pilot.press("enter")
        body = screen.query_one("#detail-body", Static)
        await until(pilot, lambda: "administratorLoginPassword" in text_of(body), "the detail to load")
        shown = text_of(body)
        assert screen.detail is not None and screen.detail.properties is not None
        password = str(screen.detail.properties["administratorLoginPassword"])
        assert f'"administratorLoginPassword": "{MASK}"' in shown
        assert password not in shown
        assert '"administratorLogin": "ordersadmin"' in shown
        assert "Microsoft.DBforPostgreSQL/flexibleServers" in shown

        await pilot.press("x")
        assert password in text_of(body)
        await pilot.press("x")
        assert password not in text_of(body)


@pytest.mark.asyncio
async def test_command_bar_jumps_between_areas(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("colon", *"backup", "enter")
        await until(pilot, lambda: app.current_mode == "backup", "the backup area")

        await pilot.press("colon", *"res", "enter")
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources again")
        assert table_rows(app) > 0  # the screen kept its state

        await pilot.press("colon", *"nowhere", "enter")
        assert isinstance(app.screen, ResourcesScreen)
        assert any("No area called 'nowhere'" in str(n.message) for n in app._notifications)


@pytest.mark.asyncio
async def test_command_bar_jumps_to_logs(build_app: Callable[..., OpsConsole]) -> None:
    pytest.importorskip("screens.logs")
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("colon", *"logs", "enter")
        await until(pilot, lambda: app.current_mode == "logs", "the logs area")
        assert getattr(app.screen, "AREA", None) == "logs"


@pytest.mark.asyncio
async def test_question_mark_lists_keys_with_binding_ids(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, KeyHelpScreen), "key help")
        listed = " ".join(text_of(s) for s in app.screen.query(Static))
        for binding_id in ("resources.refresh", "resources.reveal", "shell.jump", "shell.filter", "app.quit"):
            assert binding_id in listed
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "key help to close")


@pytest.mark.asyncio
async def test_failed_listing_shows_the_error_and_r_recovers(
    build_app: Callable[..., OpsConsole], faults: Faults, local_azure: EmulatorThread
) -> None:
    faults([{"path": "/resources$", "status": 500}])
    app = build_app(retry_total=0)
    async with app.run_test(size=SIZE) as pilot:
        error_state = lambda: app.screen.query_one("#error-state", Static)  # noqa: E731
        await until(
            pilot,
            lambda: isinstance(app.screen, ResourcesScreen) and "Could not load" in text_of(error_state()),
            "the error state",
        )
        shown = text_of(error_state())
        assert "Azure answered 500 while listing resources" in shown
        assert "request id" in shown
        assert "Press r to retry." in shown
        assert app.is_running

        control(local_azure.readiness, "DELETE")
        await pilot.press("r")
        await wait_for_rows(pilot)
        assert resources_screen(app).query_one("#table-area").current == "resource-table"  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_keys_from_settings_remap_bindings(
    build_app: Callable[..., OpsConsole], faults: Faults, local_azure: EmulatorThread
) -> None:
    faults([{"path": "/resources$", "status": 500}])
    app = build_app(retry_total=0, keys={"resources.refresh": "f5"})
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, ResourcesScreen)
                and "Could not load" in text_of(app.screen.query_one("#error-state", Static))
            ),
            "the error state",
        )
        control(local_azure.readiness, "DELETE")
        await pilot.press("r")  # no longer bound to refresh
        for _ in range(20):
            await pilot.pause(0.01)
        assert table_rows(app) == 0
        await pilot.press("f5")
        await wait_for_rows(pilot)


def test_resources_screen_snapshot(
    snap_compare: Any, make_local_services: Callable[..., Services], settings: Settings
) -> None:
    """The Resources screen of the demo estate, first subscription, table filled."""
    app = OpsConsole(settings, make_local_services())
    assert snap_compare(app, terminal_size=SIZE, run_before=wait_for_rows)


@pytest.mark.asyncio
async def test_palette_finds_a_resource_and_opens_it(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("ctrl+p", *"psql-orders-prod")
        await until(pilot, lambda: "psql-orders-prod" in _palette_options(app), "the palette to offer the resource")
        await pilot.press("enter")
        screen = resources_screen(app)
        await until(pilot, lambda: names_shown(app) == ["psql-orders-prod"], "the resource to be revealed")
        assert screen.scope.group == "rg-prod-data"
        assert app.shell.current is not None and app.shell.current.subscription_id == estate.PROD_SUBSCRIPTION
        body = screen.query_one("#detail-body", Static)
        await until(pilot, lambda: "administratorLoginPassword" in text_of(body), "the detail to load")


def _palette_options(app: OpsConsole) -> str:
    from textual.command import CommandList

    try:
        options = app.screen.query_one(CommandList)
    except Exception:
        return ""
    return " ".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))


@pytest.mark.asyncio
async def test_switching_subscription_reloads_the_table(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        app.select_subscription(estate.PROD_SUBSCRIPTION)
        screen = resources_screen(app)
        await until(
            pilot,
            lambda: bool(screen.shown) and {r.subscription_id for r in screen.shown} == {estate.PROD_SUBSCRIPTION},
            "the production resources",
        )
        assert "Contoso Production" in str(screen.query_one("#crumbs", Static).render())


@pytest.mark.asyncio
async def test_connect_failure_is_shown_in_the_first_area(settings: Settings) -> None:
    from console.errors import ErrorKind, OpsError
    from console.services import make_services

    def connect() -> Any:
        raise OpsError(ErrorKind.CONFIG, "The local Azure did not start; its log ends with: port in use")

    app = OpsConsole(settings, make_services(settings, connect_later=True), connect=connect, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: "did not start" in text_of(app.screen.query_one("#error-state", Static)),
            "the failure to show in the Resources error state",
        )
        assert app.is_running
        await pilot.press("ctrl+q")
    assert app.return_code == 0


@pytest.mark.asyncio
async def test_r_after_a_failed_connect_connects_again_and_lists(settings: Settings, local_azure: Any) -> None:
    """What was in the way (a data dir still held by a local Azure stopping) may go: r tries again."""
    from console.cloud import local_profile
    from console.errors import ErrorKind, OpsError
    from console.services import make_credential, make_services

    attempts: list[int] = []

    def connect() -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise OpsError(ErrorKind.CONFIG, "The local Azure's data dir is in use by another process.")
        profile = local_profile(local_azure.readiness)
        return profile, make_credential(settings, profile)

    app = OpsConsole(settings, make_services(settings, connect_later=True), connect=connect, demo=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: "in use by another process" in text_of(app.screen.query_one("#error-state", Static)),
            "the failure in the error state",
        )
        await pilot.press("r")
        await wait_for_rows(pilot)
        assert len(attempts) == 2 and app.services.context.is_connected
        await pilot.press("ctrl+q")
    assert app.return_code == 0


@pytest.mark.asyncio
async def test_portal_link_and_copy_id_name_the_selected_resource(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        screen = resources_screen(app)
        screen.query_one(DataTable).focus()
        selected = screen.shown[0]
        await pilot.press("o", "c")
        messages = [str(n.message) for n in app._notifications]
        assert f"https://portal.azure.com/#@{estate.TENANT_ID}/resource{selected.resource_id}" in messages
        assert f"Copied {selected.resource_id}" in messages


@pytest.mark.asyncio
async def test_s_sorts_and_a_refresh_keeps_the_cursor_on_its_resource(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        screen = resources_screen(app)
        await pilot.press("s")
        assert names_shown(app) == sorted(names_shown(app), key=str.lower)
        await pilot.press("s")
        types = [r.type.lower() for r in screen.shown]
        assert types == sorted(types)
        table = screen.query_one(DataTable)
        table.focus()
        await pilot.press("down", "down", "down")
        chosen = screen._selected()
        assert chosen is not None
        await pilot.press("r")
        await pilot.pause()
        await until(pilot, lambda: not screen.workers, "the refresh")
        assert screen._selected() == chosen
        assert "sorted by type" in text_of(screen.query_one("#crumbs", Static))


@pytest.mark.asyncio
async def test_capital_l_opens_logs_about_the_selected_resource(build_app: Callable[..., OpsConsole]) -> None:
    from screens.widgets.kql_editor import KqlEditor

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        screen = resources_screen(app)
        screen.filter_text = "^app-checkout-stg$"
        screen._show()
        screen.query_one(DataTable).focus()
        await pilot.press("L")
        await until(pilot, lambda: app.current_mode == "logs" and bool(app.screen.query(KqlEditor)), "the logs area")
        text = app.screen.query_one(KqlEditor).text
        assert 'AppRoleName == "app-checkout-stg"' in text


@pytest.mark.asyncio
async def test_every_resource_logs_query_runs_on_the_local_azure(
    make_local_services: Callable[..., Services],
) -> None:
    from datetime import timedelta

    from console.services.logs import logs_query_for

    services = make_local_services()
    try:
        resources = await services.resources.list_all_resources([s.subscription_id for s in estate.SUBSCRIPTIONS])
        by_type = {r.type.lower(): r for r in resources}
        for resource in by_type.values():
            result = await services.logs.query(
                estate.WORKSPACE_CUSTOMER_ID, logs_query_for(resource), timedelta(days=7)
            )
            if resource.type.lower() in {"microsoft.web/sites", "microsoft.compute/virtualmachines"}:
                assert result.row_count > 0, resource.resource_id
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_colon_and_an_area_typed_in_one_burst_still_jump(build_app: Callable[..., OpsConsole]) -> None:
    """Keys that arrive together (a fast typist, a paste, tmux send-keys) all reach the command bar."""
    from textual import events

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        resources_screen(app).query_one(DataTable).focus()
        await pilot.pause()
        for key, character in [("colon", ":"), *((c, c) for c in "backup"), ("enter", "\r")]:
            app.post_message(events.Key(key, character))  # queued at once, no pause between them
        await until(pilot, lambda: app.current_mode == "backup", "the backup area")


@pytest.mark.asyncio
async def test_command_bar_is_on_screen_above_the_footer_while_typing(build_app: Callable[..., OpsConsole]) -> None:
    from textual.widgets import Footer

    from screens.shell import CommandBar

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("colon", *"lo")
        bar = app.screen.query_one(CommandBar)
        footer = app.screen.query_one(Footer)
        assert bar.has_focus and bar.value == "lo"
        assert bar.region.height == 1
        assert bar.region.bottom <= footer.region.y, (bar.region, footer.region)


@pytest.mark.asyncio
async def test_header_shows_read_only_and_the_protected_cue(build_app: Callable[..., OpsConsole]) -> None:
    from screens.shell import ShellHeader

    app = build_app(
        read_only_subscriptions=(estate.PROD_SUBSCRIPTION,),
        protected_subscriptions=(estate.PROD_SUBSCRIPTION,),
        subscription="Contoso Production",
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        header = app.screen.query_one(ShellHeader)
        text = str(header.render())
        assert "Contoso Production" in text and "READ-ONLY" in text and "PROTECTED" in text
        assert header.has_class("-protected")

        app.select_subscription(estate.NONPROD_SUBSCRIPTION)
        await until(pilot, lambda: "Contoso Non-Production" in str(header.render()), "the switch")
        text = str(header.render())
        assert "read-write" in text and "PROTECTED" not in text
        assert not header.has_class("-protected")


@pytest.mark.asyncio
async def test_palette_finds_a_runbook_and_opens_it(build_app: Callable[..., OpsConsole]) -> None:
    from screens.runbooks import RunbooksScreen

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("ctrl+p", *"Runbook: Slot health")
        await until(pilot, lambda: "Runbook: Slot health" in _palette_options(app), "the palette to offer the runbook")
        await pilot.press("enter")

        def opened() -> bool:
            screen = app.screen
            return isinstance(screen, RunbooksScreen) and screen.current is not None

        await until(pilot, opened, "the runbook to open")
        assert isinstance(app.screen, RunbooksScreen) and app.screen.current is not None
        assert app.screen.current.name == "slot-health"


@pytest.mark.asyncio
async def test_names_and_tags_from_azure_are_shown_as_text_not_markup(
    tmp_path: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import identity_environment
    from rich.text import Text

    from console.cloud import local_profile
    from console.emulator.server import EmulatorConfig
    from console.services import make_services

    emulator = EmulatorThread(EmulatorConfig(data_dir=tmp_path / "azure", telemetry_scale=0.001, live_traffic=False))
    readiness = emulator.start()
    for name, value in identity_environment(readiness).items():
        monkeypatch.setenv(name, value)
    try:
        target = next(iter(emulator.running.store.resources(estate.NONPROD_SUBSCRIPTION)))  # type: ignore[union-attr]
        tagger = make_services(settings, profile=local_profile(readiness))
        try:
            await tagger.resources.set_tags(target["id"], {"note": "[bold red]x[/] [link=https://evil.example]y"})
        finally:
            await tagger.close()
        app = OpsConsole(settings, make_services(settings, profile=local_profile(readiness)))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_rows(pilot)
            table = resources_screen(app).query_one(DataTable)
            row = table.get_row(target["id"])
            assert all(isinstance(cell, Text) for cell in row)
            assert any("[bold red]x[/]" in cell.plain for cell in row)
    finally:
        emulator.stop()
