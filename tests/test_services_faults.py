"""Services against the local Azure with faults injected: every failure becomes an OpsError with a sentence.

The matrix covers every public async method of every service the area registry builds (a test checks).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from conftest import EmulatorThread, control

from console.emulator import estate
from console.errors import ErrorKind, OpsError
from console.models import Alert, Gate, WebApp
from console.services import SERVICE_AREAS, Services
from console.services.base import ServiceContext
from console.services.cost import CostScope
from console.settings import Settings

PROD = estate.PROD_SUBSCRIPTION
POSTGRES_ID = (
    f"/subscriptions/{PROD}/resourceGroups/rg-prod-data"
    "/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-orders-prod"
)

Faults = Callable[[list[dict[str, Any]]], Any]
Call = Callable[[Services], Awaitable[Any]]
STAGING_GROUP = f"/subscriptions/{estate.NONPROD_SUBSCRIPTION}/resourceGroups/rg-staging-web"


@dataclass(frozen=True)
class Entry:
    """One service call of the fault matrix: the path (and method) its first request goes to, and how it fails.

    `raises`: the call raises an OpsError. Otherwise the call records the failure in what it returns (a runbook
    step keeps its error and the run goes on), and `failed_text` reads it from there.
    """

    path: str
    call: Call
    method: str | None = None
    failed_text: Callable[[Any], str] | None = None

    @property
    def raises(self) -> bool:
        return self.failed_text is None

    def rule(self, **fault: Any) -> dict[str, Any]:
        return {"path": self.path, **({"method": self.method} if self.method else {}), **fault}


async def _runbook_step(services: Services) -> Any:
    runbook = services.runbooks.find("missing-heartbeats")
    values, prelude = services.runbooks.bind(runbook, {})
    return await services.runbooks.run_step(runbook.steps[0], values, prelude, estate.WORKSPACE_CUSTOMER_ID)


async def _runbook_run(services: Services) -> Any:
    return await services.runbooks.run(services.runbooks.find("missing-heartbeats"), {}, estate.WORKSPACE_CUSTOMER_ID)


async def _session_step(services: Services) -> Any:
    runbook = services.runbooks.find("missing-heartbeats")
    values, prelude = services.runbooks.bind(runbook, {})
    session = await services.runbooks.open_session(runbook, values, estate.WORKSPACE_CUSTOMER_ID)
    return await services.runbooks.run_session_step(session, 0, prelude)


CHECKOUT = "app-checkout-prod"
SITES = "/providers/microsoft.web/sites$"
CHECKOUT_SITE = f"/sites/{CHECKOUT}$"
KQL_GATE = Gate(kql="AppRequests | where AppRoleName == app | summarize n = count()", check="value(n) >= 0")


async def _gate_reading(services: Services) -> Any:
    app = WebApp(CHECKOUT, "rg-prod-web", PROD, ())
    return await services.slots.evaluate(KQL_GATE, app, "production", None)


def _reading_sentence(reading: Any) -> str:
    assert reading.verdict == "error"
    return str(reading.sentence)


def _step_error(step: Any) -> str:
    return str(step.error)


def _first_step_error(run: Any) -> str:
    return str(run.steps[0].error)


COST_SCOPE = CostScope(PROD)
COST_BUDGET = "costmanagement/budgets/budget-prod-monthly"


async def _cost_forecast(services: Services) -> Any:
    today = services.cost.today()
    return await services.cost.forecast(COST_SCOPE, today, today + timedelta(days=5), [])


def _an_alert() -> Alert:
    """An alert as a listing gives it (its id need not exist: the fault answers first)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    rule = f"/subscriptions/{PROD}/resourceGroups/rg-monitoring/providers/Microsoft.Insights/scheduledQueryRules/x"
    return Alert(
        id=f"/subscriptions/{PROD}/providers/Microsoft.AlertsManagement/alerts/0b9a3f0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        name="x",
        severity="Sev2",
        state="New",
        condition="Fired",
        monitor_service="Log Alerts V2",
        signal_type="Log",
        target=estate.WORKSPACE_RESOURCE_ID,
        target_name=estate.WORKSPACE_NAME,
        target_group=estate.WORKSPACE_RESOURCE_GROUP,
        target_type="microsoft.operationalinsights/workspaces",
        rule_id=rule,
        started=now,
        modified=now,
        modified_by="System",
        resolved=None,
        description="",
        subscription_id=PROD,
    )


