"""The alerts area of the local Azure: fired alerts (Microsoft.AlertsManagement), alert rules and action groups
(Microsoft.Insights) and the evaluation of scheduled query and metric rules against the telemetry.

Fired alerts answer as the 2019-05-05-preview API does: the list with its filters, sort and `pageCount`
paging by nextLink, get, `changestate` with a comment, history, and the summary. Rules are ARM resources of
the estate (seeded by `console.emulator.seed`); this area adds their PUT and PATCH, so enabling or disabling one
is what Azure does. Each enabled scheduled query rule (and metric rule on a metric the telemetry carries: a web
app's 5xx answers, requests, response time) runs on its own frequency over its window; a rule whose condition
holds fires an alert (Fired, New) unless one is already open, and resolves it once the condition stops holding,
as Azure's stateful alerts do. The demo story's alerts are seeded from `story`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from console.emulator import estate, seed, story
from console.emulator.areas.base import ENGINE_KEY, STATUS_KEY, Area
from console.emulator.arm import RG, SUB, ArmRouter, Route, arm_error, clipped, read_json_object
from console.emulator.store import Document, Store
from console.kql import string_literal

if TYPE_CHECKING:
    from console.emulator.server import EmulatorConfig

log = logging.getLogger(__name__)

FIRED_ALERT = "firedAlert"
"""The document kind of a fired alert: `{"alert": <as Azure answers>, "history": [modifications, newest first]}`."""
SEVERITIES = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")
STATES = ("New", "Acknowledged", "Closed")
CONDITIONS = ("Fired", "Resolved")
TIME_RANGES = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
SORT_FIELDS = (
    "name",
    "severity",
    "alertState",
    "monitorCondition",
    "targetResource",
    "targetResourceName",
    "targetResourceGroup",
    "targetResourceType",
    "startDateTime",
    "lastModifiedDateTime",
)
GROUP_FIELDS = ("severity", "alertState", "monitorCondition", "monitorService", "signalType", "alertRule")
MAX_PAGE = 250
MAX_PAGE_WITH_CONTEXT = 25
DEFAULT_PAGE = 25
MAX_COMMENT = 4096
MAX_FIRED_AT_ONCE = 5000
EVALUATION_TICK_S = 1.0
"""How often the evaluator looks for rules that are due (a rule runs on its own frequency)."""
SYSTEM = "System"
LOG_SERVICE = "Log Alerts V2"
METRIC_SERVICE = "Platform"
ACTIVITY_SERVICE = "ServiceHealth"

_ALERTS = SUB + r"/providers/microsoft\.alertsmanagement/alerts"
_ALERT = _ALERTS + r"/(?P<alert>[^/]+)"
_RULE_TYPES = {
    "scheduledqueryrules": "Microsoft.Insights/scheduledQueryRules",
    "metricalerts": "Microsoft.Insights/metricAlerts",
    "activitylogalerts": "Microsoft.Insights/activityLogAlerts",
    "actiongroups": "Microsoft.Insights/actionGroups",
}
_RULE = RG + r"/providers/microsoft\.insights/(?P<kind>" + "|".join(_RULE_TYPES) + r")/(?P<name>[^/]+)"
_RULE_NAME = re.compile(r"[^<>*%{}&:\\?+/#|]{1,260}")
_DURATION = re.compile(
    r"P(?:(?P<days>\d{1,4})D)?(?:T(?:(?P<hours>\d{1,5})H)?(?:(?P<minutes>\d{1,6})M)?(?:(?P<seconds>\d{1,7})S)?)?",
    re.IGNORECASE,
)
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "greaterthan": lambda value, threshold: value > threshold,
    "greaterthanorequal": lambda value, threshold: value >= threshold,
    "lessthan": lambda value, threshold: value < threshold,
    "lessthanorequal": lambda value, threshold: value <= threshold,
    "equals": lambda value, threshold: value == threshold,
}
_ID_NAMESPACE = uuid.UUID("5d0c1f7e-2b8a-4c39-9e61-7a4f3b2d8c15")
EVALUATED = frozenset({"microsoft.insights/scheduledqueryrules", "microsoft.insights/metricalerts"})
"""The rule types the local Azure evaluates (metric rules on the metrics the telemetry carries)."""


def parse_duration(text: object) -> timedelta | None:
    """An ISO 8601 duration of days, hours, minutes and seconds (`PT5M`, `P1D`); None when it is not one."""
    if not isinstance(text, str):
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()):
        return None
    parts = {name: int(value) for name, value in match.groupdict().items() if value}
    found = timedelta(**parts)
    return found if found > timedelta(0) else None


def arm_time(moment: datetime) -> str:
    """A time as the alerts API writes it: UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rule_type(rule: dict[str, Any]) -> str:
    return str(rule.get("type", "")).lower()


