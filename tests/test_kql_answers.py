"""Classes of wrong answers the KQL adapter once gave, each checked over generated values.

Every property compares the adapter's answer (through `KqlEngine.execute`, shaped as the query
API sends it) with the same question hand-written as DuckDB SQL or worked out in Python.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import statistics
from typing import Any

import duckdb_kql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.emulator import kql_extensions
from console.emulator.kql_engine import KqlEngine, KqlQueryError
from console.kql import timespan_text

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _answer(engine: KqlEngine, query: str) -> tuple[list[dict[str, str]], list[list[Any]]]:
    outcome = engine.execute(query, timespan=None, now=NOW)
    assert outcome.error is None
    table = json.loads(outcome.as_la_bytes())["tables"][0]
    return table["columns"], table["rows"]


def _hand(engine: KqlEngine, sql: str) -> Any:
    cursor = engine.connection.cursor()
    try:
        return cursor.execute(sql).fetchone()[0]
    finally:
        cursor.close()


def _kql_datetime(value: dt.datetime) -> str:
    return f"datetime({value.isoformat(sep=' ')})"


instants = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
    lambda value: value.replace(microsecond=0)
)
sizes = st.sampled_from(["1s", "7s", "1m", "5m", "1h", "3h", "1d", "7d"])


# -- bin() of a timespan ---------------------------------------------------------------------------


@PROPERTY
@given(later=instants, earlier=instants, size=sizes)
def test_bin_of_a_difference_of_datetimes_is_a_floored_timespan(
    engine: KqlEngine, later: dt.datetime, earlier: dt.datetime, size: str
) -> None:
    columns, rows = _answer(engine, f"print b = bin({_kql_datetime(later)} - {_kql_datetime(earlier)}, {size})")
    step = f"INTERVAL '{size[:-1]} {dict(s='second', m='minute', h='hour', d='day')[size[-1]]}'"
    expected = _hand(
        engine,
        f"SELECT to_microseconds(CAST(floor(epoch_us(TIMESTAMP '{later}' - TIMESTAMP '{earlier}') "
        f"/ epoch_us({step})) AS BIGINT) * epoch_us({step}))",
    )
    assert columns == [{"name": "b", "type": "timespan"}]
    assert rows == [[timespan_text(expected)]]


@PROPERTY
@given(seconds=st.lists(st.integers(-(10**8), 10**8), min_size=1, max_size=5), size=sizes)
def test_bin_of_a_timespan_column_is_a_timespan(engine: KqlEngine, seconds: list[int], size: str) -> None:
    values = ", ".join(str(second) for second in seconds)
    columns, rows = _answer(
        engine, f"datatable(n:long)[{values}] | extend t = n * 1s | project b = bin(t, {size}), floor(t, {size})"
    )
    step = {"s": 1, "m": 60, "h": 3600, "d": 86400}[size[-1]] * int(size[:-1])
    assert [column["type"] for column in columns] == ["timespan", "timespan"]
    expected = [timespan_text(dt.timedelta(seconds=second // step * step)) for second in seconds]
    assert [row[0] for row in rows] == expected
    assert [row[1] for row in rows] == expected


@PROPERTY
@given(instant=instants, size=sizes)
def test_bin_of_a_datetime_stays_a_datetime_floored_from_the_epoch(
    engine: KqlEngine, instant: dt.datetime, size: str
) -> None:
    columns, rows = _answer(engine, f"print b = bin({_kql_datetime(instant)}, {size})")
    step = {"s": 1, "m": 60, "h": 3600, "d": 86400}[size[-1]] * int(size[:-1])
    epoch = dt.datetime(1970, 1, 1)
    whole = (instant - epoch) // dt.timedelta(seconds=1)
    expected = epoch + dt.timedelta(seconds=whole // step * step)
    assert columns == [{"name": "b", "type": "datetime"}]
    assert rows == [[expected.isoformat() + "Z"]]


# -- base64 to string ----------------------------------------------------------------------------


@PROPERTY
@given(data=st.one_of(st.binary(max_size=24), st.text(max_size=12).map(str.encode)))
def test_base64_decode_tostring_is_the_text_or_empty_when_not_utf8(engine: KqlEngine, data: bytes) -> None:
    encoded = base64.b64encode(data).decode()
    _, rows = _answer(engine, f'print s = base64_decode_tostring("{encoded}")')
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        expected = ""
    assert rows == [[expected]]


def test_base64_decode_tostring_of_text_that_is_not_base64_is_empty(engine: KqlEngine) -> None:
    assert _answer(engine, 'print s = base64_decode_tostring("!!not base64")')[1] == [[""]]


# -- dynamic values as the query API sends them ------------------------------------------------------

_plain_text = st.text(alphabet="abcXYZ019 ,.:[]{}-", max_size=12)


@PROPERTY
@given(value=_plain_text)
def test_a_string_projected_out_of_a_dynamic_is_sent_as_its_text(engine: KqlEngine, value: str) -> None:
    literal = json.dumps({"key": value})
    columns, rows = _answer(engine, f"print d = dynamic({literal}) | project v = d.key, t = tostring(d.key)")
    assert columns == [{"name": "v", "type": "dynamic"}, {"name": "t", "type": "string"}]
    assert rows == [[value, value]]


@PROPERTY
@given(numbers=st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=6))
def test_whole_reals_inside_a_dynamic_have_no_fraction(engine: KqlEngine, numbers: list[int]) -> None:
    values = ", ".join(f"{number}.0" for number in numbers)
    _, rows = _answer(engine, f"datatable(x:real)[{values}] | summarize l = make_list(x)")
    hand = _hand(
        engine, f"SELECT CAST(to_json(list(x)) AS VARCHAR) FROM (VALUES {', '.join(f'({n}.0)' for n in numbers)}) t(x)"
    )
    assert json.loads(rows[0][0]) == json.loads(hand)
    assert rows[0][0] == json.dumps(numbers, separators=(",", ":"))


@PROPERTY
@given(words=st.lists(_plain_text, min_size=1, max_size=4), fraction=st.sampled_from(["1.0", "2.50", "3.05"]))
def test_text_that_looks_like_a_number_inside_a_dynamic_is_kept(
    engine: KqlEngine, words: list[str], fraction: str
) -> None:
    bag = {f"k{index}": f"{word},{fraction}," for index, word in enumerate(words)} | {"n": float(fraction)}
    _, rows = _answer(engine, f"print d = dynamic({json.dumps(bag)})")
    assert json.loads(rows[0][0]) == bag


# -- make_list over dynamic values -------------------------------------------------------------------


@PROPERTY
@given(bags=st.lists(st.fixed_dictionaries({"a": st.integers(-1000, 1000), "b": _plain_text}), min_size=1, max_size=5))
def test_make_list_of_dynamic_values_keeps_each_value_once_encoded(
    engine: KqlEngine, bags: list[dict[str, Any]]
) -> None:
    rows_text = ", ".join(f"{index}, dynamic({json.dumps(bag)})" for index, bag in enumerate(bags))
    _, rows = _answer(
        engine,
        f"datatable(i:long, d:dynamic)[{rows_text}] | order by i asc | summarize l = make_list(d) "
        "| extend a0 = l[0].a, bz = l[-1].b",
    )
    assert json.loads(rows[0][0]) == bags
    assert rows[0][1] == str(bags[0]["a"])
    assert rows[0][2] == bags[-1]["b"]


def test_make_list_of_packed_bags_then_a_property_of_an_element(engine: KqlEngine) -> None:
    _, rows = _answer(
        engine,
        'datatable(name:string, n:int)["a", 1, "b", 2] | extend d = bag_pack("name", name, "n", n) '
        "| summarize l = make_list(d) | mv-expand e = l | project name = tostring(e.name), n = toint(e.n)",
    )
    assert sorted(rows) == [["a", 1], ["b", 2]]


# -- sorting dynamic arrays ---------------------------------------------------------------------------


@PROPERTY
@given(
    numbers=st.lists(
        st.one_of(st.none(), st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6).map(lambda x: round(x, 3)))
    ),
    nulls_last=st.booleans(),
)
def test_array_sort_orders_numbers_by_value_and_puts_nulls_where_asked(
    engine: KqlEngine, numbers: list[float | None], nulls_last: bool
) -> None:
    literal = json.dumps(numbers)
    flag = "true" if nulls_last else "false"
    _, rows = _answer(
        engine, f"print a = array_sort_asc(dynamic({literal}), {flag}), d = array_sort_desc(dynamic({literal}), {flag})"
    )
    present = [number for number in numbers if number is not None]
    nulls: list[None] = [None] * (len(numbers) - len(present))
    ascending, descending = sorted(present), sorted(present, reverse=True)
    expected_ascending = ascending + nulls if nulls_last else nulls + ascending
    expected_descending = descending + nulls if nulls_last else nulls + descending
    assert json.loads(rows[0][0]) == expected_ascending
    assert json.loads(rows[0][1]) == expected_descending


@PROPERTY
@given(words=st.lists(_plain_text, min_size=1, max_size=6))
def test_array_sort_orders_strings_ordinally(engine: KqlEngine, words: list[str]) -> None:
    _, rows = _answer(engine, f"print a = array_sort_asc(dynamic({json.dumps(words)}))")
    hand = _hand(engine, f"SELECT list_sort({[word for word in words]!r})")
    assert json.loads(rows[0][0]) == sorted(words) == hand


# -- make-series over an empty input ------------------------------------------------------------------


def test_make_series_over_no_rows_gives_no_series_unless_nonempty(engine: KqlEngine) -> None:
    base = (
        "datatable(t:datetime, v:real)[datetime(2017-01-01), 4.0] | take 0 "
        "| make-series {kind} avg(v) default=1.0 on t from datetime(2017-01-01) to datetime(2017-01-04) step 1d"
    )
    assert _answer(engine, base.format(kind="") + " | count")[1] == [[0]]
    _, rows = _answer(engine, base.format(kind="kind=nonempty"))
    assert [json.loads(cell) for cell in rows[0]] == [
        [1, 1, 1],
        ["2017-01-01T00:00:00.0000000Z", "2017-01-02T00:00:00.0000000Z", "2017-01-03T00:00:00.0000000Z"],
    ]


# -- union of same-named columns ---------------------------------------------------------------------------

KUSTO_LITERALS = {"long": "long({})", "int": "int({})", "real": "real({})", "string": "tostring({})"}


@given(st.lists(st.sampled_from(sorted(KUSTO_LITERALS)), min_size=2, max_size=4), st.integers(-5, 5))
@PROPERTY
def test_a_union_answers_only_when_its_same_named_columns_agree_on_a_type(
    engine: KqlEngine, kinds: list[str], value: int
) -> None:
    """Kusto keeps same-named columns of different types apart (x_long, x_string); DuckDB would merge them
    into one column of a common type. Agreeing legs are answered; disagreeing ones refused, never merged."""
    legs = ", ".join(f"(print x={KUSTO_LITERALS[kind].format(value)}, leg={i})" for i, kind in enumerate(kinds))
    query = f"union {legs} | sort by leg asc"
    if len(set(kinds)) == 1:
        columns, rows = _answer(engine, query)
        assert columns[0] == {"name": "x", "type": kinds[0]}
        assert len(rows) == len(kinds)
        return
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(query, timespan=None, now=NOW)
    assert refused.value.code == "UnsupportedError"
    assert "keeps them apart as " + " and ".join(f"x_{k}" for k in sorted(set(kinds))) in refused.value.message


def test_a_union_of_log_tables_whose_columns_agree_still_answers(engine: KqlEngine) -> None:
    columns, _ = _answer(engine, "union (print a=1, b='x'), (print a=2, c=now()) | union withsource=S (print a=3)")
    assert [column["name"] for column in columns] == ["S", "a", "b", "c"]


# -- tabular let functions and views ------------------------------------------------------------------


@given(st.lists(st.integers(-50, 50), min_size=1, max_size=12), st.integers(-50, 50))
@PROPERTY
def test_a_tabular_let_function_answers_as_its_body_inlined_by_hand(
    engine: KqlEngine, values: list[int], bound: int
) -> None:
    """`let f = (n:long) { T | where a > n }; f(k)` gives what writing the body with k in place of n gives."""
    table = f"datatable(a:long)[{', '.join(map(str, values))}]"
    declared = f"let T = {table}; let above = (n:long) {{ T | where a > n }}; "
    called = _answer(engine, declared + f"above({bound}) | summarize c = count(), s = sum(a)")
    inlined = _answer(engine, f"let T = {table}; T | where a > {bound} | summarize c = count(), s = sum(a)")
    assert called == inlined
    union = _answer(engine, declared + f"union above({bound}), above({bound} + 1) | count")
    assert union[1] == [[2 * inlined[1][0][0] - sum(1 for v in values if v == bound + 1)]]


def test_views_and_functions_read_what_is_declared_above_them(engine: KqlEngine) -> None:
    query = (
        "let K = 1;\n"
        "let numbers = view () { range x from 1 to 5 step 1 };\n"
        "let over = (n:long = 2) { numbers | where x > n + K };\n"
        "over() | join kind=inner (numbers) on x | project x"
    )
    assert _answer(engine, query)[1] == [[4], [5]]
    assert _answer(engine, "let numbers = view () { range x from 1 to 3 step 1 }; numbers | count")[1] == [[3]]


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ("let h = (n:long) { n * 2 }; print h()", "The function h takes 1 argument(s); this call gives 0."),
        ("let h = (n:long, m:long = 2) { n * m }; print h(1, 2, 3)", "takes 1 to 2 argument(s); this call gives 3"),
        ("let g = (n:long) { range x from 1 to n step 1 }; g()", "The function g takes 1 argument(s); this call"),
    ],
)
def test_a_call_with_the_wrong_number_of_arguments_says_so(engine: KqlEngine, query: str, sentence: str) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(query, timespan=None, now=NOW)
    assert refused.value.code == "BadArgumentError"
    assert sentence in refused.value.message


def test_a_union_of_views_whose_columns_disagree_is_refused(engine: KqlEngine) -> None:
    query = "let V1 = view () { print x=1 }; let V2 = view () { print x=toint(2) }; union withsource=T V1, V2"
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(query, timespan=None, now=NOW)
    assert "keeps them apart as x_int and x_long" in refused.value.message


def test_a_refused_call_of_a_tabular_function_points_at_the_users_text(engine: KqlEngine) -> None:
    query = "let over = (n:long) { range x from 1 to 3 step 1 | where x > n };\nover(1) | fork (take 1)"
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(query, timespan=None, now=NOW)
    assert (refused.value.line, refused.value.column) == (2, 10)
    assert "'fork' is not supported" in refused.value.message


# -- partition ----------------------------------------------------------------------------------------------

ROWS = st.lists(st.tuples(st.sampled_from(["a", "b", "c", ""]), st.integers(-20, 20)), min_size=0, max_size=15)


def _keyed_table(rows: list[tuple[str, int]]) -> str:
    return f"datatable(k:string, v:long)[{', '.join(f'{k!r}, {v}' for k, v in rows)}]"


@given(ROWS)
@PROPERTY
def test_partition_runs_its_subquery_on_each_keys_rows(engine: KqlEngine, rows: list[tuple[str, int]]) -> None:
    keys = sorted({k for k, _ in rows})
    _, summed = _answer(
        engine, _keyed_table(rows) + " | partition by k (summarize n = count(), s = sum(v), key = take_any(k))"
    )
    expected = [[sum(1 for k, _ in rows if k == key), sum(v for k, v in rows if k == key), key] for key in keys]
    assert sorted(summed, key=lambda row: row[2]) == expected
    _, tops = _answer(
        engine, _keyed_table(rows) + " | partition hint.strategy=native by k (top 1 by v) | order by k asc"
    )
    assert [row[1] for row in tops] == [max(v for k, v in rows if k == key) for key in keys]


def test_partition_names_a_missing_key(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute("print a=1 | partition by nosuch (take 1)", timespan=None, now=NOW)
    assert "Failed to resolve scalar expression named 'nosuch'" in refused.value.message


# -- top-nested -------------------------------------------------------------------------------------------

NESTED_ROWS = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["p", "q"]), st.integers(-20, 20)), max_size=15
)


@given(NESTED_ROWS)
@PROPERTY
def test_top_nested_keeps_each_levels_top_values_within_the_level_above(
    engine: KqlEngine, rows: list[tuple[str, str, int]]
) -> None:
    table = f"datatable(k:string, j:string, v:long)[{', '.join(f'{k!r}, {j!r}, {v}' for k, j, v in rows)}]"
    columns, answer = _answer(engine, table + " | top-nested of k by s = sum(v), top-nested 1 of j by m = max(v)")
    assert [c["name"] for c in columns] == ["k", "s", "j", "m"]
    keys = sorted({k for k, _, _ in rows})
    assert sorted(row[0] for row in answer) == keys
    for k, total, j, top in answer:
        assert total == sum(v for key, _, v in rows if key == k)
        assert top == max(v for key, _, v in rows if key == k)
        assert top == max(v for key, inner, v in rows if key == k and inner == j)
    _, counted = _answer(engine, table + " | top-nested 2 of k by count()")
    counts = sorted((sum(1 for key, _, _ in rows if key == k) for k in keys), reverse=True)
    assert sorted((row[1] for row in counted), reverse=True) == counts[:2]


def test_top_nested_refuses_what_it_cannot_answer_exactly(engine: KqlEngine) -> None:
    for query, words in (
        ("print a='x' | top-nested 1 of a with others='rest' by count()", "`with others`"),
        ("print a='x' | top-nested 1 of strlen(a) by count()", "name each computed key"),
        ("print a='x' | top-nested 0 of a by count()", "1 or more"),
    ):
        with pytest.raises(KqlQueryError) as refused:
            engine.execute(query, timespan=None, now=NOW)
        assert words in refused.value.message


# -- the library the extensions are written against ---------------------------------------------------


def test_the_extensions_refuse_another_version_of_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    assert duckdb_kql.__version__ == kql_extensions.LIBRARY_VERSION
    monkeypatch.setattr(duckdb_kql, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match=r"9\.9\.9"):
        kql_extensions.install()


# -- added functions against Python's own answers -------------------------------------------------------

small_lists = st.lists(st.integers(-5, 5), max_size=6)


def _dotnet_indexof(text: str, match: str, start: int, count: int, occurrence: int) -> int | None:
    """.NET's IndexOf(value, start, count), repeated from one past each find, as Kusto documents it."""
    first = len(text) + start if start < 0 else start
    if occurrence < 0 or count < -1 or first < 0:
        return None
    if first > len(text):
        return -1
    found = first - 1
    for _ in range(occurrence):
        begin = found + 1
        end = len(text) if count == -1 else min(len(text), begin + count)
        found = text.find(match, begin, end) if begin <= len(text) else -1
        if found == -1:
            return -1
    return found


