"""The Logs area: widgets on Arrow tables they are given, then the screen against the local Azure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Static, Tree

from console.emulator import estate
from console.history import QueryHistory
from console.models import Column, WorkspaceSchema
from console.services import Services
from screens.logs import ExportScreen, HistoryScreen, LogsScreen
from screens.shell import ShellContext
from screens.widgets.chart import ResultChart, chart_data, downsample
from screens.widgets.kql_editor import KqlEditor, completions, highlight_line, statement_at
from screens.widgets.result_grid import ResultGrid, format_column
from screens.widgets.time_range import TimeRangePicker, custom_range, describe

SCHEMA = WorkspaceSchema(
    {
        "AppRequests": (Column("TimeGenerated", "datetime"), Column("Name", "string"), Column("Success", "bool")),
        "Heartbeat": (Column("TimeGenerated", "datetime"), Column("Computer", "string")),
    }
)


class WidgetHost(App[None]):
    """Shows the widgets under test, nothing else."""

    def __init__(self, *widgets: Widget) -> None:
        super().__init__()
        self.widgets = widgets

    def compose(self) -> ComposeResult:
        yield from self.widgets


def typed_table(rows: int) -> pa.Table:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    return pa.table(
        {
            "TimeGenerated": pa.array(
                [start + timedelta(minutes=i) for i in range(rows)], pa.timestamp("us", tz="UTC")
            ),
            "Name": pa.array([None if i % 5 == 4 else f"GET /api/{i % 3}" for i in range(rows)]),
            "Count": pa.array(range(rows), pa.int64()),
            "DurationMs": pa.array([i * 1.5 for i in range(rows)], pa.float64()),
            "Props": pa.array([json.dumps({"i": i, "ok": True}) for i in range(rows)]),
        }
    )


# widgets --------------------------------------------------------------------------------------


def test_format_column_is_vectorised_and_typed() -> None:
    table = typed_table(6)
    assert format_column(table.column("TimeGenerated"), "datetime")[1] == "2024-05-01T00:01:00Z"
    assert format_column(table.column("Name"), "text")[4] is None
    assert format_column(table.column("DurationMs"), "number")[3] == "4.5"
    assert format_column(table.column("Props"), "dynamic")[0] == '{"i":0,"ok":true}'


@pytest.mark.asyncio
async def test_grid_formats_sorts_pages_and_copies() -> None:
    grid = ResultGrid()
    app = WidgetHost(grid)
    async with app.run_test(size=(120, 20)) as pilot:
        grid.load(typed_table(500), {"Props": "dynamic"})
        grid.focus()
        await pilot.pause()
        header = grid.render_line(0).text
        assert "TimeGenerated" in header and "Props" in header
        first = grid.render_line(1).text
        assert "2024-05-01T00:00:00Z" in first
        assert '{"i":0,"ok":true}' in first
        count_cell = grid.render_line(2).text[grid._offsets[2] : grid._offsets[3]]
        assert count_cell.rstrip().endswith("1") and count_cell.startswith("  ")  # numbers right-aligned
        null_line = grid.render_line(5)
        assert "null" in null_line.text
        assert any(seg.text.strip() == "null" and seg.style and seg.style.italic for seg in null_line)

        await pilot.press("pagedown")
        assert grid.cursor_row == grid.page_rows
        assert grid.scroll_y > 0

        grid.cursor_column = 2
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert grid.sort_descending and grid.sort_column == 2
        assert grid.cell_text(0, 2) == "499"

        grid.cursor_row = 0
        await pilot.press("y")
        assert app.clipboard == "499"
        await pilot.press("Y")
        assert app.clipboard.split("\t")[2] == "499"


@pytest.mark.asyncio
async def test_grid_loads_a_million_rows_without_formatting_them() -> None:
    grid = ResultGrid()
    app = WidgetHost(grid)
    rows = 1_000_000
    table = pa.table({"n": pa.array(range(rows), pa.int64()), "s": pa.array(["x"] * rows)})
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        grid.load(table)
        grid.focus()
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        assert grid.cursor_row == rows - 1
        assert len(grid._texts) <= 4  # only the blocks on screen (and the width sample) were formatted
        assert "999999" in "".join(grid.render_line(y).text for y in range(1, 20))


def test_chart_data_splits_series_and_downsamples_min_max() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    table = pa.table(
        {
            "TimeGenerated": pa.array([start + timedelta(minutes=i // 2) for i in range(1000)]),
            "AppRoleName": pa.array(["web" if i % 2 else "api" for i in range(1000)]),
            "count_": pa.array([float(i % 97) for i in range(1000)]),
        }
    )
    data = chart_data(table, "timechart")
    assert {s.name for s in data.series} == {"web", "api"}
    series = data.series[0]
    buckets = downsample(series.x, series.y, 0.0, float(pa.compute.max(series.x).as_py()), 10)
    assert len(buckets) <= 10
    assert all(low <= high for _, low, high in buckets)
    assert chart_data(table.select(["AppRoleName"]), "timechart").problem is not None


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["timechart", "columnchart", "barchart", "piechart"])
async def test_chart_draws_each_kind(kind: str) -> None:
    chart = ResultChart()
    app = WidgetHost(chart)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    table = pa.table(
        {
            "TimeGenerated": pa.array([start + timedelta(hours=i) for i in range(10_000)]),
            "Name": pa.array([f"op{i % 4}" for i in range(10_000)]) if kind != "timechart" else None,
            "n": pa.array([float((i * 37) % 101) for i in range(10_000)]),
        }
        if kind != "timechart"
        else {
            "TimeGenerated": pa.array([start + timedelta(hours=i) for i in range(10_000)]),
            "n": pa.array([float((i * 37) % 101) for i in range(10_000)]),
        }
    )
    if kind != "timechart":
        table = table.slice(0, 4)
    async with app.run_test(size=(100, 24)) as pilot:
        chart.plot(table, kind)
        await pilot.pause()
        text = "\n".join(chart.render_line(y).text for y in range(24))
    if kind == "timechart":
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in text)
    elif kind == "piechart":
        assert "%" in text and "█" in text
    else:
        assert "█" in text or "▇" in text


def test_statement_under_cursor_and_highlighting() -> None:
    buffer = "AppRequests\n| take 5\n\n\nHeartbeat\n| count\n"
    assert statement_at(buffer, 1).text == "AppRequests\n| take 5"
    assert statement_at(buffer, 5).text == "Heartbeat\n| count"
    assert statement_at(buffer, 5).first_row == 4
    assert statement_at(buffer, 2).text == "AppRequests\n| take 5"  # a blank line runs the one above
    spans = highlight_line('AppRequests | where Name has "x" and count() > 5 // note', {"AppRequests"})
    kinds = {buffer_name for _start, _end, buffer_name in spans}
    assert {"type", "operator", "keyword", "string", "function", "number", "comment"} <= kinds


def test_completion_follows_context() -> None:
    assert completions(SCHEMA, "Hea", "Hea") == ["Heartbeat"]
    assert "summarize" in completions(SCHEMA, "AppRequests | su", "su")
    assert completions(SCHEMA, "Heartbeat | where Comp", "Comp")[0] == "Computer"
    assert "timechart" in completions(SCHEMA, "AppRequests | render ti", "ti")
    assert "countif" in completions(SCHEMA, "AppRequests | summarize countif", "count")


@pytest.mark.asyncio
async def test_editor_completes_with_tab_and_marks_errors() -> None:
    editor = KqlEditor("")
    app = WidgetHost(editor)
    async with app.run_test(size=(80, 20)) as pilot:
        editor.set_schema(SCHEMA)
        editor.focus()
        await pilot.press(*"Heart")
        await pilot.pause()
        assert editor.completing
        await pilot.press("tab")
        assert editor.text == "Heartbeat"
        assert not editor.completing
        await pilot.press("enter", *"| whre x", "enter", "enter", *"AppRequests")
        statement = statement_at(editor.text, 0)
        editor.mark_error(statement, (2, 3))
        assert editor.selected_text == "whre"


@pytest.mark.asyncio
async def test_f5_typed_right_behind_the_query_runs_all_of_it() -> None:
    """F5 is a priority binding; the letters typed just before it must be in the statement it runs."""
    from textual import events

    editor = KqlEditor("")
    app = WidgetHost(editor)
    ran: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, KqlEditor.RunRequested):
            ran.append(message.statement.text)

    async with app.run_test(size=(80, 20), message_hook=hook) as pilot:
        editor.focus()
        await pilot.pause()
        for key in "Heartbeat | take 3":
            app.post_message(events.Key("space" if key == " " else key, key))
        app.post_message(events.Key("f5", None))
        await pilot.pause(0.2)
        assert ran and set(ran) == {"Heartbeat | take 3"}  # the hook sees the message at each node it reaches


@pytest.mark.asyncio
async def test_ctrl_home_and_ctrl_end_go_to_the_query_ends() -> None:
    editor = KqlEditor("AppRequests\n| where Success == false\n| take 10")
    app = WidgetHost(editor)
    async with app.run_test(size=(80, 20)) as pilot:
        editor.focus()
        editor.move_cursor((1, 4))
        await pilot.press("ctrl+end")
        assert editor.cursor_location == (2, 9)
        await pilot.press("ctrl+home")
        assert editor.cursor_location == (0, 0)
        await pilot.press("ctrl+shift+end")
        assert editor.selected_text == editor.text
        await pilot.press("ctrl+end", "ctrl+shift+home")
        assert editor.selected_text == editor.text and editor.cursor_location == (0, 0)


def test_custom_time_range_needs_sense() -> None:
    start, end = custom_range("2024-05-01 10:00", "2024-05-01T12:00Z")
    assert end - start == timedelta(hours=2) and start.tzinfo is not None
    with pytest.raises(ValueError, match="after its start"):
        custom_range("2024-05-02", "2024-05-01")
    with pytest.raises(ValueError, match="Start"):
        custom_range("yesterday-ish", "")
    assert describe(timedelta(hours=4)) == "last 4h"


@pytest.mark.asyncio
async def test_time_range_picker_gives_the_timespan() -> None:
    picker = TimeRangePicker()
    app = WidgetHost(picker)
    async with app.run_test() as pilot:
        assert picker.timespan == timedelta(hours=24)
        picker.set_preset("15m")
        await pilot.pause()
        assert picker.timespan == timedelta(minutes=15)
        picker.set_custom("2024-05-01 00:00", "2024-05-02 00:00")
        await pilot.pause()
        assert picker.timespan == (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
        picker.set_custom("nonsense")
        await pilot.pause()
        assert picker.problem is not None


# the screen against the local Azure -----------------------------------------------------------


class LogsHost(App[None]):
    """Just the Logs screen over real services."""

    def __init__(self, services: Services, *, close_services: bool = False) -> None:
        super().__init__()
        self.services = services
        self.close_services = close_services

    def on_mount(self) -> None:
        self.push_screen(LogsScreen(ShellContext(demo=True), self.services, initial_query=""))

    async def on_unmount(self) -> None:
        if self.close_services:  # the snapshot runs the app on its own loop; close there
            await self.services.close()


async def settle(pilot: Any) -> None:
    """Wait for the screen's workers (failed ones included: the screen shows those) and a repaint."""
    for _ in range(2):
        await asyncio.gather(*(worker.wait() for worker in pilot.app.workers), return_exceptions=True)
        await pilot.pause()


