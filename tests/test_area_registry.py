"""The area registry is the one list: services, the command bar, `?`, jump keys and placeholders read it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import until
from textual.widgets import Static

from console.app import OpsConsole, known_binding_ids
from console.areas import AREAS, area_index
from console.services import SERVICE_AREAS, Services
from console.services.base import Service, ServiceContext
from console.settings import Settings
from screens.messages import OpenInLogs, RevealResource
from screens.resources import ResourcesScreen
from screens.shell import CommandBar, KeyHelpScreen

SIZE = (160, 40)


def test_every_service_area_is_an_area_of_the_console() -> None:
    assert set(SERVICE_AREAS) <= set(AREAS)
    assert all(AREAS[name].screen is not None for name in SERVICE_AREAS)  # a service with no screen is unreachable


def test_services_are_built_from_the_registry_on_first_use_and_only_those_are_closed() -> None:
    services = Services(ServiceContext(Settings(), None, None, None))
    assert services.names == tuple(SERVICE_AREAS)
    assert services._built == {}
    logs = services.area("logs")
    assert services.logs is logs and set(services._built) == {"logs"}
    with pytest.raises(KeyError, match="No area called 'nowhere' has a service"):
        services.area("nowhere")
    with pytest.raises(TypeError, match="not a ResourcesService"):
        from console.services.resources import ResourcesService

        services.get("logs", ResourcesService)


@pytest.mark.asyncio
async def test_close_closes_every_built_service() -> None:
    closed: list[str] = []

    class Recording(Service):
        async def close(self) -> None:
            closed.append(self.area)

    def builder(name: str) -> Callable[[Services], Service]:
        def build(services: Services) -> Service:
            service = Recording(services.context)
            service.area = name
            return service

        return build

    services = Services(ServiceContext(Settings(), None, None, None), {n: builder(n) for n in ("a", "b", "c")})
    services.area("a")
    services.area("c")
    await services.close()
    assert sorted(closed) == ["a", "c"]


def test_the_shell_index_comes_from_the_registry() -> None:
    index = area_index()
    assert list(index.titles) == list(AREAS)
    for area in AREAS.values():
        assert index.resolve(area.name) == area.name
        assert index.title(area.name) == area.title
        for alias in area.aliases:
            assert index.resolve(f":{alias.upper()}") == area.name
    assert index.resolve("nothing-like-this") is None
    assert set(index.built) == {name for name, area in AREAS.items() if area.screen is not None}


def test_every_area_key_is_a_remappable_binding() -> None:
    ids = known_binding_ids()
    keyed = [area for area in AREAS.values() if area.key]
    assert keyed and all(f"area.{area.name}" in ids for area in keyed)
    assert len({area.key for area in keyed}) == len(keyed)


@pytest.mark.asyncio
async def test_an_area_key_jumps_and_the_key_help_lists_it(
    make_local_services: Callable[..., Services], settings: Settings
) -> None:
    app = OpsConsole(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        await pilot.press(str(AREAS["backup"].key))
        await until(pilot, lambda: app.current_mode == "backup", "the backup area")
        bar = app.screen.query_one(CommandBar)
        assert all(area.name in str(bar.placeholder) for area in AREAS.values())
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, KeyHelpScreen), "the key help")
        text = str(app.screen.query(Static).first().render())
        assert "Go to Logs" in text and "area.logs" in text


@pytest.mark.asyncio
async def test_reveal_resource_by_id_opens_resources_at_it(
    make_local_services: Callable[..., Services], settings: Settings
) -> None:
    from console.emulator import estate

    resource_id = (
        f"/subscriptions/{estate.PROD_SUBSCRIPTION}/resourceGroups/rg-prod-data"
        "/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-orders-prod"
    )
    app = OpsConsole(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        await until(pilot, lambda: bool(app.shell.subscriptions), "the subscriptions")
        app.jump("backup")
        await until(pilot, lambda: app.current_mode == "backup" and app.screen.is_mounted, "the backup area")
        app.post_message(RevealResource(resource_id))
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        await until(pilot, lambda: screen.scope.group == "rg-prod-data", "the resource's group")
        assert screen.filter_text == "^psql\\-orders\\-prod$"
        await until(pilot, lambda: screen.detail is not None, "the resource's details")
        assert screen.detail is not None and screen.detail.resource_id.lower() == resource_id.lower()


@pytest.mark.asyncio
async def test_open_in_logs_is_delivered_once(make_local_services: Callable[..., Services], settings: Settings) -> None:
    from screens.widgets.kql_editor import KqlEditor

    app = OpsConsole(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        app.screen.post_message(OpenInLogs("print one = 1"))
        await until(pilot, lambda: app.current_mode == "logs" and bool(app.screen.query(KqlEditor)), "logs")
        editor = app.screen.query_one(KqlEditor)
        await until(pilot, lambda: "print one = 1" in editor.text, "the query")
        for _ in range(10):
            await pilot.pause(0.02)
        assert editor.text.count("print one = 1") == 1  # the delivered copy does not bounce back into the app
        assert editor.text.strip() == "print one = 1"  # it replaced the untouched starter query


@pytest.mark.asyncio
async def test_open_runbook_fills_the_given_parameters(
    make_local_services: Callable[..., Services], settings: Settings
) -> None:
    from textual.widgets import Input

    from screens.messages import OpenRunbook
    from screens.runbooks import RunbooksScreen

    app = OpsConsole(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        app.post_message(OpenRunbook("missing-heartbeats", {"silence": "00:42:00"}))
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen), "runbooks")
        screen = app.screen
        await until(pilot, lambda: bool(screen.query("#param-silence")), "the parameter form")
        assert screen.query_one("#param-silence", Input).value == "00:42:00"
        assert screen.query_one("#param-lookback", Input).value  # the others keep their defaults
        # Opened again without values: the defaults, not the values given before.
        app.post_message(OpenRunbook("slot-health"))
        await until(pilot, lambda: bool(screen.query("#param-window")), "slot-health's form")
        app.post_message(OpenRunbook("missing-heartbeats"))
        await until(pilot, lambda: bool(screen.query("#param-silence")), "the form again")
        assert screen.query_one("#param-silence", Input).value != "00:42:00"


@pytest.mark.asyncio
async def test_open_in_logs_sets_the_time_range_and_the_workspace(
    make_local_services: Callable[..., Services], settings: Settings
) -> None:
    from datetime import timedelta

    from console.emulator import estate
    from screens.logs import LogsScreen
    from screens.widgets.time_range import CUSTOM, TimeRangePicker

    app = OpsConsole(settings, make_local_services(), start_area="logs")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LogsScreen), "logs")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: screen.workspace is not None, "the configured workspace")
        assert screen.workspace is not None and screen.workspace.name == estate.WORKSPACE_NAME
        picker = screen.query_one(TimeRangePicker)
        # A customer id is taken as it is: the workspace then goes by that id, not by its name.
        app.post_message(OpenInLogs("print 1", timespan=timedelta(hours=1), scope=estate.WORKSPACE_CUSTOMER_ID))
        await until(pilot, lambda: picker.preset == "1h", "the one-hour range")
        await until(
            pilot,
            lambda: screen.workspace is not None and screen.workspace.name == estate.WORKSPACE_CUSTOMER_ID,
            "the workspace the request named",
        )
        app.post_message(OpenInLogs("print 2", timespan=timedelta(hours=2)))
        await until(pilot, lambda: picker.preset == CUSTOM, "a custom range for two hours")
        assert picker.problem is None
