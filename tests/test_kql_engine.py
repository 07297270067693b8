"""The KQL adapter against hand-written DuckDB SQL over the same seeded telemetry."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from console.emulator.kql_engine import (
    KqlEngine,
    KqlQueryError,
    strip_render,
)
from console.emulator.telemetry import INCIDENT_APP, incident_start, seed_telemetry
from console.kql import datetime_text, timespan_text

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)
NAIVE_NOW = NOW.replace(tzinfo=None)


@pytest.fixture(scope="module")
def engine() -> Iterator[KqlEngine]:
    engine = KqlEngine()
    seed_telemetry(engine, NOW, scale=0.02)
    yield engine
    engine.connection.close()


def _normal(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return datetime_text(value, trim=True)
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return value


def _rows(rows: list[Any], ordered: bool) -> list[tuple[Any, ...]]:
    normal = [tuple(_normal(value) for value in row) for row in rows]
    return normal if ordered else sorted(normal, key=repr)


def _hand(engine: KqlEngine, sql: str) -> list[Any]:
    cursor = engine.connection.cursor()
    try:
        parameters = {"now": NAIVE_NOW} if "$now" in sql else None
        return cursor.execute(sql, parameters).fetchall()
    finally:
        cursor.close()


def _kql(engine: KqlEngine, query: str, **kwargs: Any) -> list[Any]:
    outcome = engine.execute(query, timespan=kwargs.pop("timespan", None), now=NOW, **kwargs)
    assert outcome.error is None
    return list(outcome.tables[0]["rows"])


BATTERY: list[tuple[str, str, bool]] = [
    (
        "AppRequests | where TimeGenerated > ago(1h) | summarize count() by AppRoleName",
        "SELECT AppRoleName, count(*) FROM AppRequests WHERE TimeGenerated > $now - INTERVAL 1 HOUR GROUP BY 1",
        False,
    ),
    (
        "AppRequests | summarize total = count(), failed = countif(Success == false) by AppRoleName"
        " | extend rate = round(100.0 * failed / total, 3) | order by AppRoleName asc",
        "SELECT AppRoleName, count(*), count(*) FILTER (WHERE NOT Success), "
        "round(100.0 * count(*) FILTER (WHERE NOT Success) / count(*), 3) FROM AppRequests GROUP BY 1 "
        "ORDER BY 1",
        True,
    ),
    (
        "AppRequests | summarize avg(DurationMs), max(DurationMs) by AppRoleName",
        "SELECT AppRoleName, avg(DurationMs), max(DurationMs) FROM AppRequests GROUP BY 1",
        False,
    ),
    (
        "AppRequests | where not(Success) | summarize n = count() by Name | order by n desc, Name asc | take 5",
        "SELECT Name, count(*) AS n FROM AppRequests WHERE NOT Success GROUP BY 1 ORDER BY n DESC, Name LIMIT 5",
        True,
    ),
    (
        "AppRequests | where TimeGenerated > ago(1d) | summarize count() by bin(TimeGenerated, 1h)",
        "SELECT date_trunc('hour', TimeGenerated), count(*) FROM AppRequests "
        "WHERE TimeGenerated > $now - INTERVAL 1 DAY GROUP BY 1",
        False,
    ),
    (
        "AppRequests | where not(Success) | join kind=inner (AppDependencies | where not(Success)) on "
        "OperationId"
        " | summarize count() by Target",
        "SELECT d.Target, count(*) FROM AppRequests r JOIN AppDependencies d ON r.OperationId = "
        "d.OperationId "
        "WHERE NOT r.Success AND NOT d.Success GROUP BY 1",
        False,
    ),
    (
        "Heartbeat | summarize LastSeen = max(TimeGenerated) by Computer | where LastSeen < ago(1h)",
        "SELECT Computer, max(TimeGenerated) FROM Heartbeat GROUP BY 1 "
        "HAVING max(TimeGenerated) < $now - INTERVAL 1 HOUR",
        False,
    ),
    (
        "AzureActivity | where ActivityStatusValue in ('Failure', 'Failed')"
        " | summarize count() by Caller, OperationNameValue",
        "SELECT Caller, OperationNameValue, count(*) FROM AzureActivity "
        "WHERE ActivityStatusValue IN ('Failure', 'Failed') GROUP BY 1, 2",
        False,
    ),
    (
        "AppRequests | extend slot = tostring(Properties.slot) | summarize count() by AppRoleName, slot",
        "SELECT AppRoleName, json_extract_string(Properties, '$.slot'), count(*) FROM AppRequests GROUP BY 1, 2",
        False,
    ),
    (
        "AppExceptions | summarize count() by ExceptionType, AppRoleName",
        "SELECT ExceptionType, AppRoleName, count(*) FROM AppExceptions GROUP BY 1, 2",
        False,
    ),
    (
        "AppRequests | summarize percentile(DurationMs, 95) by AppRoleName",
        "SELECT AppRoleName, quantile_disc(DurationMs, 0.95) FROM AppRequests GROUP BY 1",
        False,
    ),
    (
        "AppRequests | distinct AppRoleName, AppVersion",
        "SELECT DISTINCT AppRoleName, AppVersion FROM AppRequests",
        False,
    ),
    (
        "AzureDiagnostics | where ResultType != 'Success' | summarize count() by Resource, ResultSignature",
        "SELECT Resource, ResultSignature, count(*) FROM AzureDiagnostics WHERE ResultType <> 'Success' GROUP BY 1, 2",
        False,
    ),
    (
        "AppTraces | where Message contains 'TIMED OUT' | count",
        "SELECT count(*) FROM AppTraces WHERE Message ILIKE '%timed out%'",
        True,
    ),
    (
        "AppDependencies | where DependencyType == 'PostgreSQL' | summarize avg(DurationMs) by bin(TimeGenerated, 1d)",
        "SELECT date_trunc('day', TimeGenerated), avg(DurationMs) FROM AppDependencies "
        "WHERE DependencyType = 'PostgreSQL' GROUP BY 1",
        False,
    ),
    (
        "AppRequests | where ResultCode startswith '5' | summarize count() by ResultCode",
        "SELECT ResultCode, count(*) FROM AppRequests WHERE ResultCode LIKE '5%' GROUP BY 1",
        False,
    ),
    (
        "AppRequests | order by DurationMs desc | take 10 | project DurationMs",
        "SELECT DurationMs FROM AppRequests ORDER BY DurationMs DESC LIMIT 10",
        True,
    ),
    (
        "union AppRequests, AppDependencies | where not(Success) | summarize count() by Type",
        "SELECT Type, count(*) FROM (SELECT Type, Success FROM AppRequests UNION ALL "
        "SELECT Type, Success FROM AppDependencies) WHERE NOT Success GROUP BY 1",
        False,
    ),
    (
        "let failing = AppRequests | where not(Success) | distinct AppRoleName; "
        "AppRequests | where AppRoleName in (failing) | summarize count()",
        "SELECT count(*) FROM AppRequests WHERE AppRoleName IN (SELECT AppRoleName FROM AppRequests WHERE NOT Success)",
        True,
    ),
]


@pytest.mark.parametrize(("query", "sql", "ordered"), BATTERY, ids=[f"q{i:02d}" for i in range(len(BATTERY))])
def test_battery_matches_hand_written_sql(engine: KqlEngine, query: str, sql: str, ordered: bool) -> None:
    got = _kql(engine, query)
    expected = _hand(engine, sql)
    assert expected, "the expectation should not be empty, or the test proves nothing"
    assert _rows(got, ordered) == _rows(expected, ordered)


def test_columns_carry_log_analytics_types(engine: KqlEngine) -> None:
    outcome = engine.execute(
        "AppRequests | take 1 | project TimeGenerated, Success, DurationMs, ItemCount, Properties, Name,"
        " n = 1, d = 90m, g = toguid('6f1b2c3d-0000-4000-8000-000000000001')",
        timespan=None,
        now=NOW,
    )
    types = {column["name"]: column["type"] for column in outcome.tables[0]["columns"]}
    assert types["TimeGenerated"] == "datetime"
    assert types["Success"] == "bool"
    assert types["DurationMs"] == "real"
    assert types["ItemCount"] == "int"
    assert types["Properties"] == "dynamic"
    assert types["Name"] == "string"
    assert types["d"] == "timespan"
    row = outcome.tables[0]["rows"][0]
    assert row[0].endswith("Z") and "T" in row[0]
    assert json.loads(row[4])["slot"] in ("production", "staging", "canary")
    assert row[7] == "01:30:00"


def test_timespan_formatting_follows_kusto() -> None:
    assert timespan_text(dt.timedelta(minutes=5)) == "00:05:00"
    assert timespan_text(dt.timedelta(days=1, hours=2, seconds=3.5)) == "1.02:00:03.5000000"
    assert timespan_text(-dt.timedelta(hours=1)) == "-01:00:00"


def test_timespan_filters_every_table_read(engine: KqlEngine) -> None:
    start, end = NOW - dt.timedelta(hours=6), NOW - dt.timedelta(hours=3)
    got = _kql(
        engine,
        "union AppRequests, Heartbeat | summarize count() by Type",
        timespan=(start, end),
    )
    expected = _hand(
        engine,
        "SELECT Type, count(*) FROM (SELECT Type, TimeGenerated FROM AppRequests UNION ALL "
        "SELECT Type, TimeGenerated FROM Heartbeat) "
        f"WHERE TimeGenerated >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' "
        f"AND TimeGenerated < TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}' GROUP BY 1",
    )
    assert _rows(got, False) == _rows(expected, False)
    # The cached translation is reused without the filter when no timespan is given.
    unfiltered = _kql(engine, "union AppRequests, Heartbeat | summarize count() by Type")
    assert sum(row[1] for row in unfiltered) > sum(row[1] for row in got)


def test_resource_scope_keeps_only_that_resource(engine: KqlEngine) -> None:
    resource = (
        "/subscriptions/1F0E9C2A-3B4D-4E5F-8A6B-7C8D9E0F1A2B/resourceGroups/rg-prod-web"
        "/providers/Microsoft.Web/sites/app-checkout-prod"
    )
    got = _kql(engine, "AppRequests | distinct AppRoleName", resource_scope=resource)
    assert got == [["app-checkout-prod"]]
    assert _kql(engine, "Heartbeat | count", resource_scope=resource) == [[0]]


def test_make_series_fills_missing_bins(engine: KqlEngine) -> None:
    rows = _kql(
        engine,
        "AppRequests | where not(Success) | make-series failures = count() default = 0"
        " on TimeGenerated from datetime(2026-11-26 00:00) to datetime(2026-11-26 12:00) step 1h by "
        "AppRoleName",
    )
    counts = _hand(
        engine,
        "SELECT AppRoleName, CAST(floor(epoch(TimeGenerated - TIMESTAMP '2026-11-26') / 3600) AS "
        "INTEGER), count(*) "
        "FROM AppRequests WHERE NOT Success AND TimeGenerated >= TIMESTAMP '2026-11-26' "
        "AND TimeGenerated < TIMESTAMP '2026-11-26 12:00' GROUP BY 1, 2",
    )
    expected: dict[str, list[int]] = {}
    for app, hour, count in counts:
        expected.setdefault(app, [0] * 12)[hour] = count
    got = {row[0]: json.loads(row[1]) for row in rows}
    assert got == expected
    axis = json.loads(rows[0][2])
    assert len(axis) == 12 and axis[0].startswith("2026-11-26T00:00:00") and axis[-1].startswith("2026-11-26T11:00")


def test_make_series_then_mv_expand(engine: KqlEngine) -> None:
    rows = _kql(
        engine,
        "AppRequests | make-series n = count() on TimeGenerated in range(ago(3h), now(), 1h)"
        " | mv-expand n to typeof(long), TimeGenerated to typeof(datetime) | project TimeGenerated, n",
    )
    assert len(rows) == 3
    expected = _hand(
        engine,
        "SELECT count(*) FROM AppRequests WHERE TimeGenerated >= $now - INTERVAL 3 HOUR "
        "AND TimeGenerated < $now - INTERVAL 2 HOUR",
    )
    assert rows[0][1] == expected[0][0]


def test_multi_value_percentiles(engine: KqlEngine) -> None:
    outcome = engine.execute(
        "AppRequests | summarize percentiles(DurationMs, 50, 95, 99) by AppRoleName", timespan=None, now=NOW
    )
    names = [column["name"] for column in outcome.tables[0]["columns"]]
    assert names == [
        "AppRoleName",
        "percentile_DurationMs_50",
        "percentile_DurationMs_95",
        "percentile_DurationMs_99",
    ]
    expected = _hand(
        engine,
        "SELECT AppRoleName, quantile_disc(DurationMs, 0.5), quantile_disc(DurationMs, 0.95), "
        "quantile_disc(DurationMs, 0.99) FROM AppRequests GROUP BY 1",
    )
    assert _rows(outcome.tables[0]["rows"], False) == _rows(expected, False)
    named = _kql(engine, "AppRequests | summarize (p50, p99) = percentiles(DurationMs, 50, 99)")
    assert len(named[0]) == 2


def test_syntax_error_reports_position(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as caught:
        engine.execute("AppRequests\n| wherex Success", timespan=None, now=NOW)
    assert caught.value.status == 400
    assert caught.value.code == "SyntaxError"
    assert caught.value.line == 2
    assert caught.value.column is not None


def test_unsupported_construct_is_named(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as caught:
        engine.execute("AppRequests | fork (take 1)", timespan=None, now=NOW)
    assert caught.value.code == "UnsupportedError"
    assert "'fork' is not supported" in caught.value.message
    with pytest.raises(KqlQueryError) as caught:
        engine.execute("AppRequests | summarize buildschema(DurationMs)", timespan=None, now=NOW)
    assert "buildschema" in caught.value.message


def test_unknown_table_and_column_are_bad_arguments(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as caught:
        engine.execute("AppRequestz | take 1", timespan=None, now=NOW)
    assert caught.value.code == "BadArgumentError"
    assert "AppRequestz" in caught.value.message
    with pytest.raises(KqlQueryError) as caught:
        engine.execute("AppRequests | where NoSuchColumn == 1", timespan=None, now=NOW)
    assert caught.value.code == "BadArgumentError"
    assert "NoSuchColumn" in caught.value.message


def test_row_cap_gives_partial_error(engine: KqlEngine) -> None:
    outcome = engine.execute("AppRequests | take 100", timespan=None, now=NOW, row_cap=25)
    assert len(outcome.tables[0]["rows"]) == 25
    assert outcome.truncated
    assert outcome.error is not None and outcome.error["code"] == "PartialError"
    inner = outcome.error["details"][0]["innererror"]
    assert "25" in inner["message"] and "E_QUERY_RESULT_SET_TOO_LARGE" in inner["message"]


def test_size_cap_gives_partial_error(engine: KqlEngine) -> None:
    outcome = engine.execute("AppRequests | take 1000", timespan=None, now=NOW, size_cap_bytes=20_000)
    assert 0 < len(outcome.tables[0]["rows"]) < 1000
    assert len(json.dumps(outcome.tables[0]["rows"], separators=(",", ":"))) <= 20_000
    assert outcome.error is not None and "bytes" in outcome.error["details"][0]["innererror"]["message"]


def test_exact_cap_is_not_partial(engine: KqlEngine) -> None:
    outcome = engine.execute("AppRequests | take 25", timespan=None, now=NOW, row_cap=25)
    assert outcome.error is None and len(outcome.tables[0]["rows"]) == 25


def test_timeout_cancels_the_query(engine: KqlEngine) -> None:
    slow = (
        "AppRequests | extend k = 1 | join kind=inner (AppDependencies | extend k = 1) on k"
        " | summarize max(strlen(strcat(Name, Name1)))"
    )
    with pytest.raises(KqlQueryError) as caught:
        engine.execute(slow, timespan=None, now=NOW, timeout_s=0.2)
    assert caught.value.status == 504
    assert caught.value.code == "GatewayTimeout"
    # The engine is still usable afterwards.
    assert _kql(engine, "Heartbeat | take 1 | count") == [[1]]


def test_render_is_reported_and_stripped(engine: KqlEngine) -> None:
    outcome = engine.execute(
        "AppRequests | summarize count() by bin(TimeGenerated, 1h) | render timechart with (title='Requests')",
        timespan=None,
        now=NOW,
    )
    assert outcome.render is not None and outcome.render.kind == "timechart"
    shaped = outcome.render.as_la()
    assert shaped["visualization"] == "timechart" and shaped["title"] == "Requests"
    assert shaped["xTitle"] is None and shaped["yMax"] == "NaN" and shaped["accumulate"] is False
    assert b"render" not in outcome.as_la_bytes()
    query, kind, options = strip_render("T | where x == '| render piechart' | render barchart with (ytitle=n)")
    assert query == "T | where x == '| render piechart'"
    assert kind == "barchart" and options == {"ytitle": "n"}
    assert strip_render("T | take 1") == ("T | take 1", None, {})


def test_now_is_pinned_per_request(engine: KqlEngine) -> None:
    first = _kql(engine, "print t = now()")
    later = engine.execute("print t = now()", timespan=None, now=NOW + dt.timedelta(hours=1))
    assert first == [["2026-11-26T15:30:00Z"]]
    assert later.tables[0]["rows"] == [["2026-11-26T16:30:00Z"]]


def test_schema_lists_tables_with_la_types(engine: KqlEngine) -> None:
    schema = engine.schema()
    assert ("TimeGenerated", "datetime") in schema["AppRequests"]
    assert ("Properties", "dynamic") in schema["AppRequests"]


def test_incident_is_visible_through_kql(engine: KqlEngine) -> None:
    start = incident_start(NOW)
    rows = _kql(
        engine,
        f"AppDependencies | where AppRoleName == '{INCIDENT_APP}' and Target startswith 'psql-'"
        " | summarize timeouts = countif(ResultCode == '57014')",
        timespan=(start, start + dt.timedelta(minutes=40)),
    )
    assert rows[0][0] > 0


def test_make_list_and_make_set_keep_their_size_limit(engine: KqlEngine) -> None:
    rows = _kql(engine, "AppRequests | summarize make_list(Name, 3), s = make_set(Name, 2) by AppRoleName")
    assert rows
    for _, listed, distinct in rows:
        assert len(json.loads(listed)) == 3
        assert len(json.loads(distinct)) == 2


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("AppRequests | summarize count() by Foo", 35),
        ("AppRequests | project Foo", 22),
        ("AppRequests | distinct Foo", 23),
        ("AppRequests | mv-expand Foo", 24),
        ("AppRequests | join (AppRequests) on Foo", 36),
        ("AppRequests | project-away Foo", 27),
        ("AppRequests | where Foo > 1", 20),
        ("AppRequests | extend x = Foo", 25),
    ],
)
def test_an_unknown_name_is_one_sentence_with_its_position(engine: KqlEngine, query: str, column: int) -> None:
    with pytest.raises(KqlQueryError) as raised:
        engine.execute(query, timespan=None, now=NOW)
    assert raised.value.status == 400
    assert raised.value.message.startswith("Failed to resolve scalar expression named 'Foo'")
    assert (raised.value.line, raised.value.column) == (1, column)


def test_parse_with_a_pattern_that_starts_with_a_column(engine: KqlEngine) -> None:
    assert _kql(engine, "print s = 'key=val;x' | parse s with k '=' v ';' * | project k, v") == [["key", "val"]]
    assert _kql(engine, "print s = 'no separator' | parse s with k ';' v | project k, v") == [["", ""]]


@pytest.mark.parametrize(
    "query",
    [
        '.create database X persist (@"/tmp/x.duckdb")',
        ".set-or-replace AppRequests <| AppRequests | take 0",
        "database('memory').AppRequests | count",
        "print x = " + "(" * 100 + "1" + ")" * 100,
    ],
)
def test_the_engine_refuses_what_the_query_api_must_not_run(engine: KqlEngine, query: str) -> None:
    with pytest.raises(KqlQueryError) as raised:
        engine.execute(query, timespan=None, now=NOW)
    assert raised.value.status == 400


def test_a_large_range_streams_and_times_out_instead_of_filling_memory(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as raised:
        engine.execute(
            "range x from 1 to 5000000000 step 1 | summarize sum(x % 7)", timespan=None, now=NOW, timeout_s=1
        )
    assert raised.value.status == 504
    assert _kql(engine, "range x from 1 to 7 step 3") == [[1], [4], [7]]


def test_a_query_run_again_keeps_its_columns_and_reads_its_rows_afresh(engine: KqlEngine) -> None:
    query = "AppRequests | summarize n = count(), newest = max(TimeGenerated)"
    hour = engine.execute(query, timespan=(NOW - dt.timedelta(hours=1), NOW), now=NOW)
    day = engine.execute(query, timespan=(NOW - dt.timedelta(days=1), NOW), now=NOW)
    assert hour.columns == day.columns == [{"name": "n", "type": "long"}, {"name": "newest", "type": "datetime"}]
    assert day.rows()[0][0] > hour.rows()[0][0] > 0
