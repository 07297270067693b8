"""ResultGrid: a Line-API grid over an Arrow table that formats only what is on screen, in vectorised blocks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

BLOCK_ROWS = 128
"""Rows formatted together: one pyarrow.compute call per column per block."""

MAX_COLUMN_WIDTH = 48
WIDTH_SAMPLE_ROWS = 1000
NULL_TEXT = "null"
NUMERIC_TYPES = {"int", "long", "real", "double", "decimal"}


@dataclass(frozen=True)
class GridColumn:
    """A column as the grid shows it: name, Log Analytics type, width in cells, alignment."""

    name: str
    kind: str
    width: int
    right: bool


def column_kind(arrow_type: pa.DataType, declared: str | None = None) -> str:
    """The formatting kind of a column: number, datetime, bool, dynamic or text."""
    if declared == "dynamic":
        return "dynamic"
    if pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "number"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "datetime"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if declared in NUMERIC_TYPES:
        return "number"
    return "text"


def format_column(values: pa.Array | pa.ChunkedArray, kind: str) -> list[str | None]:
    """Display strings for a slice of one column (None where null), computed with pyarrow.compute."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    arrow_type = values.type
    if kind == "datetime" and pa.types.is_timestamp(arrow_type):
        # The one spelling the console uses everywhere (grid, CSV, headless): ISO 8601 UTC, milliseconds
        # only when there are some.
        from console.export import text_cells

        nulls = values.is_null().to_pylist()
        return [None if null else text for null, text in zip(nulls, text_cells(values), strict=True)]
    if kind == "number" and pa.types.is_floating(arrow_type):
        texts = pc.cast(pc.round(values, 6), pa.string())
    elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        texts = pc.replace_substring_regex(values, pattern=r"[\r\n\t]+", replacement=" ")
    else:
        try:
            texts = pc.cast(values, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return [None if v is None else str(v) for v in values.to_pylist()]
    result: list[str | None] = texts.to_pylist()
    if kind == "dynamic":
        result = [None if text is None else compact_json(text) for text in result]
    return result


def compact_json(text: str) -> str:
    """JSON text re-serialised without spaces; anything that is not JSON comes back unchanged."""
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except (json.JSONDecodeError, TypeError):
        return text


def sorted_order(table: pa.Table, column: str, descending: bool) -> pa.Array:
    """Row indices that sort `table` by one column (nulls last)."""
    order = "descending" if descending else "ascending"
    indices: pa.Array = pc.sort_indices(table, sort_keys=[(column, order, "at_end")])
    return indices


def _fit(text: str, width: int, right: bool) -> str:
    if text.isascii():
        if len(text) > width:
            return text[: width - 1] + "…"
        return text.rjust(width) if right else text.ljust(width)
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…"
    return " " * (width - length) + text if right else text + " " * (width - length)


class ResultGrid(ScrollView, can_focus=True):
    """A read-only table over a pyarrow Table; fast enough for a million rows.

    Only the rows on screen are formatted, a block at a time, and each rendered row is kept as a
    Strip until the data, the sort or the theme changes.
    """

    DEFAULT_CSS = """
    ResultGrid {
        background: $surface;
        color: $foreground;
        scrollbar-gutter: stable;
    }
    ResultGrid > .result-grid--header {
        background: $panel;
        color: $text;
        text-style: bold;
    }
    ResultGrid > .result-grid--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    ResultGrid > .result-grid--cursor-row {
        background: $boost;
    }
    ResultGrid > .result-grid--null {
        color: $text-disabled;
        text-style: italic;
    }
    ResultGrid > .result-grid--odd {
        background: $surface-lighten-1 40%;
    }
    """
    COMPONENT_CLASSES = {
        "result-grid--header",
        "result-grid--cursor",
        "result-grid--cursor-row",
        "result-grid--null",
        "result-grid--odd",
    }
    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False, id="grid.up"),
        Binding("down", "cursor_down", "Down", show=False, id="grid.down"),
        Binding("left", "cursor_left", "Left", show=False, id="grid.left"),
        Binding("right", "cursor_right", "Right", show=False, id="grid.right"),
        Binding("pageup", "page_up", "Page up", show=False, id="grid.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="grid.page_down"),
        Binding("home", "first_row", "First row", show=False, id="grid.first"),
        Binding("end", "last_row", "Last row", show=False, id="grid.last"),
        Binding("s", "sort", "Sort", id="grid.sort"),
        Binding("y", "copy_cell", "Copy cell", id="grid.copy_cell"),
        Binding("Y", "copy_row", "Copy row", id="grid.copy_row"),
    ]

    cursor_row: reactive[int] = reactive(0, init=False)
    """Index of the highlighted row in display (sorted) order."""
    cursor_column: reactive[int] = reactive(0, init=False)
    """Index of the highlighted column."""

    class Sorted(Message):
        """The grid was sorted by a column."""

        def __init__(self, grid: ResultGrid, column: str, descending: bool) -> None:
            super().__init__()
            self.grid = grid
            self.column = column
            self.descending = descending

        @property
        def control(self) -> ResultGrid:
            return self.grid

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.table: pa.Table = pa.table({})
        self.columns: list[GridColumn] = []
        self.order: pa.Array | None = None
        self.sort_column: int | None = None
        self.sort_descending = False
        self._offsets: list[int] = []
        self._total_width = 0
        self._texts: LRUCache[int, list[list[str | None]]] = LRUCache(64)
        self._strips: LRUCache[int, Strip] = LRUCache(1024)
        self._header: Strip | None = None
        self._styles: dict[str, Style] = {}

    # data ----------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)

    def load(self, table: pa.Table, declared_types: Mapping[str, str] | None = None) -> None:
        """Show `table`; `declared_types` maps column names to Log Analytics types (for `dynamic`)."""
        declared = dict(declared_types or {})
        self.table = table
        self.order = None
        self.sort_column = None
        self.sort_descending = False
        kinds = [column_kind(field.type, declared.get(field.name)) for field in table.schema]
        self.columns = [
            GridColumn(f.name, k, cell_len(f.name), k == "number") for f, k in zip(table.schema, kinds, strict=True)
        ]
        self._measure()
        self._clear_caches()
        self.set_reactive(ResultGrid.cursor_row, 0)
        self.set_reactive(ResultGrid.cursor_column, 0)
        self.virtual_size = Size(self._total_width, self.row_count + 1)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def _measure(self) -> None:
        """Column widths from the header and a sample of the first and last rows, capped."""
        rows = self.row_count
        sample = self.table.slice(0, WIDTH_SAMPLE_ROWS)
        if rows > 2 * WIDTH_SAMPLE_ROWS:
            sample = pa.concat_tables([sample, self.table.slice(rows - WIDTH_SAMPLE_ROWS)])
        widths = []
        for index, column in enumerate(self.columns):
            texts = format_column(sample.column(index), column.kind)
            longest = max((cell_len(t) for t in texts if t is not None), default=0)
            widths.append(max(column.width + 2, min(longest, MAX_COLUMN_WIDTH), len(NULL_TEXT)))
        self.columns = [
            GridColumn(c.name, c.kind, width, c.right) for c, width in zip(self.columns, widths, strict=True)
        ]
        self._offsets = []
        x = 0
        for column in self.columns:
            self._offsets.append(x)
            x += column.width + 2
        self._total_width = x

    def _clear_caches(self) -> None:
        self._texts.clear()
        self._strips.clear()
        self._header = None

    def _block(self, row: int) -> list[list[str | None]]:
        """Formatted texts of the block holding display row `row`, one list per column."""
        block_index = row // BLOCK_ROWS
        cached = self._texts.get(block_index)
        if cached is not None:
            return cached
        start = block_index * BLOCK_ROWS
        if self.order is None:
            rows = self.table.slice(start, BLOCK_ROWS)
        else:
            rows = self.table.take(self.order.slice(start, BLOCK_ROWS))
        texts = [format_column(rows.column(i), column.kind) for i, column in enumerate(self.columns)]
        self._texts[block_index] = texts
        return texts

    def cell_text(self, row: int, column: int) -> str | None:
        """The display text of one cell (None for null), untruncated."""
        return self._block(row)[column][row % BLOCK_ROWS]

    def row_texts(self, row: int) -> list[str | None]:
        """The display texts of one row."""
        block = self._block(row)
        return [texts[row % BLOCK_ROWS] for texts in block]

    # rendering -----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = {}
        self._clear_caches()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style + self.get_component_rich_style(f"result-grid--{name}", partial=True)
            self._styles[name] = style
        return style

    def _header_strip(self) -> Strip:
        if self._header is None:
            style = self._style("header")
            segments = []
            for index, column in enumerate(self.columns):
                marker = ""
                if index == self.sort_column:
                    marker = " ▼" if self.sort_descending else " ▲"
                segments.append(Segment(" " + _fit(column.name + marker, column.width, column.right) + " ", style))
            self._header = Strip(segments, self._total_width)
        return self._header

    def _row_strip(self, row: int) -> Strip:
        strip = self._strips.get(row)
        if strip is None:
            strip = self._build_row(row, None)
            self._strips[row] = strip
        return strip

    def _build_row(self, row: int, cursor_column: int | None) -> Strip:
        texts = self.row_texts(row)
        base = (
            self._style("cursor-row")
            if cursor_column is not None
            else (self._style("odd") if row % 2 else self.rich_style)
        )
        null_style = base + self._style("null")
        segments = []
        for index, (column, text) in enumerate(zip(self.columns, texts, strict=True)):
            style = null_style if text is None else base
            if index == cursor_column:
                style = style + self._style("cursor")
            cell = NULL_TEXT if text is None else text
            segments.append(Segment(" " + _fit(cell, column.width, column.right) + " ", style))
        return Strip(segments, self._total_width)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        if y == 0:
            strip = self._header_strip()
        else:
            row = scroll_y + y - 1
            if row >= self.row_count or not self.columns:
                return Strip.blank(width, self.rich_style)
            if row == self.cursor_row and self.has_focus:
                strip = self._build_row(row, self.cursor_column)
            else:
                strip = self._row_strip(row)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    # cursor and scrolling ------------------------------------------------------------------

    @property
    def page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _refresh_row(self, row: int) -> None:
        self.refresh_line(row + 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_cursor_into_view()

    def watch_cursor_column(self, old: int, new: int) -> None:
        self._refresh_row(self.cursor_row)
        self._scroll_cursor_into_view()

    def on_focus(self) -> None:
        self._refresh_row(self.cursor_row)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor_row)

    def _scroll_cursor_into_view(self) -> None:
        top = int(self.scroll_y)
        target_y: int | None = None
        if self.cursor_row < top:
            target_y = self.cursor_row
        elif self.cursor_row >= top + self.page_rows:
            target_y = self.cursor_row - self.page_rows + 1
        target_x: int | None = None
        if self.columns:
            left = self._offsets[self.cursor_column]
            right = left + self.columns[self.cursor_column].width + 2
            view = self.scrollable_content_region.width
            if left < self.scroll_x:
                target_x = left
            elif right > self.scroll_x + view:
                target_x = max(0, right - view)
        if target_x is not None or target_y is not None:
            self.scroll_to(target_x, target_y, animate=False, immediate=True)

    def _move_to(self, row: int) -> None:
        self.cursor_row = max(0, min(row, self.row_count - 1))

    def action_cursor_up(self) -> None:
        self._move_to(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._move_to(self.cursor_row + 1)

    def action_cursor_left(self) -> None:
        self.cursor_column = max(0, self.cursor_column - 1)

    def action_cursor_right(self) -> None:
        self.cursor_column = max(0, min(self.cursor_column + 1, len(self.columns) - 1))

    def action_page_down(self) -> None:
        page = self.page_rows
        self.scroll_to(y=min(self.scroll_y + page, self.max_scroll_y), animate=False, immediate=True)
        self._move_to(self.cursor_row + page)

    def action_page_up(self) -> None:
        page = self.page_rows
        self.scroll_to(y=max(self.scroll_y - page, 0), animate=False, immediate=True)
        self._move_to(self.cursor_row - page)

    def action_first_row(self) -> None:
        self._move_to(0)

    def action_last_row(self) -> None:
        self._move_to(self.row_count - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x + int(self.scroll_x))
            if column is not None:
                self.cursor_column = column
                self.action_sort()
            return
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < self.row_count:
            self.cursor_row = row
        column = self._column_at(event.x + int(self.scroll_x))
        if column is not None:
            self.cursor_column = column

    def _column_at(self, x: int) -> int | None:
        for index, offset in enumerate(self._offsets):
            if offset <= x < offset + self.columns[index].width + 2:
                return index
        return None

    # sorting and copying -------------------------------------------------------------------

    def action_sort(self) -> None:
        """Sort by the cursor's column: ascending, then descending on a second press."""
        if not self.columns:
            return
        column = self.cursor_column
        descending = self.sort_column == column and not self.sort_descending
        self._sort_in_thread(self.table, column, descending)

    @work(thread=True, exclusive=True, group="grid-sort", name="sort result")
    def _sort_in_thread(self, table: pa.Table, column: int, descending: bool) -> None:
        order = sorted_order(table, table.column_names[column], descending)
        self.app.call_from_thread(self.apply_order, table, order, column, descending)

    def apply_order(self, table: pa.Table, order: pa.Array | None, column: int | None, descending: bool) -> None:
        """Show rows in `order` (None: as they came); ignored if the table changed meanwhile."""
        if table is not self.table:
            return
        self.order = order
        self.sort_column = column
        self.sort_descending = descending
        self._clear_caches()
        self.refresh()
        if column is not None:
            self.post_message(self.Sorted(self, self.columns[column].name, descending))

    def action_copy_cell(self) -> None:
        if not self.row_count:
            self.notify("Nothing to copy.", severity="warning")
            return
        text = self.cell_text(self.cursor_row, self.cursor_column)
        value = "" if text is None else text
        self.app.copy_to_clipboard(value)
        preview = value if len(value) <= 60 else value[:59] + "…"
        self.notify(preview or "(empty)", title=f"Copied {self.columns[self.cursor_column].name}")

    def action_copy_row(self) -> None:
        if not self.row_count:
            self.notify("Nothing to copy.", severity="warning")
            return
        texts = ["" if t is None else t for t in self.row_texts(self.cursor_row)]
        self.app.copy_to_clipboard("\t".join(texts))
        self.notify(f"{len(texts)} cells, tab-separated", title=f"Copied row {self.cursor_row + 1:,}")
