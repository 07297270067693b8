"""Serialized row sets for the local Log Analytics: the `serialize` operator and the functions that read
neighbouring rows (`row_number`, `prev`, `next`, `row_cumsum`, `row_rank_min`, `row_rank_dense`,
`row_window_session`).

Kusto allows those functions only where the row set is serialized: after `serialize`, `sort`/`order`,
`top` or a `range` source, through the operators that keep the order, and refuses them elsewhere. Here
the query's operators (the library's IR, before it is rendered) are checked in that order, and an
`extend` (or `serialize Name = Expr`) that uses them becomes `SerialExtend`: its input is numbered in
its own order (`row_number() OVER ()`, which DuckDB computes as a streaming window in input order),
every window is `OVER (ORDER BY that number)`, and the output is sorted by it again. The library's
entry points (`lower._lower_operator`, `translate._render_query`, `translate.render_operator`,
`schema._operator_columns_unchecked`, `translate._SPECIAL_FORMS`) are wrapped, not copied.

`T | as X | ...` is here too: the query is cut at `as`, and what came before becomes a `let X`, which the
rest (and its subqueries) read; a union leg ending with `as X` is labelled `X` in its `withsource=` column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import lower as kql_lower
from duckdb_kql import schema as kql_schema
from duckdb_kql import translate as kql_translate
from duckdb_kql.translate import naming as kql_naming

from console.emulator.kql_units import KqlRefusalError

__all__ = [
    "BARE_SERIALIZE",
    "DEFAULT_DATABASE",
    "ROW_FUNCTIONS",
    "LabelledUnion",
    "NameAs",
    "SerialExtend",
    "Serialize",
    "install_serialize",
]

# The grammar needs `serialize` to name at least one column; a bare `serialize` reaches the lowering as
# `serialize __kql_bare_serialize = 0` (the engine rewrites the token so) and means no column.
BARE_SERIALIZE = "__kql_bare_serialize"
# The database the engine lowers unqualified table names into; a name bound by `as` is read instead.
DEFAULT_DATABASE = "__la_source"
ROW_FUNCTIONS = ("row_number", "prev", "next", "row_cumsum", "row_rank_min", "row_rank_dense", "row_window_session")

_SERIAL = "__kql_serial"
_GROUP = "__kql_restart_group"
_FLAG = "__kql_restart_flag"
_WINDOW = f"OVER (ORDER BY {_SERIAL})"
_RUNNING = f"OVER (ORDER BY {_SERIAL} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
_MARK = "__kql_serialize__"
# row_rank_min/row_rank_dense read these columns, computed before the extend: the row's number in its group
# (`n`), its term (`t`), whether the term changed from the row before (`c`) and the term's first row number (`f`).
_RANK = "__kql_rank_"
_RANK_MIN = "__kql_rank_min"
_RANK_DENSE = "__kql_rank_dense"
_SESSION = "__kql_session"
_COMPUTED = "__kql_computed"
_NULL_TERM = "row_cumsum(): a null term is not supported by this local Log Analytics."
_SERIALIZING = (kql_ir.Sort, kql_ir.Top, kql_ir.GetSchema)
_UNSERIALIZING = ("Summarize", "Count", "Distinct", "Join", "Lookup", "Union", "MvExpand", "MvApply")


@dataclass(frozen=True)
class Serialize(kql_ir.Operator):
    """`serialize [Name = Expr, ...]`: marks the row set serialized, then extends it like `extend`."""

    expressions: tuple[kql_ir.NamedExpr, ...]


@dataclass(frozen=True)
class NameAs(kql_ir.Operator):
    """`as Name`: the row set so far, bound to `Name` for the rest of the query (as a `let` would)."""

    name: str


_Session = tuple[kql_ir.Expr, kql_ir.Expr, kql_ir.Expr, int]
SESSION_ROW_LIMIT = 100_000
"""The most rows row_window_session follows (it walks them one by one)."""


def _session_source(source: str, index: int, session: _Session) -> str:
    """`source` with a column of row_window_session's answer: a recursive walk over the rows in their order, a new
    session starting at the first row, after a restart, or where the value reaches the session's start plus the
    first maximum or the previous value plus the second."""
    value, first, between = _plain("row_window_session", list(session[:3]))
    group = session[3]
    restart = (
        "false" if group < 0 else f"{_GROUP}{group} IS DISTINCT FROM lag({_GROUP}{group}) OVER (ORDER BY {_SERIAL})"
    )
    null = "row_window_session(): a null value is not supported by this local Log Analytics."
    limit = f"row_window_session(): more than {SESSION_ROW_LIMIT:,} rows are not supported by this local Log Analytics."
    rows = (
        f"SELECT CASE WHEN {_SERIAL} > {SESSION_ROW_LIMIT} THEN error('{limit}') ELSE {_SERIAL} END AS n, "
        f"CASE WHEN ({value}) IS NULL THEN error('{null}') ELSE ({value}) END AS v, "
        f"({first}) AS f, ({between}) AS b, {restart} AS r FROM __ws_src"
    )
    walk = (
        "SELECT n, v, v AS s FROM __ws_in WHERE n = 1 UNION ALL "
        "SELECT i.n, i.v, CASE WHEN i.r OR i.v >= p.s + i.f OR i.v >= p.v + i.b THEN i.v ELSE p.s END "
        "FROM __ws_rec AS p JOIN __ws_in AS i ON i.n = p.n + 1"
    )
    return (
        f"(WITH RECURSIVE __ws_src AS MATERIALIZED (SELECT * FROM {source}), __ws_in AS MATERIALIZED ({rows}), "
        f"__ws_rec AS ({walk}) SELECT __ws_src.*, __ws_rec.s AS {_SESSION}{index} FROM __ws_src "
        f"JOIN __ws_rec ON __ws_rec.n = __ws_src.{_SERIAL} ORDER BY __ws_src.{_SERIAL})"
    )


@dataclass(frozen=True)
class SerialExtend(kql_ir.Operator):
    """An `extend` over a serialized row set whose expressions read neighbouring rows. `restarts` are the
    restart conditions of `row_number`/`row_cumsum`, each computed (and counted into a group number)
    before the extend, whose calls read group `i` through `_GROUP`."""

    inner: kql_ir.Extend
    restarts: tuple[kql_ir.Expr, ...] = ()
    ranks: tuple[tuple[kql_ir.Expr, int], ...] = ()
    """The terms of row_rank_min/row_rank_dense, each with its restart group (-1: none)."""
    sessions: tuple[_Session, ...] = ()
    """The arguments of row_window_session (value, max from first, max between neighbours, restart group)."""

    def _hidden(self) -> list[str]:
        ranks = [f"{_RANK}{part}{i}" for i in range(len(self.ranks)) for part in "ntcf"]
        sessions = [f"{_SESSION}{i}" for i in range(len(self.sessions))]
        return [_SERIAL, *(f"{_GROUP}{i}" for i in range(len(self.restarts))), *ranks, *sessions]

    def render(self, prev: str, cols: list[str] | None) -> str:
        """SQL over `prev` (whose columns are `cols`, when known), in `prev`'s order."""
        hidden = self._hidden()
        if any(name in (cols or ()) for name in hidden) or any(e.name in hidden for e in self.inner.expressions):
            raise KqlRefusalError("A column name starting with __kql_ is reserved by this local Log Analytics.")
        source = f"(SELECT *, row_number() OVER () AS {_SERIAL} FROM {prev})"
        if self.restarts:
            flags = ", ".join(
                f"coalesce(({kql_translate.render_expr(restart)}) IS TRUE, false) AS {_FLAG}{i}"
                for i, restart in enumerate(self.restarts)
            )
            groups = ", ".join(
                f"sum(CASE WHEN {_FLAG}{i} THEN 1 ELSE 0 END) {_RUNNING} AS {_GROUP}{i}"
                for i in range(len(self.restarts))
            )
            dropped = ", ".join(f"{_FLAG}{i}" for i in range(len(self.restarts)))
            source = f"(SELECT * EXCLUDE ({dropped}), {groups} FROM (SELECT *, {flags} FROM {source}))"
        for i, (term, group) in enumerate(self.ranks):
            within = _partition(group)
            numbered = (
                f"SELECT *, row_number() OVER ({within}ORDER BY {_SERIAL}) AS {_RANK}n{i}, "
                f"({_checked_term(_plain('row_rank', [term])[0])}) AS {_RANK}t{i} FROM {source}"
            )
            by_term = f"PARTITION BY {'' if group < 0 else f'{_GROUP}{group}, '}{_RANK}t{i}"
            source = (
                f"(SELECT *, ({_RANK}n{i} = 1 OR {_RANK}t{i} IS DISTINCT FROM lag({_RANK}t{i}) "
                f"OVER ({within}ORDER BY {_SERIAL})) AS {_RANK}c{i}, min({_RANK}n{i}) OVER ({by_term}) AS {_RANK}f{i} "
                f"FROM ({numbered}))"
            )
        for i, session in enumerate(self.sessions):
            source = _session_source(source, i, session)
        extended = kql_translate.render_operator(self.inner, source, None if cols is None else [*cols, *hidden])
        return f"SELECT * EXCLUDE ({', '.join(hidden)}) FROM ({extended}) ORDER BY {_SERIAL}"


