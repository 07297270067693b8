"""Alerts: fired alerts (azure-mgmt-alertsmanagement) with their summary, detail and history; acknowledge or close
several at once; the alert rules (azure-mgmt-monitor) with enable and disable; and where an alert leads: its
rule's KQL over the alert's window, and the runbook its rule is tagged with.

Both SDKs are imported on first use; every change goes through `mutate`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from console.errors import ErrorKind, OpsError
from console.kql import datetime_text, string_literal
from console.models import (
    Alert,
    AlertChange,
    AlertCondition,
    AlertFilter,
    AlertRule,
    AlertStateChange,
    AlertSummary,
    OperationProgress,
)
from console.services.base import Service, ServiceContext

SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")
STATES = ("New", "Acknowledged", "Closed")
CONDITIONS = ("Fired", "Resolved")
TIME_RANGES = ("1h", "1d", "7d", "30d")
PAGE_COUNT = 250
"""Alerts per page asked of Azure (its most)."""
STATE_VERBS = {"Acknowledged": "acknowledge alert", "Closed": "close alert", "New": "reopen alert"}
AlertProgress = Callable[[int, int, Alert, str | None], None]
"""Told after each alert of a bulk change: how many done, of how many, the alert, and the failure (or None)."""
_RULE_KINDS = {
    "microsoft.insights/scheduledqueryrules": "log",
    "microsoft.insights/metricalerts": "metric",
    "microsoft.insights/activitylogalerts": "activity log",
}


def parse_filter(text: str, base: AlertFilter | None = None) -> AlertFilter:
    """A filter from `sev=0,1 state=new cond=fired rg=rg-web service=Platform since=24h` (words in any order,
    values case-insensitive; `since` takes 1h, 24h/1d, 7d or 30d). ValueError with a sentence for a bad word."""
    found = base or AlertFilter()
    changes: dict[str, Any] = {}
    for word in text.split():
        key, equals, value = word.partition("=")
        key = key.lower()
        if not equals or not value:
            raise ValueError(f"{word!r} is not key=value (keys: sev, state, cond, rg, service, since).")
        if key in ("sev", "severity"):
            changes["severities"] = tuple(severity_names(value.split(",")))
        elif key == "state":
            changes["states"] = tuple(known_values(value.split(","), STATES, "state"))
        elif key in ("cond", "condition"):
            changes["conditions"] = tuple(known_values(value.split(","), CONDITIONS, "condition"))
        elif key in ("rg", "group"):
            changes["resource_group"] = value
        elif key == "service":
            changes["monitor_service"] = value.replace("_", " ")
        elif key == "since":
            changes["time_range"] = time_range(value)
        else:
            raise ValueError(f"Unknown filter {key!r}: use sev, state, cond, rg, service or since.")
    return AlertFilter(**{**found.__dict__, **changes})


def severity_names(values: Iterable[str]) -> list[str]:
    """`0`, `sev0` or `Sev0` as Azure's `Sev0`; ValueError naming a value that is none."""
    names = []
    for value in values:
        text = value.strip().lower().removeprefix("sev")
        if text not in {"0", "1", "2", "3", "4"}:
            raise ValueError(f"Severity {value!r} is not one of 0-4 (or Sev0-Sev4).")
        names.append(f"Sev{text}")
    return names


def known_values(values: Iterable[str], allowed: Sequence[str], what: str) -> list[str]:
    names = []
    for value in values:
        match = next((a for a in allowed if a.lower() == value.strip().lower()), None)
        if match is None:
            raise ValueError(f"The {what} {value!r} is not one of {', '.join(allowed)}.")
        names.append(match)
    return names


def states(values: Iterable[str]) -> list[str]:
    """Alert states (New, Acknowledged, Closed) from any case; ValueError for another word."""
    return known_values(values, STATES, "state")