async def run_kql(pilot: Any, kql: str) -> LogsScreen:
    screen = pilot.app.screen
    assert isinstance(screen, LogsScreen)
    editor = screen.query_one(KqlEditor)
    editor.load_text(kql)
    editor.focus()
    await pilot.press("ctrl+enter")
    await settle(pilot)
    return screen


@pytest.fixture
def logs_services(make_local_services: Callable[..., Services]) -> Callable[..., Services]:
    def build(**changes: Any) -> Services:
        return make_local_services(workspace=estate.WORKSPACE_CUSTOMER_ID, **changes)

    return build


@pytest.mark.asyncio
async def test_run_shows_rows_and_keeps_history(logs_services: Callable[..., Services]) -> None:
    services = logs_services()
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = await run_kql(pilot, "AppRequests\n| summarize n = count() by AppRoleName")
            assert screen.query_one(ContentSwitcher).current == "result-grid", screen.query_one("#error-state").render()
            assert screen.result is not None and screen.result.row_count >= 1
            assert "rows" in str(screen.query_one("#status-line", Static).render())

        reopened = QueryHistory(services.settings.history_path)
        assert reopened.entries()[-1].kql.startswith("AppRequests")
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert isinstance(pilot.app.screen, HistoryScreen)
            await pilot.press(*"AppRoleName", "enter")
            await pilot.pause()
            editor = pilot.app.screen.query_one(KqlEditor)
            assert "summarize n = count() by AppRoleName" in editor.text
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_schema_sidebar_lists_tables(logs_services: Callable[..., Services]) -> None:
    services = logs_services()
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, LogsScreen)
            assert screen.schema is not None and "AppRequests" in screen.schema.tables
            tree = screen.query_one("#schema-tree", Tree)
            assert "AppRequests" in {str(node.label) for node in tree.root.children}
            assert screen.query_one(KqlEditor).schema is screen.schema
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_cancel_stops_a_slow_query(
    logs_services: Callable[..., Services], faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    faults([{"path": "/v1/workspaces/.*/query", "latency_ms": 8000}])
    services = logs_services()
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, LogsScreen)
            screen.query_one(KqlEditor).load_text("Heartbeat | take 3")
            await pilot.press("ctrl+enter")
            await pilot.pause()
            assert screen.running is not None
            await pilot.press("escape")
            await pilot.pause()
            assert screen.running is None
            assert "cancelled" in str(screen.query_one("#status-line", Static).render())
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_syntax_error_marks_the_spot(logs_services: Callable[..., Services]) -> None:
    services = logs_services()
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = await run_kql(pilot, "Heartbeat | take 1\n\nAppRequests\n| whre Success == false")
            editor = screen.query_one(KqlEditor)
            editor.move_cursor((3, 2))
            await pilot.press("ctrl+enter")
            await settle(pilot)
            banner = str(screen.query_one("#banner", Static).render())
            assert "error" in banner.lower()
            assert editor.selection.start[0] == 3  # the line of `whre`, in the second statement
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_throttling_shows_a_countdown(
    logs_services: Callable[..., Services], faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    faults([{"path": "/v1/workspaces/.*/query", "status": 429, "retry_after": 30}])
    services = logs_services(retry_total=0)
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = await run_kql(pilot, "Heartbeat | take 1")
            banner = str(screen.query_one("#banner", Static).render())
            assert "throttling" in banner and "s." in banner
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_render_timechart_draws(logs_services: Callable[..., Services]) -> None:
    services = logs_services()
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, LogsScreen)
            screen.query_one(TimeRangePicker).set_preset("7d")
            await run_kql(pilot, "AppRequests\n| summarize n = count() by bin(TimeGenerated, 1h)\n| render timechart")
            assert screen.query_one(ContentSwitcher).current == "result-chart"
            chart = screen.query_one(ResultChart)
            text = "".join(chart.render_line(y).text for y in range(chart.size.height))
            assert any(0x2800 < ord(ch) <= 0x28FF for ch in text)
            await pilot.press("ctrl+t")
            assert screen.query_one(ContentSwitcher).current == "result-grid"
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_export_writes_all_three_formats(logs_services: Callable[..., Services], tmp_path: Path) -> None:
    services = logs_services()
    try:
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = await run_kql(pilot, "AppRequests\n| project TimeGenerated, Name, DurationMs, Success\n| take 50")
            assert screen.result is not None
            rows = screen.result.row_count
            for suffix in (".csv", ".jsonl", ".parquet"):
                await pilot.press("ctrl+o")
                await pilot.pause()
                assert isinstance(pilot.app.screen, ExportScreen)
                box = pilot.app.screen.query_one("#export-path", Input)
                box.value = str(tmp_path / f"out{suffix}")
                await pilot.press("enter")
                await settle(pilot)
            assert pq.read_table(tmp_path / "out.parquet").num_rows == rows
            assert pacsv.read_csv(tmp_path / "out.csv").num_rows == rows
            assert pajson.read_json(tmp_path / "out.jsonl").num_rows == rows
    finally:
        await services.close()


