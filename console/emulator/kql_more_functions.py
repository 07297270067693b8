"""More KQL functions for the local Log Analytics, as special forms of duckdb-kql's translator.

Each renderer takes the call's IR node and returns DuckDB SQL, or None to let the translator
refuse a call shape it does not handle. Values DuckDB cannot hold exactly (instants finer than a
microsecond) are refused when the query runs rather than rounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import translate as kql_translate

from console.emulator.kql_operators import TYPE_CONVERSIONS, TYPEOF
from console.emulator.kql_units import KqlRefusalError

__all__ = ["WHOLE_NUMBER_TOKEN", "install_sorted_outputs", "install_tostring", "more_forms", "real_text"]

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


def _render_tdigest_merge(node: Any) -> str | None:
    """merge_tdigest(digest, digest, ...) / tdigest_merge of values: the digests here hold every value, so
    their concatenation."""
    if len(node.args) < 2:
        return None
    parts = ", ".join(f"coalesce(TRY_CAST(__kql_json({arg}) AS JSON[]), [])" for arg in _args(node))
    return f"to_json(flatten([{parts}]))"


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


def _render_pack_all(node: Any) -> str | None:
    """pack_all([ignore_null_empty]): a bag of the row's columns (without null or empty ones when asked).

    A row with a datetime, timespan or guid column is refused: their JSON here is not Kusto's text."""
    if len(node.args) > 1:
        return None
    row = "struct_pack(*COLUMNS(*))"
    bag = f"CAST(to_json({row}) AS JSON)"
    if node.args:
        drop = kql_translate.render_expr(node.args[0])
        # In a macro: DuckDB expands COLUMNS(*) only outside a lambda.
        bag = f"CASE WHEN coalesce(CAST({drop} AS BOOLEAN), false) THEN __kql_bag_kept({bag}) ELSE {bag} END"
    refusal = (
        "error('pack_all() of a row with a datetime, timespan, guid or decimal column is not supported by this local "
        "Log Analytics.')"
    )
    return (
        f"CASE WHEN regexp_matches(typeof({row}), ' (TIMESTAMP|INTERVAL|UUID|DECIMAL|BLOB|DATE|TIME)[^A-Z_]') "
        f"THEN {refusal} ELSE {bag} END"
    )


# A plain number (no exponent), and at most 15 significant digits: what a real holds exactly as text.
_PLAIN_NUMBER = r"^\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)\s*$"


def _render_todecimal(node: Any) -> str | None:
    """todecimal(value): a decimal, carried here as a real (as decimal literals are). Text with more significant
    digits than a real holds, or in exponent form, is refused; other text that is not a number is null."""
    if len(node.args) != 1:
        return None
    value = kql_translate.render_expr(node.args[0])
    text = f"CAST({value} AS VARCHAR)"
    digits = f"length(trim(regexp_replace(split_part(trim({text}), 'e', 1), '[^0-9]', '', 'g'), '0'))"
    refusal = (
        "error('todecimal() of a value with more than 15 significant digits, or in exponent form, is not "
        "supported by this local Log Analytics.')"
    )
    whole = "('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UBIGINT', 'UINTEGER')"
    return (
        f"CASE WHEN {value} IS NULL THEN NULL "
        f"WHEN typeof({value}) IN {whole} THEN CASE WHEN abs(TRY_CAST({value} AS HUGEINT)) < 1000000000000000 "
        f"THEN CAST({value} AS DOUBLE) ELSE {refusal} END "
        f"WHEN typeof({value}) IN ('DOUBLE', 'FLOAT') THEN CAST({value} AS DOUBLE) "
        f"WHEN typeof({value}) = 'VARCHAR' THEN CASE WHEN regexp_matches({text}, '{_PLAIN_NUMBER}') THEN "
        f"CASE WHEN {digits} > 15 THEN {refusal} ELSE CAST(trim({text}) AS DOUBLE) END "
        f"WHEN regexp_matches({text}, '^\\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)[eE][-+]?[0-9]+\\s*$') THEN {refusal} "
        "END "
        f"WHEN typeof({value}) = 'BOOLEAN' THEN CAST(CAST({value} AS INTEGER) AS DOUBLE) "
        "ELSE error('todecimal() of this type is not supported by this local Log Analytics.') END"
    )


def _columns_in(node: Any) -> bool:
    """Whether an expression reads a column (so it is bound to the row)."""
    if isinstance(node, kql_ir.ColumnRef):
        return True
    children = getattr(node, "__dataclass_fields__", {})
    for name in children:
        child = getattr(node, name)
        items = child if isinstance(child, tuple) else (child,)
        if any(isinstance(item, kql_ir.Node) and _columns_in(item) for item in items):
            return True
    return False