def time_range(value: str) -> str:
    """Azure's time range for `1h`, `24h`/`1d`, `7d` or `30d`; ValueError for any other."""
    text = value.strip().lower()
    text = {"24h": "1d", "168h": "7d", "720h": "30d"}.get(text, text)
    if text not in TIME_RANGES:
        raise ValueError(f"The time range {value!r} is not one of 1h, 24h (1d), 7d or 30d.")
    return text


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _condition(context: Any) -> AlertCondition:
    """The rule's condition as the alert's context holds it (empty when it has none)."""
    if not isinstance(context, dict):
        return AlertCondition()
    condition = context.get("condition") or {}
    first: dict[str, Any] = next(iter(condition.get("allOf") or []), {}) or {}
    return AlertCondition(
        window_start=_when(condition.get("windowStartTime")),
        window_end=_when(condition.get("windowEndTime")),
        query=first.get("query") or first.get("searchQuery"),
        metric=first.get("metricName"),
        aggregation=first.get("timeAggregation"),
        operator=first.get("operator"),
        threshold=_number(first.get("threshold")),
        observed=_number(first.get("metricValue")),
    )


def to_alert(model: Any) -> Alert:
    """An Alert from the SDK's alert model."""
    props = model.properties
    essentials = props.essentials
    alert_id = str(model.id)
    started = _when(essentials.start_date_time) or datetime.now(UTC)
    return Alert(
        id=alert_id,
        name=str(model.name or ""),
        severity=str(essentials.severity or ""),
        state=str(essentials.alert_state or ""),
        condition=str(essentials.monitor_condition or ""),
        monitor_service=str(essentials.monitor_service or ""),
        signal_type=str(essentials.signal_type or ""),
        target=str(essentials.target_resource or ""),
        target_name=str(essentials.target_resource_name or ""),
        target_group=str(essentials.target_resource_group or ""),
        target_type=str(essentials.target_resource_type or ""),
        rule_id=str(essentials.alert_rule or ""),
        started=started,
        modified=_when(essentials.last_modified_date_time) or started,
        modified_by=str(essentials.last_modified_user_name or ""),
        resolved=_when(essentials.monitor_condition_resolved_date_time),
        description=str(getattr(essentials, "description", "") or ""),
        subscription_id=alert_id.split("/")[2] if alert_id.startswith("/subscriptions/") else "",
        detail=_condition(props.context),
    )


def _rule_id_parts(rule_id: str) -> tuple[str, str, str]:
    """Subscription, resource group and name of a rule's ARM id."""
    parts = rule_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    group = parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered[:-1] else ""
    return (parts[1] if len(parts) > 1 else ""), group, parts[-1]


def alert_window(alert: Alert) -> tuple[datetime, datetime]:
    """The time the alert is about: its rule's window when known, else 15 minutes before it fired until it
    resolved (or 15 minutes after it fired)."""
    start = alert.detail.window_start or alert.started - timedelta(minutes=15)
    end = alert.resolved or alert.detail.window_end or alert.started + timedelta(minutes=15)
    return start, max(end, alert.started)


def logs_request(alert: Alert, rule: AlertRule | None, now: datetime) -> tuple[str, timedelta, str | None]:
    """The KQL that shows the evidence behind an alert, the time range to run it over, and the workspace.

    The rule's own query (a log rule), else the requests of the app (a web app target) or the activity of the
    target resource; preceded by the alert's window as `AlertStart`/`AlertEnd` and restricted to it.
    """
    start, end = alert_window(alert)
    query = (rule.query if rule is not None else None) or alert.detail.query
    if not query:
        kind = alert.target_type.lower()
        if kind == "microsoft.web/sites":
            query = f"AppRequests\n| where AppRoleName == {string_literal(alert.target_name)}"
        elif "/" not in alert.target.strip("/").removeprefix("subscriptions/"):
            query = f"AzureActivity\n| where SubscriptionId == {string_literal(alert.target_name)}"
        else:
            query = f"AzureDiagnostics\n| where _ResourceId == {string_literal(alert.target.lower())}"
    head, newline, rest = query.strip().partition("\n")
    window = "| where TimeGenerated between (AlertStart .. AlertEnd)"
    body = f"{head}\n{window}{newline}{rest}" if not head.lstrip().lower().startswith("let ") else query.strip()
    text = (
        f"// {alert.severity} {alert.name} on {alert.target_name}, fired {alert.started:%Y-%m-%d %H:%M} UTC\n"
        f"let AlertStart = datetime({datetime_text(start)});\n"
        f"let AlertEnd = datetime({datetime_text(end)});\n"
        f"{body}"
    )
    timespan = max(now - start, timedelta(minutes=1)) + timedelta(minutes=5)
    scope = next((s for s in (rule.scopes if rule else ()) if "/microsoft.operationalinsights/" in s.lower()), None)
    return text, timespan, scope


