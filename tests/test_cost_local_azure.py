"""The cost area of the local Azure through azure-mgmt-costmanagement: query, paging, forecast, budgets,
throttling, refusals; and CostService over it (totals at every grouping, budgets, anomalies, the spike's why).

The local Azure here is this module's own, without a rate limit (one test starts another with a tight one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorThread, module_azure, request_counts, start_local_azure, use_identity

from console.cloud import local_profile
from console.emulator import estate, story
from console.emulator.areas.cost import RATE_VARIABLE
from console.errors import ErrorKind, OpsError
from console.services import Services, make_services
from console.services.cost import CostScope
from console.services.cost_analysis import Threshold
from console.settings import Settings

PROD = CostScope(estate.PROD_SUBSCRIPTION)
NONPROD = CostScope(estate.NONPROD_SUBSCRIPTION)
COST = {"totalCost": {"name": "Cost", "function": "Sum"}}


def _start(data_dir: Path, rate: str) -> EmulatorThread:
    return start_local_azure(data_dir, page_size=50, seed_delay_s=3600, started_with={RATE_VARIABLE: rate})


cost_azure = module_azure("cost-azure", page_size=50, seed_delay_s=3600, started_with={RATE_VARIABLE: "off"})


@pytest.fixture
def environment(cost_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    use_identity(monkeypatch, cost_azure)


def _services(readiness: dict[str, Any], tmp_path: Path, **changes: Any) -> Services:
    settings = replace(Settings(data_dir=tmp_path / "data", retry_total=0, refresh_seconds=0), **changes)
    return make_services(settings, profile=local_profile(readiness))


@pytest.fixture
async def services(cost_azure: EmulatorThread, environment: None, tmp_path: Path) -> AsyncIterator[Services]:
    made = _services(cost_azure.readiness, tmp_path)
    yield made
    await made.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Any]:
    """The SDK's client as the service builds it (no status retries)."""
    await services.context.connected()
    yield services.cost._cost_client()


async def _all_rows(client: Any, scope: str, body: dict[str, Any]) -> tuple[list[str], list[list[Any]], int]:
    """Every row of a query, following nextLink the way the API asks (the same body POSTed again)."""
    from azure.core.rest import HttpRequest

    result = await client.query.usage(scope, body)
    columns = [c["name"] for c in result["properties"]["columns"]]
    rows = list(result["properties"]["rows"])
    link, pages = result["properties"].get("nextLink"), 1
    while link:
        response = await client.send_request(HttpRequest("POST", link, json=body))
        response.raise_for_status()
        page = response.json()["properties"]
        rows += page["rows"]
        link, pages = page.get("nextLink"), pages + 1
    return columns, rows, pages


def _body(grouping: list[dict[str, str]], granularity: str | None = "Daily", days: int = 90) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    dataset: dict[str, Any] = {"aggregation": COST, "grouping": grouping}
    if granularity:
        dataset["granularity"] = granularity
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": f"{today - dt.timedelta(days=days - 1)}T00:00:00Z", "to": f"{today}T00:00:00Z"},
        "dataset": dataset,
    }


def _cents(value: Any) -> int:
    return round(float(value) * 100)


async def test_totals_add_up_at_every_grouping(client: Any) -> None:
    scope = PROD.path
    columns, daily, _ = await _all_rows(client, scope, _body([]))
    assert columns == ["Cost", "UsageDate", "Currency"]
    assert len(daily) == 90
    by_day = {row[1]: _cents(row[0]) for row in daily}
    total = sum(by_day.values())
    _, whole, _ = await _all_rows(client, scope, _body([], granularity=None))
    assert _cents(whole[0][0]) == total
    groupings = [
        {"type": "Dimension", "name": "ServiceName"},
        {"type": "Dimension", "name": "ResourceGroupName"},
        {"type": "Dimension", "name": "ResourceId"},
        {"type": "Dimension", "name": "MeterCategory"},
        {"type": "TagKey", "name": "owner"},
    ]
    for grouping in groupings:
        columns, rows, pages = await _all_rows(client, scope, _body([grouping]))
        assert columns[:2] == ["Cost", "UsageDate"] and columns[-1] == "Currency"
        per_day: dict[int, int] = {}
        for row in rows:
            per_day[row[1]] = per_day.get(row[1], 0) + _cents(row[0])
        assert per_day == by_day, grouping  # each day's total is the sum of its groups
        if grouping["name"] == "ResourceId":
            assert pages > 1  # more than 1000 rows: paged with nextLink
            assert all(str(row[2]) == str(row[2]).lower() for row in rows)  # Azure answers lower-case ids
    # a month's total equals its days
    first = dt.datetime.now(dt.UTC).date().replace(day=1)
    month = await client.query.usage(
        scope, {"type": "ActualCost", "timeframe": "MonthToDate", "dataset": {"aggregation": COST}}
    )
    month_days = sum(c for d, c in by_day.items() if d >= int(first.strftime("%Y%m%d")))
    assert _cents(month["properties"]["rows"][0][0]) == month_days