def _render_assert(node: Any) -> str | None:
    """assert(condition, message): true, or the query fails with the message. Kusto requires a condition it can
    evaluate before the query runs; one that reads a column is refused here as it is there."""
    if len(node.args) != 2:
        return None
    condition, message = node.args
    if _columns_in(condition) or _columns_in(message):
        raise KqlRefusalError("assert(): the condition and message must be constants, not bound to a row.")
    text = kql_translate.render_expr(message)
    rendered = kql_translate.render_expr(condition)
    return (
        f"CASE WHEN coalesce(CAST({rendered} AS BOOLEAN), false) THEN true "
        f"ELSE error('assert() failed: ' || coalesce(CAST({text} AS VARCHAR), '')) END"
    )


def _literal_int(node: Any) -> int | None:
    if isinstance(node, kql_ir.UnaryOp) and node.op == "-":
        inner = _literal_int(node.operand)
        return None if inner is None else -inner
    if isinstance(node, kql_ir.Literal) and node.kind in ("long", "int"):
        return int(str(node.value))
    return None


# Anchors and word boundaries read their surroundings, which a search from a start or in a window cuts off.
_CONTEXT_TOKENS = re.compile(r"\^|\$|\\[bBAz]")


def _render_indexof_regex(node: Any) -> str | None:
    """indexof_regex(text, regex[, start[, length[, occurrence]]]): where the occurrence-th match (matches do
    not overlap) starts, or -1; null for a start or occurrence below 0 or a length below -1."""
    if len(node.args) not in (2, 3, 4, 5):
        return None
    pattern = kql_translate.constant_string(node.args[1])
    if pattern is None:
        raise KqlRefusalError("indexof_regex(): the regular expression must be a constant.")
    args = [f"({kql_translate.render_expr(arg)})" for arg in node.args]
    whole = (len(args) < 3 or _literal_int(node.args[2]) == 0) and (len(args) < 4 or _literal_int(node.args[3]) == -1)
    if not whole and _CONTEXT_TOKENS.search(pattern):
        raise KqlRefusalError(
            "indexof_regex(): a regular expression with anchors or word boundaries, searched from a start or in a "
            "window, is not supported by this local Log Analytics."
        )
    text = f"CAST({args[0]} AS VARCHAR)"
    regex = kql_translate.render_regex(node.args[1])
    start = f"CAST({args[2]} AS BIGINT)" if len(args) > 2 else "0"
    count = f"CAST({args[3]} AS BIGINT)" if len(args) > 3 else "-1"
    occurrence = f"CAST({args[4]} AS BIGINT)" if len(args) > 4 else "1"
    window = f"substr({text}, {start} + 1, CASE WHEN {count} = -1 THEN length({text}) + 1 ELSE {count} END)"
    matches = f"regexp_extract_all(__kql_w, {regex})"
    pieces = f"string_split_regex(__kql_w, {regex})"
    found = (
        f"CASE WHEN list_contains({matches}, '') THEN error('indexof_regex(): a regular expression that matches "
        "empty text is not supported by this local Log Analytics.') "
        f"WHEN len({matches}) < {occurrence} THEN -1 "
        f"ELSE {start} + list_sum(list_transform({pieces}[1:{occurrence}], lambda __kql_p: length(__kql_p))) "
        f"+ coalesce(list_sum(list_transform({matches}[1:{occurrence} - 1], lambda __kql_m: length(__kql_m))), 0) END"
    )
    return (
        f"CASE WHEN {text} IS NULL OR {start} IS NULL OR {count} IS NULL OR {occurrence} IS NULL THEN NULL "
        f"WHEN {start} < 0 OR {occurrence} < 0 OR {count} < -1 THEN NULL "
        "WHEN {occ} = 0 THEN error('indexof_regex(): an occurrence of 0 is not supported by this local Log "
        "Analytics.') "
        f"WHEN {start} > length({text}) THEN -1 "
        f"ELSE CAST(list_transform([{window}], lambda __kql_w: {found})[1] AS BIGINT) END"
    ).replace("{occ}", occurrence)


_GROUP_OPENING = re.compile(r"\?(?:P?<(?![=!])([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')")


