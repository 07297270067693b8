"""What the local Log Analytics adds to duckdb-kql, through the library's own structures.

duckdb-kql keeps its KQL functions as data: `SCALAR_FUNCTIONS` and `AGGREGATE_FUNCTIONS` (rows
of SQL templates) in `duckdb_kql.translate.functions`, and `_SPECIAL_FORMS` (Python renderers
of a call's syntax tree) in `duckdb_kql.translate`. `install()` adds rows to those tables and
replaces the few whose answers were wrong; `MACROS` are the DuckDB macros the added rows call,
created on the engine's connection. Everything here is tied to the pinned library version:
`install()` refuses any other, so an upgrade fails loudly instead of translating differently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb_kql
from duckdb_kql import KqlUnsupportedError
from duckdb_kql import ir as kql_ir
from duckdb_kql import translate as kql_translate
from duckdb_kql.translate import functions as kql_functions
from duckdb_kql.translate import naming as kql_naming

from console.emulator import (
    kql_lambdas,
    kql_more_functions,
    kql_operators,
    kql_parse_kv,
    kql_python_functions,
    kql_serialize,
    kql_units,
)

__all__ = [
    "COUNT_OF",
    "LIBRARY_VERSION",
    "MACROS",
    "OVERFLOW_MARKER",
    "SERIES_INDEX",
    "WEIGHTED_CHECKED",
    "WEIGHTED_UNCHECKED",
    "install",
]

COUNT_OF = "__kql_count_of"
SERIES_INDEX = "__kql_series_index"

LIBRARY_VERSION = "1.1.2"

_Renderer = Callable[[Any], "str | None"]

_IPV4_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = "\\.".join([_IPV4_OCTET] * 4) + "(/(3[0-2]|[12]?[0-9]))?"

# What the checked weighted percentile fails with when the weights overflow a long.
OVERFLOW_MARKER = "__kql_weights_overflow"
WEIGHTED_CHECKED = "__kql_weighted_pick_checked("
WEIGHTED_UNCHECKED = "__kql_weighted_pick("

# Macro names carry a prefix no KQL function has, so a query can reach them only through a row here.
MACROS: tuple[str, ...] = (
    # bin() of a datetime or a timespan by a timespan: floor towards minus infinity from the Unix
    # epoch (datetimes) or from zero (timespans). Subtracting an INTERVAL keeps the operand's type,
    # so one expression serves both, where the engine's answer was always a datetime.
    "CREATE OR REPLACE MACRO __kql_bin_span(v, r) AS v - to_microseconds("
    "((epoch_us(v) % NULLIF(epoch_us(r), 0)) + epoch_us(r)) % epoch_us(r))",
    # A dynamic value as JSON, whatever SQL type carries it.
    "CREATE OR REPLACE MACRO __kql_json(x) AS CAST(to_json(x) AS JSON)",
    "CREATE OR REPLACE MACRO __kql_is_array(x) AS coalesce(json_type(__kql_json(x)) = 'ARRAY', false)",
    "CREATE OR REPLACE MACRO __kql_items(x) AS CASE WHEN __kql_is_array(x) THEN CAST(__kql_json(x) AS JSON[]) END",
    "CREATE OR REPLACE MACRO __kql_numbers(x) AS "
    "CASE WHEN __kql_is_array(x) THEN TRY_CAST(__kql_json(x) AS DOUBLE[]) END",
    # Element i (0-based) of an array as a number, or the value itself when it is a scalar: the
    # series_* functions take either on each side.
    "CREATE OR REPLACE MACRO __kql_number_at(x, i) AS CASE WHEN __kql_is_array(x) "
    "THEN TRY_CAST(__kql_json(x) ->> ('$[' || i || ']') AS DOUBLE) ELSE TRY_CAST(x AS DOUBLE) END",
    "CREATE OR REPLACE MACRO __kql_length(x) AS "
    "CASE WHEN __kql_is_array(x) THEN CAST(json_array_length(__kql_json(x)) AS BIGINT) ELSE 1 END",
    "CREATE OR REPLACE MACRO __kql_pair_length(a, b) AS CASE WHEN __kql_is_array(a) AND __kql_is_array(b) "
    "THEN greatest(__kql_length(a), __kql_length(b)) WHEN __kql_is_array(a) THEN __kql_length(a) "
    "WHEN __kql_is_array(b) THEN __kql_length(b) END",
    # Distinct elements in first-seen order.
    "CREATE OR REPLACE MACRO __kql_distinct(l) AS list_filter(l, lambda e, i: list_position(l, e) = i)",
    # Elements moved n places towards the start, `fill` where nothing moved in.
    "CREATE OR REPLACE MACRO __kql_shift(a, n, fill) AS to_json(list_transform(range(0, __kql_length(a)), "
    "lambda i: CASE WHEN i + n >= 0 AND i + n < __kql_length(a) THEN __kql_items(a)[i + n + 1] "
    "ELSE __kql_json(fill) END))",
    "CREATE OR REPLACE MACRO __kql_rotate(a, n) AS to_json(list_transform(range(0, __kql_length(a)), "
    "lambda i: __kql_items(a)[((i + n) % __kql_length(a) + __kql_length(a)) % __kql_length(a) + 1]))",
    # A dynamic element as a condition: a bool is itself, a number is true when not zero, and
    # anything else is null.
    "CREATE OR REPLACE MACRO __kql_truth(j) AS CASE json_type(j) WHEN 'BOOLEAN' THEN CAST(j AS BOOLEAN) "
    "WHEN 'BIGINT' THEN CAST(j AS DOUBLE) <> 0 WHEN 'UBIGINT' THEN CAST(j AS DOUBLE) <> 0 "
    "WHEN 'DOUBLE' THEN CAST(j AS DOUBLE) <> 0 END",
    # .NET's URL encoding, which Kusto uses: lower-case hex, and these characters kept as they are.
    "CREATE OR REPLACE MACRO __kql_url_encode(s, space) AS array_to_string(list_transform("
    "string_split(CAST(s AS VARCHAR), ''), lambda c: CASE WHEN regexp_full_match(c, '[A-Za-z0-9_.!*()-]') "
    "THEN c WHEN c = ' ' THEN space ELSE regexp_replace(lower(hex(encode(c))), '(..)', '%\\1', 'g') END), '')",
    # IPv4: an address as a long (null unless a valid dotted quad, with an optional /prefix), its
    # prefix (32 without one), and a long masked to a prefix.
    f"CREATE OR REPLACE MACRO __kql_ip4(s) AS CASE WHEN regexp_full_match(trim(CAST(s AS VARCHAR)), '{_IPV4}') "
    "THEN list_reduce(list_transform(string_split(regexp_extract(trim(CAST(s AS VARCHAR)), '^[0-9.]+'), '.'), "
    "lambda o: CAST(o AS BIGINT)), lambda a, b: a * 256 + b) END",
    "CREATE OR REPLACE MACRO __kql_ip4_prefix(s) AS CASE WHEN __kql_ip4(s) IS NOT NULL THEN "
    "coalesce(TRY_CAST(regexp_extract(trim(CAST(s AS VARCHAR)), '/([0-9]+)$', 1) AS BIGINT), 32) END",
    "CREATE OR REPLACE MACRO __kql_ip4_mask(v, p) AS CASE WHEN p < 0 OR p > 32 THEN NULL WHEN p = 0 THEN 0 "
    "ELSE (v >> (32 - p)) << (32 - p) END",
    "CREATE OR REPLACE MACRO __kql_ip4_compare(a, b, p) AS sign("
    "__kql_ip4_mask(__kql_ip4(a), least(__kql_ip4_prefix(a), __kql_ip4_prefix(b), p)) "
    "- __kql_ip4_mask(__kql_ip4(b), least(__kql_ip4_prefix(a), __kql_ip4_prefix(b), p)))",
    "CREATE OR REPLACE MACRO __kql_ip4_in_range(ip, r) AS "
    "__kql_ip4_mask(__kql_ip4(ip), __kql_ip4_prefix(r)) = __kql_ip4_mask(__kql_ip4(r), __kql_ip4_prefix(r))",
    "CREATE OR REPLACE MACRO __kql_ip4_text(v) AS CASE WHEN v BETWEEN 0 AND 4294967295 THEN "
    "printf('%d.%d.%d.%d', (v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255) END",
    # An address given as text (with an optional /prefix) or as a long, masked to at most `p` bits.
    "CREATE OR REPLACE MACRO __kql_ip4_masked(x, p) AS CASE WHEN typeof(x) = 'VARCHAR' "
    "THEN __kql_ip4_mask(__kql_ip4(CAST(x AS VARCHAR)), least(__kql_ip4_prefix(CAST(x AS VARCHAR)), p)) "
    "ELSE __kql_ip4_mask(TRY_CAST(x AS BIGINT), p) END",
    # A bag as (key, value) entries, and entries back to a bag: the first of a repeated key wins.
    "CREATE OR REPLACE MACRO __kql_entries(b) AS CASE WHEN json_type(__kql_json(b)) = 'OBJECT' THEN "
    "list_transform(json_keys(__kql_json(b)), lambda k: {'k': k, 'v': __kql_json(b) -> "
    "('$.\"' || replace(k, '\"', '\\\"') || '\"')}) END",
    "CREATE OR REPLACE MACRO __kql_bag(entries) AS to_json(map_from_entries(list_filter(entries, "
    "lambda e, i: list_position(list_transform(entries, lambda x: x.k), e.k) = i)))",
    # A bag without its null and empty-string values (pack_all(true)).
    "CREATE OR REPLACE MACRO __kql_bag_kept(b) AS __kql_bag(list_filter(__kql_entries(b), "
    "lambda __kql_e: NOT (__kql_e.v IS NULL OR json_type(__kql_e.v) = 'NULL' OR CAST(__kql_e.v AS VARCHAR) = '\"\"')))",
    # Sorting dynamic elements: numbers by value, then strings, then bools, then anything else.
    "CREATE OR REPLACE MACRO __kql_is_null(e) AS (e IS NULL OR json_type(e) = 'NULL')",
    "CREATE OR REPLACE MACRO __kql_sort_key(e) AS {'r': CASE json_type(e) WHEN 'BIGINT' THEN 0 "
    "WHEN 'UBIGINT' THEN 0 WHEN 'DOUBLE' THEN 0 WHEN 'VARCHAR' THEN 1 WHEN 'BOOLEAN' THEN 2 ELSE 3 END, "
    "'n': CASE WHEN json_type(e) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(e AS DOUBLE) END, "
    "'s': CASE WHEN json_type(e) = 'VARCHAR' THEN e ->> '$' ELSE CAST(e AS VARCHAR) END, 'j': e}",
    # IPv6: the prefix an address carries (an address with a dotted quad counts its /n from bit 96),
    # and canonical text (eight groups of four hex digits) as a 128-bit number masked to p bits.
    "CREATE OR REPLACE MACRO __kql_ip6_prefix(s) AS CASE WHEN regexp_matches(CAST(s AS VARCHAR), "
    "'[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+') THEN 96 + coalesce(TRY_CAST(regexp_extract(CAST(s AS VARCHAR), "
    "'/([0-9]+)$', 1) AS INTEGER), 32) ELSE coalesce(TRY_CAST(regexp_extract(CAST(s AS VARCHAR), '/([0-9]+)$', 1) "
    "AS INTEGER), 128) END",
    "CREATE OR REPLACE MACRO __kql_ip6_masked(canonical, p) AS CASE WHEN canonical IS NULL OR canonical = '' "
    "OR p IS NULL OR p < 0 OR p > 128 THEN NULL WHEN p = 0 THEN CAST(0 AS UHUGEINT) "
    "ELSE (CAST('0x' || replace(canonical, ':', '') AS UHUGEINT) >> CAST(128 - p AS UHUGEINT)) "
    "<< CAST(128 - p AS UHUGEINT) END",
    # A guid's 32 hex digits in .NET's byte order (the first three groups little-endian). The way
    # back is left out: the published base64_decode_toguid example does not reorder the third group.
    "CREATE OR REPLACE MACRO __kql_guid_swap(h) AS substr(h, 7, 2) || substr(h, 5, 2) || substr(h, 3, 2) "
    "|| substr(h, 1, 2) || substr(h, 11, 2) || substr(h, 9, 2) || substr(h, 15, 2) || substr(h, 13, 2) "
    "|| substr(h, 17, 16)",
    # Pearson's r of two equally long arrays of numbers (null otherwise).
    "CREATE OR REPLACE MACRO __kql_pearson(x, y) AS CASE WHEN len(x) = len(y) AND len(x) > 1 "
    "AND list_bool_and(list_transform(list_concat(x, y), lambda v: v IS NOT NULL)) THEN "
    "list_sum(list_transform(range(1, len(x) + 1), lambda i: (x[i] - list_avg(x)) * (y[i] - list_avg(y)))) "
    "/ sqrt(list_sum(list_transform(x, lambda v: (v - list_avg(x)) ^ 2)) "
    "* list_sum(list_transform(y, lambda v: (v - list_avg(y)) ^ 2))) END",
    "CREATE OR REPLACE MACRO __kql_unixtime(us) AS make_timestamp(CAST(round(us) AS BIGINT))",
    # Weighted nearest-rank percentile: over (value, weight) pairs sorted by value, the first value whose
    # running weight reaches q of the total, in one pass. Kusto keeps the weights in a long: a total past
    # it makes the checked form fail with OVERFLOW_MARKER, and the engine runs the query again unchecked
    # and answers with the data and a partial error, as Log Analytics does.
    # A weight of a weighted percentile: a whole number of times, never negative or null.
    "CREATE OR REPLACE MACRO __kql_weight(w) AS CASE WHEN w IS NULL OR w < 0 OR w <> floor(w) THEN "
    "error('a weighted percentile needs weights that are whole numbers, not negative and not null') "
    "ELSE CAST(w AS HUGEINT) END",
    "CREATE OR REPLACE MACRO __kql_weighted_pick(pairs, total, q) AS (list_reduce(pairs, lambda s, e: "
    "CASE WHEN s.found IS NOT NULL THEN s ELSE {'acc': s.acc + e.w, 'found': "
    "CASE WHEN s.acc + e.w >= q * total THEN e.v END} END, "
    "{'acc': CAST(0 AS HUGEINT), 'found': CASE WHEN false THEN pairs[1].v END})).found",
    "CREATE OR REPLACE MACRO __kql_weighted_pick_checked(pairs, total, q) AS CASE WHEN total > 9223372036854775807 "
    f"THEN error('{OVERFLOW_MARKER}') ELSE __kql_weighted_pick(pairs, total, q) END",
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


# series_<name>(x) applies the scalar function <name> to each element, as the engine computes it.
_SERIES_UNARY = ("abs", "acos", "asin", "atan", "cos", "exp", "log", "sign", "sin", "tan")
_SERIES_ROUNDING = {"ceiling": "ceil(e)", "floor": "floor(e)"}
# series_<name>(a, b): element-wise arithmetic (a number per element) ...
_SERIES_ARITHMETIC = {
    "add": "{a} + {b}",
    "subtract": "{a} - {b}",
    "multiply": "{a} * {b}",
    "divide": "{a} / {b}",
    "pow": "pow({a}, {b})",
}
# ... and comparisons (a bool per element).
_SERIES_COMPARISONS = {
    "greater": "{a} > {b}",
    "greater_equals": "{a} >= {b}",
    "less": "{a} < {b}",
    "less_equals": "{a} <= {b}",
    "equals": "{a} = {b}",
    "not_equals": "{a} <> {b}",
}


def _finite(elements: str) -> str:
    """A non-finite result (NaN, an infinity) is null inside a dynamic array, which JSON cannot hold."""
    return f"list_transform({elements}, lambda v: CASE WHEN isfinite(v) THEN v END)"


def _pairwise(body: str) -> str:
    element = body.format(a="__kql_number_at({0}, i)", b="__kql_number_at({1}, i)")
    return f"list_transform(range(0, __kql_pair_length({{0}}, {{1}})), lambda i: {element})"


def _series_rows() -> list[tuple[str, str, tuple[int, ...]]]:
    bodies = {name: kql_functions.SCALAR_FUNCTIONS[name].render(["e"]) for name in _SERIES_UNARY}
    bodies.update(_SERIES_ROUNDING)
    rows: list[tuple[str, str, tuple[int, ...]]] = [
        (f"series_{name}", f"to_json({_finite(f'list_transform(__kql_numbers({{0}}), lambda e: {body})')})", (1,))
        for name, body in bodies.items()
    ]
    rows += [
        (f"series_{name}", f"to_json({_finite(_pairwise(body))})", (2,)) for name, body in _SERIES_ARITHMETIC.items()
    ]
    rows += [(f"series_{name}", f"to_json({_pairwise(body)})", (2,)) for name, body in _SERIES_COMPARISONS.items()]
    rows += [
        ("series_sum", "coalesce(list_sum(__kql_numbers({0})), 0.0)", (1,)),
        ("series_product", "list_product(__kql_numbers({0}))", (1,)),
        ("series_magnitude", "sqrt(list_sum(list_transform(__kql_numbers({0}), lambda e: e * e)))", (1,)),
    ]
    return rows


# (name, SQL template, argument counts): functions with one fixed form.
_SCALARS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    # make-series' bucket of a datetime or timespan axis: whole steps since the start (the axis is at or
    # after it), in integer microseconds, where tolong() of the quotient goes through a per-row type test.
    (SERIES_INDEX, "(epoch_us(({0}) - ({1})) // epoch_us({2}))", (3,)),
    ("base64_decode_tostring", _BASE64_TO_STRING, (1,)),
    ("base64_decodestring", _BASE64_TO_STRING, (1,)),
    ("string_size", "CAST(octet_length(encode(CAST({0} AS VARCHAR))) AS BIGINT)", (1,)),
    (
        "strcmp",
        "CASE WHEN CAST({0} AS VARCHAR) < CAST({1} AS VARCHAR) THEN -1 "
        "WHEN CAST({0} AS VARCHAR) > CAST({1} AS VARCHAR) THEN 1 ELSE 0 END",
        (2,),
    ),
    ("isascii", "regexp_full_match(CAST({0} AS VARCHAR), '[\\x00-\\x7F]*')", (1,)),
    ("url_encode", "__kql_url_encode({0}, '+')", (1,)),
    ("url_encode_component", "__kql_url_encode({0}, '%20')", (1,)),
    # .NET's URL decoding reads '+' as a space, as url_encode writes one.
    ("url_decode", "TRY(url_decode(replace(CAST({0} AS VARCHAR), '+', ' ')))", (1,)),
    ("unixtime_seconds_todatetime", "__kql_unixtime(TRY_CAST({0} AS DOUBLE) * 1000000)", (1,)),
    ("unixtime_milliseconds_todatetime", "__kql_unixtime(TRY_CAST({0} AS DOUBLE) * 1000)", (1,)),
    ("unixtime_microseconds_todatetime", "__kql_unixtime(TRY_CAST({0} AS DOUBLE))", (1,)),
    # DuckDB holds whole microseconds: a finer instant is refused rather than rounded.
    (
        "unixtime_nanoseconds_todatetime",
        "CASE WHEN TRY_CAST({0} AS BIGINT) % 1000 <> 0 THEN error('unixtime_nanoseconds_todatetime(): "
        "this local Log Analytics holds datetimes to the microsecond') "
        "ELSE make_timestamp(TRY_CAST({0} AS BIGINT) // 1000) END",
        (1,),
    ),
    ("ipv4_compare", "CAST(__kql_ip4_compare({0}, {1}, 32) AS INTEGER)", (2,)),
    ("ipv4_is_match", "(__kql_ip4_compare({0}, {1}, 32) = 0)", (2,)),
    ("ipv4_is_in_range", "__kql_ip4_in_range({0}, {1})", (2,)),
    (
        "ipv4_is_private",
        "(__kql_ip4_in_range({0}, '10.0.0.0/8') OR __kql_ip4_in_range({0}, '172.16.0.0/12') "
        "OR __kql_ip4_in_range({0}, '192.168.0.0/16'))",
        (1,),
    ),
    ("ipv4_netmask_suffix", "CAST(__kql_ip4_prefix({0}) AS INTEGER)", (1,)),
    (
        "has_ipv4",
        "(__kql_ip4({1}) IS NOT NULL AND regexp_matches(CAST({0} AS VARCHAR), "
        "'(^|[^0-9A-Za-z.])' || replace(trim(CAST({1} AS VARCHAR)), '.', '\\.') || '($|[^0-9A-Za-z.])'))",
        (2,),
    ),
    (
        "base64_decode_toarray",
        "to_json(list_transform(range(0, octet_length(TRY(from_base64(CAST({0} AS VARCHAR))))), lambda i: "
        "CAST(('0x' || substr(hex(from_base64(CAST({0} AS VARCHAR))), CAST(2 * i + 1 AS INTEGER), 2)) AS BIGINT)))",
        (1,),
    ),
    ("bag_keys", "CASE WHEN json_type(__kql_json({0})) = 'OBJECT' THEN to_json(json_keys(__kql_json({0}))) END", (1,)),
    (
        "bag_remove_keys",
        "CASE WHEN list_bool_or(list_transform(TRY_CAST(__kql_json({1}) AS VARCHAR[]), "
        "lambda k: starts_with(k, '$') AND k NOT SIMILAR TO '\\$\\.[A-Za-z0-9_]+')) "
        "THEN error('bag_remove_keys(): a nested JSONPath key is not supported by this local Log Analytics') "
        "ELSE __kql_bag(list_filter(__kql_entries({0}), lambda e: NOT coalesce(list_contains("
        "list_transform(TRY_CAST(__kql_json({1}) AS VARCHAR[]), lambda k: CASE WHEN starts_with(k, '$.') "
        "THEN substr(k, 3) ELSE k END), e.k), false))) END",
        (2,),
    ),
    ("loggamma", "lgamma(CAST({0} AS DOUBLE))", (1,)),
    ("series_pearson_correlation", "__kql_pearson(__kql_numbers({0}), __kql_numbers({1}))", (2,)),
    (
        "base64_encode_fromguid",
        "to_base64(unhex(__kql_guid_swap(replace(CAST(TRY_CAST({0} AS UUID) AS VARCHAR), '-', ''))))",
        (1,),
    ),
    ("dcount_hll", "CAST(json_array_length(__kql_json({0})) AS BIGINT)", (1,)),
    (
        "percentile_tdigest",
        "list_aggregate(TRY_CAST(__kql_json({0}) AS DOUBLE[]), 'quantile_disc', ({1}) / 100.0)",
        (2,),
    ),
    # An int's bits are its 32 (two's complement), a long's its 64.
    (
        "bitset_count_ones",
        "CAST(bit_count(CASE WHEN typeof({0}) IN ('INTEGER', 'SMALLINT', 'TINYINT') "
        "THEN CAST({0} AS BIGINT) & 4294967295 ELSE CAST({0} AS BIGINT) END) AS BIGINT)",
        (1,),
    ),
    ("around", "({0} BETWEEN ({1}) - ({2}) AND ({1}) + ({2}))", (3,)),
    (
        "parse_version",
        "CASE WHEN regexp_full_match(trim(CAST({0} AS VARCHAR)), '[0-9]{{1,8}}(\\.[0-9]{{1,8}}){{0,3}}') "
        "THEN CAST(list_sum(list_transform(string_split(trim(CAST({0} AS VARCHAR)), '.'), "
        "lambda part, i: CAST(part AS HUGEINT) * CAST('1' || repeat('0', 8 * (4 - i)) AS HUGEINT))) "
        "AS DECIMAL(38, 0)) END",
        (1,),
    ),
    (
        "series_fill_forward",
        "to_json(list_transform(__kql_items({0}), lambda e, i: CASE WHEN __kql_is_null(e) THEN "
        "list_filter(__kql_items({0})[1:i], lambda x: NOT __kql_is_null(x))[-1] ELSE e END))",
        (1,),
    ),
    (
        "series_fill_backward",
        "to_json(list_transform(__kql_items({0}), lambda e, i: CASE WHEN __kql_is_null(e) THEN "
        "list_filter(__kql_items({0})[i:], lambda x: NOT __kql_is_null(x))[1] ELSE e END))",
        (1,),
    ),
    (
        "series_stats_dynamic",
        "json_object('min', list_min(__kql_numbers({0})), "
        "'min_idx', list_position(__kql_numbers({0}), list_min(__kql_numbers({0}))) - 1, "
        "'max', list_max(__kql_numbers({0})), "
        "'max_idx', list_position(__kql_numbers({0}), list_max(__kql_numbers({0}))) - 1, "
        "'avg', list_avg(__kql_numbers({0})), 'stdev', coalesce(list_stddev_samp(__kql_numbers({0})), 0.0), "
        "'variance', coalesce(list_var_samp(__kql_numbers({0})), 0.0), 'sum', list_sum(__kql_numbers({0})), "
        "'len', len(list_filter(__kql_numbers({0}), lambda x: x IS NOT NULL)))",
        (1,),
    ),
    (
        "base64_encode_fromarray",
        "CASE WHEN list_bool_and(list_transform(TRY_CAST(__kql_json({0}) AS BIGINT[]), lambda b: b BETWEEN 0 AND 255)) "
        "THEN to_base64(unhex(array_to_string(list_transform(TRY_CAST(__kql_json({0}) AS BIGINT[]), "
        "lambda b: lpad(hex(b), 2, '0')), ''))) WHEN __kql_length({0}) = 0 THEN '' END",
        (1,),
    ),
    (
        "parse_urlquery",
        "json_object('Query Parameters', __kql_bag(list_transform(list_filter(string_split(CAST({0} AS VARCHAR), "
        "'&'), lambda p: p <> ''), lambda p: {{'k': TRY(url_decode(replace(split_part(p, '=', 1), '+', ' '))), "
        "'v': to_json(CASE WHEN strpos(p, '=') > 0 THEN TRY(url_decode(replace(substr(p, strpos(p, '=') + 1), "
        "'+', ' '))) ELSE '' END)}})))",
        (1,),
    ),
    ("array_shift_left", "__kql_shift({0}, {1}, NULL)", (2,)),
    ("array_shift_right", "__kql_shift({0}, -({1}), NULL)", (2,)),
    ("array_rotate_left", "__kql_rotate({0}, {1})", (2,)),
    ("array_rotate_right", "__kql_rotate({0}, -({1}))", (2,)),
    (
        "unicode_codepoints_from_string",
        "to_json(list_transform(string_split(CAST({0} AS VARCHAR), ''), lambda c: unicode(c)))",
        (1,),
    ),
    (
        "jaccard_index",
        "(len(list_intersect(__kql_distinct(__kql_items({0})), __kql_distinct(__kql_items({1})))) "
        "/ NULLIF(len(__kql_distinct(list_concat(__kql_items({0}), __kql_items({1})))), 0))",
        (2,),
    ),
    (
        "bag_has_key",
        # A key that starts with `$` is a JSONPath to a nested key.
        "coalesce(CASE WHEN starts_with(CAST({1} AS VARCHAR), '$') "
        "THEN TRY(json_exists(__kql_json({0}), CAST({1} AS VARCHAR))) "
        "ELSE list_contains(json_keys(__kql_json({0})), CAST({1} AS VARCHAR)) END, false)",
        (2,),
    ),
)


def _replaced_scalars() -> list[Any]:
    f = kql_functions.FunctionSpec
    return [f(name, "template", template, arities) for name, template, arities in (*_SCALARS, *_series_rows())]


# (name, SQL template, argument counts, output-name prefix)
_AGGREGATES: tuple[tuple[str, str, tuple[int, ...], str], ...] = (
    ("stdevp", "coalesce(stddev_pop({0}), 0.0)", (1,), "stdevp"),
    ("stdevpif", "coalesce(stddev_pop({0}) FILTER (WHERE {1}), 0.0)", (2,), "stdevpif"),
    ("variancep", "coalesce(var_pop({0}), 0.0)", (1,), "variancep"),
    ("variancepif", "coalesce(var_pop({0}) FILTER (WHERE {1}), 0.0)", (2,), "variancepif"),
    ("covariance", "coalesce(covar_samp({0}, {1}), 0.0)", (2,), "covariance"),
    ("covariancep", "coalesce(covar_pop({0}, {1}), 0.0)", (2,), "covariancep"),
    ("covarianceif", "coalesce(covar_samp({0}, {1}) FILTER (WHERE {2}), 0.0)", (3,), "covarianceif"),
    ("covariancepif", "coalesce(covar_pop({0}, {1}) FILTER (WHERE {2}), 0.0)", (3,), "covariancepif"),
    ("take_anyif", "any_value({0}) FILTER (WHERE {1})", (2,), "take_anyif"),
    ("count_distinct", "count(DISTINCT {0})", (1,), "count_distinct"),
    ("count_distinctif", "count(DISTINCT {0}) FILTER (WHERE {1})", (2,), "count_distinctif"),
    ("minif", "min({0}) FILTER (WHERE {1})", (2,), "minif"),
    ("maxif", "max({0}) FILTER (WHERE {1})", (2,), "maxif"),
    (
        "make_set_if",
        "to_json(coalesce(list_distinct(flatten(list(CASE WHEN json_type(TRY_CAST({0} AS JSON)) = 'ARRAY' "
        "THEN CAST(to_json({0}) AS JSON[]) ELSE [to_json({0})] END) FILTER (WHERE {0} IS NOT NULL AND ({1})))), []))",
        (2,),
        "set",
    ),
    (
        "make_bag",
        # The entries are taken after aggregating: DuckDB cannot bind a lambda inside an aggregate's argument.
        "coalesce(__kql_bag(flatten(list_transform(list(__kql_json({0})) FILTER "
        "(WHERE json_type(__kql_json({0})) = 'OBJECT'), lambda b: __kql_entries(b)))), CAST('{{}}' AS JSON))",
        (1,),
        "bag",
    ),
    (
        "make_bag_if",
        "coalesce(__kql_bag(flatten(list_transform(list(__kql_json({0})) FILTER "
        "(WHERE json_type(__kql_json({0})) = 'OBJECT' AND ({1})), lambda b: __kql_entries(b)))), "
        "CAST('{{}}' AS JSON))",
        (2,),
        "bag",
    ),
    # Sketches kept exact: an hll is the distinct values and a tdigest every value, so dcount_hll and
    # percentile_tdigest answer what dcount and percentile would (Kusto estimates; these do not).
    # Over no rows at all they are null, as the summarize documentation's example shows.
    (
        "hll",
        "CASE WHEN count(*) > 0 THEN to_json(coalesce(list(DISTINCT {0}) FILTER (WHERE {0} IS NOT NULL), [])) END",
        (1, 2),
        "hll",
    ),
    (
        "hll_if",
        "CASE WHEN count(*) > 0 THEN to_json(coalesce(list(DISTINCT {0}) FILTER (WHERE {0} IS NOT NULL AND ({1})), "
        "[])) END",
        (2, 3),
        "hll_if",
    ),
    (
        "hll_merge",
        "to_json(coalesce(list_distinct(flatten(list(CAST(__kql_json({0}) AS JSON[])))), []))",
        (1,),
        "hll_merge",
    ),
    (
        "tdigest",
        "CASE WHEN count(*) > 0 THEN to_json(coalesce(list({0}) FILTER (WHERE {0} IS NOT NULL), [])) END",
        (1,),
        "tdigest",
    ),
    ("tdigest_merge", "to_json(coalesce(flatten(list(CAST(__kql_json({0}) AS JSON[]))), []))", (1,), "tdigest_merge"),
    ("merge_tdigest", "to_json(coalesce(flatten(list(CAST(__kql_json({0}) AS JSON[]))), []))", (1,), "merge_tdigest"),
    ("binary_all_and", "bit_and(CAST({0} AS BIGINT))", (1,), "binary_all_and"),
    ("binary_all_or", "bit_or(CAST({0} AS BIGINT))", (1,), "binary_all_or"),
    ("binary_all_xor", "bit_xor(CAST({0} AS BIGINT))", (1,), "binary_all_xor"),
    ("make_list_if", "coalesce(list({0}) FILTER (WHERE ({1}) AND {0} IS NOT NULL), [])", (2,), "list"),
    ("make_list_with_nulls", "coalesce(list({0}), [])", (1, 2), "list"),
    ("buildschema", kql_python_functions.BUILD_SCHEMA, (1,), "schema"),
)


# Aggregates of two columns that Kusto names after both: `covariance(x, y)` is `covariance_x_y`.
_NAMED_AFTER_TWO = frozenset({"covariance", "covariancep", "covarianceif", "covariancepif"})


def _aggregate_name(original: Callable[[Any, Any], str]) -> Callable[[Any, Any], str]:
    def name(spec: Any, expr: Any) -> str:
        if spec.name == COUNT_OF and len(expr.args) == 1:
            return f"count_{kql_naming.expression_name(expr.args[0]) or ''}"
        if spec.name == "percentilew" and len(expr.args) == 3:
            level = expr.args[2]
            subject = kql_naming.expression_name(expr.args[0]) or ""
            if isinstance(level, kql_ir.Literal) and isinstance(level.value, (int, float)):
                number = int(level.value) if float(level.value).is_integer() else level.value
                return f"percentile_{subject}_{str(number).replace('.', '_')}"
            return f"percentile_{subject}"
        if spec.name not in _NAMED_AFTER_TWO:
            return original(spec, expr)
        names = [kql_naming.expression_name(arg) for arg in expr.args[:2]]
        if len(names) != 2 or None in names:
            raise KqlUnsupportedError(
                f"aggregate:{spec.name}", hint=f"name the {spec.name}() column: its default name is not known here"
            )
        return f"{spec.prefix}_{names[0]}_{names[1]}"

    return name


class _WeightedPercentilesArray(kql_functions.AggregateSpec):
    """percentilesw_array(x, weight, p1, ...) or (x, weight, dynamic([p1, ...])): weighted percentiles, in an array."""

    def render(self, args: list[str]) -> str:
        if len(args) < 3:
            raise ValueError("percentilesw_array() takes a value, a weight and at least one percentile")
        levels = args[2:]
        if len(levels) == 1:
            # A dynamic array of percentiles: DuckDB needs each level as a constant, so only a literal array.
            literal = re.fullmatch(r"CAST\('(\[[-0-9., ]*\])' AS JSON\)", levels[0])
            if literal is not None:
                levels = [repr(float(level)) for level in json.loads(literal.group(1))]
            elif "JSON" in levels[0]:
                raise kql_units.KqlRefusalError(
                    "percentilesw_array(): the percentiles must be numbers or a literal array of numbers here."
                )
        return f"to_json([{', '.join(_weighted_pick(args[0], args[1], level) for level in levels)}])"


class _Count(kql_functions.AggregateSpec):
    """count() of the rows, or count(x): also of the rows (nulls of x included, as Kusto documents)."""

    def render(self, args: list[str]) -> str:
        if len(args) > 1:
            raise ValueError("count() takes no argument or one")
        return "count(*)" if not args else f"count(CASE WHEN ({args[0]}) IS NULL THEN 1 ELSE 1 END)"


class _PercentilesArray(kql_functions.AggregateSpec):
    """percentiles_array(x, p1, p2, ...): the nearest-rank percentiles, as percentile() takes them, in an array."""

    def render(self, args: list[str]) -> str:
        if len(args) < 2:
            raise ValueError("percentiles_array() takes a value and at least one percentile")
        levels = ", ".join(f"quantile_disc({args[0]}, ({level}) / 100.0)" for level in args[1:])
        return f"to_json([{levels}])"


class _WeightedPercentile(kql_functions.AggregateSpec):
    """percentilew(x, weight, p): the nearest-rank percentile of x, each value counted `weight` times."""

    def render(self, args: list[str]) -> str:
        if len(args) != 3:
            raise ValueError("percentilew() takes a value, a weight and a percentile")
        return _weighted_pick(*args)


def _weighted_pick(value: str, weight: str, level: str) -> str:
    """The nearest-rank `level` percentile of `value`, each value counted `weight` times."""
    kept = f"FILTER (WHERE ({value}) IS NOT NULL AND __kql_weight({weight}) > 0)"
    pairs = f"list({{'v': {value}, 'w': __kql_weight({weight})}} ORDER BY {value}) {kept}"
    total = f"sum(__kql_weight({weight})) {kept}"
    return f"{WEIGHTED_CHECKED}{pairs}, {total}, ({level}) / 100.0)"


def _added_aggregates() -> list[Any]:
    a = kql_functions.AggregateSpec
    added = [a(name, template, arities, name_prefix=prefix) for name, template, arities, prefix in _AGGREGATES]
    added.append(_PercentilesArray("percentiles_array", "", (), name_prefix="percentiles"))
    # "The standard count function includes null values in its count" (the summarize docs): count(x)
    # counts rows as count() does, and still reads x, so that a name that does not exist is refused.
    # The grammar reads `count(x)` oddly, so the engine writes it as this function.
    added.append(_Count(COUNT_OF, "", (1,), name_prefix="count"))
    added.append(_WeightedPercentile("percentilew", "", (), name_prefix="percentile"))
    added.append(_WeightedPercentilesArray("percentilesw_array", "", (), name_prefix="percentile"))
    return added


def _args(node: Any) -> list[str]:
    return [kql_translate.render_expr(arg) for arg in node.args]


def _render_set(combine: str) -> _Renderer:
    """set_union / set_intersect / set_difference over two or more arrays, first-seen order kept."""

    def render(node: Any) -> str | None:
        if len(node.args) < 2:
            return None
        first, *others = (f"__kql_items({arg})" for arg in _args(node))
        if combine == "union":
            return f"to_json(__kql_distinct(flatten([{first}, {', '.join(others)}])))"
        test = " AND ".join(
            f"{'' if combine == 'intersect' else 'NOT '}coalesce(list_contains({other}, e), false)" for other in others
        )
        return f"to_json(list_filter(__kql_distinct({first}), lambda e: {test}))"

    return render


def _render_array_iff(node: Any) -> str | None:
    """array_iff(conditions, when_true, when_false): either branch may be an array or a scalar."""
    if len(node.args) != 3:
        return None
    condition, when_true, when_false = _args(node)

    def pick(value: str) -> str:
        return f"CASE WHEN __kql_is_array({value}) THEN __kql_items({value})[i + 1] ELSE __kql_json({value}) END"

    return (
        f"to_json(list_transform(range(0, __kql_length({condition})), lambda i: "
        f"CASE __kql_truth(__kql_items({condition})[i + 1]) WHEN true THEN {pick(when_true)} "
        f"WHEN false THEN {pick(when_false)} END))"
    )


def _render_strrep(node: Any) -> str | None:
    """strrep(value, times[, delimiter]): the value's text repeated, joined by the delimiter."""
    if len(node.args) not in (2, 3):
        return None
    args = _args(node)
    value, times = f"CAST({args[0]} AS VARCHAR)", f"CAST({args[1]} AS BIGINT)"
    delimiter = f"CAST({args[2]} AS VARCHAR)" if len(args) == 3 else "''"
    return f"CASE WHEN {times} > 0 THEN repeat({value} || {delimiter}, {times} - 1) || {value} ELSE '' END"