def _restart_position(call: kql_ir.FunctionCall) -> int | None:
    """Where a row function's restart condition is among its arguments, when it has one."""
    if call.name == "row_window_session":
        return 3 if len(call.args) == 4 else None
    if call.name in ("row_number", "row_cumsum", "row_rank_min", "row_rank_dense") and len(call.args) == 2:
        return 1
    return None


def _restarting(call: kql_ir.FunctionCall) -> bool:
    return _restart_position(call) is not None


def _partition(group: int) -> str:
    return "" if group < 0 else f"PARTITION BY {_GROUP}{group} "


def _lift_ranks(value: Any, ranks: list[tuple[kql_ir.Expr, int]], sessions: list[_Session]) -> Any:
    """`value` with each row_rank_min/row_rank_dense call replaced by a read of its term's columns, and each
    row_window_session call by a read of its session column."""
    if isinstance(value, kql_ir.Query):
        return value
    if isinstance(value, kql_ir.FunctionCall) and value.name == "row_window_session":
        if len(value.args) not in (3, 4):
            raise KqlRefusalError(f"row_window_session(): expected 3 or 4 arguments, got {len(value.args)}.")
        group = -1
        if len(value.args) == 4:
            restart = value.args[3]
            if not isinstance(restart, kql_ir.FunctionCall) or restart.name != _GROUP:
                raise KqlRefusalError("row_window_session(): a restart condition is supported here only in extend.")
            group = _constant_int(restart.args[0], value.name, "group")
        sessions.append((value.args[0], value.args[1], value.args[2], group))
        return kql_ir.ColumnRef(f"{_SESSION}{len(sessions) - 1}")
    if isinstance(value, kql_ir.FunctionCall) and value.name in ("row_rank_min", "row_rank_dense"):
        if not 1 <= len(value.args) <= 2:
            raise KqlRefusalError(f"{value.name}(): expected 1 or 2 arguments, got {len(value.args)}.")
        group = -1
        if len(value.args) == 2:
            restart = value.args[1]
            if not isinstance(restart, kql_ir.FunctionCall) or restart.name != _GROUP:
                raise KqlRefusalError(f"{value.name}(): a restart condition is supported here only in extend.")
            group = _constant_int(restart.args[0], value.name, "group")
        ranks.append((value.args[0], group))
        name = _RANK_MIN if value.name == "row_rank_min" else _RANK_DENSE
        index = kql_ir.Literal(len(ranks) - 1, "long")
        return kql_ir.FunctionCall(name, (index, kql_ir.Literal(group, "long")))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _lift_ranks(getattr(value, f.name), ranks, sessions) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_lift_ranks(item, ranks, sessions) for item in value)
    if isinstance(value, list):
        return [_lift_ranks(item, ranks, sessions) for item in value]
    return value


