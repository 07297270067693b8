"""The one adapter over the KQL engine: KQL text in, Log Analytics shaped tables out.

Every KQL query the local Azure answers goes through `KqlEngine.execute`. It translates KQL to
DuckDB SQL once per distinct query text (translations are cached), applies the request's
timespan as a filter on `TimeGenerated` of every table the query reads, pins `now()`, runs the
SQL on its own cursor with a timeout that really interrupts DuckDB, and shapes the result the way
the Log Analytics query API does, with row and size caps that report a partial error instead of
truncating silently.

Two constructs the engine lacks and operations queries need are added here by rewriting:
`make-series` (to SQL around a translated `summarize`) and multi-value `percentiles()` (to
several `percentile()` aggregations).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql
from duckdb_kql import KqlSchemaError, KqlSyntaxError, KqlUnsupportedError

from console.emulator import kql_extensions, kql_lambdas, kql_python_functions, kql_units
from console.emulator.kql_bag_unpack import BagUnpack, BagUnpackError
from console.emulator.kql_evaluate import pivot_reshape
from console.emulator.kql_more_functions import WHOLE_NUMBER_TOKEN
from console.emulator.kql_operators import BY_NAMES_MARK, TYPEOF
from console.emulator.kql_parse_kv import ParseKvKey, parse_kv_extend
from console.emulator.kql_serialize import BARE_SERIALIZE, DEFAULT_DATABASE

log = logging.getLogger(__name__)

__all__ = [
    "E_OVERFLOW",
    "E_QUERY_RESULT_SET_TOO_LARGE",
    "KqlEngine",
    "KqlQueryError",
    "QueryOutcome",
    "QueryTimeoutError",
    "RenderInfo",
    "la_type",
    "partial_error",
    "strip_render",
]

# Unqualified table names are translated as if they lived in this database, so the table sources
# in the SQL can be told apart from everything else and rewritten (timespan filter, make-series).
_SOURCE_DB = DEFAULT_DATABASE
_CLOCK_SLOT = "kqlnow"
_TIMESPAN_FROM = "__la_from"
_TIMESPAN_TO = "__la_to"
_TIME_COLUMN = "TimeGenerated"
_SCOPE = "__la_scope"
_SERIES_SOURCE = "__la_series"
# Any instant will do: the clock is a bound parameter, replaced on every execution.
_PLACEHOLDER_NOW = dt.datetime(2000, 1, 1)
_CACHE_SIZE = 512
# Bounds on what a query may ask of the translator: it cannot be interrupted once started, so
# input that would make it slow or recurse deeply is refused up front.
MAX_QUERY_CHARS = 65_536
MAX_NESTING = 64
MAX_OPERATORS = 300
MAX_TOKENS = 12_000
# Bounds on the database: memory for any one moment of query work, and no file or network access.
MEMORY_LIMIT = "1GB"
_LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET allow_unsigned_extensions = false",
    f"SET memory_limit = '{MEMORY_LIMIT}'",
    "SET lock_configuration = true",
)


class KqlQueryError(Exception):
    """A query the service refuses, with the HTTP status and Log Analytics error code to answer."""

    def __init__(
        self, status: int, code: str, message: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.line = line
        self.column = column


class QueryTimeoutError(KqlQueryError):
    """A query that ran past its server timeout (`prefer: wait=N`) and was cancelled: a 504 whose body
    says only "Gateway timeout", as Log Analytics answers."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(504, "GatewayTimeout", "Gateway timeout")
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class RenderInfo:
    """What a trailing `render` operator asked for: the visualization kind and its options."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def as_la(self) -> dict[str, Any]:
        """The `render` object of a Log Analytics response (`prefer: include-render=true`): every property, in
        the service's spelling (`xTitle`, `yMax`), null or NaN when the query did not set it; limits are numbers."""
        given = {name.lower(): value for name, value in self.options.items()}
        answer: dict[str, Any] = {"visualization": self.kind}
        for name in _RENDER_PROPERTIES:
            value = given.get(name.lower())
            if name in ("yMin", "yMax", "xMin", "xMax"):
                answer[name] = _render_number(value)
            elif name == "accumulate":
                answer[name] = str(value).lower() == "true"
            elif name == "isQuerySorted":
                answer[name] = False
            else:
                answer[name] = value
        return answer


_RENDER_PROPERTIES = (
    "title", "accumulate", "isQuerySorted", "kind", "legend", "series", "yMin", "yMax", "xMin", "xMax",
    "xAxis", "xColumn", "xTitle", "yAxis", "yColumns", "ySplit", "yTitle", "anomalyColumns",
)  # fmt: skip


def _render_number(value: Any) -> float | int | str:
    """A render limit as the service sends it: a number, or the string NaN when unset or unreadable."""
    try:
        number = float(str(value))
    except ValueError:
        return "NaN"
    if math.isnan(number) or math.isinf(number):
        return "NaN"
    return int(number) if number.is_integer() else number


def encode_rows(rows: list[list[Any]]) -> bytes:
    """Rows as `QueryOutcome.rows_json` holds them: each a JSON array, separated by commas."""
    return ",".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows).encode()


@dataclass(frozen=True)
class QueryOutcome:
    """A query's answer in Log Analytics shape: columns, rows already encoded as JSON, an optional partial
    `error`, and what a trailing `render` asked for."""

    columns: list[dict[str, str]]
    rows_json: bytes
    """The rows as the body carries them: JSON arrays separated by commas (no brackets around them)."""
    row_count: int
    error: dict[str, Any] | None = None
    render: RenderInfo | None = None
    truncated: bool = False
    sources: frozenset[str] = frozenset()
    """The tables the query read."""

    def rows(self) -> list[list[Any]]:
        """The rows, decoded."""
        return list(json.loads(b"[" + self.rows_json + b"]"))

    @property
    def tables(self) -> list[dict[str, Any]]:
        """The `tables` of the answer, decoded (for tests and callers that want Python values)."""
        return [{"name": "PrimaryResult", "columns": self.columns, "rows": self.rows()}]

    def as_la_bytes(self, extra: dict[str, Any] | None = None) -> bytes:
        """The JSON body the query API answers with; `extra` adds top-level members (error, render...).

        The rows were encoded by the database, so they are spliced in rather than re-encoded.
        """
        head = json.dumps({"name": "PrimaryResult", "columns": self.columns}, separators=(",", ":"))
        parts = [b'{"tables":[', head[:-1].encode(), b',"rows":[', self.rows_json, b"]}]"]
        for name, value in (extra or {}).items():
            parts.append(f",{json.dumps(name)}:{json.dumps(value, separators=(',', ':'))}".encode())
        parts.append(b"}")
        return b"".join(parts)


# --------------------------------------------------------------------------------------------------
# A small KQL lexer: enough to find top-level pipes, statements and keywords without being fooled
# by string literals, comments or parentheses.
# --------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<string>```.*?```|~~~.*?~~~
      |[@hH]?'(?:[^'\\\n]|\\.|'')*'|[@hH]?"(?:[^"\\\n]|\\.|"")*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[A-Za-z]*)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    depth: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def _tokens(text: str) -> list[_Token]:
    """Significant tokens of *text* (no whitespace, no comments), each with its bracket depth."""
    out: list[_Token] = []
    depth = 0
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "punct"
        if kind in ("ws", "comment"):
            continue
        value = match.group()
        if kind == "punct" and value in ")]}":
            depth = max(depth - 1, 0)
        out.append(_Token(kind, value, match.start(), depth))
        if kind == "punct" and value in "([{":
            depth += 1
    return out


def _split_top(tokens: list[_Token], separator: str) -> list[list[_Token]]:
    """Split *tokens* at depth-0 punctuation *separator*."""
    parts: list[list[_Token]] = [[]]
    base = tokens[0].depth if tokens else 0
    for token in tokens:
        if token.kind == "punct" and token.text == separator and token.depth == base:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _span_text(text: str, tokens: list[_Token]) -> str:
    return text[tokens[0].start : tokens[-1].end] if tokens else ""


@dataclass(frozen=True)
class _Statements:
    """A query split into its `let`/`set` prelude and its last (tabular) statement."""

    prelude: str
    body: list[_Token]


def _last_statement(text: str, tokens: list[_Token]) -> _Statements:
    statements = [part for part in _split_top(tokens, ";") if part]
    if not statements:
        return _Statements("", [])
    body = statements[-1]
    prelude = text[: body[0].start]
    return _Statements(prelude, body)


def strip_render(query: str) -> tuple[str, str | None, dict[str, Any]]:
    """Remove a trailing `render` operator: returns (query without it, kind or None, options)."""
    tokens = _tokens(query)
    statement = _last_statement(query, tokens)
    segments = _split_top(statement.body, "|")
    last = segments[-1] if segments else []
    if len(segments) < 2 or not last or last[0].text.lower() != "render" or len(last) < 2:
        return query, None, {}
    kind = last[1].text
    options = _render_options(query, last[2:])
    pipe_start = segments[-2][-1].end
    return query[:pipe_start].rstrip(), kind, options


def _render_options(text: str, tokens: list[_Token]) -> dict[str, Any]:
    if tokens and tokens[0].text.lower() == "with" and len(tokens) > 1 and tokens[1].text == "(":
        tokens = tokens[2:-1] if tokens[-1].text == ")" else tokens[2:]
    options: dict[str, Any] = {}
    current: str | None = None
    values: list[str] = []

    def flush() -> None:
        if current is not None:
            options[current] = values[0] if len(values) == 1 else list(values)

    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "word" and following is not None and following.text == "=":
            flush()
            current, values = token.text, []
            index += 2
            continue
        if token.text != ",":
            values.append(_literal_text(token.text))
        index += 1
    flush()
    return options


def _literal_text(value: str) -> str:
    if value[:1] in "@hH" and len(value) > 1 and value[1] in "'\"":
        value = value[1:]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


# --------------------------------------------------------------------------------------------------
# Rewrites for what the engine lacks
# --------------------------------------------------------------------------------------------------


# The multi-level percentile aggregates, the single-level one each becomes and how many leading arguments
# (value, weight) come before the levels.
_PERCENTILE_FORMS = {
    "percentiles": ("percentile", 1),
    "percentilesw": ("percentilew", 2),
    "percentilew": ("percentilew", 2),
}