def _render_tohex(node: Any) -> str | None:
    """tohex(number[, minimum length]): lower-case two's complement hex, zero padded."""
    if len(node.args) not in (1, 2):
        return None
    args = _args(node)
    # An int is written as 32 bits (its two's complement), a long as 64; anything else is refused.
    value = args[0]
    bits = (
        f"CASE WHEN typeof({value}) IN ('INTEGER', 'SMALLINT', 'TINYINT', 'UTINYINT', 'USMALLINT') "
        f"THEN CAST({value} AS BIGINT) & 4294967295 WHEN typeof({value}) IN ('BIGINT', 'UINTEGER') "
        f"THEN CAST({value} AS BIGINT) WHEN {value} IS NULL THEN NULL "
        "ELSE error('tohex() takes an int or a long') END"
    )
    digits = f"lower(hex({bits}))"
    if len(args) == 1:
        return digits
    return f"lpad({digits}, CAST(greatest(CAST({args[1]} AS INTEGER), length({digits})) AS INTEGER), '0')"


def _render_array_shift(direction: int) -> _Renderer:
    def render(node: Any) -> str | None:
        if len(node.args) != 3:
            return None
        array, places, fill = _args(node)
        moved = f"({places})" if direction > 0 else f"-({places})"
        return f"__kql_shift({array}, {moved}, {fill})"

    return render


