"""Serialized row sets (`serialize`, `row_number`, `prev`, `next`, `row_cumsum`) against Kusto's documented
answers, and what is refused: the functions where the row set is not serialized, and hostile input."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb_kql
import pytest
from duckdb_kql import ir as kql_ir
from duckdb_kql import lower as kql_lower
from duckdb_kql import schema as kql_schema
from duckdb_kql import translate as kql_translate

from console.emulator import kql_serialize
from console.emulator.kql_engine import KqlEngine, KqlQueryError
from console.emulator.kql_extensions import LIBRARY_VERSION

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)
NOT_SERIALIZED = "Function '{}' cannot be invoked in current context. Details: the row set must be serialized"

AIRPORTS = """datatable (Airport:string, Airline:string, Departures:long)
[
  "TLV", "LH", 1,
  "TLV", "LY", 100,
  "SEA", "LH", 1,
  "SEA", "BA", 2,
  "SEA", "LY", 0
]
| sort by Airport asc, Departures desc"""

SALARIES = """datatable (name:string, month:int, salary:long)
[
    "Alice", 1, 1000,
    "Bob",   1, 1000,
    "Alice", 2, 2000,
    "Bob",   2, 1950,
    "Alice", 3, 1400,
    "Bob",   3, 1450,
]
| order by name asc, month asc"""


def _table(engine: KqlEngine, query: str) -> tuple[list[str], list[list[Any]]]:
    outcome = engine.execute(query, timespan=None, now=NOW)
    table = json.loads(outcome.as_la_bytes())["tables"][0]
    return [column["name"] for column in table["columns"]], table["rows"]


def _refusal(engine: KqlEngine, query: str) -> KqlQueryError:
    with pytest.raises(KqlQueryError) as caught:
        engine.execute(query, timespan=None, now=NOW)
    assert caught.value.status == 400
    return caught.value


def test_row_number_after_sort(engine: KqlEngine) -> None:
    columns, rows = _table(engine, "range a from 1 to 10 step 1 | sort by a desc | extend rn=row_number()")
    assert columns == ["a", "rn"]
    assert rows == [[11 - n, n] for n in range(1, 11)]


def test_row_number_from_a_start(engine: KqlEngine) -> None:
    _, rows = _table(engine, "range a from 1 to 10 step 1 | sort by a desc | extend rn=row_number(7)")
    assert rows == [[11 - n, n + 6] for n in range(1, 11)]


def test_row_number_restarting_per_airport(engine: KqlEngine) -> None:
    columns, rows = _table(engine, f"{AIRPORTS} | extend Rank=row_number(1, prev(Airport) != Airport)")
    assert columns == ["Airport", "Airline", "Departures", "Rank"]
    assert rows == [
        ["SEA", "BA", 2, 1],
        ["SEA", "LH", 1, 2],
        ["SEA", "LY", 0, 3],
        ["TLV", "LY", 100, 1],
        ["TLV", "LH", 1, 2],
    ]


def test_row_cumsum_after_serialize(engine: KqlEngine) -> None:
    columns, rows = _table(
        engine, "datatable (a:long) [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] | where a%2==0 | serialize cs=row_cumsum(a)"
    )
    assert columns == ["a", "cs"]
    assert rows == [[2, 2], [4, 6], [6, 12], [8, 20], [10, 30]]


def test_row_cumsum_restarting_per_name(engine: KqlEngine) -> None:
    _, rows = _table(engine, f"{SALARIES} | extend total=row_cumsum(salary, name != prev(name))")
    assert rows == [
        ["Alice", 1, 1000, 1000],
        ["Alice", 2, 2000, 3000],
        ["Alice", 3, 1400, 4400],
        ["Bob", 1, 1000, 1000],
        ["Bob", 2, 1950, 2950],
        ["Bob", 3, 1450, 4400],
    ]


def test_prev_and_next_in_the_source_order_after_bare_serialize(engine: KqlEngine) -> None:
    query = (
        'datatable (t:string) ["Keynote", "Expo Session", "Breakout", "Expo Session"] | serialize '
        "| extend previous=prev(t), following=next(t), two_back=prev(t, 2, 'none')"
    )
    columns, rows = _table(engine, query)
    assert columns == ["t", "previous", "following", "two_back"]
    assert rows == [
        ["Keynote", None, "Expo Session", "none"],
        ["Expo Session", "Keynote", "Breakout", "none"],
        ["Breakout", "Expo Session", "Expo Session", "Keynote"],
        ["Expo Session", "Breakout", None, "Expo Session"],
    ]


def test_serialize_with_a_column_is_extend_and_bare_serialize_changes_nothing(engine: KqlEngine) -> None:
    assert _table(engine, "datatable (a:long) [3, 1, 2] | serialize") == (["a"], [[3], [1], [2]])
    assert _table(engine, "datatable (a:long) [3, 1, 2] | serialize r = row_number(), d = a * 2") == (
        ["a", "r", "d"],
        [[3, 1, 6], [1, 2, 2], [2, 3, 4]],
    )
    assert _table(engine, "datatable (a:long) [3, 1, 2] | serialize | serialize | count") == (["Count"], [[3]])


def test_differences_between_neighbours_like_the_sensor_example(engine: KqlEngine) -> None:
    query = (
        "datatable (Timestamp:datetime) [datetime(2022-04-13 00:00:00.5), datetime(2022-04-13 00:00:00), "
        "datetime(2022-04-13 00:00:01)] | sort by Timestamp asc "
        "| extend gap = datetime_diff('millisecond', Timestamp, prev(Timestamp, 1)) | where gap > 250 "
        "| project gap"
    )
    assert _table(engine, query) == (["gap"], [[500], [500]])


def test_order_is_the_serialized_order_over_many_rows(engine: KqlEngine) -> None:
    query = (
        "range a from 1 to 200000 step 1 | extend k = (a * 7919) % 1000 | sort by k asc, a desc "
        "| extend rn = row_number(), before = prev(k), before_a = prev(a) "
        "| where before > k or (before == k and before_a < a) | count"
    )
    assert _table(engine, query)[1] == [[0]]
    numbered = "range a from 1 to 100000 step 1 | sort by a desc | extend rn = row_number() | where rn != 100001 - a"
    assert _table(engine, f"{numbered} | count")[1] == [[0]]


def test_serialization_survives_operators_that_keep_it(engine: KqlEngine) -> None:
    query = (
        "range a from 1 to 6 step 1 | sort by a desc | where a != 3 | project a, b = a * 10 "
        "| take 4 | extend rn = row_number()"
    )
    assert _table(engine, query)[1] == [[6, 60, 1], [5, 50, 2], [4, 40, 3], [2, 20, 4]]
    assert _table(engine, "range a from 1 to 3 step 1 | extend rn = row_number(0)")[1] == [[1, 0], [2, 1], [3, 2]]


@pytest.mark.parametrize(
    ("query", "function"),
    [
        ("datatable (a:long) [1, 2] | extend r = row_number()", "row_number"),
        ("datatable (a:long) [1, 2] | extend p = prev(a)", "prev"),
        ("datatable (a:long) [1, 2] | extend n = next(a)", "next"),
        ("datatable (a:long) [1, 2] | extend c = row_cumsum(a)", "row_cumsum"),
        ("range a from 1 to 3 step 1 | sort by a | summarize count() by a | extend r = row_number()", "row_number"),
        ("range a from 1 to 3 step 1 | serialize | distinct a | extend r = row_number()", "row_number"),
    ],
)
def test_refused_where_the_row_set_is_not_serialized(engine: KqlEngine, query: str, function: str) -> None:
    assert _refusal(engine, query).message == NOT_SERIALIZED.format(function)


@pytest.mark.parametrize(
    "query",
    [
        "range a from 1 to 3 step 1 | summarize c = row_cumsum(a)",
        "range a from 1 to 3 step 1 | distinct r = row_number()",
        "range a from 1 to 3 step 1 | extend x = prev(row_number())",
        "range a from 1 to 3 step 1 | extend x = prev(a, '1')",
        "range a from 1 to 3 step 1 | extend x = prev(a, a)",
        "range a from 1 to 3 step 1 | extend x = next(a, -1)",
        "range a from 1 to 3 step 1 | extend x = next(a, 99999999999)",
        "range a from 1 to 3 step 1 | extend x = prev(a, 1, 'x')",
        "range a from 1 to 3 step 1 | extend x = prev()",
        "range a from 1 to 3 step 1 | extend x = prev(a, 1, 2, 3)",
        "range a from 1 to 3 step 1 | extend x = row_number(1, 'x')",
        "range a from 1 to 3 step 1 | extend x = row_number(1, true, 3)",
        "range a from 1 to 3 step 1 | extend x = row_number(1, row_number(1, true) > 1)",
        "range a from 1 to 3 step 1 | extend x = row_cumsum('s')",
        "range a from 1 to 3 step 1 | extend x = row_cumsum()",
        "range a from 1 to 3 step 1 | extend x = row_number(a)",
        "datatable (a:long) [1, long(null), 2] | serialize x = row_cumsum(a)",
        "range a from 1 to 3 step 1 | extend __kql_serial = row_number()",
        "range a from 1 to 3 step 1 | serialize kind=nonsense x = 1",
        "range a from 1 to 3 step 1 | serialize = 1",
        "serialize",
        "range a from 1 to 3 step 1 | serialize serialize",
    ],
)
def test_hostile_input_is_a_400(engine: KqlEngine, query: str) -> None:
    _refusal(engine, query)


def test_project_and_where_read_neighbouring_rows(engine: KqlEngine) -> None:
    query = "range a from 1 to 5 step 1 | sort by a desc | project r = row_number(), a, p = prev(a, 1, 0)"
    assert _table(engine, query) == (["r", "a", "p"], [[1, 5, 0], [2, 4, 5], [3, 3, 4], [4, 2, 3], [5, 1, 2]])
    query = "datatable (a:long) [1, 1, 2, 2, 2, 3] | serialize | where prev(a) != a | extend r = row_number()"
    assert _table(engine, query) == (["a", "r"], [[1, 1], [2, 2], [3, 3]])
    assert _refusal(engine, "datatable (a:long) [1] | where prev(a) != a").message == NOT_SERIALIZED.format("prev")


def test_row_number_from_a_negative_start_and_a_real_cumulative_sum(engine: KqlEngine) -> None:
    assert _table(engine, "range a from 1 to 3 step 1 | extend r = row_number(-2)")[1] == [[1, -2], [2, -1], [3, 0]]
    assert _table(engine, "range a from 1 to 3 step 1 | extend r = row_cumsum(a * 1.5)") == (
        ["a", "r"],
        [[1, 1.5], [2, 4.5], [3, 9.0]],
    )


def test_serialize_inside_a_subquery_and_a_let(engine: KqlEngine) -> None:
    query = (
        "let T = datatable (a:long) [5, 7] | serialize | extend r = row_number(); "
        "T | join kind=inner (T | extend r2 = r * 2) on r | project a, r, r2 | order by r asc"
    )
    assert _table(engine, query)[1] == [[5, 1, 2], [7, 2, 4]]


def test_as_binds_the_row_set_for_the_rest_of_the_query(engine: KqlEngine) -> None:
    query = "range a from 1 to 3 step 1 | as X | join kind=inner (X | extend b = a * 2) on a | project a, b"
    assert _table(engine, f"{query} | order by a asc")[1] == [[1, 2], [2, 4], [3, 6]]
    query = "range a from 1 to 5 step 1 | sort by a desc | as X | extend r = row_number() | where r < 3"
    assert _table(engine, f"{query} | union (X | count)") == (
        ["a", "r", "Count"],
        [[5, 1, None], [4, 2, None], [None, None, 5]],
    )
    assert _table(engine, "range a from 1 to 3 step 1 | as hint.materialized=true X | count")[1] == [[3]]
    assert _table(engine, "let X = range a from 1 to 2 step 1; range a from 7 to 7 step 1 | as X | union X")[1] == [
        [7],
        [7],
    ]


@pytest.mark.parametrize(
    "query",
    [
        "union withsource=T (range x from 1 to 5 step 1 | as T1), (range x from 1 to 5 step 1 | as T2 | where x > 1)",
        "range a from 1 to 3 step 1 | as hint.foo=1 X | count",
        "range a from 1 to 3 step 1 | as",
        "Nope | serialize | extend r = row_number()",
    ],
)
def test_as_refusals_are_400(engine: KqlEngine, query: str) -> None:
    _refusal(engine, query)


def test_an_unknown_table_is_named_before_serializing(engine: KqlEngine) -> None:
    assert _refusal(engine, "Nope | serialize | extend r = row_number()").message == (
        "Failed to resolve table expression named 'Nope'."
    )


def test_the_library_entry_points_are_still_there() -> None:
    """duckdb-kql's structures this module hooks into; a library change must fail here, not quietly."""
    for entry in kql_serialize.REQUIRED:
        assert entry is not None
    assert duckdb_kql.__version__ == LIBRARY_VERSION
    # The grammar still wants a column after `serialize` (the engine's rewrite of a bare one is needed) and
    # still parses `serialize x = 1` and `as Name`, which the lowering here reads.
    assert duckdb_kql.validate("T | serialize")
    assert not duckdb_kql.validate("T | serialize x = 1 | as Y")
    assert callable(kql_translate._render_query)
    assert callable(kql_schema._operator_columns_unchecked)
    assert {"source", "operators", "lets"} <= {f for f in kql_ir.Query.__dataclass_fields__}
    assert set(kql_serialize.ROW_FUNCTIONS) <= set(kql_translate._SPECIAL_FORMS)
    assert getattr(kql_lower._lower_operator, "__kql_serialize__", False)


