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
        """error if any query failed, else fail if any check failed, else inconclusive if any check ran on
        partial data, else pass."""
        statuses = {step.status for step in self.steps}
        for status in ("error", "fail", "inconclusive"):
            if status in statuses:
                return status
        return "pass"

    def summary(self) -> str:
        kinds = ("pass", "fail", "inconclusive", "error", "info")
        counts = {s: sum(1 for step in self.steps if step.status == s) for s in kinds}
        return ", ".join(f"{n} {s}" for s, n in counts.items() if n)