def _render_bin_at(node: Any) -> str | None:
    """bin_at(value, size, fixed point) is fixed point + bin(value - fixed point, size)."""
    if len(node.args) != 3:
        return None
    value, size, fixed = node.args
    shifted = kql_ir.FunctionCall("bin", (kql_ir.BinaryOp("-", value, fixed), size))
    return str(kql_translate.render_expr(kql_ir.BinaryOp("+", shifted, fixed)))


def _render_unicode_codepoints_to_string(node: Any) -> str | None:
    """Code points, given as arrays or numbers (or both), to the text they spell."""
    if not node.args:
        return None
    parts = [
        f"CASE WHEN __kql_is_array({arg}) THEN TRY_CAST(__kql_json({arg}) AS BIGINT[]) "
        f"ELSE [TRY_CAST({arg} AS BIGINT)] END"
        for arg in _args(node)
    ]
    return f"array_to_string(list_transform(flatten([{', '.join(parts)}]), lambda c: chr(CAST(c AS INTEGER))), '')"


def _render_ip4_compare(equal: bool) -> _Renderer:
    """ipv4_compare / ipv4_is_match with a third argument: the most prefix bits to compare."""

    def render(node: Any) -> str | None:
        if len(node.args) != 3:
            return None
        first, second, prefix = _args(node)
        compared = f"__kql_ip4_compare({first}, {second}, CAST({prefix} AS BIGINT))"
        return f"({compared} = 0)" if equal else f"CAST({compared} AS INTEGER)"

    return render


