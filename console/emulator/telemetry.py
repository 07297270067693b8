"""Seven days of demo telemetry and the live traffic generator, written into the KQL engine.

Everything is generated inside DuckDB from `range()` grids and hash-based pseudo-random numbers,
so a seed is deterministic for a given `now` and scale and millions of rows take seconds. The
same SQL serves the seed (one-minute buckets, one day per statement) and the live generator
(one-second buckets over the few seconds since the last tick), so live rows look like seeded rows
except that their failure rate and latency follow whichever build sits in each slot now.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import duckdb

from . import estate
from .kql_engine import KqlEngine, naive_utc
from .story import (
    BACKUP_ITEMS,
    FAILED_BACKUP_ERROR,
    FAILED_BACKUP_REASON,
    INCIDENT_APP,
    INCIDENT_FAILURE_RATE,
    INCIDENT_LATENCY_FACTOR,
    INCIDENT_MINUTES,
    INCIDENT_RESTART_AFTER,
    SILENT_COMPUTER,
    SILENT_FOR,
    alert_activations,
    alert_rule_id,
    backup_outcome,
    incident_app,
    incident_start,
    last_backup_night,
)

__all__ = [
    "INCIDENT_APP",
    "INCIDENT_MINUTES",
    "SILENT_COMPUTER",
    "STORE_SCHEMA",
    "TABLES",
    "KeptTelemetry",
    "TelemetrySeeding",
    "TrafficGenerator",
    "create_tables",
    "discard_telemetry",
    "fill_gap",
    "incident_start",
    "kept_telemetry",
    "mark_written_until",
    "seed_telemetry",
    "stored_table",
]

DAYS = 7
PRODUCTION_SHARE = 0.94
UNKNOWN_BUILD = estate.BuildProfile("unknown", failure_rate=0.01, latency_ms=150.0)

_DATA_RESOURCES = (
    # (name, resource group, provider, type, category, operations, per-minute rate)
    (
        "kv-prod-shared",
        "rg-prod-data",
        "MICROSOFT.KEYVAULT",
        "VAULTS",
        "AuditEvent",
        ("SecretGet", "SecretGet", "SecretGet", "SecretList", "VaultGet", "KeyGet"),
        6.0,
    ),
    (
        "psql-orders-prod",
        "rg-prod-data",
        "MICROSOFT.DBFORPOSTGRESQL",
        "FLEXIBLESERVERS",
        "PostgreSQLLogs",
        ("LogEvent",),
        8.0,
    ),
    (
        "stcatalogprod",
        "rg-prod-data",
        "MICROSOFT.STORAGE",
        "STORAGEACCOUNTS",
        "StorageRead",
        ("GetBlob", "GetBlob", "GetBlob", "GetBlobProperties", "ListBlobs"),
        10.0,
    ),
)

_APP_COLUMNS = [
    ("TenantId", "VARCHAR"),
    ("TimeGenerated", "TIMESTAMP"),
    ("Id", "VARCHAR"),
    ("Name", "VARCHAR"),
]

TABLES: dict[str, list[tuple[str, str]]] = {
    "AppRequests": [
        ("TenantId", "VARCHAR"),
        ("TimeGenerated", "TIMESTAMP"),
        ("Id", "VARCHAR"),
        ("Source", "VARCHAR"),
        ("Name", "VARCHAR"),
        ("Url", "VARCHAR"),
        ("Success", "BOOLEAN"),
        ("ResultCode", "VARCHAR"),
        ("DurationMs", "DOUBLE"),
        ("PerformanceBucket", "VARCHAR"),
        ("Properties", "JSON"),
        ("OperationName", "VARCHAR"),
        ("OperationId", "VARCHAR"),
        ("ParentId", "VARCHAR"),
        ("AppVersion", "VARCHAR"),
        ("AppRoleName", "VARCHAR"),
        ("AppRoleInstance", "VARCHAR"),
        ("ClientType", "VARCHAR"),
        ("ResourceGUID", "VARCHAR"),
        ("SDKVersion", "VARCHAR"),
        ("ItemCount", "INTEGER"),
        ("_ResourceId", "VARCHAR"),
        ("Type", "VARCHAR"),
    ],
    "AppDependencies": [
        ("TenantId", "VARCHAR"),
        ("TimeGenerated", "TIMESTAMP"),
        ("Id", "VARCHAR"),
        ("Target", "VARCHAR"),
        ("DependencyType", "VARCHAR"),
        ("Name", "VARCHAR"),
        ("Data", "VARCHAR"),
        ("Success", "BOOLEAN"),
        ("ResultCode", "VARCHAR"),
        ("DurationMs", "DOUBLE"),
        ("PerformanceBucket", "VARCHAR"),
        ("Properties", "JSON"),
        ("OperationName", "VARCHAR"),
        ("OperationId", "VARCHAR"),
        ("ParentId", "VARCHAR"),
        ("AppVersion", "VARCHAR"),
        ("AppRoleName", "VARCHAR"),
        ("AppRoleInstance", "VARCHAR"),
        ("ClientType", "VARCHAR"),
        ("SDKVersion", "VARCHAR"),
        ("ItemCount", "INTEGER"),
        ("_ResourceId", "VARCHAR"),
        ("Type", "VARCHAR"),
    ],
    "AppExceptions": [
        ("TenantId", "VARCHAR"),
        ("TimeGenerated", "TIMESTAMP"),
        ("ProblemId", "VARCHAR"),
        ("HandledAt", "VARCHAR"),
        ("ExceptionType", "VARCHAR"),
        ("Assembly", "VARCHAR"),
        ("Method", "VARCHAR"),
        ("OuterType", "VARCHAR"),
        ("OuterMessage", "VARCHAR"),
        ("InnermostType", "VARCHAR"),
        ("InnermostMessage", "VARCHAR"),
        ("SeverityLevel", "INTEGER"),
        ("Details", "JSON"),
        ("Properties", "JSON"),
        ("OperationName", "VARCHAR"),
        ("OperationId", "VARCHAR"),
        ("ParentId", "VARCHAR"),
        ("AppVersion", "VARCHAR"),
        ("AppRoleName", "VARCHAR"),
        ("AppRoleInstance", "VARCHAR"),
        ("ClientType", "VARCHAR"),
        ("SDKVersion", "VARCHAR"),
        ("ItemCount", "INTEGER"),
        ("_ResourceId", "VARCHAR"),
        ("Type", "VARCHAR"),
    ],
    "AppTraces": [
        ("TenantId", "VARCHAR"),
        ("TimeGenerated", "TIMESTAMP"),
        ("Message", "VARCHAR"),
        ("SeverityLevel", "INTEGER"),
        ("Properties", "JSON"),
        ("OperationName", "VARCHAR"),
        ("OperationId", "VARCHAR"),
        ("ParentId", "VARCHAR"),
        ("AppVersion", "VARCHAR"),
        ("AppRoleName", "VARCHAR"),
        ("AppRoleInstance", "VARCHAR"),
        ("ClientType", "VARCHAR"),
        ("SDKVersion", "VARCHAR"),
        ("ItemCount", "INTEGER"),
        ("_ResourceId", "VARCHAR"),
        ("Type", "VARCHAR"),
    ],
    "Heartbeat": [
        ("TenantId", "VARCHAR"),
        ("TimeGenerated", "TIMESTAMP"),
        ("Computer", "VARCHAR"),
        ("SourceComputerId", "VARCHAR"),
        ("Category", "VARCHAR"),
        ("OSType", "VARCHAR"),
        ("OSName", "VARCHAR"),
        ("OSMajorVersion", "VARCHAR"),
        ("OSMinorVersion", "VARCHAR"),
        ("Version", "VARCHAR"),
        ("ComputerEnvironment", "VARCHAR"),
        ("Solutions", "VARCHAR"),
        ("ResourceGroup", "VARCHAR"),
        ("SubscriptionId", "VARCHAR"),
        ("ResourceProvider", "VARCHAR"),
        ("Resource", "VARCHAR"),
        ("ResourceType", "VARCHAR"),
        ("ResourceId", "VARCHAR"),
        ("_ResourceId", "VARCHAR"),
        ("Type", "VARCHAR"),
    ],
    "AzureActivity": [
        ("TenantId", "VARCHAR"),
        ("TimeGenerated", "TIMESTAMP"),
        ("OperationNameValue", "VARCHAR"),
        ("OperationName", "VARCHAR"),
        ("Level", "VARCHAR"),
        ("ActivityStatusValue", "VARCHAR"),
        ("ActivitySubstatusValue", "VARCHAR"),
        ("Caller", "VARCHAR"),
        ("CategoryValue", "VARCHAR"),
        ("CorrelationId", "VARCHAR"),
        ("ResourceGroup", "VARCHAR"),
        ("ResourceProviderValue", "VARCHAR"),
        ("SubscriptionId", "VARCHAR"),
        ("Properties_d", "JSON"),
        ("Authorization_d", "JSON"),
        ("_ResourceId", "VARCHAR"),
        ("Type", "VARCHAR"),
    ],
    "AzureDiagnostics": [
        ("TenantId", "VARCHAR"),
        ("TimeGenerated", "TIMESTAMP"),
        ("ResourceId", "VARCHAR"),
        ("Category", "VARCHAR"),
        ("OperationName", "VARCHAR"),
        ("ResultType", "VARCHAR"),
        ("ResultSignature", "VARCHAR"),
        ("ResultDescription", "VARCHAR"),
        ("DurationMs", "BIGINT"),
        ("CorrelationId", "VARCHAR"),
        ("Message", "VARCHAR"),
        ("errorLevel_s", "VARCHAR"),
        ("identity_claim_upn_s", "VARCHAR"),
        ("Resource", "VARCHAR"),
        ("ResourceGroup", "VARCHAR"),
        ("ResourceProvider", "VARCHAR"),
        ("ResourceType", "VARCHAR"),
        ("SubscriptionId", "VARCHAR"),
        ("_ResourceId", "VARCHAR"),
        ("Type", "VARCHAR"),
    ],
}


# The three big tables are stored compactly in their own schema: the numbers and few-valued strings
# a row is made of. Their Log Analytics columns (ids, URLs, messages, properties, constants) are
# views computed from those when a query reads them: writing millions of random-looking strings
# is most of what seeding would otherwise cost.
STORE_SCHEMA = "opsconsole_store"
_STORED: dict[str, list[tuple[str, str]]] = {
    "AppRequests": [
        ("TimeGenerated", "TIMESTAMP"),
        ("rk", "UBIGINT"),
        ("app_idx", "UTINYINT"),
        ("slot", "VARCHAR"),
        ("build", "VARCHAR"),
        ("op", "VARCHAR"),
        ("Success", "BOOLEAN"),
        ("ResultCode", "VARCHAR"),
        ("DurationMs", "DOUBLE"),
        ("routed", "BOOLEAN"),
    ],
    "AppDependencies": [
        ("TimeGenerated", "TIMESTAMP"),
        ("dk", "UBIGINT"),
        ("rk", "UBIGINT"),
        ("app_idx", "UTINYINT"),
        ("slot", "VARCHAR"),
        ("build", "VARCHAR"),
        ("op", "VARCHAR"),
        ("target", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("Success", "BOOLEAN"),
        ("timed_out", "BOOLEAN"),
        ("DurationMs", "DOUBLE"),
    ],
    "AppTraces": [
        ("TimeGenerated", "TIMESTAMP"),
        ("rk", "UBIGINT"),
        ("app_idx", "UTINYINT"),
        ("slot", "VARCHAR"),
        ("build", "VARCHAR"),
        ("op", "VARCHAR"),
        ("Success", "BOOLEAN"),
        ("ResultCode", "VARCHAR"),
        ("DurationMs", "DOUBLE"),
        ("incident", "BOOLEAN"),
    ],
}


def stored_table(table: str) -> str:
    """Where a telemetry table's rows are written and deleted (quoted, schema-qualified if compact)."""
    return f'{STORE_SCHEMA}."{table}"' if table in _STORED else f'"{table}"'