def _rewrite_percentiles(text: str) -> str:
    """`percentiles(x, 50, 95)` -> `percentile(x, 50), percentile(x, 95)` (and `percentilesw(x, w, 50)` ->
    `percentilew(x, w, 50)`), named as Kusto names them."""
    tokens = _tokens(text)
    replacements: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens):
        form = _PERCENTILE_FORMS.get(token.text) if token.kind == "word" else None
        if form is None:
            continue
        single, leading = form
        if index + 1 >= len(tokens) or tokens[index + 1].text != "(":
            continue
        # `p = percentilew(x, w, 50)` is named already.
        if token.text == single and index >= 1 and tokens[index - 1].text == "=":
            continue
        close = _matching_close(tokens, index + 1)
        args = [_span_text(text, part) for part in _split_top(tokens[index + 2 : close], ",")]
        if len(args) < leading + 1:
            continue
        start = token.start
        names: list[str] = []
        # `(p50, p95) = percentiles(...)` names the columns explicitly.
        if index >= 2 and tokens[index - 1].text == "=" and tokens[index - 2].text == ")":
            open_index = _matching_open(tokens, index - 2)
            names = [part[0].text for part in _split_top(tokens[open_index + 1 : index - 2], ",") if part]
            start = tokens[open_index].start
        subject = args[0].strip()
        operands = ", ".join(arg.strip() for arg in args[:leading])
        pieces = []
        for position, level in enumerate(args[leading:]):
            level = level.strip()
            if names and position < len(names):
                name = names[position]
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", subject):
                name = f"percentile_{subject}_{level.replace('.', '_')}"
            else:
                name = f"percentile_{level.replace('.', '_')}"
            pieces.append(f"{name} = {single}({operands}, {level})")
        replacements.append((start, tokens[close].end, ", ".join(pieces)))
    for start, end, new in reversed(replacements):
        text = text[:start] + new + text[end:]
    return text


_LIMITED_AGGREGATES = {"make_list": "list", "make_set": "set", "make_list_with_nulls": "list"}


def _rewrite_make_limits(text: str) -> str:
    """`make_list(x, 3)` keeps at most 3 values: the engine ignores the size, so slice its answer."""
    tokens = _tokens(text)
    replacements: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens):
        prefix = _LIMITED_AGGREGATES.get(token.text) if token.kind == "word" else None
        if prefix is None or index + 1 >= len(tokens) or tokens[index + 1].text != "(":
            continue
        close = _matching_close(tokens, index + 1)
        args = [_span_text(text, part) for part in _split_top(tokens[index + 2 : close], ",")]
        if len(args) != 2:
            continue
        subject, size = args[0].strip(), args[1].strip()
        named = index >= 1 and tokens[index - 1].text == "="
        name = "" if named or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", subject) else f"{prefix}_{subject} = "
        call = f"{name}array_slice({token.text}({subject}), 0, ({size}) - 1)"
        replacements.append((token.start, tokens[close].end, call))
    for start, end, new in reversed(replacements):
        text = text[:start] + new + text[end:]
    return text


_PARSE_ANCHOR = "<<parse-start>>"


def _rewrite_parse_kv(text: str) -> str:
    """`parse-kv s as (k: t, ...) with (...)`, which the grammar lacks, as the `extend` that does the same."""
    tokens = _tokens(text)
    if not any(token.kind == "word" and token.text == "parse-kv" for token in tokens):
        return text
    replacements: list[tuple[int, int, str]] = []
    for segment in _split_top(tokens, "|"):
        if not segment or segment[0].text != "parse-kv":
            continue
        keyword = next((i for i, token in enumerate(segment) if token.text == "as" and i > 1), None)
        if keyword is None or keyword + 1 >= len(segment) or segment[keyword + 1].text != "(":
            raise KqlQueryError(400, "SyntaxError", "parse-kv: expected `as (key: type, ...)`.")
        keys_close = _matching_close(segment, keyword + 1)
        keys = []
        for part in _split_top(segment[keyword + 2 : keys_close], ","):
            colon = next((i for i, token in enumerate(part) if token.text == ":"), None)
            if colon is None or colon == 0 or colon + 1 >= len(part):
                raise KqlQueryError(400, "SyntaxError", "parse-kv: each key needs a type (`key: type`).")
            column = _span_text(text, part[:colon])
            name_token = part[1] if part[0].text == "[" and len(part) > 2 else part[0]
            keys.append(ParseKvKey(column, _literal_text(name_token.text), part[colon + 1].text))
        options: dict[str, list[str]] = {}
        end = keys_close
        rest = segment[keys_close + 1 :]
        if rest:
            if rest[0].text != "with" or len(rest) < 2 or rest[1].text != "(":
                raise KqlQueryError(400, "SyntaxError", "parse-kv: expected `with (option = value, ...)`.")
            close = _matching_close(segment, keys_close + 2)
            for part in _split_top(segment[keys_close + 3 : close], ","):
                if len(part) < 3 or part[1].text != "=":
                    raise KqlQueryError(400, "SyntaxError", "parse-kv: expected `option = value`.")
                options.setdefault(part[0].text.lower(), []).append(_span_text(text, part[2:]))
            end = close
            if close != len(segment) - 1:
                raise KqlQueryError(400, "SyntaxError", "parse-kv: unexpected text after its options.")
        subject = _span_text(text, segment[1:keyword])
        try:
            extend = parse_kv_extend(subject, keys, options)
        except kql_units.KqlRefusalError as refused:
            raise KqlQueryError(400, "UnsupportedError", refused.sentence) from None
        replacements.append((segment[0].start, segment[end].end, extend))
    for start, end, new in reversed(replacements):
        text = text[:start] + new + text[end:]
    return text


_BY_NAMES_LIST = re.compile(r"dynamic\s*\(\s*\[(.*)\]\s*\)", re.DOTALL)


def _rewrite_project_by_names(text: str) -> str:
    """`project-by-names "a", dynamic(["b"]), "c*"`, which the grammar lacks, as the `project-reorder` with a
    marker first that the lowering reads as project-by-names."""
    tokens = _tokens(text)
    if not any(token.kind == "word" and token.text == "project-by-names" for token in tokens):
        return text
    replacements: list[tuple[int, int, str]] = []
    for segment in _split_top(tokens, "|"):
        if not segment or segment[0].text != "project-by-names":
            continue
        names: list[str] = []
        for part in _split_top(segment[1:], ","):
            listed = _BY_NAMES_LIST.fullmatch(_span_text(text, part)) if part else None
            strings = _tokens(listed.group(1)) if listed is not None else part
            for token in strings:
                if token.kind == "string":
                    names.append(_literal_text(token.text))
                elif not (listed is not None and token.text == ","):
                    raise KqlQueryError(
                        400,
                        "UnsupportedError",
                        "project-by-names: only string literals and literal arrays of them are supported by this "
                        "local Log Analytics.",
                    )
        if any("'" in name or "\\" in name for name in names):
            raise KqlQueryError(
                400, "UnsupportedError", "project-by-names: a column name with a quote or a backslash is not supported."
            )
        patterns = [name if "*" in name and re.fullmatch(r"[A-Za-z0-9_*]+", name) else f"['{name}']" for name in names]
        replacement = "project-reorder " + ", ".join([BY_NAMES_MARK, *patterns])
        replacements.append((segment[0].start, segment[-1].end, replacement))
    for start, end, new in reversed(replacements):
        text = text[:start] + new + text[end:]
    return text


def _rewrite_bare_serialize(text: str) -> str:
    """A bare `| serialize`, which the grammar lacks (it wants a column), as `serialize` with a marker column
    that the lowering drops."""
    tokens = _tokens(text)
    replacements: list[int] = []
    for index, token in enumerate(tokens):
        if token.kind != "word" or token.text != "serialize" or index == 0 or tokens[index - 1].text != "|":
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is None or (following.kind == "punct" and following.text in "|;)"):
            replacements.append(token.end)
    for end in reversed(replacements):
        text = f"{text[:end]} {BARE_SERIALIZE} = 0{text[end:]}"
    return text


def _trailing_bag_unpack(text: str) -> tuple[str, BagUnpack] | None:
    """`<query> | evaluate bag_unpack(...)` as the query before it and the unpacking to do after it."""
    tokens = [token for token in _tokens(text) if token.kind not in ("ws", "comment")]
    segments = _split_top(tokens, "|")
    last = segments[-1] if len(segments) > 1 else []
    if len(last) < 4 or last[0].text != "evaluate" or last[1].text != "bag_unpack" or last[2].text != "(":
        return None
    close = _matching_close(last, 2)
    if close != len(last) - 1:
        raise KqlQueryError(
            400, "UnsupportedError", "bag_unpack with an output schema is not supported by this local Log Analytics."
        )
    arguments = _split_top(last[3:close], ",")
    if not arguments[0] or len(arguments[0]) != 1 or arguments[0][0].kind != "word":
        raise KqlQueryError(400, "UnsupportedError", "bag_unpack: the first argument must be a column name here.")
    options: dict[str, Any] = {"column": arguments[0][0].text}
    for argument in arguments[1:]:
        if len(argument) == 1 and argument[0].kind == "string":
            options["prefix"] = _literal_text(argument[0].text)
        elif len(argument) == 3 and argument[1].text == "=" and argument[0].text == "columnsConflict":
            options["conflict"] = _literal_text(argument[2].text)
        elif len(argument) > 2 and argument[1].text == "=" and argument[0].text == "ignoredProperties":
            listed = _BY_NAMES_LIST.fullmatch(_span_text(text, argument[2:]))
            strings = _tokens(listed.group(1)) if listed is not None else []
            names = [_literal_text(token.text) for token in strings if token.kind == "string"]
            if listed is None or any(token.kind not in ("string", "ws") and token.text != "," for token in strings):
                raise KqlQueryError(400, "UnsupportedError", "bag_unpack: ignoredProperties must be a literal array.")
            options["ignored"] = tuple(names)
        else:
            raise KqlQueryError(
                400, "UnsupportedError", "This bag_unpack argument is not supported by this local Log Analytics."
            )
    try:
        unpack = BagUnpack(**options)
    except BagUnpackError as refused:
        raise KqlQueryError(400, "UnsupportedError", str(refused)) from None
    pipe = max(
        token.start for token in tokens if token.kind == "punct" and token.text == "|" and token.start < last[0].start
    )
    return text[:pipe], unpack