def _render_ip4_in_any_range(node: Any) -> str | None:
    """ipv4_is_in_any_range(address, ranges...): ranges as text arguments or dynamic arrays."""
    if len(node.args) < 2:
        return None
    address, *ranges = _args(node)
    texts = [
        f"CASE WHEN __kql_is_array({value}) THEN TRY_CAST(__kql_json({value}) AS VARCHAR[]) "
        f"ELSE [CAST({value} AS VARCHAR)] END"
        for value in ranges
    ]
    return (
        f"CASE WHEN __kql_ip4({address}) IS NOT NULL THEN coalesce(list_bool_or(list_transform("
        f"flatten([{', '.join(texts)}]), lambda r: __kql_ip4_in_range({address}, r))), false) END"
    )


def _render_format_ipv4(with_mask: bool) -> _Renderer:
    """format_ipv4(address[, prefix]) and format_ipv4_mask: the address masked, as dotted text."""

    def render(node: Any) -> str | None:
        if len(node.args) not in (1, 2):
            return None
        args = _args(node)
        prefix = f"CAST({args[1]} AS BIGINT)" if len(args) == 2 else "32"
        value = f"__kql_ip4_masked({args[0]}, {prefix})"
        text = f"__kql_ip4_text({value})"
        if with_mask:
            own = f"__kql_ip4_prefix(CAST({args[0]} AS VARCHAR))"
            kept = f"CASE WHEN typeof({args[0]}) = 'VARCHAR' THEN least({own}, {prefix}) ELSE {prefix} END"
            text = f"{text} || '/' || CAST({kept} AS VARCHAR)"
        return f"coalesce({text}, '')"

    return render


