"""Seeded telemetry, the live traffic generator and the Log Analytics handlers over them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from console.emulator import estate, story
from console.emulator.kql_engine import KqlEngine
from console.emulator.logs_api import parse_timespan, setup_logs_routes
from console.emulator.story import INCIDENT_APP, INCIDENT_MINUTES, SILENT_COMPUTER, incident_start
from console.emulator.telemetry import TABLES, TrafficGenerator, create_tables, seed_telemetry

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)


def _seeded(scale: float) -> KqlEngine:
    engine = KqlEngine()
    seed_telemetry(engine, NOW, scale=scale)
    return engine


@pytest.fixture(scope="module")
def engine() -> Iterator[KqlEngine]:
    engine = _seeded(0.02)
    yield engine
    engine.connection.close()


def _one(engine: KqlEngine, sql: str, parameters: dict[str, Any] | None = None) -> Any:
    row = engine.connection.cursor().execute(sql, parameters).fetchone()
    assert row is not None
    return row[0]


def test_schema_has_azure_monitor_tables(engine: KqlEngine) -> None:
    schema = {table: dict(columns) for table, columns in engine.schema().items()}
    assert set(TABLES) <= set(schema)
    requests = schema["AppRequests"]
    for column, kind in [
        ("TimeGenerated", "datetime"),
        ("_ResourceId", "string"),
        ("AppRoleName", "string"),
        ("OperationId", "string"),
        ("Properties", "dynamic"),
        ("ResultCode", "string"),
        ("Success", "bool"),
        ("DurationMs", "real"),
        ("Name", "string"),
        ("Url", "string"),
    ]:
        assert requests[column] == kind
    assert "ClientIP" not in requests
    for column in (
        "OperationNameValue",
        "ActivityStatusValue",
        "Caller",
        "CategoryValue",
        "Level",
        "_ResourceId",
        "ResourceGroup",
        "SubscriptionId",
    ):
        assert column in schema["AzureActivity"]
    for column in ("Computer", "Category", "OSType", "_ResourceId"):
        assert column in schema["Heartbeat"]
    for column in ("Category", "OperationName", "ResultType", "DurationMs"):
        assert column in schema["AzureDiagnostics"]


def test_resource_ids_are_lowercase_web_apps(engine: KqlEngine) -> None:
    ids = {
        row[0] for row in engine.connection.cursor().execute("SELECT DISTINCT _ResourceId FROM AppRequests").fetchall()
    }
    assert ids == {app.resource_id.lower() for app in estate.WEB_APPS}


def test_operation_ids_correlate_across_tables(engine: KqlEngine) -> None:
    orphans = _one(
        engine,
        "SELECT count(*) FROM AppDependencies d ANTI JOIN AppRequests r ON r.OperationId = d.OperationId",
    )
    assert orphans == 0
    assert _one(engine, "SELECT count(*) FROM AppExceptions e SEMI JOIN AppRequests r USING (OperationId)") > 0


def test_row_counts_scale() -> None:
    small = _seeded(0.01)
    large = _seeded(0.04)
    small_requests = _one(small, "SELECT count(*) FROM AppRequests")
    large_requests = _one(large, "SELECT count(*) FROM AppRequests")
    assert 3.0 < large_requests / small_requests < 5.0


def test_seed_covers_seven_days_with_a_daily_rhythm(engine: KqlEngine) -> None:
    oldest = _one(engine, "SELECT min(TimeGenerated) FROM AppRequests")
    assert NOW.replace(tzinfo=None) - oldest > dt.timedelta(days=6, hours=23)
    night = _one(engine, "SELECT count(*) FROM AppRequests WHERE hour(TimeGenerated) = 3")
    afternoon = _one(engine, "SELECT count(*) FROM AppRequests WHERE hour(TimeGenerated) = 15")
    assert afternoon > 2 * night


def test_incident_shows_failures_latency_and_database_timeouts(engine: KqlEngine) -> None:
    start = incident_start(NOW)
    window = {"a": start, "b": start + dt.timedelta(minutes=INCIDENT_MINUTES), "app": INCIDENT_APP}
    inside = (
        engine.connection.cursor()
        .execute(
            "SELECT avg(CASE WHEN Success THEN 0 ELSE 1 END), median(DurationMs) FROM AppRequests "
            "WHERE AppRoleName = $app AND TimeGenerated >= $a AND TimeGenerated < $b "
            "AND json_extract_string(Properties, '$.slot') = 'production'",
            window,
        )
        .fetchone()
    )
    outside = (
        engine.connection.cursor()
        .execute(
            "SELECT avg(CASE WHEN Success THEN 0 ELSE 1 END), median(DurationMs) FROM AppRequests "
            "WHERE AppRoleName = $app AND (TimeGenerated < $a OR TimeGenerated >= $b) "
            "AND json_extract_string(Properties, '$.slot') = 'production'",
            window,
        )
        .fetchone()
    )
    assert inside is not None and outside is not None
    assert inside[0] > 10 * outside[0]
    assert inside[1] > 3 * outside[1]
    timeouts = _one(
        engine,
        "SELECT count(*) FROM AppDependencies WHERE AppRoleName = $app AND Target LIKE 'psql-%' "
        "AND NOT Success AND TimeGenerated >= $a AND TimeGenerated < $b + INTERVAL 1 MINUTE",
        window,
    )
    assert timeouts > 0
    assert _one(engine, "SELECT count(*) FROM AppExceptions WHERE ExceptionType = 'Npgsql.NpgsqlException'") > 0


def test_one_computer_went_silent_two_hours_ago(engine: KqlEngine) -> None:
    last = dict(
        engine.connection.cursor().execute("SELECT Computer, max(TimeGenerated) FROM Heartbeat GROUP BY 1").fetchall()
    )
    naive_now = NOW.replace(tzinfo=None)
    assert naive_now - last[SILENT_COMPUTER] >= dt.timedelta(hours=2)
    assert all(naive_now - seen < dt.timedelta(minutes=3) for name, seen in last.items() if name != SILENT_COMPUTER)


def test_the_failed_backup_is_the_storys(engine: KqlEngine) -> None:
    rows = (
        engine.connection.cursor()
        .execute(
            "SELECT ResultType, ResultDescription, Message, _ResourceId FROM AzureDiagnostics "
            "WHERE Category = 'AddonAzureBackupJobs'"
        )
        .fetchall()
    )
    assert {resource for *_, resource in rows} == {estate.RECOVERY_VAULT_RESOURCE_ID.lower()}
    assert {description.split(":")[1] for _, description, _, _ in rows} == {i.name for i in story.BACKUP_ITEMS}
    failed = [(description, message) for status, description, message, _ in rows if status == "Failed"]
    assert [description for description, _ in failed] == [f"VM:{story.FAILED_BACKUP_ITEM}"]
    assert story.FAILED_BACKUP_ERROR in failed[0][1]
    warned = {description for status, description, _, _ in rows if status == "CompletedWithWarnings"}
    assert warned == {f"{i.kind}:{i.name}" for i in story.BACKUP_ITEMS if i.kind != "VM"}


def test_activity_has_authorization_failures_and_swaps(engine: KqlEngine) -> None:
    assert _one(engine, "SELECT count(*) FROM AzureActivity WHERE ActivitySubstatusValue = 'Forbidden'") >= 5
    assert _one(engine, "SELECT count(*) FROM AzureActivity WHERE OperationNameValue LIKE '%SLOTSSWAP%'") > 0
    assert _one(engine, "SELECT count(*) FROM AzureActivity WHERE OperationNameValue LIKE '%RESTART%'") > 0


def test_most_requests_hit_production(engine: KqlEngine) -> None:
    share = _one(
        engine,
        "SELECT avg(CASE WHEN json_extract_string(Properties, '$.slot') = 'production' THEN 1 ELSE 0 END) "
        "FROM AppRequests",
    )
    assert 0.85 < share < 0.99


def test_generator_follows_the_build_in_production() -> None:
    engine = KqlEngine()
    create_tables(engine.connection)
    engine.refresh_schema()
    start = NOW.replace(tzinfo=None)
    generator = TrafficGenerator(engine, start, scale=1.0, seed_now=NOW)
    good = {(INCIDENT_APP, "production"): "2026.11.4"}
    bad = {(INCIDENT_APP, "production"): story.BAD_BUILD}
    added = 0
    for second in range(0, 1200, 5):
        builds = good if second < 600 else bad
        added += generator.tick(start + dt.timedelta(seconds=second + 5), builds)
    assert added > 0
    assert generator.tick(start + dt.timedelta(seconds=1200), bad) == 0  # nothing new to write

    def failure_rate(first: int, last: int) -> float:
        rate = _one(
            engine,
            "SELECT avg(CASE WHEN Success THEN 0 ELSE 1 END) FROM AppRequests WHERE AppRoleName = $app "
            "AND json_extract_string(Properties, '$.slot') = 'production' "
            "AND TimeGenerated >= $a AND TimeGenerated < $b",
            {
                "app": INCIDENT_APP,
                "a": start + dt.timedelta(seconds=first),
                "b": start + dt.timedelta(seconds=last),
            },
        )
        return float(rate)

    assert failure_rate(600, 1200) > 0.08
    assert failure_rate(600, 1200) > 5 * failure_rate(0, 600)
    builds = {
        row[0]
        for row in engine.connection.cursor()
        .execute(
            "SELECT DISTINCT AppVersion FROM AppRequests WHERE AppRoleName = $app AND TimeGenerated >= $a",
            {"app": INCIDENT_APP, "a": start + dt.timedelta(seconds=600)},
        )
        .fetchall()
    }
    assert story.BAD_BUILD in builds


# --------------------------------------------------------------------------------------------------
# The HTTP handlers, on a plain aiohttp test server (no TLS, no auth: the server adds those).
# --------------------------------------------------------------------------------------------------


def _app(engine: KqlEngine) -> web.Application:
    app = web.Application()
    setup_logs_routes(app, engine, now=lambda: NOW)
    return app


@pytest.mark.asyncio
async def test_workspace_query_over_http(engine: KqlEngine) -> None:
    async with TestClient(TestServer(_app(engine))) as client:
        response = await client.post(
            f"/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query",
            json={
                "query": "AppRequests | summarize count() by AppRoleName | render piechart",
                "timespan": "PT1H",
            },
            headers={"Prefer": "wait=30, include-render=true, include-statistics=true"},
        )
        assert response.status == 200
        body = await response.json()
        table = body["tables"][0]
        assert table["name"] == "PrimaryResult"
        assert table["columns"] == [
            {"name": "AppRoleName", "type": "string"},
            {"name": "count_", "type": "long"},
        ]
        expected = _one(
            engine,
            "SELECT count(*) FROM AppRequests WHERE TimeGenerated >= $a AND TimeGenerated < $b",
            {"a": NOW - dt.timedelta(hours=1), "b": NOW},
        )
        assert sum(row[1] for row in table["rows"]) == expected
        assert body["render"]["visualization"] == "piechart"
        assert "statistics" in body
        assert "error" not in body


@pytest.mark.asyncio
async def test_resource_centric_query_over_http(engine: KqlEngine) -> None:
    resource = estate.WEB_APPS[1].resource_id
    async with TestClient(TestServer(_app(engine))) as client:
        response = await client.post(
            f"/v1{resource}/query", json={"query": "AppRequests | distinct AppRoleName", "timespan": "P1D"}
        )
        assert response.status == 200
        assert (await response.json())["tables"][0]["rows"] == [[estate.WEB_APPS[1].name]]
        workspace = await client.post(
            f"/v1{estate.WORKSPACE_RESOURCE_ID}/query", json={"query": "AppRequests | distinct AppRoleName"}
        )
        assert len((await workspace.json())["tables"][0]["rows"]) == len(estate.WEB_APPS)


@pytest.mark.asyncio
async def test_http_errors(engine: KqlEngine) -> None:
    async with TestClient(TestServer(_app(engine))) as client:
        missing = await client.post(
            "/v1/workspaces/00000000-0000-0000-0000-000000000000/query", json={"query": "Heartbeat"}
        )
        assert missing.status == 404
        assert (await missing.json())["error"]["code"] == "WorkspaceNotFoundError"
        bad = await client.post(
            f"/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query", json={"query": "Heartbeat\n| wherex 1"}
        )
        assert bad.status == 400
        error = (await bad.json())["error"]
        assert error["code"] == "BadArgumentError"
        assert error["innererror"]["code"] == "SyntaxError"
        assert error["innererror"]["line"] == 2
        assert "pos" in error["innererror"]
        no_query = await client.post(f"/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query", json={})
        assert no_query.status == 400
        bad_span = await client.post(
            f"/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query",
            json={"query": "Heartbeat | count", "timespan": "yesterday"},
        )
        assert bad_span.status == 400
        assert "ISO 8601" in (await bad_span.json())["error"]["message"]


@pytest.mark.asyncio
async def test_seeding_is_reported_as_partial(engine: KqlEngine) -> None:
    engine.seeding = True
    engine.seed_progress = 0.5
    try:
        async with TestClient(TestServer(_app(engine))) as client:
            response = await client.post(
                f"/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query", json={"query": "Heartbeat | count"}
            )
            body = await response.json()
    finally:
        engine.seeding = False
        engine.seed_progress = 1.0
    assert response.status == 200
    assert body["tables"][0]["rows"][0][0] > 0
    assert body["error"]["code"] == "PartialError"
    assert "still being loaded" in body["error"]["details"][-1]["message"]


def test_timespan_forms() -> None:
    now = NOW
    assert parse_timespan("PT1H", now) == (now - dt.timedelta(hours=1), now)
    assert parse_timespan("P7D", now) == (now - dt.timedelta(days=7), now)
    start, end = parse_timespan("2026-11-25T00:00:00Z/2026-11-26T00:00:00Z", now) or (None, None)
    assert end is not None and start is not None and end - start == dt.timedelta(days=1)
    interval = parse_timespan("2026-11-25T00:00:00Z/PT30M", now)
    assert interval is not None and interval[1] - interval[0] == dt.timedelta(minutes=30)
    assert parse_timespan(None, now) is None
