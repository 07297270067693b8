"""KQL breadth added to the local Log Analytics, against the answers the Kusto documentation publishes.

Every expected value is the documented output of the same query (or follows from the function's
definition, worked out by hand); what cannot be answered exactly must be refused, never guessed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from conftest import kql_table

from console.emulator.kql_engine import KqlEngine, KqlQueryError

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)


def _value(engine: KqlEngine, expression: str) -> Any:
    return kql_table(engine, f"print v = {expression}")["rows"][0][0]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("convert_angle(1.2, 'Degree', 'Arcminute')", 72),
        ("convert_energy(1.2, 'Joule', 'BritishThermalUnit')", 0.00113738054437598),
        ("convert_force(1.2, 'Newton', 'Decanewton')", 0.12),
        ("convert_length(1.2, 'Meter', 'Foot')", 3.93700787401575),
        ("convert_mass(1.2, 'Kilogram', 'Pound')", 2.64554714621853),
        ("convert_speed(1.2, 'MeterPerSecond', 'CentimeterPerHour')", 432000),
        ("convert_temperature(1.2, 'Kelvin', 'DegreeCelsius')", -271.95),
        ("convert_temperature(212, 'DegreeFahrenheit', 'DegreeCelsius')", 100),
        ("convert_volume(1.2, 'CubicMeter', 'AcreFoot')", 0.0009728568),
    ],
)
def test_convert_functions_give_the_documented_answers(engine: KqlEngine, expression: str, expected: float) -> None:
    assert _value(engine, expression) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "expression",
    [
        "convert_length(1, 'Meter', 'Mile')",
        "convert_length(1, 'Meter', strcat('Fo', 'ot'))",
        "convert_length(1, 'Meter', 'Tilt')",
    ],
)
def test_a_unit_not_known_exactly_is_refused_by_name(engine: KqlEngine, expression: str) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(f"print {expression}", timespan=None, now=NOW)
    assert refused.value.code == "UnsupportedError"
    assert refused.value.message.startswith("convert_length():")


_LATENCIES = "datatable (ReqCount:long, LatencyBucket:long) [8, 10, 6, 20, 3, 30, 1, 40]"


def test_weighted_percentiles_are_named_and_valued_as_documented(engine: KqlEngine) -> None:
    table = kql_table(engine, f"{_LATENCIES} | summarize percentilesw(LatencyBucket, ReqCount, 50, 75, 99.9)")
    names = [column["name"] for column in table["columns"]]
    assert names == ["percentile_LatencyBucket_50", "percentile_LatencyBucket_75", "percentile_LatencyBucket_99_9"]
    assert table["rows"] == [[20, 20, 40]]


@pytest.mark.parametrize("levels", ["50, 75, 99.9", "dynamic([50, 75, 99.9])"])
def test_weighted_percentiles_array_takes_levels_or_an_array(engine: KqlEngine, levels: str) -> None:
    table = kql_table(engine, f"{_LATENCIES} | summarize percentilesw_array(LatencyBucket, ReqCount, {levels})")
    assert [column["name"] for column in table["columns"]] == ["percentile_LatencyBucket"]
    assert json.loads(table["rows"][0][0]) == [20, 20, 40]


def test_a_weighted_percentile_is_the_percentile_of_the_repeated_values(engine: KqlEngine) -> None:
    weighted = kql_table(engine, "datatable(x:long, w:long)[1, 3, 2, 1, 7, 2] | summarize percentilew(x, w, 60)")
    repeated = kql_table(engine, "datatable(x:long)[1, 1, 1, 2, 7, 7] | summarize percentile(x, 60)")
    assert weighted["rows"] == repeated["rows"]
    assert weighted["columns"][0]["name"] == "percentile_x_60"


@pytest.mark.parametrize("weight", ["-1", "1.5", "long(null)"])
def test_a_weight_that_is_not_a_whole_count_is_refused(engine: KqlEngine, weight: str) -> None:
    with pytest.raises(KqlQueryError, match="whole numbers"):
        engine.execute(f"print x = 1, w = {weight} | summarize percentilew(x, w, 50)", timespan=None, now=NOW)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("make_datetime(2017, 10, 01)", "2017-10-01T00:00:00Z"),
        ("make_datetime(2017, 10, 01, 12, 10)", "2017-10-01T12:10:00Z"),
        ("make_datetime(2017, 10, 01, 12, 11, 0.1234567)", None),
        ("make_datetime(2017, 2, 30)", None),
        ("make_datetime(2017, 13, 1)", None),
        ("make_timespan(1, 12, 30, 55.123)", "1.12:30:55.1230000"),
        ("make_timespan(1, 12)", "01:12:00"),
        ("make_timespan(1, 12, 30.5)", "01:12:30.5000000"),
        ("make_timespan(24, 0)", None),
        ("has_any_index('this is an example', dynamic(['this', 'example']))", 0),
        ("has_any_index('this is an example', dynamic(['not', 'example']))", 1),
        ("has_any_index('this is an example', dynamic(['not', 'found']))", -1),
        ("has_any_index('Example number 2', range(1, 3, 1))", 1),
        ("has_any_index('this is an example', dynamic([]))", -1),
        ("has_any_index('an exam', dynamic(['example', 'exa']))", -1),
    ],
)
def test_functions_give_the_documented_answers(engine: KqlEngine, expression: str, expected: Any) -> None:
    if expected is None and "0.1234567" in expression:
        with pytest.raises(KqlQueryError, match="microsecond"):
            _value(engine, expression)
        return
    assert _value(engine, expression) == expected


_KV_DOCS = [
    (
        "print str='ThreadId:458745723, Machine:Node001, Text: The service is up, Level: Info' "
        "| parse-kv str as (Text: string, ThreadId:long, Machine: string) with (pair_delimiter=',', kv_delimiter=':')",
        ["The service is up", 458745723, "Node001"],
    ),
    (
        'print str=\'src=10.1.1.123 dst=10.1.1.124 bytes=125 failure="connection aborted" '
        '"event time"=2021-01-01T10:00:54\''
        " | parse-kv str as (['event time']:datetime, src:string, dst:string, bytes:long, failure:string) "
        "with (pair_delimiter=' ', kv_delimiter='=', quote='\"')",
        ["2021-01-01T10:00:54Z", "10.1.1.123", "10.1.1.124", 125, "connection aborted"],
    ),
    (
        "print str='src=10.1.1.123 failure=(connection aborted) (event time)=(2021-01-01 10:00:54)' "
        "| parse-kv str as (['event time']:datetime, src:string, failure:string) "
        "with (pair_delimiter=' ', kv_delimiter='=', quote='()')",
        ["2021-01-01T10:00:54Z", "10.1.1.123", "connection aborted"],
    ),
    (
        'print str=\'bytes=125 failure="the remote host sent \\\\"bye!\\\\"" time=2021-01-01T10:00:54\' '
        "| parse-kv str as (['time']:datetime, bytes:long, failure:string) "
        "with (pair_delimiter=' ', kv_delimiter='=', quote='\"', escape='\\\\')",
        ["2021-01-01T10:00:54Z", 125, 'the remote host sent "bye!"'],
    ),
    (
        "print str='name=John Doe phone=555 5555 city=New York' "
        "| parse-kv str as (name:string, phone:string, city:string) with (pair_delimiter=' ', kv_delimiter='=')",
        ["John", "555", "New"],
    ),
    (
        "print str='name=John Doe phone=555 5555 city=New York' | parse-kv str as (name:string, phone:string, "
        "city:string) with (pair_delimiter=' ', kv_delimiter='=', greedy=true)",
        ["John Doe", "555 5555", "New York"],
    ),
    (
        'print str=@\'["referer url: https://h.com/r?d=/?h=1", "advertiser id: 24fefbca-cf27-4d62-a623-249c2ad30c73"]\''
        " | parse-kv str as (['referer url']:string, ['advertiser id']: guid) "
        'with (regex=@\'"([\\w ]+)\\s*:\\s*([^"]*)"\')',
        ["https://h.com/r?d=/?h=1", "24fefbca-cf27-4d62-a623-249c2ad30c73"],
    ),
]


@pytest.mark.parametrize(("query", "expected"), _KV_DOCS)
def test_parse_kv_extracts_as_documented(engine: KqlEngine, query: str, expected: list[Any]) -> None:
    table = kql_table(engine, query + " | project-away str")
    assert table["rows"] == [expected]


def test_parse_kv_adds_typed_columns_and_a_missing_key_is_empty(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        "print str='a=1 b=2' | parse-kv str as (a:long, c:string, b:int) with (pair_delimiter=' ', kv_delimiter='=')",
    )
    assert [(c["name"], c["type"]) for c in table["columns"]] == [
        ("str", "string"),
        ("a", "long"),
        ("c", "string"),
        ("b", "int"),
    ]
    assert table["rows"] == [["a=1 b=2", 1, "", 2]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "print str='a=1 a=2' | parse-kv str as (a:long) with (pair_delimiter=' ', kv_delimiter='=')",
            "more than once",
        ),
        ("print str='a: 1' | parse-kv str as (a:long)", "without pair_delimiter"),
        ("print str='a=1' | parse-kv str as (a:long) with (pair_delimiter='  ', kv_delimiter='=')", "more than one"),
        ("print str='a=1' | parse-kv str as (a:long) with (pair_delimiter=' ', kv_delimiter='=', x=1)", "option x"),
        ("print str='a=1' | parse-kv str as (a) with (pair_delimiter=' ', kv_delimiter='=')", "needs a type"),
    ],
)
def test_parse_kv_refuses_what_it_cannot_answer_exactly(engine: KqlEngine, query: str, message: str) -> None:
    with pytest.raises(KqlQueryError, match=message) as refused:
        engine.execute(query, timespan=None, now=NOW)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("query", "columns"),
    [
        ("print a='a', b='b', c='c' | project-reorder b", ["b", "a", "c"]),
        ("print b='b', a2='a2', a3='a3', a1='a1' | project-reorder a* asc", ["a1", "a2", "a3", "b"]),
        ("print b='b', a2='a2', a3='a3', a1='a1' | project-reorder a* desc, b", ["a3", "a2", "a1", "b"]),
        ("print b='b', a2='a2', a1='a1' | project-reorder a*", ["a2", "a1", "b"]),
        ("print b='b', a2='a2', a3='a3', a1='a1' | project-keep a1, b", ["b", "a1"]),
        ("print b='b', a2='a2', a3='a3', a1='a1' | project-keep a* | extend z = 1", ["a2", "a3", "a1", "z"]),
        ("print b='b', a2='a2', a3='a3', a1='a1' | project-away a*", ["b"]),
        ("print a=1, ['x y']=2 | project-reorder ['x y']", ["x y", "a"]),
    ],
)
def test_column_picking_operators_order_as_kusto_does(engine: KqlEngine, query: str, columns: list[str]) -> None:
    table = kql_table(engine, query)
    assert [column["name"] for column in table["columns"]] == columns
    # Each value moves with its column (the strings printed are their columns' names).
    values = {"x y": 2, "a": 1, "z": 1} if "x y" in query or "z = 1" in query else {}
    assert table["rows"] == [[values.get(name, name) for name in columns]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("print b=1 | project-reorder q", "Failed to resolve scalar expression named 'q'"),
        ("print b=1 | project-away b*", "no column would be left"),
        ("print b='b', a2='a2' | project-reorder a* granny-asc", "granny-asc"),
        ("print B=1, a=2 | project-reorder * asc", "differ in case"),
    ],
)
def test_column_picking_refuses_what_it_cannot_answer_exactly(engine: KqlEngine, query: str, message: str) -> None:
    with pytest.raises(KqlQueryError, match=message):
        engine.execute(query, timespan=None, now=NOW)


_PEOPLE = "datatable(Name:string, Age:int, City:string, Country:string) ['Peter', 39, 'New York', 'USA']"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ('"Name", "City"', [("Name", "Peter"), ("City", "New York")]),
        ('"City", "Name"', [("City", "New York"), ("Name", "Peter")]),
        ('dynamic(["Name", "Country"])', [("Name", "Peter"), ("Country", "USA")]),
        ('"C*"', [("City", "New York"), ("Country", "USA")]),
        ('dynamic(["Country", "NonExistent"]), "Age"', [("Country", "USA"), ("Age", 39)]),
    ],
)
def test_project_by_names_keeps_the_named_columns_in_order(
    engine: KqlEngine, names: str, expected: list[tuple[str, Any]]
) -> None:
    table = kql_table(engine, f"{_PEOPLE} | project-by-names {names}")
    assert [column["name"] for column in table["columns"]] == [name for name, _ in expected]
    assert table["rows"] == [[value for _, value in expected]]


@pytest.mark.parametrize("names", ["Name", "strcat('Na', 'me')", '"it\'s"'])
def test_project_by_names_refuses_what_is_not_a_literal_name(engine: KqlEngine, names: str) -> None:
    with pytest.raises(KqlQueryError, match="project-by-names"):
        engine.execute(f"{_PEOPLE} | project-by-names {names}", timespan=None, now=NOW)


def test_sub_second_parts_are_of_the_fraction_alone(engine: KqlEngine) -> None:
    parts = ", ".join(
        f"{unit} = datetime_part('{unit}', dt)" for unit in ("second", "millisecond", "microsecond", "nanosecond")
    )
    table = kql_table(engine, f"let dt = datetime(2017-10-30 01:02:03.765432); print {parts}")
    assert table["rows"] == [[3, 765, 765432, 765432000]]


def test_datetime_diff_counts_nanoseconds(engine: KqlEngine) -> None:
    query = "print datetime_diff('nanosecond', datetime(2017-10-30 23:00:00), datetime(2017-10-30 23:00:00.000007))"
    assert kql_table(engine, query)["rows"] == [[-7000]]


@pytest.mark.parametrize(
    "query",
    [
        "print datetime(2017-10-30 01:02:03.7654321)",
        "print todatetime('2017-10-30 01:02:03.7654321')",
        "print s = 'at 2017-10-30T01:02:03.1234567Z' | parse s with 'at ' d:datetime",
    ],
)
def test_a_datetime_finer_than_a_microsecond_is_refused_not_truncated(engine: KqlEngine, query: str) -> None:
    with pytest.raises(KqlQueryError, match="finer than a microsecond"):
        engine.execute(query, timespan=None, now=NOW)


def test_a_trailing_zero_tick_is_still_a_microsecond_datetime(engine: KqlEngine) -> None:
    assert _value(engine, "datetime(2017-10-30 01:02:03.7654320)") == "2017-10-30T01:02:03.765432Z"


def test_mv_expand_numbers_items_with_itemindex(engine: KqlEngine) -> None:
    query = "range x from 1 to 4 step 1 | summarize x = make_list(x) | mv-expand with_itemindex=Index x"
    assert kql_table(engine, query)["rows"] == [["1", 0], ["2", 1], ["3", 2], ["4", 3]]


_PEOPLE_BAGS = (
    'datatable(Name:string, d:dynamic) ["James", dynamic({"Name": "John", "Age": 20}), '
    '"David", dynamic({"Age": 40, "Height": 170}), "Emily", dynamic(null)]'
)


@pytest.mark.parametrize(
    ("unpack", "columns", "rows"),
    [
        (
            "bag_unpack(d, columnsConflict='keep_source')",
            ["Name", "Age", "Height"],
            [["James", "20", None], ["David", "40", "170"], ["Emily", None, None]],
        ),
        (
            "bag_unpack(d, columnsConflict='replace_source')",
            ["Name", "Age", "Height"],
            [["John", "20", None], [None, "40", "170"], [None, None, None]],
        ),
        (
            "bag_unpack(d, 'p_', ignoredProperties=dynamic(['Height']))",
            ["Name", "p_Age", "p_Name"],
            [["James", "20", "John"], ["David", "40", None], ["Emily", None, None]],
        ),
    ],
)
def test_bag_unpack_makes_a_column_per_key(
    engine: KqlEngine, unpack: str, columns: list[str], rows: list[list[Any]]
) -> None:
    table = kql_table(engine, f"{_PEOPLE_BAGS} | evaluate {unpack}")
    assert [column["name"] for column in table["columns"]] == columns
    assert [column["type"] for column in table["columns"]][1:] == ["dynamic", "dynamic"]
    assert table["rows"] == rows


def test_bag_unpack_of_a_made_bag_as_documented(engine: KqlEngine) -> None:
    query = (
        'datatable(prop:string, value:string) ["prop01", "val_a", "prop02", "val_b", "prop03", "val_c"] '
        "| extend p = bag_pack(prop, value) | summarize bag = make_bag(p) | evaluate bag_unpack(bag)"
    )
    table = kql_table(engine, query)
    assert [column["name"] for column in table["columns"]] == ["prop01", "prop02", "prop03"]
    assert table["rows"] == [["val_a", "val_b", "val_c"]]


@pytest.mark.parametrize(
    ("unpack", "message"),
    [
        ("bag_unpack(d)", "already exists"),
        ("bag_unpack(d) : (*, Age:long)", "output schema"),
        ("bag_unpack(d, columnsConflict='merge')", "columnsConflict"),
        ("bag_unpack(Name)", "not dynamic"),
        ("bag_unpack(Nope)", "Failed to resolve"),
    ],
)
def test_bag_unpack_refuses_what_it_cannot_answer_exactly(engine: KqlEngine, unpack: str, message: str) -> None:
    with pytest.raises(KqlQueryError, match=message) as refused:
        engine.execute(f"{_PEOPLE_BAGS} | evaluate {unpack}", timespan=None, now=NOW)
    assert refused.value.status == 400


def test_count_of_an_expression_counts_rows_nulls_included(engine: KqlEngine) -> None:
    table = kql_table(engine, "datatable(x:long)[] | summarize count(x), countif(x > 0), dcount(x), dcountif(x, x > 0)")
    assert [column["name"] for column in table["columns"]] == ["count_x", "countif_", "dcount_x", "dcountif_x"]
    assert table["rows"] == [[0, 0, 0, 0]]
    with pytest.raises(KqlQueryError, match="Failed to resolve scalar expression named 'nope'"):
        engine.execute("print x = 1 | summarize count(nope)", timespan=None, now=NOW)


def test_merged_hll_sketches_count_both_sets_and_are_named_after_the_column(engine: KqlEngine) -> None:
    query = (
        "range x from 1 to 10 step 1 | extend y = x + 10 | summarize hll_x = hll(x), hll_y = hll(y) "
        "| project merged = hll_merge(hll_x, hll_y) | project dcount_hll(merged)"
    )
    table = kql_table(engine, query)
    assert table["columns"][0]["name"] == "dcount_hll_merged"
    assert table["rows"] == [[20]]


def test_rank_tdigest_counts_values_up_to_a_value_in_the_digest(engine: KqlEngine) -> None:
    query = "range x from 1 to 1000 step 1 | summarize t = tdigest(x) | project r = rank_tdigest(t, 685)"
    assert kql_table(engine, query)["rows"] == [[685]]
    with pytest.raises(KqlQueryError, match="not in the digest"):
        engine.execute(
            "range x from 1 to 9 step 1 | summarize t = tdigest(x) | project rank_tdigest(t, 2.5)",
            timespan=None,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("extract(@'-(\\d{2})-', 1, '15-12-2024', typeof(int))", 12),
        ("extract(@'-(\\d{2})-', 1, 'no date', typeof(int))", None),
        ('extract_json(\'$.name\', \'{"name": "John", "age": 30}\', typeof(string))', "John"),
        ('extract_json(\'$.age\', \'{"name": "John", "age": 30}\', typeof(long))', 30),
        ("extractjson('$.l[1]', '{\"l\": [1, \"x\"]}')", "x"),
        ("extractjson('$.o', '{\"o\": {\"a\": 1}}')", '{"a":1}'),
        ("extractjson('$.missing', '{}')", ""),
    ],
)
def test_typed_extraction_converts_as_kusto_does(engine: KqlEngine, expression: str, expected: Any) -> None:
    assert _value(engine, expression) == expected


@pytest.mark.parametrize(
    "expression", ["typeof(int)", "extract('a', 0, 'a', typeof(decimal))", "extract_json(\"$['a']\", '{}')"]
)
def test_a_type_or_path_that_is_not_understood_is_refused(engine: KqlEngine, expression: str) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(f"print {expression}", timespan=None, now=NOW)
    assert refused.value.code == "UnsupportedError"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [("0.5, 10.0, 20.0", 0.746176019310951), ("0.2, 2, 5", 2.4576), ("0.5, 1, 1", 1.0)],
)
def test_beta_pdf_is_the_beta_density(engine: KqlEngine, arguments: str, expected: float) -> None:
    assert _value(engine, f"beta_pdf({arguments})") == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("arguments", ["1.5, 10.0, 20.0", "-10.0, 10.0, 20.0", "0.1, -1.0, 20.0"])
def test_beta_pdf_outside_its_domain_is_nan(engine: KqlEngine, arguments: str) -> None:
    assert _value(engine, f"beta_pdf({arguments})") == "NaN"


_ARRAYS = "datatable(index:int, Arr:dynamic)[0, dynamic([5, 1, 3]), 1, dynamic([4, 10, 8, 7]), 2, dynamic([])]"


def test_mv_apply_runs_the_subquery_on_each_rows_elements(engine: KqlEngine) -> None:
    query = f"{_ARRAYS} | mv-apply Arr2=Arr to typeof(long) on (top 2 by Arr2 | summarize Top2=make_list(Arr2))"
    table = kql_table(engine, query)
    assert [column["name"] for column in table["columns"]] == ["index", "Arr", "Top2"]
    rows = {row[0]: json.loads(row[2]) for row in table["rows"]}
    # A summarize of no elements is still one row, as Kusto's summarize of an empty input is.
    assert rows == {0: [5, 3], 1: [10, 8], 2: []}


def test_mv_apply_with_an_item_index_and_a_filter(engine: KqlEngine) -> None:
    query = f"{_ARRAYS} | mv-apply with_itemindex=i value=Arr to typeof(long) on (where i >= 2)"
    table = kql_table(engine, query)
    assert [column["name"] for column in table["columns"]] == ["index", "Arr", "value", "i"]
    assert sorted((row[0], row[2], row[3]) for row in table["rows"]) == [(0, 3, 2), (1, 7, 3), (1, 8, 2)]


def test_mv_apply_expands_several_arrays_in_lockstep(engine: KqlEngine) -> None:
    query = (
        "datatable(Val:int, Arr1:dynamic, Arr2:dynamic)[1, dynamic(['A1', 'A2']), dynamic(['B1', 'B2', 'B3'])] "
        "| mv-apply T1=Arr1, T2=Arr2 on (extend Out = strcat(T1, '_', T2) | summarize Out = make_list(Out))"
    )
    table = kql_table(engine, query)
    assert json.loads(table["rows"][0][3]) == ["A1_B1", "A2_B2", "_B3"]


def test_mv_apply_of_an_unnamed_column_is_refused(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError, match="mv-apply"):
        engine.execute(f"{_ARRAYS} | mv-apply Arr on (take 1)", timespan=None, now=NOW)


@pytest.mark.parametrize(
    ("text", "term", "expected"),
    [
        ("https://shop/api/checkout/1", "checkout", True),
        ("https://shop/api/CHECKOUT", "checkout", True),
        ("https://shop/api/checkouts", "checkout", False),
        ("chec\u212aout now", "checkout", True),  # KELVIN SIGN folds to k for both the filter and the regex
        ("a x\u017fy b", "xsy", True),  # LONG S folds to s in the regex: no substring filter for an `s` term
        ("pre-checkout", "checkout", True),
        ("", "checkout", False),
    ],
)
def test_has_answers_the_same_behind_its_substring_filter(
    engine: KqlEngine, text: str, term: str, expected: bool
) -> None:
    query = f"datatable(Url:string)[{json.dumps(text, ensure_ascii=False)}] | where Url has '{term}' | count"
    assert kql_table(engine, query)["rows"] == [[1 if expected else 0]]


_TRICKY_TEXTS = [
    "checkout",
    "CheckOut-2",
    "xcheckout",
    "checkout_x",
    "Éclair checkout",
    "ÉcheckoutÉ",
    "İcheckout",
    "chec\u212aout",
    "a x\u017fy b",
    "XSY",
    "42checkout",
    "check out",
    "",
]


@pytest.mark.parametrize("term", ["checkout", "CheckOut", "xsy", "check out", "é"])
def test_has_agrees_with_the_plain_case_insensitive_regex(engine: KqlEngine, term: str) -> None:
    import duckdb

    rows = ", ".join(json.dumps(text, ensure_ascii=False) for text in _TRICKY_TEXTS)
    table = kql_table(engine, f"datatable(s:string)[{rows}] | where s has '{term}' | project s")
    found = sorted(row[0] for row in table["rows"])
    pattern = "(?i)(?:^|[^\\pL\\pN])" + "".join(f"\\x{{{ord(c):x}}}" for c in term) + "(?:$|[^\\pL\\pN])"
    connection = duckdb.connect()
    expected = sorted(
        text
        for text in _TRICKY_TEXTS
        if connection.execute("SELECT regexp_matches(?, ?)", [text, pattern]).fetchall()[0][0]
    )
    connection.close()
    assert found == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("tostring(2.0)", "2"),
        ("tostring(-3.0)", "-3"),
        ("tostring(1.5)", "1.5"),
        ("tostring(1/3.0)", "0.3333333333333333"),
        ("tostring(0.0001)", "0.0001"),
        ("tostring(123456789012345.0)", "123456789012345"),
        ("tostring(real(nan))", "NaN"),
        ("tostring(real(null))", ""),
        ("strcat('a', 2.0, 'b')", "a2b"),
        ("strcat_delim('-', 1.0, 2.5)", "1-2.5"),
        ("tostring(dynamic(2.0))", "2"),
        ("tostring(dynamic([1.0, 'a1.0', {'b': 3.0}]))", '[1,"a1.0",{"b":3}]'),
        ("tostring(dynamic('text 1.0'))", "text 1.0"),
    ],
)
def test_tostring_writes_reals_as_kusto_does(engine: KqlEngine, expression: str, expected: str) -> None:
    assert _value(engine, expression) == expected


def test_tostring_of_a_dynamic_column_writes_whole_reals_without_a_fraction(engine: KqlEngine) -> None:
    table = kql_table(engine, "print d = dynamic({'a': 1.0}) | project s = tostring(d.a), t = tostring(d)")
    assert table["rows"] == [["1", '{"a":1}']]


@pytest.mark.parametrize("value", ["1e20", "0.00001", "real(+inf)"])
def test_tostring_of_a_real_written_differently_is_refused(engine: KqlEngine, value: str) -> None:
    with pytest.raises(KqlQueryError, match="tostring"):
        engine.execute(f"print tostring({value})", timespan=None, now=NOW)
