"""Tabular operators the local Log Analytics adds to duckdb-kql: `project-reorder`, `project-keep`,
`project-by-names`, `project-away` with wildcards, `mv-apply`, `partition`, `top-nested`, `sample`,
`sample-distinct`, `scan` (in kql_scan) and `evaluate` plugins (in kql_evaluate).

Each is lowered (from the library's syntax tree) to an operator of the library's IR defined here
(`ColumnPick`, `MvApply`, `Partition`, `TopNested`), which renders its own SQL and tells the library's schema
tracking its output columns through `columns_after`. The library's three entry
points (`lower._lower_operator`, `translate.render_operator`, `schema._operator_columns_unchecked`)
are wrapped, not copied; anything else still goes to them. Tied to the pinned library version.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import lower as kql_lower
from duckdb_kql import schema as kql_schema
from duckdb_kql import translate as kql_translate

from console.emulator.kql_evaluate import EVALUATE_OPERATORS, PIVOT_MARKERS, Pivot, lower_evaluate
from console.emulator.kql_scan import Scan, lower_scan
from console.emulator.kql_search import Search, lower_search, placed_searches
from console.emulator.kql_tree import ir_nodes
from console.emulator.kql_units import KqlRefusalError

__all__ = [
    "BY_NAMES_MARK",
    "TYPEOF",
    "TYPE_CONVERSIONS",
    "ColumnPick",
    "MvApply",
    "Partition",
    "Sample",
    "TopNested",
    "install_operators",
]

# `typeof(T)` as a function argument (extract(..., typeof(long))) is lowered to a call of this function
# with T's name; the functions that take a type read it, and anything else refuses it.
TYPEOF = "__kql_typeof"

# The conversion function that makes a value of each Kusto type (`typeof(T)` arguments, typed parse-kv keys).
TYPE_CONVERSIONS = {
    "string": "tostring",
    "long": "tolong",
    "int": "toint",
    "real": "toreal",
    "double": "toreal",
    "bool": "tobool",
    "boolean": "tobool",
    "datetime": "todatetime",
    "date": "todatetime",
    "timespan": "totimespan",
    "time": "totimespan",
    "guid": "toguid",
    "dynamic": "todynamic",
}

# `project-by-names "a", "b*"`, which the grammar lacks, reaches the lowering as
# `project-reorder __kql_project_by_names, ['a'], b*` (the engine rewrites it so).
BY_NAMES_MARK = "__kql_project_by_names"

_MARK = "__kql_operators__"
_KINDS = {"ProjectReorderOperator": "project-reorder", "ProjectKeepOperator": "project-keep"}
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\[(['\"])(.*)\1\]")
_PATTERN = re.compile(r"[A-Za-z0-9_*]+")


@dataclass(frozen=True)
class ColumnPick(kql_ir.Operator):
    """project-reorder / project-keep / project-away by names and wildcards (`a*`), with `asc`/`desc` for
    project-reorder's wildcards."""

    operator: str
    patterns: tuple[tuple[str, str], ...]

    def columns_after(self, cols: list[str]) -> list[str]:
        """The output columns, in order, for input columns `cols`."""
        picked: list[str] = []
        for pattern, direction in self.patterns:
            if "*" in pattern:
                matched = [c for c in cols if fnmatch.fnmatchcase(c, pattern) and c not in picked]
            else:
                matched = [c for c in cols if c == pattern and c not in picked]
                if pattern not in cols and self.operator != "project-by-names":
                    raise KqlRefusalError(f"Failed to resolve scalar expression named '{pattern}'.")
            if direction:
                ordered = sorted(matched)
                if ordered != sorted(matched, key=str.casefold):
                    raise KqlRefusalError(
                        f"{self.operator}: ordering names that differ in case is not supported by this local "
                        "Log Analytics."
                    )
                matched = ordered if direction == "asc" else ordered[::-1]
            picked.extend(matched)
        if self.operator == "project-reorder":
            return picked + [c for c in cols if c not in picked]
        if self.operator == "project-keep":
            return [c for c in cols if c in picked]
        if self.operator == "project-by-names":
            return picked
        return [c for c in cols if c not in picked]


_APPLY_SOURCE = "__kql_apply_input"
_ROW = "__kql_row"


