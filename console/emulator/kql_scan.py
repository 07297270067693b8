"""Kusto's `scan` operator for the local Log Analytics, which duckdb-kql parses but does not translate.

`T | scan [with_match_id=Id] [declare (c: type [= default], ...)] with (step s [output=all|none]: Condition
[=> c = Expr, ...]; ...)` runs a state machine over T's rows in T's order, as Kusto documents it: each row is
checked against the steps from the last to the first; a step matches when the previous step has an active
sequence and the condition holds over that state (the sequence is promoted), or when the step itself (or the
first step) holds one and the condition holds over its own state. `s.c` reads column `c` of the row that last
matched step `s` in the state being checked; a declared column not yet assigned reads as its default.

It renders as one recursive SQL query: each iteration reads the next input row and computes the new state of
every step (their columns flattened into SQL columns) and what that row outputs. So it composes like any other
operator (inside `partition`, before `project`...). Not supported, and refused: `output=last`, the `partition
by` / `order by` clauses, assigning or reading a declared column without a step name, and inputs of more than
`SCAN_ROW_LIMIT` rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import lower as kql_lower
from duckdb_kql import translate as kql_translate

from console.emulator.kql_serialize import ROW_FUNCTIONS
from console.emulator.kql_tree import ir_nodes
from console.emulator.kql_units import KqlRefusalError

__all__ = ["SCAN_ROW_LIMIT", "Scan", "ScanDeclared", "ScanStep", "lower_scan"]

SCAN_ROW_LIMIT = 100_000
"""The most input rows one scan (one partition's, inside `partition`) takes before it refuses."""

_q = kql_translate.quote_ident


@dataclass(frozen=True)
class ScanDeclared:
    """One `declare` column: its name, Kusto type and default (None: null)."""

    name: str
    kind: str
    default: kql_ir.Expr | None


@dataclass(frozen=True)
class ScanStep:
    """One `step Name [output=...]: Condition [=> column = Expr, ...]`."""

    name: str
    output: str
    condition: kql_ir.Expr
    assignments: tuple[tuple[str, kql_ir.Expr], ...]


@dataclass(frozen=True)
class Scan(kql_ir.Operator):
    """`scan [with_match_id=Id] [declare (...)] with (step ...; ...)`."""

    declared: tuple[ScanDeclared, ...]
    steps: tuple[ScanStep, ...]
    match_id: str | None

    def _check(self, cols: list[str]) -> None:
        names = [d.name for d in self.declared] + ([self.match_id] if self.match_id else [])
        for name in names:
            if name in cols:
                raise KqlRefusalError(f"scan: the input already has a column named '{name}'.")
        if len(set(names)) != len(names):
            raise KqlRefusalError("scan: a declared column and the match id column share a name.")

    def columns_after(self, cols: list[str]) -> list[str]:
        """The output columns for input columns `cols`: those, the declared ones, then the match id."""
        self._check(cols)
        return [*cols, *(d.name for d in self.declared), *([self.match_id] if self.match_id else [])]

    def render(self, prev: str, cols: list[str]) -> str:
        """SQL over `prev` (whose columns are `cols`), in `prev`'s order."""
        self._check(cols)
        return _ScanSql(self, cols).render(prev)


class _ScanSql:
    """The recursive query one scan renders to.

    Columns of each iteration's row: `__rn` (the input row read), `__nid` (the next match id), `__r{i}` (that
    row's input columns), `__z{i}` (an empty state slot: null, or a declared column's default), and per step
    k: `__a{k}` (an active sequence), `__m{k}` (its match id), `__s{k}_{j}_{i}` (column i of the row that
    matched step j, for j <= k), and what the row output at step k: `__e{k}`, `__em{k}`, `__x{k}_{d}`.
    """

    def __init__(self, scan: Scan, cols: list[str]) -> None:
        self.scan = scan
        self.cols = cols
        self.names = [*cols, *(d.name for d in scan.declared)]
        self.width = len(self.names)
        self.inputs = len(cols)
        self.types = [kql_translate.TYPE_MAP[d.kind] for d in scan.declared]
        self.steps = {step.name: k for k, step in enumerate(scan.steps)}

    def state_columns(self) -> list[str]:
        columns = ["__rn", "__nid"]
        columns += [f"__r{i}" for i in range(self.inputs)]
        columns += [f"__z{i}" for i in range(self.width)]
        for k in range(len(self.scan.steps)):
            columns += [f"__a{k}", f"__m{k}"]
            columns += [f"__s{k}_{j}_{i}" for j in range(k + 1) for i in range(self.width)]
            columns += [f"__e{k}", f"__em{k}"]
            columns += [f"__x{k}_{d}" for d in range(len(self.scan.declared))]
        return columns

    # -- expressions ---------------------------------------------------------------------------

    def expression(self, expr: kql_ir.Expr, slot: Any) -> str:
        """`expr` as SQL, its columns read from the current row and `step.column` from `slot(j)`: the prefix of
        step j's columns in the state being checked, or None for an empty slot."""
        return kql_translate.render_expr(self._bind(expr, slot))

    def _bind(self, node: Any, slot: Any) -> Any:
        if isinstance(node, kql_ir.Query):
            return node
        if isinstance(node, kql_ir.PathAccess) and isinstance(node.base, kql_ir.ColumnRef):
            step = self.steps.get(node.base.name)
            if step is not None and node.base.name not in self.cols:
                column = node.steps[0].name
                if column not in self.names:
                    raise KqlRefusalError(
                        f"scan: Failed to resolve scalar expression named '{node.base.name}.{column}'."
                    )
                index = self.names.index(column)
                prefix = slot(step)
                ref = kql_ir.ColumnRef(f"__z{index}" if prefix is None else f"{prefix}_{index}")
                rest = tuple(self._bind(s, slot) for s in node.steps[1:])
                return kql_ir.PathAccess(ref, rest) if rest else ref
        if isinstance(node, kql_ir.ColumnRef):
            if node.name in self.cols:
                return kql_ir.ColumnRef(f"__r{self.cols.index(node.name)}")
            if node.name in self.names or node.name in self.steps:
                raise KqlRefusalError(
                    f"scan: '{node.name}' is read here without a step; this local Log Analytics takes only "
                    "input columns and step.column in a step."
                )
            return node
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            changes = {f.name: self._bind(getattr(node, f.name), slot) for f in dataclasses.fields(node) if f.init}
            return dataclasses.replace(node, **changes)
        if isinstance(node, tuple):
            return tuple(self._bind(item, slot) for item in node)
        if isinstance(node, list):
            return [self._bind(item, slot) for item in node]
        return node

    # -- the query -----------------------------------------------------------------------------

    def render(self, prev: str) -> str:
        state = self.state_columns()
        reads = ", ".join(f"{_q(c)} AS __r{i}" for i, c in enumerate(self.cols))
        reads = f"{reads}, " if reads else ""
        limit = SCAN_ROW_LIMIT
        refusal = kql_translate.quote_string(
            f"scan: the input has more than {limit:,} rows; this local Log Analytics scans up to {limit:,} "
            "(filter or summarize the input first)."
        )
        numbered = f"(SELECT {reads}row_number() OVER () AS __n FROM {prev})"
        source = f"SELECT *, CASE WHEN __n > {limit} THEN error({refusal}) ELSE __n END AS __rn FROM {numbered}"
        anchor = self._anchor(state)
        step_sql = self._iteration(state)
        legs = []
        outputs = [*(_q(c) for c in self.names), *([_q(self.scan.match_id)] if self.scan.match_id else [])]
        for k in range(len(self.scan.steps)):
            values = [f"__r{i}" for i in range(self.inputs)]
            values += [f"__x{k}_{d}" for d in range(len(self.scan.declared))]
            values += [f"__em{k}"] if self.scan.match_id else []
            chosen = ", ".join(f"{v} AS {name}" for v, name in zip(values, outputs, strict=True))
            order = len(self.scan.steps) - 1 - k
            legs.append(f"SELECT __rn AS __o_rn, {order} AS __o_k, {chosen} FROM __sc_rec WHERE __e{k}")
        return (
            f"WITH RECURSIVE __sc_in AS MATERIALIZED ({source}), "
            f"__sc_rec AS ({anchor} UNION ALL {step_sql}) "
            f"SELECT {', '.join(outputs)} FROM ({' UNION ALL '.join(legs)}) ORDER BY __o_rn, __o_k"
        )

    def _empty(self, i: int, z: str) -> str:
        if i < self.inputs:
            return f"{z}.__r{i}"
        declared = self.scan.declared[i - self.inputs]
        value = "NULL" if declared.default is None else kql_translate.render_expr(declared.default)
        return f"CAST({value} AS {self.types[i - self.inputs]})"

    def _anchor(self, state: list[str]) -> str:
        values: dict[str, str] = {"__rn": "CAST(0 AS BIGINT)", "__nid": "CAST(0 AS BIGINT)"}
        for i in range(self.inputs):
            values[f"__r{i}"] = f"__z.__r{i}"
        for i in range(self.width):
            values[f"__z{i}"] = self._empty(i, "__z")
        for k in range(len(self.scan.steps)):
            values[f"__a{k}"] = "false"
            values[f"__m{k}"] = "CAST(NULL AS BIGINT)"
            for j in range(k + 1):
                for i in range(self.width):
                    values[f"__s{k}_{j}_{i}"] = self._empty(i, "__z")
            values[f"__e{k}"] = "false"
            values[f"__em{k}"] = "CAST(NULL AS BIGINT)"
            for d, kind in enumerate(self.types):
                values[f"__x{k}_{d}"] = f"CAST(NULL AS {kind})"
        chosen = ", ".join(f"{values[c]} AS {c}" for c in state)
        return f"SELECT {chosen} FROM (SELECT 1) AS __one LEFT JOIN (SELECT * FROM __sc_in WHERE false) AS __z ON true"

    def _iteration(self, state: list[str]) -> str:
        carried = ", ".join(
            f"__i.{c}" if c == "__rn" or (c.startswith("__r") and c[3:].isdigit()) else f"__p.{c}" for c in state
        )
        sql = f"SELECT {carried} FROM __sc_rec AS __p JOIN __sc_in AS __i ON __i.__rn = __p.__rn + 1"
        for k in reversed(range(len(self.scan.steps))):
            sql = self._step(k, sql, state)
        return sql

    def _step(self, k: int, source: str, state: list[str]) -> str:
        step = self.scan.steps[k]

        def promoted(j: int) -> str | None:
            return f"__s{k - 1}_{j}" if j < k else None

        def own(j: int) -> str | None:
            return f"__s{k}_{j}"

        first = f"(__a{k - 1} AND coalesce(({self.expression(step.condition, promoted)}), false))" if k else "false"
        second = f"(({'true' if k == 0 else f'__a{k}'}) AND coalesce(({self.expression(step.condition, own)}), false))"
        checked = f"SELECT *, {first} AS __g1, {second} AS __g2 FROM ({source})"
        h1, h2 = "__g1", "(__g2 AND NOT __g1)"
        assigned = dict(step.assignments)
        values = []
        for d, declared in enumerate(self.scan.declared):
            expr = assigned.get(declared.name)
            if expr is None:
                value = f"__z{self.inputs + d}"
            else:
                value = (
                    f"CAST(CASE WHEN {h1} THEN ({self.expression(expr, promoted)}) "
                    f"WHEN {h2} THEN ({self.expression(expr, own)}) END AS {self.types[d]})"
                )
            values.append(f"{value} AS __y{d}")
        extended = f"SELECT *{''.join(', ' + v for v in values)} FROM ({checked})"
        matched = f"({h1} OR {h2})"
        new_sequence = f"({h2} AND NOT __a0)" if k == 0 else "false"

        def row_value(i: int) -> str:
            return f"__r{i}" if i < self.inputs else f"__y{i - self.inputs}"

        changes: dict[str, str] = {
            f"__a{k}": f"(__a{k} OR {matched})",
            f"__m{k}": (
                f"CASE WHEN {h1} THEN __m{k - 1} ELSE __m{k} END"
                if k
                else f"CASE WHEN {new_sequence} THEN __nid ELSE __m0 END"
            ),
            f"__e{k}": matched if step.output == "all" else "false",
            f"__em{k}": (
                f"CASE WHEN {h1} THEN __m{k - 1} WHEN {h2} THEN __m{k} END"
                if k
                else f"CASE WHEN {new_sequence} THEN __nid WHEN {h2} THEN __m0 END"
            ),
        }
        if k == 0:
            changes["__nid"] = f"CASE WHEN {new_sequence} THEN __nid + 1 ELSE __nid END"
        for d in range(len(self.scan.declared)):
            changes[f"__x{k}_{d}"] = f"__y{d}"
        for i in range(self.width):
            for j in range(k):
                changes[f"__s{k}_{j}_{i}"] = f"CASE WHEN {h1} THEN __s{k - 1}_{j}_{i} ELSE __s{k}_{j}_{i} END"
            changes[f"__s{k}_{k}_{i}"] = f"CASE WHEN {matched} THEN {row_value(i)} ELSE __s{k}_{k}_{i} END"
        if k:
            # The previous step's sequence moved on to this one: its state is empty again.
            changes[f"__a{k - 1}"] = f"(__a{k - 1} AND NOT {h1})"
            changes[f"__m{k - 1}"] = f"CASE WHEN {h1} THEN NULL ELSE __m{k - 1} END"
            for j in range(k):
                for i in range(self.width):
                    changes[f"__s{k - 1}_{j}_{i}"] = f"CASE WHEN {h1} THEN __z{i} ELSE __s{k - 1}_{j}_{i} END"
        chosen = ", ".join(f"{changes[c]} AS {c}" if c in changes else c for c in state)
        return f"SELECT {chosen} FROM ({extended})"


# --------------------------------------------------------------------------------------------------
# Lowering, from the library's parse tree
# --------------------------------------------------------------------------------------------------


def _name(node: Any) -> str:
    names = kql_lower._find_names(node)
    if len(names) != 1:
        raise KqlRefusalError(f"scan: {node.getText()} is not a name this local Log Analytics reads.")
    return names[0]


def _calls(node: Any) -> list[str]:
    return [n.name for n in ir_nodes(node, into_queries=False) if isinstance(n, kql_ir.FunctionCall)]


def _step_reads(node: Any, steps: list[str]) -> list[str]:
    """The step names `node` reads as `step.column` (or refuses to read another way)."""
    found: list[str] = []
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kql_ir.Query):
            continue
        if (
            isinstance(current, kql_ir.PathAccess)
            and isinstance(current.base, kql_ir.ColumnRef)
            and current.base.name in steps
        ):
            if current.steps[0].name is None:
                raise KqlRefusalError(
                    f"scan: read a step's column by name ({current.base.name}.Column) in this local Log Analytics."
                )
            found.append(current.base.name)
            stack.extend(current.steps[1:])
            continue
        if isinstance(current, (tuple, list)):
            stack.extend(current)
        elif dataclasses.is_dataclass(current) and not isinstance(current, type):
            stack.extend(getattr(current, f.name) for f in dataclasses.fields(current))
    return found


