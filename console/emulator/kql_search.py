"""Kusto's `search` operator over one workspace table, for the local Log Analytics.

`T | search [kind=case_sensitive] Predicate` and `search [kind=...] in (T) Predicate`: the rows of T where the
predicate holds, with a leading `$table` column naming T. In the predicate a bare string term is looked for in
every column, as `* has "term"` (`term*` as hasprefix, `*term` as hassuffix, `*term*` as contains; case-sensitive
forms with `kind=case_sensitive`), `*` alone matches every row, and anything else is an ordinary condition.

Refused, with a sentence: a search over every table (no `in`, no input) or several, whose output columns Kusto
chooses itself; an input that is not a table (Kusto names its rows with a generated name); `Column:term`; a term
with a `*` inside it; and `kind=case_sensitive` with conditions other than terms.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import lower as kql_lower
from duckdb_kql import translate as kql_translate

from console.emulator.kql_tree import ir_nodes
from console.emulator.kql_units import KqlRefusalError

__all__ = ["TABLE_COLUMN", "Search", "lower_search", "placed_searches"]

TABLE_COLUMN = "$table"


@dataclass(frozen=True)
class Search(kql_ir.Operator):
    """`search` over the rows of one table (`table`, set once the query's source is known)."""

    predicate: kql_ir.Expr
    case_sensitive: bool = False
    table: str | None = None

    def columns_after(self, cols: list[str]) -> list[str]:
        """`$table`, then the input's columns."""
        if TABLE_COLUMN in cols:
            raise KqlRefusalError("search: the input already has a column named $table.")
        return [TABLE_COLUMN, *cols]

    def render(self, prev: str, cols: list[str], render_original: Any) -> str:
        """SQL over `prev` (whose columns are `cols`)."""
        if self.table is None:
            raise KqlRefusalError(
                "search: only a search of one table (T | search ..., or search in (T) ...) is supported by this "
                "local Log Analytics."
            )
        where = render_original(kql_ir.Where(self._predicate(self.predicate, cols)), prev, cols)
        label = kql_translate.quote_string(self.table)
        return f"SELECT {label} AS {kql_translate.quote_ident(TABLE_COLUMN)}, * FROM ({where})"

    def _predicate(self, node: kql_ir.Expr, cols: list[str]) -> kql_ir.Expr:
        if isinstance(node, kql_ir.Wildcard):
            return kql_ir.Literal(True, "bool")
        if isinstance(node, kql_ir.Literal) and node.kind == "string":
            return _term(str(node.value), cols, self.case_sensitive)
        if isinstance(node, kql_ir.BinaryOp) and node.op in ("and", "or"):
            return kql_ir.BinaryOp(node.op, self._predicate(node.left, cols), self._predicate(node.right, cols))
        if isinstance(node, kql_ir.FunctionCall) and node.name == "not" and len(node.args) == 1:
            return kql_ir.FunctionCall("not", (self._predicate(node.args[0], cols),))
        if self.case_sensitive:
            raise KqlRefusalError(
                "search: kind=case_sensitive with conditions other than terms is not supported by this local Log "
                "Analytics."
            )
        return node


def _term(text: str, cols: list[str], case_sensitive: bool) -> kql_ir.Expr:
    """`* has "text"` (or its prefix, suffix or contains form) over every column, as its string form."""
    core = text.strip("*")
    if not core or "*" in core:
        raise KqlRefusalError(f"search: the term {text!r} is not supported by this local Log Analytics.")
    starts, ends = text.startswith("*"), text.endswith("*")
    op = "contains" if starts and ends else "hassuffix" if starts else "hasprefix" if ends else "has"
    op += "_cs" if case_sensitive else ""
    found: kql_ir.Expr = kql_ir.Literal(False, "bool")
    for i, column in enumerate(cols):
        text_of = kql_ir.FunctionCall("tostring", (kql_ir.ColumnRef(column),))
        test = kql_ir.BinaryOp(op, text_of, kql_ir.Literal(core, "string"))
        found = test if i == 0 else kql_ir.BinaryOp("or", found, test)
    return found


def _options(node: Any) -> tuple[bool, list[Any], Any]:
    """(case sensitive, the `in (...)` sources, the predicate node) of a `SearchOperator` node."""
    case_sensitive = False
    sources: list[Any] = []
    predicate = None
    for kid in kql_lower._rule_children(node):
        kind = kql_lower._cls(kid)
        if kind == "RelaxedQueryOperatorParameter":
            option, _, value = str(kid.getText()).partition("=")
            if option.strip().lower() != "kind" or value.strip().lower() not in (
                "default", "case_insensitive", "case_sensitive"
            ):  # fmt: skip
                raise KqlRefusalError(f"search: {kid.getText()} is not supported by this local Log Analytics.")
            case_sensitive = value.strip().lower() == "case_sensitive"
        elif kind == "SearchOperatorInClause":
            sources = [s for s in kql_lower._rule_children(kid) if kql_lower._cls(s) == "FindOperatorSource"]
        else:
            predicate = kid
    if predicate is None:
        raise KqlRefusalError("search: expected a predicate.")
    return case_sensitive, sources, predicate


def _lower_predicate(node: Any) -> kql_ir.Expr:
    try:
        return kql_lower._lower_expr(node)
    except KqlRefusalError:
        raise
    except Exception as error:
        if "operator::" in str(error):
            raise KqlRefusalError(
                'search: Column:term is not supported by this local Log Analytics; write Column has "term".'
            ) from None
        raise


def lower_search(node: Any, piped: bool) -> tuple[Search, Any | None]:
    """The `Search` operator for a `SearchOperator` node, and the node of the table it reads when it starts the
    query (`search in (T) ...`)."""
    case_sensitive, sources, predicate = _options(node)
    if piped and sources:
        raise KqlRefusalError("search: `in (...)` cannot follow an input.")
    source = None
    if not piped:
        if len(sources) != 1:
            raise KqlRefusalError(
                "search: a search of every table, or of several, is not supported by this local Log Analytics; "
                "name one table: search in (T) ..."
            )
        entity = kql_lower._rule_children(sources[0])
        if len(entity) != 1 or kql_lower._cls(entity[0]) != "FindOperatorSourceEntityExpression":
            raise KqlRefusalError("search: `in (...)` takes a table name here.")
        source = entity[0]
    return Search(_lower_predicate(predicate), case_sensitive), source


def placed_searches(query: kql_ir.Query) -> kql_ir.Query:
    """`query` with each `search` that reads a workspace table straight away told that table's name; a search
    anywhere else is refused."""
    if not _searches(query):
        return query
    placed = _place(query, frozenset(), {})
    if any(search.table is None for search in _searches(placed)):
        raise KqlRefusalError(
            "search: only a search of one table (T | search ..., or search in (T) ...) is supported by this local "
            "Log Analytics."
        )
    result: kql_ir.Query = placed
    return result


def _searches(value: Any) -> list[Search]:
    """Every `search` in `value`."""
    return [node for node in ir_nodes(value) if isinstance(node, Search)]


def _place(value: Any, let_names: frozenset[str], memo: dict[tuple[int, frozenset[str]], Any]) -> Any:
    key = (id(value), let_names)
    if key in memo:
        return memo[key]
    out: Any = value
    if isinstance(value, kql_ir.Query):
        inner = let_names | {name for name, _ in value.lets}
        operators = list(value.operators)
        first = operators[0] if operators else None
        source = value.source
        if (
            isinstance(first, Search)
            and isinstance(source, kql_ir.TableRef)
            and source.name not in inner
            and source.cluster is None
        ):
            operators[0] = dataclasses.replace(first, table=source.name)
        out = dataclasses.replace(
            value,
            source=_place(source, inner, memo),
            operators=[_place(op, inner, memo) for op in operators],
            lets=[(name, _place(bound, inner, memo)) for name, bound in value.lets],
        )
    elif isinstance(value, (tuple, list)):
        out = type(value)(_place(item, let_names, memo) for item in value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, (type, Search)):
        changes = {f.name: _place(getattr(value, f.name), let_names, memo) for f in dataclasses.fields(value) if f.init}
        out = dataclasses.replace(value, **changes)
    memo[key] = out
    return out