@dataclass(frozen=True)
class MvApply(kql_ir.Operator):
    """`mv-apply [with_itemindex=i] x = Arr [to typeof(T)], ... on (subquery)`.

    Each input row's arrays are expanded (the library's mv-expand, in lockstep) and the subquery runs
    on those rows alone: a LATERAL subquery per input row, so `take`, `top` and `summarize` (one row
    even for an empty array) mean what they mean in Kusto. The output is the input row's columns
    followed by the subquery's, a column the subquery also has taken from the subquery.
    """

    expand: tuple[kql_ir.Operator, ...]
    subquery: tuple[kql_ir.Operator, ...]

    def _expanded_columns(self, cols: list[str]) -> list[str]:
        expanded = [*cols, _ROW]
        for op in self.expand:
            expanded = kql_schema._operator_columns(op, expanded, None)
        return [c for c in expanded if c != _ROW]

    def _check(self, cols: list[str]) -> None:
        for op in self.expand:
            if isinstance(op, kql_ir.MvExpand):
                names = [target.name or target.column for target in op.targets]
                names += [op.item_index] if op.item_index else []
                if any(name in cols for name in names):
                    raise KqlRefusalError(
                        "mv-apply: an expanded column named like an input column is not supported by this local "
                        "Log Analytics; name it (mv-apply x = Column ...)."
                    )

    def columns_after(self, cols: list[str]) -> list[str]:
        """The output columns for input columns `cols`."""
        self._check(cols)
        inner = _subquery_columns(self.subquery, self._expanded_columns(cols))
        return [c for c in cols if c not in inner] + inner

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        self._check(cols)
        stages = [f"__ma_a AS (SELECT *, row_number() OVER () AS {_ROW} FROM {prev})"]
        expanded = [*cols, _ROW]
        for index, op in enumerate(self.expand):
            before = "__ma_a" if index == 0 else f"__ma_e{index - 1}"
            stages.append(f"__ma_e{index} AS ({_original_render(op, before, expanded)})")
            expanded = kql_schema._operator_columns(op, expanded, None)
        rows = (
            f"(SELECT * EXCLUDE ({_ROW}) FROM __ma_e{len(self.expand) - 1} AS __ma_e "
            f"WHERE __ma_e.{_ROW} = __ma_a.{_ROW})"
        )
        inner_sql = _subquery_sql(self.subquery, self._expanded_columns(cols), rows, "mv-apply")
        inner = _subquery_columns(self.subquery, self._expanded_columns(cols))
        kept = ", ".join(f"__ma_a.{kql_translate.quote_ident(c)}" for c in cols if c not in inner)
        chosen = f"{kept}, __ma_s.*" if kept else "__ma_s.*"
        return (
            f"WITH {', '.join(stages)} SELECT {chosen} FROM __ma_a, LATERAL ({inner_sql}) AS __ma_s "
            f"ORDER BY __ma_a.{_ROW}"
        )


@dataclass(frozen=True)
class Partition(kql_ir.Operator):
    """`partition [hint.*=...] by Column (subquery)`: the subquery runs on the rows of each value of the column
    (null is a value), and the results are put together. A LATERAL subquery per distinct value, as mv-apply's
    per row. Hints change how Kusto spreads the work, never the answer, so they are read and dropped."""

    key: str
    subquery: tuple[kql_ir.Operator, ...]

    def _check(self, cols: list[str]) -> None:
        if self.key not in cols:
            raise KqlRefusalError(f"partition: Failed to resolve scalar expression named '{self.key}'.")

    def columns_after(self, cols: list[str]) -> list[str]:
        """The output columns for input columns `cols`: the subquery's."""
        self._check(cols)
        return _subquery_columns(self.subquery, cols)

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        self._check(cols)
        key = kql_translate.quote_ident(self.key)
        rows = f"(SELECT * FROM __pt_a WHERE __pt_a.{key} IS NOT DISTINCT FROM __pt_k.__kql_key)"
        inner_sql = _subquery_sql(self.subquery, cols, rows, "partition")
        return (
            f"WITH __pt_a AS (SELECT * FROM {prev}), __pt_k AS (SELECT DISTINCT {key} AS __kql_key FROM __pt_a) "
            f"SELECT __pt_s.* FROM __pt_k, LATERAL ({inner_sql}) AS __pt_s"
        )


@dataclass(frozen=True)
class NestedLevel:
    """One `top-nested [N] of Key by Aggregate [asc|desc]` part."""

    count: int | None
    key: kql_ir.NamedExpr
    aggregate: kql_ir.NamedExpr
    descending: bool


