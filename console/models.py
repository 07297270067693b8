"""Frozen data the services return and the screens show. Imports neither textual nor azure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Subscription:
    """An Azure subscription the signed-in identity can see."""

    subscription_id: str
    display_name: str
    state: str
    tenant_id: str


def preferred_subscription(subscriptions: list[Subscription], preferred: str | None) -> Subscription | None:
    """The subscription `preferred` names (its id or display name, any case), if one of them is it."""
    wanted = (preferred or "").strip().lower()
    return next((s for s in subscriptions if wanted in {s.subscription_id.lower(), s.display_name.lower()}), None)


@dataclass(frozen=True)
class ResourceGroup:
    """A resource group in one subscription."""

    subscription_id: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    provisioning_state: str = ""

    @property
    def resource_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.name}"


@dataclass(frozen=True)
class Resource:
    """One ARM resource; `properties` is filled only when the resource was read on its own."""

    resource_id: str
    name: str
    type: str
    location: str
    resource_group: str
    subscription_id: str
    kind: str = ""
    sku: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] | None = None


@dataclass(frozen=True)
class Column:
    """A result column with its Log Analytics type (string, long, real, datetime, ...)."""

    name: str
    type: str


@dataclass(frozen=True)
class QueryResult:
    """The primary table of a Log Analytics query, as Arrow, with what the service said about it."""

    columns: tuple[Column, ...]
    table: pa.Table
    duration_ms: float
    partial_error: str | None = None
    truncated: bool = False
    render: str | None = None
    render_options: dict[str, Any] = field(default_factory=dict)
    statistics: dict[str, Any] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows)


@dataclass(frozen=True)
class WorkspaceSchema:
    """Tables of a Log Analytics workspace and their columns, for the sidebar and completion."""

    tables: dict[str, tuple[Column, ...]]


@dataclass(frozen=True)
class Workspace:
    """A Log Analytics workspace: ARM identity plus the customer id the query API takes."""

    resource_id: str
    name: str
    customer_id: str
    location: str
    subscription_id: str


@dataclass(frozen=True)
class OperationProgress:
    """Where a change to Azure stands while it runs: reported at its start, at each poll and at its end."""

    action: str
    target: str
    status: str
    """Running until Azure answers; then a long-running operation's status at each poll (InProgress,
    Succeeded, Failed, Canceled), or Succeeded/Failed for a plain call."""
    elapsed_s: float
    done: bool = False


@dataclass(frozen=True)
class UnfinishedOperation:
    """A journal intent with no outcome (the console stopped mid-change), with its target's state read back."""

    operation_id: str
    action: str
    target: str
    started_at: datetime
    who: str
    state: str | None
    """What Azure holds now, or None when it could not be read (then `read_error` says why)."""
    read_error: str | None = None

    @property
    def sentence(self) -> str:
        started = self.started_at.strftime("%Y-%m-%d %H:%M UTC")
        now = f"now: {self.state}" if self.state is not None else f"its state could not be read: {self.read_error}"
        return f"unfinished operation: {self.action} on {self.target} (started {started} by {self.who}); {now}"


@dataclass(frozen=True)
class StepRun:
    """One runbook step as run: the query as sent, what came back, and its check's verdict."""

    name: str
    query: str
    check: str | None = None
    passed: bool | None = None
    observed: Any = None
    sentence: str = ""
    error: str | None = None
    result: QueryResult | None = None
    inconclusive: bool = False
    """The check ran on a partial result (data still arriving, capped, a partial error): it decides nothing."""
    too_little: bool = False
    """An `enough` check did not hold: there is too little data for any check of the run to decide."""

    @property
    def row_count(self) -> int | None:
        return self.result.row_count if self.result is not None else None

    @property
    def status(self) -> str:
        """pass, fail, inconclusive, error, or info (a step without a check)."""
        if self.error is not None:
            return "error"
        if self.inconclusive:
            return "inconclusive"
        if self.passed is None:
            return "info"
        return "pass" if self.passed else "fail"


