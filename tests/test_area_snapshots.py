"""An SVG snapshot per kind of area not covered elsewhere: Runbooks (its list).

Resources and Logs have theirs in their own test files. The local Azure's estate is seeded
deterministically and the run history starts empty, so nothing here depends on the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from conftest import until
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.app import OpsConsole
from console.emulator import estate
from console.services import Services
from console.settings import Settings
from screens.runbooks import RunbooksScreen

SIZE = (160, 40)


async def _runbook_list(pilot: Pilot[Any]) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunbooksScreen), "the runbooks screen")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.query_one("#runbook-table", DataTable).row_count > 0, "the runbook list")
    await until(pilot, lambda: bool(screen.query("Footer")), "the footer")
    await pilot.pause()


def test_runbooks_area_snapshot(
    snap_compare: Any, make_local_services: Callable[..., Services], settings: Settings
) -> None:
    """The Runbooks area: the shipped runbooks, none run yet."""
    fixed = replace(settings, subscription=estate.PROD_SUBSCRIPTION)
    app = OpsConsole(fixed, make_local_services(subscription=estate.PROD_SUBSCRIPTION), start_area="runbooks")
    assert snap_compare(app, terminal_size=SIZE, run_before=_runbook_list)