def _lower_step(node: Any, declared: list[str]) -> ScanStep:
    name: str | None = None
    output = "all"
    condition: kql_ir.Expr | None = None
    assignments: list[tuple[str, kql_ir.Expr]] = []
    for kid in kql_lower._rule_children(node):
        kind = kql_lower._cls(kid)
        if kind == "ParameterName":
            name = _name(kid)
        elif kind == "ScanOperatorStepOutputClause":
            output = str(kid.getText()).split("=", 1)[-1].strip().lower()
        elif kind == "ScanOperatorBody":
            for assignment in kql_lower._rule_children(kid):
                parts = kql_lower._rule_children(assignment)
                if kql_lower._cls(assignment) != "ScanOperatorAssignment" or len(parts) != 2:
                    raise KqlRefusalError("scan: each assignment is `column = expression`.")
                target = _name(parts[0])
                if target not in declared:
                    raise KqlRefusalError(
                        f"scan: '{target}' is assigned but not declared; declare it (declare ({target}: type))."
                    )
                assignments.append((target, kql_lower._lower_expr(parts[1])))
        elif condition is None:
            condition = kql_lower._lower_expr(kid)
        else:
            raise KqlRefusalError(f"scan: {kid.getText()[:40]} is not supported by this local Log Analytics.")
    if name is None or condition is None:
        raise KqlRefusalError("scan: each step is `step Name: Condition [=> column = expression, ...];`.")
    if output == "last":
        raise KqlRefusalError("scan: output=last is not supported by this local Log Analytics.")
    if output not in ("all", "none"):
        raise KqlRefusalError(f"scan: output={output} is not a step output (all, last or none).")
    return ScanStep(name, output, condition, tuple(assignments))