def _change_failure(outcome: Any) -> str:
    assert not outcome.changed
    return str(outcome.failed[0][1])


SQR = "/scheduledqueryrules$"

BACKUP_ITEM = "vm-jump-prod-01"
BACKUP_JOB = f"{estate.RECOVERY_VAULT_RESOURCE_ID}/backupJobs/00000000-0000-0000-0000-000000000000"


async def _recovery_points(services: Services) -> Any:
    return await services.backup.recovery_points(await services.backup.find_item(BACKUP_ITEM))


async def _cancel(services: Services) -> Any:
    from console.services.backups import BackupJob

    job = BackupJob(
        BACKUP_JOB, BACKUP_JOB.rsplit("/", 1)[-1], estate.RECOVERY_VAULT_NAME, PROD,
        estate.RECOVERY_VAULT_RESOURCE_GROUP, BACKUP_ITEM, "VM", "Backup", "InProgress", None, None, None,
    )  # fmt: skip
    return await services.backup.cancel(job)


# Every public async method of every service (found through the area registry), keyed `area.method`.
CALLS: dict[str, Entry] = {
    "resources.list_subscriptions": Entry("^/subscriptions$", lambda s: s.resources.list_subscriptions()),
    "resources.list_resource_groups": Entry("/resourcegroups$", lambda s: s.resources.list_resource_groups(PROD)),
    "resources.list_resources": Entry("/resources$", lambda s: s.resources.list_resources(PROD)),
    "resources.list_all_resources": Entry("/resources$", lambda s: s.resources.list_all_resources([PROD])),
    "resources.get_resource": Entry("/flexibleservers/", lambda s: s.resources.get_resource(POSTGRES_ID)),
    "resources.set_tags": Entry(
        "/tags/default$", lambda s: s.resources.set_tags(STAGING_GROUP, {"env": "staging"}), method="PUT"
    ),
    "resources.state_of": Entry("/tags/default$", lambda s: s.resources.state_of(STAGING_GROUP), method="GET"),
    "logs.query": Entry("/query$", lambda s: s.logs.query(estate.WORKSPACE_CUSTOMER_ID, "AppRequests | count", None)),
    "logs.schema": Entry("/metadata$", lambda s: s.logs.schema(estate.WORKSPACE_CUSTOMER_ID)),
    "logs.find_workspace": Entry("/resources$", lambda s: s.logs.find_workspace(s.resources, None)),
    "logs.list_workspaces": Entry("/resources$", lambda s: s.logs.list_workspaces(s.resources, [PROD])),
    "runbooks.run_step": Entry("/query$", _runbook_step, failed_text=_step_error),
    "runbooks.run": Entry("/query$", _runbook_run, failed_text=_first_step_error),
    "runbooks.run_session_step": Entry("/query$", _session_step, failed_text=_step_error),
    # Slots: a change named by app fails at its first read, before anything is changed.
    "slots.list_apps": Entry(SITES, lambda s: s.slots.list_apps(PROD)),
    "slots.find_app": Entry(SITES, lambda s: s.slots.find_app(CHECKOUT, PROD)),
    "slots.read_app": Entry(CHECKOUT_SITE, lambda s: s.slots.read_app(PROD, "rg-prod-web", CHECKOUT)),
    "slots.state_of": Entry(
        CHECKOUT_SITE,
        lambda s: s.slots.state_of(
            f"/subscriptions/{PROD}/resourceGroups/rg-prod-web/providers/Microsoft.Web/sites/{CHECKOUT}"
        ),
    ),
    "slots.diff": Entry(SITES, lambda s: s.slots.diff(CHECKOUT, "staging")),
    "slots.swap": Entry(SITES, lambda s: s.slots.swap(CHECKOUT, "staging")),
    "slots.complete_preview": Entry(SITES, lambda s: s.slots.complete_preview(CHECKOUT, "staging")),
    "slots.cancel_preview": Entry(SITES, lambda s: s.slots.cancel_preview(CHECKOUT, "staging")),
    "slots.start": Entry(SITES, lambda s: s.slots.start(CHECKOUT, "staging")),
    "slots.stop": Entry(SITES, lambda s: s.slots.stop(CHECKOUT, "staging")),
    "slots.restart": Entry(SITES, lambda s: s.slots.restart(CHECKOUT, "staging")),
    "slots.set_routing": Entry(SITES, lambda s: s.slots.set_routing(CHECKOUT, "staging", 10)),
    "slots.rollback": Entry(SITES, lambda s: s.slots.rollback(CHECKOUT)),
    "slots.guarded_swap": Entry(SITES, lambda s: s.slots.guarded_swap(CHECKOUT, "staging", KQL_GATE)),
    "slots.ramp": Entry(SITES, lambda s: s.slots.ramp(CHECKOUT, "staging", [5], timedelta(seconds=1), KQL_GATE)),
    "slots.evaluate": Entry("/query$", _gate_reading, failed_text=_reading_sentence),
    "cost.daily": Entry("costmanagement/query$", lambda s: s.cost.daily(COST_SCOPE)),
    "cost.daily_by": Entry("costmanagement/query$", lambda s: s.cost.daily_by(COST_SCOPE, ("service",))),
    "cost.breakdown": Entry("costmanagement/query$", lambda s: s.cost.breakdown(COST_SCOPE, "group")),
    "cost.anomalies": Entry("costmanagement/query$", lambda s: s.cost.anomalies(COST_SCOPE)),
    # A forecast the API cannot give comes from the trend, saying why.
    "cost.forecast": Entry("costmanagement/forecast$", _cost_forecast, failed_text=lambda f: str(f.note)),
    "cost.budgets": Entry("costmanagement/budgets$", lambda s: s.cost.budgets(COST_SCOPE)),
    "cost.budget": Entry(COST_BUDGET + "$", lambda s: s.cost.budget(COST_SCOPE, "budget-prod-monthly")),
    "cost.set_budget": Entry(
        COST_BUDGET + "$", lambda s: s.cost.set_budget(COST_SCOPE, "budget-prod-monthly", 10.0), method="GET"
    ),
    "cost.state_of": Entry(
        COST_BUDGET + "$",
        lambda s: s.cost.state_of(
            f"/subscriptions/{PROD}/providers/Microsoft.CostManagement/budgets/budget-prod-monthly"
        ),
    ),
    "alerts.subscription_ids": Entry("^/subscriptions$", lambda s: s.alerts.subscription_ids()),
    "alerts.list_alerts": Entry("/alerts$", lambda s: s.alerts.list_alerts(None, PROD)),
    "alerts.summary": Entry("/alertssummary$", lambda s: s.alerts.summary(None, PROD)),
    "alerts.get_alert": Entry("/alerts/[^/]+$", lambda s: s.alerts.get_alert(_an_alert())),
    "alerts.history": Entry("/history$", lambda s: s.alerts.history(_an_alert())),
    # A change of several alerts records each failure and goes on (the others are changed).
    "alerts.change_state": Entry(
        "/changestate$",
        lambda s: s.alerts.change_state([_an_alert()], "Acknowledged", "x"),
        failed_text=_change_failure,
    ),
    "alerts.state_of": Entry("/alerts/[^/]+$", lambda s: s.alerts.state_of(_an_alert().id)),
    "alerts.list_rules": Entry(SQR, lambda s: s.alerts.list_rules(PROD)),
    "alerts.rule_of": Entry(SQR, lambda s: s.alerts.rule_of(_an_alert())),
    "alerts.find_rule": Entry(SQR, lambda s: s.alerts.find_rule("sqr-heartbeat-missing", PROD)),
    # Enabling by name fails at its first read, before anything is changed.
    "alerts.set_rule_enabled": Entry(SQR, lambda s: s.alerts.set_rule_enabled("sqr-heartbeat-missing", True)),
    "backup.list_vaults": Entry("/resources$", lambda s: s.backup.list_vaults()),
    "backup.list_jobs": Entry("/backupjobs$", lambda s: s.backup.list_jobs(status="Failed")),
    "backup.read_job": Entry("/backupjobs/", lambda s: s.backup.read_job(BACKUP_JOB)),
    "backup.state_of": Entry("/backupjobs/", lambda s: s.backup.state_of(BACKUP_JOB)),
    "backup.list_items": Entry("/backupprotecteditems$", lambda s: s.backup.list_items()),
    "backup.find_item": Entry("/backupprotecteditems$", lambda s: s.backup.find_item(BACKUP_ITEM)),
    "backup.freshness": Entry("/backuppolicies$", lambda s: s.backup.freshness()),
    "backup.recovery_points": Entry("/recoverypoints$", _recovery_points),
    "backup.backup_now": Entry("/backup$", lambda s: s.backup.backup_now(BACKUP_ITEM), method="POST"),
    "backup.restore": Entry(
        "/restore$", lambda s: s.backup.restore(BACKUP_ITEM, "latest", target="rg", confirmed=True), method="POST"
    ),
    "backup.cancel": Entry("/cancel$", _cancel, method="POST"),
    "backup.list_app_backups": Entry(
        "/sites/app-catalog-prod/backups$", lambda s: s.backup.list_app_backups("app-catalog-prod")
    ),
    "backup.backup_app": Entry("/sites/app-catalog-prod/backup$", lambda s: s.backup.backup_app("app-catalog-prod")),
    "backup.restore_app": Entry(
        "/sites/app-catalog-prod/backups$", lambda s: s.backup.restore_app("app-catalog-prod", "1", confirmed=True)
    ),
    "backup.list_database_backups": Entry(
        "/flexibleservers/psql-orders-prod/backups$", lambda s: s.backup.list_database_backups("psql-orders-prod")
    ),
    "backup.backup_database": Entry(
        "/flexibleservers/psql-orders-prod/backups/", lambda s: s.backup.backup_database("psql-orders-prod")
    ),
    "backup.list_platform_backups": Entry(
        "/flexibleservers/psql-orders-prod/backups$", lambda s: s.backup.list_platform_backups()
    ),
    "backup.drill": Entry(
        "/restore$", lambda s: s.backup.drill(BACKUP_ITEM, "print ok = 1", confirmed=True), method="POST"
    ),
}

