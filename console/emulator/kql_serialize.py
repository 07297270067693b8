"""Serialized row sets for the local Log Analytics: the `serialize` operator and the functions that read
neighbouring rows (`row_number`, `prev`, `next`, `row_cumsum`, `row_rank_min`, `row_window_session`).

Kusto allows those functions only where the row set is serialized: after `serialize`, `sort`/`order`,
`top` or a `range` source, through the operators that keep the order, and refuses them elsewhere. Here
the query's operators (the library's IR, before it is rendered) are checked in that order, and an
`extend` (or `serialize Name = Expr`) that uses them becomes `SerialExtend`: its input is numbered in
its own order (`row_number() OVER ()`, which DuckDB computes as a streaming window in input order),
every window is `OVER (ORDER BY that number)`, and the output is sorted by it again. The library's
entry points (`lower._lower_operator`, `translate._render_query`, `translate.render_operator`,
`schema._operator_columns_unchecked`, `translate._SPECIAL_FORMS`) are wrapped, not copied.

`T | as X | ...` is here too: the query is cut at `as`, and what came before becomes a `let X`, which the
rest (and its subqueries) read.
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
ROW_FUNCTIONS = ("row_number", "prev", "next", "row_cumsum", "row_rank_min", "row_window_session")
# Where each function that can restart takes its restart condition.
_RESTART_AT = {"row_number": 1, "row_cumsum": 1, "row_rank_min": 1, "row_window_session": 3}

_SERIAL = "__kql_serial"
_GROUP = "__kql_restart_group"
_FLAG = "__kql_restart_flag"
_RANK = "__kql_rank"
_WINDOW = f"OVER (ORDER BY {_SERIAL})"
_RUNNING = f"OVER (ORDER BY {_SERIAL} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
_MARK = "__kql_serialize__"
_COMPUTED = "__kql_computed"
_NULL_TERM = "row_cumsum(): a null term is not supported by this local Log Analytics."
_NULL_RANK = "row_rank_min(): a null term is not supported by this local Log Analytics."
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


@dataclass(frozen=True)
class SerialExtend(kql_ir.Operator):
    """An `extend` over a serialized row set whose expressions read neighbouring rows. `restarts` are the
    restart conditions of `row_number`/`row_cumsum`, each computed (and counted into a group number)
    before the extend, whose calls read group `i` through `_GROUP`."""

    inner: kql_ir.Extend
    restarts: tuple[kql_ir.Expr, ...] = ()
    ranks: tuple[tuple[kql_ir.Expr, int | None], ...] = ()
    """row_rank_min's terms, each with the restart group it reads (if any), computed before the extend."""

    def _hidden(self) -> list[str]:
        groups = (f"{_GROUP}{i}" for i in range(len(self.restarts)))
        return [_SERIAL, *groups, *(f"{_RANK}{i}" for i in range(len(self.ranks)))]

    def _ranked(self, source: str) -> str:
        """`source` with each rank column: the place (from 1, in its restart group) of the first row of the run of
        equal terms the row is in."""
        firsts, places = [], []
        for i, (term, group) in enumerate(self.ranks):
            window = f"OVER ({f'PARTITION BY {_GROUP}{group} ' if group is not None else ''}ORDER BY {_SERIAL})"
            value = kql_translate.render_expr(term)
            checked = f"CASE WHEN ({value}) IS NULL THEN error('{_NULL_RANK}') ELSE ({value}) END"
            firsts.append(
                f"(row_number() {window} = 1 OR {checked} IS DISTINCT FROM lag({value}) {window}) AS {_RANK}_first{i}, "
                f"row_number() {window} AS {_RANK}_place{i}"
            )
            running = window.replace(")", " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)")
            places.append(f"max(CASE WHEN {_RANK}_first{i} THEN {_RANK}_place{i} END) {running} AS {_RANK}{i}")
        helpers = ", ".join(f"{_RANK}_first{i}, {_RANK}_place{i}" for i in range(len(self.ranks)))
        return f"(SELECT * EXCLUDE ({helpers}), {', '.join(places)} FROM (SELECT *, {', '.join(firsts)} FROM {source}))"

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
        if self.ranks:
            source = self._ranked(source)
        extended = kql_translate.render_operator(self.inner, source, None if cols is None else [*cols, *hidden])
        return f"SELECT * EXCLUDE ({', '.join(hidden)}) FROM ({extended}) ORDER BY {_SERIAL}"


def _restarting(call: kql_ir.FunctionCall) -> bool:
    return call.name in _RESTART_AT and len(call.args) == _RESTART_AT[call.name] + 1


def _lift_ranks(value: Any, ranks: list[tuple[kql_ir.Expr, int | None]]) -> Any:
    """`value` with each row_rank_min call replaced by a read of its rank column (its term appended to `ranks`)."""
    if isinstance(value, kql_ir.Query):
        return value
    if isinstance(value, kql_ir.FunctionCall) and value.name == "row_rank_min":
        if not 1 <= len(value.args) <= 2:
            raise KqlRefusalError(f"row_rank_min(): expected 1 or 2 arguments, got {len(value.args)}.")
        term = value.args[0]
        if _row_function(term) is not None:
            raise KqlRefusalError(
                "row_rank_min(): a term that itself reads neighbouring rows is not supported by this local Log "
                "Analytics."
            )
        group = value.args[1] if len(value.args) == 2 else None
        index = (
            _constant_int(group.args[0], "row_rank_min", "group") if isinstance(group, kql_ir.FunctionCall) else None
        )
        ranks.append((term, index))
        return kql_ir.FunctionCall(_RANK, (kql_ir.Literal(len(ranks) - 1, "long"),))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _lift_ranks(getattr(value, f.name), ranks) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_lift_ranks(item, ranks) for item in value)
    if isinstance(value, list):
        return [_lift_ranks(item, ranks) for item in value]
    return value