def _lift_tabular_function(text: str, name: str) -> tuple[str, str] | None:
    """A top-level `let name = [view] (parameters) { body }` as a stored function definition, with the query
    left without it (blanked to spaces, so positions in later messages still point at the user's text).

    duckdb-kql lowers a `let` function only when its body is scalar (or starts at a tabular parameter, for
    `invoke`); a tabular body (`let f = (n:long) { T | where x > n }; f(5)`, a `view`) it refuses. Its stored
    functions take exactly that shape, so the `let` is handed over as one, for this query only. The function's
    body starts with the statements before the `let`: a `let` function reads the names declared above it."""
    tokens = _tokens(text)
    statements = [part for part in _split_top(tokens, ";") if part]
    for index, statement in enumerate(statements[:-1]):
        words = [token.text for token in statement[:5]]
        if words[:3] != ["let", name, "="]:
            continue
        opening = 4 if words[3:4] == ["view"] else 3
        if len(statement) <= opening or statement[opening].text != "(":
            return None
        close = next(
            (i for i in range(opening + 1, len(statement)) if statement[i].text == ")" and statement[i].depth == 0),
            None,
        )
        if close is None or close + 1 >= len(statement) or statement[close + 1].text != "{":
            return None
        if statement[-1].text != "}" or statement[-1].depth != 0:
            return None
        parameters = text[statement[opening].start + 1 : statement[close].start]
        body = text[statement[close + 1].end : statement[-1].start]
        above = "".join(_span_text(text, before) + "; " for before in statements[:index])
        definition = f"function {name}({parameters}) {{ {above}{body} }}"
        end = statement[-1].end
        semicolon = text.index(";", end)
        start = statement[0].start
        blanked = text[:start] + re.sub(r"[^\n]", " ", text[start : semicolon + 1]) + text[semicolon + 1 :]
        return blanked, definition
    return None


# duckdb-kql's hints when a `let` (or a stored) function is called with the wrong number of arguments.
_LET_ARITY = re.compile(r"takes (?P<low>\d+)\.\.(?P<high>\d+) arguments, got (?P<given>\d+)")
_FUNCTION_ARITY = re.compile(r"\w+\(\): function expects (?P<low>\d+) argument\(s\), got (?P<given>\d+)")


def _lift_refused_let(text: str, error: KqlUnsupportedError) -> tuple[str, str] | None:
    """The `let` function the library refused for its tabular body (or as a `view`), lifted; else None."""
    construct = error.construct
    if construct.startswith("let function:") and "tabular body" in str(error.hint):
        return _lift_tabular_function(text, construct.removeprefix("let function:"))
    if construct == "expression:LetFunctionBody" and error.span is not None:
        before = _tokens(text[: _offset(text, error.span.line, error.span.column)])
        lets = [i for i, token in enumerate(before[:-1]) if token.text == "let" and token.depth == 0]
        if lets:
            return _lift_tabular_function(text, before[lets[-1] + 1].text)
    return None


def _offset(text: str, line: int, column: int) -> int:
    """The character offset of a 1-based line and 0-based column."""
    lines = text.splitlines(keepends=True)
    return sum(len(previous) for previous in lines[: line - 1]) + column


def _rewrite_count_of(text: str) -> str:
    """`count(x)` (rows, nulls of x included, as Kusto documents) as the aggregate that counts them."""
    tokens = _tokens(text)
    replacements = [
        (token.start, token.end, kql_extensions.COUNT_OF)
        for index, token in enumerate(tokens[:-2])
        if token.kind == "word"
        and token.text == "count"
        and tokens[index + 1].text == "("
        and tokens[index + 2].text != ")"
    ]
    for start, end, new in reversed(replacements):
        text = text[:start] + new + text[end:]
    return text


def _rewrite_leading_capture(text: str) -> str:
    """`parse s with k ";" v` (a pattern that starts with a column) captures from the start of `s`.

    The engine takes only patterns that start with text or `*`, so anchor one: prepend a marker to
    a copy of the source and start the pattern with it.
    """
    tokens = _tokens(text)
    replacements: list[tuple[int, int, str]] = []
    for segment in _split_top(tokens, "|"):
        if len(segment) < 4 or segment[0].text != "parse" or segment[1].text.lower() == "kind":
            continue
        keyword = next((i for i, token in enumerate(segment) if token.text == "with" and i > 1), None)
        if keyword is None or keyword + 1 >= len(segment) or segment[keyword + 1].kind != "word":
            continue
        source = _span_text(text, segment[1:keyword])
        pattern = text[segment[keyword + 1].start : segment[-1].end]
        anchored = (
            f'extend __parse_source = strcat("{_PARSE_ANCHOR}", {source}) '
            f'| parse __parse_source with "{_PARSE_ANCHOR}" {pattern} | project-away __parse_source'
        )
        replacements.append((segment[0].start, segment[-1].end, anchored))
    for start, end, new in reversed(replacements):
        text = text[:start] + new + text[end:]
    return text


def _matching_close(tokens: list[_Token], open_index: int) -> int:
    depth = tokens[open_index].depth
    for index in range(open_index + 1, len(tokens)):
        if tokens[index].text in ")]}" and tokens[index].depth == depth:
            return index
    raise KqlQueryError(400, "SyntaxError", "Unbalanced parentheses.")


def _matching_open(tokens: list[_Token], close_index: int) -> int:
    depth = tokens[close_index].depth
    for index in range(close_index - 1, -1, -1):
        if tokens[index].text in "([{" and tokens[index].depth == depth:
            return index
    raise KqlQueryError(400, "SyntaxError", "Unbalanced parentheses.")


@dataclass(frozen=True)
class _MakeSeries:
    prefix: str  # the prelude plus the pipeline before make-series
    prelude: str
    aggregates: list[tuple[str, str | None]]  # (aggregate text, default expression)
    axis: str
    start: str | None
    end: str | None
    step: str
    by: list[str]
    suffix: str  # the pipeline after make-series, without the leading pipe
    nonempty: bool = False  # kind=nonempty: an empty input still gives one row of defaults


# A make-series step written as a timespan literal (`1h`, `30min`, `1.5d`): its axis is a datetime or a timespan.
_TIMESPAN_STEP = re.compile(
    r"\s*\d+(?:\.\d+)?\s*(?:d|days?|h|hrs?|hours?|m|min|minutes?|s|sec|seconds?|ms|milli|milliseconds?|"
    r"microseconds?|ticks?)\s*",
    re.IGNORECASE,
)
_SERIES_KEYWORDS = ("on", "from", "to", "step", "by", "in")


def _find_make_series(text: str) -> _MakeSeries | None:
    tokens = _tokens(text)
    if not any(token.text == "make-series" for token in tokens):
        return None
    statement = _last_statement(text, tokens)
    segments = _split_top(statement.body, "|")
    index = 0
    for index, segment in enumerate(segments):  # noqa: B007 - the index is used after the loop
        if segment and segment[0].text == "make-series":
            break
    else:
        raise KqlQueryError(
            400,
            "UnsupportedError",
            "make-series is supported only in the main pipeline of the query, not inside a subquery or let.",
        )
    segment = segments[index]
    prefix = text[: segments[index - 1][-1].end] if index > 0 else ""
    if index == 0 or not prefix.strip():
        raise KqlQueryError(400, "BadArgumentError", "make-series needs a table to read from.")
    suffix = " | ".join(_span_text(text, part) for part in segments[index + 1 :])
    clauses: dict[str, list[_Token]] = {"aggregates": []}
    current = "aggregates"
    depth = segment[0].depth
    body = segment[1:]
    # Operator properties such as `kind=nonempty` precede the aggregates.
    nonempty = False
    while len(body) >= 3 and body[1].text == "=" and body[0].text.lower() == "kind":
        nonempty = body[2].text.lower() == "nonempty"
        body = body[3:]
    for token in body:
        if token.kind == "word" and token.depth == depth and token.text in _SERIES_KEYWORDS:
            current = token.text
            clauses[current] = []
            continue
        clauses.setdefault(current, []).append(token)
    if "on" not in clauses:
        raise KqlQueryError(400, "SyntaxError", "make-series needs an 'on' axis column.")
    start = end = step = None
    if "in" in clauses:
        range_tokens = clauses["in"]
        if not range_tokens or range_tokens[0].text != "range":
            raise KqlQueryError(400, "SyntaxError", "make-series 'in' expects range(start, stop, step).")
        args = _split_top(range_tokens[2:-1], ",")
        if len(args) != 3:
            raise KqlQueryError(400, "SyntaxError", "make-series range() takes start, stop and step.")
        start, end, step = (_span_text(text, part) for part in args)
    else:
        start = _span_text(text, clauses["from"]) if "from" in clauses else None
        end = _span_text(text, clauses["to"]) if "to" in clauses else None
        step = _span_text(text, clauses["step"]) if "step" in clauses else None
    if not step:
        raise KqlQueryError(400, "SyntaxError", "make-series needs a 'step'.")
    aggregates: list[tuple[str, str | None]] = []
    for part in _split_top(clauses["aggregates"], ","):
        default: str | None = None
        for position, token in enumerate(part):
            if token.text == "default" and position + 1 < len(part) and part[position + 1].text == "=":
                default = _span_text(text, part[position + 2 :])
                part = part[:position]
                break
        if not part:
            raise KqlQueryError(400, "SyntaxError", "make-series needs at least one aggregation.")
        aggregates.append((_span_text(text, part), default))
    by = [_span_text(text, part) for part in _split_top(clauses.get("by", []), ",") if part]
    return _MakeSeries(
        prefix=prefix,
        prelude=statement.prelude,
        aggregates=aggregates,
        axis=_span_text(text, clauses["on"]),
        start=start,
        end=end,
        step=step,
        by=by,
        suffix=suffix,
        nonempty=nonempty,
    )


# --------------------------------------------------------------------------------------------------
# SQL peephole rewrites: the same answers, in forms DuckDB optimises better.
# --------------------------------------------------------------------------------------------------

# A LIKE pattern escaped at run time: with a literal free of wildcards and backslashes the escaping
# is a no-op, and dropping ESCAPE lets DuckDB use its fast prefix/contains matching.
_ESCAPED_LIKE = re.compile(
    r"""(I?LIKE) (?:'%' \|\| )?replace\(replace\(replace\('((?:[^'\\%_]|'')*)', '\\', '\\\\'\), """
    r"""'%', '\\%'\), '_', '\\_'\)(?: \|\| '%')? ESCAPE '\\'"""
)