@dataclass(frozen=True)
class TopNested(kql_ir.Operator):
    """`top-nested N1 of K1 by A1, top-nested N2 of K2 by A2, ...`: the top N1 values of K1 by A1; within each,
    the top N2 values of K2 by A2 (aggregated over that K1 value's rows); and so on. One row per path, each
    level's key and aggregate side by side. Without N every value is kept; ties are broken arbitrarily, as in
    Kusto."""

    levels: tuple[NestedLevel, ...]

    def _names(self) -> list[str]:
        names: list[str] = []
        for level in self.levels:
            key = level.key.name or (level.key.expr.name if isinstance(level.key.expr, kql_ir.ColumnRef) else None)
            if key is None:
                raise KqlRefusalError(
                    "top-nested: name each computed key (top-nested of Day = bin(TimeGenerated, 1d) by ...)."
                )
            names += [key, level.aggregate.name or f"aggregated_{key}"]
        if len(set(names)) != len(names):
            raise KqlRefusalError("top-nested: two levels give a column the same name; name them apart.")
        return names

    def columns_after(self, cols: list[str]) -> list[str]:
        """The output columns (each level's key and aggregate) for input columns `cols`."""
        return self._names()

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        names = self._names()
        keys = [f"__tn_k{i}" for i in range(len(self.levels))]
        keyed = [*cols, *keys]
        extend = kql_ir.Extend(
            tuple(kql_ir.NamedExpr(level.key.expr, k) for level, k in zip(self.levels, keys, strict=True))
        )
        stages = [f"__tn_in AS ({_original_render(extend, prev, cols)})"]
        for i, level in enumerate(self.levels):
            rows = "__tn_in"
            if i:
                same = " AND ".join(f"__tn_in.{k} IS NOT DISTINCT FROM __tn_l{i - 1}.{k}" for k in keys[:i])
                rows = f"(SELECT __tn_in.* FROM __tn_in SEMI JOIN __tn_l{i - 1} ON {same})"
            summarize = kql_ir.Summarize(
                (kql_ir.NamedExpr(level.aggregate.expr, f"__tn_a{i}"),),
                tuple(kql_ir.NamedExpr(kql_ir.ColumnRef(k)) for k in keys[: i + 1]),
            )
            order = f"__tn_a{i} {'DESC' if level.descending else 'ASC'} NULLS LAST"
            within = f"PARTITION BY {', '.join(keys[:i])} " if i else ""
            kept = f"QUALIFY row_number() OVER ({within}ORDER BY {order}) <= {level.count}" if level.count else ""
            stages.append(f"__tn_l{i} AS (SELECT * FROM ({_original_render(summarize, rows, keyed)}) {kept})")
        last = len(self.levels) - 1
        joins = "".join(
            f" JOIN __tn_l{i} ON "
            + " AND ".join(f"__tn_l{i}.{k} IS NOT DISTINCT FROM __tn_l{last}.{k}" for k in keys[: i + 1])
            for i in range(last)
        )
        chosen = ", ".join(
            f"__tn_l{i}.{column} AS {kql_translate.quote_ident(name)}"
            for i in range(len(self.levels))
            for column, name in ((keys[i], names[2 * i]), (f"__tn_a{i}", names[2 * i + 1]))
        )
        return f"WITH {', '.join(stages)} SELECT {chosen} FROM __tn_l{last}{joins}"


@dataclass(frozen=True)
class Sample(kql_ir.Operator):
    """`sample N` (up to N rows, chosen at random) and `sample-distinct N of Column` (up to N distinct values of
    the column, any of them: Kusto says its choice is biased, so which ones is not part of the answer)."""

    count: int
    column: str | None = None

    def columns_after(self, cols: list[str]) -> list[str]:
        """The input's columns, or the sampled column alone."""
        if self.column is None:
            return list(cols)
        if self.column not in cols:
            raise KqlRefusalError(f"sample-distinct: Failed to resolve scalar expression named '{self.column}'.")
        return [self.column]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        self.columns_after(cols)
        if self.column is None:
            return f"SELECT * FROM {prev} ORDER BY random() LIMIT {self.count}"
        column = kql_translate.quote_ident(self.column)
        return f"SELECT DISTINCT {column} FROM {prev} LIMIT {self.count}"