def _capture_group_names(pattern: str) -> list[str | None]:
    """The capture groups of a regex in order, each with its name or None."""
    names: list[str | None] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            rest = pattern[index + 1 :]
            named = _GROUP_OPENING.match(rest)
            if named:
                names.append(named.group(1) or named.group(2))
            elif not rest.startswith("?"):
                names.append(None)
        index += 1
    return names


def _render_extract_all(original: _Renderer) -> _Renderer:
    """extract_all(regex, groups, text) with groups named as well as numbered: names become their numbers."""

    def render(node: Any) -> str | None:
        selection = node.args[1] if len(node.args) == 3 else None
        pattern = kql_translate.constant_string(node.args[0]) if node.args else None
        if not (isinstance(selection, kql_ir.Literal) and selection.kind == "dynamic" and pattern is not None):
            return original(node)
        try:
            members = json.loads(str(selection.value))
        except ValueError:
            return original(node)
        if not isinstance(members, list) or not any(isinstance(member, str) for member in members):
            return original(node)
        names = _capture_group_names(pattern)
        numbers: list[Any] = []
        for member in members:
            if isinstance(member, str):
                if member not in names:
                    raise KqlRefusalError(f"extract_all(): the regular expression has no group named '{member}'.")
                numbers.append(names.index(member) + 1)
            else:
                numbers.append(member)
        numbered = kql_ir.Literal(json.dumps(numbers), "dynamic")
        return original(kql_ir.FunctionCall(node.name, (node.args[0], numbered, node.args[2])))

    return render


def _render_series_seasonal(node: Any) -> str | None:
    """series_seasonal(series, period): each element the median of the elements at its place in the period;
    zeros for a period below 1 other than -1. Detecting the period (-1, or no period) is refused."""
    if len(node.args) not in (1, 2):
        return None
    if len(node.args) == 1 or _literal_int(node.args[1]) == -1:
        raise KqlRefusalError(
            "series_seasonal() without a period (detected with series_periods_detect) is not supported by this "
            "local Log Analytics."
        )
    series, period = (kql_translate.render_expr(arg) for arg in node.args)
    numbers = f"__kql_numbers({series})"
    p = f"CAST({period} AS BIGINT)"
    medians = (
        f"list_transform(range(0, len({numbers})), lambda __kql_i: list_aggregate(list_filter({numbers}, "
        f"lambda __kql_v, __kql_j: (__kql_j - 1) % {p} = __kql_i % {p}), 'median'))"
    )
    zeros = f"list_transform(range(0, len({numbers})), lambda i: 0.0)"
    return (
        f"CASE WHEN {series} IS NULL OR {p} IS NULL THEN NULL "
        f"WHEN {numbers} IS NULL OR list_contains(list_transform({numbers}, lambda __kql_v: __kql_v IS NULL), true) "
        "THEN error('series_seasonal() of an array holding anything but numbers is not supported by this local Log "
        f"Analytics.') WHEN {p} = -1 THEN error('series_seasonal() with a detected period is not supported by this "
        f"local Log Analytics.') WHEN {p} < 1 THEN to_json({zeros}) ELSE to_json({medians}) END"
    )


# Every daylight-saving shift there has been is within two hours, and none shorter than half an hour.
_SHIFTS = ("-2 hours", "-1 hour", "-30 minutes", "30 minutes", "1 hour", "2 hours")


def _render_utc_to_local(node: Any) -> str | None:
    """datetime_utc_to_local(utc, zone): the wall-clock time in an IANA time zone."""
    if len(node.args) != 2:
        return None
    instant, zone = (kql_translate.render_expr(arg) for arg in node.args)
    return f"timezone(CAST({zone} AS VARCHAR), CAST(CAST({instant} AS TIMESTAMP) AS TIMESTAMPTZ))"


def _render_local_to_utc(node: Any) -> str | None:
    """datetime_local_to_utc(local, zone): the UTC instant of a wall-clock time. A time that a daylight-saving
    shift skips or repeats is refused: which instant Kusto picks is not documented."""
    if len(node.args) != 2:
        return None
    local, zone = (kql_translate.render_expr(arg) for arg in node.args)
    name = f"CAST({zone} AS VARCHAR)"
    wall = f"CAST({local} AS TIMESTAMP)"
    instant = f"timezone({name}, {wall})"
    again = " OR ".join(f"timezone({name}, {instant} + INTERVAL '{shift}') = {wall}" for shift in _SHIFTS)
    return (
        f"CASE WHEN {wall} IS NULL OR {name} IS NULL THEN NULL "
        f"WHEN timezone({name}, {instant}) <> {wall} OR {again} THEN error('datetime_local_to_utc() of a local time "
        "that a daylight-saving change skips or repeats is not supported by this local Log Analytics') "
        f"ELSE CAST({instant} AS TIMESTAMP) END"
    )