# The most elements a scalar range() may have: Kusto's own cap.
_RANGE_LIMIT = 1_048_576


def _render_datetime_range(node: Any) -> str:
    """range(start, stop, step) of datetimes by a timespan: the instants from start to stop inclusive, written
    as Kusto writes a datetime inside a dynamic value. A range of timespans is refused."""
    start, stop, step = (kql_translate.render_expr(arg) for arg in node.args)
    first = f"TRY_CAST(CAST({start} AS VARCHAR) AS TIMESTAMP)"
    last = f"TRY_CAST(CAST({stop} AS VARCHAR) AS TIMESTAMP)"
    size = f"epoch_us(CAST({step} AS INTERVAL))"
    count = f"CAST(greatest(floor((epoch_us({last}) - epoch_us({first})) / NULLIF({size}, 0)) + 1, 0) AS BIGINT)"
    limited = (
        f"CASE WHEN {count} > {_RANGE_LIMIT} THEN error('range(): more than {_RANGE_LIMIT:,} elements') "
        f"ELSE {count} END"
    )
    instant = f"strftime({first} + to_microseconds(__kql_i * {size}), '%Y-%m-%dT%H:%M:%S.%f') || '0Z'"
    return (
        f"CASE WHEN typeof({start}) <> 'TIMESTAMP' THEN error('range() of timespans is not supported by this local "
        f"Log Analytics') ELSE to_json(list_transform(range(0, {limited}), lambda __kql_i: {instant})) END"
    )


