"""KQL through our adapter vs the same question hand-written as DuckDB SQL, on the seeded telemetry.

    python bench/kql.py [--scale 1.0] [--repeat 5]

Prints, per query: adapter time (translation cached after the first run), hand SQL time and their
ratio; then the median ratio. Times are medians of `--repeat` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.emulator.kql_engine import KqlEngine
from console.emulator.telemetry import seed_telemetry

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)

# (KQL, equivalent DuckDB SQL); `$now` in the SQL is bound to the same instant as KQL's now().
QUERIES: list[tuple[str, str]] = [
    (
        "AppRequests | where TimeGenerated > ago(1h) | summarize count() by AppRoleName",
        "SELECT AppRoleName, count(*) FROM AppRequests WHERE TimeGenerated > $now - INTERVAL 1 HOUR GROUP BY 1",
    ),
    (
        "AppRequests | summarize total = count(), failed = countif(not(Success)) by AppRoleName",
        "SELECT AppRoleName, count(*), count(*) FILTER (WHERE NOT Success) FROM AppRequests GROUP BY 1",
    ),
    (
        "AppRequests | summarize avg(DurationMs), max(DurationMs) by AppRoleName",
        "SELECT AppRoleName, avg(DurationMs), max(DurationMs) FROM AppRequests GROUP BY 1",
    ),
    (
        "AppRequests | where not(Success) | summarize n = count() by Name | order by n desc | take 5",
        "SELECT Name, count(*) AS n FROM AppRequests WHERE NOT Success GROUP BY 1 ORDER BY n DESC LIMIT 5",
    ),
    (
        "AppRequests | where TimeGenerated > ago(1d) | summarize count() by bin(TimeGenerated, 1h)",
        "SELECT time_bucket(INTERVAL 1 HOUR, TimeGenerated), count(*) FROM AppRequests "
        "WHERE TimeGenerated > $now - INTERVAL 1 DAY GROUP BY 1",
    ),
    (
        "AppRequests | summarize count() by bin(TimeGenerated, 5m), AppRoleName",
        "SELECT time_bucket(INTERVAL 5 MINUTE, TimeGenerated), AppRoleName, count(*) FROM AppRequests GROUP BY 1, 2",
    ),
    (
        "AppRequests | where not(Success) | join kind=inner (AppDependencies | where not(Success)) on "
        "OperationId"
        " | summarize count() by Target",
        "SELECT d.Target, count(*) FROM AppRequests r JOIN AppDependencies d ON r.OperationId = "
        "d.OperationId "
        "WHERE NOT r.Success AND NOT d.Success GROUP BY 1",
    ),
    (
        "Heartbeat | summarize LastSeen = max(TimeGenerated) by Computer | where LastSeen < ago(1h)",
        "SELECT Computer, max(TimeGenerated) FROM Heartbeat GROUP BY 1 HAVING max(TimeGenerated) < $now "
        "- INTERVAL 1 HOUR",
    ),
    (
        "AzureActivity | where ActivityStatusValue in ('Failure', 'Failed') | summarize count() by Caller",
        "SELECT Caller, count(*) FROM AzureActivity WHERE ActivityStatusValue IN ('Failure', 'Failed') GROUP BY 1",
    ),
    (
        "AppRequests | extend slot = tostring(Properties.slot) | summarize count() by AppRoleName, slot",
        "SELECT AppRoleName, json_extract_string(Properties, '$.slot'), count(*) FROM AppRequests GROUP BY 1, 2",
    ),
    (
        "AppExceptions | summarize count() by ExceptionType, AppRoleName",
        "SELECT ExceptionType, AppRoleName, count(*) FROM AppExceptions GROUP BY 1, 2",
    ),
    (
        "AppRequests | summarize percentile(DurationMs, 95) by AppRoleName",
        "SELECT AppRoleName, quantile_disc(DurationMs, 0.95) FROM AppRequests GROUP BY 1",
    ),
    (
        "AppRequests | summarize percentiles(DurationMs, 50, 95, 99) by AppRoleName",
        "SELECT AppRoleName, quantile_disc(DurationMs, 0.5), quantile_disc(DurationMs, 0.95), "
        "quantile_disc(DurationMs, 0.99) FROM AppRequests GROUP BY 1",
    ),
    (
        "AppRequests | distinct AppRoleName, AppVersion",
        "SELECT DISTINCT AppRoleName, AppVersion FROM AppRequests",
    ),
    (
        "AzureDiagnostics | where ResultType != 'Success' | summarize count() by Resource, ResultSignature",
        "SELECT Resource, ResultSignature, count(*) FROM AzureDiagnostics WHERE ResultType <> 'Success' GROUP BY 1, 2",
    ),
    (
        "AppTraces | where Message contains 'timed out' | count",
        "SELECT count(*) FROM AppTraces WHERE Message ILIKE '%timed out%'",
    ),
    (
        "AppDependencies | where DependencyType == 'PostgreSQL' | summarize avg(DurationMs) by bin(TimeGenerated, 1h)",
        "SELECT time_bucket(INTERVAL 1 HOUR, TimeGenerated), avg(DurationMs) FROM AppDependencies "
        "WHERE DependencyType = 'PostgreSQL' GROUP BY 1",
    ),
    (
        "AppRequests | where ResultCode startswith '5' | summarize count() by ResultCode",
        "SELECT ResultCode, count(*) FROM AppRequests WHERE ResultCode LIKE '5%' GROUP BY 1",
    ),
    (
        "AppRequests | order by DurationMs desc | take 10 | project TimeGenerated, Name, DurationMs",
        "SELECT TimeGenerated, Name, DurationMs FROM AppRequests ORDER BY DurationMs DESC LIMIT 10",
    ),
    (
        "union AppRequests, AppDependencies | where not(Success) | summarize count() by Type",
        "SELECT Type, count(*) FROM (SELECT Type, Success FROM AppRequests UNION ALL "
        "SELECT Type, Success FROM AppDependencies) WHERE NOT Success GROUP BY 1",
    ),
    (
        "AppDependencies | summarize failures = countif(not(Success)), p95 = percentile(DurationMs, 95) by Target",
        "SELECT Target, count(*) FILTER (WHERE NOT Success), quantile_disc(DurationMs, 0.95) "
        "FROM AppDependencies GROUP BY 1",
    ),
    (
        "AppRequests | where TimeGenerated > ago(6h) and not(Success) | summarize count() by AppRoleName, ResultCode",
        "SELECT AppRoleName, ResultCode, count(*) FROM AppRequests WHERE TimeGenerated > $now - "
        "INTERVAL 6 HOUR "
        "AND NOT Success GROUP BY 1, 2",
    ),
    (
        "AppRequests | summarize dcount_ops = count() by OperationName | where dcount_ops > 1000",
        "SELECT OperationName, count(*) FROM AppRequests GROUP BY 1 HAVING count(*) > 1000",
    ),
    (
        "AppTraces | where SeverityLevel >= 3 | summarize count() by AppRoleName, bin(TimeGenerated, 1d)",
        "SELECT AppRoleName, time_bucket(INTERVAL 1 DAY, TimeGenerated), count(*) FROM AppTraces "
        "WHERE SeverityLevel >= 3 GROUP BY 1, 2",
    ),
    (
        "AppRequests | where AppRoleName == 'app-checkout-prod' | summarize avg(DurationMs) by AppVersion",
        "SELECT AppVersion, avg(DurationMs) FROM AppRequests WHERE AppRoleName = 'app-checkout-prod' GROUP BY 1",
    ),
    (
        "AppRequests | where Url has 'checkout' | count",
        "SELECT count(*) FROM AppRequests WHERE regexp_matches(Url, '(?i)(^|[^a-z0-9])checkout($|[^a-z0-9])')",
    ),
    (
        "AppRequests | where TimeGenerated between (ago(2d) .. ago(1d)) | summarize max(DurationMs)",
        "SELECT max(DurationMs) FROM AppRequests WHERE TimeGenerated BETWEEN $now - INTERVAL 2 DAY "
        "AND $now - INTERVAL 1 DAY",
    ),
    (
        "AppRequests | make-series n = count() default = 0 on TimeGenerated from ago(1d) to now() step 1h"
        " by AppRoleName",
        "SELECT AppRoleName, list(n ORDER BY b) FROM (SELECT AppRoleName, time_bucket(INTERVAL 1 HOUR, "
        "TimeGenerated, "
        "$now - INTERVAL 1 DAY) AS b, count(*) AS n FROM AppRequests WHERE TimeGenerated >= $now - "
        "INTERVAL 1 DAY "
        "AND TimeGenerated < $now GROUP BY 1, 2) GROUP BY 1",
    ),
]


def _median_time(action: Callable[[], object], repeat: int) -> float:
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    engine = KqlEngine()
    started = time.perf_counter()
    seed_telemetry(engine, NOW, scale=args.scale)
    rows = engine.connection.execute("SELECT count(*) FROM AppRequests").fetchone()
    print(f"seeded in {time.perf_counter() - started:.1f} s; AppRequests rows: {rows[0] if rows else 0:,}")
    naive_now = NOW.replace(tzinfo=None)
    cursor = engine.connection.cursor()

    def hand(sql: str) -> Callable[[], object]:
        parameters = {"now": naive_now} if "$now" in sql else None
        return lambda: cursor.execute(sql, parameters).fetchall()

    def ours(query: str) -> Callable[[], object]:
        return lambda: engine.execute(query, timespan=None, now=NOW)

    ratios: list[float] = []
    print(f"{'#':>2} {'adapter ms':>10} {'SQL ms':>8} {'ratio':>6}  query")
    for index, (query, sql) in enumerate(QUERIES, start=1):
        ours_s = _median_time(ours(query), args.repeat)
        hand_s = _median_time(hand(sql), args.repeat)
        ratios.append(ours_s / hand_s)
        print(f"{index:2d} {ours_s * 1000:10.1f} {hand_s * 1000:8.1f} {ours_s / hand_s:6.2f}  {query[:70]}")
    print(f"median ratio adapter/SQL: {statistics.median(ratios):.2f} over {len(ratios)} queries")


if __name__ == "__main__":
    main()