@PROPERTY
@given(
    text=st.text(alphabet="abc", max_size=12),
    match=st.text(alphabet="abc", min_size=1, max_size=2),
    start=st.integers(-14, 14),
    count=st.integers(-1, 14),
    occurrence=st.integers(1, 3),
)
def test_indexof_with_a_window_and_an_occurrence_is_dotnets(
    engine: KqlEngine, text: str, match: str, start: int, count: int, occurrence: int
) -> None:
    _, rows = _answer(engine, f"print i = indexof('{text}', '{match}', {start}, {count}, {occurrence})")
    assert rows == [[_dotnet_indexof(text, match, start, count, occurrence)]]


@PROPERTY
@given(first=small_lists, second=small_lists, third=small_lists)
def test_set_functions_are_pythons_in_first_seen_order(
    engine: KqlEngine, first: list[int], second: list[int], third: list[int]
) -> None:
    arrays = ", ".join(f"dynamic({json.dumps(values)})" for values in (first, second, third))
    _, rows = _answer(
        engine, f"print u = set_union({arrays}), i = set_intersect({arrays}), d = set_difference({arrays})"
    )
    seen = list(dict.fromkeys(first + second + third))
    distinct_first = list(dict.fromkeys(first))
    assert json.loads(rows[0][0]) == seen
    assert json.loads(rows[0][1]) == [v for v in distinct_first if v in second and v in third]
    assert json.loads(rows[0][2]) == [v for v in distinct_first if v not in second and v not in third]