@dataclass(frozen=True)
class RunbookRun:
    """A whole runbook run: when, with which parameters, on which workspace, and each step's outcome."""

    runbook: str
    title: str
    started_at: datetime
    workspace: str
    parameters: dict[str, Any]
    steps: tuple[StepRun, ...]

    @property
    def status(self) -> str:
        """error if any query failed, else inconclusive if there was too little data to judge by, else fail if
        any check failed, else inconclusive if any check ran on partial data, else pass."""
        statuses = {step.status for step in self.steps}
        if "error" not in statuses and any(step.too_little for step in self.steps):
            return "inconclusive"
        for status in ("error", "fail", "inconclusive"):
            if status in statuses:
                return status
        return "pass"

    def summary(self) -> str:
        kinds = ("pass", "fail", "inconclusive", "error", "info")
        counts = {s: sum(1 for step in self.steps if step.status == s) for s in kinds}
        return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


@dataclass(frozen=True)
class Slot:
    """One deployment slot of a web app, production included, with the build it serves."""

    app: str
    name: str
    resource_group: str
    subscription_id: str
    state: str
    """Running or Stopped."""
    image: str | None
    """siteConfig.linuxFxVersion, e.g. "DOCKER|contoso/checkout:2026.11.5-rc1"."""
    app_version: str | None
    """The APP_VERSION app setting."""
    routing_percent: float
    """Share of production traffic routed to this slot (0 for production itself)."""
    last_deployment: str | None

    @property
    def build(self) -> str:
        """The image tag, else APP_VERSION, else "unknown"."""
        if self.image:
            reference = self.image.split("|", 1)[-1]
            tail = reference.rsplit("/", 1)[-1]
            if ":" in tail:
                return tail.rsplit(":", 1)[1]
        return self.app_version or "unknown"

    @property
    def is_production(self) -> bool:
        return self.name == "production"


@dataclass(frozen=True)
class WebApp:
    """A web app and its slots, production first."""

    name: str
    resource_group: str
    subscription_id: str
    slots: tuple[Slot, ...]

    def slot(self, name: str) -> Slot | None:
        """The slot called `name` (case-insensitive), or None."""
        for slot in self.slots:
            if slot.name.lower() == name.lower():
                return slot
        return None

    @property
    def where(self) -> dict[str, str]:
        """Slot name -> build."""
        return {slot.name: slot.build for slot in self.slots}


@dataclass(frozen=True)
class SettingDiff:
    """One setting that differs between two slots; values are masked unless revealed."""

    name: str
    kind: str
    """"app setting", "connection string" or "config"."""
    change: str
    """"added", "removed" or "changed" (seen from the source slot towards the target)."""
    source: str | None
    target: str | None
    sticky: bool


@dataclass(frozen=True)
class GateReading:
    """One evaluation of a release gate."""

    at: datetime
    verdict: str
    """pass, fail, inconclusive or error."""
    observed: Any
    sentence: str
    too_little: bool = False
    """Inconclusive only for too little traffic yet: more time may decide it, so it does not count as a miss."""


@dataclass(frozen=True)
class ReleaseOutcome:
    """How a guarded swap or ramp ended, and where every build is afterwards."""

    decision: str
    """promoted, rolled back, failed, inconclusive; kept (stopped by the user, who kept the change) or stopped
    (before anything changed)."""
    readings: tuple[GateReading, ...]
    where: dict[str, str]
    """Slot name -> build, read back at the end."""
    sentence: str


@dataclass(frozen=True)
class Gate:
    """What a guarded release is judged by: a runbook (with parameters) or a KQL query with a check.

    The service binds `app`, `slot` and `since` (the traffic to judge) when the runbook declares them;
    a KQL gate may use them as names.
    """

    runbook: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    kql: str | None = None
    check: str | None = None
    workspace: str | None = None

    @property
    def label(self) -> str:
        if self.runbook is not None:
            shown = " ".join(f"{k}={v}" for k, v in self.parameters)
            return f"runbook {self.runbook}" + (f" ({shown})" if shown else "")
        return f"KQL check {self.check}"


@dataclass(frozen=True)
class AlertCondition:
    """What a fired alert's rule watched when it fired: its window, query or metric, test and the value seen."""

    window_start: datetime | None = None
    window_end: datetime | None = None
    query: str | None = None
    """The rule's KQL (a scheduled query rule)."""
    metric: str | None = None
    """The metric's name (a metric alert rule)."""
    aggregation: str | None = None
    operator: str | None = None
    threshold: float | None = None
    observed: float | None = None

    @property
    def text(self) -> str:
        """The test in words: `Count GreaterThan 25 (seen 41)`."""
        what = self.metric or ("rows" if self.query else "")
        parts = [p for p in (self.aggregation, what, self.operator) if p]
        if self.threshold is not None:
            parts.append(f"{self.threshold:g}")
        if self.observed is not None:
            parts.append(f"(seen {self.observed:g})")
        return " ".join(parts)


