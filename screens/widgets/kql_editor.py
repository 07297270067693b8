"""KqlEditor: a TextArea with KQL highlighting, schema-driven completion and statement-under-cursor runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option
from textual.widgets.text_area import Selection

from console.models import WorkspaceSchema

TABULAR_OPERATORS = (
    "where", "project", "project-away", "project-rename", "project-reorder", "extend", "summarize", "order by",
    "sort by", "top", "take", "limit", "count", "distinct", "join", "union", "lookup", "mv-expand", "parse",
    "render", "getschema", "as", "evaluate", "serialize", "sample", "search", "make-series", "invoke",
)  # fmt: skip
"""Operators that may follow a pipe."""

FUNCTIONS = (
    "count", "countif", "sum", "sumif", "avg", "avgif", "min", "max", "dcount", "dcountif", "percentile",
    "percentiles", "make_list", "make_set", "arg_max", "arg_min", "any", "stdev", "variance", "ago", "now", "bin",
    "startofday", "endofday", "startofweek", "startofmonth", "datetime", "timespan", "tostring", "toint", "tolong",
    "toreal", "todouble", "todatetime", "totimespan", "tobool", "todynamic", "parse_json", "strcat", "substring",
    "strlen", "tolower", "toupper", "trim", "split", "replace_string", "extract", "iff", "iif", "case", "isempty",
    "isnotempty", "isnull", "isnotnull", "coalesce", "round", "floor", "ceiling", "abs", "log10", "sqrt", "pow",
    "format_datetime", "datetime_diff", "datetime_add", "dayofweek", "hourofday", "bag_keys", "array_length",
    "bag_pack", "pack", "pack_array", "has_any", "has_all", "strcat_array", "hash", "rand",
)  # fmt: skip
"""Scalar and aggregation functions offered by completion."""

EXPRESSION_WORDS = (
    "and", "or", "not", "has", "!has", "has_cs", "contains", "!contains", "contains_cs", "startswith", "endswith",
    "in", "!in", "in~", "between", "matches regex", "by", "on", "kind", "with", "asc", "desc", "nulls", "first",
    "last", "inner", "innerunique", "leftouter", "rightouter", "fullouter", "leftanti", "leftsemi", "true", "false",
)  # fmt: skip
"""Words that appear inside expressions and operator clauses."""

RENDER_KINDS = ("timechart", "linechart", "barchart", "columnchart", "piechart", "areachart", "scatterchart")
STATEMENT_STARTS = ("let", "union", "datatable", "print", "range", "search", "find")

_KEYWORDS = (
    {w.split()[0] for w in TABULAR_OPERATORS}
    | {w for w in EXPRESSION_WORDS if w.isalpha()}
    | set(STATEMENT_STARTS)
    | {"render", "typeof", "dynamic", "null"}
)
_TOKEN = re.compile(
    r"""(?P<comment>//.*$)
    |(?P<string>@?"(?:[^"\\]|\\.)*"?|@?'(?:[^'\\]|\\.)*'?)
    |(?P<number>\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|microsecond|tick|s|m|h|d)?\b)
    |(?P<word>[A-Za-z_][\w-]*)(?P<call>\s*\()?
    |(?P<operator>\||==|!=|=~|!~|<=|>=|[<>=+\-*/%])""",
    re.VERBOSE,
)
_WORD_BEFORE = re.compile(r"[\w\-!~]*$")


@dataclass(frozen=True)
class Statement:
    """A query statement of the buffer: its text and the document row it starts on."""

    text: str
    first_row: int


def statement_at(text: str, row: int) -> Statement:
    """The statement (a run of non-blank lines) around `row`; on a blank line, the one above it (or below)."""
    lines = text.split("\n")
    if not lines:
        return Statement("", 0)
    row = max(0, min(row, len(lines) - 1))
    if not lines[row].strip():
        above = next((r for r in range(row, -1, -1) if lines[r].strip()), None)
        below = next((r for r in range(row, len(lines)) if lines[r].strip()), None)
        chosen = above if above is not None else below
        if chosen is None:
            return Statement("", row)
        row = chosen
    start = row
    while start > 0 and lines[start - 1].strip():
        start -= 1
    end = row
    while end + 1 < len(lines) and lines[end + 1].strip():
        end += 1
    return Statement("\n".join(lines[start : end + 1]), start)


def highlight_line(line: str, tables: set[str]) -> list[tuple[int, int, str]]:
    """Highlight ranges (start, end, name) in character offsets for one line of KQL."""
    found: list[tuple[int, int, str]] = []
    for match in _TOKEN.finditer(line):
        kind = match.lastgroup
        if kind == "call":
            kind = "word"
        if kind == "word":
            word = match.group("word")
            start, end = match.span("word")
            if match.group("call"):
                found.append((start, end, "function"))
            elif word.lower() in _KEYWORDS:
                found.append((start, end, "keyword"))
            elif word in tables:
                found.append((start, end, "type"))
        elif kind is not None:
            start, end = match.span()
            found.append((start, end, kind))
    return found


def _to_bytes(line: str, column: int) -> int:
    return column if line.isascii() else len(line[:column].encode("utf-8"))


def completions(schema: WorkspaceSchema | None, statement_before: str, word: str, limit: int = 12) -> list[str]:
    """Suggestions for the word being typed, given the statement text before it."""
    schema_tables = schema.tables if schema else {}
    before = statement_before[: len(statement_before) - len(word)].rstrip()
    previous = re.findall(r"[\w\-]+|\|", before)
    last = previous[-1].lower() if previous else ""
    if not previous or before.endswith(";"):
        pool = [*schema_tables, *STATEMENT_STARTS]
    elif last == "|":
        pool = list(TABULAR_OPERATORS)
    elif last == "render":
        pool = list(RENDER_KINDS)
    else:
        mentioned = [t for t in schema_tables if re.search(rf"\b{re.escape(t)}\b", statement_before)]
        columns: list[str] = []
        for table in mentioned or list(schema_tables):
            columns.extend(c.name for c in schema_tables[table] if c.name not in columns)
        pool = [
            *columns,
            *FUNCTIONS,
            *EXPRESSION_WORDS,
            *(schema_tables if last in {"join", "union", "lookup"} else []),
        ]
    if not word:
        return pool[:limit] if last == "|" or last == "render" else []
    lowered = word.lower()
    prefix = [p for p in pool if p.lower().startswith(lowered) and p.lower() != lowered]
    inner = [p for p in pool if lowered in p.lower() and p not in prefix and p.lower() != lowered]
    unique = list(dict.fromkeys(prefix + inner))
    return unique[:limit]


def shared_prefix(words: list[str]) -> str:
    """The longest text every word starts with."""
    if not words:
        return ""
    first, last = min(words), max(words)
    length = 0
    while length < len(first) and first[length] == last[length]:
        length += 1
    return first[:length]


class CompletionList(OptionList):
    """The suggestions under the cursor; the editor drives it, so it never takes focus."""

    DEFAULT_CSS = """
    CompletionList {
        overlay: screen;
        position: absolute;
        display: none;
        width: auto;
        min-width: 20;
        max-width: 48;
        height: auto;
        max-height: 10;
        border: round $accent;
        padding: 0;
        background: $surface;
    }
    CompletionList.-open {
        display: block;
    }
    """

    def __init__(self) -> None:
        super().__init__(id="kql-completions")
        self.can_focus = False


class KqlEditor(TextArea):
    """Multi-line KQL with highlighting and completion; asks to run the statement under the cursor."""

    DEFAULT_CSS = """
    KqlEditor {
        height: 1fr;
        border: tall $border-blurred;
    }
    KqlEditor:focus {
        border: tall $border;
    }
    """
    BINDINGS = [
        Binding("ctrl+enter,ctrl+j,f5", "run", "Run", id="kql.run", priority=True),
        Binding("ctrl+space", "complete", "Complete", show=False, id="kql.complete"),
        Binding("ctrl+home", "cursor_document_start", "Query start", show=False, id="kql.start"),
        Binding("ctrl+end", "cursor_document_end", "Query end", show=False, id="kql.end"),
        Binding("ctrl+shift+home", "cursor_document_start(True)", "Select to start", show=False, id="kql.select_start"),
        Binding("ctrl+shift+end", "cursor_document_end(True)", "Select to end", show=False, id="kql.select_end"),
    ]

    def action_cursor_document_start(self, select: bool = False) -> None:
        """ctrl+home: to the query's first character (with shift, selecting on the way)."""
        self.move_cursor((0, 0), select=select)

    def action_cursor_document_end(self, select: bool = False) -> None:
        """ctrl+end: past the query's last character (with shift, selecting on the way)."""
        self.move_cursor(self.document.end, select=select)

    class RunRequested(Message):
        """The user asked to run `statement` (the one under the cursor)."""

        def __init__(self, editor: KqlEditor, statement: Statement) -> None:
            super().__init__()
            self.editor = editor
            self.statement = statement

        @property
        def control(self) -> KqlEditor:
            return self.editor

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, soft_wrap=False, show_line_numbers=True, tab_behavior="indent")
        self.schema: WorkspaceSchema | None = None
        self.completion_list = CompletionList()
        self._table_names: set[str] = set()
        self._accepting = False
        self._tab_armed = False
        """Whether a tab takes the highlighted candidate (a second tab, or after choosing with up/down)."""

    def on_mount(self) -> None:
        parent = self.parent
        if isinstance(parent, Widget):
            parent.mount(self.completion_list, after=self)

    def set_schema(self, schema: WorkspaceSchema) -> None:
        """Use `schema` for table highlighting and completion."""
        self.schema = schema
        self._table_names = set(schema.tables)
        self._build_highlight_map()
        self.refresh()

    # highlighting ---------------------------------------------------------------------------

    def _build_highlight_map(self) -> None:
        self._line_cache.clear()
        highlights = self._highlights
        highlights.clear()
        tables: set[str] = getattr(self, "_table_names", set())
        for row, line in enumerate(self.document.lines):
            for start, end, name in highlight_line(line, tables):
                highlights[row].append((_to_bytes(line, start), _to_bytes(line, end), name))

    # statements and errors ------------------------------------------------------------------

    def current_statement(self) -> Statement:
        """The statement under the cursor (statements are separated by blank lines)."""
        return statement_at(self.text, self.cursor_location[0])

    def action_run(self) -> None:
        # Run is a priority binding, taken as the key arrives, while keys typed before it may still wait in this
        # editor's queue: read the statement after them, or a fast typist runs half a query.
        self.call_later(self._request_run)

    def _request_run(self) -> None:
        self.close_completions()
        self.post_message(self.RunRequested(self, self.current_statement()))

    def mark_error(self, statement: Statement, position: tuple[int, int] | None) -> None:
        """Select the spot an engine error points at (line and column are 1-based, within the statement)."""
        if position is None:
            return
        line, column = position
        row = statement.first_row + max(line, 1) - 1
        lines = self.document.lines
        if row >= len(lines):
            row = len(lines) - 1
        text = lines[row]
        start = max(0, min(column - 1 if column > 0 else 0, len(text)))
        word = re.match(r"[\w\-]+", text[start:])
        end = start + (word.end() if word else 1)
        self.selection = Selection((row, start), (row, min(end, len(text))))
        self.scroll_cursor_visible()
        self.focus()

    # completion ----------------------------------------------------------------------------

    def _word_before_cursor(self) -> tuple[str, str, int]:
        row, column = self.cursor_location
        line = self.document.lines[row][:column]
        word = _WORD_BEFORE.search(line)
        typed = word.group(0) if word else ""
        statement = statement_at(self.text, row)
        lines = statement.text.split("\n")[: row - statement.first_row]
        before = "\n".join([*lines, line])
        return typed, before, column - len(typed)

    def action_complete(self) -> None:
        self.update_completions(force=True)

    def update_completions(self, *, force: bool = False) -> None:
        """Refresh the suggestion list for the word before the cursor."""
        typed, before, _start = self._word_before_cursor()
        found = completions(self.schema, before, typed)
        if not found or (not typed and not force and not before.rstrip().endswith(("|", "render"))):
            self.close_completions()
            return
        options = self.completion_list
        options.clear_options()
        options.add_options([Option(text, id=text) for text in found])
        options.highlighted = 0
        x, y = self.cursor_screen_offset
        # An absolutely positioned widget is offset from its container's content origin.
        origin = options.parent.content_region.offset if isinstance(options.parent, Widget) else self.region.offset
        options.styles.offset = (max(0, x - len(typed) - origin.x), y + 1 - origin.y)
        options.add_class("-open")

    @property
    def completing(self) -> bool:
        return self.completion_list.has_class("-open")

    def close_completions(self) -> None:
        self.completion_list.remove_class("-open")

    def accept_completion(self) -> None:
        """Replace the word before the cursor with the highlighted suggestion."""
        options = self.completion_list
        index = options.highlighted
        if index is None:
            self.close_completions()
            return
        chosen = str(options.get_option_at_index(index).id)
        typed, _before, start = self._word_before_cursor()
        row = self.cursor_location[0]
        insert = chosen + "(" if chosen in FUNCTIONS else chosen
        self._accepting = True
        self.replace(insert, (row, start), (row, start + len(typed)))
        self.close_completions()

    def complete_on_tab(self) -> None:
        """Tab as a shell does it: one candidate is inserted; several extend the word to what they share,
        or, when they share nothing more, stay listed (a second tab, or enter, takes the highlighted one)."""
        if not self.completing:
            self.update_completions(force=True)
            if not self.completing:
                return
            self._tab_armed = False
        options = self.completion_list
        candidates = [str(options.get_option_at_index(i).id) for i in range(options.option_count)]
        if len(candidates) == 1 or self._tab_armed:
            self.accept_completion()
            return
        typed, _before, start = self._word_before_cursor()
        common = shared_prefix([c.lower() for c in candidates])
        if len(common) > len(typed) and all(c.lower().startswith(typed.lower()) for c in candidates):
            row = self.cursor_location[0]
            self.replace(candidates[0][: len(common)], (row, start), (row, start + len(typed)))
            return  # the list follows the longer word
        self._tab_armed = True

    async def _on_key(self, event: events.Key) -> None:
        word_before = bool(self._word_before_cursor()[0]) if event.key == "tab" else False
        if event.key == "tab" and (self.completing or word_before):
            event.stop()
            event.prevent_default()
            self.complete_on_tab()
            return
        if self.completing:
            options = self.completion_list
            if event.key == "enter":
                event.stop()
                event.prevent_default()
                self.accept_completion()
                return
            if event.key in {"up", "down"}:
                self._tab_armed = True  # the user chose: tab takes the highlighted one
                event.stop()
                event.prevent_default()
                count = options.option_count
                current = options.highlighted or 0
                options.highlighted = (current + (1 if event.key == "down" else -1)) % max(count, 1)
                return
            if event.key == "escape":
                event.stop()
                event.prevent_default()
                self.close_completions()
                return
        await super()._on_key(event)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._tab_armed = False
        if self._accepting:
            self._accepting = False
            return
        self.update_completions()

    def on_blur(self) -> None:
        self.close_completions()