@PROPERTY
@given(values=small_lists, places=st.integers(-8, 8))
def test_array_shift_and_rotate_are_pythons(engine: KqlEngine, values: list[int], places: int) -> None:
    literal = f"dynamic({json.dumps(values)})"
    _, rows = _answer(
        engine, f"print l = array_shift_left({literal}, {places}), r = array_rotate_left({literal}, {places})"
    )
    size = len(values)
    shifted = [values[i + places] if 0 <= i + places < size else None for i in range(size)]
    rotated = [values[(i + places) % size] for i in range(size)] if size else []
    assert json.loads(rows[0][0]) == shifted
    assert json.loads(rows[0][1]) == rotated


@PROPERTY
@given(
    first=st.tuples(*[st.integers(0, 255)] * 4),
    second=st.tuples(*[st.integers(0, 255)] * 4),
    prefix=st.integers(0, 32),
)
def test_ipv4_compare_and_ranges_are_pythons(
    engine: KqlEngine, first: tuple[int, ...], second: tuple[int, ...], prefix: int
) -> None:
    a, b = (".".join(str(octet) for octet in address) for address in (first, second))
    _, rows = _answer(
        engine,
        f"print c = ipv4_compare('{a}', '{b}', {prefix}), r = ipv4_is_in_range('{a}', '{b}/{prefix}'), "
        f"f = format_ipv4('{a}', {prefix})",
    )
    network = ipaddress.ip_network(f"{b}/{prefix}", strict=False)
    masked_a = int(ipaddress.ip_network(f"{a}/{prefix}", strict=False).network_address)
    masked_b = int(network.network_address)
    assert rows == [
        [
            (masked_a > masked_b) - (masked_a < masked_b),
            ipaddress.ip_address(a) in network,
            str(ipaddress.ip_address(masked_a)),
        ]
    ]