def _app_lookup(index: str, values: list[str]) -> str:
    return f"({_list(values)})[{index} + 1]"


def _request_columns() -> dict[str, str]:
    """The columns every App Insights table shares, from a stored row's request key and app."""
    return {
        "TenantId": _literal(estate.WORKSPACE_CUSTOMER_ID),
        "Properties": "json_object('slot', slot, 'build', build, '_MS.ProcessedByMetricExtractors', 'True')",
        "OperationName": "op",
        "OperationId": "printf('%016x%016x', rk, hash(rk, 101))",
        "ParentId": "printf('%016x', hash(rk, 100))",
        "AppVersion": "build",
        "AppRoleName": "app",
        "AppRoleInstance": "app || '-' || slot || '-' || CAST(hash(rk, 9) % 3 AS VARCHAR)",
        "ClientType": "'PC'",
        "SDKVersion": "'azurewebsites:2.15.0'",
        "ItemCount": "1",
        "_ResourceId": "rid",
    }


def _view_columns(table: str) -> dict[str, str]:
    shared = _request_columns()
    if table == "AppRequests":
        return {
            **shared,
            "Id": "printf('%016x', hash(rk, 100))",
            "Source": "NULL",
            "Name": "op",
            "Url": "'https://' || app || CASE WHEN slot = 'production' OR routed THEN '' ELSE '-' || slot END "
            "|| '.azurewebsites.net' || replace(split_part(op, ' ', 2), '{id}', CAST(hash(rk, 7) % 100000 AS VARCHAR))",
            "PerformanceBucket": _PERFORMANCE_BUCKET.format(d="DurationMs"),
            "ParentId": "printf('%016x', hash(rk, 102))",
            "ResourceGUID": "guid",
            "Type": "'AppRequests'",
        }
    if table == "AppDependencies":
        return {
            **shared,
            "Id": "printf('%016x', dk)",
            "Target": "target",
            "DependencyType": "kind",
            "Name": "CASE kind WHEN 'PostgreSQL' THEN split_part(target, '.', 1) || ' | orders' "
            "WHEN 'Azure Key Vault' THEN 'GET /secrets/payments-api-key' "
            "WHEN 'Azure blob' THEN 'GET /images/' || CAST(dk % 5000 AS VARCHAR) || '.webp' "
            "ELSE 'POST /v1/charges' END",
            "Data": "CASE kind WHEN 'PostgreSQL' THEN 'SELECT id, status, total FROM orders WHERE customer_id = @p0' "
            "ELSE 'https://' || target || '/' END",
            "ResultCode": "CASE WHEN timed_out THEN '57014' WHEN kind = 'PostgreSQL' THEN '0' "
            "WHEN Success THEN '200' ELSE '503' END",
            "PerformanceBucket": _PERFORMANCE_BUCKET.format(d="DurationMs"),
            "Type": "'AppDependencies'",
        }
    return {
        **shared,
        "Message": "CASE WHEN Success THEN 'Request ' || op || ' completed with ' || ResultCode || ' in ' "
        "|| CAST(CAST(DurationMs AS BIGINT) AS VARCHAR) || ' ms' "
        "WHEN incident THEN 'Database call to psql-orders-prod timed out after 15000 ms; request ' "
        "|| printf('%016x%016x', rk, hash(rk, 101)) || ' failed' "
        "ELSE 'Request ' || op || ' failed with ' || ResultCode END",
        "SeverityLevel": "CASE WHEN Success THEN 1 WHEN ResultCode = '404' THEN 2 ELSE 3 END",
        "Type": "'AppTraces'",
    }


def _view_sql(table: str) -> str:
    stored = dict(_STORED[table])
    computed = _view_columns(table)
    columns = []
    for name, kind in TABLES[table]:
        expression = computed.get(name, name)
        if stored.get(expression) == kind:  # a stored column as it is: filters on it reach the scan
            columns.append(f'"{expression}" AS "{name}"')
        else:
            columns.append(f'CAST({expression} AS {kind}) AS "{name}"')
    apps = estate.WEB_APPS
    lookups = (
        f"{_app_lookup('app_idx', [app.name for app in apps])} AS app, "
        f"{_app_lookup('app_idx', [app.resource_id.lower() for app in apps])} AS rid, "
        f"{_app_lookup('app_idx', [_resource_guid(app.name) for app in apps])} AS guid"
    )
    return (
        f'CREATE OR REPLACE VIEW main."{table}" AS SELECT {", ".join(columns)} '
        f"FROM (SELECT s.*, {lookups} FROM {stored_table(table)} s)"
    )


def _names(connection: duckdb.DuckDBPyConnection, select: str) -> set[str]:
    """The names a catalog listing (`duckdb_tables()`, `duckdb_views()`) finds in this database's main schema."""
    where = " WHERE database_name = current_database() AND schema_name = 'main'"
    return {str(row[0]) for row in connection.execute(select + where).fetchall()}


