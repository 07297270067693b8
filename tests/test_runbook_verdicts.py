"""Gates fail closed: a check evaluated on a partial result is inconclusive, never pass, in the check itself,
the runbook service and its history, and the runbook screen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pyarrow as pa
import pytest
from conftest import EmulatorThread, module_azure, use_identity, wait_for_telemetry
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from console.app import OpsConsole
from console.cloud import local_profile
from console.emulator import estate
from console.models import Column, QueryResult, RunbookRun
from console.runbooks import parse_check
from console.services import Services, make_services
from console.settings import Settings
from screens.runbooks import RunbooksScreen, StepView


def one_row(**partial: object) -> QueryResult:
    table = pa.table({"n": pa.array([1], type=pa.int64())})
    return QueryResult((Column("n", "long"),), table, 1.0, **partial)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "partial",
    [
        {"partial_error": "Telemetry is still being loaded (40% so far)."},
        {"partial_error": "Query result was truncated to 1 rows.", "truncated": True},
        {"truncated": True},
    ],
    ids=["still-arriving", "capped-with-error", "capped"],
)
@pytest.mark.parametrize("check", ["rows == 1", "rows == 0", "max(n) < 5", "value(n) == 2"])
def test_a_check_on_a_partial_result_is_inconclusive_whatever_it_saw(check: str, partial: dict[str, object]) -> None:
    outcome = parse_check(check).evaluate(one_row(**partial))
    assert outcome.inconclusive and not outcome.passed and outcome.verdict == "inconclusive"
    assert outcome.sentence.startswith("Inconclusive, the result is partial (")
    assert check in outcome.sentence  # what the check saw is still told


def test_the_same_checks_on_a_whole_result_decide() -> None:
    assert parse_check("rows == 1").evaluate(one_row()).verdict == "pass"
    assert parse_check("rows == 0").evaluate(one_row()).verdict == "fail"


arriving = module_azure("arriving", seed_delay_s=3600)
"""A local Azure whose telemetry is still arriving for the whole module (its seed waits an hour)."""


@pytest.fixture
def arriving_services(
    arriving: EmulatorThread, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], Services]:
    use_identity(monkeypatch, arriving)
    return lambda: make_services(settings, profile=local_profile(arriving.readiness))


def test_a_run_on_data_still_arriving_is_inconclusive_and_recorded_so(
    arriving_services: Callable[[], Services],
) -> None:
    async def run() -> tuple[RunbookRun, Services]:
        services = arriving_services()
        try:
            chosen = services.runbooks.find("missing-heartbeats")
            return await services.runbooks.run(chosen, {}, estate.WORKSPACE_CUSTOMER_ID), services
        finally:
            await services.close()

    result, services = asyncio.run(run())
    assert result.status == "inconclusive"
    checked = [step for step in result.steps if step.check is not None]
    assert checked and all(step.status == "inconclusive" and step.passed is False for step in checked)
    assert all(step.status == "info" for step in result.steps if step.check is None)
    assert "inconclusive" in result.summary()
    assert services.runbooks.history("missing-heartbeats")[0]["status"] == "inconclusive"


async def _wait_for(pilot: Pilot[int], condition: Callable[[], bool], what: str) -> None:
    for _ in range(1200):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.asyncio
async def test_the_runbook_screen_marks_an_inconclusive_step_and_summary(
    settings: Settings, arriving_services: Callable[[], Services]
) -> None:
    app = OpsConsole(settings, arriving_services(), start_area="runbooks")
    async with app.run_test(size=(160, 60)) as pilot:
        await _wait_for(pilot, lambda: isinstance(pilot.app.screen, RunbooksScreen), "the runbooks screen")
        screen = pilot.app.screen
        assert isinstance(screen, RunbooksScreen)
        await _wait_for(pilot, lambda: bool(screen.shown), "the runbook list")
        table = screen.query_one("#runbook-table", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("missing-heartbeats"))
        await pilot.press("enter")
        await _wait_for(pilot, lambda: len(screen.query(StepView)) > 0, "the document")
        screen.query_one("#param-silence", Input).value = "1h"
        await pilot.press("R")
        views = list(screen.query(StepView).results(StepView))
        await _wait_for(pilot, lambda: all(view.result is not None for view in views), "every step to run")
        checked = [view for view in views if view.result is not None and view.result.check is not None]
        assert checked and all(view.has_class("-inconclusive") for view in checked)
        assert "INCONCLUSIVE" in str(checked[0].query_one(".step-header", Static).render())
        summary = screen.query_one("#summary", Static)
        assert summary.has_class("-inconclusive") and "INCONCLUSIVE" in str(summary.render())
        assert "inconclusive (partial data)" in str(summary.render())


# too little data to judge by ------------------------------------------------------------------------


def test_a_step_may_not_both_check_and_say_what_is_enough() -> None:
    from console.runbooks import RunbookError, parse_runbook

    text = '---\ntitle: t\n---\n```kql name="n" check="rows > 0" enough="rows > 5"\nAppRequests\n```\n'
    with pytest.raises(RunbookError, match="both check and enough"):
        parse_runbook(text, "t")


@pytest.mark.asyncio
async def test_too_little_traffic_makes_the_run_inconclusive_even_where_a_check_failed(
    local_azure: EmulatorThread, make_local_services: Callable[..., Services]
) -> None:
    await asyncio.to_thread(wait_for_telemetry, local_azure.readiness)
    services = make_local_services()
    try:
        slot_health = services.runbooks.find("slot-health")
        assert slot_health.steps[0].enough
        raw = {"window": "7d", "max_failure_pct": "0", "min_requests": "1"}
        judged = await services.runbooks.run(slot_health, raw, estate.WORKSPACE_CUSTOMER_ID)
        assert judged.status == "fail"  # enough requests: the failure rate decides
        thin = await services.runbooks.run(
            slot_health, {**raw, "min_requests": "100000000"}, estate.WORKSPACE_CUSTOMER_ID
        )
    finally:
        await services.close()
    by_name = {step.name: step for step in thin.steps}
    assert by_name["requests in slot"].status == "inconclusive" and by_name["requests in slot"].too_little
    assert by_name["requests in slot"].sentence.startswith("Too little data to judge: ")
    assert by_name["failure rate"].status == "fail"  # what the check saw is still shown
    assert thin.status == "inconclusive"
