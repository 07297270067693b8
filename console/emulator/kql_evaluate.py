"""`evaluate` plugins the local Log Analytics adds to duckdb-kql: `rows_near`, `dcount_intersect`,
`rolling_percentile`, `sliding_window_counts`, `activity_counts_metrics`, `narrow` and `pivot`.

Each is lowered from the library's parse tree (`EvaluateOperator`) to an operator of the library's IR that renders
its own SQL (through the library's own rendering of expressions and aggregates where it can) and names its output
columns. Where the documentation leaves a case open (rows outside the analysis period, a period with no rows),
the query is refused when it runs, with a sentence, rather than answered by a guess. Other plugins fall through
to the library, which refuses them.

`pivot`'s output columns are values found in the data, so they cannot be known when the query is translated: it
renders a long table (group columns, the pivot value's name, the aggregate, and orders of first appearance) under
marker column names, which `pivot_reshape` turns into the wide answer once the query has run. An operator after
`pivot` (or a join or union over one) is refused, since it would read the long table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import lower as kql_lower
from duckdb_kql import translate as kql_translate

from console.emulator.kql_tree import ir_nodes
from console.emulator.kql_units import KqlRefusalError

__all__ = [
    "EVALUATE_OPERATORS",
    "PIVOT_MARKERS",
    "ActivityCountsMetrics",
    "DcountIntersect",
    "Narrow",
    "Pivot",
    "RollingPercentile",
    "RowsNear",
    "SlidingWindowCounts",
    "lower_evaluate",
    "pivot_reshape",
]

_q = kql_translate.quote_ident


def _sql(expr: kql_ir.Expr) -> str:
    return f"({kql_translate.render_expr(expr)})"


def _error(sentence: str) -> str:
    """SQL that stops the query with `sentence` (answered as a 400 with it)."""
    return f"error({kql_translate.quote_string(sentence)})"


def _microseconds(sql: str) -> str:
    """A timespan's length in microseconds."""
    return f"CAST(round(epoch({sql}) * 1000000) AS BIGINT)"


def _column(expr: kql_ir.Expr, plugin: str, what: str) -> str:
    if not isinstance(expr, kql_ir.ColumnRef):
        raise KqlRefusalError(f"{plugin}: the {what} must be a column name here.")
    return expr.name


def _require(cols: list[str], names: list[str], plugin: str) -> None:
    for name in names:
        if name not in cols:
            raise KqlRefusalError(f"{plugin}: Failed to resolve scalar expression named '{name}'.")


def _whole(expr: kql_ir.Expr, plugin: str, what: str, low: int = 0) -> int:
    if not isinstance(expr, kql_ir.Literal) or expr.kind not in ("long", "int") or not isinstance(expr.value, int):
        raise KqlRefusalError(f"{plugin}: the {what} must be a whole number written in the query.")
    if expr.value < low:
        raise KqlRefusalError(f"{plugin}: the {what} must be {low} or more.")
    return expr.value


def _original_render(op: kql_ir.Operator, prev: str, cols: list[str]) -> str:
    from console.emulator import kql_operators

    return kql_operators._original_render(op, prev, cols)