@PROPERTY
@given(pairs=st.lists(st.tuples(st.integers(-50, 50), st.integers(-50, 50)), min_size=2, max_size=8))
def test_series_pearson_correlation_is_pythons(engine: KqlEngine, pairs: list[tuple[int, int]]) -> None:
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    _, rows = _answer(
        engine, f"print r = series_pearson_correlation(dynamic({json.dumps(xs)}), dynamic({json.dumps(ys)}))"
    )
    if len(set(xs)) == 1 or len(set(ys)) == 1:
        assert rows == [["NaN"]]
    else:
        assert rows[0][0] == pytest.approx(statistics.correlation(xs, ys))


def test_the_extensions_are_installed_once_into_the_librarys_tables() -> None:
    from duckdb_kql import translate
    from duckdb_kql.translate import functions

    kql_extensions.install()
    bin_form = translate._SPECIAL_FORMS["bin"]
    kql_extensions.install()
    assert translate._SPECIAL_FORMS["bin"] is bin_form
    assert getattr(bin_form, "__kql_extension__", False)
    assert "series_add" in functions.SCALAR_FUNCTIONS
    assert "stdevp" in functions.AGGREGATE_FUNCTIONS
    assert "TRY(decode(" in functions.SCALAR_FUNCTIONS["base64_decode_tostring"].template