def create_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the telemetry tables (empty) and the helper macros the generators use.

    A file of an older layout keeps its plain tables here (no view replaces them); the seeding sees
    its older version and discards them before writing anew.
    """
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {STORE_SCHEMA}")
    plain = _names(connection, "SELECT table_name FROM duckdb_tables()")
    for table, columns in TABLES.items():
        stored = _STORED.get(table, columns)
        body = ", ".join(f'"{name}" {kind}' for name, kind in stored)
        connection.execute(f"CREATE TABLE IF NOT EXISTS {stored_table(table)} ({body})")
        if table in _STORED and table not in plain:
            connection.execute(_view_sql(table))
    # A uniform number in [0, 1) from a hash: deterministic pseudo-randomness inside SQL.
    connection.execute(
        "CREATE OR REPLACE MACRO _tg_u(x, i) AS CAST(hash(hash(x, i)) >> 11 AS DOUBLE) / 9007199254740992.0"
    )
    # A roughly normal number (Box-Muller) for log-normal latencies.
    connection.execute(
        "CREATE OR REPLACE MACRO _tg_z(x, i) AS "
        "sqrt(-2 * ln(greatest(_tg_u(x, i), 1e-12))) * cos(2 * pi() * _tg_u(x, i + 1))"
    )
    # Daily and weekly rhythm, averaging about 1: quiet at 03:00 UTC, busy at 15:00, calmer weekends.
    connection.execute(
        "CREATE OR REPLACE MACRO _tg_rhythm(ts) AS "
        "(0.4 + 1.2 * (0.5 - 0.5 * cos(2 * pi() * ((hour(ts) + minute(ts) / 60.0) - 3) / 24))) "
        "* CASE WHEN dayofweek(ts) IN (0, 6) THEN 0.75 ELSE 1.1 END"
    )


# --------------------------------------------------------------------------------------------------
# SQL builders
# --------------------------------------------------------------------------------------------------


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_literal(value) for value in values) + "]::VARCHAR[]"


def _apps_values() -> str:
    rows = []
    for index, app in enumerate(estate.WEB_APPS):
        nonprod = [slot for slot in app.builds_by_slot if slot != "production"]
        rows.append(
            f"({index}, {_literal(app.name)}, {_literal(app.resource_id.lower())}, "
            f"{app.requests_per_minute}, "
            f"{_list(app.operations)}, {_list(app.dependencies)}, {_list(nonprod)}, "
            f"{_literal(str(_resource_guid(app.name)))})"
        )
    return "apps(app_idx, app, rid, rpm, ops, deps, nonprod, guid) AS (VALUES " + ", ".join(rows) + ")"


def _builds_values(builds_by_slot: Mapping[tuple[str, str], str]) -> str:
    rows = []
    for index, app in enumerate(estate.WEB_APPS):
        for slot, default_build in app.builds_by_slot.items():
            build = builds_by_slot.get((app.name, slot), default_build)
            profile = estate.BUILDS.get(build, UNKNOWN_BUILD)
            rows.append(f"({index}, {_literal(slot)}, {_literal(build)}, {profile.failure_rate}, {profile.latency_ms})")
    return "builds(app_idx, slot, build, fail, lat) AS (VALUES " + ", ".join(rows) + ")"


def _resource_guid(name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opsconsole/{name}"))


def _default_builds() -> dict[tuple[str, str], str]:
    return {(app.name, slot): build for app in estate.WEB_APPS for slot, build in app.builds_by_slot.items()}


_PERFORMANCE_BUCKET = (
    "CASE WHEN {d} < 250 THEN '<250ms' WHEN {d} < 500 THEN '250ms-500ms' WHEN {d} < 1000 THEN '500ms-1sec' "
    "WHEN {d} < 3000 THEN '1sec-3sec' WHEN {d} < 7000 THEN '3sec-7sec' WHEN {d} < 15000 THEN '7sec-15sec' "
    "WHEN {d} < 30000 THEN '15sec-30sec' ELSE '30sec-1min' END"
)


def _routes_values(routing: Mapping[tuple[str, str], float]) -> str:
    """Traffic routing as ranges of a uniform draw in [0, 100): production requests drawn into a slot's
    range are served by that slot (its build), as App Service's `rampUpRules` route them."""
    rows = ["(-1, 'production', 0.0, 0.0)"]  # keeps the VALUES list non-empty and typed
    for index, app in enumerate(estate.WEB_APPS):
        low = 0.0
        for slot in app.builds_by_slot:
            percent = min(max(float(routing.get((app.name, slot), 0.0)), 0.0), 100.0 - low)
            if slot == "production" or percent <= 0:
                continue
            rows.append(f"({index}, {_literal(slot)}, {low}, {low + percent})")
            low += percent
    return "routes(app_idx, slot, lo, hi) AS (VALUES " + ", ".join(rows) + ")"


def _requests_sql(
    bucket_s: int, builds: Mapping[tuple[str, str], str], routing: Mapping[tuple[str, str], float] | None = None
) -> str:
    """Requests for [$t0, $t1) in buckets of `bucket_s` seconds; `routing` sends that percent of each
    app's production requests to a slot."""
    incident = f"(s.app = {_literal(INCIDENT_APP)} AND s.t >= $inc0 AND s.t < $inc1 AND s.slot = 'production')"
    return f"""
INSERT INTO {stored_table("AppRequests")} BY NAME
WITH {_apps_values()}, {_builds_values(builds)}, {_routes_values(routing or {})},
buckets AS (
    SELECT a.*, g.range AS bucket FROM apps a, range($t0, $t1, INTERVAL {bucket_s} SECOND) g
),
counted AS (
    SELECT *, CAST(floor(rpm * $scale * {bucket_s} / 60.0 * _tg_rhythm(bucket)
        + _tg_u(epoch_us(bucket), app_idx)) AS INTEGER) AS n
    FROM buckets
),
expanded AS (
    SELECT *, hash(epoch_us(bucket), app_idx, k) AS rk
    FROM (SELECT *, unnest(range(n)) AS k FROM counted WHERE n > 0)
),
shaped AS (
    SELECT e.*, bucket + to_microseconds(CAST(_tg_u(rk, 1) * {bucket_s} * 1e6 AS BIGINT)) AS t,
        CASE WHEN _tg_u(rk, 2) < {PRODUCTION_SHARE} OR len(nonprod) = 0 THEN coalesce(r.slot, 'production')
             ELSE nonprod[1 + LEAST(len(nonprod) - 1, CAST(floor(
                 (_tg_u(rk, 2) - {PRODUCTION_SHARE}) / (1 - {PRODUCTION_SHARE}) * len(nonprod)) AS INTEGER))]
             END AS slot,
        (_tg_u(rk, 2) < {PRODUCTION_SHARE} OR len(nonprod) = 0) AND r.slot IS NOT NULL AS routed,
        ops[1 + CAST(floor(_tg_u(rk, 4) * len(ops)) AS INTEGER)] AS op
    FROM expanded e LEFT JOIN routes r
        ON r.app_idx = e.app_idx AND _tg_u(e.rk, 11) * 100 >= r.lo AND _tg_u(e.rk, 11) * 100 < r.hi
),
joined AS (
    SELECT s.*, b.build, b.fail, b.lat, {incident} AS incident
    FROM shaped s JOIN builds b ON b.app_idx = s.app_idx AND b.slot = s.slot
),
judged AS (
    SELECT *, _tg_u(rk, 5) >= CASE WHEN incident THEN {INCIDENT_FAILURE_RATE} ELSE fail END AS ok
    FROM joined
),
timed AS (
    SELECT *, round(lat * exp(0.55 * _tg_z(rk, 6))
        * CASE WHEN op LIKE '%/health' THEN 0.1 ELSE 1 END
        * CASE WHEN incident THEN {INCIDENT_LATENCY_FACTOR} ELSE 1 END
        * CASE WHEN ok THEN 1 ELSE 1.8 END, 3) AS duration
    FROM judged
)
SELECT
    t AS TimeGenerated,
    rk,
    app_idx,
    slot,
    build,
    op,
    ok AS Success,
    CASE WHEN ok THEN CASE WHEN op LIKE 'POST%' THEN '201' ELSE '200' END
         WHEN incident THEN CASE WHEN _tg_u(rk, 8) < 0.7 THEN '504' ELSE '500' END
         WHEN _tg_u(rk, 8) < 0.6 THEN '500' WHEN _tg_u(rk, 8) < 0.8 THEN '503'
         WHEN _tg_u(rk, 8) < 0.9 THEN '502' ELSE '404' END AS ResultCode,
    duration AS DurationMs,
    routed
FROM timed
"""