NOT_IN_THE_MATRIX: dict[str, str] = {
    "call": "the wrapper every entry above goes through",
    "mutate": "the base mutation path; set_tags goes through it here, tests/test_mutation_path.py covers it",
    "close": "closes the SDK clients: sends no request",
    "logs.state_of": "the base's refusal (Logs changes nothing): sends no request",
    "runbooks.state_of": "the base's refusal (Runbooks changes nothing): sends no request",
    "runbooks.open_session": "keeps the step session in memory (recording the previous one writes a file): no request",
    "runbooks.finish_session": "writes the run history file: no request",
    "slots.preflight": "judges the app it is given and the journal: no request",
}
"""Public async service methods deliberately left out of the matrix, with the reason."""


def public_async_methods() -> set[str]:
    """`area.method` for every public async method of every service the area registry builds."""
    services = Services(ServiceContext(Settings(), None, None, None))  # never connected: nothing is sent
    found = set()
    for area in SERVICE_AREAS:
        kind = type(services.area(area))
        for name, member in inspect.getmembers(kind):
            if not name.startswith("_") and inspect.iscoroutinefunction(member):
                found.add(f"{area}.{name}")
    return found


def test_every_public_async_service_method_is_in_the_fault_matrix() -> None:
    methods = public_async_methods()
    assert len(SERVICE_AREAS) >= 3 and "logs.query" in methods  # the enumeration itself works
    excluded = {m for m in methods if m in NOT_IN_THE_MATRIX or m.split(".", 1)[1] in NOT_IN_THE_MATRIX}
    missing = sorted(methods - set(CALLS) - excluded)
    assert not missing, f"service calls with no fault-matrix entry (add them to CALLS): {missing}"
    stale = sorted(set(CALLS) - methods)
    assert not stale, f"fault-matrix entries for calls no service has: {stale}"