def _lower_sample(node: Any, operator: str) -> Sample:
    kids = kql_lower._rule_children(node)
    if any(kql_lower._cls(kid).endswith("QueryOperatorParameter") for kid in kids):
        kids = [kid for kid in kids if not kql_lower._cls(kid).endswith("QueryOperatorParameter")]
    if len(kids) != (2 if operator == "sample-distinct" else 1):
        raise KqlRefusalError(f"{operator}: this form is not supported by this local Log Analytics.")
    count = kql_lower._lower_expr(kids[0])
    if not isinstance(count, kql_ir.Literal) or count.kind not in ("long", "int") or isinstance(count.value, bool):
        raise KqlRefusalError(f"{operator}: the number of rows must be a whole number written in the query.")
    column = None
    if operator == "sample-distinct":
        target = kql_lower._lower_expr(kids[1])
        if not isinstance(target, kql_ir.ColumnRef):
            raise KqlRefusalError("sample-distinct: sample a column by its name.")
        column = target.name
    return Sample(max(int(str(count.value)), 0), column)


def _lower_top_nested(node: Any) -> TopNested:
    levels: list[NestedLevel] = []
    # One part alone is the operator's only child, which the tree walk collapses into the operator.
    parts = [node] if kql_lower._cls(node) == "TopNestedOperatorPart" else kql_lower._rule_children(node)
    for part in parts:
        kids = kql_lower._rule_children(part)
        if any(kql_lower._cls(kid) == "TopNestedOperatorWithOthersClause" for kid in kids):
            raise KqlRefusalError("top-nested: `with others` is not supported by this local Log Analytics.")
        named = [kid for kid in kids if kql_lower._cls(kid) == "NamedExpression"]
        ordered = [kid for kid in kids if kql_lower._cls(kid) == "OrderedExpression"]
        if len(ordered) != 1 or len(named) not in (1, 2):
            raise KqlRefusalError("top-nested: each part is `top-nested [N] of Key by Aggregate [asc|desc]`.")
        count = None
        if len(named) == 2:
            text = str(named[0].getText())
            if not text.isdigit() or int(text) < 1:
                raise KqlRefusalError(f"top-nested: the number of values to keep ({text}) must be 1 or more.")
            count = int(text)
        aggregate, ordering = kql_lower._rule_children(ordered[0])[:2]
        levels.append(
            NestedLevel(
                count,
                kql_lower._lower_named(named[-1]),
                kql_lower._lower_named(aggregate),
                str(ordering.getText()).lower() != "asc",
            )
        )
    return TopNested(tuple(levels))


def _subquery_columns(operators: tuple[kql_ir.Operator, ...], cols: list[str]) -> list[str]:
    """The output columns of a subquery (`on (...)`, `by X (...)`) run on rows whose columns are `cols`."""
    query = kql_ir.Query(kql_ir.TableRef(_APPLY_SOURCE), list(operators))
    return list(kql_schema.output_columns(query, {_APPLY_SOURCE: cols}))


def _subquery_sql(operators: tuple[kql_ir.Operator, ...], cols: list[str], rows: str, operator: str) -> str:
    """A subquery's SQL with its input rows given as `rows` (a parenthesised SELECT)."""
    query = kql_ir.Query(kql_ir.TableRef(_APPLY_SOURCE), list(operators))
    inner_sql = str(kql_translate.to_sql(query, {_APPLY_SOURCE: cols}))
    source = kql_translate.quote_ident(_APPLY_SOURCE)
    if inner_sql.count(source) != 1:
        raise KqlRefusalError(f"{operator}: this subquery is not supported by this local Log Analytics.")
    return inner_sql.replace(source, rows)


def _pipe_operators(body: Any, operator: str) -> tuple[kql_ir.Operator, ...]:
    """The operators of a `(subquery)` body (a pipe of operators over the rows handed to it)."""
    pipe = kql_lower._rule_children(body)
    operators = kql_lower._rule_children(pipe[0]) if len(pipe) == 1 else []
    if not operators or kql_lower._cls(pipe[0]) != "PipeSubExpression":
        raise KqlRefusalError(f"{operator}: this subquery is not supported by this local Log Analytics.")
    return tuple(kql_lower._lower_operators(operators))


def _lower_partition(node: Any) -> Partition:
    kids = kql_lower._rule_children(node)
    keys = [kid for kid in kids if kql_lower._cls(kid) == "EntityExpression"]
    bodies = [kid for kid in kids if kql_lower._cls(kid) == "PartitionOperatorSubExpressionBody"]
    if len(keys) != 1 or len(bodies) != 1:
        raise KqlRefusalError(
            "partition: only `partition by Column (subquery)` is supported by this local Log Analytics."
        )
    return Partition(_pattern(keys[0], "partition"), _pipe_operators(bodies[0], "partition"))


