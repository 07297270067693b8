"""More KQL functions for the local Log Analytics, as special forms of duckdb-kql's translator.

Each renderer takes the call's IR node and returns DuckDB SQL, or None to let the translator
refuse a call shape it does not handle. Values DuckDB cannot hold exactly (instants finer than a
microsecond) are refused when the query runs rather than rounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import translate as kql_translate

from console.emulator.kql_operators import TYPE_CONVERSIONS, TYPEOF
from console.emulator.kql_units import KqlRefusalError

__all__ = ["WHOLE_NUMBER_TOKEN", "install_tostring", "more_forms", "real_text"]

# A JSON string token, or a number whose fraction is all zeros: matching strings as whole tokens
# is what keeps digits inside them from being read as numbers.
WHOLE_NUMBER_TOKEN = r"""'("(?:[^"\\]|\\.)*")|(-?[0-9]+)\.0+([,\]}]|$)'"""

_Renderer = Callable[[Any], "str | None"]


def _args(node: Any) -> list[str]:
    return [f"({kql_translate.render_expr(arg)})" for arg in node.args]


def _decline(node: Any) -> str | None:
    """No special form: the translator's table takes the call."""
    return None


def _ticks(seconds: str, function: str) -> str:
    """Seconds as whole microseconds; a value with a part finer than a microsecond is refused."""
    ticks = f"round(CAST({seconds} AS DOUBLE) * 10000000)"
    return (
        f"CASE WHEN {ticks} % 10 <> 0 THEN error('{function}(): this local Log Analytics holds times to the "
        f"microsecond') ELSE CAST({ticks} // 10 AS BIGINT) END"
    )


def _render_make_datetime(node: Any) -> str | None:
    """make_datetime(year, month, day[, hour, minute[, second]]): null when a part is out of range."""
    if len(node.args) not in (3, 5, 6):
        return None
    parts = _args(node) + ["0"] * (6 - len(node.args))
    year, month, day, hour, minute, second = parts
    whole = [f"CAST({part} AS BIGINT)" for part in (year, month, day, hour, minute)]
    valid = (
        f"{year} BETWEEN 1 AND 9999 AND {month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND 31 "
        f"AND {hour} BETWEEN 0 AND 23 AND {minute} BETWEEN 0 AND 59 AND {second} >= 0 AND {second} < 60 "
        f"AND {' AND '.join(f'{part} = floor({part})' for part in (year, month, day, hour, minute))}"
    )
    micros = _ticks(second, "make_datetime")
    # make_timestamp rolls an impossible day (30 February) into the next month; Kusto answers null.
    return (
        f"CASE WHEN {valid} THEN (CASE WHEN month(TRY(make_timestamp({', '.join(whole)}, 0))) = {whole[1]} "
        f"THEN make_timestamp({', '.join(whole)}, 0) + to_microseconds({micros}) END) END"
    )


def _render_make_timespan(node: Any) -> str | None:
    """make_timespan(hour, minute[, second]) or (day, hour, minute, second): null when a part is out of range."""
    if len(node.args) not in (2, 3, 4):
        return None
    parts = _args(node)
    if len(parts) == 4:
        day, hour, minute, second = parts
    else:
        day = "0"
        hour, minute, second = [*parts, "0"][:3]
    valid = (
        f"{day} >= 0 AND {hour} BETWEEN 0 AND 23 AND {minute} BETWEEN 0 AND 59 "
        f"AND {second} >= 0 AND {second} < 60 AND {day} = floor({day}) AND {hour} = floor({hour}) "
        f"AND {minute} = floor({minute})"
    )
    minutes = f"((CAST({day} AS BIGINT) * 24 + CAST({hour} AS BIGINT)) * 60 + CAST({minute} AS BIGINT))"
    return f"CASE WHEN {valid} THEN to_microseconds({minutes} * 60000000 + {_ticks(second, 'make_timespan')}) END"


def _render_has_any_index(node: Any) -> str | None:
    """has_any_index(text, values): the index of the first value the text `has` (a whole term), or -1."""
    if len(node.args) != 2:
        return None
    text, values = node.args
    term = kql_ir.ColumnRef("__kql_term")
    has = kql_translate.render_expr(kql_ir.BinaryOp("has", kql_ir.FunctionCall("tostring", (text,)), term))
    items = f"__kql_items({kql_translate.render_expr(values)})"
    # A number is looked up as Kusto writes it: a whole real without its `.0`.
    whole = "json_type(e) = 'DOUBLE' AND CAST(e AS DOUBLE) = trunc(CAST(e AS DOUBLE)) AND abs(CAST(e AS DOUBLE)) < 1e15"
    terms = (
        f"list_transform({items}, lambda e: CASE WHEN {whole} THEN CAST(CAST(CAST(e AS DOUBLE) AS BIGINT) AS VARCHAR) "
        "ELSE json_extract_string(e, '$') END)"
    )
    return (
        f"CAST(coalesce(list_position(list_transform({terms}, lambda __kql_term: coalesce({has}, false)), true), 0) "
        "- 1 AS BIGINT)"
    )