def _render_range(node: Any) -> str | None:
    """range(start, stop[, step]) of numbers: the array from start to stop inclusive."""
    if len(node.args) == 3 and _timespan_typed(node.args[2]):
        return _render_datetime_range(node)
    if len(node.args) not in (2, 3) or any(_timespan_typed(arg) for arg in node.args):
        return None
    args = _args(node)
    start, stop = (f"TRY_CAST({arg} AS DOUBLE)" for arg in args[:2])
    step = f"TRY_CAST({args[2]} AS DOUBLE)" if len(args) == 3 else "1.0"
    count = f"CAST(greatest(floor(({stop} - {start}) / NULLIF({step}, 0)) + 1, 0) AS BIGINT)"
    limited = (
        f"CASE WHEN {count} > {_RANGE_LIMIT} THEN error('range(): more than {_RANGE_LIMIT:,} elements') "
        f"ELSE {count} END"
    )
    return f"to_json(list_transform(range(0, {limited}), lambda i: {start} + i * {step}))"


def _render_bag_merge(node: Any) -> str | None:
    """bag_merge(bag, bag, ...): every key, the first bag that has a key giving its value."""
    if len(node.args) < 2:
        return None
    entries = ", ".join(f"coalesce(__kql_entries({arg}), [])" for arg in _args(node))
    return f"__kql_bag(flatten([{entries}]))"


# What .NET's Regex.Escape (and so Kusto's regex_quote) escapes: metacharacters and white space.
_REGEX_METACHARACTERS = r"([\\*+?|{\[()^$.# ])"
_ESCAPED_GROUP = r"\\\1"  # a backslash, then the character matched


def _render_regex_quote(node: Any) -> str | None:
    if len(node.args) != 1:
        return None
    (text,) = _args(node)
    escaped = f"regexp_replace(CAST({text} AS VARCHAR), '{_REGEX_METACHARACTERS}', '{_ESCAPED_GROUP}', 'g')"
    for char, name in (("\t", "t"), ("\n", "n"), ("\r", "r"), ("\f", "f")):
        escaped = f"replace({escaped}, chr({ord(char)}), '\\{name}')"
    return escaped


_BYTE_UNITS = ("Bytes", "KB", "MB", "GB", "TB", "PB", "EB")


def _render_format_bytes(node: Any) -> str | None:
    """format_bytes(size[, precision[, unit]]): the size in the largest fitting unit of 1024 (or the one named)."""
    if len(node.args) not in (1, 2, 3):
        return None
    args = _args(node)
    size = f"TRY_CAST({args[0]} AS DOUBLE)"
    precision = f"CAST({args[1]} AS INTEGER)" if len(args) > 1 else "0"
    units = "[" + ", ".join(f"'{unit}'" for unit in _BYTE_UNITS) + "]"
    if len(args) == 3:
        exponent = f"list_position({units}, CAST({args[2]} AS VARCHAR)) - 1"
    else:
        exponent = f"least(greatest(CAST(floor(log(1024, greatest(abs({size}), 1))) AS INTEGER), 0), 6)"
    scaled = f"round({size} / pow(1024, {exponent}), {precision})"
    return (
        f"CASE WHEN {size} IS NULL OR ({exponent}) IS NULL THEN '' "
        f"ELSE format('{{:.{{}}f}}', {scaled}, {precision}) || ' ' || {units}[({exponent}) + 1] END"
    )


def _bool_literal(node: Any) -> bool:
    return isinstance(node, kql_ir.Literal) and node.kind == "bool"


def _render_array_sort(order: str) -> _Renderer:
    """array_sort_asc/desc(array[, nulls_last]): elements by value, nulls last unless told otherwise.

    duckdb-kql sorts the elements' JSON text, so 10 came before 9; this sorts numbers as numbers.
    """

    def render(node: Any) -> str | None:
        # A second argument that is not a bool literal is another array to sort along with the
        # first: several outputs, reached here only through an index (kql_more_functions).
        if len(node.args) >= 2 and not _bool_literal(node.args[1]):
            raise kql_units.KqlRefusalError(
                f"array_sort_{order.lower()}() of several arrays is supported by this local Log Analytics only "
                f"when one of its outputs is taken by index, as in array_sort_{order.lower()}(a, b)[1]."
            )
        if len(node.args) not in (1, 2):
            return None
        args = _args(node)
        items = f"__kql_items({args[0]})"
        values = (
            f"list_transform(list_sort(list_transform(list_filter({items}, lambda e: NOT __kql_is_null(e)), "
            f"lambda e: __kql_sort_key(e)), '{order}'), lambda k: k.j)"
        )
        nulls = f"list_filter({items}, lambda e: __kql_is_null(e))"
        nulls_last = f"coalesce(TRY_CAST({args[1]} AS BOOLEAN), true)" if len(args) == 2 else "true"
        return (
            f"to_json(CASE WHEN {nulls_last} THEN list_concat({values}, {nulls}) "
            f"ELSE list_concat({nulls}, {values}) END)"
        )

    return render


def _render_series_fill_linear(node: Any) -> str | None:
    """series_fill_linear(series): each missing element interpolated between its nearest neighbours.

    The edges take the nearest value, a series of nothing but missing values becomes zeros, and a
    series of whole numbers stays whole (interpolations truncated), as Kusto documents it. The forms
    with a placeholder, an edge switch or a constant are not supported.
    """
    if len(node.args) != 1:
        return None
    (series,) = _args(node)
    items = f"__kql_items({series})"
    numbers = f"list_transform({items}, lambda e: TRY_CAST(e AS DOUBLE))"
    whole = (
        f"list_bool_and(list_transform(list_filter({items}, lambda e: NOT __kql_is_null(e)), "
        "lambda e: json_type(e) IN ('BIGINT', 'UBIGINT')))"
    )
    before = f"list_max(list_filter(range(0, i), lambda j: {numbers}[j + 1] IS NOT NULL))"
    after = f"list_min(list_filter(range(i + 1, len({items})), lambda j: {numbers}[j + 1] IS NOT NULL))"
    between = f"{numbers}[p + 1] + ({numbers}[q + 1] - {numbers}[p + 1]) * (i - p) / (q - p)"
    filled = (
        f"list_transform([[{before}, {after}]], lambda pq: list_transform([pq[1]], lambda p: "
        f"list_transform([pq[2]], lambda q: CASE WHEN p IS NOT NULL AND q IS NOT NULL THEN {between} "
        f"WHEN p IS NOT NULL THEN {numbers}[p + 1] WHEN q IS NOT NULL THEN {numbers}[q + 1] ELSE 0.0 END)[1])[1])[1]"
    )
    value = f"CASE WHEN {numbers}[i + 1] IS NOT NULL THEN {numbers}[i + 1] ELSE {filled} END"
    return (
        f"to_json(list_transform(range(0, len({items})), lambda i: "
        f"CASE WHEN coalesce({whole}, false) THEN trunc({value}) ELSE {value} END))"
    )


def _render_series_fill_const(node: Any) -> str | None:
    """series_fill_const(series[, constant]): missing elements (nulls) replaced by the constant (0)."""
    if len(node.args) not in (1, 2):
        return None
    args = _args(node)
    constant = f"__kql_json({args[1]})" if len(args) == 2 else "CAST('0' AS JSON)"
    filled = f"CASE WHEN __kql_is_null(e) THEN {constant} ELSE e END"
    return f"to_json(list_transform(__kql_items({args[0]}), lambda e: {filled}))"


def _render_array_split(node: Any) -> str | None:
    """array_split(array, index or indices): the pieces between the indices (negative: from the end)."""
    if len(node.args) != 2:
        return None
    array, indices = _args(node)
    size = f"__kql_length({array})"
    cuts = (
        f"list_transform(CASE WHEN __kql_is_array({indices}) THEN TRY_CAST(__kql_json({indices}) AS BIGINT[]) "
        f"ELSE [TRY_CAST({indices} AS BIGINT)] END, lambda c: least(greatest(CASE WHEN c < 0 THEN {size} + c "
        f"ELSE c END, 0), {size}))"
    )
    bounds = f"list_concat([0], {cuts}, [{size}])"
    return (
        f"to_json(list_transform(range(0, len({bounds}) - 1), lambda k: "
        f"__kql_items({array})[{bounds}[k + 1] + 1:{bounds}[k + 2]]))"
    )


_TIMESPAN_DELIMITERS = frozenset(" /-:,._[]")
_TIMESPAN_RUNS = {"d": 8, "f": 7, "F": 7, "h": 2, "H": 2, "m": 2, "s": 2}