def _lower_mv_apply(node: Any) -> MvApply:
    kids = kql_lower._rule_children(node)
    sub = [kid for kid in kids if kql_lower._cls(kid) == "ContextualSubExpression"]
    if len(sub) != 1:
        raise KqlRefusalError("mv-apply: expected `on (subquery)`.")
    targets = [kid for kid in kids if kid is not sub[0]]
    expanded = kql_lower._lower_mv_expand(node, targets)
    expand = tuple(expanded) if isinstance(expanded, list) else (expanded,)
    return MvApply(expand, _pipe_operators(sub[0], "mv-apply"))


def _pattern(node: Any, operator: str) -> str:
    text = str(node.getText())
    plain = _PLAIN_NAME.fullmatch(text)
    if plain is not None and plain.group(2) is not None:
        return plain.group(2)
    if _PATTERN.fullmatch(text) is None:
        raise KqlRefusalError(f"{operator}: the column pattern {text} is not supported by this local Log Analytics.")
    return text


def _lower_pick(node: Any, operator: str) -> ColumnPick:
    patterns: list[tuple[str, str]] = []
    for kid in kql_lower._rule_children(node):
        if kql_lower._cls(kid) == "ProjectReorderExpression":
            parts = kql_lower._rule_children(kid)
            name = _pattern(parts[0], operator)
            direction = kid.getText()[len(parts[0].getText()) :].lower()
            if direction not in ("", "asc", "desc"):
                raise KqlRefusalError(f"{operator}: {direction} is not supported by this local Log Analytics.")
            patterns.append((name, direction))
        else:
            patterns.append((_pattern(kid, operator), ""))
    if patterns and patterns[0] == (BY_NAMES_MARK, ""):
        operator, patterns = "project-by-names", patterns[1:]
    if not patterns:
        raise KqlRefusalError(f"{operator}: name at least one column.")
    return ColumnPick(operator, tuple(patterns))


