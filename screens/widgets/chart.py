"""ResultChart: `render` charts of a query result drawn with braille dots and block characters."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby

import pyarrow as pa
import pyarrow.compute as pc
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

CHART_KINDS = {"timechart", "linechart", "areachart", "scatterchart", "barchart", "columnchart", "piechart"}
"""`render` kinds the console draws; area and scatter charts are drawn as line charts."""

MAX_SERIES = 6
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
# Bits of a braille cell's dots from row `first` to row `last` (inclusive) in one of its two dot columns.
_COLUMN_BITS = tuple(
    tuple(tuple(sum(_BRAILLE_BITS[r][side] for r in range(first, last + 1)) for last in range(4)) for first in range(4))
    for side in range(2)
)
_BRAILLE = " " + "".join(chr(0x2800 + bits) for bits in range(1, 256))
_EIGHTHS = " ▏▎▍▌▋▊▉█"
_RISING = " ▁▂▃▄▅▆▇█"
AXIS_WIDTH = 9


@dataclass
class Series:
    """One line or one set of bars: a name, x as numbers (epoch µs for time), y as floats."""

    name: str
    x: pa.Array
    y: pa.Array


@dataclass
class ChartData:
    """What a result becomes for drawing: series for lines, or labelled values for bars and pies."""

    kind: str
    series: list[Series] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    x_is_time: bool = False
    problem: str | None = None


def _numeric(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type))


def chart_data(table: pa.Table, kind: str) -> ChartData:
    """Pick axes the way Log Analytics does: x is the first time (or numeric) column, y the numeric
    columns, and a string column splits lines into one series per value."""
    kind = kind.lower()
    schema = table.schema
    numeric = [f.name for f in schema if _numeric(f.type)]
    times = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    texts = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    if table.num_rows == 0:
        return ChartData(kind, problem="The result has no rows to chart.")
    if kind in {"barchart", "columnchart", "piechart"}:
        label_column = texts[0] if texts else (times[0] if times else None)
        value_columns = [n for n in numeric if n != label_column]
        if not value_columns:
            return ChartData(kind, problem=f"A {kind} needs a numeric column.")
        values = pc.cast(table.column(value_columns[0]), pa.float64()).to_pylist()
        if label_column is None:
            labels = [str(i + 1) for i in range(table.num_rows)]
        else:
            labels = [("(empty)" if v is None else str(v)) for v in table.column(label_column).to_pylist()]
        return ChartData(kind, labels=labels, values=[float(v or 0.0) for v in values])
    if not times:
        made = make_series_data(table, kind, texts)
        if made is not None:
            return made
    x_name = times[0] if times else (numeric[0] if numeric else None)
    if x_name is None:
        return ChartData(kind, problem=f"A {kind} needs a datetime or numeric column for the x axis.")
    y_names = [n for n in numeric if n != x_name]
    if not y_names:
        return ChartData(kind, problem=f"A {kind} needs a numeric column besides {x_name}.")
    x_values = table.column(x_name)
    x_is_time = pa.types.is_timestamp(x_values.type)
    x_numbers = pc.cast(pc.cast(x_values, pa.timestamp("us", tz="UTC")), pa.int64()) if x_is_time else x_values
    x_numbers = pc.cast(x_numbers, pa.float64())
    series: list[Series] = []
    split = texts[0] if texts else None
    if split is not None and len(y_names) == 1:
        keys = table.column(split)
        counts = pc.value_counts(keys).to_pylist()
        counts.sort(key=lambda item: -int(item["counts"]))
        for item in counts[:MAX_SERIES]:
            value = item["values"]
            mask = pc.is_null(keys) if value is None else pc.equal(keys, value)
            series.append(
                Series(
                    "(empty)" if value is None else str(value),
                    pc.filter(x_numbers, mask).combine_chunks(),
                    pc.cast(pc.filter(table.column(y_names[0]), mask), pa.float64()).combine_chunks(),
                )
            )
    else:
        for name in y_names[:MAX_SERIES]:
            series.append(
                Series(name, x_numbers.combine_chunks(), pc.cast(table.column(name), pa.float64()).combine_chunks())
            )
    return ChartData(kind, series=series, x_is_time=x_is_time)


def _json_list(text: object) -> list[object] | None:
    if not isinstance(text, str) or not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def _moment_us(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    # Log Analytics writes 7 fractional digits; Python reads at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1e6


def make_series_data(table: pa.Table, kind: str, texts: list[str]) -> ChartData | None:
    """The chart of a `make-series` result: each row holds a series as JSON arrays (a datetime array for x,
    number arrays for y) plus the `by` columns that name it. None when the result is not shaped so."""
    first = table.slice(0, 1).to_pylist()[0]
    arrays = {name: _json_list(first.get(name)) for name in texts}
    x_name = next(
        (name for name, items in arrays.items() if items and all(_moment_us(v) is not None for v in items[:3])), None
    )
    if x_name is None:
        return None
    y_names = [
        name
        for name, items in arrays.items()
        if name != x_name
        and items is not None
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in items if v is not None)
    ]
    if not y_names:
        return ChartData(kind, problem=f"A {kind} of a series needs a numeric array besides {x_name}.")
    keys = [name for name in texts if arrays.get(name) is None]
    series: list[Series] = []
    for row in table.to_pylist():
        x = [_moment_us(v) for v in _json_list(row.get(x_name)) or []]
        label = " ".join(str(row.get(k)) for k in keys if row.get(k) is not None)
        for y_name in y_names:
            y = _json_list(row.get(y_name)) or []
            count = min(len(x), len(y))
            name = " ".join(part for part in (label, y_name if len(y_names) > 1 or not label else "") if part)
            series.append(
                Series(
                    name,
                    pa.array(x[:count], pa.float64()),
                    pa.array([None if v is None else float(v) for v in y[:count]], pa.float64()),  # type: ignore[arg-type]
                )
            )
            if len(series) == MAX_SERIES:
                return ChartData(kind, series=series, x_is_time=True)
    return ChartData(kind, series=series, x_is_time=True)


def downsample(x: pa.Array, y: pa.Array, lo: float, hi: float, buckets: int) -> list[tuple[int, float, float]]:
    """Min and max of y per x bucket (bucket, min, max), in bucket order; nulls dropped."""
    valid = pc.and_(pc.is_valid(x), pc.is_valid(y))
    x = pc.filter(x, valid)
    y = pc.filter(y, valid)
    if len(x) == 0:
        return []
    span = hi - lo
    if span <= 0:
        index = pa.array([0] * len(x), pa.int64())
    else:
        scaled = pc.floor(pc.multiply(pc.subtract(x, lo), (buckets - 1) / span))
        index = pc.cast(scaled, pa.int64())
    grouped = pa.table({"b": index, "y": y}).group_by("b").aggregate([("y", "min"), ("y", "max")]).sort_by("b")
    return list(
        zip(
            grouped.column("b").to_pylist(),
            grouped.column("y_min").to_pylist(),
            grouped.column("y_max").to_pylist(),
            strict=True,
        )
    )


def _joined(
    points: list[tuple[int, float, float]], y_lo: float, scale: float, dots_y: int
) -> list[tuple[int, int, int]]:
    """Dot columns (bucket, top, bottom) for min/max points, joined into a line: each column reaches
    the previous one, and buckets between two sparse points are filled in on the straight line."""
    drawn: list[tuple[int, int, int]] = []
    previous: tuple[int, int] | None = None

    def dot(value: float) -> int:
        return max(0, min(dots_y - 1, dots_y - 1 - int((value - y_lo) * scale)))

    for bucket, low, high in points:
        top, bottom = dot(high), dot(low)
        middle = (top + bottom) // 2
        if previous is not None:
            last_bucket, last_middle = previous
            step = (middle - last_middle) / (bucket - last_bucket) if bucket > last_bucket else 0.0
            reach = last_middle
            for between in range(last_bucket + 1, bucket):
                here = round(last_middle + step * (between - last_bucket))
                drawn.append((between, min(reach, here), max(reach, here)))
                reach = here
            top, bottom = min(top, reach), max(bottom, reach)
        drawn.append((bucket, top, bottom))
        previous = (bucket, middle)
    return drawn


def _label(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.1f}G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2f}"


def _x_label(value: float, is_time: bool) -> str:
    if is_time:
        return datetime.fromtimestamp(value / 1e6, tz=UTC).strftime("%m-%d %H:%M")
    return _label(value)


class ResultChart(Widget):
    """Draws a result as a line chart (braille, min/max downsampled to the width) or as bars."""

    DEFAULT_CSS = """
    ResultChart {
        height: 1fr;
        background: $surface;
        color: $foreground;
        padding: 0 1;
    }
    ResultChart > .result-chart--axis {
        color: $text-muted;
    }
    """
    COMPONENT_CLASSES = {"result-chart--axis"}

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.data: ChartData | None = None
        self._lines: list[Strip] | None = None
        self._drawn_for: tuple[int, int] = (0, 0)

    def plot(self, table: pa.Table, kind: str) -> ChartData:
        """Chart `table` as `kind` (a `render` kind); returns what was understood of it."""
        self.data = chart_data(table, kind)
        self._lines = None
        self.refresh()
        return self.data

    def clear(self) -> None:
        self.data = None
        self._lines = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines = None

    def _palette(self) -> list[Style]:
        theme = self.app.current_theme
        colours = [theme.primary, theme.accent, theme.success, theme.error, theme.secondary, theme.warning]
        return [Style(color=c) for c in colours if c] or [Style()]

    def render_line(self, y: int) -> Strip:
        width, height = self.content_region.size
        if self._lines is None or self._drawn_for != (width, height):
            self._lines = self._draw(width, height)
            self._drawn_for = (width, height)
        if y < len(self._lines):
            return self._lines[y].crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)

    def _draw(self, width: int, height: int) -> list[Strip]:
        base = self.rich_style
        axis = base + self.get_component_rich_style("result-chart--axis", partial=True)
        data = self.data
        if data is None or width < AXIS_WIDTH + 4 or height < 3:
            return []
        if data.problem:
            return [Strip([Segment(data.problem, axis)])]
        palette = [base + style for style in self._palette()]
        if data.kind in {"barchart", "piechart"}:
            return self._draw_bars(data, width, height, palette, axis)
        if data.kind == "columnchart":
            return self._draw_columns(data, width, height, palette, axis)
        return self._draw_lines(data, width, height, palette, axis, base)

    def _draw_lines(
        self, data: ChartData, width: int, height: int, palette: list[Style], axis: Style, base: Style
    ) -> list[Strip]:
        plot_width = width - AXIS_WIDTH
        plot_height = height - 2  # legend on top, x labels below
        dots_x, dots_y = plot_width * 2, plot_height * 4
        xs = [(pc.min(s.x).as_py(), pc.max(s.x).as_py()) for s in data.series if len(s.x)]
        ys = [(pc.min(s.y).as_py(), pc.max(s.y).as_py()) for s in data.series if len(s.y)]
        x_lo = min((lo for lo, _ in xs if lo is not None), default=0.0)
        x_hi = max((hi for _, hi in xs if hi is not None), default=1.0)
        y_lo = min((lo for lo, _ in ys if lo is not None), default=0.0)
        y_hi = max((hi for _, hi in ys if hi is not None), default=1.0)
        y_lo = min(y_lo, 0.0) if y_lo >= 0 and y_hi > 0 else y_lo
        y_span = (y_hi - y_lo) or 1.0
        # Column-major so a vertical run of dots is a slice assignment, not a loop over rows.
        columns = [[0] * plot_height for _ in range(plot_width)]
        owners = [[0] * plot_height for _ in range(plot_width)]
        scale = (dots_y - 1) / y_span

        for index, series in enumerate(data.series):
            for bucket, top, bottom in _joined(downsample(series.x, series.y, x_lo, x_hi, dots_x), y_lo, scale, dots_y):
                column, side = divmod(bucket, 2)
                cells, owner = columns[column], owners[column]
                first_row, last_row = top // 4, bottom // 4
                if first_row == last_row:
                    cells[first_row] |= _COLUMN_BITS[side][top - first_row * 4][bottom - first_row * 4]
                else:
                    cells[first_row] |= _COLUMN_BITS[side][top - first_row * 4][3]
                    cells[last_row] |= _COLUMN_BITS[side][0][bottom - last_row * 4]
                    if last_row - first_row > 1:
                        full = _COLUMN_BITS[side][0][3]
                        cells[first_row + 1 : last_row] = [v | full for v in cells[first_row + 1 : last_row]]
                owner[first_row : last_row + 1] = [index] * (last_row - first_row + 1)
        lines: list[Strip] = []
        legend: list[Segment] = [Segment(" " * AXIS_WIDTH, axis)]
        for index, series in enumerate(data.series):
            legend.append(Segment("━━ ", palette[index % len(palette)]))
            legend.append(Segment(f"{series.name}   ", base))
        lines.append(Strip(legend))
        rows = list(zip(*columns, strict=True))
        owner_rows = list(zip(*owners, strict=True))
        for row in range(plot_height):
            label = ""
            if row == 0:
                label = _label(y_hi)
            elif row == plot_height - 1:
                label = _label(y_lo)
            elif row == plot_height // 2:
                label = _label((y_hi + y_lo) / 2)
            segments = [Segment(f"{label:>{AXIS_WIDTH - 2}} ┤", axis)]
            text = "".join([_BRAILLE[bits] for bits in rows[row]])
            if len(data.series) == 1:
                segments.append(Segment(text, palette[0]))
            else:
                position = 0
                for owner_index, run in groupby(owner_rows[row]):
                    length = sum(1 for _ in run)
                    segments.append(Segment(text[position : position + length], palette[owner_index % len(palette)]))
                    position += length
            lines.append(Strip(segments))
        left = _x_label(x_lo, data.x_is_time)
        right = _x_label(x_hi, data.x_is_time)
        gap = max(1, plot_width - len(left) - len(right))
        lines.append(Strip([Segment(" " * (AXIS_WIDTH - 1) + "└" + left + " " * gap + right, axis)]))
        return lines

    def _draw_bars(self, data: ChartData, width: int, height: int, palette: list[Style], axis: Style) -> list[Strip]:
        pairs = list(zip(data.labels, data.values, strict=True))
        if data.kind == "piechart":
            pairs.sort(key=lambda pair: -pair[1])
        pairs = pairs[:height]
        total = sum(max(v, 0.0) for _, v in pairs) or 1.0
        peak = max((abs(v) for _, v in pairs), default=1.0) or 1.0
        label_width = min(24, max((len(label) for label, _ in pairs), default=4))
        value_width = 10
        bar_width = max(4, width - label_width - value_width - 3)
        lines = []
        for index, (label, value) in enumerate(pairs):
            share = max(value, 0.0) / total if data.kind == "piechart" else abs(value) / peak
            eighths = round(share * bar_width * 8)
            full, rest = divmod(eighths, 8)
            bar = "█" * full + (_EIGHTHS[rest] if rest else "")
            shown = f"{share * 100:5.1f}%" if data.kind == "piechart" else _label(value)
            style = palette[index % len(palette)] if data.kind == "piechart" else palette[0]
            lines.append(
                Strip(
                    [
                        Segment(f"{label[:label_width]:<{label_width}} ", axis),
                        Segment(f"{bar:<{bar_width}}", style),
                        Segment(f" {shown:>{value_width}}", axis),
                    ]
                )
            )
        return lines

    def _draw_columns(self, data: ChartData, width: int, height: int, palette: list[Style], axis: Style) -> list[Strip]:
        plot_height = height - 2
        plot_width = width - AXIS_WIDTH
        count = len(data.values)
        column_width = max(1, min(8, plot_width // max(1, count)))
        shown = data.values[: plot_width // column_width]
        labels = data.labels[: len(shown)]
        peak = max((v for v in shown), default=1.0)
        peak = peak if peak > 0 else 1.0
        levels = [max(0, round(max(v, 0.0) / peak * plot_height * 8)) for v in shown]
        bar_width = max(1, column_width - 1) if column_width > 2 else column_width
        lines = []
        for row in range(plot_height):
            floor = (plot_height - 1 - row) * 8
            label = _label(peak) if row == 0 else (_label(0) if row == plot_height - 1 else "")
            segments = [Segment(f"{label:>{AXIS_WIDTH - 2}} ┤", axis)]
            for level in levels:
                fill = max(0, min(8, level - floor))
                block = _RISING[fill] if fill < 8 else "█"
                segments.append(Segment(block * bar_width, palette[0]))
                segments.append(Segment(" " * (column_width - bar_width)))
            lines.append(Strip(segments))
        names = "".join(f"{label[: column_width - 1]:<{column_width}}" for label in labels)
        lines.append(Strip([Segment(" " * (AXIS_WIDTH - 1) + "└" + names, axis)]))
        return lines
