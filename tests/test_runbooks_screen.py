"""The Runbooks area driven with Pilot against the local Azure: list, filter, document, runs and history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, DataTable, Input, Markdown, Static

from console.app import OpsConsole
from console.runbooks import Parameter, Runbook, RunbookError, load_runbooks, parse_runbook, shipped_runbooks_dir
from console.services import Services
from console.settings import Settings
from screens.runbooks import (
    RunbooksScreen,
    StepView,
    default_text,
    raw_parameters,
    split_binding_errors,
    trailing_prose,
)

SIZE = (160, 60)
WAIT_S = 60.0


async def wait_for(pilot: Pilot[int], condition: Callable[[], bool], what: str) -> None:
    """Let the app work until `condition` holds; fail with `what` if it never does."""
    for _ in range(int(WAIT_S / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def runbooks_app(settings: Settings, services: Services) -> OpsConsole:
    return OpsConsole(settings, services, start_area="runbooks")


async def listed(pilot: Pilot[int]) -> RunbooksScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunbooksScreen), "the runbooks screen")
    screen = pilot.app.screen
    assert isinstance(screen, RunbooksScreen)
    await wait_for(pilot, lambda: bool(screen.shown), "the runbook list")
    return screen


async def opened(pilot: Pilot[int], name: str) -> RunbooksScreen:
    screen = await listed(pilot)
    table = screen.query_one("#runbook-table", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(name))
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(screen.query(StepView)) > 0, f"the {name} document")
    return screen


def step_views(screen: RunbooksScreen) -> list[StepView]:
    return list(screen.query(StepView).results(StepView))


def has_result(view: StepView) -> Callable[[], bool]:
    return lambda: view.result is not None


def summary_text(screen: RunbooksScreen) -> str:
    return str(screen.query_one("#summary", Static).render())


# helpers without widgets ---------------------------------------------------------------------


def test_defaults_are_shown_in_a_spelling_that_binds_back() -> None:
    for runbook in load_runbooks(shipped_runbooks_dir()):
        texts = {p.name: default_text(p) for p in runbook.parameters}
        from console.runbooks import bind_parameters

        bound = bind_parameters(runbook, raw_parameters(runbook, texts))
        assert bound == {p.name: p.default for p in runbook.parameters}, runbook.name


def test_binding_errors_are_split_by_parameter() -> None:
    runbook = next(r for r in load_runbooks(shipped_runbooks_dir()) if r.name == "slot-health")
    from console.runbooks import bind_parameters

    with pytest.raises(RunbookError) as caught:
        bind_parameters(runbook, {"window": "notatime", "min_requests": "many", "colour": "blue"})
    by_parameter, general = split_binding_errors(runbook, caught.value)
    assert set(by_parameter) == {"window", "min_requests"}
    assert "notatime" in by_parameter["window"]
    assert general == [
        "runbook 'slot-health' has no parameter 'colour' (it takes: "
        + ", ".join(sorted(p.name for p in runbook.parameters))
        + ")"
    ]


def test_required_parameter_left_empty_is_reported_as_required() -> None:
    runbook = Runbook(
        "r", "R", "", (), (Parameter("app", "string"), Parameter("w", "timespan", timedelta(hours=1))), (), ""
    )
    assert raw_parameters(runbook, {"app": " ", "w": "1h"}) == {"w": "1h"}


def test_trailing_prose_is_what_follows_the_last_step() -> None:
    runbook = parse_runbook(
        "---\ntitle: T\n---\nBefore.\n\n```kql\nT | take 1\n```\n\nAfter, with `code`.\n\n```text\nnot kql\n```\n",
        "t",
    )
    assert trailing_prose(runbook.prose) == ""
    body = "Intro.\n\n```kql\nT\n```\n\n## Then\nDo this.\n"
    assert trailing_prose(body) == "## Then\nDo this."


# the screen ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_shows_runbooks_with_tags_and_last_run(
    settings: Settings, make_local_services: Callable[..., Services]
) -> None:
    app = runbooks_app(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        screen = await listed(pilot)
        table = screen.query_one("#runbook-table", DataTable)
        assert table.row_count == len(load_runbooks(shipped_runbooks_dir()))
        row = table.get_row("missing-heartbeats")
        assert row[0] == "Missing heartbeats"
        assert row[1] == "vm, monitoring, availability"
        assert str(row[2]) == "never"


@pytest.mark.asyncio
async def test_filter_narrows_by_tag_and_escape_clears(
    settings: Settings, make_local_services: Callable[..., Services]
) -> None:
    app = runbooks_app(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        screen = await listed(pilot)
        total = len(screen.shown)
        await pilot.press("slash", *"backup")
        assert [r.name for r in screen.shown] == ["backup-failures"]
        assert screen.query_one("#runbook-table", DataTable).row_count == 1
        await pilot.press("escape")
        await pilot.press("escape")
        assert len(screen.shown) == total and screen.filter_text == ""
        await pilot.press("slash", *"zzz-nothing")
        assert screen.query_one("#list-area", ContentSwitcher).current == "list-empty"


@pytest.mark.asyncio
async def test_open_shows_document_with_prose_form_and_steps(
    settings: Settings, make_local_services: Callable[..., Services]
) -> None:
    app = runbooks_app(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "slot-health")
        assert screen.query_one("#views", ContentSwitcher).current == "doc-view"
        assert [view.step.name for view in step_views(screen)] == [
            "requests in slot",
            "failure rate",
            "p95 latency",
            "builds in slot",
        ]
        assert len(screen.query(Markdown)) >= 2
        assert screen.query_one("#param-window", Input).value == "15m"
        assert screen.query_one("#param-since", Input).value == "2000-01-01T00:00:00Z"
        assert screen.query_one("#param-max_failure_pct", Input).value == "5.0"
        assert "Not run yet" in summary_text(screen)
        await wait_for(pilot, lambda: screen.workspace is not None, "the workspace")
        assert "law-ops-prod" in str(screen.query_one("#doc-meta", Static).render())
        await pilot.press("escape")
        assert screen.query_one("#views", ContentSwitcher).current == "list-view"


@pytest.mark.asyncio
async def test_bad_parameter_is_shown_inline_and_nothing_runs(
    settings: Settings, make_local_services: Callable[..., Services]
) -> None:
    services = make_local_services()
    app = runbooks_app(settings, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "missing-heartbeats")
        screen.query_one("#param-silence", Input).value = "notatime"
        await pilot.press("R")
        await pilot.pause()
        error = screen.query_one("#param-error-silence", Static)
        assert error.has_class("-shown")
        assert "parameter 'silence'" in str(error.render())
        assert screen.query_one("#param-silence", Input).has_class("-invalid")
        assert not screen.query_one("#param-error-lookback", Static).has_class("-shown")
        assert all(view.result is None for view in step_views(screen))
        await pilot.pause(0.2)
        assert services.runbooks.history() == []


@pytest.mark.asyncio
async def test_run_all_marks_checks_and_summarises_then_history_shows_it(
    settings: Settings, make_local_services: Callable[..., Services]
) -> None:
    services = make_local_services()
    app = runbooks_app(settings, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "missing-heartbeats")
        screen.query_one("#param-silence", Input).value = "1h"
        await pilot.press("R")
        views = step_views(screen)
        await wait_for(pilot, lambda: all(view.result is not None for view in views), "every step to run")
        assert [view.result.status for view in views if view.result] == ["info", "fail", "info"]
        silent = views[1]
        assert silent.has_class("-fail")
        outcome = str(silent.query_one(".step-outcome", Static).render())
        assert "rows == 0 failed: the query returned 1 row." in outcome and "(observed 1)" in outcome
        assert "FAIL" in summary_text(screen) and "0 pass / 1 fail / 0 error" in summary_text(screen)
        assert screen.query_one("#summary", Static).has_class("-fail")
        # History: recorded once, with its parameters, and shown in the history tab.
        await wait_for(pilot, lambda: len(services.runbooks.history("missing-heartbeats")) == 1, "the record")
        await pilot.press("h")
        history = screen.query_one("#history-table", DataTable)
        await wait_for(pilot, lambda: history.row_count == 1, "the history row")
        row = history.get_row_at(0)
        assert str(row[1]) == "FAIL" and row[2] == "1 fail, 2 info"
        assert row[3] == "silence=1h, lookback=1d"
        await pilot.press("escape")
        assert str(screen.query_one("#runbook-table", DataTable).get_row("missing-heartbeats")[2]).startswith("FAIL")


@pytest.mark.asyncio
async def test_run_one_step_then_the_rest_records_once_all_ran(
    settings: Settings, make_local_services: Callable[..., Services]
) -> None:
    services = make_local_services()
    app = runbooks_app(settings, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "slot-health")
        screen.query_one("#param-window", Input).value = "3h"
        views = step_views(screen)
        views[1].focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: views[1].result is not None, "the failure-rate step")
        assert views[1].result is not None and views[1].result.status == "pass"
        assert views[1].has_class("-pass")
        assert [view.result for view in views if view is not views[1]] == [None, None, None]
        assert "1 pass / 0 fail / 0 error" in summary_text(screen) and "1 of 4 steps run" in summary_text(screen)
        assert services.runbooks.history() == []
        for view in (views[0], views[2], views[3]):
            view.focus()
            await pilot.press("r")
            await wait_for(pilot, has_result(view), view.step.name)
        await wait_for(pilot, lambda: len(services.runbooks.history("slot-health")) == 1, "the record")
        entry = services.runbooks.history("slot-health")[0]
        assert entry["status"] == "pass" and entry["summary"] == "3 pass, 1 info"
        assert entry["parameters"]["window"] == "3h"
        assert views[3].has_class("-has-rows")


@pytest.mark.asyncio
async def test_leaving_a_partly_run_runbook_records_it(
    settings: Settings, make_local_services: Callable[..., Services]
) -> None:
    services = make_local_services()
    app = runbooks_app(settings, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "backup-failures")
        views = step_views(screen)
        views[1].focus()  # "failed backup jobs": last night's backup of vm-build-agent-02 failed
        await pilot.press("r")
        await wait_for(pilot, lambda: views[1].result is not None, "the step")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(services.runbooks.history("backup-failures")) == 1, "the record")
        assert services.runbooks.history("backup-failures")[0]["summary"] == "1 fail"


@pytest.mark.asyncio
async def test_l_opens_the_bound_step_in_logs(settings: Settings, make_local_services: Callable[..., Services]) -> None:
    app = runbooks_app(settings, make_local_services())
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, "missing-heartbeats")
        step_views(screen)[1].focus()
        await pilot.press("l")
        await wait_for(pilot, lambda: app.current_mode == "logs", "the logs area")
        from screens.widgets.kql_editor import KqlEditor

        await wait_for(pilot, lambda: bool(app.screen.query(KqlEditor)), "the logs editor")
        text = app.screen.query_one(KqlEditor).text
        assert text.startswith("let silence = timespan(00:15:00);\nlet lookback = timespan(1.00:00:00);\nHeartbeat")
        assert "| where last_seen < ago(silence)" in text