def _target_parts(resource_id: str) -> tuple[str, str, str]:
    """Name, resource group and type (lower case, `namespace/type`) of a target resource id."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    group = parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered[:-1] else ""
    if "providers" in lowered:
        rest = parts[lowered.index("providers") + 1 :]
        kind = "/".join(rest[:1] + rest[1::2]).lower()
    else:
        kind = "microsoft.resources/subscriptions"
    return parts[-1] if parts else "", group, kind


# -- building alerts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Firing:
    """One activation of a rule: when it fired, when it resolved (if it did), what it saw."""

    rule: dict[str, Any]
    fired: datetime
    resolved: datetime | None = None
    observed: float | None = None
    target: str | None = None
    """The resource the alert is about (default: the rule's first scope)."""


def rule_condition(rule: dict[str, Any], observed: float | None, fired: datetime) -> dict[str, Any]:
    """The alert's context: the rule's condition with its window and the value seen (the common alert schema's
    `alertContext`)."""
    props = rule.get("properties") or {}
    kind = _rule_type(rule)
    window = parse_duration(props.get("windowSize")) or timedelta(minutes=5)
    criteria = props.get("criteria") or props.get("condition") or {}
    all_of = [dict(c) for c in (criteria.get("allOf") or []) if isinstance(c, dict)]
    for criterion in all_of:
        criterion.pop("odata.type", None)
        if observed is not None:
            criterion["metricValue"] = observed
    condition_type = {
        "microsoft.insights/scheduledqueryrules": "LogQueryCriteria",
        "microsoft.insights/metricalerts": "SingleResourceMultipleMetricCriteria",
    }.get(kind, "ActivityLog")
    return {
        "conditionType": condition_type,
        "condition": {
            "windowSize": props.get("windowSize") or "PT5M",
            "windowStartTime": arm_time(fired - window),
            "windowEndTime": arm_time(fired),
            "allOf": all_of,
        },
    }


def new_alert(firing: Firing, subscription_id: str) -> dict[str, Any]:
    """A fired alert document (alert and history) for one activation of a rule."""
    rule = firing.rule
    props = rule.get("properties") or {}
    kind = _rule_type(rule)
    scopes = [str(s) for s in props.get("scopes") or []]
    target = firing.target or (scopes[0] if scopes else str(rule["id"]))
    name, group, target_type = _target_parts(target)
    alert_id = str(uuid.uuid5(_ID_NAMESPACE, f"{rule['id']}/{firing.fired.isoformat()}"))
    severity = props.get("severity")
    service, signal = {
        "microsoft.insights/scheduledqueryrules": (LOG_SERVICE, "Log"),
        "microsoft.insights/metricalerts": (METRIC_SERVICE, "Metric"),
    }.get(kind, (ACTIVITY_SERVICE, "Activity Log"))
    essentials: dict[str, Any] = {
        "severity": f"Sev{severity}" if isinstance(severity, int) and 0 <= severity <= 4 else "Sev4",
        "signalType": signal,
        "alertState": "New",
        "monitorCondition": "Fired",
        "monitorService": service,
        "targetResource": target,
        "targetResourceName": name,
        "targetResourceGroup": group,
        "targetResourceType": target_type,
        "sourceCreatedId": str(uuid.uuid5(_ID_NAMESPACE, f"source/{alert_id}")),
        "alertRule": str(rule["id"]),
        "startDateTime": arm_time(firing.fired),
        "lastModifiedDateTime": arm_time(firing.fired),
        "lastModifiedUserName": SYSTEM,
        "actionStatus": {"isSuppressed": False},
        "description": str(props.get("description") or props.get("displayName") or rule.get("name", "")),
    }
    alert = {
        "properties": {
            "essentials": essentials,
            "context": rule_condition(rule, firing.observed, firing.fired),
            "egressConfig": {},
        },
        "id": f"/subscriptions/{subscription_id}/providers/Microsoft.AlertsManagement/alerts/{alert_id}",
        "type": "Microsoft.AlertsManagement/alerts",
        "name": str(rule.get("name", "")),
    }
    history = [_modification("AlertCreated", "", "", firing.fired, SYSTEM, "", "New Alert Object is created")]
    document = {"alert": alert, "history": history}
    if firing.resolved is not None:
        resolve(document, firing.resolved)
    return document


def _modification(
    event: str, old: str, new: str, at: datetime, who: str, comments: str, description: str
) -> dict[str, Any]:
    return {
        "modificationEvent": event,
        "oldValue": old,
        "newValue": new,
        "modifiedAt": arm_time(at),
        "modifiedBy": who,
        "comments": comments,
        "description": description,
    }


def resolve(document: dict[str, Any], at: datetime) -> None:
    """The rule's condition stopped holding: the alert is Resolved (its state stays what the user made it)."""
    essentials = document["alert"]["properties"]["essentials"]
    essentials["monitorCondition"] = "Resolved"
    essentials["monitorConditionResolvedDateTime"] = arm_time(at)
    essentials["lastModifiedDateTime"] = arm_time(at)
    essentials["lastModifiedUserName"] = SYSTEM
    document["history"].insert(
        0,
        _modification(
            "MonitorConditionChange", "Fired", "Resolved", at, SYSTEM, "", "Monitor condition changed to 'Resolved'"
        ),
    )


def change_state(document: dict[str, Any], state: str, at: datetime, who: str, comments: str) -> None:
    """A user changed the alert's state (New, Acknowledged, Closed), with an optional comment."""
    essentials = document["alert"]["properties"]["essentials"]
    old = str(essentials["alertState"])
    essentials["alertState"] = state
    essentials["lastModifiedDateTime"] = arm_time(at)
    essentials["lastModifiedUserName"] = who
    document["history"].insert(
        0, _modification("StateChange", old, state, at, who, comments, f"State changed from '{old}' to '{state}'")
    )


# -- the story's alerts ----------------------------------------------------------------------------------------


def story_alerts(now: datetime, rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The week of fired alerts the demo story tells (`story.alert_activations`), over the seeded rules (by name),
    with what the on-call engineer and the SRE bot did with them."""
    now = now.astimezone(UTC)
    on_call, bot = "dana.oncall@contoso.com", "sre-bot@contoso.com"
    incident = story.incident_start(now).replace(tzinfo=UTC)
    ended = incident + timedelta(minutes=story.INCIDENT_MINUTES)
    checkout = story.incident_app()
    observed = {
        "ma-checkout-availability": 0.0,
        "ma-checkout-http5xx": round(checkout.requests_per_minute * 5 * story.INCIDENT_FAILURE_RATE, 1),
        "sqr-checkout-failed-requests": float(round(checkout.requests_per_minute * 15 * story.INCIDENT_FAILURE_RATE)),
        "ma-checkout-response-time": 2.9,
        "sqr-dependency-failures": 64.0,
        story.FLAPPING_RULE: 91.5,
        story.HEARTBEAT_RULE: 1.0,
    }
    incident_rules = {rule for rule, _, _ in story.INCIDENT_ALERTS}
    found: list[dict[str, Any]] = []
    for activation in story.alert_activations(now):
        rule = rules.get(activation.rule)
        if rule is None:
            continue
        fired = activation.fired.replace(tzinfo=UTC)
        resolved = activation.resolved.replace(tzinfo=UTC) if activation.resolved is not None else None
        target = f"/subscriptions/{estate.PROD_SUBSCRIPTION}" if activation.rule == story.SERVICE_HEALTH_RULE else None
        document = new_alert(
            Firing(rule, fired, resolved, observed.get(activation.rule), target), estate.PROD_SUBSCRIPTION
        )
        if activation.rule in incident_rules:
            acknowledged = max(fired, incident + timedelta(minutes=8)) + timedelta(seconds=40)
            change_state(document, "Acknowledged", acknowledged, on_call, "Checkout failing since 14:10; restarting.")
            if activation.rule != "ma-checkout-response-time":
                closed = ended + timedelta(minutes=55)
                change_state(document, "Closed", closed, on_call, "Restart fixed it; postmortem in INC-2041.")
        elif activation.rule == story.FLAPPING_RULE and resolved is not None and now - resolved > timedelta(days=2):
            change_state(document, "Closed", resolved + timedelta(hours=7), bot, "Nightly backup load; closed.")
        elif activation.rule == story.SERVICE_HEALTH_RULE and resolved is not None and now - fired > timedelta(days=2):
            change_state(document, "Closed", fired + timedelta(hours=3), on_call, "Service health notice, no impact.")
        found.append(document)
    return found


def documents(now: datetime) -> list[Document]:
    """The story's fired alerts, over the rules the estate seeds."""
    rules = {
        str(r["name"]): r
        for r in seed.seed_resources(now)
        if str(r.get("type", "")).lower() in {t.lower() for t in _RULE_TYPES.values()}
    }
    return [(FIRED_ALERT, str(d["alert"]["id"]), d) for d in story_alerts(now, rules)]


# -- filters ---------------------------------------------------------------------------------------------------


class _BadFilterError(ValueError):
    """A filter parameter Azure refuses; the message says which."""


def _choice(query: dict[str, str], name: str, allowed: Iterable[str]) -> set[str] | None:
    """The values of a filter given as one value or a comma list, checked against `allowed` (case-insensitive)."""
    raw = query.get(name)
    if raw is None or not raw.strip():
        return None
    known = {a.lower(): a for a in allowed}
    chosen = set()
    for part in raw.split(","):
        value = known.get(part.strip().lower())
        if value is None:
            raise _BadFilterError(
                f"The value '{clipped(part.strip(), 64)}' of {name} is not valid; allowed: {', '.join(known.values())}."
            )
        chosen.add(value)
    return chosen


def _params(request: web.Request) -> dict[str, str]:
    """The query parameters by their lower-case names (Azure reads them case-insensitively)."""
    return {key.lower(): value for key, value in request.query.items()}


def alert_filter(request: web.Request, now: datetime) -> Callable[[dict[str, Any]], bool]:
    """The filters the list and the summary share; `_BadFilterError` for a value Azure refuses."""
    query = _params(request)
    severities = _choice(query, "severity", SEVERITIES)
    states = _choice(query, "alertstate", STATES)
    conditions = _choice(query, "monitorcondition", CONDITIONS)
    exact = {
        field: query[param].strip().lower()
        for param, field in (
            ("targetresource", "targetResource"),
            ("targetresourcetype", "targetResourceType"),
            ("targetresourcegroup", "targetResourceGroup"),
            ("monitorservice", "monitorService"),
            ("alertrule", "alertRule"),
        )
        if query.get(param, "").strip()
    }
    if "timerange" in query and "customtimerange" in query:
        raise _BadFilterError("Either timeRange or customTimeRange may be given, not both.")
    since, until = now - TIME_RANGES["1d"], now
    if "customtimerange" in query:
        start, slash, end = query["customtimerange"].partition("/")
        try:
            since, until = _parse_time(start), _parse_time(end) if slash else now
        except ValueError:
            raise _BadFilterError(
                f"customTimeRange '{clipped(query['customtimerange'], 80)}' is not <start-time>/<end-time> in ISO 8601."
            ) from None
        if since > until or now - since > timedelta(days=30, minutes=5):
            raise _BadFilterError("customTimeRange must start before it ends and within 30 days of now.")
    elif "timerange" in query:
        span = TIME_RANGES.get(query["timerange"].strip().lower())
        if span is None:
            raise _BadFilterError(
                f"timeRange '{clipped(query['timerange'], 32)}' is not valid; allowed: {', '.join(TIME_RANGES)}."
            )
        since = now - span

    def keep(alert: dict[str, Any]) -> bool:
        essentials = alert["properties"]["essentials"]
        if severities is not None and essentials["severity"] not in severities:
            return False
        if states is not None and essentials["alertState"] not in states:
            return False
        if conditions is not None and essentials["monitorCondition"] not in conditions:
            return False
        for field, wanted in exact.items():
            if str(essentials.get(field, "")).lower() != wanted:
                return False
        started = _parse_time(str(essentials["startDateTime"]))
        return since <= started <= until

    return keep


def _sorted(alerts: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    by = query.get("sortby", "lastModifiedDateTime").strip() or "lastModifiedDateTime"
    field = next((f for f in SORT_FIELDS if f.lower() == by.lower()), None)
    if field is None:
        raise _BadFilterError(f"sortBy '{clipped(by, 64)}' is not valid; allowed: {', '.join(SORT_FIELDS)}.")
    order = query.get("sortorder", "").strip().lower()
    if order not in ("", "asc", "desc"):
        raise _BadFilterError(f"sortOrder '{clipped(order, 16)}' is not valid; allowed: asc, desc.")
    descending = order == "desc" or (not order and field.endswith("DateTime"))

    def key(alert: dict[str, Any]) -> tuple[str, str]:
        value = alert["name"] if field == "name" else alert["properties"]["essentials"].get(field, "")
        return str(value).lower(), str(alert["id"])

    return sorted(alerts, key=key, reverse=descending)


def _page_size(query: dict[str, str]) -> int:
    raw = query.get("pagecount")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise _BadFilterError(f"pageCount must be a whole number from 1 to {MAX_PAGE}, not '{clipped(raw, 32)}'.")
    return int(raw)


# -- routes ----------------------------------------------------------------------------------------------------


def routes(router: ArmRouter) -> list[Route]:
    """The routes of the alerts area, answered over the router's store."""
    return _Alerts(router).routes()


class _Alerts:
    """The handlers, over the router's store."""

    def __init__(self, router: ArmRouter) -> None:
        self.router = router
        self.store = router.store

    def routes(self) -> list[Route]:
        return [
            Route("GET", _ALERTS, self._list),
            Route("GET", _ALERT, self._get),
            Route("POST", _ALERT + r"/changestate", self._change_state),
            Route("GET", _ALERT + r"/history", self._history),
            Route("GET", SUB + r"/providers/microsoft\.alertsmanagement/alertssummary", self._summary),
            Route("PUT", _RULE, self._put_rule),
            Route("PATCH", _RULE, self._patch_rule),
        ]

    def _alerts(self, subscription_id: str) -> list[dict[str, Any]]:
        prefix = f"/subscriptions/{subscription_id}/".lower()
        return [
            d["alert"] for d in self.store.documents_of(FIRED_ALERT) if str(d["alert"]["id"]).lower().startswith(prefix)
        ]

    def _document(self, match: dict[str, str]) -> dict[str, Any] | web.Response:
        missing = self.router.require_subscription(match["sub"])
        if missing is not None:
            return missing
        alert_id = f"/subscriptions/{match['sub']}/providers/Microsoft.AlertsManagement/alerts/{match['alert']}"
        found = self.store.get(FIRED_ALERT, alert_id)
        if found is None:
            return arm_error(404, "ResourceNotFound", f"The alert '{clipped(match['alert'], 64)}' could not be found.")
        return found

    async def _list(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_subscription(match["sub"])
        if missing is not None:
            return missing
        query = _params(request)
        try:
            keep = alert_filter(request, datetime.now(UTC))
            listed = _sorted([a for a in self._alerts(match["sub"]) if keep(a)], query)
            size = _page_size(query)
            context = query.get("includecontext", "").lower() == "true"
            if context and size > MAX_PAGE_WITH_CONTEXT:
                raise _BadFilterError(f"pageCount can be at most {MAX_PAGE_WITH_CONTEXT} with includeContext.")
        except _BadFilterError as error:
            return arm_error(400, "BadRequest", str(error))
        token = request.query.get("$skiptoken")
        skip = 0
        if token is not None:
            if not token.isdigit() or len(token) > 9:
                return arm_error(400, "InvalidSkipToken", "The $skiptoken is not valid: use the nextLink as given.")
            skip = int(token)
        page = [a if context else _without_context(a) for a in listed[skip : skip + size]]
        body: dict[str, Any] = {"value": page}
        if skip + size < len(listed):
            rest = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(skip + size)
            body["nextLink"] = f"{self.router.link_origin(request)}{request.rel_url.raw_path}?{urlencode(rest)}"
        return web.json_response(body)

    async def _get(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._document(match)
        return found if isinstance(found, web.Response) else web.json_response(found["alert"])

    async def _history(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._document(match)
        if isinstance(found, web.Response):
            return found
        alert = found["alert"]
        return web.json_response(
            {
                "properties": {"alertId": str(alert["id"]).rsplit("/", 1)[-1], "modifications": found["history"]},
                "id": f"{alert['id']}/history/default",
                "type": "Microsoft.AlertsManagement/alerts",
                "name": alert["name"],
            }
        )

    async def _change_state(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._document(match)
        if isinstance(found, web.Response):
            return found
        raw_state = next((v for k, v in request.query.items() if k.lower() == "newstate"), None)
        if raw_state is None:
            allowed = ", ".join(STATES)
            return arm_error(400, "BadRequest", f"The newState query parameter is required: one of {allowed}.")
        state = next((s for s in STATES if s.lower() == raw_state.strip().lower()), None)
        if state is None:
            return arm_error(
                400, "BadRequest", f"newState '{clipped(raw_state, 32)}' is not valid; allowed: {', '.join(STATES)}."
            )
        comments = ""
        if request.body_exists and (await request.read()).strip():
            body = await read_json_object(request)
            if isinstance(body, web.Response):
                return body
            given = body.get("comments", "")
            if not isinstance(given, str):
                return arm_error(400, "BadRequest", "comments must be text.")
            if len(given) > MAX_COMMENT:
                return arm_error(400, "BadRequest", f"comments must be at most {MAX_COMMENT} characters.")
            comments = given
        if found["alert"]["properties"]["essentials"]["alertState"] != state or comments:
            change_state(found, state, datetime.now(UTC), _who(request), comments)
            self.store.put(FIRED_ALERT, str(found["alert"]["id"]), found)
        return web.json_response(found["alert"])

    async def _summary(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_subscription(match["sub"])
        if missing is not None:
            return missing
        query = _params(request)
        fields = [f.strip() for f in query.get("groupby", "").split(",") if f.strip()]
        chosen = [next((g for g in GROUP_FIELDS if g.lower() == f.lower()), "") for f in fields]
        if not 1 <= len(chosen) <= 2 or "" in chosen or len(set(chosen)) != len(chosen):
            return arm_error(
                400, "BadRequest", f"groupby must name one or two of {', '.join(GROUP_FIELDS)}, separated by a comma."
            )
        try:
            keep = alert_filter(request, datetime.now(UTC))
        except _BadFilterError as error:
            return arm_error(400, "BadRequest", str(error))
        alerts = [a for a in self._alerts(match["sub"]) if keep(a)]
        properties: dict[str, Any] = {"groupedby": chosen[0], "total": len(alerts), **_groups(alerts, chosen)}
        if query.get("includesmartgroupscount", "").lower() == "true":
            properties["smartGroupsCount"] = 0
        return web.json_response(
            {
                "properties": properties,
                "id": f"/subscriptions/{match['sub']}/providers/Microsoft.AlertsManagement/alertsSummary/current",
                "type": "Microsoft.AlertsManagement/alertsSummary",
                "name": "current",
            }
        )

    # rules: create or replace, update ------------------------------------------------------------------

    async def _put_rule(self, request: web.Request, match: dict[str, str]) -> web.Response:
        checked = self._rule_request(request, match)
        if isinstance(checked, web.Response):
            return checked
        rule_id, full_type = checked
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        location = body.get("location")
        properties = body.get("properties")
        if not isinstance(location, str) or not location.strip():
            return arm_error(400, "LocationRequired", "The location property is required for this definition.")
        if not isinstance(properties, dict):
            return arm_error(400, "InvalidRequestContent", "The properties of the rule must be a JSON object.")
        problem = _rule_problem(full_type, properties)
        if problem:
            return arm_error(400, "BadRequest", problem)
        existing = self.store.resource(rule_id)
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            return arm_error(400, "InvalidTag", "Tags must be an object of text values.")
        document: dict[str, Any] = {"id": rule_id, "name": match["name"], "type": full_type}
        if isinstance(body.get("kind"), str):
            document["kind"] = body["kind"]
        document.update({"location": location, "tags": tags, "properties": properties})
        if existing is not None and "systemData" in existing:
            document["systemData"] = existing["systemData"]
        self.store.put_resource(document)
        return web.json_response(document, status=200 if existing is not None else 201)

    async def _patch_rule(self, request: web.Request, match: dict[str, str]) -> web.Response:
        checked = self._rule_request(request, match)
        if isinstance(checked, web.Response):
            return checked
        rule_id, full_type = checked
        existing = self.store.resource(rule_id)
        if existing is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource '{full_type}/{clipped(match['name'], 100)}' under resource group '{match['rg']}' "
                "was not found.",
            )
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        unknown = sorted(set(body) - {"tags", "properties"})
        if unknown:
            shown = clipped(unknown[0], 64)
            return arm_error(400, "BadRequest", f"Only tags and properties can be updated, not {shown}.")
        changed = dict(existing)
        if "tags" in body:
            tags = body["tags"]
            if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                return arm_error(400, "InvalidTag", "Tags must be an object of text values.")
            changed["tags"] = tags
        if "properties" in body:
            if not isinstance(body["properties"], dict):
                return arm_error(400, "InvalidRequestContent", "The properties of the rule must be a JSON object.")
            merged = {**(existing.get("properties") or {}), **body["properties"]}
            problem = _rule_problem(full_type, merged)
            if problem:
                return arm_error(400, "BadRequest", problem)
            changed["properties"] = merged
        self.store.put_resource(changed)
        return web.json_response(changed)

    def _rule_request(self, request: web.Request, match: dict[str, str]) -> tuple[str, str] | web.Response:
        missing = self.router.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        full_type = _RULE_TYPES[match["kind"].lower()]
        refused = self.router.refuse_type(full_type, request)
        if refused is not None:
            return refused
        if not _RULE_NAME.fullmatch(match["name"]):
            return arm_error(400, "InvalidResourceName", f"The rule name '{clipped(match['name'], 64)}' is not valid.")
        namespace, _, kind = full_type.partition("/")
        group = self.store.resource_group(match["sub"], match["rg"])
        group_name = str(group["name"]) if group else match["rg"]
        return (
            f"/subscriptions/{match['sub']}/resourceGroups/{group_name}/providers/{namespace}/{kind}/{match['name']}",
            full_type,
        )


def _without_context(alert: dict[str, Any]) -> dict[str, Any]:
    properties = {**alert["properties"], "context": {}}
    return {**alert, "properties": properties}


def _groups(alerts: list[dict[str, Any]], fields: list[str]) -> dict[str, Any]:
    """The `values` of a summary grouped by `fields` (the second nested in the first), with known values listed
    even at zero, as Azure does for severity, state and condition."""
    field, rest = fields[0], fields[1:]
    known = {"severity": SEVERITIES, "alertState": STATES, "monitorCondition": CONDITIONS}.get(field, ())
    names = list(known) + sorted(
        {str(a["properties"]["essentials"].get(field, "")) for a in alerts} - set(known), key=str.lower
    )
    values = []
    for name in names:
        members = [a for a in alerts if str(a["properties"]["essentials"].get(field, "")) == name]
        entry: dict[str, Any] = {"name": name, "count": len(members)}
        if rest:
            entry["groupedby"] = rest[0]
            entry.update(_groups(members, rest))
        values.append(entry)
    return {"values": values}


def _rule_problem(full_type: str, properties: dict[str, Any]) -> str:
    """Why a rule's properties cannot be stored, or an empty string."""
    if "enabled" in properties and not isinstance(properties["enabled"], bool):
        return "enabled must be true or false."
    if full_type.endswith("actionGroups"):
        return ""
    severity = properties.get("severity")
    if severity is not None and (not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 4):
        return "severity must be a whole number from 0 to 4."
    for name in ("evaluationFrequency", "windowSize"):
        if name in properties and parse_duration(properties[name]) is None:
            return f"{name} must be an ISO 8601 duration such as PT5M, not {clipped(str(properties[name]), 32)!r}."
    if full_type.endswith("scheduledQueryRules"):
        criteria = properties.get("criteria")
        all_of = criteria.get("allOf") if isinstance(criteria, dict) else None
        if not isinstance(all_of, list) or not all_of:
            return "criteria.allOf must list at least one condition."
        for condition in all_of:
            if not isinstance(condition, dict) or not isinstance(condition.get("query"), str):
                return "Every condition of a scheduled query rule needs a query."
            if str(condition.get("operator", "")).lower() not in _OPERATORS:
                return f"operator must be one of {', '.join(_OPERATORS)}."
            threshold = condition.get("threshold")
            if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not math.isfinite(threshold):
                return "threshold must be a number."
    return ""


def _who(request: web.Request) -> str:
    """Who changed an alert: the local Azure's one signed-in user (tokens carry no name here)."""
    return "localazure-user@contoso.com"


# -- live evaluation -------------------------------------------------------------------------------------------


class RuleEvaluator:
    """Runs every enabled scheduled query rule on its frequency over its window, firing and resolving alerts."""

    def __init__(self, store: Store, engine: Any, ready: Callable[[], bool]) -> None:
        self.store = store
        self.engine = engine
        self.ready = ready
        self.last_run: dict[str, datetime] = {}
        self.fired: list[tuple[str, datetime]] = []
        """Rules that fired since the activity log was last written: (rule id, when)."""

    def due(self, now: datetime) -> list[dict[str, Any]]:
        """Enabled scheduled query and metric rules whose frequency has passed since they last ran."""
        found = []
        for rule in self.store.documents_of("resource"):
            if _rule_type(rule) not in EVALUATED:
                continue
            props = rule.get("properties") or {}
            if props.get("enabled") is not True:
                continue
            frequency = parse_duration(props.get("evaluationFrequency")) or timedelta(minutes=5)
            last = self.last_run.get(str(rule["id"]).lower())
            if last is None or now - last >= frequency:
                found.append(rule)
        return found

    def measure(self, rule: dict[str, Any], now: datetime) -> list[tuple[dict[str, Any], float]]:
        """Each condition of the rule with the value its query gives over the window ending now."""
        props = rule.get("properties") or {}
        window = parse_duration(props.get("windowSize")) or timedelta(minutes=5)
        scopes = [str(s) for s in props.get("scopes") or []]
        scope = scopes[0] if scopes else estate.WORKSPACE_RESOURCE_ID
        resource_scope = None if scope.lower() == estate.WORKSPACE_RESOURCE_ID.lower() else scope
        metric = _rule_type(rule) == "microsoft.insights/metricalerts"
        measured = []
        for condition in (props.get("criteria") or {}).get("allOf") or []:
            query = metric_query(condition, scope) if metric else str(condition["query"])
            if query is None:
                return []  # a metric the telemetry does not carry: the rule is not evaluated here
            outcome = self.engine.execute(
                query, timespan=(now - window, now), now=now, resource_scope=None if metric else resource_scope
            )
            table = outcome.tables[0]
            if metric:
                value = table["rows"][0][0] if table["rows"] else None
                if not isinstance(value, int | float):
                    return []  # no data in the window: the condition is neither met nor cleared
                measured.append((condition, float(value)))
            else:
                measured.append((condition, _aggregate(condition, table)))
        return measured

    def apply(self, rule: dict[str, Any], measured: list[tuple[dict[str, Any], float]], now: datetime) -> str | None:
        """Fire or resolve the rule's alert; what happened ("fired", "resolved") or None."""
        holds = bool(measured) and all(
            _OPERATORS[str(c.get("operator", "")).lower()](value, float(c.get("threshold", 0))) for c, value in measured
        )
        open_alert = self.open_alert(str(rule["id"]))
        if holds and open_alert is None:
            subscription_id = str(rule["id"]).split("/")[2]
            document = new_alert(Firing(rule, now, None, measured[0][1]), subscription_id)
            self.store.put(FIRED_ALERT, str(document["alert"]["id"]), document)
            self.fired.append((str(rule["id"]), now))
            return "fired"
        if not holds and open_alert is not None and (rule.get("properties") or {}).get("autoMitigate", True):
            resolve(open_alert, now)
            self.store.put(FIRED_ALERT, str(open_alert["alert"]["id"]), open_alert)
            return "resolved"
        return None

    def open_alert(self, rule_id: str) -> dict[str, Any] | None:
        """The rule's alert that is still Fired, if any."""
        for document in self.store.documents_of(FIRED_ALERT):
            essentials = document["alert"]["properties"]["essentials"]
            if essentials["monitorCondition"] == "Fired" and str(essentials["alertRule"]).lower() == rule_id.lower():
                return document
        return None

    async def run(self) -> None:
        """Evaluate due rules forever, once the telemetry is complete (a partial window would mislead)."""
        while True:
            await asyncio.sleep(EVALUATION_TICK_S)
            if not self.ready():
                continue
            now = datetime.now(UTC)
            for rule in self.due(now):
                self.last_run[str(rule["id"]).lower()] = now
                try:
                    measured = await asyncio.to_thread(self.measure, rule, now)
                    if measured:
                        self.apply(rule, measured, now)
                except Exception:  # one rule's bad query must not stop the others (Azure marks it unhealthy)
                    log.exception("evaluating %s failed", str(rule.get("name", ""))[:100])
            if self.fired:
                await asyncio.to_thread(self.record_activations)

    def record_activations(self) -> None:
        """Write each alert fired since last time to the activity log, as Azure records it (category Alert)."""
        from console.emulator import telemetry

        fired, self.fired = self.fired, []
        try:
            telemetry.record_activity(self.engine, [telemetry.alert_activation_row(r, at) for r, at in fired])
        except Exception:  # the alert stands; only its activity record is missing
            log.exception("recording %d alert activations failed", len(fired))


def metric_query(criterion: dict[str, Any], target: str) -> str | None:
    """The KQL over the telemetry that gives a metric alert criterion's value for a web app's production slot
    (Http5xx: 5xx answers; HttpResponseTime: mean seconds; Requests), or None for a metric it does not carry."""
    name, _, kind = _target_parts(target)
    if kind != "microsoft.web/sites":
        return None
    app = string_literal(name)
    production = f"AppRequests\n| where AppRoleName == {app} and tostring(Properties.slot) == 'production'"
    metric = str(criterion.get("metricName", "")).lower()
    if metric == "http5xx":
        return f"{production} and toint(ResultCode) >= 500\n| summarize value = todouble(count())"
    if metric == "requests":
        return f"{production}\n| summarize value = todouble(count())"
    if metric == "httpresponsetime":
        return f"{production}\n| summarize value = avg(DurationMs) / 1000.0"
    return None


def _aggregate(condition: dict[str, Any], table: dict[str, Any]) -> float:
    """The value a condition compares: the row count, or the rows' measure column aggregated."""
    rows = table["rows"]
    aggregation = str(condition.get("timeAggregation", "Count")).lower()
    column = condition.get("metricMeasureColumn")
    names = [str(c["name"]) for c in table["columns"]]
    if not column or column not in names:
        return float(len(rows))
    index = names.index(column)
    values = [float(r[index]) for r in rows if isinstance(r[index], int | float)]
    if not values:
        return 0.0
    if aggregation == "average":
        return sum(values) / len(values)
    if aggregation == "minimum":
        return min(values)
    if aggregation == "maximum":
        return max(values)
    return sum(values) if aggregation == "total" else float(len(values))


# -- firing alerts on demand -----------------------------------------------------------------------------------


def synthetic_alerts(store: Store, count: int, now: datetime) -> int:
    """Fire `count` alerts over the last hours across the seeded rules and severities (for paging and load)."""
    rules = [
        r
        for r in store.documents_of("resource")
        if _rule_type(r) in {"microsoft.insights/scheduledqueryrules", "microsoft.insights/metricalerts"}
    ]
    if not rules:
        return 0
    made: dict[str, dict[str, Any]] = {}
    for index in range(count):
        rule = rules[index % len(rules)]
        props = {**(rule.get("properties") or {}), "severity": index % 5}
        fired = now - timedelta(seconds=17 * index + 1)
        document = new_alert(Firing({**rule, "properties": props}, fired, None, float(index)), estate.PROD_SUBSCRIPTION)
        made[str(document["alert"]["id"])] = document
    store.put_many(FIRED_ALERT, made)
    return len(made)


async def start(app: web.Application, store: Store, now: datetime, config: EmulatorConfig) -> list[asyncio.Task[Any]]:
    """The control route that fires alerts on demand, and the rule evaluator."""

    async def fire(request: web.Request) -> web.Response:
        from console.emulator.server import control_allowed

        if not control_allowed(request):
            return arm_error(403, "Forbidden", "The control route needs the identity header from a loopback peer.")
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        count = body.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_FIRED_AT_ONCE:
            return arm_error(400, "BadRequest", f"count must be a whole number from 1 to {MAX_FIRED_AT_ONCE}.")
        made = await asyncio.to_thread(synthetic_alerts, store, count, datetime.now(UTC))
        return web.json_response({"fired": made})

    app.router.add_route("POST", "/_emulator/alerts", fire)
    if ENGINE_KEY not in app:
        return []

    def ready() -> bool:
        status = app[STATUS_KEY]() if STATUS_KEY in app else {"ready": False}
        return bool(status.get("ready"))

    evaluator = RuleEvaluator(store, app[ENGINE_KEY], ready)
    return [asyncio.get_running_loop().create_task(evaluator.run(), name="alert-rules")]


AREA = Area("alerts", routes, seed=documents, start=start)