def failure_of(entry: Entry, outcome: Any) -> str:
    assert entry.failed_text is not None
    text = entry.failed_text(outcome)
    assert text and text != "None", f"the call did not record a failure: {outcome!r}"
    return text


async def run(services: Services, call: Call) -> Any:
    try:
        return await call(services)
    finally:
        await services.close()


def assert_sentence(error: OpsError) -> None:
    text = str(error)
    assert text[:1].isupper() and len(text.split()) >= 5, text
    assert "Traceback" not in text and "<" not in text, text


@pytest.mark.asyncio
async def test_throttling_with_retry_after_is_waited_out(
    make_local_services: Callable[..., Services], faults: Faults, local_azure: EmulatorThread
) -> None:
    faults([{"path": "/resources$", "method": "GET", "status": 429, "retry_after": 1, "count": 2}])
    found = await run(make_local_services(retry_total=3), CALLS["resources.list_resources"].call)
    assert len(found) == len(local_azure.running.store.resources(PROD))  # type: ignore[union-attr]
    assert control(local_azure.readiness, "GET") == []  # both throttled answers were used up


@pytest.mark.asyncio
async def test_throttling_beyond_the_retries_says_when_to_retry(
    make_local_services: Callable[..., Services], faults: Faults
) -> None:
    faults([{"path": "/resources$", "status": 429, "retry_after": 1}])
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=0), CALLS["resources.list_resources"].call)
    error = caught.value
    assert error.kind is ErrorKind.THROTTLED
    assert error.retry_after == 1.0
    assert error.request_id
    assert "throttling" in str(error) and error.request_id in str(error)
    assert_sentence(error)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(CALLS))
