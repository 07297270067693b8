"""What the local Log Analytics adds to duckdb-kql, through the library's own structures.

duckdb-kql keeps its KQL functions as data: `SCALAR_FUNCTIONS` and `AGGREGATE_FUNCTIONS` (rows
of SQL templates) in `duckdb_kql.translate.functions`, and `_SPECIAL_FORMS` (Python renderers
of a call's syntax tree) in `duckdb_kql.translate`. `install()` adds rows to those tables and
replaces the few whose answers were wrong; `MACROS` are the DuckDB macros the added rows call,
created on the engine's connection. Everything here is tied to the pinned library version:
`install()` refuses any other, so an upgrade fails loudly instead of translating differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb_kql
from duckdb_kql import KqlUnsupportedError
from duckdb_kql import ir as kql_ir
from duckdb_kql import translate as kql_translate
from duckdb_kql.translate import functions as kql_functions

__all__ = ["LIBRARY_VERSION", "MACROS", "install"]

LIBRARY_VERSION = "1.1.2"

_Renderer = Callable[[Any], "str | None"]

# Macro names carry a prefix no KQL function has, so a query can reach them only through a row here.
MACROS: tuple[str, ...] = (
    # bin() of a datetime or a timespan by a timespan: floor towards minus infinity from the Unix
    # epoch (datetimes) or from zero (timespans). Subtracting an INTERVAL keeps the operand's type,
    # so one expression serves both, where the engine's answer was always a datetime.
    "CREATE OR REPLACE MACRO __kql_bin_span(v, r) AS v - to_microseconds("
    "((epoch_us(v) % NULLIF(epoch_us(r), 0)) + epoch_us(r)) % epoch_us(r))",
)


def _timespan_typed(node: Any) -> bool:
    return bool(kql_translate._is_timespan_expr(node))


def _render_bin(original: _Renderer) -> _Renderer:
    """bin()/floor() by a timespan keeps the value's own type (datetime or timespan)."""

    def render(node: Any) -> str | None:
        if len(node.args) == 2 and _timespan_typed(node.args[1]):
            value, size = (kql_translate.render_expr(arg) for arg in node.args)
            return f"__kql_bin_span({value}, {size})"
        return original(node)

    return render


# base64 text decoded to a string: Kusto answers an empty string when the bytes are not UTF-8
# (DuckDB's BLOB-to-VARCHAR cast escapes them instead) or not base64 at all.
_BASE64_TO_STRING = "coalesce(TRY(decode(from_base64({0}))), '')"


def _replaced_scalars() -> list[Any]:
    f = kql_functions.FunctionSpec
    return [
        f("base64_decode_tostring", "template", _BASE64_TO_STRING, (1,)),
        f("base64_decodestring", "template", _BASE64_TO_STRING, (1,)),
    ]


def install() -> None:
    """Add this project's rows to duckdb-kql's function tables (idempotent)."""
    version = getattr(duckdb_kql, "__version__", None)
    if version != LIBRARY_VERSION:
        raise RuntimeError(
            f"duckdb-kql {version} is installed; the local Log Analytics extends {LIBRARY_VERSION} only."
        )
    special = kql_translate._SPECIAL_FORMS
    if getattr(special.get("bin"), "__kql_extension__", False):
        return
    for name in ("bin", "floor"):
        wrapped = _render_bin(special[name])
        wrapped.__kql_extension__ = True  # type: ignore[attr-defined]
        special[name] = wrapped
    for spec in _replaced_scalars():
        kql_functions.SCALAR_FUNCTIONS[spec.name] = spec


# Referenced so a renamed or removed library structure fails at import, not on a query.
_REQUIRED = (
    kql_ir.FunctionCall,
    kql_ir.Literal,
    kql_translate.render_expr,
    kql_translate._is_timespan_expr,
    kql_functions.SCALAR_FUNCTIONS,
    kql_functions.AGGREGATE_FUNCTIONS,
    KqlUnsupportedError,
)