# `x has 'term'` as the engine writes it: a case-insensitive regex with word boundaries around the term.
_HAS_TERM = re.compile(
    r"""regexp_matches\((?P<subject>"(?:[^"]|"")+"|coalesce\("(?:[^"]|"")+" ->> '\$', ''\)), """
    r"""'\(\?i\)\(\?:\^\|\[\^\\pL\\pN\]\)' \|\| regexp_escape\('(?P<term>(?:[^'\\]|'')+)'\) """
    r"""\|\| '\(\?:\$\|\[\^\\pL\\pN\]\)'\)"""
)
# Terms a substring filter can go in front of: ASCII without `s` or LIKE's own special characters.
_FILTERABLE_TERM = re.compile(r"[A-RT-Za-rt-z0-9 .:/@#=+-]+")


def _has_prefilter(match: re.Match[str]) -> str:
    """`has` made cheaper, with the same answers.

    The case-insensitivity moves onto the term alone (`(?i:term)`): the boundary classes, letters and digits,
    are closed under case folding, so they match the same characters either way. And an ASCII term without
    `s` goes behind a substring test (ILIKE): the regex's case folding matches `ſ` for `s`, which ILIKE does
    not, while every other ASCII letter folds the same in both, so whatever the regex matches ILIKE does too.
    """
    subject, term = match.group("subject"), match.group("term")
    regex = f"regexp_matches({subject}, '(?:^|[^\\pL\\pN])(?i:' || regexp_escape('{term}') || ')(?:$|[^\\pL\\pN])')"
    if _FILTERABLE_TERM.fullmatch(term) is None:
        return regex
    return f"({subject} ILIKE '%{term}%' AND {regex})"


def _like_replacement(match: re.Match[str]) -> str:
    text = match.group()
    leading = "%" if text.startswith(f"{match.group(1)} '%' || ") else ""
    trailing = "%" if text.endswith("|| '%' ESCAPE '\\'") else ""
    return f"{match.group(1)} '{leading}{match.group(2)}{trailing}'"


def _scan(text: str) -> list[int]:
    """Bracket depth before each character, or -1 inside string literals and quoted identifiers."""
    depths = [0] * len(text)
    depth = 0
    quote = ""
    for index, char in enumerate(text):
        if quote:
            depths[index] = -1
            if char == quote:
                quote = ""  # a doubled quote re-opens on the next character, which is equivalent
            continue
        if char in "'\"":
            quote = char
            depths[index] = -1
            continue
        if char == ")":
            depth -= 1
        depths[index] = depth
        if char == "(":
            depth += 1
    return depths


def _top_level(text: str, needle: str) -> list[int]:
    depths = _scan(text)
    found = []
    start = text.find(needle)
    while start != -1:
        if depths[start] == 0:
            found.append(start)
        start = text.find(needle, start + len(needle))
    return found


def _closing(text: str, open_index: int) -> int:
    depths = _scan(text)
    target = depths[open_index]
    for index in range(open_index + 1, len(text)):
        if text[index] == ")" and depths[index] == target:
            return index
    return -1


def _strip_false_coalesce(predicate: str) -> str:
    """In a WHERE, `coalesce(p, FALSE)` filters exactly as `p` does (NULL and FALSE both drop the row).

    Only applied through AND, OR, parentheses and the engine's dynamic-or-not CASE: all keep a
    NULL and a FALSE equivalent. Under NOT they would not be, so nothing else is touched.
    """
    text = predicate.strip()
    if not text:
        return predicate
    if text[0] == "(" and _closing(text, 0) == len(text) - 1:
        return "(" + _strip_false_coalesce(text[1:-1]) + ")"
    for operator in (" OR ", " AND "):
        cuts = _top_level(text, operator)
        if cuts:
            pieces, start = [], 0
            for cut in cuts:
                pieces.append(text[start:cut])
                start = cut + len(operator)
            pieces.append(text[start:])
            return operator.join(_strip_false_coalesce(piece) for piece in pieces)
    if text.startswith("coalesce(") and text.endswith(", FALSE)") and _closing(text, 8) == len(text) - 1:
        inner = text[9 : -len(", FALSE)")]
        if not _top_level(inner, ","):
            return "(" + _strip_false_coalesce(inner) + ")"
    if text.startswith("CASE WHEN typeof(") and text.endswith(" END"):
        then, otherwise = _top_level(text, " THEN "), _top_level(text, " ELSE ")
        if len(then) == 1 and len(otherwise) == 1 and then[0] < otherwise[0]:
            condition = text[len("CASE WHEN ") : then[0]]
            first = text[then[0] + len(" THEN ") : otherwise[0]]
            second = text[otherwise[0] + len(" ELSE ") : -len(" END")]
            if not _top_level(condition, " WHEN ") and not _top_level(second, " WHEN "):
                return (
                    f"CASE WHEN {condition} THEN {_strip_false_coalesce(first)} "
                    f"ELSE {_strip_false_coalesce(second)} END"
                )
    return text


_WHERE_CLAUSE = re.compile(r"\(SELECT \* FROM _s\d+ WHERE ")


_CTE_NAME = re.compile(r'(_s\d+|"_l\d+_[^"]*")\s+AS\s+\(')


_UNION = "\nUNION ALL BY NAME "


def _union_groups(sql: str) -> list[list[str]]:
    """The legs (each a SELECT) of every `union` in a statement, as the KQL translation writes them: one
    parenthesised group per union, its legs joined by `UNION ALL BY NAME` at the group's top level."""
    depths = _scan(sql)
    groups: list[list[str]] = []
    opened: set[int] = set()
    start = sql.find(_UNION)
    while start != -1:
        depth = depths[start]
        if depth > 0:
            open_index = next(i for i in range(start, -1, -1) if sql[i] == "(" and depths[i] == depth - 1)
            if open_index not in opened:
                opened.add(open_index)
                group = sql[open_index + 1 : _closing(sql, open_index)]
                cuts = [0, *_top_level(group, _UNION), len(group)]
                groups.append([group[a + (len(_UNION) if a else 0) : b].strip() for a, b in itertools.pairwise(cuts)])
        start = sql.find(_UNION, start + len(_UNION))
    return groups


def _split_ctes(sql: str) -> tuple[list[tuple[str, str]], str] | None:
    """`WITH a AS (...), b AS (...) SELECT ...` -> ([(a, body), (b, body)], final select), or None."""
    if not sql.startswith("WITH "):
        return None
    ctes: list[tuple[str, str]] = []
    position = len("WITH ")
    while True:
        match = _CTE_NAME.match(sql, position)
        if match is None:
            return None
        open_index = match.end() - 1
        close = _closing(sql, open_index)
        if close == -1:
            return None
        ctes.append((match.group(1), sql[open_index + 1 : close]))
        rest = sql[close + 1 :]
        stripped = rest.lstrip()
        if stripped.startswith(","):
            position = close + 1 + (len(rest) - len(stripped)) + 1
            while position < len(sql) and sql[position].isspace():
                position += 1
            continue
        return ctes, stripped


def _references(sql: str, name: str) -> list[int]:
    depths = _scan(sql)
    pattern = re.escape(name) if name.startswith('"') else rf"(?<![\w\"]){re.escape(name)}(?![\w\"])"
    return [match.start() for match in re.finditer(pattern, sql) if name.startswith('"') or depths[match.start()] >= 0]


_SINGLE_SOURCE = re.compile(r'SELECT \* FROM ("[^"]+"\."[^"]+"|"[^"]+"|_s\d+)')


def _flatten_ctes(sql: str) -> str:
    """Inline pass-through CTEs and the last CTE: DuckDB plans a short chain noticeably faster."""
    if "(WITH " in sql:
        return sql
    parsed = _split_ctes(sql)
    if parsed is None:
        return sql
    ctes, final = parsed
    changed = True
    while changed:
        changed = False
        for index, (name, body) in enumerate(ctes):
            source = _SINGLE_SOURCE.fullmatch(body)
            if source is None:
                continue
            users = [
                position
                for other, (other_name, other_body) in enumerate(ctes)
                if other != index
                for position in _references(other_body, name)
            ] + _references(final, name)
            if len(users) != 1:
                continue
            replacement = source.group(1)
            ctes = [
                (other_name, _replace_reference(other_body, name, replacement))
                for other_name, other_body in ctes
                if other_name != name
            ]
            final = _replace_reference(final, name, replacement)
            changed = True
            break
    ctes, final = _merge_sort_and_limit(ctes, final)
    if ctes:
        last_name, last_body = ctes[-1]
        later_uses = sum(len(_references(body, last_name)) for _, body in ctes[:-1])
        if final == f"SELECT * FROM {last_name}" and later_uses == 0:
            ctes, final = ctes[:-1], last_body
    ctes, final = _inline_single_use(ctes, final)
    if not ctes:
        return final
    return "WITH " + ",\n     ".join(f"{name} AS ({body})" for name, body in ctes) + "\n" + final


_SORTED = re.compile(r'SELECT \* FROM ("[^"]+"\."[^"]+"|"[^"]+"|_s\d+) ORDER BY [^()\']*')
_LIMITED = re.compile(r"SELECT \* FROM (_s\d+) LIMIT (\d+)")


def _merge_sort_and_limit(ctes: list[tuple[str, str]], final: str) -> tuple[list[tuple[str, str]], str]:
    """`a AS (... ORDER BY k)`, `b AS (SELECT * FROM a LIMIT n)` -> one top-N DuckDB recognises."""
    bodies = dict(ctes)
    for index, (name, body) in enumerate(ctes):
        limited = _LIMITED.fullmatch(body) if index else None
        if limited is None:
            continue
        source = limited.group(1)
        sorted_body = bodies.get(source)
        if sorted_body is None or _SORTED.fullmatch(sorted_body) is None or " LIMIT " in sorted_body:
            continue
        uses = sum(len(_references(other, source)) for other_name, other in ctes if other_name != source)
        if uses + len(_references(final, source)) != 1:
            continue
        merged = [(n, f"{sorted_body} LIMIT {limited.group(2)}" if n == name else b) for n, b in ctes if n != source]
        return _merge_sort_and_limit(merged, final)
    limited = _LIMITED.fullmatch(final)
    if limited is not None:
        source = limited.group(1)
        sorted_body = bodies.get(source)
        uses = sum(len(_references(other, source)) for other_name, other in ctes if other_name != source)
        if sorted_body is not None and _SORTED.fullmatch(sorted_body) and " LIMIT " not in sorted_body and not uses:
            return [(n, b) for n, b in ctes if n != source], f"{sorted_body} LIMIT {limited.group(2)}"
    return ctes, final