SNAPSHOT_QUERY = (
    'datatable (Name: string, Requests: long, Failed: long)\n["api", 120, 3, "web", 340, 12, "worker", 75, 0]'
)


def test_snapshot_with_a_result(
    logs_services: Callable[..., Services], snap_compare: Callable[..., bool], tmp_path: Path
) -> None:
    services = logs_services(data_dir=tmp_path / "snapshot-data")

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        screen = await run_kql(pilot, SNAPSHOT_QUERY)
        assert screen.result is not None, screen.query_one("#error-state").render()
        # duration varies run to run; show the same result with a fixed one
        screen.show_result(replace(screen.result, duration_ms=42.0), "last 24h")
        screen.query_one(ResultGrid).focus()
        await pilot.pause()

    assert snap_compare(LogsHost(services, close_services=True), terminal_size=(140, 36), run_before=run_before)


@pytest.mark.asyncio
async def test_a_capped_result_shows_the_banner(
    logs_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.emulator import logs_api

    monkeypatch.setattr(logs_api, "ROW_CAP", 100)  # the in-process local Azure reads it per request
    services = logs_services()
    try:
        result = await services.logs.query(estate.WORKSPACE_CUSTOMER_ID, "range x from 1 to 1000 step 1", None)
        assert result.truncated and result.row_count == 100
        assert result.partial_error and "100" in result.partial_error
        async with LogsHost(services).run_test(size=(160, 45)) as pilot:
            await settle(pilot)
            screen = await run_kql(pilot, "range x from 1 to 1000 step 1")
            banner = str(screen.query_one("#banner", Static).render())
            assert "truncated to 100 rows" in banner
    finally:
        await services.close()
