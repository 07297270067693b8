"""Waiting is said: a slow query shows it is running (and for how long), a slow listing across subscriptions
shows how far it has got. Latency comes from the local Azure's fault injection; nothing asserts on time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from console.app import OpsConsole
from console.emulator import estate
from console.services import Services
from console.settings import Settings
from screens.logs import LogsScreen
from screens.resources import ResourcesScreen
from screens.shell import ShellContext
from screens.widgets.kql_editor import KqlEditor

Faults = Callable[[list[dict[str, Any]]], Any]


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, attempts: int = 1500) -> None:
    """Let the app run until `condition` holds (bounded by a number of pauses, never by wall time)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"gave up waiting for {what}")


class LogsHost(App[None]):
    """Just the Logs screen over real services."""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def on_mount(self) -> None:
        self.push_screen(LogsScreen(ShellContext(demo=True), self.services, initial_query=""))


@pytest.mark.asyncio
async def test_a_slow_query_says_it_is_running_and_for_how_long(
    make_local_services: Callable[..., Services], faults: Faults
) -> None:
    services = make_local_services(workspace=estate.WORKSPACE_CUSTOMER_ID)
    faults([{"path": "/v1/workspaces/.*/query", "latency_ms": 3000}])
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            screen = pilot.app.screen
            assert isinstance(screen, LogsScreen)
            await until(pilot, lambda: screen.workspace is not None, "the workspace")
            screen.query_one(KqlEditor).load_text("Heartbeat | take 3")
            screen.query_one(KqlEditor).focus()
            await pilot.press("ctrl+enter")
            status = screen.query_one("#status-line", Static)
            await until(pilot, lambda: "Query running, " in str(status.render()), "the running query's progress")
            assert " s (esc cancels)" in str(status.render())
            await until(pilot, lambda: screen.running is None, "the answer")
            assert "rows" in str(status.render()) and "running" not in str(status.render())
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_a_listing_across_subscriptions_says_how_far_it_has_got(
    make_local_services: Callable[..., Services], settings: Settings, faults: Faults
) -> None:
    app = OpsConsole(replace(settings, subscription=estate.PROD_SUBSCRIPTION), make_local_services())
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "the Resources screen")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        crumbs = screen.query_one("#crumbs", Static)
        await until(pilot, lambda: screen.scope.subscription is not None and bool(screen.resources), "first rows")
        await app.workers.wait_for_complete()
        faults([{"path": "/resources", "latency_ms": 1500}])
        screen.action_up_scope()  # to "All subscriptions": both are listed
        await until(pilot, lambda: " of 2 subscriptions…" in str(crumbs.render()), "the listing's progress")
        assert "listing 1 of 2 subscriptions…" in str(crumbs.render())
        await until(pilot, lambda: "subscriptions…" not in str(crumbs.render()), "the listing")
        assert {r.subscription_id for r in screen.resources} == {estate.PROD_SUBSCRIPTION, estate.NONPROD_SUBSCRIPTION}