@dataclass(frozen=True)
class RowsNear(kql_ir.Operator):
    """`rows_near(Condition, NumRows [, RowsAfter])`: the input rows within NumRows before (RowsAfter after) a row
    where Condition holds, in the input's order."""

    condition: kql_ir.Expr
    before: int
    after: int

    def columns_after(self, cols: list[str]) -> list[str]:
        """The input's columns."""
        return list(cols)

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`), in `prev`'s order."""
        chosen = ", ".join(_q(c) for c in cols)
        flagged = (
            f"SELECT *, coalesce({_sql(self.condition)}, false) AS __rw_f, row_number() OVER () AS __rw_n FROM {prev}"
        )
        window = f"OVER (ORDER BY __rw_n ROWS BETWEEN {self.after} PRECEDING AND {self.before} FOLLOWING)"
        near = f"SELECT *, bool_or(__rw_f) {window} AS __rw_near FROM ({flagged})"
        return f"SELECT {chosen} FROM ({near}) WHERE __rw_near ORDER BY __rw_n"


@dataclass(frozen=True)
class DcountIntersect(kql_ir.Operator):
    """`dcount_intersect(hll1, hll2, ...)`: columns s0..s(n-1), the distinct counts of S1, S1 ∩ S2, ... (the
    `hll()` values here are the exact sets of distinct values, so the counts are exact)."""

    sets: tuple[kql_ir.Expr, ...]

    def columns_after(self, cols: list[str]) -> list[str]:
        """The input's columns, then s0, s1, ..."""
        added = [f"s{i}" for i in range(len(self.sets))]
        for name in added:
            if name in cols:
                raise KqlRefusalError(f"dcount_intersect: the input already has a column named '{name}'.")
        return [*cols, *added]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        self.columns_after(cols)
        values = [f"coalesce(CAST(CAST({_sql(s)} AS JSON) AS JSON[]), [])" for s in self.sets]
        counts = []
        running = values[0]
        for i, value in enumerate(values):
            if i:
                running = f"list_intersect({running}, {value})"
            counts.append(f"CAST(len(list_distinct({running})) AS BIGINT) AS s{i}")
        return f"SELECT *, {', '.join(counts)} FROM {prev}"


@dataclass(frozen=True)
class RollingPercentile(kql_ir.Operator):
    """`rolling_percentile(Value, Pct, Index, BinSize, BinsPerWindow [, dim, ...])`: for each bin of Index present
    in the data (per dimensions), the percentile of Value over that bin and the BinsPerWindow - 1 bins before."""

    value: str
    percentile: kql_ir.Expr
    index: str
    bin_size: kql_ir.Expr
    window: int
    dims: tuple[str, ...]

    def _name(self) -> str:
        pct = self.percentile
        if not isinstance(pct, kql_ir.Literal) or pct.kind not in ("long", "int", "real"):
            raise KqlRefusalError("rolling_percentile: the percentile must be a number written in the query.")
        text = str(pct.value)
        text = text.removesuffix(".0") if pct.kind == "real" else text
        return f"rolling_{self.window}_percentile_{self.value}_{text.replace('.', '_')}"

    def columns_after(self, cols: list[str]) -> list[str]:
        """Index, the dimensions, then the rolling percentile."""
        _require(cols, [self.value, self.index, *self.dims], "rolling_percentile")
        return [self.index, *self.dims, self._name()]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        names = self.columns_after(cols)
        binned = kql_ir.FunctionCall("bin", (kql_ir.ColumnRef(self.index), self.bin_size))
        dims = "".join(f", {_q(d)}" for d in self.dims)
        step = f"({_sql(self.bin_size)})"
        source = f"SELECT {_sql(binned)} AS __rp_b{dims}, {_q(self.value)} AS __rp_v FROM {prev}"
        present = f"SELECT DISTINCT __rp_b{dims} FROM __rp_in"
        spread = (
            f"SELECT __rp_in.__rp_b + {step} * __rp_i AS {_q(self.index)}"
            + "".join(f", __rp_in.{_q(d)}" for d in self.dims)
            + f", __rp_in.__rp_v FROM __rp_in, range(0, {self.window}) AS __rp_r(__rp_i)"
        )
        same = "".join(f" AND __rp_s.{_q(d)} IS NOT DISTINCT FROM __rp_p.{_q(d)}" for d in self.dims)
        windows = (
            f"SELECT __rp_s.* FROM ({spread}) AS __rp_s SEMI JOIN ({present}) AS __rp_p "
            f"ON __rp_s.{_q(self.index)} = __rp_p.__rp_b{same}"
        )
        summarize = kql_ir.Summarize(
            (
                kql_ir.NamedExpr(
                    kql_ir.FunctionCall("percentile", (kql_ir.ColumnRef("__rp_v"), self.percentile)), names[-1]
                ),
            ),
            tuple(kql_ir.NamedExpr(kql_ir.ColumnRef(c)) for c in [self.index, *self.dims]),
        )
        inner = _original_render(summarize, f"({windows})", [self.index, *self.dims, "__rp_v"])
        return f"WITH __rp_in AS ({source}) SELECT * FROM ({inner}) ORDER BY {', '.join(_q(c) for c in names[:-1])}"


@dataclass(frozen=True)
class _Periods:
    """The analysis periods of `sliding_window_counts` and `activity_counts_metrics` over a datetime timeline."""

    plugin: str
    ident: str
    timeline: str
    start: kql_ir.Expr
    end: kql_ir.Expr
    step: kql_ir.Expr

    def check(self, cols: list[str]) -> None:
        _require(cols, [self.ident, self.timeline], self.plugin)
        if isinstance(self.step, kql_ir.Literal) and self.step.kind == "string":
            raise KqlRefusalError(
                f"{self.plugin}: a week, month or year step is not supported by this local Log Analytics."
            )

    def numbered(self, prev: str) -> str:
        """`prev`'s id and period number (`__p`), with the start (`__s`) and step (`__b`, microseconds) and the
        number of the last period (`__last`); a row outside Start..End, or a period without rows, refuses."""
        start = f"CAST({_sql(self.start)} AS TIMESTAMP)"
        end = f"CAST({_sql(self.end)} AS TIMESTAMP)"
        step = _microseconds(_sql(self.step))
        outside = _error(
            f"{self.plugin}: a record outside Start..End is not supported by this local Log Analytics; filter the "
            "input to the analysis period first."
        )
        params = f"SELECT {start} AS __s, {end} AS __e, {step} AS __b"
        unknown = _error(f"{self.plugin}: Start and End must be datetimes, not null.")
        negative = _error(f"{self.plugin}: the step must be a positive timespan.")
        checked = (
            f"SELECT CASE WHEN __b IS NULL OR __b <= 0 THEN {negative} "
            f"ELSE __b END AS __b, CASE WHEN __s IS NULL OR __e IS NULL THEN {unknown} ELSE __s END AS __s, __e, "
            f"(epoch_us(__e) - epoch_us(__s)) // __b AS __last FROM ({params})"
        )
        rows = (
            f"SELECT {_q(self.ident)} AS __id, "
            f"CASE WHEN {_q(self.timeline)} < __s OR {_q(self.timeline)} > __e THEN {outside} "
            f"ELSE (epoch_us({_q(self.timeline)}) - epoch_us(__s)) // __b END AS __p, __s, __b, __last "
            f"FROM {prev}, ({checked}) WHERE {_q(self.timeline)} IS NOT NULL"
        )
        return rows

    def every_period(self, periods: str) -> str:
        """A WHERE condition that refuses unless `periods` (a SELECT of period numbers `__p`) has every one."""
        empty = _error(
            f"{self.plugin}: an analysis period without records is not supported by this local Log Analytics."
        )
        return f"(SELECT CASE WHEN count(DISTINCT __p) <> max(__last) + 1 THEN {empty} ELSE true END FROM ({periods}))"


@dataclass(frozen=True)
class SlidingWindowCounts(kql_ir.Operator):
    """`sliding_window_counts(Id, Timeline, Start, End, LookbackWindow, Bin)`: for each Bin period from Start to
    End, the count and distinct count of Id over the LookbackWindow that ends with it."""

    periods: _Periods
    lookback: kql_ir.Expr

    def columns_after(self, cols: list[str]) -> list[str]:
        """Timeline, Count, dcount."""
        self.periods.check(cols)
        return [self.periods.timeline, "Count", "dcount"]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        self.columns_after(cols)
        lookback = _microseconds(_sql(self.lookback))
        spread = (
            f"SELECT __id, __p + __i AS __p, __s, __b, __last FROM __sw_in, "
            f"range(0, greatest({lookback} // __b, 1)) AS __r(__i)"
        )
        kept = f"SELECT * FROM ({spread}) WHERE __p <= __last"
        return (
            f"WITH __sw_in AS ({self.periods.numbered(prev)}) "
            f"SELECT any_value(__s) + to_microseconds(__p * any_value(__b)) AS {_q(self.periods.timeline)}, "
            f'count(*) AS "Count", count(DISTINCT __id) AS "dcount" FROM ({kept}) '
            f"WHERE {self.periods.every_period(kept)} GROUP BY __p ORDER BY __p"
        )


@dataclass(frozen=True)
class ActivityCountsMetrics(kql_ir.Operator):
    """`activity_counts_metrics(Id, Timeline, Start, End, Step)`: per Step period from Start to End, the count,
    distinct count, distinct count of ids not seen in an earlier period, and distinct count so far."""

    periods: _Periods

    def columns_after(self, cols: list[str]) -> list[str]:
        """Timeline, count, dcount, new_dcount, aggregated_dcount."""
        self.periods.check(cols)
        return [self.periods.timeline, "count", "dcount", "new_dcount", "aggregated_dcount"]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        self.columns_after(cols)
        first = "SELECT __id, min(__p) AS __f FROM __ac_in WHERE __id IS NOT NULL GROUP BY __id"
        news = "SELECT __f AS __p, count(*) AS __n FROM __ac_first GROUP BY __f"
        return (
            f"WITH __ac_in AS ({self.periods.numbered(prev)}), __ac_first AS ({first}), __ac_new AS ({news}), "
            f"__ac_per AS (SELECT __p, any_value(__s) AS __s, any_value(__b) AS __b, count(*) AS __c, "
            f"count(DISTINCT __id) AS __d FROM __ac_in WHERE {self.periods.every_period('SELECT * FROM __ac_in')} "
            f"GROUP BY __p) "
            f'SELECT __s + to_microseconds(__ac_per.__p * __b) AS {_q(self.periods.timeline)}, __c AS "count", '
            f'__d AS "dcount", CAST(coalesce(__ac_new.__n, 0) AS BIGINT) AS "new_dcount", '
            f'CAST(sum(coalesce(__ac_new.__n, 0)) OVER (ORDER BY __ac_per.__p) AS BIGINT) AS "aggregated_dcount" '
            f"FROM __ac_per LEFT JOIN __ac_new ON __ac_new.__p = __ac_per.__p ORDER BY __ac_per.__p"
        )


@dataclass(frozen=True)
class Narrow(kql_ir.Operator):
    """`narrow()`: one row per input cell, `Row` (the input row's number from 0), `Column` and `Value` (the cell as
    a string, as `tostring()` writes it), in the input's order."""

    def columns_after(self, cols: list[str]) -> list[str]:
        """Row, Column, Value."""
        return ["Row", "Column", "Value"]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`), in `prev`'s order."""
        cells = []
        for position, column in enumerate(cols):
            value = _sql(kql_ir.FunctionCall("tostring", (kql_ir.ColumnRef(column),)))
            cells.append(
                f'SELECT __nw_n - 1 AS "Row", {kql_translate.quote_string(column)} AS "Column", '
                f'CAST({value} AS VARCHAR) AS "Value", {position} AS __nw_c FROM __nw_in'
            )
        return (
            f"WITH __nw_in AS (SELECT *, row_number() OVER () AS __nw_n FROM {prev}) "
            f'SELECT "Row", "Column", "Value" FROM ({" UNION ALL ".join(cells)}) ORDER BY "Row", __nw_c'
        )


