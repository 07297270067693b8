"""Tabular operators added to the local Log Analytics: `scan`, and the answers the Kusto documentation publishes
for them; what cannot be answered exactly is refused with a sentence, never guessed."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import kql_table
from hypothesis import given, settings
from hypothesis import strategies as st

from console.emulator.kql_engine import KqlEngine, KqlQueryError

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)


def _refusal(engine: KqlEngine, query: str) -> KqlQueryError:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(query, timespan=None, now=NOW)
    assert refused.value.status == 400
    return refused.value


# -- scan ---------------------------------------------------------------------------------------------

_EVENTS = """datatable (Ts: timespan, Event: string) [
    0m, "A", 1m, "Start", 2m, "B", 3m, "D", 4m, "Stop", 6m, "C", 8m, "Start", 11m, "E", 12m, "Stop"
]"""


def test_scan_cumulative_sum_is_the_documented_answer(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        "range x from 1 to 5 step 1 | scan declare (cumulative_x:long=0) with "
        "(step s1: true => cumulative_x = x + s1.cumulative_x;)",
    )
    assert [(c["name"], c["type"]) for c in table["columns"]] == [("x", "long"), ("cumulative_x", "long")]
    assert table["rows"] == [[1, 1], [2, 3], [3, 6], [4, 10], [5, 15]]


def test_scan_between_start_and_stop_numbers_each_match(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        f"""{_EVENTS} | sort by Ts asc
        | scan with_match_id=m_id with (
            step s1: Event == "Start";
            step s2: Event != "Start" and Event != "Stop" and Ts - s1.Ts <= 5m;
            step s3: Event == "Stop" and Ts - s1.Ts <= 5m;
        )""",
    )
    assert [c["name"] for c in table["columns"]] == ["Ts", "Event", "m_id"]
    assert table["rows"] == [
        ["00:01:00", "Start", 0],
        ["00:02:00", "B", 0],
        ["00:03:00", "D", 0],
        ["00:04:00", "Stop", 0],
        ["00:08:00", "Start", 1],
        ["00:11:00", "E", 1],
        ["00:12:00", "Stop", 1],
    ]


def test_scan_sessions_with_a_silent_step(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        """datatable (Ts: timespan, Event: string) [0m, "A", 1m, "A", 2m, "B", 3m, "D", 32m, "B", 36m, "C",
            38m, "D", 41m, "E", 75m, "A"]
        | sort by Ts asc
        | scan with_match_id=session_id declare (sessionStart: timespan) with (
            step inSession: true => sessionStart = iff(isnull(inSession.sessionStart), Ts, inSession.sessionStart);
            step endSession output=none: Ts - inSession.sessionStart > 30m;
        )""",
    )
    assert [row[2:] for row in table["rows"]] == [
        ["00:00:00", 0], ["00:00:00", 0], ["00:00:00", 0], ["00:00:00", 0],
        ["00:32:00", 1], ["00:32:00", 1], ["00:32:00", 1], ["00:32:00", 1], ["01:15:00", 2],
    ]  # fmt: skip


def test_scan_inside_partition_gives_one_row_per_session(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        """datatable(Timestamp:datetime, userID:int, EventType:string) [
            datetime(2024-05-28 08:15:23), 1, "login", datetime(2024-05-28 08:30:15), 2, "login",
            datetime(2024-05-28 09:10:27), 3, "login", datetime(2024-05-28 12:30:45), 1, "logout",
            datetime(2024-05-28 11:45:32), 2, "logout", datetime(2024-05-28 13:25:19), 3, "logout"]
        | sort by userID, Timestamp
        | partition hint.strategy=native by userID (
            sort by Timestamp asc
            | scan declare (start: datetime, end: datetime, sessionDuration: timespan) with (
                step s1 output=none: EventType == "login" => start = Timestamp;
                step s2 output=all: EventType == "logout" => start = s1.start, end = Timestamp,
                    sessionDuration = Timestamp - s1.start;
            )
        )
        | project userID, sessionDuration
        | sort by userID asc""",
    )
    assert table["rows"] == [[1, "04:15:22"], [2, "03:15:17"], [3, "04:14:52"]]


def test_scan_fills_forward(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        """datatable (Ts: timespan, Event: string) [0m, "A", 1m, "", 2m, "B", 3m, "", 6m, "C", 8m, ""]
        | sort by Ts asc
        | scan declare (Event_filled: string="") with (
            step s1: true => Event_filled = iff(isempty(Event), s1.Event_filled, Event);
        )
        | project Event_filled""",
    )
    assert [row[0] for row in table["rows"]] == ["A", "A", "B", "B", "C", "C"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("range x from 1 to 3 step 1 | scan with (step s1 output=last: x > 1;)", "output=last"),
        ("range x from 1 to 3 step 1 | scan declare (c:long) with (step s1: c > 1;)", "without a step"),
        ("range x from 1 to 3 step 1 | scan with (step s1: x > 1 => c = 1;)", "not declared"),
        ("range x from 1 to 3 step 1 | scan with (step s1: s2.x > 1; step s2: true;)", "a later step"),
        ("range x from 1 to 3 step 1 | scan declare (x:long) with (step s1: true;)", "already has a column"),
        ("range x from 1 to 3 step 1 | scan with (step s1: s1.y > 1;)", "s1.y"),
        ("range x from 1 to 3 step 1 | scan with (step s1: prev(x) > 1;)", "prev()"),
        ("range x from 1 to 100001 step 1 | scan with (step s1: true;)", "more than 100,000 rows"),
    ],
)
def test_scan_refuses_what_it_cannot_answer_exactly(engine: KqlEngine, query: str, words: str) -> None:
    refused = _refusal(engine, query)
    assert refused.message.startswith("scan:")
    assert words in refused.message


# The documented algorithm, written out in Python: each row against the steps from the last to the first.
_Step = tuple[str, str, Callable[..., bool], dict[str, Callable[..., Any]]]


def _reference_scan(rows: list[dict[str, Any]], steps: list[_Step], defaults: dict[str, Any]) -> list[list[Any]]:
    states: list[dict[str, Any] | None] = [None] * len(steps)
    next_id = 0
    output: list[list[Any]] = []

    def reader(slots: dict[str, dict[str, Any]]) -> Callable[[str, str], Any]:
        return lambda step, column: slots.get(step, defaults).get(column, defaults.get(column))

    for row in rows:
        for k in reversed(range(len(steps))):
            name, mode, condition, assignments = steps[k]
            previous = states[k - 1] if k else None
            own = states[k]
            if previous is not None and condition(row, reader(previous["slots"])):
                slots = dict(previous["slots"])
                states[k - 1] = None
                match = previous["id"]
            elif (k == 0 or own is not None) and condition(row, reader(own["slots"] if own else {})):
                slots = dict(own["slots"]) if own else {}
                if own is None:
                    match, next_id = next_id, next_id + 1
                else:
                    match = own["id"]
            else:
                continue
            read = reader(slots)
            extended = {**row, **defaults, **{column: f(row, read) for column, f in assignments.items()}}
            slots[name] = extended
            states[k] = {"id": match, "slots": slots}
            if mode == "all":
                output.append([row["x"], row["e"], extended["n"], extended["origin"], match])
    return output


_PROPERTY_SCAN = """
| scan with_match_id=m declare (n: long = 0, origin: long) with (
    step s1: e == "S" => origin = x;
    step s2 output=none: e == "B" and x - s1.origin <= 3 => n = s2.n + 1, origin = s1.origin;
    step s3: e == "E" => n = s2.n, origin = s2.origin;
)"""


def _property_steps() -> list[_Step]:
    return [
        ("s1", "all", lambda r, s: r["e"] == "S", {"origin": lambda r, s: r["x"]}),
        (
            "s2",
            "none",
            lambda r, s: r["e"] == "B" and s("s1", "origin") is not None and r["x"] - s("s1", "origin") <= 3,
            {"n": lambda r, s: s("s2", "n") + 1, "origin": lambda r, s: s("s1", "origin")},
        ),
        (
            "s3",
            "all",
            lambda r, s: r["e"] == "E",
            {"n": lambda r, s: s("s2", "n"), "origin": lambda r, s: s("s2", "origin")},
        ),
    ]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from("SBEX"), max_size=25))
def test_scan_follows_the_documented_matching_logic(engine: KqlEngine, events: list[str]) -> None:
    rows = [{"x": i, "e": e} for i, e in enumerate(events)]
    values = ", ".join(f'{row["x"]}, "{row["e"]}"' for row in rows)
    query = f"datatable (x: long, e: string) [{values}] | sort by x asc {_PROPERTY_SCAN}"
    expected = _reference_scan(rows, _property_steps(), {"n": 0, "origin": None})
    assert kql_table(engine, query)["rows"] == expected


def test_the_scan_parse_tree_is_the_one_the_lowering_reads() -> None:
    """The lowering reads these parse-tree shapes of the pinned library; another grammar must fail here first."""
    from duckdb_kql import lower as kql_lower
    from duckdb_kql import parser as kql_parser

    tree = kql_parser.parse(
        "range x from 1 to 2 step 1 | scan with_match_id=m declare (c: long = 0) with "
        "(step s1 output=none: x > 0 => c = s1.c + 1; step s2: true;)"
    ).tree
    found: list[Any] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if kql_lower._cls(node) == "ScanOperator":
            found.append(node)
        stack.extend(kql_lower._rule_children(node))
    assert len(found) == 1
    kinds = [kql_lower._cls(kid) for kid in kql_lower._rule_children(found[0])]
    assert kinds == [
        "RelaxedQueryOperatorParameter", "ScanOperatorDeclareClause", "ScanOperatorStep", "ScanOperatorStep"
    ]  # fmt: skip
    step = kql_lower._rule_children(found[0])[2]
    assert [kql_lower._cls(kid) for kid in kql_lower._rule_children(step)] == [
        "ParameterName", "ScanOperatorStepOutputClause", "UnnamedExpression", "ScanOperatorBody"
    ]  # fmt: skip


# -- evaluate plugins -----------------------------------------------------------------------------------


def test_rows_near_gives_the_documented_rows(engine: KqlEngine) -> None:
    values = [1, 4, 3, 11, 15, 2, 19, 12, 7, 9, 4, 1]
    rows = ", ".join(
        f'datetime(2021-06-{day:02d}), {value}, "{"Error" if day == 7 else "Success"}"'
        for day, value in enumerate(values, 1)
    )
    table = kql_table(
        engine,
        f"datatable (Timestamp:datetime, Value:long, State:string) [{rows}] | sort by Timestamp asc "
        '| evaluate rows_near(State == "Error", 2)',
    )
    assert [c["name"] for c in table["columns"]] == ["Timestamp", "Value", "State"]
    assert [row[1] for row in table["rows"]] == [15, 2, 19, 12, 7]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), max_size=20), st.integers(0, 3), st.integers(0, 3))
def test_rows_near_keeps_the_rows_within_reach_of_a_match(
    engine: KqlEngine, flags: list[bool], before: int, after: int
) -> None:
    values = ", ".join(f"{i}, {str(flag).lower()}" for i, flag in enumerate(flags))
    query = f"datatable (i:long, f:bool) [{values}] | sort by i asc | evaluate rows_near(f, {before}, {after})"
    hits = [i for i, flag in enumerate(flags) if flag]
    expected = [i for i in range(len(flags)) if any(h - before <= i <= h + after for h in hits)]
    assert [row[0] for row in kql_table(engine, query)["rows"]] == expected


def test_dcount_intersect_counts_the_documented_intersections(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        """range x from 1 to 100 step 1
        | extend isEven = (x % 2 == 0), isMod3 = (x % 3 == 0), isMod5 = (x % 5 == 0)
        | summarize hll_even = hll(iif(isEven, x, 0), 2), hll_mod3 = hll(iif(isMod3, x, 0), 2),
            hll_mod5 = hll(iif(isMod5, x, 0), 2)
        | evaluate dcount_intersect(hll_even, hll_mod3, hll_mod5)
        | project evenNumbers = s0 - 1, even_and_mod3 = s1 - 1, even_and_mod3_and_mod5 = s2 - 1""",
    )
    assert table["rows"] == [[50, 16, 3]]


_HOURLY = """let T = range idx from 0 to 24 * 10 - 1 step 1
    | project Timestamp = datetime(2018-01-01) + 1h * idx, val = idx + 1
    | extend EvenOrOdd = iff(val % 2 == 0, "Even", "Odd");