async def test_resource_group_scope_and_filters(client: Any) -> None:
    group = "rg-prod-data"
    scope = f"{PROD.path}/resourceGroups/{group}"
    _, rows, _ = await _all_rows(client, scope, _body([{"type": "Dimension", "name": "ResourceGroupName"}], None))
    assert [row[1] for row in rows] == [group]
    body = _body([{"type": "Dimension", "name": "ResourceGroupName"}], None)
    body["dataset"]["filter"] = {"dimensions": {"name": "ResourceGroupName", "operator": "In", "values": [group]}}
    _, filtered, _ = await _all_rows(client, PROD.path, body)
    assert filtered == rows
    body["dataset"]["filter"] = {"tags": {"name": "owner", "operator": "In", "values": ["nobody"]}}
    _, none, _ = await _all_rows(client, PROD.path, body)
    assert none == []


async def test_forecast_and_budgets_through_the_sdk(client: Any) -> None:
    today = dt.datetime.now(dt.UTC).date()
    end = today + dt.timedelta(days=10)
    forecast = await client.forecast.usage(
        PROD.path,
        {
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {"from": f"{today - dt.timedelta(days=2)}T00:00:00Z", "to": f"{end}T00:00:00Z"},
            "dataset": {"granularity": "Daily", "aggregation": COST},
            "includeActualCost": True,
        },
    )
    columns = [c["name"] for c in forecast["properties"]["columns"]]
    assert columns == ["Cost", "UsageDate", "CostStatus", "Currency"]
    statuses = [row[2] for row in forecast["properties"]["rows"]]
    assert statuses == ["Actual"] * 3 + ["Forecast"] * 10
    names = [b.name async for b in client.budgets.list(PROD.path)]
    assert story.COST_BREACH_BUDGET in names
    budget = await client.budgets.get(PROD.path, story.COST_BREACH_BUDGET)
    assert budget.properties.forecast_spend.amount > budget.properties.amount  # the story: it breaches
    created = await client.budgets.create_or_update(
        PROD.path,
        "budget-test",
        {
            "properties": {
                "category": "Cost",
                "amount": 100,
                "timeGrain": "Monthly",
                "timePeriod": {"startDate": f"{today.replace(day=1)}T00:00:00Z"},
                "notifications": {
                    "Actual_GreaterThan_50": {
                        "enabled": True,
                        "operator": "GreaterThan",
                        "threshold": 50,
                        "contactEmails": ["a@contoso.com"],
                    }
                },
            }
        },
    )
    assert created.properties.current_spend.amount >= 0
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    with pytest.raises(HttpResponseError) as stale:
        await client.budgets.create_or_update(
            PROD.path, "budget-test", {"eTag": '"stale"', "properties": dict(created.properties)}
        )
    assert stale.value.status_code == 412
    await client.budgets.delete(PROD.path, "budget-test")
    with pytest.raises(ResourceNotFoundError):
        await client.budgets.get(PROD.path, "budget-test")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Bogus", "timeframe": "MonthToDate", "dataset": {}},
        {"type": "ActualCost", "timeframe": "Custom", "dataset": {"aggregation": COST}},
        {
            "type": "ActualCost",
            "timeframe": "MonthToDate",
            "dataset": {"grouping": [{"type": "Dimension", "name": "X"}]},
        },
        {"type": "ActualCost", "timeframe": "MonthToDate", "dataset": {"granularity": "Hourly"}},
        {"type": "ActualCost", "timeframe": "MonthToDate", "dataset": {"filter": {"and": [{"and": []}]}}},
        {
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "dataset": {},
        },
    ],
)
async def test_bad_queries_are_refused_with_a_sentence(client: Any, body: dict[str, Any]) -> None:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as refused:
        await client.query.usage(PROD.path, body)
    assert refused.value.status_code == 400
    assert "query definition" in str(refused.value.message)


