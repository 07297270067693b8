"""Rough edges a new user met: Logs (blank-line F5, stale results, L, the time range), q, r and `/`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Select, Static

from console.app import OpsConsole
from console.emulator import estate
from console.services import Services
from console.settings import Settings
from screens.logs import LogsScreen
from screens.messages import OpenInLogs
from screens.resources import ResourcesScreen
from screens.runbooks import RunbooksScreen
from screens.widgets.kql_editor import KqlEditor
from screens.widgets.time_range import TimeRangePicker

SIZE = (200, 50)


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, attempts: int = 1500) -> None:
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


def text_of(widget: Static) -> str:
    return str(widget.render())


async def logs_ready(pilot: Pilot[Any], app: OpsConsole) -> LogsScreen:
    await until(pilot, lambda: isinstance(app.screen, LogsScreen), "logs")
    screen = app.screen
    assert isinstance(screen, LogsScreen)
    await until(pilot, lambda: screen.workspace is not None, "the workspace")
    return screen


async def run(pilot: Pilot[Any], screen: LogsScreen, kql: str) -> None:
    editor = screen.query_one(KqlEditor)
    editor.load_text(kql)
    editor.move_cursor((0, 0))
    editor.focus()
    before = screen.last_statement
    await pilot.press("f5")
    await until(pilot, lambda: screen.last_statement is not before and screen.running is None, "the query")
    await pilot.pause(0.05)


@pytest.mark.asyncio
async def test_f5_with_no_query_says_what_to_do(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(start_area="logs", workspace=estate.WORKSPACE_CUSTOMER_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_ready(pilot, app)
        editor = screen.query_one(KqlEditor)
        editor.load_text("\n\n   \n")
        editor.move_cursor((1, 0))
        editor.focus()
        await pilot.press("f5")
        await until(pilot, lambda: any("no query to run" in text for text in notices(app)), "the notice")
        assert "type one" in next(text for text in notices(app) if "no query to run" in text)
        assert screen.running is None and screen.result is None


@pytest.mark.asyncio
async def test_a_failed_query_marks_the_old_result_as_stale(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(start_area="logs", workspace=estate.WORKSPACE_CUSTOMER_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_ready(pilot, app)
        await run(pilot, screen, "range x from 1 to 3 step 1")  # reads no table: no wait on telemetry
        assert screen.result is not None and screen.result.row_count == 3
        await run(pilot, screen, "range x from 1 to 3 step 1 | whre x > 1")
        status = text_of(screen.query_one("#status-line", Static))
        assert "Query rejected." in status and "from the previous query" in status
        assert screen.query_one(ContentSwitcher).current == "result-grid"


@pytest.mark.asyncio
async def test_capital_l_puts_the_new_query_in_view(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(start_area="logs", workspace=estate.WORKSPACE_CUSTOMER_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_ready(pilot, app)
        editor = screen.query_one(KqlEditor)
        editor.load_text("\n".join(f"Heartbeat | take {n}\n" for n in range(30)))
        await pilot.pause()
        app.post_message(OpenInLogs("AppRequests\n| take 5"))
        await until(pilot, lambda: "AppRequests" in editor.text.split("\n"), "the query in the editor")
        first_row = editor.text.split("\n").index("AppRequests")
        await until(pilot, lambda: editor.scroll_offset.y > 0, "the editor to scroll")
        top = editor.scroll_offset.y
        assert top <= first_row < top + editor.scrollable_content_region.height
        assert editor.cursor_location == (first_row, 0)


@pytest.mark.asyncio
async def test_f4_opens_the_time_range_and_choosing_one_does_not_run(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(start_area="logs", workspace=estate.WORKSPACE_CUSTOMER_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_ready(pilot, app)
        await run(pilot, screen, "range x from 1 to 3 step 1")
        runs = len(screen.history.entries())
        await pilot.press("f4")
        select = screen.query_one("#time-preset", Select)
        assert select.expanded
        await pilot.press("up", "enter")
        await until(pilot, lambda: any("Time range: last 4h" in text for text in notices(app)), "the notice")
        await pilot.pause(0.2)
        assert len(screen.history.entries()) == runs and screen.running is None
        assert isinstance(app.focused, KqlEditor)
        from screens.shell import KeyHelpScreen

        await pilot.press("f3", "question_mark")  # from the results: in the editor `?` is text
        await until(pilot, lambda: isinstance(app.screen, KeyHelpScreen), "the key help")
        assert "Time range" in str(app.screen.query(Static).first().render())


@pytest.mark.asyncio
async def test_a_single_q_asks_and_a_second_quits(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        app.screen.query_one("#resource-table").focus()
        await pilot.press("q")
        await pilot.pause(0.1)
        assert app.is_running
        assert any("Press q again to quit" in text for text in notices(app))
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_code == 0


@pytest.mark.asyncio
async def test_r_says_it_is_refreshing_and_when_the_rows_are_from(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        crumbs = screen.query_one("#crumbs", Static)
        await until(pilot, lambda: "(15 resources)" in text_of(crumbs), "the first load")
        screen.query_one("#resource-table").focus()
        screen.action_refresh()
        assert "refreshing…" in text_of(crumbs)
        await until(pilot, lambda: "refreshing…" not in text_of(crumbs), "the refresh")
        await pilot.press("r")
        await until(pilot, lambda: notices(app).count("Refreshed: 15 resources.") == 2, "the notices")


@pytest.mark.asyncio
async def test_an_invalid_regex_in_the_filter_is_called_invalid(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "resources")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        await until(pilot, lambda: bool(screen.shown), "the table")
        await pilot.press("slash", *"psql[")
        assert "not a valid regex" in text_of(screen.query_one("#crumbs", Static))
        await pilot.press("escape")
        await pilot.press("colon", *"runbooks", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen) and bool(app.screen.shown), "runbooks")
        runbooks = app.screen
        assert isinstance(runbooks, RunbooksScreen)
        await pilot.press("slash", *"(slot")
        assert "not a valid regex" in text_of(runbooks.query_one("#list-crumbs", Static))


# make-series charts -------------------------------------------------------------------------------


def test_a_make_series_result_becomes_one_line_per_row() -> None:
    import pyarrow as pa

    from screens.widgets.chart import chart_data

    times = '["2026-12-01T15:00:00.0000000Z","2026-12-01T16:00:00.0000000Z","2026-12-01T17:00:00.0000000Z"]'
    table = pa.table(
        {
            "AppRoleName": ["web", "api"],
            "n": ["[1,2,3]", "[4,5,null]"],
            "TimeGenerated": [times, times],
        }
    )
    data = chart_data(table, "timechart")
    assert data.problem is None and data.x_is_time
    assert [s.name for s in data.series] == ["web", "api"]
    assert data.series[1].y.to_pylist() == [4.0, 5.0, None]
    assert data.series[0].x.to_pylist()[1] - data.series[0].x.to_pylist()[0] == 3600 * 1e6


@pytest.mark.asyncio
async def test_make_series_render_timechart_draws_in_logs(build_app: Callable[..., OpsConsole]) -> None:
    from screens.widgets.chart import ResultChart

    app = build_app(start_area="logs", workspace=estate.WORKSPACE_CUSTOMER_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_ready(pilot, app)
        screen.query_one(TimeRangePicker).set_preset("7d")
        # The local Azure loads its telemetry in the background: wait until AppRequests is complete.
        for _ in range(100):
            await run(pilot, screen, "AppRequests | summarize n = count()")
            if screen.result is not None and not screen.result.partial_error and screen.result.row_count:
                break
            await pilot.pause(0.2)
        await run(
            pilot,
            screen,
            "AppRequests\n| make-series n = count() default = 0 on TimeGenerated step 1h by AppRoleName"
            "\n| render timechart",
        )
        assert screen.query_one(ContentSwitcher).current == "result-chart", notices(app)
        chart = screen.query_one(ResultChart)
        assert chart.data is not None and len(chart.data.series) >= 2
        assert not any("needs a datetime" in text for text in notices(app))


# [keys] in the config ------------------------------------------------------------------------------


def test_every_binding_id_shown_by_question_mark_is_known() -> None:
    from console.app import known_binding_ids

    ids = known_binding_ids()
    assert {"resources.refresh", "logs.run", "logs.time_range", "runbooks.history", "app.quit_q"} <= ids


@pytest.mark.asyncio
async def test_unknown_key_binding_ids_are_named(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(keys={"resources.refresh": "f5", "resources.refrsh": "f6", "logs.nope": "f7"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any("[keys]" in text for text in notices(app)), "the notice")
        sentence = next(text for text in notices(app) if "[keys]" in text)
        assert "'logs.nope', 'resources.refrsh'" in sentence
        assert "'resources.refresh'" not in sentence


# tab completion ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_tab_on_an_ambiguous_prefix_lists_the_candidates_before_inserting(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app(start_area="logs", workspace=estate.WORKSPACE_CUSTOMER_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_ready(pilot, app)
        await until(pilot, lambda: screen.schema is not None, "the schema")
        editor = screen.query_one(KqlEditor)
        editor.load_text("")
        editor.focus()
        await pilot.press(*"Ap")
        await pilot.press("tab")
        assert editor.text == "App"  # what AppDependencies, AppExceptions, AppRequests... share
        assert editor.completing
        await pilot.press("tab")
        assert editor.text == "App" and editor.completing  # still several: listed, nothing chosen
        shown = [str(editor.completion_list.get_option_at_index(i).id) for i in range(3)]
        assert all(name.startswith("App") for name in shown)
        await pilot.press("tab")
        assert editor.text == shown[0] and not editor.completing
        editor.load_text("")
        await pilot.press(*"Heartb", "escape")
        assert not editor.completing
        await pilot.press("tab")  # one candidate: inserted at once, even with the list closed
        assert editor.text == "Heartbeat"


@pytest.mark.asyncio
async def test_a_cancelled_query_marks_the_old_result_as_stale(
    build_app: Callable[..., OpsConsole], faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    app = build_app(start_area="logs", workspace=estate.WORKSPACE_CUSTOMER_ID)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_ready(pilot, app)
        await run(pilot, screen, "range x from 1 to 3 step 1")
        previous = screen.result
        assert previous is not None and previous.row_count == 3
        faults([{"path": "/v1/workspaces/.*/query", "latency_ms": 8000}])
        screen.query_one(KqlEditor).load_text("range x from 1 to 5 step 1")
        await pilot.press("f5")
        await until(pilot, lambda: screen.running is not None, "the slow query")
        await pilot.press("escape")
        await until(pilot, lambda: screen.running is None, "the cancel")
        banner = text_of(screen.query_one("#banner", Static))
        assert "cancelled" in banner and "from the previous query" in banner
        assert screen.query_one(ContentSwitcher).current == "result-grid"
        assert screen.result is previous