def _lift_restarts(value: Any, restarts: list[kql_ir.Expr]) -> Any:
    """`value` with each restart condition replaced by a read of its group number (appended to `restarts`)."""
    if isinstance(value, kql_ir.Query):
        return value
    if isinstance(value, kql_ir.FunctionCall) and _restarting(value):
        condition = value.args[-1]
        if any(_restarting(call) for call in _calls(condition)):
            raise KqlRefusalError(
                f"{value.name}(): a restart condition that restarts itself is not supported by this local Log "
                "Analytics."
            )
        restarts.append(condition)
        group = kql_ir.FunctionCall(_GROUP, (kql_ir.Literal(len(restarts) - 1, "long"),))
        kept = tuple(_lift_restarts(arg, restarts) for arg in value.args[:-1])
        return dataclasses.replace(value, args=(*kept, group))
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
    ranks: list[tuple[kql_ir.Expr, int | None]] = []
    lifted = _lift_ranks(_lift_restarts(op, restarts), ranks)
    return SerialExtend(lifted, tuple(restarts), tuple(ranks))


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


def _render_window_session(node: Any) -> str:
    """row_window_session(t, from_first, between_neighbours[, restart]): the start of the session the row is in.
    A row starts a session when it is the first (of its restart group), or is at least `from_first` after the
    session's start or at least `between_neighbours` after the row before. A null time is refused."""
    args = list(node.args)
    if len(args) not in (3, 4):
        raise KqlRefusalError(f"row_window_session(): expected 3 or 4 arguments, got {len(args)}.")
    value, from_first, between = _plain("row_window_session", args[:3])
    window = _window("row_window_session", [args[0], *args[3:]])
    times = f"list(epoch_us(CAST({value} AS TIMESTAMP))) {window}"
    first, gap = (f"epoch_us(CAST({limit} AS INTERVAL))" for limit in (from_first, between))
    # Lambda names no column has: DuckDB reads `name.field` as a column's field before a lambda's.
    start = (
        "list_reduce(list_transform(__kql_t, lambda __kql_v: {'s': __kql_v, 'p': __kql_v}), "
        f"lambda __kql_a, __kql_x: CASE WHEN __kql_x.p >= __kql_a.s + {first} OR __kql_x.p >= __kql_a.p + {gap} "
        "THEN {'s': __kql_x.p, 'p': __kql_x.p} ELSE {'s': __kql_a.s, 'p': __kql_x.p} END).s"
    )
    return (
        f"list_transform([{times}], lambda __kql_t: CASE WHEN list_contains(list_transform(__kql_t, "
        "lambda __kql_v: __kql_v IS NULL), true) "
        "THEN error('row_window_session(): a null time is not supported by this local Log Analytics.') "
        f"ELSE make_timestamp({start}) END)[1]"
    )


def _render_unlifted_rank(node: Any) -> str:
    raise KqlRefusalError("row_rank_min() is supported by this local Log Analytics only in an extend over rows.")


def _render_rank(node: Any) -> str:
    """A row_rank_min call, lifted into a read of its rank column."""
    return f"{_RANK}{_constant_int(node.args[0], 'row_rank_min', 'rank')}"


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


def _bind_names(query: kql_ir.Query) -> kql_ir.Query:
    """`S | ops | as X | more` as `let X = S | ops; X | more` (each `as` in turn)."""
    operators = list(query.operators)
    for op in operators:
        if isinstance(op, kql_ir.Union) and op.with_source is not None:
            legs = [*operators, *(o for branch in op.branches for o in branch.operators)]
            if any(isinstance(o, NameAs) for o in legs):
                raise KqlRefusalError("as: naming a union's legs is not supported by this local Log Analytics.")
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


def install_serialize() -> None:
    """Wrap the library's lowering, rendering and column tracking (idempotent)."""
    if getattr(kql_lower._lower_operator, _MARK, False):
        return
    kql_lower._lower_operator = _lower_operator(kql_lower._lower_operator)  # type: ignore[assignment]
    kql_translate._render_query = _render_query(kql_translate._render_query)
    kql_translate.render_operator = _render_operator(kql_translate.render_operator)
    kql_schema._operator_columns_unchecked = _operator_columns(kql_schema._operator_columns_unchecked)
    kql_translate._SPECIAL_FORMS.update(
        {
            "row_number": _render_row_number,
            "prev": _render_neighbour("prev", "lag"),
            "next": _render_neighbour("next", "lead"),
            "row_cumsum": _render_row_cumsum,
            _RANK: _render_rank,
            "row_rank_min": _render_unlifted_rank,
            "row_window_session": _render_window_session,
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
    kql_translate.render_operator,
    kql_translate.render_expr,
    kql_translate._SPECIAL_FORMS,
    kql_schema._operator_columns_unchecked,
    kql_ir.RangeSource,
    kql_naming.project_names,
)