async def test_service_totals_breakdown_and_the_story(services: Services) -> None:
    cost = services.cost
    daily = await cost.daily(PROD)
    assert len(daily) == 90
    rows = await cost.breakdown(PROD, "service", days=30)
    today = cost.today()
    last30 = sum(d.amount for d in daily if (today - d.day).days < 30)
    assert round(sum(r.current for r in rows), 2) == round(last30, 2)
    budgets = await cost.budgets(PROD)
    worst = budgets[0]
    assert worst.name == story.COST_BREACH_BUDGET and worst.breaches
    assert worst.breach_date is not None and worst.period_start <= worst.breach_date <= worst.period_end
    assert worst.forecast_source == "forecast API"
    found = await cost.anomalies(PROD)
    spike = next(a for a in found if a.kind == "spike")
    assert spike.day == today - dt.timedelta(days=story.COST_SPIKE_DAYS_AGO)
    assert spike.contributors[0].resource_name == story.COST_SPIKE_RESOURCE
    assert spike.contributors[0].meter == story.COST_SPIKE_METER
    assert spike.contributors[1].resource_name == story.COST_SPIKE_ECHO_RESOURCE
    assert any(a.kind == "new cost" and a.subject == story.COST_NEW_RESOURCE for a in found)
    assert any(a.kind == "steady growth" for a in found)
    stopped = await cost.anomalies(NONPROD)
    assert any(a.kind == "stopped cost" and a.subject == story.COST_STOPPED_RESOURCE for a in stopped)


async def test_repeated_reads_come_from_the_cache(services: Services) -> None:
    cost = services.cost
    await cost.breakdown(PROD, "group")
    sent = cost.requests_sent
    await cost.breakdown(PROD, "group")
    await cost.daily(PROD)
    assert cost.requests_sent == sent + 1  # the second breakdown was cached; daily is a new grouping
    await cost.breakdown(PROD, "group", fresh=True)
    assert cost.requests_sent == sent + 2


async def test_a_budget_change_is_journaled_and_read_back(services: Services) -> None:
    cost = services.cost
    scope = CostScope(estate.PROD_SUBSCRIPTION, "rg-prod-data")
    changed = await cost.set_budget(
        scope, "budget-prod-data", 4321.0, [Threshold("", 90, "Actual"), Threshold("", 110, "Forecasted")]
    )
    assert changed.amount == 4321.0
    assert sorted((t.kind, t.percent) for t in changed.thresholds) == [("Actual", 90.0), ("Forecasted", 110.0)]
    assert (await cost.budget(scope, "budget-prod-data")).amount == 4321.0
    entries = [e for e in services.context.journal.entries() if e.get("action") == "set budget"]
    assert [e["phase"] for e in entries][-2:] == ["intent", "outcome"]
    assert entries[-2]["parameters"]["amount"] == 4321.0
    assert entries[-1]["result"] == "succeeded"


async def test_read_only_refuses_a_budget_change_before_any_request(
    cost_azure: EmulatorThread, environment: None, tmp_path: Path
) -> None:
    made = _services(cost_azure.readiness, tmp_path, read_only=True)
    try:
        with pytest.raises(OpsError) as refused:
            await made.cost.set_budget(PROD, story.COST_BREACH_BUDGET, 10.0)
        assert refused.value.kind is ErrorKind.READ_ONLY
    finally:
        await made.close()