def _unlifted_rank(name: str) -> Callable[[Any], str]:
    def render(node: Any) -> str:
        raise KqlRefusalError(
            f"{name}() is supported by this local Log Analytics only in `extend`, `project`, `where` or `serialize`."
        )

    return render


def _checked_term(value: str) -> str:
    """A rank's term, refused where it is null: the documentation does not say how a null ranks."""
    refusal = "row_rank_min() and row_rank_dense(): a null term is not supported by this local Log Analytics."
    return f"CASE WHEN ({value}) IS NULL THEN error('{refusal}') ELSE ({value}) END"


def _render_rank(name: str) -> Callable[[Any], str]:
    def render(node: Any) -> str:
        index = _constant_int(node.args[0], name, "rank")
        group = _constant_int(node.args[1], name, "group")
        running = f"OVER ({_partition(group)}ORDER BY {_SERIAL} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        if name == _RANK_DENSE:
            return f"CAST(sum(CASE WHEN {_RANK}c{index} THEN 1 ELSE 0 END) {running} AS BIGINT)"
        run = f"max(CASE WHEN {_RANK}c{index} THEN {_RANK}n{index} END) {running}"
        # The documentation's "minimal row number the term appears in" and "the row number where its run of equal
        # terms began" agree unless a term comes back after another: then the answer is not certain.
        again = (
            "row_rank_min(): a term that comes back after a different one is not supported by this local Log "
            "Analytics; sort by it first."
        )
        return f"CASE WHEN {run} <> {_RANK}f{index} THEN error('{again}') ELSE CAST({run} AS BIGINT) END"

    return render