_SORTS = {"array_sort_asc": "ASC", "array_sort_desc": "DESC"}


def _sorted_output(call: Any, index: int) -> str:
    """Output `index` of array_sort_asc/desc(array1, ..., arrayN[, nulls_last]): arrayN reordered as array1 is
    sorted (null when its length differs). Equal elements in array1 leave the order of the others open, so a
    first array with a repeated element is refused."""
    args = list(call.args)
    nulls_last = "true"
    if args and isinstance(args[-1], kql_ir.Literal) and args[-1].kind == "bool":
        nulls_last = f"coalesce(TRY_CAST({kql_translate.render_expr(args.pop())} AS BOOLEAN), true)"
    if not -len(args) <= index < len(args):
        return "CAST(NULL AS JSON)"
    first = f"__kql_items({kql_translate.render_expr(args[0])})"
    wanted = f"__kql_items({kql_translate.render_expr(args[index % len(args)])})"
    positions = f"range(0, len({first}))"
    present = f"list_filter({positions}, lambda __kql_i: NOT __kql_is_null({first}[__kql_i + 1]))"
    missing = f"list_filter({positions}, lambda __kql_i: __kql_is_null({first}[__kql_i + 1]))"
    ordered = (
        f"list_transform(list_sort(list_transform({present}, lambda __kql_i: {{'k': __kql_sort_key("
        f"{first}[__kql_i + 1]), 'i': __kql_i}}), '{_SORTS[call.name.lower()]}'), lambda __kql_s: __kql_s.i)"
    )
    order = f"CASE WHEN {nulls_last} THEN list_concat({ordered}, {missing}) ELSE list_concat({missing}, {ordered}) END"
    texts = f"list_transform({first}, lambda __kql_e: coalesce(CAST(__kql_e AS VARCHAR), 'null'))"
    repeated = f"len(list_distinct({texts})) < len({first})"
    return (
        f"CASE WHEN {first} IS NULL THEN NULL WHEN {repeated} THEN error('{call.name.lower()}() of several arrays "
        "whose first has a repeated element is not supported by this local Log Analytics') "
        f"WHEN {wanted} IS NULL OR len({wanted}) <> len({first}) THEN NULL "
        f"ELSE to_json(list_transform({order}, lambda __kql_i: {wanted}[__kql_i + 1])) END"
    )


def _render_path(original: Callable[[Any], str]) -> Callable[[Any], str]:
    """Paths into a value, and `array_sort_asc(a, b, ...)[k]`: one of the several sorted outputs."""

    def render(node: Any) -> str:
        base = node.base
        if (
            isinstance(base, kql_ir.FunctionCall)
            and base.name.lower() in _SORTS
            and len(base.args) >= 2
            and not (isinstance(base.args[1], kql_ir.Literal) and base.args[1].kind == "bool")
        ):
            index = _literal_int(node.steps[0].index) if node.steps[0].index is not None else None
            if index is None or len(node.steps) != 1:
                raise KqlRefusalError(
                    f"{base.name.lower()}() of several arrays: only one output taken by a constant index is "
                    "supported by this local Log Analytics."
                )
            return _sorted_output(base, index)
        return original(node)

    return render


def install_sorted_outputs() -> None:
    """Wrap the translator's path rendering (idempotent)."""
    if getattr(kql_translate.render_path, "__kql_sorted_outputs__", False):
        return
    wrapped = _render_path(kql_translate.render_path)
    wrapped.__kql_sorted_outputs__ = True  # type: ignore[attr-defined]
    kql_translate.render_path = wrapped  # type: ignore[assignment]


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
        "merge_tdigest": _render_tdigest_merge,
        "tdigest_merge": _render_tdigest_merge,
        "percentile_tdigest": _typed("percentile_tdigest", 2, _decline),
        "beta_pdf": _render_beta_pdf,
        "rank_tdigest": _render_rank_tdigest,
        "pack_all": _render_pack_all,
        "todecimal": _render_todecimal,
        "assert": _render_assert,
        "indexof_regex": _render_indexof_regex,
        "series_seasonal": _render_series_seasonal,
        "datetime_utc_to_local": _render_utc_to_local,
        "datetime_local_to_utc": _render_local_to_utc,
        "extract_all": _render_extract_all(special["extract_all"]),
    }