def _inline_single_use(ctes: list[tuple[str, str]], final: str) -> tuple[list[tuple[str, str]], str]:
    """A CTE read once, in a FROM, becomes a subquery there: DuckDB binds that a little faster."""
    for name, body in ctes:
        if not name.startswith("_s"):
            continue
        holders = [other for other, other_body in ctes if other != name and _references(other_body, name)]
        in_final = _references(final, name)
        if len(holders) + (1 if in_final else 0) != 1:
            continue
        pattern = re.compile(rf"FROM {re.escape(name)}(?=$|\s|\))(?! AS )")
        target = final if in_final else dict(ctes)[holders[0]]
        if len(_references(target, name)) != 1 or len(pattern.findall(target)) != 1:
            continue
        found = pattern.search(target)
        assert found is not None
        replaced = f"{target[: found.start()]}FROM ({body}) AS {name}{target[found.end() :]}"
        if in_final:
            return _inline_single_use([(n, b) for n, b in ctes if n != name], replaced)
        return _inline_single_use([(n, replaced if n == holders[0] else b) for n, b in ctes if n != name], final)
    return ctes, final


def _replace_reference(text: str, name: str, replacement: str) -> str:
    positions = _references(text, name)
    for position in reversed(positions):
        text = text[:position] + replacement + text[position + len(name) :]
    return text


_SERIES_CALL = "SELECT UNNEST(generate_series("
_ITEM_INDEX_SERIES = "UNNEST(generate_series(CAST(0 AS BIGINT), CASE json_type("


def _stream_series(sql: str) -> str:
    """`range` as a table function: the engine writes it as one list of every value, built in memory
    at once (3 billion values take 24 GB, past any memory limit); a table function streams them."""
    while (start := sql.find(_SERIES_CALL)) != -1:
        open_args = start + len(_SERIES_CALL) - 1
        close_args = _closing(sql, open_args)
        alias = re.match(r'\) AS ("(?:[^"]|"")+")', sql[close_args + 1 :])
        if close_args == -1 or alias is None:
            break
        arguments = sql[open_args + 1 : close_args]
        end = close_args + 1 + alias.end()
        streamed = f'SELECT "__series" AS {alias.group(1)} FROM generate_series({arguments}) AS __g("__series")'
        sql = sql[:start] + streamed + sql[end:]
    # Left over, the list form would be built whole in memory; inside an expression (zip() over
    # two arrays' lengths) it is bounded by values already in memory.
    # mv-expand's with_itemindex counts over each expanded array, which is bounded by the array.
    if "UNNEST(generate_series(" in sql.replace(_ITEM_INDEX_SERIES, ""):
        raise KqlQueryError(400, "UnsupportedError", "This form of range is not supported by this local Log Analytics.")
    return sql


def _optimize_sql(sql: str) -> str:
    sql = _stream_series(sql)
    sql = _ESCAPED_LIKE.sub(_like_replacement, sql)
    sql = _HAS_TERM.sub(_has_prefilter, sql)
    pieces: list[str] = []
    position = 0
    for match in _WHERE_CLAUSE.finditer(sql):
        if match.start() < position:
            continue
        close = _closing(sql, match.start())
        if close == -1:
            continue
        predicate = sql[match.end() : close]
        if any(_top_level(predicate, word) for word in (" GROUP BY ", " ORDER BY ", " LIMIT ", " UNION ")):
            continue
        pieces.append(sql[position : match.end()])
        pieces.append(_strip_false_coalesce(predicate))
        position = close
    pieces.append(sql[position:])
    return _flatten_ctes("".join(pieces))


# --------------------------------------------------------------------------------------------------
# Result shaping
# --------------------------------------------------------------------------------------------------


def la_type(duckdb_type: str) -> str:
    """The Log Analytics column type for a DuckDB type name."""
    name = duckdb_type.upper()
    if name.endswith("]") or name.startswith(("STRUCT", "MAP", "UNION", "JSON", "LIST")):
        return "dynamic"
    if name.startswith("TIMESTAMP") or name == "DATE":
        return "datetime"
    if name == "BOOLEAN":
        return "bool"
    if name in ("INTEGER", "SMALLINT", "TINYINT", "UTINYINT", "USMALLINT"):
        return "int"
    if name in ("BIGINT", "HUGEINT", "UINTEGER", "UBIGINT", "UHUGEINT"):
        return "long"
    if name in ("DOUBLE", "FLOAT", "REAL"):
        return "real"
    if name.startswith("DECIMAL"):
        return "decimal"
    if name == "UUID":
        return "guid"
    if name == "INTERVAL" or name.startswith("TIME"):
        return "timespan"
    return "string"


_US_PER_DAY = 86_400_000_000


def _timespan_json(us: str) -> str:
    """SQL that writes microseconds `us` as a quoted Kusto timespan: `"[-][d.]hh:mm:ss[.fffffff]"`."""
    magnitude = f"abs({us})"
    return (
        f"""('"' || CASE WHEN {us} < 0 THEN '-' ELSE '' END"""
        f" || CASE WHEN {magnitude} >= {_US_PER_DAY} THEN CAST({magnitude} // {_US_PER_DAY} AS VARCHAR) || '.'"
        " ELSE '' END"
        f" || printf('%02d:%02d:%02d', ({magnitude} // 3600000000) % 24, ({magnitude} // 60000000) % 60,"
        f" ({magnitude} // 1000000) % 60)"
        f" || CASE WHEN {magnitude} % 1000000 = 0 THEN '' ELSE printf('.%07d', ({magnitude} % 1000000) * 10) END"
        """ || '"')"""
    )


_WHOLE_NUMBER_TOKEN = WHOLE_NUMBER_TOKEN


def _dynamic_text(json_value: str) -> str:
    """SQL for the text Log Analytics sends for a dynamic value: its string form.

    That is the JSON of an array, object, number or bool, but a string's own text, unquoted (as
    `tostring()` gives it), and numbers written as Kusto writes them: a whole real has no `.0`.
    """
    text = f"CAST({json_value} AS VARCHAR)"
    whole = f"regexp_replace({text}, {_WHOLE_NUMBER_TOKEN}, '\\1\\2\\3', 'g')"
    # A JSON string is the only JSON text that starts with a quote: testing that is much cheaper
    # than asking json_type, which parses the value.
    return (
        f"CASE WHEN starts_with(ltrim({text}), '\"') THEN {json_value} ->> '$' "
        f"WHEN contains({text}, '.0') THEN {whole} ELSE {text} END"
    )


def _json_sql(column: str, duckdb_type: str) -> str:
    """SQL that encodes one value of `column` as the JSON Log Analytics sends for its type.

    Encoding happens in the database, column-wise, so a large answer never becomes Python objects.
    """
    la = la_type(duckdb_type)
    name = duckdb_type.upper()
    if la == "datetime":
        value = f"CAST({column} AS TIMESTAMP)"
        return (
            f"""CASE WHEN isinf({column}) THEN NULL WHEN microsecond({value}) % 1000000 = 0 """
            f"""THEN strftime({value}, '"%Y-%m-%dT%H:%M:%SZ"') """
            f"""ELSE rtrim(strftime({value}, '"%Y-%m-%dT%H:%M:%S.%f'), '0') || 'Z"' END"""
        )
    if la == "timespan":
        return _timespan_json(f"CAST(round(epoch({column}) * 1000000) AS BIGINT)")
    if la == "real":
        return (
            f"""CASE WHEN isnan({column}) THEN '"NaN"' WHEN {column} = 'infinity'::DOUBLE THEN '"Infinity"' """
            f"""WHEN {column} = '-infinity'::DOUBLE THEN '"-Infinity"' """
            f"ELSE CAST(to_json(CAST({column} AS DOUBLE)) AS VARCHAR) END"
        )
    if la in ("int", "long", "bool"):
        return f"CAST(to_json({column}) AS VARCHAR)"
    if la == "decimal":
        return f"""'"' || CAST({column} AS VARCHAR) || '"'"""
    if la == "dynamic":
        return f"CAST(to_json({_dynamic_text(column if name == 'JSON' else f'to_json({column})')}) AS VARCHAR)"
    return f"CAST(to_json(CAST({column} AS VARCHAR)) AS VARCHAR)"


def _row_json_sql(sql: str, description: list[tuple[str, str]], row_limit: int) -> str:
    """Wrap `sql` so each result row comes back as one JSON array text and a comma, at most `row_limit` rows."""
    cells = ", ".join(f"coalesce({_json_sql('__r.' + _quote(name), kind)}, 'null')" for name, kind in description)
    return f"SELECT '[' || concat_ws(',', {cells}) || '],' FROM ({sql}) AS __r LIMIT {row_limit}"


# --------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Translation:
    """A cached translation: SQL whose table sources are still marked, and its fixed parameters."""

    sql: str
    parameters: dict[str, Any]
    uses_clock: bool
    tables: frozenset[str]
    render: RenderInfo | None


_SOURCE_PATTERN = re.compile(r"'(?:[^']|'')*'|\"" + _SOURCE_DB + r"\"\.\"((?:[^\"]|\"\")*)\"")