_DEPENDENCY_KIND = (
    "CASE WHEN target LIKE '%.postgres.database.azure.com' THEN 'PostgreSQL' "
    "WHEN target LIKE '%.vault.azure.net' THEN 'Azure Key Vault' "
    "WHEN target LIKE '%.blob.core.windows.net' THEN 'Azure blob' ELSE 'HTTP' END"
)


def _incident_flag(alias: str) -> str:
    return (
        f"({alias}.AppRoleName = {_literal(INCIDENT_APP)} AND {alias}.TimeGenerated >= $inc0 "
        f"AND {alias}.TimeGenerated < $inc1 AND json_extract_string({alias}.Properties, '$.slot') = "
        f"'production')"
    )


def _window_requests() -> str:
    apps = ", ".join(f"({_literal(app.name)}, {_list(app.dependencies)})" for app in estate.WEB_APPS)
    return (
        f"deps_by_app(app, deps) AS (VALUES {apps}),\n"
        "req AS (SELECT q.*, hash(q.OperationId) AS rk, d.deps, "
        f"{_incident_flag('q')} AS incident "
        "FROM AppRequests q JOIN deps_by_app d ON d.app = q.AppRoleName "
        "WHERE q.TimeGenerated >= $t0 AND q.TimeGenerated < $t1)"
    )


def _stored_requests() -> str:
    """The window's stored requests with what their dependencies and traces are drawn from: `rk` is
    the hash of the request's operation id (the request's own key is `req_rk`)."""
    apps = ", ".join(f"({index}, {_list(app.dependencies)})" for index, app in enumerate(estate.WEB_APPS))
    incident_idx = next((i for i, app in enumerate(estate.WEB_APPS) if app.name == INCIDENT_APP), -1)
    return (
        f"deps_by_app(app_idx, deps) AS (VALUES {apps}),\n"
        "req AS (SELECT q.* EXCLUDE (rk), q.rk AS req_rk, "
        "hash(printf('%016x%016x', q.rk, hash(q.rk, 101))) AS rk, d.deps, "
        f"(q.app_idx = {incident_idx} AND q.TimeGenerated >= $inc0 AND q.TimeGenerated < $inc1 "
        "AND q.slot = 'production') AS incident "
        f"FROM {stored_table('AppRequests')} q JOIN deps_by_app d ON d.app_idx = q.app_idx "
        "WHERE q.TimeGenerated >= $t0 AND q.TimeGenerated < $t1)"
    )


def _dependencies_sql() -> str:
    return f"""
INSERT INTO {stored_table("AppDependencies")} BY NAME
WITH {_stored_requests()},
expanded AS (
    SELECT *, unnest(range(CAST(floor(_tg_u(rk, 20) * 2.2) AS INTEGER))) AS k FROM req
),
targeted AS (
    SELECT *, deps[1 + CAST(hash(rk, k) % len(deps) AS INTEGER)] AS target, hash(rk, k, 21) AS dk
    FROM expanded
),
typed AS (
    SELECT *, {_DEPENDENCY_KIND} AS kind,
        incident AND target LIKE 'psql-%' AS timed_out
    FROM targeted
),
judged AS (
    SELECT *, NOT timed_out AND _tg_u(dk, 1) >= 0.002 AS ok,
        CASE WHEN timed_out THEN round(15000 + 15000 * _tg_u(dk, 2), 3)
             ELSE round(CASE kind WHEN 'PostgreSQL' THEN 8 WHEN 'Azure Key Vault' THEN 12
                          WHEN 'Azure blob' THEN 20 ELSE 90 END * exp(0.6 * _tg_z(dk, 3)), 3) END AS duration
    FROM typed
)
SELECT
    TimeGenerated + to_microseconds(CAST(_tg_u(dk, 5) * DurationMs * 300 AS BIGINT)) AS TimeGenerated,
    dk,
    req_rk AS rk,
    app_idx, slot, build, op, target, kind,
    ok AS Success,
    timed_out,
    duration AS DurationMs
FROM judged
"""


def _exceptions_sql() -> str:
    return f"""
INSERT INTO AppExceptions BY NAME
WITH {_window_requests()},
failed AS (
    SELECT *,
        CASE WHEN incident THEN 'Npgsql.NpgsqlException'
             WHEN AppVersion = '2026.11.5-rc1' AND _tg_u(rk, 30) < 0.8 THEN 'System.NullReferenceException'
             WHEN _tg_u(rk, 30) < 0.5 THEN 'System.Net.Http.HttpRequestException'
             ELSE 'System.TimeoutException' END AS etype
    FROM req WHERE NOT Success AND ResultCode <> '404'
),
described AS (
    SELECT *,
        CASE etype
            WHEN 'Npgsql.NpgsqlException' THEN 'Exception while reading from stream'
            WHEN 'System.NullReferenceException' THEN 'Object reference not set to an instance of an object.'
            WHEN 'System.Net.Http.HttpRequestException'
                THEN 'Response status code does not indicate success: 503 (Service Unavailable).'
            ELSE 'The operation has timed out.' END AS outer_message,
        CASE etype
            WHEN 'Npgsql.NpgsqlException' THEN 'Contoso.Orders.OrderRepository.GetOpenOrdersAsync'
            WHEN 'System.NullReferenceException' THEN 'Contoso.Checkout.CartService.ApplyPromotions'
            WHEN 'System.Net.Http.HttpRequestException' THEN 'Contoso.Payments.PaymentClient.ChargeAsync'
            ELSE 'Contoso.Shared.Http.ResilientClient.SendAsync' END AS method
    FROM failed
)
SELECT
    TenantId,
    TimeGenerated + to_microseconds(CAST(DurationMs * 900 AS BIGINT)) AS TimeGenerated,
    etype || ' at ' || method AS ProblemId,
    'UserCode' AS HandledAt,
    etype AS ExceptionType,
    split_part(method, '.', 1) || '.' || split_part(method, '.', 2)
        || ', Version=' || AppVersion || ', Culture=neutral, PublicKeyToken=null' AS Assembly,
    method AS Method,
    etype AS OuterType,
    outer_message AS OuterMessage,
    CASE WHEN etype = 'Npgsql.NpgsqlException' THEN 'System.TimeoutException' ELSE etype END AS InnermostType,
    CASE WHEN etype = 'Npgsql.NpgsqlException' THEN 'Timeout during reading attempt'
         ELSE outer_message END AS InnermostMessage,
    3 AS SeverityLevel,
    json_array(json_object('type', etype, 'message', outer_message, 'method', method,
        'parsedStack', json_array(json_object('level', 0, 'method', method, 'line', 42)))) AS Details,
    Properties, OperationName, OperationId, Id AS ParentId,
    AppVersion, AppRoleName, AppRoleInstance, ClientType, SDKVersion,
    1 AS ItemCount, _ResourceId, 'AppExceptions' AS Type
FROM described
"""


def _traces_sql() -> str:
    return f"""
INSERT INTO {stored_table("AppTraces")} BY NAME
WITH {_stored_requests()}
SELECT
    TimeGenerated + to_microseconds(CAST(DurationMs * 500 AS BIGINT)) AS TimeGenerated,
    req_rk AS rk,
    app_idx, slot, build, op, Success, ResultCode, DurationMs, incident
FROM req
WHERE NOT Success OR _tg_u(rk, 40) < 0.45
"""