def lower_scan(node: Any) -> Scan:
    """The `Scan` operator for a `ScanOperator` parse-tree node."""
    match_id: str | None = None
    declared: list[ScanDeclared] = []
    steps: list[ScanStep] = []
    for kid in kql_lower._rule_children(node):
        kind = kql_lower._cls(kid)
        if kind == "RelaxedQueryOperatorParameter":
            parts = kql_lower._rule_children(kid)
            option = str(kid.getText()).split("=", 1)[0].strip().lower()
            if option != "with_match_id" or not parts:
                raise KqlRefusalError(f"scan: {option} is not supported by this local Log Analytics.")
            match_id = _name(parts[-1])
        elif kind == "ScanOperatorDeclareClause":
            for parameter in kql_lower._rule_children(kid):
                name, default = kql_lower._lower_let_parameter(parameter)
                types = [t for t in kql_lower._rule_children(parameter) if kql_lower._cls(t) == "ScalarType"]
                kql_type = str(types[0].getText()).lower() if types else ""
                if kql_type not in kql_translate.TYPE_MAP:
                    raise KqlRefusalError(f"scan: the type of '{name}' ({kql_type}) is not supported here.")
                declared.append(ScanDeclared(name, kql_type, default))
        elif kind == "ScanOperatorStep":
            steps.append(_lower_step(kid, [d.name for d in declared]))
        elif kind in ("ScanOperatorOrderByClause", "ScanOperatorPartitionByClause"):
            clause = "order by" if "Order" in kind else "partition by"
            raise KqlRefusalError(
                f"scan: the {clause} clause is not supported by this local Log Analytics; sort (or partition) the "
                "input first."
            )
        else:
            raise KqlRefusalError(f"scan: {kid.getText()[:40]} is not supported by this local Log Analytics.")
    if not steps:
        raise KqlRefusalError("scan: name at least one step.")
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise KqlRefusalError("scan: two steps have the same name.")
    clash = set(names) & {d.name for d in declared}
    if clash:
        raise KqlRefusalError(f"scan: '{sorted(clash)[0]}' names both a step and a declared column.")
    for k, step in enumerate(steps):
        expressions = [step.condition, *(expr for _, expr in step.assignments)]
        for read in _step_reads(expressions, names):
            if names.index(read) > k:
                raise KqlRefusalError(f"scan: step {step.name} reads {read}, a later step, whose state it cannot see.")
        used = set(_calls(expressions)) & set(ROW_FUNCTIONS)
        if used:
            raise KqlRefusalError(f"scan: {sorted(used)[0]}() in a step is not supported by this local Log Analytics.")
    return Scan(tuple(declared), tuple(steps), match_id)