def _timespan_elements(text: str) -> list[str]:
    """A format_timespan format split into elements and delimiters; anything else is refused."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in _TIMESPAN_DELIMITERS:
            out.append(char)
            index += 1
            continue
        longest = _TIMESPAN_RUNS.get(char)
        end = index
        while end < len(text) and text[end] == char:
            end += 1
        if longest is None or end - index > longest:
            raise KqlUnsupportedError(f"format_timespan:{text[index:end]}", hint="not a timespan format element")
        out.append(text[index:end])
        index = end
    return out


def _timespan_piece(element: str) -> str:
    """SQL for one element of a formatted timespan, over `_us` (its whole microseconds, not negative)."""
    width = len(element)
    parts = {
        "d": "_us // 86400000000",
        "h": "(_us // 3600000000) % 24",
        "H": "(_us // 3600000000) % 24",
        "m": "(_us // 60000000) % 60",
        "s": "(_us // 1000000) % 60",
    }
    if element[0] in parts:
        return f"lpad(CAST({parts[element[0]]} AS VARCHAR), {width}, '0')"
    digits = f"substr(lpad(CAST((_us % 1000000) * 10 AS VARCHAR), 7, '0'), 1, {width})"
    if element[0] == "f":
        return digits
    # `F` drops an all-zero fraction; whether it keeps trailing zeros otherwise is not settled, so a
    # value where that matters is refused rather than guessed.
    return (
        f"CASE WHEN rtrim({digits}, '0') = '' THEN '' WHEN rtrim({digits}, '0') = {digits} THEN {digits} "
        "ELSE error('format_timespan(): F with trailing zeros is not supported by this local Log Analytics') END"
    )


def _render_format_timespan(node: Any) -> str | None:
    """format_timespan(timespan, format) with Kusto's elements (d..dddddddd, h, H, m, s, f, F)."""
    if len(node.args) != 2:
        return None
    value, text = node.args
    if not (isinstance(text, kql_ir.Literal) and text.kind == "string" and text.value):
        raise KqlUnsupportedError("format_timespan", hint="the format must be a string literal")
    pieces = [
        f"'{element}'" if element[0] in _TIMESPAN_DELIMITERS else _timespan_piece(element)
        for element in _timespan_elements(str(text.value))
    ]
    body = " || ".join(pieces)
    span = kql_translate.render_expr(value)
    return (
        f"list_transform([CAST(epoch_us(CAST({span} AS INTERVAL)) AS BIGINT)], lambda _us: CASE WHEN _us < 0 "
        f"THEN error('format_timespan() of a negative timespan is not supported by this local Log Analytics') "
        f"ELSE {body} END)[1]"
    )


def _render_percentiles_array_tdigest(node: Any) -> str | None:
    """percentiles_array_tdigest(tdigest, p1, p2, ...): each percentile of the digest's values."""
    if len(node.args) < 2:
        return None
    digest, *levels = _args(node)
    values = f"TRY_CAST(__kql_json({digest}) AS DOUBLE[])"
    picks = ", ".join(f"list_aggregate({values}, 'quantile_disc', ({level}) / 100.0)" for level in levels)
    return f"to_json([{picks}])"


@dataclass(frozen=True)
class _Search:
    """A windowed search as .NET's IndexOf(value, start, count) does it, and Kusto after it.

    `positions` lists (SQL, over `p`) where a match starts; a negative start counts back from the
    end; a match must lie wholly within `count` places from where its search starts; each further
    occurrence is searched for from one past the last.
    """

    name: str
    size: str
    positions: str
    width: str
    args: list[str]

    def sql(self, *, negative_start: str) -> str:
        start = f"CAST({self.args[0]} AS BIGINT)"
        count = f"CAST({self.args[1]} AS BIGINT)" if len(self.args) > 1 else "-1"
        occurrence = f"CAST({self.args[2]} AS BIGINT)" if len(self.args) > 2 else "1"
        first = f"(CASE WHEN {start} < 0 THEN {self.size} + {start} ELSE {start} END)"
        # One search per occurrence; -2 marks "not found" and stays so.
        step = (
            f"CASE WHEN f = -2 THEN -2 ELSE coalesce(list_min(list_filter({self.positions}, lambda p: p >= f + 1 "
            f"AND ({count} = -1 OR p + {self.width} <= f + 1 + {count}))), -2) END"
        )
        found = f"list_reduce(range(0, {occurrence}), lambda f, k: {step}, {first} - 1)"
        return (
            f"CASE WHEN {occurrence} < 0 OR {count} < -1 THEN NULL WHEN {first} < 0 THEN {negative_start} "
            f"WHEN {occurrence} = 0 THEN error('{self.name}(): an occurrence of 0 is not supported here') "
            f"WHEN {first} > {self.size} THEN -1 "
            f"ELSE CAST(greatest({found}, -1) AS BIGINT) END"
        )


def _render_indexof(node: Any) -> str | None:
    """indexof(text, match, start[, length[, occurrence]]): where the match starts, or -1."""
    if len(node.args) not in (3, 4, 5):
        return None
    args = _args(node)
    text, match = (f"CAST({arg} AS VARCHAR)" for arg in args[:2])
    at = f"substr({text}, p + 1, length({match})) = {match}"
    positions = f"list_filter(range(0, length({text}) - length({match}) + 1), lambda p: {at})"
    search = _Search("indexof", f"length({text})", positions, f"length({match})", args[2:])
    return search.sql(negative_start="NULL")


def _render_array_index_of(node: Any) -> str | None:
    """array_index_of(array, value, start[, length[, occurrence]]): where the value is, or -1."""
    if len(node.args) not in (3, 4, 5):
        return None
    args = _args(node)
    items = f"__kql_items({args[0]})"
    positions = f"list_filter(range(0, len({items})), lambda p: {items}[p + 1] = __kql_json({args[1]}))"
    search = _Search("array_index_of", f"len({items})", positions, "1", args[2:])
    # Where a start before the beginning leads is not documented: refused, not guessed.
    return search.sql(
        negative_start="error('array_index_of(): a start before the first element is not supported here')"
    )


class _Sql(kql_ir.Expr):
    """SQL already rendered, standing where the translator takes an expression (its own hook for this)."""

    def __init__(self, sql: str) -> None:
        self.sql = sql


def _ip6_read(node: Any) -> Any:
    """An address as Kusto reads it: `::a.b.c.d` is the IPv4 address a.b.c.d (IPv4-mapped, `::ffff:a.b.c.d`),
    as parse_ipv6_mask's published answers show (`::192.168.255.255/24` keeps 120 bits)."""
    text = kql_ir.FunctionCall("tostring", (node,))
    return kql_ir.FunctionCall(
        "replace_regex",
        (text, kql_ir.Literal(r"^\s*::([0-9]+\.)", "string"), kql_ir.Literal(r"::ffff:\1", "string")),
    )


def _ip6_canonical(node: Any) -> str:
    """The engine's own parse_ipv6: canonical text, masked to the address's own prefix ('' if invalid)."""
    return str(kql_translate.render_expr(kql_ir.FunctionCall("parse_ipv6", (_ip6_read(node),))))


# Other spellings of an IPv4 address inside an IPv6 one (`::0:a.b.c.d`, `1::a.b.c.d`) are read differently by
# the engine's parse_ipv6 and by Kusto's comparisons, so they are refused rather than answered.
_IP4_COMPATIBLE_REFUSAL = (
    "error('IPv6 addresses ending in a dotted IPv4 address, other than ::a.b.c.d and ::ffff:a.b.c.d, are not "
    "supported by this local Log Analytics')"
)


def _ip4_compatible(sql: str) -> str:
    text = f"CAST({sql} AS VARCHAR)"
    return (
        f"(contains({text}, ':') AND regexp_matches({text}, '[0-9]+\\.[0-9]+\\.') "
        f"AND NOT regexp_matches({text}, '^\\s*::[0-9]+\\.') "
        f"AND NOT regexp_matches(lower({text}), '^\\s*(::|(0{{1,4}}:){{5}})ffff:[0-9]+\\.'))"
    )


def _ip6_prefix(node: Any) -> str:
    return f"__kql_ip6_prefix({kql_translate.render_expr(_ip6_read(node))})"


def _ip6_compare(first: Any, second: Any, prefix: Any = None) -> str:
    """-1, 0 or 1 comparing two addresses on the shortest of their prefixes and `prefix` (null if either is
    invalid)."""
    a, b = kql_translate.render_expr(first), kql_translate.render_expr(second)
    bits = f"least({_ip6_prefix(first)}, {_ip6_prefix(second)})"
    if prefix is not None:
        bits = f"least({bits}, CAST({kql_translate.render_expr(prefix)} AS INTEGER))"
    left = f"__kql_ip6_masked({_ip6_canonical(first)}, {bits})"
    right = f"__kql_ip6_masked({_ip6_canonical(second)}, {bits})"
    return (
        f"(CASE WHEN {_ip4_compatible(a)} OR {_ip4_compatible(b)} THEN {_IP4_COMPATIBLE_REFUSAL} "
        f"WHEN {left} < {right} THEN -1 WHEN {left} > {right} THEN 1 WHEN {left} = {right} THEN 0 END)"
    )


def _ip6_in_range(address: Any, network: Any) -> str:
    r = kql_translate.render_expr(network)
    bits = _ip6_prefix(network)
    a = kql_translate.render_expr(address)
    same = f"__kql_ip6_masked({_ip6_canonical(address)}, {bits}) = __kql_ip6_masked({_ip6_canonical(network)}, {bits})"
    return f"(CASE WHEN {_ip4_compatible(a)} OR {_ip4_compatible(r)} THEN {_IP4_COMPATIBLE_REFUSAL} ELSE {same} END)"


def _render_ip6(kind: str) -> _Renderer:
    """ipv6_compare / ipv6_is_match (two addresses and an optional prefix) and ipv6_is_in_range (an address
    and a network)."""

    def render(node: Any) -> str | None:
        if len(node.args) not in ((2, 3) if kind != "range" else (2,)):
            return None
        first, second, *prefix = node.args
        compared = _ip6_compare(first, second, prefix[0] if prefix else None)
        if kind == "compare":
            return f"CAST({compared} AS INTEGER)"
        if kind == "match":
            return f"({compared} = 0)"
        return _ip6_in_range(first, second)

    return render