def _heartbeat_sql() -> str:
    rows = []
    for index, (computer, subscription, group) in enumerate(estate.HEARTBEAT_COMPUTERS):
        windows = "sandbox" in computer
        resource_id = (
            f"/subscriptions/{subscription}/resourceGroups/{group}"
            f"/providers/Microsoft.Compute/virtualMachines/{computer}"
        )
        rows.append(
            f"({index}, {_literal(computer)}, {_literal(subscription)}, {_literal(group)}, "
            f"{_literal(resource_id)}, {_literal('Windows' if windows else 'Linux')}, "
            f"{_literal('Windows Server 2022 Datacenter' if windows else 'Ubuntu')}, "
            f"{_literal('10' if windows else '22')}, {_literal('0' if windows else '04')}, "
            f"{_literal(str(_resource_guid(computer)))})"
        )
    return f"""
INSERT INTO Heartbeat BY NAME
WITH computers(idx, computer, sub, rg, rid, os, osname, major, minor, guid) AS (VALUES {", ".join(rows)})
SELECT
    {_literal(estate.WORKSPACE_CUSTOMER_ID)} AS TenantId,
    g.range + to_microseconds(CAST(_tg_u(epoch_us(g.range), idx) * 2e6 AS BIGINT)) AS TimeGenerated,
    computer AS Computer, guid AS SourceComputerId, 'Azure Monitor Agent' AS Category,
    os AS OSType, osname AS OSName, major AS OSMajorVersion, minor AS OSMinorVersion,
    '1.33.1' AS Version, 'Azure' AS ComputerEnvironment, '"heartbeat"' AS Solutions,
    rg AS ResourceGroup, sub AS SubscriptionId, 'Microsoft.Compute' AS ResourceProvider,
    computer AS Resource, 'virtualMachines' AS ResourceType, rid AS ResourceId,
    lower(rid) AS _ResourceId, 'Heartbeat' AS Type
FROM computers, range(date_trunc('minute', $t0 + INTERVAL 59 SECOND), $t1, INTERVAL 1 MINUTE) g
WHERE computer <> {_literal(SILENT_COMPUTER)} OR g.range < $silent
"""


def _diagnostics_sql() -> str:
    rows = []
    for index, (name, group, provider, kind, category, operations, rate) in enumerate(_DATA_RESOURCES):
        resource_id = (
            f"/SUBSCRIPTIONS/{estate.PROD_SUBSCRIPTION.upper()}/RESOURCEGROUPS/{group.upper()}"
            f"/PROVIDERS/{provider}/{kind}/{name.upper()}"
        )
        rows.append(
            f"({index}, {_literal(name)}, {_literal(group)}, {_literal(provider)}, {_literal(kind)}, "
            f"{_literal(category)}, {_list(operations)}, {rate}, {_literal(resource_id)})"
        )
    return f"""
INSERT INTO AzureDiagnostics BY NAME
WITH resources(idx, name, rg, provider, kind, category, ops, rate, rid) AS (VALUES {", ".join(rows)}),
buckets AS (
    SELECT r.*, g.range AS bucket,
        g.range >= $inc0 AND g.range < $inc1 AND r.name LIKE 'psql-%' AS incident
    FROM resources r, range($t0, $t1, INTERVAL 60 SECOND) g
),
expanded AS (
    SELECT *, hash(epoch_us(bucket), idx, k, 7) AS rk
    FROM (SELECT *, unnest(range(CAST(floor(rate * $scale * _tg_rhythm(bucket)
            * CASE WHEN incident THEN 4 ELSE 1 END + _tg_u(epoch_us(bucket), idx + 50)) AS INTEGER))) AS k
          FROM buckets)
),
shaped AS (
    SELECT *, ops[1 + CAST(floor(_tg_u(rk, 1) * len(ops)) AS INTEGER)] AS op,
        CASE WHEN incident AND _tg_u(rk, 2) < 0.7 THEN 'timeout'
             WHEN name LIKE 'kv-%' AND _tg_u(rk, 2) < 0.01 THEN 'forbidden'
             WHEN _tg_u(rk, 2) < 0.004 THEN 'error' ELSE 'ok' END AS outcome
    FROM expanded
)
SELECT
    {_literal(estate.WORKSPACE_CUSTOMER_ID)} AS TenantId,
    bucket + to_microseconds(CAST(_tg_u(rk, 3) * 60e6 AS BIGINT)) AS TimeGenerated,
    rid AS ResourceId, category AS Category, op AS OperationName,
    CASE outcome WHEN 'ok' THEN 'Success' WHEN 'forbidden' THEN 'Forbidden' WHEN 'timeout' THEN 'Failure'
                 ELSE 'Failure' END AS ResultType,
    CASE outcome WHEN 'ok' THEN 'OK' WHEN 'forbidden' THEN 'Forbidden' WHEN 'timeout' THEN 'Timeout'
                 ELSE 'InternalServerError' END AS ResultSignature,
    CASE outcome WHEN 'forbidden' THEN 'Caller is not authorized to perform action on resource.'
                 ELSE NULL END AS ResultDescription,
    CAST(CASE WHEN outcome = 'timeout' THEN 15000 + 15000 * _tg_u(rk, 4)
              ELSE 3 + 40 * _tg_u(rk, 4) END AS BIGINT) AS DurationMs,
    printf('%08x-%04x-4%03x-a%03x-%012x', hash(rk, 5) % 4294967296, hash(rk, 6) % 65536,
        hash(rk, 7) % 4096, hash(rk, 8) % 4096, hash(rk, 9) % 281474976710656) AS CorrelationId,
    CASE WHEN category <> 'PostgreSQLLogs' THEN NULL
         WHEN outcome = 'timeout' THEN 'ERROR:  canceling statement due to statement timeout'
         WHEN outcome = 'error' THEN 'ERROR:  deadlock detected'
         WHEN _tg_u(rk, 10) < 0.5 THEN 'LOG:  checkpoint complete: wrote 412 buffers (0.3%)'
         ELSE 'LOG:  connection authorized: user=orders_app database=orders' END AS Message,
    CASE WHEN category <> 'PostgreSQLLogs' THEN NULL WHEN outcome = 'ok' THEN 'LOG'
         ELSE 'ERROR' END AS errorLevel_s,
    CASE WHEN category <> 'AuditEvent' THEN NULL WHEN outcome = 'forbidden' THEN 'contractor@contoso.com'
         ELSE NULL END AS identity_claim_upn_s,
    upper(name) AS Resource, upper(rg) AS ResourceGroup, provider AS ResourceProvider,
    kind AS ResourceType, {_literal(estate.PROD_SUBSCRIPTION)} AS SubscriptionId,
    lower(rid) AS _ResourceId, 'AzureDiagnostics' AS Type
FROM shaped
"""


_ACTIVITY_CATALOG = (
    # (operation, category, resource kind, caller, weight)
    ("MICROSOFT.WEB/SITES/CONFIG/WRITE", "Administrative", "site", "deploy-pipeline@contoso.com", 3),
    ("MICROSOFT.WEB/SITES/SLOTS/WRITE", "Administrative", "site", "deploy-pipeline@contoso.com", 2),
    ("MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE", "Administrative", "group", "deploy-pipeline@contoso.com", 3),
    ("MICROSOFT.KEYVAULT/VAULTS/SECRETS/WRITE", "Administrative", "vault", "alice@contoso.com", 1),
    ("MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", "Administrative", "storage", "bob@contoso.com", 2),
    ("MICROSOFT.AUTHORIZATION/POLICIES/AUDIT/ACTION", "Policy", "site", "Azure Policy", 4),
    (
        "MICROSOFT.DBFORPOSTGRESQL/FLEXIBLESERVERS/CONFIGURATIONS/WRITE",
        "Administrative",
        "postgres",
        "dba@contoso.com",
        1,
    ),
)