async def test_throttling_waits_as_told_and_never_hammers(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tight = _start(tmp_path_factory.mktemp("cost-tight"), "2/3s")
    try:
        use_identity(monkeypatch, tight)
        made = _services(tight.readiness, tmp_path)
        cost = made.cost
        try:
            for by in ("service", "group", "resource", "meter", "tag:env"):
                await cost.breakdown(PROD, by)
            # five different queries at two per three seconds: the service waited out each Retry-After
            assert cost.waited_seconds >= 3
            # the remaining-quota header said when a window was used up: it waited instead of drawing 429s,
            # so no request drew one, and the local Azure counted exactly the requests sent (pages included)
            assert cost.throttled_answers == 0
            assert request_counts(tight.readiness).get("POST", 0) == cost.requests_sent
            again = cost.requests_sent
            for by in ("service", "group", "resource", "meter", "tag:env"):
                await cost.breakdown(PROD, by)
            assert cost.requests_sent == again  # all from the cache
            assert cost.remaining is not None and "QueryResource" in cost.remaining
        finally:
            await made.close()
    finally:
        tight.stop()


def test_the_remaining_quota_header_is_read() -> None:
    from console.services.cost import spent_window

    assert spent_window("QueryResource:10s:0,QueryResource:1min:48,QueryResource:1hr:590") == 10
    assert spent_window("QueryResource:10s:0,QueryResource:1min:0") == 60
    assert spent_window("QueryResource:10s:3") is None and spent_window("garbage") is None


async def test_the_local_azure_answers_429_with_the_rate_limit_headers(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tight = _start(tmp_path_factory.mktemp("cost-429"), "1/5m")
    try:
        use_identity(monkeypatch, tight)
        made = _services(tight.readiness, tmp_path)
        try:
            await made.context.connected()
            client = made.cost._cost_client()
            from azure.core.exceptions import HttpResponseError

            body = {"type": "ActualCost", "timeframe": "MonthToDate", "dataset": {"aggregation": COST}}
            await client.query.usage(PROD.path, body)
            with pytest.raises(HttpResponseError) as throttled:
                await client.query.usage(PROD.path, body)
            headers = throttled.value.response.headers
            assert throttled.value.status_code == 429
            assert 60 < int(headers["Retry-After"]) <= 300
            assert headers["x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"] == headers["Retry-After"]
            assert "QueryResource:5min:0" in headers["x-ms-ratelimit-microsoft.costmanagement-qpu-remaining"]
            # the service will not wait minutes: it says so, instead of sending more
            sent = made.cost.requests_sent
            with pytest.raises(OpsError) as refused:
                await made.cost.daily(PROD)
            assert refused.value.kind is ErrorKind.THROTTLED
            assert made.cost.requests_sent - sent <= 1
        finally:
            await made.close()
    finally:
        tight.stop()


HOSTILE = [
    ("POST", "/providers/Microsoft.CostManagement/query", "not json", 400),
    ("POST", "/providers/Microsoft.CostManagement/query", "[1, 2]", 400),
    (
        "POST",
        "/providers/Microsoft.CostManagement/query?$skiptoken=%%%",
        '{"type":"ActualCost","timeframe":"MonthToDate","dataset":{}}',
        400,
    ),
    (
        "POST",
        "/providers/Microsoft.CostManagement/query",
        '{"type":"ActualCost","timeframe":"MonthToDate","dataset":{"filter":' + '{"not":' * 40 + "{}" + "}" * 40 + "}}",
        400,
    ),
    (
        "POST",
        "/providers/Microsoft.CostManagement/query",
        '{"type":"ActualCost","timeframe":"MonthToDate","dataset":{"filter":{"dimensions":{"name":"ResourceId","operator":"In","values":['
        + ",".join(['"x"'] * 500)
        + "]}}}}",
        400,
    ),
    (
        "POST",
        "/providers/Microsoft.CostManagement/forecast",
        '{"type":"ActualCost","timeframe":"MonthToDate","dataset":{}}',
        400,
    ),
    ("PUT", "/providers/Microsoft.CostManagement/budgets/bad%20name", '{"properties":{}}', 400),
    (
        "PUT",
        "/providers/Microsoft.CostManagement/budgets/b1",
        '{"properties":{"amount":-5,"timeGrain":"Monthly"}}',
        400,
    ),
    (
        "PUT",
        "/providers/Microsoft.CostManagement/budgets/b1",
        '{"properties":{"amount":5,"timeGrain":"Monthly","timePeriod":{"startDate":"2026-11-15T00:00:00Z"}}}',
        400,
    ),
    (
        "PUT",
        "/providers/Microsoft.CostManagement/budgets/b1",
        '{"properties":{"amount":5,"timeGrain":"Monthly","timePeriod":{"startDate":"2026-11-01T00:00:00Z"},'
        '"notifications":{"n":{"enabled":true,"operator":"GreaterThan","threshold":80,"contactEmails":[]}}}}',
        400,
    ),
    ("GET", "/providers/Microsoft.CostManagement/budgets/nope", "", 404),
    ("DELETE", "/providers/Microsoft.CostManagement/budgets/nope", "", 204),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), HOSTILE)
async def test_hostile_input_is_a_4xx_in_azure_shape(
    client: Any, method: str, path: str, body: str, status: int
) -> None:
    from azure.core.rest import HttpRequest

    url = f"{client._config.base_url}{PROD.path}{path}"
    url += ("&" if "?" in url else "?") + "api-version=2025-03-01"
    response = await client.send_request(
        HttpRequest(method, url, content=body.encode(), headers={"Content-Type": "application/json"})
    )
    assert response.status_code == status, response.text()
    if status >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]


async def test_unknown_scopes_are_404(client: Any) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    body = {"type": "ActualCost", "timeframe": "MonthToDate", "dataset": {}}
    with pytest.raises(ResourceNotFoundError):
        await client.query.usage("/subscriptions/00000000-0000-0000-0000-000000000000", body)
    with pytest.raises(ResourceNotFoundError):
        await client.query.usage(f"{PROD.path}/resourceGroups/rg-nowhere", body)


async def test_consumption_budgets_are_the_same_budgets(client: Any) -> None:
    from azure.core.rest import HttpRequest

    base = f"{client._config.base_url}{PROD.path}/providers/Microsoft.Consumption/budgets"
    listed = await client.send_request(HttpRequest("GET", f"{base}?api-version=2024-08-01"))
    names = {b["name"]: b for b in listed.json()["value"]}
    assert story.COST_BREACH_BUDGET in names
    assert names[story.COST_BREACH_BUDGET]["type"] == "Microsoft.Consumption/budgets"
    same = await client.budgets.get(PROD.path, story.COST_BREACH_BUDGET)
    assert names[story.COST_BREACH_BUDGET]["properties"]["amount"] == same.properties.amount