def _lower_operator(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def lower(node: Any) -> Any:
        inner = node
        while kql_lower._cls(inner) in ("PipedOperator", "AfterPipeOperator") and kql_lower._rule_children(inner):
            inner = kql_lower._rule_children(inner)[0]
        inner = kql_lower._collapse(inner)
        kind = kql_lower._cls(inner)
        if kind in _KINDS:
            return _lower_pick(inner, _KINDS[kind])
        if kind == "ProjectAwayOperator" and "*" in inner.getText():
            return _lower_pick(inner, "project-away")
        if kind == "MvapplyOperator":
            return _lower_mv_apply(inner)
        if kind == "PartitionOperator":
            return _lower_partition(inner)
        if kind in ("TopNestedOperator", "TopNestedOperatorPart"):
            return _lower_top_nested(inner)
        if kind == "ScanOperator":
            return lower_scan(inner)
        if kind == "SearchOperator":
            return lower_search(inner, piped=True)[0]
        if kind in ("SampleOperator", "SampleDistinctOperator"):
            return _lower_sample(inner, "sample" if kind == "SampleOperator" else "sample-distinct")
        if kind == "EvaluateOperator":
            plugin = lower_evaluate(inner)
            if plugin is not None:
                return plugin
        return original(node)

    setattr(lower, _MARK, True)
    return lower


def _render_operator(original: Callable[..., str]) -> Callable[..., str]:
    def render(op: Any, prev: str, cols: list[str] | None = None) -> str:
        if isinstance(op, Search):
            if cols is None:
                raise KqlRefusalError("search: the input's columns are not known here.")
            return op.render(prev, cols, _original_render)
        if isinstance(op, (MvApply, Partition, TopNested, Scan, Sample, *EVALUATE_OPERATORS)):
            if cols is None:
                raise KqlRefusalError("The input's columns are not known here.")
            return op.render(prev, cols)
        if not isinstance(op, ColumnPick):
            return original(op, prev, cols)
        if cols is None:
            raise KqlRefusalError(f"{op.operator}: the input's columns are not known here.")
        chosen = op.columns_after(cols)
        if not chosen:
            raise KqlRefusalError(f"{op.operator}: no column would be left.")
        return f"SELECT {', '.join(kql_translate.quote_ident(c) for c in chosen)} FROM {prev}"

    return render


def _operator_columns(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    def columns(op: Any, cols: list[str], schema: Any) -> list[str]:
        if isinstance(op, (ColumnPick, MvApply, Partition, TopNested, Scan, Sample, Search, *EVALUATE_OPERATORS)):
            after = op.columns_after(cols)
        else:
            after = original(op, cols, schema)
        if not isinstance(op, Pivot) and any(marker in after for marker in PIVOT_MARKERS):
            # The rows are pivot's long table, which only the end of the query turns into its answer.
            raise KqlRefusalError("pivot: it must be the query's last operator in this local Log Analytics.")
        return after

    return columns


def _lower_expr(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def lower(node: Any) -> Any:
        inner = kql_lower._collapse(node)
        if kql_lower._cls(inner) == "TypeLiteralExpression":
            text = str(inner.getText())
            name = text[text.find("(") + 1 : text.rfind(")")].strip().lower()
            return kql_ir.FunctionCall(TYPEOF, (kql_ir.Literal(name, "string"),))
        return original(node)

    return lower


def _substitute_fields(value: Any, scalars: Any) -> Any:
    """`value` with the `let`-bound names in its expressions substituted, as the library does for its own operators."""
    if isinstance(value, kql_ir.Expr):
        return kql_lower._substitute(value, scalars)
    if isinstance(value, tuple):
        return tuple(_substitute_fields(item, scalars) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, (type, kql_ir.Query)):
        changes = {
            f.name: _substitute_fields(getattr(value, f.name), scalars) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


def _substitute_operator(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def substitute(op: Any, scalars: Any) -> Any:
        if isinstance(op, (Scan, Search, *EVALUATE_OPERATORS)):
            return _substitute_fields(op, scalars)
        return original(op, scalars)

    return substitute


def _pivots(value: Any) -> int:
    """How many `pivot` operators `value` holds, anywhere (lets, subqueries, union legs...)."""
    return sum(isinstance(node, Pivot) for node in ir_nodes(value))


def _lower_query(original: Callable[..., Any]) -> Callable[..., Any]:
    def lower(*args: Any, **kwargs: Any) -> Any:
        query = placed_searches(original(*args, **kwargs))
        last = query.operators[-1] if query.operators else None
        # pivot's rows are reshaped into its answer after the query ran: nothing may read them before.
        if _pivots(query) > (1 if isinstance(last, Pivot) else 0) or (isinstance(last, Pivot) and _pivots(last) != 1):
            raise KqlRefusalError("pivot: it must be the query's last operator in this local Log Analytics.")
        return query

    return lower


def _lower_head(original: Callable[..., Any]) -> Callable[..., Any]:
    def lower(head: Any, rest: list[Any]) -> Any:
        if kql_lower._cls(kql_lower._collapse(head)) != "SearchOperator":
            return original(head, rest)
        search, source = lower_search(kql_lower._collapse(head), piped=False)
        table = kql_lower._lower_source(source)
        if not isinstance(table, kql_ir.TableRef):
            raise KqlRefusalError("search: `in (...)` takes a table name here.")
        return kql_ir.Query(table, [search, *kql_lower._lower_operators(rest)])

    return lower


def _original_render(op: Any, prev: str, cols: list[str]) -> str:
    """The library's own rendering of one operator (kept when it is wrapped)."""
    render = getattr(_original_render, "render", kql_translate.render_operator)
    return str(render(op, prev, cols))


def install_operators() -> None:
    """Wrap the library's lowering, rendering and column tracking (idempotent)."""
    if getattr(kql_lower._lower_operator, _MARK, False):
        return
    kql_lower._lower_expr = _lower_expr(kql_lower._lower_expr)  # type: ignore[assignment]
    kql_lower._lower_operator = _lower_operator(kql_lower._lower_operator)  # type: ignore[assignment]
    kql_lower._substitute_operator = _substitute_operator(kql_lower._substitute_operator)  # type: ignore[assignment]
    kql_lower.lower = _lower_query(kql_lower.lower)
    kql_lower._lower_head = _lower_head(kql_lower._lower_head)
    setattr(_original_render, "render", kql_translate.render_operator)  # noqa: B010
    kql_translate.render_operator = _render_operator(kql_translate.render_operator)
    kql_schema._operator_columns_unchecked = _operator_columns(kql_schema._operator_columns_unchecked)


_REQUIRED = (
    kql_lower._cls,
    kql_lower._collapse,
    kql_lower._rule_children,
    kql_lower._lower_operator,
    kql_lower._substitute,
    kql_lower._substitute_operator,
    kql_lower.lower,
    kql_lower._lower_head,
    kql_lower._lower_source,
    kql_lower._lower_operators,
    kql_translate.render_operator,
    kql_translate.quote_ident,
    kql_schema._operator_columns_unchecked,
)