def _activity_sql() -> str:
    catalog_rows = []
    cumulative = 0
    total = sum(item[4] for item in _ACTIVITY_CATALOG)
    for operation, category, kind, caller, weight in _ACTIVITY_CATALOG:
        low = cumulative / total
        cumulative += weight
        catalog_rows.append(
            f"({low}, {cumulative / total}, {_literal(operation)}, {_literal(category)}, {_literal(kind)}, "
            f"{_literal(caller)})"
        )
    sites = [app.resource_id for app in estate.WEB_APPS]
    data_group = f"/subscriptions/{estate.PROD_SUBSCRIPTION}/resourceGroups/rg-prod-data/providers"
    vault = f"{data_group}/Microsoft.KeyVault/vaults/kv-prod-shared"
    storage = f"{data_group}/Microsoft.Storage/storageAccounts/stcatalogprod"
    postgres = (
        f"/subscriptions/{estate.PROD_SUBSCRIPTION}/resourceGroups/rg-prod-data"
        "/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-orders-prod"
    )
    groups = [f"/subscriptions/{group.subscription_id}/resourceGroups/{group.name}" for group in estate.RESOURCE_GROUPS]
    return f"""
INSERT INTO AzureActivity BY NAME
WITH catalog(lo, hi, op, category, kind, caller) AS (VALUES {", ".join(catalog_rows)}),
events AS (
    SELECT g.range + to_microseconds(CAST(_tg_u(epoch_us(g.range), 61) * 180e6 AS BIGINT)) AS t,
        hash(epoch_us(g.range), 60) AS rk
    FROM range($t0, $t1, INTERVAL 180 SECOND) g
),
picked AS (
    SELECT e.*, c.*,
        CASE c.kind WHEN 'site' THEN ({_list(sites)})[1 + CAST(rk % {len(sites)} AS INTEGER)]
                    WHEN 'vault' THEN {_literal(vault)} WHEN 'storage' THEN {_literal(storage)}
                    WHEN 'postgres' THEN {_literal(postgres)}
                    ELSE ({_list(groups)})[1 + CAST(rk % {len(groups)} AS INTEGER)] END AS resource,
        CASE WHEN _tg_u(rk, 2) < 0.03 AND c.category = 'Administrative' THEN 'Failure' ELSE 'Success' END
            AS status
    FROM events e JOIN catalog c ON _tg_u(e.rk, 1) >= c.lo AND _tg_u(e.rk, 1) < c.hi
)
SELECT
    {_literal(estate.TENANT_ID)} AS TenantId, t AS TimeGenerated, op AS OperationNameValue,
    op AS OperationName,
    CASE WHEN status = 'Failure' THEN 'Error' WHEN category = 'Policy' THEN 'Warning' ELSE 'Informational' END
        AS Level,
    status AS ActivityStatusValue,
    CASE WHEN status = 'Failure' THEN 'Conflict' WHEN category = 'Administrative' THEN 'OK' ELSE '' END
        AS ActivitySubstatusValue,
    caller AS Caller, category AS CategoryValue,
    printf('%08x-%04x-4%03x-b%03x-%012x', hash(rk, 5) % 4294967296, hash(rk, 6) % 65536, hash(rk, 7) % 4096,
        hash(rk, 8) % 4096, hash(rk, 9) % 281474976710656) AS CorrelationId,
    split_part(resource, '/', 5) AS ResourceGroup,
    upper(split_part(resource, '/', 7)) AS ResourceProviderValue,
    split_part(resource, '/', 3) AS SubscriptionId,
    json_object('statusCode', CASE WHEN status = 'Failure' THEN 'Conflict' ELSE 'OK' END,
                'entity', resource) AS Properties_d,
    json_object('action', op, 'scope', resource) AS Authorization_d,
    lower(resource) AS _ResourceId, 'AzureActivity' AS Type
FROM picked
"""


def activity_row(
    at: dt.datetime,
    operation: str,
    status: str,
    caller: str,
    resource: str,
    category: str = "Administrative",
    substatus: str = "",
    level: str = "Informational",
    status_code: str = "OK",
) -> tuple[object, ...]:
    """One AzureActivity row (its columns in table order) for an operation on a resource at `at` (naive UTC)."""
    parts = resource.split("/")
    correlation = str(_resource_guid(f"{operation}{at.isoformat()}{status}"))
    return (
        estate.TENANT_ID,
        at,
        operation,
        operation,
        level,
        status,
        substatus,
        caller,
        category,
        correlation,
        parts[4],
        parts[6].upper(),
        parts[2],
        f'{{"statusCode":"{status_code}","entity":"{resource}"}}',
        f'{{"action":"{operation}","scope":"{resource}"}}',
        resource.lower(),
        "AzureActivity",
    )


def alert_activation_row(rule_id: str, at: dt.datetime) -> tuple[object, ...]:
    """The activity log's record of an alert rule firing (category Alert, the rule as the resource)."""
    return activity_row(
        naive_utc(at),
        "MICROSOFT.INSIGHTS/ALERTRULES/ACTIVATED/ACTION",
        "Activated",
        "Microsoft.Insights/alertRules",
        rule_id,
        category="Alert",
        level="Warning",
    )


def record_activity(engine: KqlEngine, rows: list[tuple[object, ...]]) -> None:
    """Append AzureActivity rows as they happen (an alert a rule fired while the local Azure runs)."""
    columns = [name for name, _ in TABLES["AzureActivity"]]
    quoted = ", ".join(f'"{name}"' for name in columns)
    cursor = engine.connection.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO AzureActivity ({quoted}) VALUES ({', '.join('?' for _ in columns)})", [list(r) for r in rows]
        )
    finally:
        cursor.close()


def _activity_story_rows(now: dt.datetime) -> list[tuple[object, ...]]:
    """Hand-placed activity: slot swaps, a restart during the incident, authorization failures."""
    rows: list[tuple[object, ...]] = []
    start = naive_utc(now) - dt.timedelta(days=DAYS)
    incident = incident_start(now)
    checkout = incident_app()

    def add(at: dt.datetime, operation: str, status: str, caller: str, resource: str, **more: str) -> None:
        if start <= at < naive_utc(now):
            rows.append(activity_row(at, operation, status, caller, resource, **more))

    for day in range(DAYS + 1):
        date = start.replace(hour=9, minute=30, second=0, microsecond=0) + dt.timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for app in estate.WEB_APPS[:2]:
            slot = f"{app.resource_id}/slots/staging"
            add(
                date,
                "MICROSOFT.WEB/SITES/SLOTS/SLOTSSWAP/ACTION",
                "Started",
                "deploy-pipeline@contoso.com",
                slot,
            )
            add(
                date + dt.timedelta(seconds=48),
                "MICROSOFT.WEB/SITES/SLOTS/SLOTSSWAP/ACTION",
                "Succeeded",
                "deploy-pipeline@contoso.com",
                slot,
            )
    add(
        incident + INCIDENT_RESTART_AFTER,
        "MICROSOFT.WEB/SITES/RESTART/ACTION",
        "Started",
        "oncall@contoso.com",
        checkout.resource_id,
    )
    add(
        incident + INCIDENT_RESTART_AFTER + dt.timedelta(minutes=1),
        "MICROSOFT.WEB/SITES/RESTART/ACTION",
        "Succeeded",
        "oncall@contoso.com",
        checkout.resource_id,
    )
    # Each alert the story fires is recorded in the activity log (category Alert), the rule as its resource.
    for activation in alert_activations(now):
        if start <= activation.fired < naive_utc(now):
            rows.append(alert_activation_row(alert_rule_id(activation.rule), activation.fired))
    vault = (
        f"/subscriptions/{estate.PROD_SUBSCRIPTION}/resourceGroups/rg-prod-data"
        "/providers/Microsoft.KeyVault/vaults/kv-prod-shared"
    )
    burst = naive_utc(now) - dt.timedelta(hours=26)
    for minute in range(0, 30, 2):
        operation = (
            "MICROSOFT.KEYVAULT/VAULTS/ACCESSPOLICIES/WRITE" if minute % 4 else "MICROSOFT.KEYVAULT/VAULTS/WRITE"
        )
        add(
            burst + dt.timedelta(minutes=minute),
            operation,
            "Failed",
            "contractor@contoso.com",
            vault,
            substatus="Forbidden",
            level="Error",
            status_code="Forbidden",
        )
    return rows


# --------------------------------------------------------------------------------------------------
# Seeding and live generation
# --------------------------------------------------------------------------------------------------