# -- make-series buckets: a timespan step counts whole steps since the start, a number step too ---------------


@PROPERTY
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=86_399), min_size=1, max_size=30),
    step_minutes=st.sampled_from([1, 7, 30, 60, 90, 1440]),
)
def test_make_series_buckets_agree_with_bin(engine: KqlEngine, seconds: list[int], step_minutes: int) -> None:
    start = "datetime(2026-11-25 00:00)"
    moments = ", ".join(f"datetime(2026-11-25) + {s}s" for s in seconds)
    source = f"print t = dynamic([]) | mv-expand t = pack_array({moments}) to typeof(datetime)"
    _, series = _answer(
        engine,
        f"{source} | make-series n = count() default = 0 on t from {start} to {start} + 1d step {step_minutes}m",
    )
    _, binned = _answer(engine, f"{source} | summarize n = count() by b = bin_at(t, {step_minutes}m, {start})")
    counts = json.loads(series[0][0])
    assert sum(counts) == len(seconds)
    expected = [0] * len(counts)
    for moment, n in binned:
        index = int(
            (
                dt.datetime.fromisoformat(moment.replace("Z", "+00:00")) - dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
            ).total_seconds()
            // (step_minutes * 60)
        )
        expected[index] += n
    assert counts == expected


def test_make_series_over_a_number_axis_is_refused_by_name(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(
            "range x from 0 to 9 step 1 | make-series c = count() on x from 0 to 10 step 3", timespan=None, now=NOW
        )
    assert refused.value.code == "UnsupportedError" and "number axis" in refused.value.message