def _is_nanosecond(node: Any) -> bool:
    return isinstance(node, kql_ir.Literal) and str(node.value).lower() in ("nanosecond", "nanoseconds")


# Kusto's sub-second parts are of the second's fraction alone (DuckDB's include the whole seconds).
_FRACTION_PARTS = {"millisecond": "// 1000", "microsecond": "", "nanosecond": "* 1000"}


def _render_datetime_part(original: _Renderer) -> _Renderer:
    """datetime_part('millisecond' | 'microsecond' | 'nanosecond', t): the fraction of the second in that unit.
    Every datetime here is a whole number of microseconds (text finer than that is refused when parsed), so its
    nanoseconds are its microseconds times 1000."""

    def render(node: Any) -> str | None:
        unit = node.args[0] if len(node.args) == 2 else None
        if isinstance(unit, kql_ir.Literal) and str(unit.value).lower() in _FRACTION_PARTS:
            value = kql_translate.render_expr(node.args[1])
            scale = _FRACTION_PARTS[str(unit.value).lower()]
            return f"((CAST(date_part('microsecond', {value}) AS BIGINT) % 1000000) {scale})"
        return original(node)

    return render


def _render_datetime_diff(original: _Renderer) -> _Renderer:
    """datetime_diff('nanosecond', a, b): the microseconds between them times 1000 (see datetime_part)."""

    def render(node: Any) -> str | None:
        if len(node.args) == 3 and _is_nanosecond(node.args[0]):
            first, second = (kql_translate.render_expr(arg) for arg in node.args[1:])
            return f"(date_diff('microsecond', {second}, {first}) * 1000)"
        return original(node)

    return render


def _render_hll_merge(node: Any) -> str | None:
    """hll_merge(hll, hll, ...) of values: the sketches here are exact (the distinct values), so their union."""
    if len(node.args) < 2:
        return None
    parts = ", ".join(f"coalesce(TRY_CAST(__kql_json({arg}) AS JSON[]), [])" for arg in _args(node))
    return f"to_json(list_distinct(flatten([{parts}])))"


def _render_rank_tdigest(node: Any) -> str | None:
    """rank_tdigest(digest, value): how many of the digest's values are at most `value`. The digests here hold
    every value, so this is exact where Kusto's estimate is too for a value in the set; a value that is not in
    the set is refused (Kusto's estimate between values is not documented)."""
    if len(node.args) != 2:
        return None
    digest, value = _args(node)
    values = f"TRY_CAST(__kql_json({digest}) AS DOUBLE[])"
    return (
        f"CASE WHEN {value} IS NULL OR {values} IS NULL THEN NULL "
        f"WHEN NOT list_contains({values}, CAST({value} AS DOUBLE)) THEN error('rank_tdigest() of a value that is "
        "not in the digest is not supported by this local Log Analytics') "
        f"ELSE CAST(len(list_filter({values}, lambda e: e <= CAST({value} AS DOUBLE))) AS BIGINT) END"
    )


_SIMPLE_JSON_PATH = re.compile(r"\$(\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])*")


def _render_extract_json(node: Any) -> str | None:
    """extract_json(path, json) / extractjson: the element at a simple JSONPath ($.a.b[0]) as a string."""
    if len(node.args) != 2:
        return None
    path = node.args[0]
    if not (
        isinstance(path, kql_ir.Literal) and path.kind == "string" and _SIMPLE_JSON_PATH.fullmatch(str(path.value))
    ):
        raise KqlRefusalError("extract_json(): only a literal path of names and indexes ($.a.b[0]) is supported here.")
    text = kql_translate.render_expr(node.args[1])
    return f"coalesce(TRY(json_extract_string(CAST({text} AS VARCHAR), '{path.value}')), '')"


def _typed(function: str, count: int, original: _Renderer) -> _Renderer:
    """`function(..., typeof(T))`: the function's answer converted to T (null where it does not convert)."""

    def render(node: Any) -> str | None:
        last = node.args[-1] if len(node.args) == count + 1 else None
        if isinstance(last, kql_ir.FunctionCall) and last.name == TYPEOF:
            type_name = str(getattr(last.args[0], "value", ""))
            convert = TYPE_CONVERSIONS.get(type_name)
            if convert is None:
                raise KqlRefusalError(f"{function}(): typeof({type_name}) is not supported here.")
            inner = kql_ir.FunctionCall(function, tuple(node.args[:count]))
            return str(kql_translate.render_expr(kql_ir.FunctionCall(convert, (inner,))))
        return original(node)

    return render


def _render_beta_pdf(node: Any) -> str | None:
    """beta_pdf(x, alpha, beta): the beta distribution's density; NaN outside 0 <= x <= 1 or for a parameter
    that is not positive, as Kusto answers."""
    if len(node.args) != 3:
        return None
    x, a, b = (f"CAST({arg} AS DOUBLE)" for arg in _args(node))
    # gamma() is closer than exp(lgamma()) where it does not overflow.
    beta = (
        f"CASE WHEN {a} + {b} < 170 THEN gamma({a}) * gamma({b}) / gamma({a} + {b}) "
        f"ELSE exp(lgamma({a}) + lgamma({b}) - lgamma({a} + {b})) END"
    )
    density = f"pow({x}, {a} - 1) * pow(1 - {x}, {b} - 1) / ({beta})"
    return (
        f"CASE WHEN {x} IS NULL OR {a} IS NULL OR {b} IS NULL THEN NULL "
        f"WHEN {x} < 0 OR {x} > 1 OR {a} <= 0 OR {b} <= 0 THEN CAST('NaN' AS DOUBLE) ELSE {density} END"
    )