def _backup_job_rows(seed_now: dt.datetime, since: dt.datetime | None, until: dt.datetime) -> list[dict[str, object]]:
    """Nightly backup jobs of the Recovery Services vault that ended in [`since`, `until`), as its
    diagnostic settings send them (the failed and warned jobs are the story's, `story.py`, numbered
    from the seed's last night as the vault's own jobs are). `since=None` is the seed: the week before."""
    last_night = last_backup_night(seed_now)
    first = last_night - dt.timedelta(days=DAYS - 1)
    if since is not None:
        day_before = naive_utc(since) - dt.timedelta(days=1)
        first = max(first, day_before.replace(hour=1, minute=30, second=0, microsecond=0))
    end = naive_utc(until)
    vault = estate.RECOVERY_VAULT_RESOURCE_ID.upper()
    rows: list[dict[str, object]] = []
    for day in range((end - first).days + 1):
        start_of_run = first + dt.timedelta(days=day)
        night = (last_night - start_of_run).days
        for backup in BACKUP_ITEMS:
            item, kind, offset, minutes = backup.name, backup.kind, backup.offset_minutes, backup.duration_minutes
            status, code = backup_outcome(backup, night)
            message = f"Backup of {item} completed."
            if status == "Failed":
                reason = FAILED_BACKUP_REASON if code == FAILED_BACKUP_ERROR else "see the job's details in the vault."
                message = f"Backup of {item} failed: {code} - {reason}"
            elif status == "CompletedWithWarnings":
                message = f"Backup of {item} completed with warnings: 2 files skipped."
            started = start_of_run + dt.timedelta(minutes=offset)
            ended = started + dt.timedelta(minutes=minutes)
            if ended >= end or (since is not None and ended < naive_utc(since)):
                continue
            rows.append(
                {
                    "TenantId": estate.WORKSPACE_CUSTOMER_ID,
                    "TimeGenerated": ended,
                    "ResourceId": vault,
                    "Category": "AddonAzureBackupJobs",
                    "OperationName": "Job",
                    "ResultType": status,
                    "ResultSignature": "Backup",
                    "ResultDescription": f"{kind}:{item}",
                    "DurationMs": (minutes * 60 + (3 if status == "Failed" else 0)) * 1000,
                    "CorrelationId": _resource_guid(f"{item}-{started.isoformat()}"),
                    "Message": message,
                    "Resource": estate.RECOVERY_VAULT_NAME.upper(),
                    "ResourceGroup": estate.RECOVERY_VAULT_RESOURCE_GROUP.upper(),
                    "ResourceProvider": "MICROSOFT.RECOVERYSERVICES",
                    "ResourceType": "VAULTS",
                    "SubscriptionId": estate.PROD_SUBSCRIPTION,
                    "_ResourceId": vault.lower(),
                    "Type": "AzureDiagnostics",
                }
            )
    return rows


def _window_parameters(t0: dt.datetime, t1: dt.datetime, seed_now: dt.datetime, scale: float) -> dict[str, object]:
    incident = incident_start(seed_now)
    return {
        "t0": t0,
        "t1": t1,
        "scale": scale,
        "inc0": incident,
        "inc1": incident + dt.timedelta(minutes=INCIDENT_MINUTES),
        "silent": naive_utc(seed_now) - SILENT_FOR,
    }


def _run(cursor: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, object]) -> None:
    used = {name: value for name, value in parameters.items() if f"${name}" in sql}
    cursor.execute(sql, used)


# Tables whose rows are drawn from the same window's requests, so written after them.
_FROM_REQUESTS = frozenset({"AppDependencies", "AppExceptions", "AppTraces"})


def _window_statements(
    bucket_s: int, builds: Mapping[tuple[str, str], str], routing: Mapping[tuple[str, str], float] | None = None
) -> list[tuple[str, str]]:
    """(table, INSERT statement) for one window, requests first."""
    return [
        ("AppRequests", _requests_sql(bucket_s, builds, routing)),
        ("AppDependencies", _dependencies_sql()),
        ("AppExceptions", _exceptions_sql()),
        ("AppTraces", _traces_sql()),
        ("Heartbeat", _heartbeat_sql()),
        ("AzureDiagnostics", _diagnostics_sql()),
    ]


def _insert_window(
    cursor: duckdb.DuckDBPyConnection,
    parameters: dict[str, object],
    bucket_s: int,
    builds: Mapping[tuple[str, str], str],
    routing: Mapping[tuple[str, str], float] | None = None,
) -> None:
    for _, sql in _window_statements(bucket_s, builds, routing):
        _run(cursor, sql, parameters)


_META_SCHEMA = "opsconsole_meta"
TELEMETRY_VERSION = "4"
# Newest first: the last hour is there within a moment, then the rest of the last day, then the
# older days in one window per worker, so a query about the recent past is complete long before the
# whole week is. Few large statements are much cheaper than many small ones: a statement that
# appends less than a row group leaves the rest in the write-ahead log, and DuckDB then checkpoints
# (re-compressing) again and again while the seed runs.
_FIRST_WINDOWS = (dt.timedelta(hours=1), dt.timedelta(days=1))


def _story_rows(
    cursor: duckdb.DuckDBPyConnection, now: dt.datetime, start: dt.datetime, end: dt.datetime, scale: float
) -> None:
    """The activity log and backup jobs: small, and written first so they are never the missing part."""
    _run(cursor, _activity_sql(), _window_parameters(start, end, now, scale))
    story = _activity_story_rows(now)
    if story:
        columns = [name for name, _ in TABLES["AzureActivity"]]
        placeholders = ", ".join("?" for _ in columns)
        quoted = ", ".join(f'"{name}"' for name in columns)
        cursor.executemany(f"INSERT INTO AzureActivity ({quoted}) VALUES ({placeholders})", story)
    _insert_backup_rows(cursor, now, None, end)


def _insert_backup_rows(
    cursor: duckdb.DuckDBPyConnection, seed_now: dt.datetime, since: dt.datetime | None, until: dt.datetime
) -> None:
    """Write the vault's backup jobs that ended in [`since`, `until`) (see `_backup_job_rows`)."""
    backups = _backup_job_rows(seed_now, since, until)
    if not backups:
        return
    columns = list(backups[0])
    quoted = ", ".join(f'"{name}"' for name in columns)
    cursor.executemany(
        f"INSERT INTO AzureDiagnostics ({quoted}) VALUES ({', '.join('?' for _ in columns)})",
        [list(row.values()) for row in backups],
    )