T """


def test_rolling_percentile_gives_the_documented_medians(engine: KqlEngine) -> None:
    table = kql_table(engine, _HOURLY + "| evaluate rolling_percentile(val, 50, Timestamp, 1d, 3)")
    assert [c["name"] for c in table["columns"]] == ["Timestamp", "rolling_3_percentile_val_50"]
    assert [row[1] for row in table["rows"]] == [12, 24, 36, 60, 84, 108, 132, 156, 180, 204]
    by_parity = kql_table(engine, _HOURLY + "| evaluate rolling_percentile(val, 50, Timestamp, 1d, 3, EvenOrOdd)")
    odd = [row[2] for row in by_parity["rows"] if row[1] == "Odd"]
    assert odd == [11, 23, 35, 59, 83, 107, 131, 155, 179, 203]


_USERS = """datatable(UserId:string, Timestamp:datetime) ['A', datetime(2017-08-01), 'D', datetime(2017-08-01),
    'J', datetime(2017-08-01), 'B', datetime(2017-08-01), 'C', datetime(2017-08-02), 'T', datetime(2017-08-02),
    'J', datetime(2017-08-02), 'H', datetime(2017-08-03), 'T', datetime(2017-08-03), 'T', datetime(2017-08-03),
    'J', datetime(2017-08-03), 'B', datetime(2017-08-03), 'S', datetime(2017-08-03), 'S', datetime(2017-08-04)]"""


def test_activity_counts_metrics_gives_the_documented_counts(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        f"let start = datetime(2017-08-01); let end = datetime(2017-08-04); {_USERS} "
        "| evaluate activity_counts_metrics(UserId, Timestamp, start, end, 1d)",
    )
    assert [c["name"] for c in table["columns"]] == ["Timestamp", "count", "dcount", "new_dcount", "aggregated_dcount"]
    assert [row[1:] for row in table["rows"]] == [[4, 4, 4, 4], [3, 3, 2, 6], [6, 5, 2, 8], [1, 1, 0, 8]]


def test_sliding_window_counts_counts_over_the_lookback(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        f"{_USERS} | evaluate sliding_window_counts(UserId, Timestamp, datetime(2017-08-01), datetime(2017-08-04), "
        "2d, 1d)",
    )
    assert [c["name"] for c in table["columns"]] == ["Timestamp", "Count", "dcount"]
    assert table["rows"] == [
        ["2017-08-01T00:00:00Z", 4, 4],
        ["2017-08-02T00:00:00Z", 7, 6],
        ["2017-08-03T00:00:00Z", 9, 6],
        ["2017-08-04T00:00:00Z", 7, 5],
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (f"{_USERS} | evaluate activity_counts_metrics(UserId, Timestamp, datetime(2017-08-02), "
         "datetime(2017-08-04), 1d)", "outside Start..End"),
        (f"{_USERS} | evaluate activity_counts_metrics(UserId, Timestamp, datetime(2017-08-01), "
         "datetime(2017-08-09), 1d)", "without records"),
        (f"{_USERS} | evaluate activity_counts_metrics(UserId, Timestamp, datetime(2017-08-01), "
         "datetime(2017-08-04), 'week')", "week"),
        (f"{_USERS} | evaluate sliding_window_counts(UserId, Timestamp, datetime(2017-08-01), "
         "datetime(2017-08-04), 2d, 1d, UserId)", "dimensions"),
        ("range x from 1 to 3 step 1 | evaluate rows_near(x > 1, -1)", "0 or more"),
        ("range x from 1 to 3 step 1 | evaluate rolling_percentile(x, 50, x, 1, 3) : (x:long)", "output schema"),
    ],
)  # fmt: skip
def test_evaluate_plugins_refuse_what_they_cannot_answer_exactly(engine: KqlEngine, query: str, words: str) -> None:
    assert words in _refusal(engine, query).message


def test_scan_reads_let_bound_values_in_its_steps(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        "let window = 3m; datatable (Ts: timespan, Event: string) "
        "[0m, 'Start', 2m, 'B', 4m, 'Stop', 8m, 'Start', 10m, 'Stop'] | sort by Ts asc "
        "| scan with_match_id=m with (step s1: Event == 'Start'; step s2: Event == 'Stop' and Ts - s1.Ts <= window;)",
    )
    # The first Start stays the active sequence (its Stop came too late), so the second one continues it.
    assert table["rows"] == [["00:00:00", "Start", 0], ["00:08:00", "Start", 0], ["00:10:00", "Stop", 0]]


_STORMS = """datatable(State:string, EventType:string, DeathsDirect:long) [
    "ARKANSAS", "Heavy Rain", 1, "ARKANSAS", "Thunderstorm Wind", 1, "ARIZONA", "Lightning", 1,
    "ARIZONA", "Flash Flood", 6, "ARKANSAS", "Heat", 2, "ARKANSAS", "Heat", 1]"""


def test_pivot_counts_by_default_one_column_per_value_in_order_of_appearance(engine: KqlEngine) -> None:
    table = kql_table(engine, f"{_STORMS} | project State, EventType | evaluate pivot(State)")
    assert [(c["name"], c["type"]) for c in table["columns"]] == [
        ("EventType", "string"), ("ARKANSAS", "long"), ("ARIZONA", "long")
    ]  # fmt: skip
    assert table["rows"] == [
        ["Heavy Rain", 1, 0], ["Thunderstorm Wind", 1, 0], ["Lightning", 0, 1], ["Flash Flood", 0, 1], ["Heat", 2, 0]
    ]  # fmt: skip


def test_pivot_sums_over_the_named_groups(engine: KqlEngine) -> None:
    expected = [["Heavy Rain", 1, 0], ["Thunderstorm Wind", 1, 0], ["Lightning", 0, 1], ["Flash Flood", 0, 6],
                ["Heat", 3, 0]]  # fmt: skip
    assert kql_table(engine, f"{_STORMS} | evaluate pivot(State, sum(DeathsDirect))")["rows"] == expected
    assert kql_table(engine, f"{_STORMS} | evaluate pivot(State, sum(DeathsDirect), EventType)")["rows"] == expected


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (f"{_STORMS} | evaluate pivot(State) | take 1", "last operator"),
        (f"let P = {_STORMS} | evaluate pivot(State); union P, P", "last operator"),
        (f"{_STORMS} | evaluate pivot(State, avg(DeathsDirect))", "avg()"),
        (f"{_STORMS} | evaluate pivot(State) : (EventType:string, ARKANSAS:long)", "output schema"),
        ('datatable(State:string, n:long) ["", 1] | evaluate pivot(State)', 'column name ""'),
    ],
)
def test_pivot_refuses_what_it_cannot_answer_exactly(engine: KqlEngine, query: str, words: str) -> None:
    assert words in _refusal(engine, query).message


def test_narrow_gives_one_row_per_cell_as_tostring_writes_it(engine: KqlEngine) -> None:
    rows = '["x", 1, datetime(2020-01-01), "y", 2, datetime(null)]'
    table = kql_table(engine, f"datatable(a:string, b:long, c:datetime) {rows} | evaluate narrow()")
    assert [c["name"] for c in table["columns"]] == ["Row", "Column", "Value"]
    day = kql_table(engine, "print tostring(datetime(2020-01-01))")["rows"][0][0]
    assert table["rows"] == [
        [0, "a", "x"], [0, "b", "1"], [0, "c", day], [1, "a", "y"], [1, "b", "2"], [1, "c", ""]
    ]  # fmt: skip


# -- as, naming a union's legs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "union withsource=TableName (range x from 1 to 2 step 1 | as T1), (range x from 1 to 2 step 1 | as T2)",
        "range x from 1 to 2 step 1 | as T1 | union withsource=TableName (range x from 1 to 2 step 1 | as T2)",
    ],
)
def test_as_names_a_union_leg_in_its_withsource_column(engine: KqlEngine, query: str) -> None:
    table = kql_table(engine, query)
    assert [c["name"] for c in table["columns"]] == ["TableName", "x"]
    assert sorted(table["rows"]) == [["T1", 1], ["T1", 2], ["T2", 1], ["T2", 2]]


def test_as_on_a_union_leg_read_again_is_refused(engine: KqlEngine) -> None:
    refused = _refusal(engine, "range x from 1 to 2 step 1 | as T1 | union withsource=S (T1 | as T2)")
    assert refused.message.startswith("as:")


# -- through the Log Analytics query API, as any SDK client asks ---------------------------------------------


def test_scan_and_its_refusals_through_the_sdk(logs_client: Any) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.monitor.query import LogsQueryStatus

    from console.emulator import estate

    answer = logs_client.query_workspace(
        estate.WORKSPACE_CUSTOMER_ID,
        "range x from 1 to 4 step 1 | scan declare (total: long = 0) with (step s: true => total = x + s.total;)",
        timespan=None,
    )
    assert answer.status == LogsQueryStatus.SUCCESS
    assert [list(row) for row in answer.tables[0].rows] == [[1, 1], [2, 3], [3, 6], [4, 10]]
    with pytest.raises(HttpResponseError) as refused:
        logs_client.query_workspace(
            estate.WORKSPACE_CUSTOMER_ID,
            "range x from 1 to 3 step 1 | scan with (step s output=last: true;)",
            timespan=None,
        )
    assert refused.value.status_code == 400
    assert refused.value.error is not None and refused.value.error.code == "BadArgumentError"
    assert "scan: output=last is not supported by this local Log Analytics." in str(refused.value)


# -- row_rank_min, row_rank_dense -----------------------------------------------------------------------------

_AIRPORTS = """datatable (Airport:string, Airline:string, Departures:long) ["SEA", "LH", 3, "SEA", "LY", 100,
    "SEA", "UA", 3, "SEA", "BA", 2, "SEA", "EL", 3, "AMS", "EL", 1, "AMS", "BA", 1]"""


def test_row_ranks_give_the_documented_ranks(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        f"{_AIRPORTS} | where Airport == 'SEA' | sort by Departures asc "
        "| extend Min = row_rank_min(Departures), Dense = row_rank_dense(Departures)",
    )
    assert [row[3:] for row in table["rows"]] == [[1, 1], [2, 2], [2, 2], [2, 2], [5, 3]]
    restarted = kql_table(
        engine,
        f"{_AIRPORTS} | sort by Airport desc, Departures asc "
        "| extend Rank = row_rank_dense(Departures, prev(Airport) != Airport)",
    )
    assert [row[3] for row in restarted["rows"]] == [1, 2, 2, 2, 3, 1, 1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=15))
def test_row_rank_dense_counts_changes_of_the_term(engine: KqlEngine, values: list[int]) -> None:
    rows = ", ".join(f"{i}, {v}" for i, v in enumerate(values))
    table = kql_table(engine, f"datatable(i:long, v:long) [{rows}] | sort by i asc | extend r = row_rank_dense(v)")
    expected = [1 + sum(1 for a, b in itertools.pairwise(values[: i + 1]) if a != b) for i in range(len(values))]
    assert [row[2] for row in table["rows"]] == expected


def test_row_rank_min_refuses_a_term_that_comes_back(engine: KqlEngine) -> None:
    refused = _refusal(engine, "datatable(x:long)[1, 2, 1] | serialize | extend r = row_rank_min(x)")
    assert refused.message.startswith("row_rank_min():")


def test_row_window_session_gives_the_documented_session_starts(engine: KqlEngine) -> None:
    table = kql_table(
        engine,
        """datatable (ID:string, Timestamp:datetime) ["1", datetime(2024-04-11 10:00:00),
            "2", datetime(2024-04-11 10:18:00), "1", datetime(2024-04-11 11:00:00), "3", datetime(2024-04-11 11:30:00),
            "2", datetime(2024-04-11 13:30:00), "2", datetime(2024-04-11 10:16:00)]
        | sort by ID asc, Timestamp asc
        | extend SessionStarted = row_window_session(Timestamp, 1h, 5m, ID != prev(ID))""",
    )
    assert [row[2][11:16] for row in table["rows"]] == ["10:00", "11:00", "10:16", "10:16", "13:30", "11:30"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=15))
def test_row_window_session_walks_the_rows_as_documented(engine: KqlEngine, gaps: list[int]) -> None:
    minutes = list(itertools.accumulate(gaps))
    rows = ", ".join(str(m) for m in minutes)
    query = f"datatable(m:long) [{rows}] | sort by m asc | extend s = row_window_session(m, 30, 10)"
    expected: list[int] = []
    for i, m in enumerate(minutes):
        new = i == 0 or m >= expected[-1] + 30 or m >= minutes[i - 1] + 10
        expected.append(m if new else expected[-1])
    assert [row[1] for row in kql_table(engine, query)["rows"]] == expected


def test_row_window_session_refuses_a_null_value(engine: KqlEngine) -> None:
    query = (
        "datatable(t:datetime) [datetime(2024-01-01), datetime(null)] | serialize "
        "| extend s = row_window_session(t, 1h, 5m)"
    )
    assert _refusal(engine, query).message.startswith("row_window_session():")


# -- sample, sample-distinct ----------------------------------------------------------------------------------


def test_sample_returns_up_to_n_of_the_input_rows(engine: KqlEngine) -> None:
    rows = kql_table(engine, "range x from 1 to 50 step 1 | extend y = x * 2 | sample 7")["rows"]
    assert len(rows) == 7 and len({row[0] for row in rows}) == 7
    assert all(1 <= x <= 50 and y == 2 * x for x, y in rows)
    assert len(kql_table(engine, "range x from 1 to 3 step 1 | sample 10")["rows"]) == 3


def test_sample_distinct_returns_up_to_n_distinct_values_of_the_column(engine: KqlEngine) -> None:
    table = kql_table(engine, "range x from 1 to 50 step 1 | extend y = x % 4 | sample-distinct 3 of y")
    assert [c["name"] for c in table["columns"]] == ["y"]
    values = [row[0] for row in table["rows"]]
    assert len(values) == 3 and len(set(values)) == 3 and set(values) <= {0, 1, 2, 3}
    every = kql_table(engine, "range x from 1 to 50 step 1 | extend y = x % 4 | sample-distinct 10 of y")["rows"]
    assert sorted(row[0] for row in every) == [0, 1, 2, 3]


# -- search over one table ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def searched() -> Iterator[KqlEngine]:
    engine = KqlEngine()
    engine.connection.execute("CREATE TABLE Events (TimeGenerated TIMESTAMP, Msg VARCHAR, Code BIGINT, Props JSON)")
    engine.connection.execute(
        "INSERT INTO Events VALUES ('2026-01-01 00:00', 'Request timeout on db', 500, '{\"color\":\"Green\"}'), "
        "('2026-01-01 00:30', 'ok', 200, NULL), ('2026-01-01 01:00', 'greenish', 404, NULL)"
    )
    engine.refresh_schema()
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ('Events | search "timeout"', [500]),
        ('search in (Events) "green"', [500]),
        ('search in (Events) "green*"', [500, 404]),
        ('search in (Events) "*ish"', [404]),
        ('search in (Events) "*ree*"', [500, 404]),
        ('search kind=case_sensitive in (Events) "green"', []),
        ('Events | search "404" or "ok"', [200, 404]),
        ('Events | search "green*" and not(Code == 404)', [500]),
        ("Events | search *", [500, 200, 404]),
    ],
)
def test_search_finds_terms_in_every_column(searched: KqlEngine, query: str, codes: list[int]) -> None:
    table = kql_table(searched, query)
    assert [c["name"] for c in table["columns"]] == ["$table", "TimeGenerated", "Msg", "Code", "Props"]
    assert {row[0] for row in table["rows"]} <= {"Events"}
    assert [row[3] for row in table["rows"]] == codes


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ('search "ok"', "name one table"),
        ('search in (Events, Events) "ok"', "name one table"),
        ('Events | where Code > 0 | search "ok"', "one table"),
        ('let E = Events; E | search "ok"', "one table"),
        ('Events | search Msg:"ok"', "Column:term"),
        ('Events | search "a*b"', "'a*b'"),
        ('search kind=case_sensitive in (Events) "ok" or Code == 5', "case_sensitive"),
    ],
)
def test_search_refuses_what_it_cannot_answer_exactly(searched: KqlEngine, query: str, words: str) -> None:
    refused = _refusal(searched, query)
    assert refused.message.startswith("search:") and words in refused.message


def _first_node(query: str, kind: str) -> Any:
    from duckdb_kql import lower as kql_lower
    from duckdb_kql import parser as kql_parser

    stack = [kql_parser.parse(query).tree]
    while stack:
        node = stack.pop()
        if kql_lower._cls(node) == kind:
            return node
        stack.extend(kql_lower._rule_children(node))
    raise AssertionError(f"no {kind} in {query}")


@pytest.mark.parametrize(
    ("query", "kind", "children"),
    [
        (
            "T | evaluate rows_near(x > 1, 2) : (a:long)",
            "EvaluateOperator",
            ["FunctionCallExpression", "EvaluateOperatorSchemaClause"],
        ),
        ("search kind=case_sensitive in (T) 'x'", "SearchOperator",
         ["RelaxedQueryOperatorParameter", "SearchOperatorInClause", "UnnamedExpression"]),
        ("T | search *", "SearchOperator", ["StarExpression"]),
        ("T | sample-distinct 3 of y", "SampleDistinctOperator", ["NamedExpression", "NamedExpression"]),
        ("T | sample 3", "SampleOperator", ["NamedExpression"]),
    ],
)  # fmt: skip
def test_the_parse_trees_the_lowering_reads_are_still_there(query: str, kind: str, children: list[str]) -> None:
    """The shapes of the pinned library's parse tree that evaluate, search and sample are lowered from."""
    from duckdb_kql import lower as kql_lower

    assert [kql_lower._cls(kid) for kid in kql_lower._rule_children(_first_node(query, kind))] == children