class _Watchdog:
    """One thread that interrupts cursors whose deadline passed (a timer thread per query costs ~1 ms)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._deadlines: dict[int, tuple[float, duckdb.DuckDBPyConnection]] = {}
        self._next_token = 0
        self._wake_at = math.inf
        self._thread: threading.Thread | None = None

    def watch(self, cursor: duckdb.DuckDBPyConnection, timeout_s: float) -> int:
        with self._condition:
            self._next_token += 1
            token = self._next_token
            deadline = time.monotonic() + timeout_s
            self._deadlines[token] = (deadline, cursor)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kql-watchdog", daemon=True)
                self._thread.start()
            if deadline < self._wake_at:
                self._condition.notify()
            return token

    def release(self, token: int) -> None:
        with self._condition:
            self._deadlines.pop(token, None)

    def interrupt_all(self) -> None:
        """Interrupt every query still running (the server is stopping)."""
        with self._condition:
            for _, cursor in self._deadlines.values():
                cursor.interrupt()

    def _run(self) -> None:
        with self._condition:
            while True:
                now = time.monotonic()
                for token, (deadline, cursor) in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[token]
                        cursor.interrupt()
                earliest = min((deadline for deadline, _ in self._deadlines.values()), default=None)
                self._wake_at = math.inf if earliest is None else earliest
                self._condition.wait(None if earliest is None else max(earliest - now, 0.001))


def _camel_to_kql(name: str) -> str:
    words = re.findall(r"[A-Z][a-z0-9]*", name)
    return "-".join(word.lower() for word in words)


_EXPECTING = re.compile(r"\s*expecting \{([^}]*)\}")


def _concise(message: str) -> str:
    """A parser message without a long list of every token it could have taken instead."""
    found = _EXPECTING.search(message)
    if found is None or found.group(1).count(",") < 6:
        return message
    return message[: found.start()] + "."


class KqlEngine:
    """A DuckDB database of telemetry tables, queried in KQL.

    The connection is locked down before any query runs: no file system or network access, no
    extension installing or loading, a memory limit, and a configuration no statement can change.
    With `path` the tables live in that file (kept across restarts); otherwise in memory.
    """

    def __init__(self, path: Path | None = None) -> None:
        connection = duckdb.connect(str(path) if path is not None else ":memory:")
        connection.execute("SET TimeZone = 'UTC'")
        kql_extensions.prepare(connection)
        for statement in _LOCKDOWN:
            connection.execute(statement)
        self.connection: duckdb.DuckDBPyConnection = connection
        self.seeding = False
        self.seed_progress = 1.0
        self.complete_from: dt.datetime | None = None
        """While seeding: telemetry at or after this instant (naive UTC) is already complete."""
        self._lock = threading.Lock()
        self._python_functions = False
        self._cache: OrderedDict[str, _Translation] = OrderedDict()
        self._descriptions: OrderedDict[tuple[str, str], list[tuple[str, str]]] = OrderedDict()
        """Each statement's result columns, by (query, statement): describing one plans it again."""
        self._schema_types: dict[str, list[tuple[str, str]]] | None = None
        self._watchdog = _Watchdog()

    def interrupt_all(self) -> None:
        """Interrupt every running query, so a stopping server does not wait for them."""
        self._watchdog.interrupt_all()

    def close(self) -> None:
        """Interrupt running queries and close the database (a file-backed one is checkpointed)."""
        self.interrupt_all()
        for attempt in range(20):
            try:
                self.connection.close()
                return
            except duckdb.Error as error:  # another thread is in a call on it: give it a moment
                if attempt == 19:
                    log.warning("The telemetry database did not close cleanly: %s", error)
                time.sleep(0.1)

    # -- schema -------------------------------------------------------------------------------

    def refresh_schema(self) -> None:
        """Forget the table list and cached translations, after tables were created or altered."""
        with self._lock:
            self._schema_types = None
            self._cache.clear()
            self._descriptions.clear()

    def _duckdb_schema(self) -> dict[str, list[tuple[str, str]]]:
        with self._lock:
            if self._schema_types is not None:
                return self._schema_types
        cursor = self._cursor()
        try:
            rows = cursor.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = current_database() AND table_schema = 'main' "
                "ORDER BY table_name, ordinal_position"
            ).fetchall()
        finally:
            cursor.close()
        schema: dict[str, list[tuple[str, str]]] = {}
        for table, column, data_type in rows:
            schema.setdefault(str(table), []).append((str(column), str(data_type)))
        with self._lock:
            self._schema_types = schema
        return schema

    def schema(self) -> dict[str, list[tuple[str, str]]]:
        """Table name -> [(column, Log Analytics type)] for every telemetry table."""
        return {
            table: [(column, la_type(kind)) for column, kind in columns]
            for table, columns in self._duckdb_schema().items()
        }

    def _translation_schema(self) -> dict[str, list[str]]:
        names = {table: [column for column, _ in cols] for table, cols in self._duckdb_schema().items()}
        return {**names, **{f"{_SOURCE_DB}.{table}": cols for table, cols in names.items()}}

    def _describe(
        self, cursor: duckdb.DuckDBPyConnection, query: str, sql: str, bound: dict[str, Any] | None
    ) -> list[tuple[str, str]]:
        """The statement's result columns (name, DuckDB type). Kept per query and statement: the same query
        text translates to the same statement and literal parameters, and only the clock and timespan
        values (always datetimes) change between runs, so the types cannot."""
        key = (query, sql)
        with self._lock:
            known = self._descriptions.get(key)
            if known is not None:
                self._descriptions.move_to_end(key)
                return known
        described = cursor.execute(f"DESCRIBE {sql}", bound).fetchall()
        description = [(str(row[0]), str(row[1])) for row in described]
        with self._lock:
            self._descriptions[key] = description
            while len(self._descriptions) > _CACHE_SIZE:
                self._descriptions.popitem(last=False)
        return description

    def _check_union_types(
        self, cursor: duckdb.DuckDBPyConnection, query: str, sql: str, bound: dict[str, Any]
    ) -> None:
        """Refuse a `union` whose legs give a column of one name two types: Kusto keeps them apart (`x_long`,
        `x_string`), where DuckDB would merge them into one column of a common type, a wrong answer."""
        parsed = _split_ctes(sql)
        prelude = "WITH " + ", ".join(f"{name} AS ({body})" for name, body in parsed[0]) + " " if parsed else ""
        for legs in _union_groups(sql):
            types: dict[str, set[str]] = {}
            for leg in legs:
                try:
                    described = self._describe(cursor, query, prelude + leg, _bind(prelude + leg, bound))
                except (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException):
                    break  # a leg that cannot stand alone (it reads a nested WITH): the whole statement ran as is
                for name, duckdb_type in described:
                    if duckdb_type != "NULL":  # an untyped null takes the other legs' type, as in Kusto
                        types.setdefault(name, set()).add(la_type(duckdb_type))
            for name, kinds in types.items():
                if len(kinds) > 1:
                    apart = " and ".join(f"{name}_{kind}" for kind in sorted(kinds))
                    raise KqlQueryError(
                        400,
                        "UnsupportedError",
                        f"'union' of columns named {name} with different types ({', '.join(sorted(kinds))}) is not"
                        f" supported by this local Log Analytics (Log Analytics keeps them apart as {apart}).",
                    )

    def _python_functions_for(self, sql: str) -> None:
        """Create the functions computed in Python when `sql` is the first query to call one (a cursor sees
        functions created after it)."""
        if not self._python_functions and kql_python_functions.used_by(sql):
            with self._lock:
                if not self._python_functions:
                    kql_python_functions.register(self.connection)
                    self._python_functions = True

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self.connection.cursor()

    # -- translation --------------------------------------------------------------------------

    def _to_sql(self, text: str, schema: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
        functions: list[str] = []
        while True:
            try:
                result = duckdb_kql.to_sql(
                    text,
                    schema=schema,
                    database=_SOURCE_DB,
                    query_now=_PLACEHOLDER_NOW,
                    allow_write=False,
                    functions=functions or None,
                )
                return kql_lambdas.private_lambdas(str(result)), dict(result.parameters)
            except KqlUnsupportedError as error:
                lifted = _lift_refused_let(text, error)
                if lifted is None:
                    raise
                text = lifted[0]
                functions.append(lifted[1])

    def _translate(self, query: str, cursor: duckdb.DuckDBPyConnection) -> _Translation:
        with self._lock:
            cached = self._cache.get(query)
            if cached is not None:
                self._cache.move_to_end(query)
                return cached
        translation = self._translate_uncached(query, cursor)
        with self._lock:
            self._cache[query] = translation
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return translation

    def _translate_uncached(self, query: str, cursor: duckdb.DuckDBPyConnection) -> _Translation:
        if not query.strip():
            raise KqlQueryError(400, "SyntaxError", "The query is empty.", 1, 0)
        _check_bounds(query)
        try:
            return self._translate_checked(query, cursor)
        except RecursionError:
            raise KqlQueryError(
                400, "BadArgumentError", "The query is nested too deeply for this local Log Analytics."
            ) from None

    def _translate_checked(self, query: str, cursor: duckdb.DuckDBPyConnection) -> _Translation:
        query = _rewrite_bare_serialize(_rewrite_project_by_names(_rewrite_parse_kv(query)))
        diagnostics = duckdb_kql.validate(query)
        if diagnostics:
            first = diagnostics[0]
            raise KqlQueryError(
                400,
                "SyntaxError",
                f"Syntax error at line {first.span.line}, position {first.span.column}: {_concise(first.message)}",
                first.span.line,
                first.span.column,
            )
        body, kind, options = strip_render(query)
        render = RenderInfo(kind, options) if kind else None
        rewritten = _rewrite_leading_capture(_rewrite_make_limits(_rewrite_percentiles(_rewrite_count_of(body))))
        schema = self._translation_schema()
        try:
            series = _find_make_series(rewritten)
            if series is None:
                sql, parameters = self._to_sql(rewritten, schema)
            else:
                sql, parameters = self._make_series_sql(series, schema, cursor)
        except KqlSyntaxError as error:
            span = error.diagnostics[0].span if error.diagnostics else None
            raise KqlQueryError(
                400, "SyntaxError", str(error), span.line if span else None, span.column if span else None
            ) from None
        except KqlUnsupportedError as error:
            raise self._unsupported(query, error) from None
        except KqlSchemaError as error:
            raise KqlQueryError(400, "BadArgumentError", _schema_message(error)) from None
        except (AssertionError, AttributeError, IndexError, KeyError, TypeError, ValueError):
            # The translator tripped over a form it does not handle: refused with a sentence, never a 500.
            log.warning("KQL translation failed on a query the parser accepted", exc_info=True)
            raise KqlQueryError(
                400,
                "UnsupportedError",
                "This local Log Analytics cannot translate this query: it stops on a form it does not handle"
                " (such as a function with a tabular parameter called directly). Rewrite that part and try again.",
            ) from None
        tables = frozenset(match.group(1) for match in _SOURCE_PATTERN.finditer(sql) if match.group(1))
        _check_sources(sql)
        known = self._duckdb_schema()
        for table in sorted(tables):
            if table not in known:
                raise KqlQueryError(400, "BadArgumentError", f"Failed to resolve table expression named '{table}'.")
        uses_clock = _CLOCK_SLOT in parameters
        parameters.pop(_CLOCK_SLOT, None)
        return _Translation(_optimize_sql(sql), parameters, uses_clock, tables, render)

    def _unsupported(self, query: str, error: KqlUnsupportedError) -> KqlQueryError:
        if isinstance(error, kql_units.KqlRefusalError):
            return KqlQueryError(400, "UnsupportedError", error.sentence)
        construct = error.construct
        line = column = None
        if error.span is not None:
            line, column = error.span.line, error.span.column
        arity = _LET_ARITY.fullmatch(error.hint or "") or _FUNCTION_ARITY.match(error.hint or "")
        if construct.startswith(("let function:", "function:")) and arity is not None:
            low, given = arity["low"], arity["given"]
            high = arity.groupdict().get("high") or low
            wanted = low if low == high else f"{low} to {high}"
            return KqlQueryError(
                400,
                "BadArgumentError",
                f"The function {construct.split(':', 1)[1]} takes {wanted} argument(s); this call gives {given}.",
                line,
                column,
            )
            lines = query.splitlines()
            if 0 < line <= len(lines):
                words = re.match(r"evaluate\s+[A-Za-z_]+|[A-Za-z][A-Za-z0-9_-]*", lines[line - 1][column:])
                if words:
                    construct = words.group()
        elif ":" in construct:
            family, name = construct.split(":", 1)
            name = {kql_extensions.COUNT_OF: "count", TYPEOF: "typeof"}.get(name, name)
            construct = f"{name}()" if family in ("function", "aggregate") else name
        elif construct.endswith(("Operator", "OperatorPart")):
            construct = _camel_to_kql(construct.removesuffix("Part").removesuffix("Operator"))
        where = f" (line {line}, position {column})" if line is not None else ""
        return KqlQueryError(
            400,
            "UnsupportedError",
            f"'{construct}' is not supported by this local Log Analytics{where}.",
            line,
            column,
        )

    def _make_series_sql(
        self, series: _MakeSeries, schema: dict[str, list[str]], cursor: duckdb.DuckDBPyConnection
    ) -> tuple[str, dict[str, Any]]:
        axis = series.axis
        bounds = [f"let __ms_step = {series.step};"]
        if series.start is not None:
            bounds.append(f"let __ms_start = {series.start};")
        else:
            bounds.append(
                f"let __ms_start = toscalar({_strip_prelude(series)} | summarize __m = min({axis}) | "
                f"project bin(__m, __ms_step));"
            )
        if series.end is not None:
            bounds.append(f"let __ms_end = {series.end};")
        else:
            bounds.append(
                f"let __ms_end = toscalar({_strip_prelude(series)} "
                f"| summarize __m = max({axis}) | project bin(__m, __ms_step) + __ms_step);"
            )
        if re.fullmatch(r"\s*[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s*", series.step):
            raise KqlQueryError(
                400, "UnsupportedError", "make-series over a number axis is not supported by this local Log Analytics."
            )
        aggregates = ", ".join(text for text, _ in series.aggregates)
        by = "".join(f", {expr}" for expr in series.by)
        index = (
            f"{kql_extensions.SERIES_INDEX}({axis}, __ms_start, __ms_step)"
            if _TIMESPAN_STEP.fullmatch(series.step)
            else f"tolong(({axis} - __ms_start) / __ms_step)"
        )
        summarize = (
            f"{series.prelude}{' '.join(bounds)}\n{_strip_prelude(series)}\n"
            f"| where {axis} >= __ms_start and {axis} < __ms_end\n"
            f"| summarize {aggregates} by __ms_idx = {index}{by}"
            f", __ms_s = __ms_start, __ms_t = __ms_step, __ms_e = __ms_end"
        )
        aggregate_sql, parameters = self._to_sql(summarize, schema)
        plain = _SOURCE_PATTERN.sub(lambda m: m.group() if m.group(1) is None else _quote(m.group(1)), aggregate_sql)
        try:
            described = cursor.execute(f"DESCRIBE {plain}", _bind(plain, parameters)).fetchall()
        except duckdb.Error as error:
            raise _database_error(error) from None
        columns = [str(row[0]) for row in described]
        by_columns = columns[1 : 1 + len(series.by)]
        aggregate_columns = columns[4 + len(series.by) :]
        if len(aggregate_columns) != len(series.aggregates):
            raise KqlQueryError(400, "BadArgumentError", "make-series aggregations could not be resolved.")
        defaults: list[str] = []
        for _, default in series.aggregates:
            if default is None:
                defaults.append("0")
                continue
            default_sql, default_parameters = self._to_sql(f"print __d = {default}", schema)
            parameters.update(default_parameters)
            defaults.append(f'(SELECT "__d" FROM ({default_sql}))')
        quoted_by = [_quote(name) for name in by_columns]
        grid_keys = ", ".join([*quoted_by, '"__ms_s"', '"__ms_t"', '"__ms_e"'])
        join_on = " AND ".join(
            ['a."__ms_idx" = c."__ms_i"', *(f"a.{name} IS NOT DISTINCT FROM c.{name}" for name in quoted_by)]
        )
        filled = ", ".join(
            f"coalesce(a.{_quote(name)}, {default}) AS {_quote(name)}"
            for name, default in zip(aggregate_columns, defaults, strict=True)
        )
        lists = ", ".join(
            f'to_json(list({_quote(name)} ORDER BY "__ms_i")) AS {_quote(name)}' for name in aggregate_columns
        )
        axis_name = axis.strip() if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", axis.strip()) else "Axis"
        # Without `by`, no input rows means no series (one all-null row is what plain SQL gives),
        # unless kind=nonempty over a fixed range asks for one series of defaults.
        group = f"GROUP BY {', '.join(quoted_by)}" if quoted_by else 'HAVING count("__ms_i") > 0'
        grid = f"SELECT DISTINCT {grid_keys} FROM __ms_agg"
        if series.nonempty and not quoted_by and series.start is not None and series.end is not None:
            bounds_sql, bounds_parameters = self._to_sql(
                f"{series.prelude}{' '.join(bounds)}\nprint __ms_s = __ms_start, __ms_t = __ms_step, __ms_e = __ms_end",
                schema,
            )
            parameters.update(bounds_parameters)
            grid = bounds_sql
        select_by = "".join(f"{name}, " for name in quoted_by)
        series_sql = (
            f"WITH __ms_agg AS ({aggregate_sql}),\n"
            f"__ms_grid AS ({grid}),\n"
            f'__ms_cells AS (SELECT g.*, r."__ms_i" FROM __ms_grid g, '
            f'range(CAST(ceil(epoch(g."__ms_e" - g."__ms_s") / epoch(g."__ms_t")) AS BIGINT)) '
            f'AS r("__ms_i")),\n'
            f"__ms_filled AS (SELECT c.*, {filled} FROM __ms_cells c LEFT JOIN __ms_agg a ON {join_on})\n"
            f'SELECT {select_by}{lists}, to_json(list(strftime("__ms_s" + "__ms_t" * "__ms_i", '
            f"'%Y-%m-%dT%H:%M:%S.0000000Z') ORDER BY \"__ms_i\")) AS {_quote(axis_name)} "
            f"FROM __ms_filled {group}"
        )
        if not series.suffix.strip():
            return series_sql, parameters
        output = [*by_columns, *aggregate_columns, axis_name]
        suffix_sql, suffix_parameters = self._to_sql(
            f"{series.prelude}{_SERIES_SOURCE} | {series.suffix}",
            {**schema, _SERIES_SOURCE: output, f"{_SOURCE_DB}.{_SERIES_SOURCE}": output},
        )
        parameters.update(suffix_parameters)
        marker = f'"{_SOURCE_DB}"."{_SERIES_SOURCE}"'
        return suffix_sql.replace(marker, f"({series_sql})"), parameters

    # -- execution ----------------------------------------------------------------------------

    def execute(
        self,
        query: str,
        *,
        timespan: tuple[dt.datetime, dt.datetime] | None,
        now: dt.datetime,
        row_cap: int = 500_000,
        size_cap_bytes: int = 64 * 1024 * 1024,
        timeout_s: float = 60.0,
        resource_scope: str | None = None,
    ) -> QueryOutcome:
        """Run a KQL query and shape its result as the Log Analytics query API does.

        `timespan` filters `TimeGenerated` of every table the query reads; `resource_scope` (an
        ARM resource id) keeps only rows whose `_ResourceId` is that resource or below it, as a
        resource-centric query does. Raises `KqlQueryError` for a query the service refuses or one
        that runs past `timeout_s`.
        """
        unpack = _trailing_bag_unpack(query) if "bag_unpack" in query else None
        if unpack is not None:
            before = self.execute(
                unpack[0],
                timespan=timespan,
                now=now,
                row_cap=row_cap,
                size_cap_bytes=size_cap_bytes,
                timeout_s=timeout_s,
                resource_scope=resource_scope,
            )
            try:
                return unpack[1].apply(before)
            except BagUnpackError as refused:
                raise KqlQueryError(400, "UnsupportedError", str(refused)) from None
        cursor = self._cursor()
        token: int | None = None
        try:
            translation = self._translate(query, cursor)
            sql = _resolve_sources(translation, timespan, self._duckdb_schema(), resource_scope is not None)
            self._python_functions_for(sql)
            parameters = dict(translation.parameters)
            if resource_scope is not None:
                parameters[_SCOPE] = resource_scope.lower().rstrip("/")
            if translation.uses_clock:
                parameters[_CLOCK_SLOT] = naive_utc(now)
            if timespan is not None:
                parameters[_TIMESPAN_FROM] = naive_utc(timespan[0])
                parameters[_TIMESPAN_TO] = naive_utc(timespan[1])
            if not math.isfinite(timeout_s) or timeout_s <= 0:
                raise KqlQueryError(400, "BadArgumentError", "The query timeout must be a positive number of seconds.")
            token = self._watchdog.watch(cursor, timeout_s)
            try:
                bound = _bind(sql, parameters)
                description = self._describe(cursor, query, sql, bound)
                if _UNION in sql:
                    self._check_union_types(cursor, query, sql, bound or {})
                try:
                    answer = cursor.sql(_row_json_sql(sql, description, row_cap + 1), params=bound)
                    outcome = _collect(answer, description, translation.render, row_cap, size_cap_bytes)
                except duckdb.InvalidInputException as error:
                    if kql_extensions.OVERFLOW_MARKER not in str(error):
                        raise
                    # The weights overflowed: answer anyway, with the data and Kusto's partial error.
                    unchecked = sql.replace(kql_extensions.WEIGHTED_CHECKED, kql_extensions.WEIGHTED_UNCHECKED)
                    answer = cursor.sql(_row_json_sql(unchecked, description, row_cap + 1), params=bound)
                    outcome = _collect(answer, description, translation.render, row_cap, size_cap_bytes)
                    outcome = replace(outcome, error=outcome.error or partial_error(E_OVERFLOW, _OVERFLOW_MESSAGE))
                try:
                    wide = pivot_reshape(outcome.columns, outcome.rows_json, outcome.truncated)
                except kql_units.KqlRefusalError as refused:
                    raise KqlQueryError(400, "UnsupportedError", refused.sentence) from None
                if wide is not None:
                    outcome = replace(outcome, columns=wide[0], rows_json=encode_rows(wide[1]), row_count=len(wide[1]))
                return replace(outcome, sources=translation.tables)
            except duckdb.InterruptException:
                raise QueryTimeoutError(timeout_s) from None
            except duckdb.Error as error:
                raise _database_error(error, query) from None
        finally:
            if token is not None:
                self._watchdog.release(token)
            cursor.close()


# Kusto's engine error codes, as Log Analytics passes them on in `innererror.code`: the HRESULT,
# signed, in decimal (E_QUERY_RESULT_SET_TOO_LARGE is 0x80DA0003, E_OVERFLOW 0x80DA000C).
E_QUERY_RESULT_SET_TOO_LARGE = "-2133196797"
E_OVERFLOW = "-2133196788"
_OVERFLOW_MESSAGE = (
    "Percentiles aggregator has encountered an overflow exception during evaluation (probably due to large weight "
    "expression). Results may be incorrect or incomplete (E_OVERFLOW; see https://aka.ms/kustoqueryfailures)."
)


def partial_error(engine_code: str, message: str) -> dict[str, Any]:
    """The top-level `error` beside `tables` when the engine answered with data and an error, shaped as
    Log Analytics sends it (the SDK turns it into a LogsQueryPartialResult)."""
    return {
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": [
            {
                "code": "EngineError",
                "message": "Something went wrong processing your query on the server.",
                "innererror": {"code": engine_code, "message": message, "severity": 2, "severityName": "Error"},
            }
        ],
    }