def _windows(start: dt.datetime, end: dt.datetime, parts: int = 1) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut newest first: the last hour, the rest of the last day, then what is older in
    one window of whole hours per worker (`parts`), sized so that the workers finish together."""
    cuts = [end]
    for size in _FIRST_WINDOWS:
        cuts.append(max(end - size, start))
    hour = dt.timedelta(hours=1)
    loads = [0.0] * max(1, parts)
    for index, (newer, older) in enumerate(itertools.pairwise(cuts)):
        loads[index % len(loads)] += (newer - older) / hour
    target = (sum(loads) + (cuts[-1] - start) / hour) / len(loads)
    # The least loaded worker is free first and takes the next (newer) window.
    hours = [round(target - load) for load in sorted(loads) if round(target - load) > 0] or [1]
    while cuts[-1] > start:
        step = hours.pop(0) if len(hours) > 1 else hours[0]
        cuts.append(max(cuts[-1] - step * hour, start))
    return [(t0, t1) for t1, t0 in itertools.pairwise(cuts) if t0 < t1]


class TelemetrySeeding:
    """One seeding of an engine's telemetry: the thread that writes it and the way to stop it.

    While it runs, `engine.seeding` is true and `engine.complete_from` says from when on the data
    is already complete, so a query about the recent past need not wait for the whole week.
    """

    def __init__(self, engine: KqlEngine, now: dt.datetime, *, scale: float = 1.0) -> None:
        self.engine = engine
        self.now = now
        self.scale = scale
        self._stop = threading.Event()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Seed in a background thread."""
        create_tables(self.engine.connection)
        self.engine.refresh_schema()
        self.engine.seeding, self.engine.seed_progress = True, 0.0
        self._thread = threading.Thread(target=self.run, name="telemetry-seed", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Interrupt the seed if it is still running, and wait for its thread."""
        self._stop.set()
        with self._lock:
            for cursor in self._cursors:
                cursor.interrupt()
        self.join(timeout)

    def run(self, progress: Callable[[float], None] | None = None) -> dt.datetime:
        """Write seven days of telemetry ending at `now` (floored to the minute); return where it ends.

        Windows are written newest first by one worker per core (one statement keeps about one core
        busy), each table by one worker at a time, and `complete_from` moves back as each run of
        newest windows is done.
        """
        engine = self.engine
        end = naive_utc(self.now).replace(second=0, microsecond=0)
        start = end - dt.timedelta(days=DAYS)
        engine.seeding, engine.seed_progress, engine.complete_from = True, 0.0, end
        workers = max(1, min(os.cpu_count() or 1, 4))
        windows = _windows(start, end, workers)
        statements = _window_statements(60, _default_builds())
        # One task per window and table, newest window first. A table is written by one worker at a
        # time: DuckDB then writes its rows straight to compressed row groups, where concurrent
        # appends to one table would go through the write-ahead log and repeated checkpoints.
        pending = [(index, table, sql) for index in range(len(windows)) for table, sql in statements]
        left = {index: len(statements) for index in range(len(windows))}
        busy: set[str] = set()
        requests_done: set[int] = set()
        done: set[int] = set()
        failures: list[BaseException] = []
        total = (end - start).total_seconds()
        turn = threading.Condition(self._lock)

        def next_task() -> tuple[int, str, str] | None:
            """The first task whose table is free and whose requests are written (under the lock)."""
            while not self._stop.is_set() and pending and not failures:
                for position, (index, table, sql) in enumerate(pending):
                    if table not in busy and (table not in _FROM_REQUESTS or index in requests_done):
                        busy.add(table)
                        del pending[position]
                        return index, table, sql
                turn.wait(0.1)
            return None

        def worker(cursor: duckdb.DuckDBPyConnection) -> None:
            while True:
                with turn:
                    task = next_task()
                if task is None:
                    return
                index, table, sql = task
                t0, t1 = windows[index]
                try:
                    _run(cursor, sql, _window_parameters(t0, t1, self.now, self.scale))
                except BaseException as error:
                    with turn:
                        failures.append(error)
                        turn.notify_all()
                    return
                with turn:
                    busy.discard(table)
                    if table == "AppRequests":
                        requests_done.add(index)
                    left[index] -= 1
                    finished = left[index] == 0
                    if finished:
                        done.add(index)
                        newest = 0
                        while newest in done:
                            newest += 1
                        engine.complete_from = windows[newest - 1][0] if newest else end
                        engine.seed_progress = (end - engine.complete_from).total_seconds() / total
                    turn.notify_all()
                if progress is not None and finished:
                    progress(engine.seed_progress)

        cursors = [engine.connection.cursor() for _ in range(workers)]
        with self._lock:
            self._cursors = cursors
        try:
            create_tables(cursors[0])
            engine.refresh_schema()
            _story_rows(cursors[0], self.now, start, end, self.scale)
            threads = [threading.Thread(target=worker, args=(cursor,), daemon=True) for cursor in cursors]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures and not self._stop.is_set():
                raise failures[0]
            if self._stop.is_set():
                return end
            meta = {"version": TELEMETRY_VERSION, "scale": repr(self.scale), "seeded_until": end.isoformat()}
            _write_meta(cursors[0], {**meta, "seed_now": naive_utc(self.now).isoformat()})
            engine.seed_progress = 1.0
            if progress is not None:
                progress(1.0)
        except duckdb.InterruptException:
            if not self._stop.is_set():
                raise
        finally:
            with self._lock:
                self._cursors = []
            for cursor in cursors:
                cursor.close()
            engine.seeding = False
        return end


def seed_telemetry(
    engine: KqlEngine,
    now: dt.datetime,
    *,
    scale: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> dt.datetime:
    """Write seven days of telemetry ending at `now` in this thread; return where it ends."""
    return TelemetrySeeding(engine, now, scale=scale).run(progress)


@dataclass(frozen=True)
class KeptTelemetry:
    """Telemetry a previous run left in the engine's file: when its story was seeded, where it ends."""

    seed_now: dt.datetime
    seeded_until: dt.datetime


def kept_telemetry(engine: KqlEngine, now: dt.datetime, scale: float) -> KeptTelemetry | None:
    """What the engine's file already holds, if it is complete, of this version and scale, and recent
    enough that only a gap needs writing; otherwise None (and the caller seeds afresh)."""
    cursor = engine.connection.cursor()
    try:
        meta = dict(cursor.execute(f"SELECT key, value FROM {_META_SCHEMA}.telemetry").fetchall())
    except duckdb.Error:
        return None
    finally:
        cursor.close()
    try:
        kept = KeptTelemetry(
            dt.datetime.fromisoformat(meta["seed_now"]), dt.datetime.fromisoformat(meta["seeded_until"])
        )
    except (KeyError, ValueError):
        return None
    if meta.get("version") != TELEMETRY_VERSION or meta.get("scale") != repr(scale):
        return None
    if not dt.timedelta(0) <= naive_utc(now) - kept.seeded_until < dt.timedelta(days=DAYS):
        return None
    return kept


def discard_telemetry(engine: KqlEngine) -> None:
    """Drop every telemetry row and the record of what was seeded, leaving empty tables.

    One transaction: a query running meanwhile sees the old tables or the new empty ones, never none.
    """
    cursor = engine.connection.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION")
        views = _names(cursor, "SELECT view_name FROM duckdb_views()")
        for table in TABLES:
            cursor.execute(f'DROP {"VIEW" if table in views else "TABLE"} IF EXISTS main."{table}"')
        cursor.execute(f"DROP SCHEMA IF EXISTS {STORE_SCHEMA} CASCADE")
        cursor.execute(f"DROP SCHEMA IF EXISTS {_META_SCHEMA} CASCADE")
        create_tables(cursor)
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    finally:
        cursor.close()
    engine.refresh_schema()


def fill_gap(engine: KqlEngine, kept: KeptTelemetry, now: dt.datetime, scale: float) -> dt.datetime:
    """Write the telemetry missing since the last run stopped, in one transaction; return where it ends.

    Rows older than the seven days are dropped in the same step, so the file does not grow forever.
    """
    end = naive_utc(now).replace(second=0, microsecond=0)
    cursor = engine.connection.cursor()
    try:
        cursor.execute("BEGIN TRANSACTION")
        if end > kept.seeded_until:
            builds = _default_builds()
            for t0, t1 in reversed(_windows(kept.seeded_until, end)):
                _insert_window(cursor, _window_parameters(t0, t1, kept.seed_now, scale), 60, builds)
            _insert_backup_rows(cursor, kept.seed_now, kept.seeded_until, end)
        for table in TABLES:
            cursor.execute(
                f'DELETE FROM {stored_table(table)} WHERE "TimeGenerated" < $cut',
                {"cut": end - dt.timedelta(days=DAYS + 1)},
            )
        _write_meta(cursor, {"seeded_until": max(end, kept.seeded_until).isoformat()})
        cursor.execute("COMMIT")
    except BaseException:
        cursor.execute("ROLLBACK")
        raise
    finally:
        cursor.close()
    return max(end, kept.seeded_until)


def mark_written_until(engine: KqlEngine, until: dt.datetime) -> None:
    """Record that telemetry is complete up to `until` (after a live-traffic tick)."""
    cursor = engine.connection.cursor()
    try:
        _write_meta(cursor, {"seeded_until": naive_utc(until).isoformat()})
    finally:
        cursor.close()


def _write_meta(cursor: duckdb.DuckDBPyConnection, values: Mapping[str, str]) -> None:
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_META_SCHEMA}")
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {_META_SCHEMA}.telemetry (key VARCHAR PRIMARY KEY, value VARCHAR)")
    for key, value in values.items():
        cursor.execute(f"INSERT OR REPLACE INTO {_META_SCHEMA}.telemetry VALUES (?, ?)", [key, value])


@dataclass
class TrafficGenerator:
    """Appends live telemetry for the seconds since the last tick, shaped by the builds in each slot.

    `start` is where seeded data ends (what `seed_telemetry` returns); `seed_now` is the `now`
    the seed used, which fixes the incident window and the silent computer.
    """

    engine: KqlEngine
    start: dt.datetime
    scale: float = 1.0
    seed_now: dt.datetime | None = None

    def __post_init__(self) -> None:
        self._last = naive_utc(self.start).replace(microsecond=0)
        self._lock = threading.Lock()

    def tick(
        self,
        now: dt.datetime,
        builds_by_slot: Mapping[tuple[str, str], str],
        routing: Mapping[tuple[str, str], float] | None = None,
    ) -> int:
        """Append rows for [last tick, now) in whole seconds; return how many rows were added.

        `routing` is the percent of each app's production traffic a slot serves, as (app, slot) -> percent.
        """
        with self._lock:
            t1 = naive_utc(now).replace(microsecond=0)
            if t1 <= self._last:
                return 0
            t0 = self._last
            seed_now = self.seed_now or self.start
            parameters = _window_parameters(t0, t1, seed_now, self.scale)
            cursor = self.engine.connection.cursor()
            try:
                before = _total_rows(cursor)
                cursor.execute("BEGIN TRANSACTION")
                try:
                    _insert_window(cursor, parameters, 1, {**_default_builds(), **builds_by_slot}, routing)
                    _insert_backup_rows(cursor, seed_now, t0, t1)
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                added = _total_rows(cursor) - before
            finally:
                cursor.close()
            self._last = t1
            return added


def _total_rows(cursor: duckdb.DuckDBPyConnection) -> int:
    counts = " + ".join(f'(SELECT count(*) FROM "{table}")' for table in TABLES)
    row = cursor.execute(f"SELECT {counts}").fetchone()
    return int(row[0]) if row else 0