PIVOT_MARKERS = ("__kql_pivot_key", "__kql_pivot_value", "__kql_pivot_group_order", "__kql_pivot_key_order")
# The aggregates whose value for a group without rows of a pivot value is known (0, as the documentation shows).
_PIVOT_AGGREGATES = ("count", "countif", "sum", "sumif", "dcount", "dcountif")


@dataclass(frozen=True)
class Pivot(kql_ir.Operator):
    """`pivot(Column [, Aggregate] [, Group, ...])`: one row per group, one column per value of Column (named by its
    string form, in order of first appearance), each the aggregate (count() by default) over those rows."""

    column: str
    aggregate: kql_ir.Expr
    groups: tuple[str, ...] | None

    def _groups(self, cols: list[str]) -> list[str]:
        _require(cols, [self.column, *(self.groups or ())], "pivot")
        if self.groups is not None:
            return list(self.groups)
        read = set(_column_names(self.aggregate))
        return [c for c in cols if c != self.column and c not in read]

    def columns_after(self, cols: list[str]) -> list[str]:
        """The group columns, then the markers the answer is reshaped by."""
        return [*self._groups(cols), *PIVOT_MARKERS]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`): the long table, in the order the wide one takes."""
        groups = self._groups(cols)
        key = kql_ir.FunctionCall("tostring", (kql_ir.ColumnRef(self.column),))
        summarize = kql_ir.Summarize(
            (
                kql_ir.NamedExpr(self.aggregate, "__pv_v"),
                kql_ir.NamedExpr(kql_ir.FunctionCall("min", (kql_ir.ColumnRef("__pv_o"),)), "__pv_f"),
            ),
            (*(kql_ir.NamedExpr(kql_ir.ColumnRef(g)) for g in groups), kql_ir.NamedExpr(key, "__pv_k")),
        )
        numbered = f"(SELECT *, row_number() OVER () AS __pv_o FROM {prev})"
        summarized = _original_render(summarize, numbered, [*cols, "__pv_o"])
        within = f"PARTITION BY {', '.join(_q(g) for g in groups)}" if groups else ""
        chosen = "".join(f"{_q(g)}, " for g in groups)
        key_name, value_name, group_order, key_order = (_q(m) for m in PIVOT_MARKERS)
        return (
            f"SELECT {chosen}__pv_k AS {key_name}, __pv_v AS {value_name}, "
            f"min(__pv_f) OVER ({within}) AS {group_order}, min(__pv_f) OVER (PARTITION BY __pv_k) AS {key_order} "
            f"FROM ({summarized}) ORDER BY {group_order}, {key_order}"
        )


def _column_names(node: Any) -> list[str]:
    return [n.name for n in ir_nodes(node, into_queries=False) if isinstance(n, kql_ir.ColumnRef)]


def pivot_reshape(
    columns: list[dict[str, str]], rows_json: bytes, truncated: bool
) -> tuple[list[dict[str, str]], list[list[Any]]] | None:
    """The wide answer of a query that ended with `pivot`, from its long one; None when it did not."""
    names = [column["name"] for column in columns]
    if not any(marker in names for marker in PIVOT_MARKERS):
        return None
    if tuple(names[-len(PIVOT_MARKERS) :]) != PIVOT_MARKERS or names.count(PIVOT_MARKERS[0]) != 1:
        raise KqlRefusalError("pivot: it must be the query's last operator in this local Log Analytics.")
    if truncated:
        raise KqlRefusalError("pivot: its input is past this local Log Analytics' result limits; narrow it first.")
    width = len(names) - len(PIVOT_MARKERS)
    rows = json.loads(b"[" + rows_json + b"]")
    keys: list[str] = []
    groups: dict[str, list[Any]] = {}
    cells: dict[tuple[str, str], Any] = {}
    for row in rows:
        key = row[width]
        if not isinstance(key, str) or not key or key in names[:width]:
            raise KqlRefusalError(
                f"pivot: a value that makes the column name {json.dumps(key)} is not supported by this local Log "
                "Analytics."
            )
        group = json.dumps(row[:width])
        groups.setdefault(group, row[:width])
        if key not in keys:
            keys.append(key)
        cells[(group, key)] = row[width + 1]
    keys.sort(key=lambda k: next(r[width + 3] for r in rows if r[width] == k))
    value_type = columns[width + 1]["type"]
    wide_columns = [*columns[:width], *({"name": key, "type": value_type} for key in keys)]
    wide_rows = [[*values, *(cells.get((group, key), 0) for key in keys)] for group, values in groups.items()]
    return wide_columns, wide_rows


EVALUATE_OPERATORS = (
    RowsNear, DcountIntersect, RollingPercentile, SlidingWindowCounts, ActivityCountsMetrics, Narrow, Pivot
)  # fmt: skip


def _arguments(node: Any) -> tuple[str, list[kql_ir.Expr]]:
    """The plugin's name and its arguments (unnamed expressions), from an `EvaluateOperator` node."""
    calls = [kid for kid in kql_lower._rule_children(node) if kql_lower._cls(kid) == "FunctionCallExpression"]
    if len(calls) != 1:
        raise KqlRefusalError("evaluate: expected a plugin call.")
    call = kql_lower._collapse(calls[0])
    kids = kql_lower._rule_children(call)
    names = kql_lower._find_names(kids[0]) if kids else []
    if not names:
        raise KqlRefusalError("evaluate: expected a plugin call.")
    arguments = []
    for kid in kids[1:]:
        named = kql_lower._lower_named(kid)
        if named.name is not None:
            raise KqlRefusalError(f"{names[0]}: named arguments are not supported by this local Log Analytics.")
        arguments.append(named.expr)
    return names[0], arguments


def _periods(plugin: str, args: list[kql_ir.Expr]) -> _Periods:
    ident = _column(args[0], plugin, "id column")
    timeline = _column(args[1], plugin, "timeline column")
    return _Periods(plugin, ident, timeline, args[2], args[3], args[-1])


def lower_evaluate(node: Any) -> kql_ir.Operator | None:
    """The operator for an `evaluate` of a plugin added here; None for any other plugin."""
    kinds = [kql_lower._cls(kid) for kid in kql_lower._rule_children(node)]
    plugin, args = _arguments(node)
    known = (
        "rows_near", "dcount_intersect", "rolling_percentile", "sliding_window_counts", "activity_counts_metrics",
        "narrow", "pivot",
    )  # fmt: skip
    if plugin not in known:
        return None
    if "EvaluateOperatorSchemaClause" in kinds:
        raise KqlRefusalError(f"{plugin}: an output schema is not supported by this local Log Analytics.")
    if "RelaxedQueryOperatorParameter" in kinds:
        raise KqlRefusalError(f"{plugin}: evaluate hints are not supported by this local Log Analytics.")
    if plugin == "narrow":
        if args:
            raise KqlRefusalError("narrow: takes no arguments.")
        return Narrow()
    if plugin == "pivot":
        return _lower_pivot(args)
    if plugin == "rows_near":
        if len(args) not in (2, 3):
            raise KqlRefusalError("rows_near: expected (Condition, NumRows [, RowsAfter]).")
        before = _whole(args[1], plugin, "number of rows")
        after = _whole(args[2], plugin, "number of rows after") if len(args) == 3 else before
        return RowsNear(args[0], before, after)
    if plugin == "dcount_intersect":
        if not 2 <= len(args) <= 16:
            raise KqlRefusalError("dcount_intersect: expected 2 to 16 hll values.")
        return DcountIntersect(tuple(args))
    if plugin == "rolling_percentile":
        if len(args) < 5:
            raise KqlRefusalError(
                "rolling_percentile: expected (Value, Percentile, Index, BinSize, BinsPerWindow, ...)."
            )
        dims = tuple(_column(arg, plugin, "dimension") for arg in args[5:])
        return RollingPercentile(
            _column(args[0], plugin, "value column"),
            args[1],
            _column(args[2], plugin, "index column"),
            args[3],
            _whole(args[4], plugin, "number of bins per window", 1),
            dims,
        )
    if plugin == "sliding_window_counts":
        if len(args) != 6:
            raise KqlRefusalError(
                "sliding_window_counts: expected (Id, Timeline, Start, End, LookbackWindow, Bin); dimensions are not "
                "supported by this local Log Analytics."
            )
        return SlidingWindowCounts(_periods(plugin, args), args[4])
    if len(args) != 5:
        raise KqlRefusalError(
            "activity_counts_metrics: expected (Id, Timeline, Start, End, Step); dimensions are not supported by this "
            "local Log Analytics."
        )
    return ActivityCountsMetrics(_periods(plugin, args))


def _lower_pivot(args: list[kql_ir.Expr]) -> Pivot:
    if not args:
        raise KqlRefusalError("pivot: expected (Column [, Aggregate] [, Column, ...]).")
    column = _column(args[0], "pivot", "pivot column")
    aggregate: kql_ir.Expr = kql_ir.FunctionCall("count", ())
    rest = args[1:]
    if rest and isinstance(rest[0], kql_ir.FunctionCall):
        aggregate, rest = rest[0], rest[1:]
        if not isinstance(aggregate, kql_ir.FunctionCall) or aggregate.name not in _PIVOT_AGGREGATES:
            raise KqlRefusalError(
                f"pivot: the aggregate {aggregate.name}() is not supported by this local Log Analytics (it takes "
                f"{', '.join(f'{name}()' for name in _PIVOT_AGGREGATES)})."
            )
    groups = tuple(_column(arg, "pivot", "group column") for arg in rest)
    return Pivot(column, aggregate, groups or None)