_BATCH_ROWS = 8192
"""Rows per Arrow batch read from an answer (about 5 MB of encoded text for a wide table)."""


def _collect(
    answer: duckdb.DuckDBPyRelation | None,
    description: list[tuple[str, str]],
    render: RenderInfo | None,
    row_cap: int,
    size_cap_bytes: int,
) -> QueryOutcome:
    """Read the encoded rows as Arrow batches until the row or size cap: the text is sliced out of each batch's
    buffer as it is, never turned into a Python string per row."""
    import numpy as np
    import pyarrow as pa

    columns = [{"name": name, "type": la_type(kind)} for name, kind in description]
    chunks: list[bytes] = []
    count = 0
    used = 2  # the brackets around the rows
    cut: str | None = None
    assert answer is not None  # a query only reads, so it gives a relation
    for batch in answer.to_arrow_reader(_BATCH_ROWS):
        text = batch.column(0)
        offset_type = np.dtype(np.int64 if pa.types.is_large_string(text.type) else np.int32)
        _, offsets_buffer, data = text.buffers()
        offsets = np.frombuffer(
            offsets_buffer, dtype=offset_type, count=len(text) + 1, offset=text.offset * offset_type.itemsize
        )
        ends = used + (offsets[1:] - offsets[0])  # each row's text ends in its separating comma
        fit = int(np.searchsorted(ends, size_cap_bytes, side="right"))
        take = min(fit, row_cap - count)
        if take < len(text):
            cut = (
                f"record count limit {row_cap:,} records"
                if take == row_cap - count
                else f"data size limit {size_cap_bytes:,} bytes"
            )
        if take:
            start, stop = int(offsets[0]), int(offsets[take])
            chunks.append(data.slice(start, stop - start).to_pybytes())
            used = int(ends[take - 1])
            count += take
        if cut:
            break
    rows_json = b"".join(chunks)[:-1]  # without the last row's comma
    error = None
    if cut:
        message = (
            f"Query result set has exceeded the internal {cut}; the result was truncated to {count:,} rows "
            "(E_QUERY_RESULT_SET_TOO_LARGE; see https://aka.ms/kustoqueryfailures)."
        )
        error = partial_error(E_QUERY_RESULT_SET_TOO_LARGE, message)
    return QueryOutcome(
        columns=columns, rows_json=rows_json, row_count=count, error=error, render=render, truncated=cut is not None
    )