@dataclass(frozen=True)
class Alert:
    """One fired alert (Azure Monitor's alert instance)."""

    id: str
    name: str
    """The rule's name."""
    severity: str
    """Sev0 (critical) to Sev4 (verbose)."""
    state: str
    """New, Acknowledged or Closed: what people did with it."""
    condition: str
    """Fired or Resolved: what the rule sees."""
    monitor_service: str
    signal_type: str
    target: str
    target_name: str
    target_group: str
    target_type: str
    rule_id: str
    started: datetime
    modified: datetime
    modified_by: str
    resolved: datetime | None
    description: str
    subscription_id: str
    detail: AlertCondition = field(default_factory=AlertCondition)

    @property
    def short_id(self) -> str:
        """The alert's GUID (the last part of its id), what headless commands take."""
        return self.id.rstrip("/").rsplit("/", 1)[-1]

    @property
    def severity_rank(self) -> int:
        """0 for Sev0 (most severe) to 4; 9 for anything unknown."""
        tail = self.severity[-1:]
        return int(tail) if tail.isdigit() else 9


@dataclass(frozen=True)
class AlertChange:
    """One entry of an alert's history: created, state changed (with a comment), condition changed."""

    at: datetime
    event: str
    old: str
    new: str
    who: str
    comments: str
    description: str


@dataclass(frozen=True)
class AlertSummary:
    """Counts of the alerts a filter selects: by severity, and by state within each severity."""

    total: int
    by_severity: tuple[tuple[str, int], ...]
    by_state: tuple[tuple[str, int], ...]

    @property
    def text(self) -> str:
        """`15 alerts: Sev0 1, Sev1 2 · New 6, Acknowledged 1, Closed 8`."""
        severities = ", ".join(f"{name} {count}" for name, count in self.by_severity if count)
        states = ", ".join(f"{name} {count}" for name, count in self.by_state)
        return f"{self.total} alerts: {severities or 'none'} · {states}"


@dataclass(frozen=True)
class AlertFilter:
    """Which fired alerts to list, in the terms Azure filters by (an empty tuple selects all)."""

    severities: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    resource_group: str = ""
    monitor_service: str = ""
    time_range: str = "7d"
    """1h, 1d, 7d or 30d."""

    @property
    def text(self) -> str:
        """The filter as `sev=Sev0,Sev1 state=New since=7d` (what the filter form reads back)."""
        parts = []
        if self.severities:
            parts.append("sev=" + ",".join(self.severities))
        if self.states:
            parts.append("state=" + ",".join(self.states))
        if self.conditions:
            parts.append("cond=" + ",".join(self.conditions))
        if self.resource_group:
            parts.append(f"rg={self.resource_group}")
        if self.monitor_service:
            parts.append(f"service={self.monitor_service}")
        parts.append(f"since={self.time_range}")
        return " ".join(parts)


@dataclass(frozen=True)
class AlertRule:
    """An alert rule: a scheduled query (log) rule, a metric rule or an activity log rule."""

    id: str
    name: str
    kind: str
    """log, metric or activity log."""
    enabled: bool
    severity: int | None
    description: str
    frequency: str
    window: str
    condition: str
    query: str | None
    scopes: tuple[str, ...]
    resource_group: str
    subscription_id: str
    tags: tuple[tuple[str, str], ...] = ()
    last_fired: datetime | None = None
    firing: bool = False
    """Whether one of its alerts is still Fired."""

    def tag(self, name: str) -> str:
        """A tag's value ("" when the rule does not have it)."""
        return next((value for key, value in self.tags if key.lower() == name.lower()), "")


@dataclass(frozen=True)
class AlertStateChange:
    """What one acknowledge or close of several alerts did: the alerts changed, and those that failed (with why)."""

    state: str
    changed: tuple[Alert, ...]
    failed: tuple[tuple[str, str], ...]
    """(alert id, the sentence saying what failed and where it now stands)."""

    @property
    def text(self) -> str:
        verb = {"Acknowledged": "acknowledged", "Closed": "closed", "New": "reopened"}.get(self.state, self.state)
        said = f"{len(self.changed)} {verb}"
        return said + (f", {len(self.failed)} failed" if self.failed else "")