def _lift_restarts(value: Any, restarts: list[kql_ir.Expr]) -> Any:
    """`value` with each restart condition replaced by a read of its group number (appended to `restarts`)."""
    if isinstance(value, kql_ir.Query):
        return value
    position = _restart_position(value) if isinstance(value, kql_ir.FunctionCall) else None
    if isinstance(value, kql_ir.FunctionCall) and position is not None:
        condition = value.args[position]
        if any(_restarting(call) for call in _calls(condition)):
            raise KqlRefusalError(
                f"{value.name}(): a restart condition that restarts itself is not supported by this local Log "
                "Analytics."
            )
        restarts.append(condition)
        group = kql_ir.FunctionCall(_GROUP, (kql_ir.Literal(len(restarts) - 1, "long"),))
        leading = tuple(_lift_restarts(arg, restarts) for arg in value.args[:position])
        return dataclasses.replace(value, args=(*leading, group))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _lift_restarts(getattr(value, f.name), restarts) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_lift_restarts(item, restarts) for item in value)
    if isinstance(value, list):
        return [_lift_restarts(item, restarts) for item in value]
    return value


def _serial_extend(op: kql_ir.Extend) -> SerialExtend:
    restarts: list[kql_ir.Expr] = []
    ranks: list[tuple[kql_ir.Expr, int]] = []
    sessions: list[_Session] = []
    lifted = _lift_ranks(_lift_restarts(op, restarts), ranks, sessions)
    return SerialExtend(lifted, tuple(restarts), tuple(ranks), tuple(sessions))