def _strip_prelude(series: _MakeSeries) -> str:
    return series.prefix[len(series.prelude) :]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def naive_utc(value: dt.datetime) -> dt.datetime:
    """A datetime as the naive UTC the telemetry tables hold."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _bind(sql: str, parameters: dict[str, Any]) -> dict[str, Any] | None:
    """Only the parameters the SQL mentions: DuckDB refuses values bound to no placeholder."""
    bound = {name: value for name, value in parameters.items() if f"${name}" in sql}
    return bound or None


def _resolve_sources(
    translation: _Translation,
    timespan: tuple[dt.datetime, dt.datetime] | None,
    schema: dict[str, list[tuple[str, str]]],
    scoped: bool,
) -> str:
    """Replace each marked table source with the table, filtered by timespan and resource scope."""

    def replace(match: re.Match[str]) -> str:
        table = match.group(1)
        if table is None:
            return match.group()
        quoted = _quote(table.replace('""', '"'))
        columns = {column for column, _ in schema.get(table, [])}
        conditions = []
        if timespan is not None and _TIME_COLUMN in columns:
            conditions.append(f'"{_TIME_COLUMN}" >= ${_TIMESPAN_FROM} AND "{_TIME_COLUMN}" < ${_TIMESPAN_TO}')
        if scoped:
            # A table with no resource column holds nothing a resource-centric query may see.
            conditions.append(
                f'("_ResourceId" = ${_SCOPE} OR starts_with("_ResourceId", ${_SCOPE} || \'/\'))'
                if "_ResourceId" in columns
                else "false"
            )
        if not conditions:
            return quoted
        return f"(SELECT * FROM {quoted} WHERE {' AND '.join(conditions)})"

    return _SOURCE_PATTERN.sub(replace, translation.sql)


def _check_bounds(query: str) -> None:
    """Refuse control commands and input too large or too deep to translate quickly."""
    if len(query) > MAX_QUERY_CHARS:
        raise KqlQueryError(
            400,
            "BadArgumentError",
            f"The query is {len(query):,} characters long; this local Log Analytics takes up to {MAX_QUERY_CHARS:,}.",
        )
    tokens = _tokens(query)
    for statement in _split_top(tokens, ";"):
        if statement and statement[0].text == "." and statement[0].depth == 0:
            raise KqlQueryError(
                400,
                "BadArgumentError",
                "Control commands (such as .create, .attach, .set or .show) are not allowed: "
                "the Log Analytics query API is read-only.",
                *_line_and_column(query, statement[0].start),
            )
    if len(tokens) > MAX_TOKENS:
        raise KqlQueryError(
            400, "BadArgumentError", f"The query has more than {MAX_TOKENS:,} tokens; split it into smaller queries."
        )
    deepest = max((token.depth for token in tokens), default=0)
    if deepest > MAX_NESTING:
        raise KqlQueryError(
            400,
            "BadArgumentError",
            f"The query nests brackets {deepest} deep; this local Log Analytics takes {MAX_NESTING}.",
        )
    pipes = sum(1 for token in tokens if token.text == "|")
    if pipes > MAX_OPERATORS:
        raise KqlQueryError(
            400, "BadArgumentError", f"The query has {pipes} operators; this local Log Analytics takes {MAX_OPERATORS}."
        )


def _line_and_column(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1)


def _check_sources(sql: str) -> None:
    """A query reads only the workspace's tables: refuse any other database or catalog it names."""
    try:
        names = duckdb.get_table_names(sql, qualified=True)
    except duckdb.Error:
        names = set()
    for name in sorted(names):
        qualified = name.split(" AS ")[0].replace('"', "")
        if not qualified.startswith(f"{_SOURCE_DB}."):
            raise KqlQueryError(
                400,
                "BadArgumentError",
                f"'{qualified}' is outside this workspace: a query reads only the workspace's own tables.",
            )


def _schema_message(error: KqlSchemaError) -> str:
    hint = (error.hint or "").split(";")[0]
    return f"'{error.name}': {hint}." if hint else f"'{error.name}' could not be resolved."


_UNKNOWN_NAME = re.compile(
    r'column "([^"]+)" not found'
    r'|Alias with name "([^"]+)" exists, but aliases cannot be used'
    r'|Column "([^"]+)" referenced that exists in the SELECT clause'
    r'|Column "([^"]+)" in EXCLUDE list not found',
    re.IGNORECASE,
)


def _name_position(query: str | None, name: str) -> tuple[int | None, int | None]:
    """Line and column (1-based line, 0-based column) of the first use of `name` as a word."""
    if query is None:
        return None, None
    for token in _tokens(query):
        if token.kind == "word" and token.text == name:
            return _line_and_column(query, token.start)
    return None, None


def _database_error(error: duckdb.Error, query: str | None = None) -> KqlQueryError:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    message = re.sub(r"^[A-Za-z ]+Error: ", "", message)
    if isinstance(error, (duckdb.BinderException, duckdb.CatalogException)):
        found = _UNKNOWN_NAME.search(message)
        if found:
            name = next(group for group in found.groups() if group)
            line, column = _name_position(query, name)
            where = f" (line {line}, position {column})" if line is not None else ""
            return KqlQueryError(
                400, "BadArgumentError", f"Failed to resolve scalar expression named '{name}'{where}.", line, column
            )
        return KqlQueryError(400, "BadArgumentError", message)
    if isinstance(error, (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.OutOfRangeException)):
        return KqlQueryError(400, "BadArgumentError", message)
    if isinstance(error, duckdb.OutOfMemoryException):
        return KqlQueryError(
            400,
            "BadArgumentError",
            f"The query needs more than the {MEMORY_LIMIT} of memory this local Log Analytics gives one query.",
        )
    if isinstance(error, duckdb.PermissionException):
        return KqlQueryError(
            400, "BadArgumentError", "The query asks for files or extensions, which are not available."
        )
    if isinstance(error, (duckdb.ParserException, duckdb.NotImplementedException, duckdb.SyntaxException)):
        return KqlQueryError(400, "BadArgumentError", message)
    return KqlQueryError(500, "InternalServerError", f"The query failed while running: {message}")