def runbook_request(alert: Alert, rule: AlertRule | None, parameters: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The runbook a rule is tagged with (`runbook`) and its parameters filled from the alert: the app (the
    rule's `runbook-app` tag, else a web app target), and a window or lookback covering the alert."""
    name = rule.tag("runbook") if rule is not None else ""
    if not name:
        return "", {}
    values: dict[str, str] = {}
    app = (rule.tag("runbook-app") if rule is not None else "") or (
        alert.target_name if alert.target_type.lower() == "microsoft.web/sites" else ""
    )
    if "app" in parameters and app:
        values["app"] = app
    start, _ = alert_window(alert)
    hours = max(1, int((datetime.now(UTC) - start).total_seconds() // 3600) + 1)
    for window in ("window", "lookback"):
        if window in parameters:
            values[window] = f"{hours}h" if hours < 48 else f"{hours // 24 + 1}d"
    return name, values


class AlertsService(Service):
    """Fired alerts and alert rules."""

    area = "alerts"

    def __init__(self, context: ServiceContext, resources: Any) -> None:
        super().__init__(context)
        self.resources = resources
        self._clients: dict[tuple[str, str], Any] = {}
        self._rules: dict[str, AlertRule] = {}
        """The rules last read, by lower-case id (for an alert's rule: its query and runbook)."""

    # -- clients --------------------------------------------------------------------------------------------

    def _alerts_client(self, subscription_id: str) -> Any:
        return self._client("alerts", subscription_id)

    def _monitor_client(self, subscription_id: str) -> Any:
        return self._client("monitor", subscription_id)

    def _client(self, sdk: str, subscription_id: str) -> Any:
        """One client per SDK and subscription, made on first use (the SDK is imported then)."""
        client = self._clients.get((sdk, subscription_id))
        if client is None:
            if sdk == "alerts":
                from azure.mgmt.alertsmanagement.aio import AlertsManagementClient as SdkClient
            else:
                from azure.mgmt.monitor.aio import MonitorManagementClient as SdkClient  # type: ignore[assignment]
            client = SdkClient(self.context.credential, subscription_id, **self.context.arm_options())
            self._clients[(sdk, subscription_id)] = client
        return client

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)

    async def subscription_ids(self, subscription_id: str | None = None) -> list[str]:
        """The subscription given, else the configured one, else every one the identity sees."""
        if subscription_id:
            return [subscription_id]
        await self.context.connected()
        known = await self.resources.list_subscriptions()
        configured = self.context.settings.subscription
        if configured:
            chosen = [s for s in known if configured.lower() in {s.subscription_id.lower(), s.display_name.lower()}]
            if chosen:
                return [s.subscription_id for s in chosen]
        return [s.subscription_id for s in known]

    # -- fired alerts ---------------------------------------------------------------------------------------

    @staticmethod
    def _filters(wanted: AlertFilter) -> dict[str, Any]:
        """The SDK keywords for a filter (several values of one field go comma-separated)."""
        given: dict[str, Any] = {"time_range": wanted.time_range}
        if wanted.severities:
            given["severity"] = ",".join(wanted.severities)
        if wanted.states:
            given["alert_state"] = ",".join(wanted.states)
        if wanted.conditions:
            given["monitor_condition"] = ",".join(wanted.conditions)
        if wanted.resource_group:
            given["target_resource_group"] = wanted.resource_group
        if wanted.monitor_service:
            given["monitor_service"] = wanted.monitor_service
        return given

    async def list_alerts(
        self,
        wanted: AlertFilter | None = None,
        subscription_id: str | None = None,
        *,
        on_page: Callable[[list[Alert]], None] | None = None,
    ) -> list[Alert]:
        """Fired alerts the filter selects, most severe first, then newest first; `on_page` hears each page as it
        arrives (a screen paints the first page before the last has come). A listing carries no condition (with it
        Azure pages 25 alerts at a time): `get_alert` reads one with it."""
        wanted = wanted or AlertFilter()
        found: list[Alert] = []
        for sub in await self.subscription_ids(subscription_id):
            pager = self._alerts_client(sub).alerts.get_all(
                page_count=PAGE_COUNT, sort_by="startDateTime", **self._filters(wanted)
            )

            async def collect(pages: Any) -> None:
                async for page in pages.by_page():
                    batch = [to_alert(model) async for model in page]
                    found.extend(batch)
                    if on_page is not None and batch:
                        on_page(sorted(found, key=alert_order))

            await self.call("list fired alerts", collect(pager))
        return sorted(found, key=alert_order)

    async def summary(self, wanted: AlertFilter | None = None, subscription_id: str | None = None) -> AlertSummary:
        """Counts by severity and by state of the alerts the filter selects."""
        wanted = wanted or AlertFilter()
        by_severity = dict.fromkeys(SEVERITIES, 0)
        by_state = dict.fromkeys(STATES, 0)
        total = 0
        for sub in await self.subscription_ids(subscription_id):
            found = await self.call(
                "read the alerts summary",
                self._alerts_client(sub).alerts.get_summary(groupby="severity,alertState", **self._filters(wanted)),
            )
            props = found.properties
            total += int(props.total or 0)
            for group in props.values or []:
                by_severity[str(group.name)] = by_severity.get(str(group.name), 0) + int(group.count or 0)
                for inner in group.values or []:
                    by_state[str(inner.name)] = by_state.get(str(inner.name), 0) + int(inner.count or 0)
        return AlertSummary(total, tuple(by_severity.items()), tuple(by_state.items()))

    async def get_alert(self, alert: Alert | str, subscription_id: str | None = None) -> Alert:
        """One alert read afresh, by its id or GUID (a GUID is looked for in each subscription)."""
        if isinstance(alert, Alert):
            return await self._get(alert.subscription_id, alert.short_id)
        if alert.startswith("/subscriptions/"):
            return await self._get(alert.split("/")[2], alert.rstrip("/").rsplit("/", 1)[-1])
        for sub in await self.subscription_ids(subscription_id):
            try:
                return await self._get(sub, alert)
            except OpsError as error:
                if error.kind is not ErrorKind.NOT_FOUND:
                    raise
        raise OpsError(ErrorKind.NOT_FOUND, f"No fired alert has the id {alert!r}.")

    async def _get(self, subscription_id: str, guid: str) -> Alert:
        model = await self.call(f"read alert {guid}", self._alerts_client(subscription_id).alerts.get_by_id(guid))
        return to_alert(model)

    async def history(self, alert: Alert) -> list[AlertChange]:
        """The alert's history, newest first: created, condition changes, state changes with their comments."""
        found = await self.call(
            f"read the history of alert {alert.short_id}",
            self._alerts_client(alert.subscription_id).alerts.get_history(alert.short_id),
        )
        changes = []
        for item in found.properties.modifications or []:
            changes.append(
                AlertChange(
                    at=_when(item.modified_at) or alert.started,
                    event=str(item.modification_event or ""),
                    old=str(item.old_value or ""),
                    new=str(item.new_value or ""),
                    who=str(item.modified_by or ""),
                    comments=str(item.comments or ""),
                    description=str(item.description or ""),
                )
            )
        return sorted(changes, key=lambda c: c.at, reverse=True)

    async def change_state(
        self,
        alerts: Sequence[Alert],
        state: str,
        comment: str = "",
        *,
        confirmed: bool = False,
        progress: AlertProgress | None = None,
        operation: Callable[[OperationProgress], None] | None = None,
    ) -> AlertStateChange:
        """Acknowledge, close or reopen each alert with the comment, one journaled change per alert. A failure is
        told for its alert (with its state read back) and the others go on; read-only refuses before any request."""
        state = states([state])[0]
        for sub in {a.subscription_id for a in alerts}:
            self.ensure_writable(sub, f"{STATE_VERBS[state]}s", confirmed=confirmed)
        changed: list[Alert] = []
        failed: list[tuple[str, str]] = []
        for index, alert in enumerate(alerts):
            client = self._alerts_client(alert.subscription_id).alerts

            def call(client: Any = client, alert: Alert = alert) -> Any:
                body = {"comments": comment} if comment else None
                return client.change_state(alert.short_id, state, body)

            def reread(alert: Alert = alert) -> Any:
                return self._state_of(alert)

            try:
                model = await self.mutate(
                    STATE_VERBS[state],
                    alert.id,
                    call,
                    subscription_id=alert.subscription_id,
                    parameters={"state": state, "comment": comment, "rule": alert.name, "severity": alert.severity},
                    reread=reread,
                    confirmed=True,
                    progress=operation,
                )
            except OpsError as error:
                failed.append((alert.id, str(error)))
                if progress is not None:
                    progress(index + 1, len(alerts), alert, str(error))
                continue
            changed.append(to_alert(model))
            if progress is not None:
                progress(index + 1, len(alerts), alert, None)
        return AlertStateChange(state, tuple(changed), tuple(failed))

    async def _state_of(self, alert: Alert) -> str:
        now = await self._get(alert.subscription_id, alert.short_id)
        return f"{now.state}, {now.condition}"

    async def state_of(self, target: str) -> str:
        """What an alert (its state and condition) or a rule (enabled or not) a change was made to is now; read
        after a change was interrupted."""
        if "/microsoft.alertsmanagement/alerts/" in target.lower():
            alert = await self.get_alert(target)
            return f"{alert.state}, {alert.condition}"
        subscription_id, _, name = _rule_id_parts(target)
        rule = await self.find_rule(name, subscription_id or None)
        return "enabled" if rule.enabled else "disabled"

    # -- rules ----------------------------------------------------------------------------------------------

    async def list_rules(self, subscription_id: str | None = None, *, with_alerts: bool = True) -> list[AlertRule]:
        """Log, metric and activity log alert rules, with when each last fired (over 30 days) and whether it is
        firing now."""
        rules: list[AlertRule] = []
        for sub in await self.subscription_ids(subscription_id):
            monitor = self._monitor_client(sub)

            async def listed(action: str, pager: Callable[[], Any]) -> list[Any]:
                # The pager is made here, inside the task: a task cancelled before it starts leaves nothing unawaited.
                return await self.call(action, _collect(pager()))

            log, metric, activity = await asyncio.gather(
                listed("list log alert rules", monitor.scheduled_query_rules.list_by_subscription),
                listed("list metric alert rules", monitor.metric_alerts.list_by_subscription),
                listed("list activity log alert rules", monitor.activity_log_alerts.list_by_subscription_id),
            )
            rules += [to_rule(model, sub) for model in (*log, *metric, *activity)]
        if with_alerts:
            fired = await self.list_alerts(AlertFilter(time_range="30d"), subscription_id)
            rules = [_with_alerts(rule, fired) for rule in rules]
        self._rules.update({rule.id.lower(): rule for rule in rules})
        return sorted(rules, key=lambda r: (r.kind, r.name.lower()))

    def known_rule(self, rule_id: str) -> AlertRule | None:
        """A rule already read (None when it has not been), without a request."""
        return self._rules.get(rule_id.lower())

    async def rule_of(self, alert: Alert) -> AlertRule | None:
        """The alert's rule (read once, then remembered); None when the alert names none this console reads."""
        known = self._rules.get(alert.rule_id.lower())
        if known is not None or not alert.rule_id.startswith("/subscriptions/"):
            return known
        await self.list_rules(alert.rule_id.split("/")[2], with_alerts=False)
        return self._rules.get(alert.rule_id.lower())

    async def find_rule(self, name: str, subscription_id: str | None = None) -> AlertRule:
        """A rule by name (case-insensitive); a sentence naming the known rules when there is none."""
        rules = await self.list_rules(subscription_id, with_alerts=False)
        found = [r for r in rules if r.name.lower() == name.lower()]
        if not found:
            known = ", ".join(r.name for r in rules) or "none"
            raise OpsError(ErrorKind.NOT_FOUND, f"No alert rule is called {name!r}; known: {known}.")
        return found[0]

    async def set_rule_enabled(
        self,
        rule: AlertRule | str,
        enabled: bool,
        *,
        confirmed: bool = False,
        progress: Callable[[OperationProgress], None] | None = None,
    ) -> AlertRule:
        """Enable or disable a rule (PATCH, as Azure does); journaled, refused in read-only mode before any request."""
        verb = "enable alert rule" if enabled else "disable alert rule"
        if isinstance(rule, str):
            self.ensure_writable(None, f"{verb} {rule}", confirmed=True)  # a read-only console asks nothing
            rule = await self.find_rule(rule)
        self.ensure_writable(rule.subscription_id, f"{verb} {rule.name}", confirmed=confirmed)
        monitor = self._monitor_client(rule.subscription_id)
        group = rule.resource_group

        def call() -> Any:
            from azure.mgmt.monitor import models

            if rule.kind == "log":
                patch = models.ScheduledQueryRuleResourcePatch(enabled=enabled)
                return monitor.scheduled_query_rules.update(group, rule.name, patch)
            if rule.kind == "metric":
                return monitor.metric_alerts.update(group, rule.name, models.MetricAlertResourcePatch(enabled=enabled))
            return monitor.activity_log_alerts.update(group, rule.name, models.AlertRulePatchObject(enabled=enabled))

        async def reread() -> str:
            now = await self.find_rule(rule.name, rule.subscription_id)
            return "enabled" if now.enabled else "disabled"

        model = await self.mutate(
            verb,
            rule.id,
            call,
            subscription_id=rule.subscription_id,
            parameters={"rule": rule.name, "enabled": enabled},
            reread=reread,
            confirmed=True,
            progress=progress,
        )
        changed = to_rule(model, rule.subscription_id)
        changed = AlertRule(**{**changed.__dict__, "last_fired": rule.last_fired, "firing": rule.firing})
        self._rules[changed.id.lower()] = changed
        return changed


def alert_order(alert: Alert) -> tuple[int, float]:
    """Most severe first, then newest first."""
    return alert.severity_rank, -alert.started.timestamp()


def to_rule(model: Any, subscription_id: str) -> AlertRule:
    """An AlertRule from an SDK rule model of any of the three kinds."""
    rule_id = str(model.id)
    kind = _RULE_KINDS.get(str(model.type or "").lower(), "activity log")
    _, group, name = _rule_id_parts(rule_id)
    query: str | None = None
    condition = ""
    criteria = getattr(model, "criteria", None)
    if kind == "log":
        first = next(iter(getattr(criteria, "all_of", None) or []), None)
        if first is not None:
            query = first.query
            condition = f"{first.time_aggregation} {first.operator} {first.threshold:g}"
    elif kind == "metric":
        first = next(iter(getattr(criteria, "all_of", None) or []), None)
        if first is not None:
            condition = f"{first.time_aggregation} {first.metric_name} {first.operator} {first.threshold:g}"
    else:
        all_of = getattr(getattr(model, "condition", None), "all_of", None) or []
        condition = " and ".join(f"{c.field} = {c.equals}" for c in all_of if getattr(c, "equals", None))
    frequency = getattr(model, "evaluation_frequency", None)
    window = getattr(model, "window_size", None)
    severity = getattr(model, "severity", None)
    return AlertRule(
        id=rule_id,
        name=name,
        kind=kind,
        enabled=bool(model.enabled),
        severity=int(severity) if severity is not None else None,
        description=str(getattr(model, "description", None) or getattr(model, "display_name", None) or ""),
        frequency=_duration_text(frequency),
        window=_duration_text(window),
        condition=condition,
        query=query,
        scopes=tuple(str(s) for s in (model.scopes or [])),
        resource_group=group,
        subscription_id=subscription_id,
        tags=tuple(sorted((model.tags or {}).items())),
    )


def _duration_text(value: Any) -> str:
    """A duration as Azure writes it (`PT5M`); the SDK gives timedeltas for some kinds and text for others."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        if seconds % 86400 == 0:
            return f"P{seconds // 86400}D"
        if seconds % 3600 == 0:
            return f"PT{seconds // 3600}H"
        if seconds % 60 == 0:
            return f"PT{seconds // 60}M"
        return f"PT{seconds}S"
    return str(value or "")


def _with_alerts(rule: AlertRule, alerts: list[Alert]) -> AlertRule:
    mine = [a for a in alerts if a.rule_id.lower() == rule.id.lower()]
    if not mine:
        return rule
    last = max(a.started for a in mine)
    return AlertRule(**{**rule.__dict__, "last_fired": last, "firing": any(a.condition == "Fired" for a in mine)})


async def _collect(pager: Any) -> list[Any]:
    return [item async for item in pager]
