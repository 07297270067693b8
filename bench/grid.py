"""Result grid and chart timings inside a headless Textual app (200x50); prints figures, asserts nothing.

    python bench/grid.py [--rows 1000000] [--pages 40] [--baseline-rows 5000]

First paint: from `load()` to the end of the next screen refresh. Page-down: from the key event entering
the app to the end of the refresh that shows the new page. Chart: from `plot()` to the end of the refresh.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from textual import events
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from screens.widgets.chart import ResultChart
from screens.widgets.result_grid import ResultGrid

SIZE = (200, 50)


def make_table(rows: int) -> pa.Table:
    """Eight typed columns that look like request telemetry."""
    index = pa.array(range(rows), pa.int64())
    start = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1_000_000)
    stamps = pc.cast(pc.add(pc.multiply(index, 37_000), start), pa.timestamp("us", tz="UTC"))
    names = pa.array(["GET /api/orders", "POST /api/checkout", "GET /health", "GET /api/items/{id}", "PUT /cart"])
    codes = pa.array(["200", "200", "200", "404", "500", "201", "302"])
    duration = pc.divide(pc.cast(pc.bit_wise_and(pc.multiply(index, 7919), 4095), pa.float64()), 7.0)
    return pa.table(
        {
            "TimeGenerated": stamps,
            "Name": pc.take(names, pc.bit_wise_and(index, 3)),
            "ResultCode": pc.take(codes, pc.bit_wise_and(pc.multiply(index, 5), 3)),
            "DurationMs": duration,
            "Success": pc.not_equal(pc.bit_wise_and(index, 15), 0),
            "ItemCount": pc.bit_wise_and(pc.multiply(index, 31), 1023),
            "OperationId": pc.cast(pc.add(index, 10_000_000_000), pa.string()),
            "AppRoleName": pc.take(pa.array(["web-prod", "web-staging", "api-prod"]), pc.bit_wise_and(index, 1)),
        }
    )


class TimedGrid(ResultGrid):
    """The grid, noting when it last finished rendering lines for the compositor."""

    rendered_at = 0.0

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        self.rendered_at = time.perf_counter()
        return lines


class TimedTable(DataTable[Any]):
    """The built-in DataTable, noting when it last finished rendering lines."""

    rendered_at = 0.0

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        self.rendered_at = time.perf_counter()
        return lines


class TimedChart(ResultChart):
    """The chart, noting when it last finished rendering lines."""

    rendered_at = 0.0

    def render_lines(self, crop: Region) -> list[Strip]:
        lines = super().render_lines(crop)
        self.rendered_at = time.perf_counter()
        return lines


class GridBench(App[None]):
    """Hosts the widget under test and time-stamps key events as they arrive."""

    def __init__(self, widget: Any) -> None:
        super().__init__()
        self.widget = widget
        self.key_at = 0.0
        self.samples: list[float] = []
        self.last_key: events.Key | None = None

    def compose(self) -> ComposeResult:
        yield self.widget

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and event is not self.last_key:
            # A key reaches the app twice (on arrival and bubbling back); time from its arrival.
            self.last_key = event
            self.key_at = time.perf_counter()
        await super().on_event(event)

    def record(self) -> None:
        """After a key has been handled and the screen settled: key arrival to the widget's last render."""
        rendered_at = float(self.widget.rendered_at)
        if rendered_at > self.key_at:
            self.samples.append((rendered_at - self.key_at) * 1000)


async def after_refresh(app: App[Any]) -> None:
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def bench_grid(table: pa.Table, pages: int) -> tuple[float, list[float]]:
    grid = TimedGrid()
    app = GridBench(grid)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        grid.focus()
        started = time.perf_counter()
        grid.load(table)
        await after_refresh(app)
        first_paint = (grid.rendered_at - started) * 1000
        app.samples.clear()
        for _ in range(pages):
            await pilot.press("pagedown")
            await after_refresh(app)
            app.record()
        return first_paint, list(app.samples)


async def bench_datatable(table: pa.Table, pages: int) -> tuple[float, list[float]]:
    grid = TimedTable()
    app = GridBench(grid)
    rows = [tuple(str(v) for v in row.values()) for row in table.to_pylist()]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        grid.focus()
        started = time.perf_counter()
        grid.add_columns(*table.column_names)
        grid.add_rows(rows)
        await after_refresh(app)
        await pilot.pause()
        first_paint = (grid.rendered_at - started) * 1000
        app.samples.clear()
        for _ in range(pages):
            await pilot.press("pagedown")
            await after_refresh(app)
            app.record()
        return first_paint, list(app.samples)


async def bench_chart(points: int, repeats: int) -> list[float]:
    chart = TimedChart()
    app = GridBench(chart)
    table = make_table(points).select(["TimeGenerated", "DurationMs", "ItemCount"])
    timings = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for _ in range(repeats):
            started = time.perf_counter()
            chart.plot(table, "timechart")
            await after_refresh(app)
            timings.append((chart.rendered_at - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    parser.add_argument("--chart-points", type=int, default=10_000)
    options = parser.parse_args()

    table = make_table(options.rows)
    first, pages = asyncio.run(bench_grid(table, options.pages))
    print(f"ResultGrid {options.rows:,} x {table.num_columns}: first paint {first:.0f} ms")
    print(
        f"  page-down key->screen: p50 {statistics.median(pages):.1f} ms  p95 {percentile(pages, 0.95):.1f} ms"
        f"  (n={len(pages)})"
    )

    small = table.slice(0, options.baseline_rows)
    first_small, pages_small = asyncio.run(bench_grid(small, options.pages))
    base_first, base_pages = asyncio.run(bench_datatable(small, options.pages))
    print(
        f"At {options.baseline_rows:,} rows: ResultGrid first paint {first_small:.0f} ms, "
        f"page-down p50 {statistics.median(pages_small):.1f} ms"
    )
    print(
        f"  built-in DataTable first paint {base_first:.0f} ms, page-down p50 {statistics.median(base_pages):.1f} ms"
        f"  (ratio first paint {base_first / max(first_small, 0.001):.1f}x, "
        f"page-down {statistics.median(base_pages) / max(statistics.median(pages_small), 0.001):.1f}x)"
    )

    charts = asyncio.run(bench_chart(options.chart_points, 15))
    print(
        f"Chart timechart {options.chart_points:,} points x 2 series: update p50 {statistics.median(charts):.1f} ms"
        f"  p95 {percentile(charts, 0.95):.1f} ms"
    )


if __name__ == "__main__":
    main()