def _calls(value: Any) -> Iterator[kql_ir.FunctionCall]:
    """Every function call inside an IR value (not inside nested queries, which are checked on their own)."""
    if isinstance(value, kql_ir.Query):
        return
    if isinstance(value, kql_ir.FunctionCall):
        yield value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _calls(getattr(value, field.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _calls(item)


def _row_function(op: Any) -> str | None:
    return next((call.name for call in _calls(op) if call.name in ROW_FUNCTIONS), None)


def _not_serialized(name: str) -> KqlRefusalError:
    return KqlRefusalError(
        f"Function '{name}' cannot be invoked in current context. Details: the row set must be serialized"
    )


def _serialized_operators(query: kql_ir.Query) -> list[kql_ir.Operator]:
    """The query's operators, with each `extend` that reads neighbouring rows made a `SerialExtend`; a
    function used where the row set is not serialized, or in an operator other than `extend`, is refused."""
    serialized = isinstance(query.source, kql_ir.RangeSource)
    out: list[kql_ir.Operator] = []
    for op in query.operators:
        if isinstance(op, SerialExtend):
            out.append(op)
            continue
        if isinstance(op, Serialize):
            serialized = True
            if not op.expressions:
                continue
            op = kql_ir.Extend(op.expressions)
        elif isinstance(op, _SERIALIZING):
            serialized = True
        name = _row_function(op)
        if name is not None:
            if not serialized:
                raise _not_serialized(name)
            if isinstance(op, (kql_ir.Project, kql_ir.Where)):
                out.extend(_through_extend(op))
                continue
            if not isinstance(op, kql_ir.Extend):
                raise KqlRefusalError(
                    f"{name}() is supported by this local Log Analytics only in `extend`, `project`, `where` or "
                    "`serialize`."
                )
            op = _serial_extend(op)
        if type(op).__name__ in _UNSERIALIZING:
            serialized = False
        out.append(op)
    return out


def _through_extend(op: kql_ir.Project | kql_ir.Where) -> list[kql_ir.Operator]:
    """A `project` or `where` that reads neighbouring rows, as an `extend` of hidden columns (which keeps the
    serialized order) followed by the same operator over those columns."""
    if isinstance(op, kql_ir.Where):
        computed = kql_ir.Extend((kql_ir.NamedExpr(op.predicate, _COMPUTED),))
        return [
            _serial_extend(computed),
            kql_ir.Where(kql_ir.ColumnRef(_COMPUTED)),
            kql_ir.ProjectAway((_COMPUTED,)),
        ]
    names = kql_naming.project_names(op.expressions)
    hidden = [f"{_COMPUTED}{i}" for i in range(len(names))]
    computed = kql_ir.Extend(tuple(kql_ir.NamedExpr(e.expr, h) for e, h in zip(op.expressions, hidden, strict=True)))
    picked = kql_ir.Project(tuple(kql_ir.NamedExpr(kql_ir.ColumnRef(h), n) for h, n in zip(hidden, names, strict=True)))
    return [_serial_extend(computed), picked]


def _constant_int(node: Any, name: str, what: str) -> int:
    if isinstance(node, kql_ir.Literal) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return int(node.value)
    raise KqlRefusalError(f"{name}(): the {what} must be a constant integer.")


def _render_neighbour(name: str, sql_function: str) -> Callable[[Any], str]:
    def render(node: Any) -> str:
        args = list(node.args)
        if not 1 <= len(args) <= 3:
            raise KqlRefusalError(f"{name}(): expected 1 to 3 arguments, got {len(args)}.")
        offset = _constant_int(args[1], name, "offset") if len(args) > 1 else 1
        if not 0 <= offset <= 1_000_000:
            raise KqlRefusalError(f"{name}(): the offset must be between 0 and 1000000.")
        value, *rest = _plain(name, [args[0], *args[2:]])
        default = f", {rest[0]}" if rest else ""
        return f"{sql_function}({value}, {offset}{default}) {_WINDOW}"

    return render


def _window(name: str, args: list[Any]) -> str:
    """The window of a row function: its restart group (a lifted restart condition) if it has one."""
    if len(args) < 2:
        return _WINDOW
    group = args[1]
    if not isinstance(group, kql_ir.FunctionCall) or group.name != _GROUP:
        raise KqlRefusalError(f"{name}(): a restart condition is supported by this local Log Analytics only in extend.")
    index = _constant_int(group.args[0], name, "group")
    return f"OVER (PARTITION BY {_GROUP}{index} ORDER BY {_SERIAL})"


def _plain(name: str, args: list[Any]) -> list[str]:
    """The arguments rendered, refused when one reads neighbouring rows itself (SQL cannot nest windows)."""
    if _row_function(args) is not None:
        raise KqlRefusalError(
            f"{name}(): an argument that itself reads neighbouring rows is not supported by this local Log Analytics."
        )
    return [kql_translate.render_expr(arg) for arg in args]


def _render_row_number(node: Any) -> str:
    args = list(node.args)
    if len(args) > 2:
        raise KqlRefusalError(f"row_number(): expected at most 2 arguments, got {len(args)}.")
    start = f"{_constant_int(args[0], 'row_number', 'starting index')} - 1 + " if args else ""
    return f"({start}row_number() {_window('row_number', args)})"


def _render_row_cumsum(node: Any) -> str:
    args = list(node.args)
    if not 1 <= len(args) <= 2:
        raise KqlRefusalError(f"row_cumsum(): expected 1 or 2 arguments, got {len(args)}.")
    term = _plain("row_cumsum", args[:1])[0]
    # What Kusto adds for a null term is not documented: refused rather than guessed.
    checked = f"CASE WHEN ({term}) IS NULL THEN error('{_NULL_TERM}') ELSE ({term}) END"
    return f"sum({checked}) {_window('row_cumsum', args)}"


def _lower_as(node: Any) -> NameAs:
    kids = kql_lower._rule_children(node)
    for kid in kids[:-1]:
        text = str(kid.getText()).replace(" ", "").lower()
        if text not in ("hint.materialized=true", "hint.materialized=false"):
            raise KqlRefusalError(f"as: the parameter {kid.getText()} is not supported by this local Log Analytics.")
    names = kql_lower._find_names(kids[-1]) if kids else []
    if len(names) != 1:
        raise KqlRefusalError("as: expected one name.")
    return NameAs(names[0])


def _read_bound(value: Any, name: str) -> Any:
    """`value` with each unqualified read of table `name` made a read of the row set bound to it."""
    if isinstance(value, kql_ir.TableRef):
        unqualified = value.cluster is None and value.database in (None, DEFAULT_DATABASE)
        return kql_ir.TableRef(name) if unqualified and value.name == name else value
    if isinstance(value, kql_ir.Query) and any(bound == name for bound, _ in value.lets):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _read_bound(getattr(value, f.name), name) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_read_bound(item, name) for item in value)
    if isinstance(value, list):
        return [_read_bound(item, name) for item in value]
    return value


@dataclass(frozen=True)
class LabelledUnion(kql_ir.Union):
    """A `union withsource=` whose left leg ends with `as Name`: the leg's rows are labelled `Name`."""

    left_label: str = ""


def _labelled_unions(operators: list[kql_ir.Operator]) -> list[kql_ir.Operator]:
    """`... | as X | union withsource=S (... | as Y)`: each leg labelled by its `as`. A leg's `as` stays on the
    leg (read by `_branch_arms`); the left leg's moves into the union, unless something after it reads `X`."""
    out: list[kql_ir.Operator] = []
    for index, op in enumerate(operators):
        if not isinstance(op, kql_ir.Union) or op.with_source is None:
            out.append(op)
            continue
        for branch in op.branches:
            if any(isinstance(o, NameAs) for o in branch.operators[:-1]):
                raise KqlRefusalError("as: naming a union's legs is supported only as a leg's last operator here.")
        before = out[-1] if out else None
        if isinstance(before, NameAs):
            rest = operators[index:]
            if _read_bound(rest, before.name) != rest:
                raise KqlRefusalError(
                    "as: a union leg's name read again later is not supported by this local Log Analytics."
                )
            out[-1] = LabelledUnion(op.branches, op.kind, op.with_source, op.isfuzzy, before.name)
            continue
        out.append(op)
    return out


def _bind_names(query: kql_ir.Query) -> kql_ir.Query:
    """`S | ops | as X | more` as `let X = S | ops; X | more` (each `as` in turn)."""
    operators = _labelled_unions(list(query.operators))
    lets = list(query.lets)
    source = query.source
    while (index := next((i for i, op in enumerate(operators) if isinstance(op, NameAs)), None)) is not None:
        name = operators[index].name  # type: ignore[attr-defined]
        lets.append((name, kql_ir.Query(source, operators[:index])))
        source, operators = kql_ir.TableRef(name), _read_bound(operators[index + 1 :], name)
    return dataclasses.replace(query, source=source, operators=operators, lets=lets)


def _lower_operator(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def lower(node: Any) -> Any:
        inner = node
        while kql_lower._cls(inner) in ("PipedOperator", "AfterPipeOperator") and kql_lower._rule_children(inner):
            inner = kql_lower._rule_children(inner)[0]
        inner = kql_lower._collapse(inner)
        if kql_lower._cls(inner) == "AsOperator":
            return _lower_as(inner)
        if kql_lower._cls(inner) != "SerializeOperator":
            return original(node)
        kids = kql_lower._rule_children(inner)
        if any(kql_lower._cls(kid) == "StrictQueryOperatorParameter" for kid in kids):
            raise KqlRefusalError("serialize: parameters are not supported by this local Log Analytics.")
        expressions = tuple(kql_lower._lower_named(kid) for kid in kids)
        if len(expressions) == 1 and expressions[0].name == BARE_SERIALIZE:
            return Serialize(())
        return Serialize(expressions)

    setattr(lower, _MARK, True)
    return lower


def _render_query(original: Callable[..., Any]) -> Callable[..., Any]:
    def render(query: kql_ir.Query, schema: Any = None) -> Any:
        if any(isinstance(op, Serialize) for op in query.operators) or _row_function(query.operators):
            query = dataclasses.replace(query, operators=_serialized_operators(query))
        if any(isinstance(op, (NameAs, kql_ir.Union)) for op in query.operators):
            query = _bind_names(query)
        return original(query, schema)

    return render


def _render_operator(original: Callable[..., str]) -> Callable[..., str]:
    def render(op: Any, prev: str, cols: list[str] | None = None) -> str:
        if isinstance(op, SerialExtend):
            return op.render(prev, cols)
        if isinstance(op, (Serialize, NameAs)):
            raise KqlRefusalError("serialize and as are not supported here by this local Log Analytics.")
        return original(op, prev, cols)

    return render


def _operator_columns(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    def columns(op: Any, cols: list[str], schema: Any) -> list[str]:
        if isinstance(op, SerialExtend):
            return original(op.inner, cols, schema)
        if isinstance(op, Serialize):
            return original(kql_ir.Extend(op.expressions), cols, schema) if op.expressions else list(cols)
        if isinstance(op, NameAs):
            return list(cols)
        return original(op, cols, schema)

    return columns


def _left_arms(original: Callable[..., list[tuple[str, str]]]) -> Callable[..., list[tuple[str, str]]]:
    def arms(op: Any, prev: str, *args: Any) -> list[tuple[str, str]]:
        if isinstance(op, LabelledUnion):
            return [(f"SELECT * FROM {prev}", op.left_label)]
        return original(op, prev, *args)

    return arms


def _branch_arms(original: Callable[..., list[tuple[str, str]]]) -> Callable[..., list[tuple[str, str]]]:
    def arms(branch: kql_ir.Query, index: int, schema: Any, *args: Any) -> list[tuple[str, str]]:
        if branch.operators and isinstance(branch.operators[-1], NameAs):
            named = dataclasses.replace(branch, operators=branch.operators[:-1])
            return [(str(kql_translate.to_sql(named, schema)), branch.operators[-1].name)]
        return original(branch, index, schema, *args)

    return arms


def install_serialize() -> None:
    """Wrap the library's lowering, rendering and column tracking (idempotent)."""
    if getattr(kql_lower._lower_operator, _MARK, False):
        return
    kql_lower._lower_operator = _lower_operator(kql_lower._lower_operator)  # type: ignore[assignment]
    kql_translate._render_query = _render_query(kql_translate._render_query)
    kql_translate._left_arms = _left_arms(kql_translate._left_arms)
    kql_translate._branch_arms = _branch_arms(kql_translate._branch_arms)
    kql_translate.render_operator = _render_operator(kql_translate.render_operator)
    kql_schema._operator_columns_unchecked = _operator_columns(kql_schema._operator_columns_unchecked)
    kql_translate._SPECIAL_FORMS.update(
        {
            "row_number": _render_row_number,
            "prev": _render_neighbour("prev", "lag"),
            "next": _render_neighbour("next", "lead"),
            "row_cumsum": _render_row_cumsum,
            "row_rank_min": _unlifted_rank("row_rank_min"),
            "row_rank_dense": _unlifted_rank("row_rank_dense"),
            "row_window_session": _unlifted_rank("row_window_session"),
            _RANK_MIN: _render_rank(_RANK_MIN),
            _RANK_DENSE: _render_rank(_RANK_DENSE),
        }
    )


REQUIRED = (
    kql_lower._cls,
    kql_lower._collapse,
    kql_lower._rule_children,
    kql_lower._lower_named,
    kql_lower._find_names,
    kql_lower._lower_operator,
    kql_translate._render_query,
    kql_translate._left_arms,
    kql_translate._branch_arms,
    kql_translate.render_operator,
    kql_translate.render_expr,
    kql_translate._SPECIAL_FORMS,
    kql_schema._operator_columns_unchecked,
    kql_ir.RangeSource,
    kql_naming.project_names,
)
