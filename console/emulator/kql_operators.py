"""Tabular operators the local Log Analytics adds to duckdb-kql: `project-reorder`, `project-keep`,
`project-by-names`, and `project-away` with wildcards.

Each is lowered (from the library's syntax tree) to `ColumnPick`, an operator of the library's IR
defined here, which the translator renders as a SELECT of the chosen columns and whose output
columns the library's schema tracking learns through `columns_after`. The library's three entry
points (`lower._lower_operator`, `translate.render_operator`, `schema._operator_columns_unchecked`)
are wrapped, not copied; anything else still goes to them. Tied to the pinned library version.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import lower as kql_lower
from duckdb_kql import schema as kql_schema
from duckdb_kql import translate as kql_translate

from console.emulator.kql_units import KqlRefusalError

__all__ = ["BY_NAMES_MARK", "TYPEOF", "ColumnPick", "install_operators"]

# `typeof(T)` as a function argument (extract(..., typeof(long))) is lowered to a call of this function
# with T's name; the functions that take a type read it, and anything else refuses it.
TYPEOF = "__kql_typeof"

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
        return original(node)

    setattr(lower, _MARK, True)
    return lower


def _render_operator(original: Callable[..., str]) -> Callable[..., str]:
    def render(op: Any, prev: str, cols: list[str] | None = None) -> str:
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
        if isinstance(op, ColumnPick):
            return op.columns_after(cols)
        return original(op, cols, schema)

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


def install_operators() -> None:
    """Wrap the library's lowering, rendering and column tracking (idempotent)."""
    if getattr(kql_lower._lower_operator, _MARK, False):
        return
    kql_lower._lower_expr = _lower_expr(kql_lower._lower_expr)  # type: ignore[assignment]
    kql_lower._lower_operator = _lower_operator(kql_lower._lower_operator)  # type: ignore[assignment]
    kql_translate.render_operator = _render_operator(kql_translate.render_operator)
    kql_schema._operator_columns_unchecked = _operator_columns(kql_schema._operator_columns_unchecked)


_REQUIRED = (
    kql_lower._cls,
    kql_lower._collapse,
    kql_lower._rule_children,
    kql_lower._lower_operator,
    kql_translate.render_operator,
    kql_translate.quote_ident,
    kql_schema._operator_columns_unchecked,
)