def test_row_rank_min_ranks_runs_of_equal_terms_as_documented(engine: KqlEngine) -> None:
    query = """datatable(Category:string, Item:string, Value:int)
        ['A', 'item1', 10, 'A', 'item2', 10, 'A', 'item3', 5, 'A', 'item4', 20, 'B', 'item2', 5, 'B', 'item1', 7]
        | sort by Category asc, Value asc
        | extend rank = row_rank_min(Value, Category != prev(Category))"""
    assert [row[-1] for row in _table(engine, query)[1]] == [1, 2, 2, 4, 1, 2]
    assert [row[-1] for row in _table(engine, "range x from 1 to 5 step 1 | extend r = row_rank_min(x / 2)")[1]] == [
        1,
        2,
        2,
        4,
        4,
    ]


def test_row_window_session_starts_sessions_as_documented(engine: KqlEngine) -> None:
    query = """datatable (ID:string, Timestamp:datetime) [
        '1', datetime(2024-04-11 10:00:00), '2', datetime(2024-04-11 10:18:00), '1', datetime(2024-04-11 11:00:00),
        '3', datetime(2024-04-11 11:30:00), '2', datetime(2024-04-11 13:30:00), '2', datetime(2024-04-11 10:16:00)]
        | sort by ID asc, Timestamp asc
        | extend SessionStarted = row_window_session(Timestamp, 1h, 5m, ID != prev(ID))"""
    assert [row[-1] for row in _table(engine, query)[1]] == [
        "2024-04-11T10:00:00Z",
        "2024-04-11T11:00:00Z",
        "2024-04-11T10:16:00Z",
        "2024-04-11T10:16:00Z",
        "2024-04-11T13:30:00Z",
        "2024-04-11T11:30:00Z",
    ]
    # A session ends at its first row plus the longest span, even while neighbours stay close.
    steady = (
        "range x from 0 to 6 step 1 | extend t = datetime(2020-01-01) + x * 1m "
        "| extend s = row_window_session(t, 3m, 2m)"
    )
    starts = [row[-1] for row in _table(engine, steady)[1]]
    assert starts == [f"2020-01-01T00:0{minute}:00Z" for minute in (0, 0, 0, 3, 3, 3, 6)]


@pytest.mark.parametrize(
    ("query", "sentence"),
    [
        ("datatable(x:long) [1, 2] | extend r = row_rank_min(x)", "serialized"),
        ("range x from 1 to 3 step 1 | extend r = row_rank_min(iff(x == 2, long(null), x))", "null term"),
        ("range x from 1 to 3 step 1 | extend s = row_window_session(datetime(null), 1h, 5m)", "null value"),
    ],
)
def test_row_rank_min_and_row_window_session_refuse_what_they_cannot_answer(
    engine: KqlEngine, query: str, sentence: str
) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(query, timespan=None, now=NOW)
    assert refused.value.status == 400 and sentence in refused.value.message