def _render_ip6_in_any_range(node: Any) -> str | None:
    """ipv6_is_in_any_range(address, ranges...): ranges as text arguments or dynamic arrays."""
    if len(node.args) < 2:
        return None
    address, *ranges = node.args
    texts = [
        f"CASE WHEN __kql_is_array({value}) THEN TRY_CAST(__kql_json({value}) AS VARCHAR[]) "
        f"ELSE [CAST({value} AS VARCHAR)] END"
        for value in (kql_translate.render_expr(arg) for arg in ranges)
    ]
    valid = f"{_ip6_canonical(address)} <> ''"
    inside = _ip6_in_range(address, _Sql("__kql_range"))
    # A subquery over the ranges rather than a lambda: the engine's parse_ipv6 cannot stand inside a lambda.
    return (
        f"CASE WHEN {valid} THEN (SELECT CASE WHEN bool_or(coalesce({_ip6_canonical(_Sql('__kql_range'))}, '') = '') "
        "THEN error('ipv6_is_in_any_range(): a range that is not an IPv6 or IPv4 network is not supported by this "
        f"local Log Analytics') ELSE coalesce(bool_or({inside}), false) END "
        f"FROM (SELECT unnest(flatten([{', '.join(texts)}])) AS __kql_range)) END"
    )


def _render_parse_ipv6_mask(node: Any) -> str | None:
    """parse_ipv6_mask(address, prefix): canonical IPv6 text masked to the shorter of its own prefix and
    `prefix` ('' when the address is not one)."""
    if len(node.args) != 2:
        return None
    address, prefix = node.args
    a = kql_translate.render_expr(address)
    bits = f"CAST({kql_translate.render_expr(prefix)} AS INTEGER)"
    masked = f"__kql_ip6_masked({_ip6_canonical(address)}, least({_ip6_prefix(address)}, {bits}))"
    digits = f"[lpad(lower(hex({masked})), 32, '0')]"
    groups = "array_to_string(list_transform(range(0, 8), lambda i: substr(d, i * 4 + 1, 4)), ':')"
    text = f"list_transform({digits}, lambda d: {groups})[1]"
    return (
        f"CASE WHEN {_ip4_compatible(a)} THEN {_IP4_COMPATIBLE_REFUSAL} "
        f"WHEN {bits} < 0 OR {bits} > 128 THEN error('parse_ipv6_mask(): a prefix outside 0 to 128 is not "
        "supported by this local Log Analytics') "
        f"ELSE coalesce({text}, '') END"
    )


# One CSV field (quoted, with "" for a quote, or bare) and the first record of a text.
_CSV_FIELD = '"(?:[^"]|"")*"|[^,\\r\\n"]*'
_CSV_RECORD = f"^((?:{_CSV_FIELD})(?:,(?:{_CSV_FIELD}))*)"


def _render_parse_csv(node: Any) -> str | None:
    """parse_csv(text): the fields of its first record, unquoted; malformed text is refused."""
    if len(node.args) != 1:
        return None
    (value,) = _args(node)
    text = f"CAST({value} AS VARCHAR)"
    record = f"regexp_extract({text}, '{_CSV_RECORD}', 1)"
    # Every field is read with the comma before it, so an empty field is never an empty match.
    fields = f"regexp_extract_all(',' || {record}, ',({_CSV_FIELD})', 1)"
    unquoted = "CASE WHEN starts_with(f, '\"') THEN replace(substr(f, 2, length(f) - 2), '\"\"', '\"') ELSE f END"
    rest = f"substr({text}, length({record}) + 1, 1)"
    return (
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"WHEN length({record}) < length({text}) AND {rest} NOT IN (chr(10), chr(13)) "
        "THEN error('parse_csv(): the text is not well-formed CSV') "
        f"ELSE to_json(list_transform({fields}, lambda f: {unquoted})) END"
    )


def _special_forms() -> dict[str, _Renderer]:
    forms: dict[str, _Renderer] = {
        "set_union": _render_set("union"),
        "set_intersect": _render_set("intersect"),
        "set_difference": _render_set("difference"),
        "array_iff": _render_array_iff,
        "array_iif": _render_array_iff,
        "strrep": _render_strrep,
        "tohex": _render_tohex,
        "bin_at": _render_bin_at,
        "unicode_codepoints_to_string": _render_unicode_codepoints_to_string,
        "range": _render_range,
        "parse_csv": _render_parse_csv,
        "ipv6_compare": _render_ip6("compare"),
        "ipv6_is_match": _render_ip6("match"),
        "ipv6_is_in_range": _render_ip6("range"),
        "ipv6_is_in_any_range": _render_ip6_in_any_range,
        "parse_ipv6_mask": _render_parse_ipv6_mask,
        "indexof": _render_indexof,
        "array_index_of": _render_array_index_of,
        "percentiles_array_tdigest": _render_percentiles_array_tdigest,
        "format_timespan": _render_format_timespan,
        "array_split": _render_array_split,
        "series_fill_const": _render_series_fill_const,
        "series_fill_linear": _render_series_fill_linear,
        "array_sort_asc": _render_array_sort("ASC"),
        "array_sort_desc": _render_array_sort("DESC"),
        "bag_merge": _render_bag_merge,
        "regex_quote": _render_regex_quote,
        "format_bytes": _render_format_bytes,
        "ipv4_compare": _render_ip4_compare(equal=False),
        "ipv4_is_match": _render_ip4_compare(equal=True),
        "ipv4_is_in_any_range": _render_ip4_in_any_range,
        "format_ipv4": _render_format_ipv4(with_mask=False),
        "format_ipv4_mask": _render_format_ipv4(with_mask=True),
    }
    forms.update(kql_units.unit_forms())
    forms.update(kql_more_functions.more_forms())
    forms.update(kql_parse_kv.parse_kv_forms())
    forms.update(kql_python_functions.python_forms())
    forms["array_shift_left"] = _render_array_shift(1)
    forms["array_shift_right"] = _render_array_shift(-1)
    return forms


def install() -> None:
    """Add this project's rows to duckdb-kql's function tables (idempotent)."""
    version = getattr(duckdb_kql, "__version__", None)
    if version != LIBRARY_VERSION:
        raise RuntimeError(
            f"duckdb-kql {version} is installed; the local Log Analytics extends {LIBRARY_VERSION} only."
        )
    kql_operators.install_operators()
    kql_serialize.install_serialize()
    kql_more_functions.install_tostring()
    kql_more_functions.install_sorted_outputs()
    special = kql_translate._SPECIAL_FORMS
    if getattr(special.get("bin"), "__kql_extension__", False):
        return
    for name in ("bin", "floor"):
        wrapped = _render_bin(special[name])
        wrapped.__kql_extension__ = True  # type: ignore[attr-defined]
        special[name] = wrapped
    for spec in _replaced_scalars():
        kql_functions.SCALAR_FUNCTIONS[spec.name] = spec
    for aggregate in _added_aggregates():
        kql_functions.AGGREGATE_FUNCTIONS[aggregate.name] = aggregate
    for name, renderer in _special_forms().items():
        special[name] = renderer
    kql_naming._aggregate_name = _aggregate_name(kql_naming._aggregate_name)  # type: ignore[assignment]
    # `project dcount_hll(merged)` is `dcount_hll_merged` (four of the Kusto documentation's examples).
    kql_naming._PREFIXED["dcount_hll"] = "dcount_hll"
    # `project percentile_tdigest(merged, 100)` is `percentile_tdigest_merged`, and so is percentiles_array_tdigest
    # (the documentation's examples).
    kql_naming._PREFIXED["percentile_tdigest"] = "percentile_tdigest"
    kql_naming._PREFIXED["percentiles_array_tdigest"] = "percentile_tdigest"
    todatetime = _exact_todatetime(kql_functions._TODATETIME)
    setattr(kql_translate, "_TODATETIME", todatetime)  # noqa: B010 - the translator reads it from its own module
    kql_functions.SCALAR_FUNCTIONS["todatetime"] = kql_functions.FunctionSpec(
        "todatetime", "template", todatetime, (1,)
    )


def _exact_todatetime(template: str) -> str:
    """The engine's datetime parsing (literals, todatetime(), parse captures), refusing text with a fraction
    finer than a microsecond: DuckDB would drop the digits where Kusto keeps them (to 100 ns)."""
    finer = "regexp_matches(CAST({0} AS VARCHAR), '[.][0-9]{{6}}0*[1-9]')"
    refusal = "error('a datetime finer than a microsecond is not supported by this local Log Analytics')"
    return f"(CASE WHEN {finer} THEN {refusal} ELSE {template} END)"


def prepare(connection: Any) -> None:
    """Make `connection` speak this project's KQL: the library's tables extended (once per process), the macros
    the extended translations call created on it."""
    install()
    for macro in MACROS:
        connection.execute(kql_lambdas.private_lambdas(macro))


# Referenced so a renamed or removed library structure fails at import, not on a query.
_REQUIRED = (
    kql_ir.FunctionCall,
    kql_ir.Literal,
    kql_translate.render_expr,
    kql_translate._is_timespan_expr,
    kql_naming._aggregate_name,
    kql_naming.expression_name,
    kql_functions.SCALAR_FUNCTIONS,
    kql_functions.AGGREGATE_FUNCTIONS,
    KqlUnsupportedError,
)