async def test_server_error_every_time_is_transient(
    make_local_services: Callable[..., Services], faults: Faults, name: str
) -> None:
    entry = CALLS[name]
    faults([entry.rule(status=500)])
    if not entry.raises:
        text = failure_of(entry, await run(make_local_services(retry_total=1), entry.call))
        assert "500" in text and "Traceback" not in text
        return
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=1), entry.call)
    error = caught.value
    assert error.kind is ErrorKind.TRANSIENT
    assert "500" in error.message
    assert error.request_id and error.request_id in str(error)
    assert_sentence(error)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(CALLS))
async def test_dropped_connection_is_transient(
    make_local_services: Callable[..., Services], faults: Faults, name: str
) -> None:
    entry = CALLS[name]
    faults([entry.rule(drop=True)])
    if not entry.raises:
        text = failure_of(entry, await run(make_local_services(retry_total=1), entry.call))
        assert "connection" in text.lower()
        return
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=1), entry.call)
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert "connection" in caught.value.message.lower()
    assert_sentence(caught.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(CALLS))
async def test_malformed_body_is_transient(
    make_local_services: Callable[..., Services], faults: Faults, name: str
) -> None:
    entry = CALLS[name]
    faults([entry.rule(malformed=True)])
    if not entry.raises:
        text = failure_of(entry, await run(make_local_services(retry_total=1), entry.call))
        assert "could not be read" in text
        return
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=1), entry.call)
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert "could not be read" in caught.value.message
    assert_sentence(caught.value)


@pytest.mark.asyncio
async def test_one_dropped_connection_is_retried(
    make_local_services: Callable[..., Services], faults: Faults, local_azure: EmulatorThread
) -> None:
    faults([{"path": "^/subscriptions$", "drop": True, "count": 1}])
    found = await run(make_local_services(retry_total=2), CALLS["resources.list_subscriptions"].call)
    assert len(found) == 2
    assert control(local_azure.readiness, "GET") == []


@pytest.mark.asyncio
async def test_not_found_is_a_sentence_with_the_request_id(make_local_services: Callable[..., Services]) -> None:
    missing = POSTGRES_ID.replace("psql-orders-prod", "psql-nope")
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(), lambda s: s.resources.get_resource(missing))
    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert caught.value.code == "ResourceNotFound"
    assert caught.value.request_id
    assert_sentence(caught.value)


@pytest.mark.asyncio
async def test_read_only_can_be_per_subscription(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services(read_only_subscriptions=(PROD.upper(),))
    try:
        with pytest.raises(OpsError) as caught:
            services.resources.ensure_writable(PROD, "restart app-checkout-prod")
        services.resources.ensure_writable(estate.NONPROD_SUBSCRIPTION, "restart app-checkout-stg")
    finally:
        await services.close()
    assert caught.value.kind is ErrorKind.READ_ONLY
