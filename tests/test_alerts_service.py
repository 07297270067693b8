"""AlertsService and the local Azure's alerts area through the real SDKs: the seeded story, filters that agree with
what the local Azure returns, paging across 1,000 alerts, bulk acknowledge/close with a failure in the middle,
rules with enable/disable, the way from an alert to its evidence in Logs and to its runbook, and bad input.

The local Azure here is this module's own (its 1,000 alerts and changes would disturb other tests).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from conftest import EmulatorThread, fault_rules, module_azure, services_on

from console.emulator import estate, story
from console.errors import ErrorKind, OpsError
from console.local import telemetry_status
from console.models import Alert, AlertFilter
from console.services import Services
from console.services.alerts import AlertsService, logs_request, parse_filter, runbook_request

PROD = estate.PROD_SUBSCRIPTION


alerts_azure = module_azure("alerts-azure", seed_delay_s=0)


@pytest.fixture
async def services(
    alerts_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Callable[..., Services]]:
    async with services_on(alerts_azure, monkeypatch, tmp_path) as build:
        yield build


@pytest.fixture
def alerts(services: Callable[..., Services]) -> AlertsService:
    return services().alerts


@pytest.fixture
def faults(alerts_azure: EmulatorThread) -> Iterator[Callable[[list[dict[str, Any]]], Any]]:
    with fault_rules(alerts_azure) as install:
        yield install


def fire_alerts(readiness: dict[str, Any], count: int) -> int:
    """Fire `count` alerts through the local Azure's control route."""
    request = urllib.request.Request(
        f"{readiness['arm_endpoint']}/_emulator/alerts",
        data=json.dumps({"count": count}).encode(),
        method="POST",
        headers={"X-IDENTITY-HEADER": readiness["identity_header"], "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=readiness["ca_file"])
    with urllib.request.urlopen(request, context=context, timeout=60) as response:
        fired: int = json.loads(response.read())["fired"]
        return fired


async def telemetry_loaded(readiness: dict[str, Any]) -> None:
    """Wait until the local Azure's telemetry has all arrived (bounded by a number of polls)."""
    for _ in range(600):
        if (await asyncio.to_thread(telemetry_status, readiness)).ready:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the telemetry never finished loading")


def _client(alerts: AlertsService) -> Any:
    return alerts._alerts_client(PROD).alerts


async def test_seeded_alerts_tell_the_story(alerts: AlertsService) -> None:
    found = await alerts.list_alerts(AlertFilter(time_range="7d"), PROD)
    assert {a.severity for a in found} == {"Sev0", "Sev1", "Sev2", "Sev3", "Sev4"}
    assert {a.state for a in found} == {"New", "Acknowledged", "Closed"}
    assert {a.condition for a in found} == {"Fired", "Resolved"}
    now = datetime.now(UTC)
    incident = story.incident_start(now).replace(tzinfo=UTC)
    failed = next(a for a in found if a.name == "sqr-checkout-failed-requests")
    assert incident < failed.started < incident + timedelta(minutes=story.INCIDENT_MINUTES)
    assert failed.resolved is not None and failed.resolved > incident + timedelta(minutes=story.INCIDENT_MINUTES)
    assert failed.detail.query is None  # a listing carries no condition; the alert read alone does
    condition = (await alerts.get_alert(failed)).detail
    assert condition.query is not None and story.INCIDENT_APP in condition.query
    assert condition.window_end == failed.started and condition.observed is not None and condition.observed > 25
    heartbeat = next(a for a in found if a.name == story.HEARTBEAT_RULE)
    assert (heartbeat.condition, heartbeat.state) == ("Fired", "New")
    assert heartbeat.started > now - story.SILENT_FOR
    flapping = [a for a in found if a.name == story.FLAPPING_RULE]
    assert len(flapping) >= 6 and len({a.started.date() for a in flapping}) == len(flapping)
    # Most severe first, newest first within a severity.
    assert [a.severity_rank for a in found] == sorted(a.severity_rank for a in found)
    summary = await alerts.summary(AlertFilter(time_range="7d"), PROD)
    assert summary.total == len(found)
    assert dict(summary.by_severity) == {s: sum(a.severity == s for a in found) for s in dict(summary.by_severity)}
    assert dict(summary.by_state) == {s: sum(a.state == s for a in found) for s in ("New", "Acknowledged", "Closed")}


@pytest.mark.parametrize(
    "text",
    [
        "sev=0,1",
        "state=new",
        "cond=fired",
        "rg=rg-prod-web",
        "service=Platform",
        "sev=2 state=closed cond=resolved",
        "since=1d",
        "since=1h",
        "rg=rg-monitoring service=Log_Alerts_V2",
    ],
)
async def test_filters_agree_with_the_local_azure(alerts: AlertsService, text: str) -> None:
    wanted = parse_filter(text)
    everything = await alerts.list_alerts(AlertFilter(time_range="30d"), PROD)
    since = datetime.now(UTC) - {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}.get(
        wanted.time_range, timedelta(days=30)
    )

    def selects(alert: Alert) -> bool:
        return (
            (not wanted.severities or alert.severity in wanted.severities)
            and (not wanted.states or alert.state in wanted.states)
            and (not wanted.conditions or alert.condition in wanted.conditions)
            and (not wanted.resource_group or alert.target_group.lower() == wanted.resource_group.lower())
            and (not wanted.monitor_service or alert.monitor_service == wanted.monitor_service)
            and alert.started >= since
        )

    expected = {a.id for a in everything if selects(a)}
    listed = await alerts.list_alerts(wanted, PROD)
    assert {a.id for a in listed} == expected
    summary = await alerts.summary(wanted, PROD)
    assert summary.total == len(expected)


async def test_paging_across_a_thousand_alerts(alerts_azure: EmulatorThread, alerts: AlertsService) -> None:
    before = await alerts.summary(AlertFilter(time_range="30d"), PROD)
    assert fire_alerts(alerts_azure.readiness, 1000) == 1000
    pages: list[int] = []
    found = await alerts.list_alerts(
        AlertFilter(time_range="30d"), PROD, on_page=lambda so_far: pages.append(len(so_far))
    )
    assert len(found) == before.total + 1000 == len({a.id for a in found})
    assert len(pages) == -(-len(found) // 250) and pages[-1] == len(found)
    small = [a async for a in _client(alerts).get_all(page_count=7, time_range="1d", severity="Sev3")]
    assert len(small) == len({a.id for a in small}) >= 200
    assert all(a.properties.essentials.severity == "Sev3" for a in small)
    ascending = [a async for a in _client(alerts).get_all(page_count=50, sort_by="startDateTime", sort_order="asc")]
    starts = [a.properties.essentials.start_date_time for a in ascending]
    assert starts == sorted(starts)


async def test_bulk_acknowledge_with_a_failure_in_the_middle(
    services: Callable[..., Services], faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    made = services()
    alerts = made.alerts
    chosen = (await alerts.list_alerts(parse_filter("state=new since=30d"), PROD))[:5]
    assert len(chosen) == 5
    broken = chosen[2]
    faults([{"path": f"/alerts/{broken.short_id}/changestate", "status": 500}])
    seen: list[tuple[int, str | None]] = []
    outcome = await alerts.change_state(
        chosen, "Acknowledged", "Looking into it", progress=lambda done, total, alert, error: seen.append((done, error))
    )
    assert [done for done, _ in seen] == [1, 2, 3, 4, 5]
    assert [error is not None for _, error in seen] == [False, False, True, False, False]
    assert len(outcome.changed) == 4 and all(a.state == "Acknowledged" for a in outcome.changed)
    assert [alert_id for alert_id, _ in outcome.failed] == [broken.id]
    assert "now: New" in outcome.failed[0][1]
    assert outcome.text == "4 acknowledged, 1 failed"
    history = await alerts.history(chosen[0])
    assert history[0].event == "StateChange" and history[0].comments == "Looking into it"
    assert (await alerts.get_alert(broken.short_id)).state == "New"
    assert await alerts.state_of(broken.id) == f"New, {broken.condition}"  # what a restart reports
    entries = made.context.journal.entries()
    intents = [e for e in entries if e.get("phase") == "intent" and e.get("action") == "acknowledge alert"]
    outcomes = [e for e in entries if e.get("phase") == "outcome" and e.get("action") == "acknowledge alert"]
    assert len(intents) == len(outcomes) == 5
    assert [e["result"] for e in outcomes].count("failed") == 1
    assert intents[0]["parameters"]["comment"] == "Looking into it"
    closed = await alerts.change_state(outcome.changed[:2], "closed")
    assert closed.text == "2 closed"


async def test_read_only_refuses_before_any_request(services: Callable[..., Services]) -> None:
    writable = services().alerts
    chosen = (await writable.list_alerts(parse_filter("state=new since=30d"), PROD))[:1]
    alerts = services(read_only=True).alerts
    with pytest.raises(OpsError) as refused:
        await alerts.change_state(chosen, "Closed", "no")
    assert refused.value.kind is ErrorKind.READ_ONLY
    with pytest.raises(OpsError) as refused:
        await alerts.set_rule_enabled("sqr-checkout-failed-requests", False)
    assert refused.value.kind is ErrorKind.READ_ONLY
    assert (await writable.get_alert(chosen[0])).state == "New"


async def test_rules_listed_and_enabled_or_disabled(services: Callable[..., Services]) -> None:
    made = services()
    alerts = made.alerts
    rules = await alerts.list_rules(PROD)
    kinds = {r.kind for r in rules}
    assert kinds == {"log", "metric", "activity log"}
    failed = next(r for r in rules if r.name == "sqr-checkout-failed-requests")
    assert failed.enabled and failed.tag("runbook") == "app-failure-rate" and failed.query
    assert failed.frequency == "PT5M" and failed.window == "PT15M" and failed.last_fired is not None
    heartbeat = next(r for r in rules if r.name == story.HEARTBEAT_RULE)
    assert heartbeat.firing
    for name in ("sqr-checkout-failed-requests", "ma-psql-orders-cpu", story.SERVICE_HEALTH_RULE):
        disabled = await alerts.set_rule_enabled(name, False)
        assert not disabled.enabled
        assert not (await alerts.find_rule(name)).enabled
        assert (await alerts.set_rule_enabled(disabled, True)).enabled
    actions = [e["action"] for e in made.context.journal.entries() if e.get("phase") == "outcome"]
    assert actions.count("disable alert rule") == 3 and actions.count("enable alert rule") == 3
    assert await alerts.state_of(failed.id) == "enabled"
    with pytest.raises(OpsError) as missing:
        await alerts.find_rule("no-such-rule")
    assert missing.value.kind is ErrorKind.NOT_FOUND and "sqr-heartbeat-missing" in missing.value.message


async def test_an_alert_leads_to_a_runnable_query_and_its_runbook(
    alerts_azure: EmulatorThread, services: Callable[..., Services]
) -> None:
    await telemetry_loaded(alerts_azure.readiness)
    made = services()
    alerts = made.alerts
    # The story's alerts (the paging test may have fired many more in the last hours).
    incident = story.incident_start(datetime.now(UTC)).replace(tzinfo=UTC)
    found = [
        a
        for a in await alerts.list_alerts(AlertFilter(time_range="7d"), PROD)
        if a.started < incident + timedelta(hours=1) or a.name in (story.HEARTBEAT_RULE, story.SERVICE_HEALTH_RULE)
    ]
    workspace = await made.logs.find_workspace(made.resources, None)
    names = ("sqr-checkout-failed-requests", "ma-checkout-http5xx", story.HEARTBEAT_RULE, story.SERVICE_HEALTH_RULE)
    for name in names:
        alert = await alerts.get_alert(next(a for a in found if a.name == name))
        rule = await alerts.rule_of(alert)
        query, timespan, scope = logs_request(alert, rule, datetime.now(UTC))
        assert "AlertStart" in query and "between (AlertStart .. AlertEnd)" in query
        assert timespan >= datetime.now(UTC) - alert.started
        result = await made.logs.query(workspace.customer_id, query, timespan)
        assert result.partial_error is None
        if rule is not None and rule.kind == "log":
            assert scope is not None and scope.lower() == estate.WORKSPACE_RESOURCE_ID.lower()
    failed = await alerts.get_alert(next(a for a in found if a.name == "sqr-checkout-failed-requests"))
    rule = await alerts.rule_of(failed)
    query, timespan, _ = logs_request(failed, rule, datetime.now(UTC))
    result = await made.logs.query(workspace.customer_id, query, timespan)
    assert result.row_count > 0  # the incident's failed requests, inside the alert's window
    runbook = made.runbooks.find("app-failure-rate")
    name, params = runbook_request(failed, rule, [p.name for p in runbook.parameters])
    assert (name, params.get("app")) == ("app-failure-rate", story.INCIDENT_APP)


async def test_bad_input_gets_an_azure_error(alerts: AlertsService) -> None:
    client = _client(alerts)
    for keywords in (
        {"severity": "Sev9"},
        {"page_count": 0},
        {"page_count": 251},
        {"time_range": "2w"},
        {"sort_by": "colour"},
        {"time_range": "1d", "custom_time_range": "2026-01-01T00:00:00Z/2026-01-02T00:00:00Z"},
        {"include_context": True, "page_count": 26},
    ):
        with pytest.raises(HttpResponseError) as refused:
            [a async for a in client.get_all(**keywords)]
        assert refused.value.status_code == 400, keywords
        assert refused.value.error is not None and refused.value.error.code == "BadRequest"
    some = [a async for a in client.get_all(page_count=1)]
    guid = str(some[0].id).rsplit("/", 1)[-1]
    with pytest.raises(HttpResponseError) as refused:
        await client.change_state(guid, "Snoozed")
    assert refused.value.status_code == 400
    with pytest.raises(HttpResponseError) as refused:
        await client.change_state(guid, "Closed", {"comments": "x" * 5000})
    assert refused.value.status_code == 400
    with pytest.raises(OpsError) as missing:
        await alerts.get_alert("00000000-0000-0000-0000-000000000000", PROD)
    assert missing.value.kind is ErrorKind.NOT_FOUND
    with pytest.raises(HttpResponseError) as refused:
        await client.get_summary(groupby="colour")
    assert refused.value.status_code == 400
    with pytest.raises(ValueError, match="not one of"):
        parse_filter("sev=7")
    with pytest.raises(ValueError, match="Unknown filter"):
        parse_filter("colour=red")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/alerts?api-version=2019-05-05-preview&$skiptoken=" + "9" * 40, None),
        ("GET", "/alerts?api-version=2019-05-05-preview&pageCount=-1", None),
        ("GET", "/alerts?api-version=2019-05-05-preview&customTimeRange=yesterday", None),
        (
            "GET",
            "/alerts?api-version=2019-05-05-preview&customTimeRange=2020-01-01T00:00:00Z/2020-01-02T00:00:00Z",
            None,
        ),
        ("GET", "/alerts?api-version=2019-05-05-preview&sortOrder=sideways", None),
        ("GET", "/alertsSummary?api-version=2019-05-05-preview&groupby=severity,severity", None),
        ("GET", "/alertsSummary?api-version=2019-05-05-preview&groupby=a,b,c", None),
        ("POST", "/alerts/{alert}/changestate?api-version=2019-05-05-preview", None),
        ("POST", "/alerts/{alert}/changestate?api-version=2019-05-05-preview&newState=Closed", b"not json"),
        ("POST", "/alerts/{alert}/changestate?api-version=2019-05-05-preview&newState=Closed", b"[1, 2]"),
        ("POST", "/alerts/{alert}/changestate?api-version=2019-05-05-preview&newState=Closed", b'{"comments": 7}'),
        ("PUT", "{rule}", b'{"location": "westeurope"}'),
        ("PUT", "{rule}", b'{"location": "westeurope", "properties": {"criteria": {"allOf": []}}}'),
        ("PUT", "{rule}", b'{"location": "westeurope", "properties": {"severity": 9, "criteria": {}}}'),
        ("PUT", "{rule}", b'{"properties": {}}'),
        ("PATCH", "{rule}", b'{"properties": {"enabled": "yes"}}'),
        ("PATCH", "{rule}", b'{"properties": {"evaluationFrequency": "often"}}'),
        ("PATCH", "{rule}", b'{"properties": []}'),
        ("PATCH", "{rule}", b'{"name": "renamed"}'),
        ("PATCH", "{rule}", b'{"tags": {"a": 1}}'),
    ],
)
async def test_hostile_input_is_an_azure_4xx_and_changes_nothing(
    alerts_azure: EmulatorThread, alerts: AlertsService, method: str, path: str, body: bytes | None
) -> None:
    from test_emulator_hostile import ARM, Raw

    some = await alerts.list_alerts(AlertFilter(time_range="30d"), PROD)
    alert = some[0]
    rule_path = (
        f"/subscriptions/{PROD}/resourceGroups/rg-monitoring/providers/Microsoft.Insights/scheduledQueryRules/"
        "sqr-heartbeat-missing?api-version=2023-12-01"
    )
    base = f"/subscriptions/{PROD}/providers/Microsoft.AlertsManagement"
    target = rule_path if path == "{rule}" else base + path.replace("{alert}", alert.short_id)
    before_rule = await alerts.find_rule("sqr-heartbeat-missing", PROD)
    status, answer, _ = await asyncio.to_thread(Raw(alerts_azure.readiness).send, method, target, body, None, ARM)
    assert 400 <= status < 500, answer
    assert set(answer["error"]) >= {"code", "message"}
    assert (await alerts.get_alert(alert)).state == alert.state
    assert await alerts.find_rule("sqr-heartbeat-missing", PROD) == before_rule


async def test_the_activity_log_records_each_seeded_alert(
    alerts_azure: EmulatorThread, services: Callable[..., Services]
) -> None:
    """The telemetry and the fired alerts tell the same week: one `Alert` activity record per alert, at its time."""
    await telemetry_loaded(alerts_azure.readiness)
    made = services()
    result = await made.logs.query(
        estate.WORKSPACE_CUSTOMER_ID,
        'AzureActivity | where CategoryValue == "Alert" '
        '| project rule = tostring(split(_ResourceId, "/")[-1]), TimeGenerated, ResourceGroup',
        timedelta(days=8),
    )
    recorded = {(row["rule"], row["TimeGenerated"].replace(microsecond=0)) for row in result.table.to_pylist()}
    assert {row["ResourceGroup"] for row in result.table.to_pylist()} == {"rg-monitoring"}
    # The paging test may have fired many alerts in the last hours: compare the older ones.
    cutoff = datetime.now(UTC) - timedelta(hours=6)
    fired = await made.alerts.list_alerts(AlertFilter(time_range="7d"), PROD)
    older = {(a.name, a.started.replace(microsecond=0)) for a in fired if a.started < cutoff}
    assert older == {(rule, at) for rule, at in recorded if at < cutoff}
    assert {rule for rule, _ in recorded} == {a.name for a in fired if a.started < cutoff} | {story.HEARTBEAT_RULE}
    flapping = [at for rule, at in recorded if rule == story.FLAPPING_RULE]
    assert len(flapping) >= 6


async def test_target_rule_and_type_filters_agree_with_the_local_azure(alerts: AlertsService) -> None:
    client = _client(alerts)
    everything = [a async for a in client.get_all(time_range="30d", page_count=250)]
    checkout = story.incident_app().resource_id
    rule = story.alert_rule_id(story.FLAPPING_RULE)
    for keywords, wanted in (
        ({"target_resource": checkout.lower()}, lambda e: e.target_resource.lower() == checkout.lower()),
        ({"target_resource_type": "microsoft.web/sites"}, lambda e: e.target_resource_type == "microsoft.web/sites"),
        ({"alert_rule": rule}, lambda e: e.alert_rule.lower() == rule.lower()),
        (
            {"monitor_condition": "Fired", "severity": "Sev2"},
            lambda e: (e.monitor_condition, e.severity) == ("Fired", "Sev2"),
        ),
    ):
        found = [a async for a in client.get_all(time_range="30d", page_count=250, **keywords)]
        expected = [a.id for a in everything if wanted(a.properties.essentials)]
        assert sorted(a.id for a in found) == sorted(expected) and expected, keywords