def real_text(value: str) -> str:
    """SQL: a real as Kusto writes it (.NET's shortest round-trip form): a whole number without `.0`, NaN as
    `NaN`; the forms DuckDB spells differently (exponents, infinities, negative zero) are refused."""
    text = f"CAST({value} AS VARCHAR)"
    refusal = (
        "error('tostring() of this real (an exponent form, an infinity or -0) is not supported by this local "
        "Log Analytics')"
    )
    return (
        f"CASE WHEN isnan({value}) THEN 'NaN' WHEN NOT isfinite({value}) THEN {refusal} "
        f"WHEN {value} = 0 THEN CASE WHEN starts_with({text}, '-') THEN {refusal} ELSE '0' END "
        f"WHEN abs({value}) >= 1e15 OR abs({value}) < 1e-4 OR contains({text}, 'e') THEN {refusal} "
        f"WHEN {value} = trunc({value}) THEN CAST(CAST({value} AS BIGINT) AS VARCHAR) ELSE {text} END"
    )


def _render_kql_tostring(original: Callable[[Any], str]) -> Callable[[Any], str]:
    """The translator's tostring (also behind strcat and strcat_delim), with reals, alone or inside a dynamic
    value, written as Kusto writes them."""

    def render(node: Any) -> str:
        sql = original(node)
        if isinstance(node, kql_ir.Literal) and node.kind not in ("real", "decimal", "dynamic"):
            # Neither a real nor a dynamic: left as the translator writes it (a constant stays one).
            return sql
        rendered = kql_translate.render_expr(node)
        # A dynamic's JSON text, with whole reals written without `.0` as Kusto writes them.
        whole = f"regexp_replace(CAST({rendered} AS VARCHAR), {WHOLE_NUMBER_TOKEN}, '\\1\\2\\3', 'g')"
        # A JSON string or null (no number to rewrite): tested on the text, which folds for a constant.
        textual = (
            f"({rendered} IS NULL OR starts_with(ltrim(CAST({rendered} AS VARCHAR)), '\"') "
            f"OR CAST({rendered} AS VARCHAR) = 'null')"
        )
        if kql_translate._is_dynamic_expr(node):
            # Only a text with `.0` in it can hold a whole real to rewrite: tested first, as it is cheapest.
            return (
                f"CASE WHEN contains(CAST({rendered} AS VARCHAR), '.0') THEN "
                f"CASE WHEN {textual} THEN {sql} ELSE {whole} END ELSE {sql} END"
            )
        json_branch = f" WHEN 'JSON' THEN {rendered} ->> '$'"
        if sql.count(json_branch) == 1:
            sql = sql.replace(
                json_branch,
                f" WHEN 'JSON' THEN CASE WHEN contains(CAST({rendered} AS VARCHAR), '.0') AND NOT {textual} "
                f"THEN {whole} ELSE {rendered} ->> '$' END",
            )
        double = (
            f" WHEN 'DOUBLE' THEN CASE CAST({rendered} AS VARCHAR)"
            f" WHEN 'nan' THEN 'NaN' WHEN '-nan' THEN 'NaN' ELSE CAST({rendered} AS VARCHAR) END"
        )
        if sql.count(double) != 1:
            return sql
        return sql.replace(double, f" WHEN 'DOUBLE' THEN {real_text(f'TRY_CAST({rendered} AS DOUBLE)')}")

    return render


def install_tostring() -> None:
    """Wrap the translator's tostring rendering (idempotent)."""
    if getattr(kql_translate.render_kql_tostring, "__kql_reals__", False):
        return
    wrapped = _render_kql_tostring(kql_translate.render_kql_tostring)
    wrapped.__kql_reals__ = True  # type: ignore[attr-defined]
    kql_translate.render_kql_tostring = wrapped  # type: ignore[assignment]


def more_forms() -> dict[str, _Renderer]:
    """The renderers this module adds, by KQL function name."""
    special = kql_translate._SPECIAL_FORMS
    return {
        "datetime_part": _render_datetime_part(special["datetime_part"]),
        "datetime_diff": _render_datetime_diff(special["datetime_diff"]),
        "extract": _typed("extract", 3, special.get("extract", _decline)),
        "extract_json": _typed("extract_json", 2, _render_extract_json),
        "extractjson": _typed("extractjson", 2, _render_extract_json),
        "make_datetime": _render_make_datetime,
        "make_timespan": _render_make_timespan,
        "has_any_index": _render_has_any_index,
        "hll_merge": _render_hll_merge,
        "beta_pdf": _render_beta_pdf,
        "rank_tdigest": _render_rank_tdigest,
    }
