"""Backup runs in Recovery Services vaults: jobs across vaults and subscriptions, freshness against each
policy's promise, back up now, restore, cancel, and restore drills.

Everything goes through azure-mgmt-recoveryservicesbackup's async client, imported on first use (it is
large); every change through `mutate`. The SDK's models are read as mappings (their wire names), so an
item of a kind the SDK has no class for reads the same as one it has.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from console.errors import ErrorKind, OpsError
from console.models import OperationProgress
from console.services.base import Service, ServiceContext
from console.services.operations import ProgressCallback

VAULT_TYPE = "Microsoft.RecoveryServices/vaults"
POSTGRES_TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
RUNNING = ("InProgress", "Cancelling")
GOOD = ("Completed", "CompletedWithWarnings")
GRACE = timedelta(hours=1)
"""Time a scheduled backup is given to run before its item counts as late."""
POLL_S = 1.0
Sleep = Callable[[float], Awaitable[None]]
ITEM_TYPES = {"AzureIaasVM": "VM", "AzureStorage": "FileShare", "AzureWorkload": "Database", "AzureSql": "Database"}
"""Backup management type -> the item type the console names (filters, columns)."""


@dataclass(frozen=True)
class BackupError:
    """Why a job failed, as Azure Backup tells it."""

    code: str
    message: str
    recommendations: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackupJob:
    """One job of a vault: a scheduled or on-demand backup, a restore, a configuration change."""

    job_id: str
    """The job's ARM id."""
    name: str
    vault: str
    subscription_id: str
    resource_group: str
    item: str
    item_type: str
    operation: str
    status: str
    start: datetime | None
    end: datetime | None
    duration: timedelta | None
    progress: float | None = None
    data_transferred: str | None = None
    errors: tuple[BackupError, ...] = ()
    details: tuple[tuple[str, str], ...] = ()
    """The job's property bag (backup size, target, recovery point...)."""
    cancellable: bool = False

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    @property
    def failed(self) -> bool:
        return self.status == "Failed"

    def detail(self, key: str) -> str | None:
        return dict(self.details).get(key)


@dataclass(frozen=True)
class ProtectedItem:
    """An item a vault backs up, with what its policy promises (its RPO)."""

    item_id: str
    name: str
    item_type: str
    vault: str
    subscription_id: str
    resource_group: str
    source_id: str
    policy: str
    rpo: timedelta
    last_backup_status: str
    last_recovery_point: datetime | None
    protection_status: str

    @property
    def fabric(self) -> str:
        return self.item_id.split("/backupFabrics/")[1].split("/")[0]

    @property
    def container(self) -> str:
        return self.item_id.split("/protectionContainers/")[1].split("/")[0]

    @property
    def protected_item_name(self) -> str:
        return self.item_id.rsplit("/", 1)[-1]

    @property
    def alternate_location(self) -> bool:
        """Whether a restore may go somewhere else than the original (every kind the console knows here)."""
        return self.item_type in ("VM", "FileShare", "Database")


@dataclass(frozen=True)
class Freshness:
    """An item's last good backup against its RPO: `late` is how far past the promise it is (None: on time)."""

    item: ProtectedItem
    age: timedelta | None
    late: timedelta | None

    @property
    def breached(self) -> bool:
        return self.late is not None


@dataclass(frozen=True)
class RecoveryPoint:
    """A point an item can be restored to."""

    name: str
    time: datetime
    kind: str


@dataclass(frozen=True)
class DrillResult:
    """The evidence a restore drill keeps: what was restored from where to where, how long it took (the RTO),
    and whether the restored copy passed its verification."""

    item: str
    point: str
    point_time: datetime
    target: str
    started: datetime
    restored: datetime
    rto: timedelta
    job: BackupJob
    verify: str
    verdict: str
    """pass, fail, inconclusive or error."""
    sentence: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppBackup:
    """A backup of an App Service site or slot."""

    backup_id: str
    app: str
    slot: str
    subscription_id: str
    resource_group: str
    name: str
    status: str
    created: datetime | None
    finished: datetime | None
    size_bytes: int
    scheduled: bool
    log: str | None = None
    last_restore: datetime | None = None
    storage_url: str = ""
    blob: str = ""

    @property
    def size_text(self) -> str:
        return f"{self.size_bytes / 1_000_000:.0f} MB" if self.size_bytes else ""


@dataclass(frozen=True)
class DatabaseBackup:
    """A backup of a PostgreSQL flexible server: automatic (daily) or taken on demand."""

    server: str
    name: str
    backup_type: str
    source: str
    completed: datetime | None
    subscription_id: str


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso_duration(text: Any) -> timedelta | None:
    """`PT14M3.5S` (or `P1DT2H`) as a timedelta."""
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str) or not text.startswith("P"):
        return None
    days, _, clock = text[1:].partition("T")
    total = 0.0
    try:
        if days:
            total += float(days.rstrip("D") or 0) * 86400
        number = ""
        for char in clock:
            if char.isdigit() or char == ".":
                number += char
                continue
            total += float(number or 0) * {"H": 3600, "M": 60, "S": 1}.get(char, 0)
            number = ""
    except ValueError:
        return None
    return timedelta(seconds=total)


def _parts(resource_id: str) -> tuple[str, str, str]:
    """(subscription, resource group, vault) of an id under a vault."""
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    try:
        return (
            parts[lowered.index("subscriptions") + 1],
            parts[lowered.index("resourcegroups") + 1],
            parts[lowered.index("vaults") + 1],
        )
    except (ValueError, IndexError):
        raise OpsError(ErrorKind.BAD_REQUEST, f"{resource_id!r} is not under a Recovery Services vault.") from None


def _mapping(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    try:
        return dict(model.items())
    except AttributeError:
        return {}


def job_from_sdk(resource: Any) -> BackupJob:
    """A BackupJob from the SDK's JobResource."""
    outer = _mapping(resource)
    props = _mapping(outer.get("properties"))
    extended = _mapping(props.get("extendedInfo"))
    bag = {str(k): str(v) for k, v in _mapping(extended.get("propertyBag")).items()}
    errors = tuple(
        BackupError(
            str(e.get("errorCode") or "Unknown"),
            str(e.get("errorString") or e.get("errorTitle") or ""),
            tuple(str(r) for r in e.get("recommendations") or ()),
        )
        for e in (_mapping(x) for x in props.get("errorDetails") or ())
    )
    subscription_id, group, vault = _parts(str(outer.get("id")))
    progress = extended.get("progressPercentage")
    status = str(props.get("status") or "Unknown")
    return BackupJob(
        job_id=str(outer.get("id")),
        name=str(outer.get("name")),
        vault=vault,
        subscription_id=subscription_id,
        resource_group=group,
        item=str(props.get("entityFriendlyName") or ""),
        item_type=ITEM_TYPES.get(str(props.get("backupManagementType")), str(props.get("backupManagementType"))),
        operation=str(props.get("operation") or ""),
        status=status,
        start=_time(props.get("startTime")),
        end=_time(props.get("endTime")),
        duration=_iso_duration(props.get("duration")),
        progress=float(progress) if isinstance(progress, (int, float)) else None,
        data_transferred=bag.get("Backup Size"),
        errors=errors,
        details=tuple(sorted(bag.items())),
        cancellable="Cancellable" in (props.get("actionsInfo") or ()),
    )


def _rpo(policy: dict[str, Any]) -> timedelta:
    """What a policy promises: the time between two scheduled backups."""
    props = _mapping(policy.get("properties"))
    schedules = [_mapping(props.get("schedulePolicy"))]
    schedules += [_mapping(_mapping(s).get("schedulePolicy")) for s in props.get("subProtectionPolicy") or ()]
    best: timedelta | None = None
    for schedule in schedules:
        frequency = str(schedule.get("scheduleRunFrequency") or "")
        if frequency == "Hourly":
            hours = _mapping(schedule.get("hourlySchedule")).get("interval") or 4
            every = timedelta(hours=float(hours))
        elif frequency == "Weekly":
            every = timedelta(days=7)
        elif frequency == "Daily":
            every = timedelta(days=1)
        else:
            continue
        best = every if best is None else min(best, every)
    return best or timedelta(days=1)


def describe_job(job: BackupJob) -> str:
    """One line about a job, as the journal and the error sentences say it."""
    when = job.end or job.start
    stamp = when.strftime("%Y-%m-%d %H:%M UTC") if when else "not started"
    return f"{job.operation} of {job.item} {job.status} ({stamp})"


class BackupService(Service):
    """Recovery Services vaults across subscriptions: jobs, freshness, backup now, restore, cancel, drills."""

    area = "backup"

    def __init__(self, context: ServiceContext, resources: Any, runbooks: Any, *, sleep: Sleep | None = None) -> None:
        super().__init__(context)
        self.resources = resources
        self.runbooks = runbooks
        self._clients: dict[str, Any] = {}
        self._sleep: Sleep = sleep or asyncio.sleep

    def _cached(self, kind: str, subscription_id: str) -> Any:
        """The SDK client of `kind` (backup, web, postgres) for a subscription, built on first use."""
        key = f"{kind}:{subscription_id}"
        client = self._clients.get(key)
        if client is None:
            client = _client_class(kind)(self.context.credential, subscription_id, **self.context.arm_options())
            self._clients[key] = client
        return client

    def _client(self, subscription_id: str) -> Any:
        return self._cached("backup", subscription_id)

    async def _find_resource(self, resource_type: str, name: str, noun: str) -> Any:
        """The resource of `resource_type` called `name` in any subscription; a sentence naming the known ones."""
        await self.context.connected()
        subscriptions = [s.subscription_id for s in await self.resources.list_subscriptions()]
        found = await self.resources.list_all_resources(subscriptions, resource_type=resource_type)
        match = [r for r in found if r.name.lower() == name.lower()]
        if not match:
            known = ", ".join(sorted(r.name for r in found)) or "none"
            raise OpsError(ErrorKind.NOT_FOUND, f"No {noun} is called {name!r}; known: {known}.")
        return match[0]

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)

    # -- reading -------------------------------------------------------------------------------------------

    async def list_vaults(self) -> list[tuple[str, str, str]]:
        """Every Recovery Services vault the identity sees, as (subscription, resource group, name)."""
        await self.context.connected()
        subscriptions = [s.subscription_id for s in await self.resources.list_subscriptions()]
        found = await self.resources.list_all_resources(subscriptions, resource_type=VAULT_TYPE)
        vaults = [(r.subscription_id, r.resource_group, r.name) for r in found]
        return sorted(vaults, key=lambda v: (v[2].lower(), v[0]))

    async def list_jobs(
        self,
        *,
        status: str | None = None,
        operation: str | None = None,
        item_type: str | None = None,
        since: datetime | None = None,
        item: str | None = None,
    ) -> list[BackupJob]:
        """Jobs of every vault in every subscription, newest first; status, operation and since are asked of
        Azure (`$filter`), the item type and item are filtered here."""
        terms = []
        if status:
            terms.append(f"status eq '{_quoted(status)}'")
        if operation:
            terms.append(f"operation eq '{_quoted(operation)}'")
        if since is not None:
            terms.append(f"startTime eq '{since.astimezone(UTC).strftime('%Y-%m-%d %I:%M:%S %p')}'")
        filter_text = " and ".join(terms) or None

        async def one(subscription_id: str, group: str, vault: str) -> list[BackupJob]:
            pager = self._client(subscription_id).backup_jobs.list(vault, group, filter=filter_text)
            return [job_from_sdk(j) async for j in pager]

        vaults = await self.list_vaults()
        batches = await self.call("listing backup jobs", asyncio.gather(*(one(s, g, v) for s, g, v in vaults)))
        jobs = [job for batch in batches for job in batch]
        if item_type:
            jobs = [j for j in jobs if j.item_type.lower() == item_type.lower()]
        if item:
            jobs = [j for j in jobs if j.item.lower() == item.lower()]
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(jobs, key=lambda j: j.start or epoch, reverse=True)

    async def read_job(self, job: BackupJob | str) -> BackupJob:
        """A job read afresh (its details: errors, recommendations, progress, data transferred)."""
        job_id = job.job_id if isinstance(job, BackupJob) else job
        subscription_id, group, vault = _parts(job_id)
        name = job_id.rstrip("/").rsplit("/", 1)[-1]
        details = self._client(subscription_id).job_details
        found = await self.call(f"reading job {name}", details.get(vault, group, name))
        return job_from_sdk(found)

    async def list_items(self) -> list[ProtectedItem]:
        """Every protected item of every vault, with its policy's RPO."""

        async def one(subscription_id: str, group: str, vault: str) -> list[ProtectedItem]:
            client = self._client(subscription_id)
            policies = {
                str(p["name"]).lower(): _rpo(_mapping(p)) async for p in client.backup_policies.list(vault, group)
            }
            items = []
            async for found in client.backup_protected_items.list(vault, group):
                items.append(self._item(subscription_id, group, vault, _mapping(found), policies))
            return items

        vaults = await self.list_vaults()
        batches = await self.call("listing protected items", asyncio.gather(*(one(s, g, v) for s, g, v in vaults)))
        return sorted((i for b in batches for i in b), key=lambda i: (i.vault, i.name))

    @staticmethod
    def _item(
        subscription_id: str, group: str, vault: str, found: dict[str, Any], policies: dict[str, timedelta]
    ) -> ProtectedItem:
        props = _mapping(found.get("properties"))
        policy_id = str(props.get("policyId") or "")
        policy = policy_id.rstrip("/").rsplit("/", 1)[-1]
        management = str(props.get("backupManagementType") or "")
        return ProtectedItem(
            item_id=str(found.get("id")),
            name=str(props.get("friendlyName") or found.get("name")),
            item_type=ITEM_TYPES.get(management, management),
            vault=vault,
            subscription_id=subscription_id,
            resource_group=group,
            source_id=str(props.get("sourceResourceId") or ""),
            policy=policy,
            rpo=policies.get(policy.lower(), timedelta(days=1)),
            last_backup_status=str(props.get("lastBackupStatus") or "Unknown"),
            last_recovery_point=_time(props.get("lastRecoveryPoint")),
            protection_status=str(props.get("protectionStatus") or props.get("healthStatus") or "Unknown"),
        )

    async def find_item(self, name: str) -> ProtectedItem:
        """The protected item called `name` (its friendly name, any case), in whichever vault protects it."""
        items = await self.list_items()
        found = [i for i in items if name.lower() in (i.name.lower(), i.item_id.lower())]
        if not found:
            known = ", ".join(i.name for i in items) or "none"
            raise OpsError(ErrorKind.NOT_FOUND, f"No protected item is called {name!r}; known: {known}.")
        return found[0]

    async def freshness(self, now: datetime | None = None) -> list[Freshness]:
        """Each item's last good backup against its RPO (plus an hour for the backup to run): breaches first,
        the latest first; then the rest, oldest backup first."""
        moment = now or datetime.now(UTC)
        found = []
        for item in await self.list_items():
            age = moment - item.last_recovery_point if item.last_recovery_point else None
            allowed = item.rpo + GRACE
            late: timedelta | None = None
            if age is None:
                late = allowed  # never backed up: late by at least its promise
            elif age > allowed:
                late = age - allowed
            found.append(Freshness(item, age, late))
        breaches = sorted((f for f in found if f.breached), key=lambda f: f.late or timedelta(0), reverse=True)
        rest = sorted((f for f in found if not f.breached), key=lambda f: f.age or timedelta(0), reverse=True)
        return breaches + rest

    async def recovery_points(self, item: ProtectedItem) -> list[RecoveryPoint]:
        """The item's recovery points, newest first."""
        client = self._client(item.subscription_id)

        async def collect() -> list[RecoveryPoint]:
            pager = client.recovery_points.list(
                item.vault, item.resource_group, item.fabric, item.container, item.protected_item_name
            )
            points = []
            async for found in pager:
                props = _mapping(_mapping(found).get("properties"))
                when = _time(props.get("recoveryPointTime"))
                if when is not None:
                    points.append(RecoveryPoint(str(_mapping(found).get("name")), when, str(props.get("objectType"))))
            return points

        points = await self.call(f"listing the recovery points of {item.name}", collect())
        return sorted(points, key=lambda p: p.time, reverse=True)

    async def state_of(self, target: str) -> str:
        """The newest job of the item `target` names (a protected item's id), or the job `target` is."""
        if "/backupJobs/" in target:
            return describe_job(await self.read_job(target))
        name = target.rstrip("/").rsplit("/", 1)[-1].rsplit(";", 1)[-1]
        jobs = await self.list_jobs(item=name)
        return describe_job(jobs[0]) if jobs else f"{name} has no jobs"

    # -- changing ------------------------------------------------------------------------------------------

    async def backup_now(
        self,
        item: ProtectedItem | str,
        *,
        wait: bool = False,
        retain_days: int = 30,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> BackupJob:
        """Start an on-demand backup (its recovery point kept `retain_days`); with `wait`, return only when
        its job has ended, and raise when it failed (code, message, recommendations)."""
        found = item if isinstance(item, ProtectedItem) else await self.find_item(item)
        client = self._client(found.subscription_id)
        kinds = {"VM": "IaasVMBackupRequest", "FileShare": "AzureFileShareBackupRequest"}
        expiry = (datetime.now(UTC) + timedelta(days=retain_days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        body = {
            "properties": {
                "objectType": kinds.get(found.item_type, "AzureWorkloadBackupRequest"),
                "recoveryPointExpiryTimeInUTC": expiry,
            }
        }
        started = time.monotonic()

        async def call() -> BackupJob:
            headers = await client.backups.trigger(
                found.vault,
                found.resource_group,
                found.fabric,
                found.container,
                found.protected_item_name,
                body,
                cls=_headers,
            )
            return await self._follow(found, headers, "back up", wait, started, progress)

        return await self.mutate(  # type: ignore[no-any-return]
            "back up",
            found.item_id,
            call,
            subscription_id=found.subscription_id,
            parameters={"item": found.name, "wait": wait, "retain_days": retain_days},
            confirmed=confirmed,
            progress=progress,
        )

    async def restore(
        self,
        item: ProtectedItem | str,
        point: str,
        *,
        target: str | None = None,
        wait: bool = True,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> BackupJob:
        """Restore `item` from recovery point `point` (its name, or `latest`) to its original location, or to
        `target` (a resource group id for a VM, `account/share` for a file share, a server name for a database).

        A restore overwrites or creates data: it is refused before any request unless `confirmed`.
        """
        action = "restore"
        named = item.name if isinstance(item, ProtectedItem) else item
        # Refused before any request, even the look-up: a restore overwrites or creates data.
        self.ensure_writable(
            item.subscription_id if isinstance(item, ProtectedItem) else None, f"restore {named}", confirmed=True
        )
        if not confirmed:
            raise OpsError(
                ErrorKind.REFUSED, f"Refused to restore {named}: a restore must be confirmed (type its name)."
            )
        found = item if isinstance(item, ProtectedItem) else await self.find_item(item)
        self.ensure_writable(found.subscription_id, f"{action} {found.name}", confirmed=confirmed)
        if target is not None and not found.alternate_location:
            raise OpsError(ErrorKind.BAD_REQUEST, f"{found.name} can only be restored to its original location.")
        chosen = await self._point(found, point)
        body = {"properties": _restore_request(found, target)}
        client = self._client(found.subscription_id)
        started = time.monotonic()

        async def call() -> BackupJob:
            poller = await client.restores.begin_trigger(
                found.vault,
                found.resource_group,
                found.fabric,
                found.container,
                found.protected_item_name,
                chosen.name,
                body,
                polling=False,
                cls=_headers,
            )
            headers = await poller.result()
            return await self._follow(found, headers, action, wait, started, progress)

        return await self.mutate(  # type: ignore[no-any-return]
            action,
            found.item_id,
            call,
            subscription_id=found.subscription_id,
            parameters={"item": found.name, "point": chosen.name, "target": target or "original location"},
            confirmed=confirmed,
            progress=progress,
        )

    async def cancel(
        self, job: BackupJob, *, confirmed: bool = False, progress: ProgressCallback | None = None
    ) -> BackupJob:
        """Cancel a running job; returns it read back (Cancelling, then Cancelled)."""
        client = self._client(job.subscription_id)

        async def call() -> BackupJob:
            await client.job_cancellations.trigger(job.vault, job.resource_group, job.name)
            return await self.read_job(job)

        return await self.mutate(  # type: ignore[no-any-return]
            "cancel job",
            job.job_id,
            call,
            subscription_id=job.subscription_id,
            parameters={"item": job.item, "operation": job.operation},
            confirmed=confirmed,
            progress=progress,
        )

    async def _point(self, item: ProtectedItem, point: str) -> RecoveryPoint:
        points = await self.recovery_points(item)
        if not points:
            raise OpsError(ErrorKind.NOT_FOUND, f"{item.name} has no recovery point to restore from.")
        if point.lower() == "latest":
            return points[0]
        for candidate in points:
            if candidate.name == point:
                return candidate
        shown = ", ".join(p.name for p in points[:5])
        raise OpsError(
            ErrorKind.NOT_FOUND, f"{item.name} has no recovery point {point!r}; the newest are: {shown} (or 'latest')."
        )

    async def _follow(
        self,
        item: ProtectedItem,
        headers: Any,
        action: str,
        wait: bool,
        started: float,
        progress: ProgressCallback | None,
    ) -> BackupJob:
        """From a trigger's Azure-AsyncOperation to its job; with `wait`, on to the job's end."""
        link = str(headers.get("Azure-AsyncOperation") or headers.get("Location") or "")
        operation_id = link.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not operation_id:
            raise OpsError(ErrorKind.TRANSIENT, f"Azure did not say how to follow the {action} of {item.name}.")
        client = self._client(item.subscription_id)

        def report(status: str, done: bool = False) -> None:
            if progress is not None:
                progress(OperationProgress(action, item.item_id, status, time.monotonic() - started, done))

        while True:
            status = await client.backup_operation_statuses.get(item.vault, item.resource_group, operation_id)
            state = str(_mapping(status).get("status"))
            if state != "InProgress":
                break
            report("Starting")
            await self._sleep(POLL_S)
        if state != "Succeeded":
            error = _mapping(_mapping(status).get("error"))
            raise OpsError(
                ErrorKind.FAILED,
                f"The {action} of {item.name} did not start: {error.get('message') or state}.",
                code=str(error.get("code") or state),
            )
        job_id = str(_mapping(_mapping(status).get("properties")).get("jobId") or "")
        vault_id = (
            f"/subscriptions/{item.subscription_id}/resourceGroups/{item.resource_group}"
            f"/providers/Microsoft.RecoveryServices/vaults/{item.vault}"
        )
        job = await self.read_job(f"{vault_id}/backupJobs/{job_id}")
        while wait and job.running:
            shown = f"{job.status} {job.progress:.0f}%" if job.progress is not None else job.status
            report(shown)
            await self._sleep(POLL_S)
            job = await self.read_job(job)
        if job.failed:
            raise job_failure(job)
        return job

    # -- App Service backups ------------------------------------------------------------------------------

    def _web(self, subscription_id: str) -> Any:
        return self._cached("web", subscription_id)

    async def _find_site(self, app: str) -> Any:
        return await self._find_resource("Microsoft.Web/sites", app, "web app")

    @staticmethod
    def _app_backup(site: Any, slot: str, found: Any) -> AppBackup:
        props = _mapping(_mapping(found).get("properties"))
        return AppBackup(
            backup_id=str(props.get("id") or _mapping(found).get("name")),
            app=site.name,
            slot=slot,
            subscription_id=site.subscription_id,
            resource_group=site.resource_group,
            name=str(props.get("name") or ""),
            status=str(props.get("status") or "Unknown"),
            created=_time(props.get("created")),
            finished=_time(props.get("finishedTimeStamp")),
            size_bytes=int(props.get("sizeInBytes") or 0),
            scheduled=bool(props.get("scheduled")),
            log=str(props["log"]) if props.get("log") else None,
            last_restore=_time(props.get("lastRestoreTimeStamp")),
            storage_url=str(props.get("storageAccountUrl") or ""),
            blob=str(props.get("blobName") or ""),
        )

    async def list_app_backups(self, app: str, slot: str = "production") -> list[AppBackup]:
        """The backups of a web app (or one of its slots), newest first."""
        site = await self._find_site(app)
        web = self._web(site.subscription_id).web_apps

        async def collect() -> list[AppBackup]:
            pager = (
                web.list_backups(site.resource_group, site.name)
                if slot == "production"
                else web.list_backups_slot(site.resource_group, site.name, slot)
            )
            return [self._app_backup(site, slot, found) async for found in pager]

        backups = await self.call(f"listing the backups of {app}", collect())
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(backups, key=lambda b: b.created or epoch, reverse=True)

    async def backup_app(
        self,
        app: str,
        slot: str = "production",
        *,
        wait: bool = True,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> AppBackup:
        """Back up a web app (or slot) now, to the storage its backup configuration names; with `wait`, return
        when the backup has ended (raising with App Service's log when it failed)."""
        site = await self._find_site(app)
        web = self._web(site.subscription_id).web_apps
        group, name = site.resource_group, site.name
        where = app if slot == "production" else f"{app}/{slot}"
        config = await self.call(
            f"reading the backup configuration of {where}",
            web.get_backup_configuration(group, name)
            if slot == "production"
            else web.get_backup_configuration_slot(group, name, slot),
        )
        url = _mapping(_mapping(config).get("properties")).get("storageAccountUrl")
        if not url:
            raise OpsError(ErrorKind.BAD_REQUEST, f"{where} has no backup storage configured.")
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        request = {"properties": {"backupName": f"{name}_manual_{stamp}", "storageAccountUrl": url, "enabled": True}}
        started = time.monotonic()
        target = f"{site.resource_id}" + ("" if slot == "production" else f"/slots/{slot}")

        async def call() -> AppBackup:
            made = await (
                web.backup(group, name, request)
                if slot == "production"
                else web.backup_slot(group, name, slot, request)
            )
            backup = self._app_backup(site, slot, made)
            while wait and backup.status in ("InProgress", "Created", "Queued"):
                if progress is not None:
                    progress(OperationProgress("back up", target, backup.status, time.monotonic() - started))
                await self._sleep(POLL_S)
                listed = await self.list_app_backups(app, slot)
                backup = next((b for b in listed if b.backup_id == backup.backup_id), backup)
            if backup.status in ("Failed", "TimedOut"):
                raise OpsError(
                    ErrorKind.FAILED,
                    f"The backup of {where} {backup.status.lower()}: {backup.log or 'no log'}",
                    code=f"Backup{backup.status}",
                )
            return backup

        return await self.mutate(  # type: ignore[no-any-return]
            "back up",
            target,
            call,
            subscription_id=site.subscription_id,
            parameters={"app": app, "slot": slot},
            confirmed=confirmed,
            progress=progress,
        )

    async def restore_app(
        self,
        app: str,
        backup_id: str,
        slot: str = "production",
        *,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> AppBackup:
        """Restore a web app (or slot) from one of its backups, over its content. Refused before any request
        unless `confirmed` (a restore overwrites the site)."""
        self.ensure_writable(None, f"restore {app}", confirmed=True)
        if not confirmed:
            raise OpsError(ErrorKind.REFUSED, f"Refused to restore {app}: a restore must be confirmed (type its name).")
        backups = await self.list_app_backups(app, slot)
        backup = next((b for b in backups if b.backup_id == backup_id), None)
        if backup is None:
            shown = ", ".join(b.backup_id for b in backups[:5]) or "none"
            raise OpsError(ErrorKind.NOT_FOUND, f"{app} has no backup {backup_id!r}; the newest are: {shown}.")
        web = self._web(backup.subscription_id).web_apps
        group = backup.resource_group
        request = {
            "properties": {
                "storageAccountUrl": backup.storage_url,
                "blobName": backup.blob,
                "overwrite": True,
                "siteName": app,
                "operationType": "Default",
            }
        }
        target = (
            f"/subscriptions/{backup.subscription_id}/resourceGroups/{group}/providers/Microsoft.Web/sites/{app}"
            + ("" if slot == "production" else f"/slots/{slot}")
        )

        async def call() -> Any:
            if slot == "production":
                return await web.begin_restore(group, app, backup_id, request)
            return await web.begin_restore_slot(group, app, backup_id, slot, request)

        await self.mutate(
            "restore",
            target,
            call,
            subscription_id=backup.subscription_id,
            parameters={"app": app, "slot": slot, "backup": backup_id},
            confirmed=confirmed,
            progress=progress,
        )
        after = await self.list_app_backups(app, slot)
        return next((b for b in after if b.backup_id == backup_id), backup)

    # -- PostgreSQL flexible server backups -------------------------------------------------------------

    def _postgres(self, subscription_id: str) -> Any:
        return self._cached("postgres", subscription_id)

    async def _find_server(self, server: str) -> Any:
        return await self._find_resource(POSTGRES_TYPE, server, "PostgreSQL flexible server")

    @staticmethod
    def _database_backup(server: Any, found: Any) -> DatabaseBackup:
        outer = _mapping(found)
        props = _mapping(outer.get("properties"))
        return DatabaseBackup(
            server=server.name,
            name=str(outer.get("name")),
            backup_type=str(props.get("backupType") or ""),
            source=str(props.get("source") or ""),
            completed=_time(props.get("completedTime")),
            subscription_id=server.subscription_id,
        )

    async def list_database_backups(self, server: str) -> list[DatabaseBackup]:
        """A PostgreSQL flexible server's backups (automatic and on demand), newest first."""
        found = await self._find_server(server)
        operations = self._postgres(found.subscription_id).backups_automatic_and_on_demand

        async def collect() -> list[DatabaseBackup]:
            pager = operations.list_by_server(found.resource_group, found.name)
            return [self._database_backup(found, b) async for b in pager]

        backups = await self.call(f"listing the backups of {server}", collect())
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(backups, key=lambda b: b.completed or epoch, reverse=True)

    async def backup_database(
        self,
        server: str,
        name: str | None = None,
        *,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> DatabaseBackup:
        """Take an on-demand backup of a PostgreSQL flexible server (named `name`, else by the time)."""
        found = await self._find_server(server)
        operations = self._postgres(found.subscription_id).backups_automatic_and_on_demand
        chosen = name or f"ondemand-{datetime.now(UTC):%Y%m%dT%H%M%S}"

        async def call() -> Any:
            return await operations.begin_create(found.resource_group, found.name, chosen)

        made = await self.mutate(
            "back up",
            f"{found.resource_id}/backups/{chosen}",
            call,
            subscription_id=found.subscription_id,
            parameters={"server": server, "backup": chosen},
            confirmed=confirmed,
            progress=progress,
        )
        return self._database_backup(found, made)

    async def list_platform_backups(self) -> tuple[list[AppBackup], list[DatabaseBackup]]:
        """Every web app's (production) App Service backups and every PostgreSQL flexible server's backups."""
        await self.context.connected()
        subscriptions = [s.subscription_id for s in await self.resources.list_subscriptions()]
        sites, servers = await asyncio.gather(
            self.resources.list_all_resources(subscriptions, resource_type="Microsoft.Web/sites"),
            self.resources.list_all_resources(subscriptions, resource_type=POSTGRES_TYPE),
        )

        async def app(site: Any) -> list[AppBackup]:
            pager = self._web(site.subscription_id).web_apps.list_backups(site.resource_group, site.name)
            return [self._app_backup(site, "production", found) async for found in pager]

        async def database(server: Any) -> list[DatabaseBackup]:
            operations = self._postgres(server.subscription_id).backups_automatic_and_on_demand
            pager = operations.list_by_server(server.resource_group, server.name)
            return [self._database_backup(server, found) async for found in pager]

        apps, databases = await self.call(
            "listing App Service and PostgreSQL backups",
            asyncio.gather(
                asyncio.gather(*(app(site) for site in sites)),
                asyncio.gather(*(database(server) for server in servers)),
            ),
        )
        epoch = datetime.min.replace(tzinfo=UTC)
        app_backups = sorted((b for found in apps for b in found), key=lambda b: b.created or epoch, reverse=True)
        database_backups = sorted(
            (b for found in databases for b in found), key=lambda b: b.completed or epoch, reverse=True
        )
        return app_backups, database_backups

    # -- drills --------------------------------------------------------------------------------------------

    async def drill(
        self,
        item: ProtectedItem | str,
        verify: str,
        *,
        target: str | None = None,
        point: str = "latest",
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> DrillResult:
        """A restore drill: restore to an alternate target, verify it with a runbook (by name) or a KQL query
        (which passes when it returns rows), measure the time to restore, and keep the evidence in the journal."""
        found = item if isinstance(item, ProtectedItem) else await self.find_item(item)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M")
        chosen_target = target or _drill_target(found, stamp)
        chosen = await self._point(found, point)
        began = datetime.now(UTC)
        clock = time.monotonic()
        job = await self.restore(
            found, chosen.name, target=chosen_target, wait=True, confirmed=confirmed, progress=progress
        )
        rto = timedelta(seconds=time.monotonic() - clock)
        restored = datetime.now(UTC)
        verdict, sentence = await self._verify(verify, found, chosen_target, began)
        result = DrillResult(
            item=found.name,
            point=chosen.name,
            point_time=chosen.time,
            target=chosen_target,
            started=began,
            restored=restored,
            rto=rto,
            job=job,
            verify=verify,
            verdict=verdict,
            sentence=sentence,
        )
        await asyncio.to_thread(
            self.context.journal.record,
            "drill",
            "restore drill",
            found.item_id,
            area=self.area,
            item=found.name,
            point=chosen.name,
            point_time=chosen.time.isoformat(),
            restore_target=chosen_target,
            started=began.isoformat(),
            restored=restored.isoformat(),
            rto_s=round(rto.total_seconds(), 3),
            job=job.job_id,
            verify=verify,
            verdict=verdict,
            sentence=sentence,
        )
        return result

    async def _verify(self, verify: str, item: ProtectedItem, target: str, since: datetime) -> tuple[str, str]:
        """Run the drill's verification: (verdict, sentence)."""
        from console.runbooks import Parameter, Runbook, Step, parse_check

        try:
            logs = self.runbooks.logs
            workspace = await logs.find_workspace(self.resources, self.context.settings.workspace)
            binding = {"item": item.name, "target": target, "since": since.isoformat().replace("+00:00", "Z")}
            runbook = self._runbook(verify)
            if runbook is not None:
                raw = {k: v for k, v in binding.items() if runbook.parameter(k) is not None}
                run = await self.runbooks.run(runbook, raw, workspace.customer_id)
            else:
                parameters = (
                    Parameter("item", "string", item.name),
                    Parameter("target", "string", target),
                    Parameter("since", "datetime", datetime(2000, 1, 1, tzinfo=UTC)),
                )
                step = Step("verify", verify, parse_check("rows > 0", parameters))
                runbook = Runbook("drill-verify", "Drill verification", "", (), parameters, (step,), "")
                values, prelude = self.runbooks.bind(runbook, binding)
                steps = [await self.runbooks.run_step(step, values, prelude, workspace.customer_id)]
                run = self.runbooks.make_run(runbook, values, steps, workspace.customer_id, datetime.now(UTC))
        except OpsError as error:
            return "error", error.message
        checked = [s for s in run.steps if s.check is not None or s.error]
        sentence = "; ".join(f"{s.name}: {s.error or s.sentence}" for s in checked) or run.summary()
        return run.status, sentence

    def _runbook(self, verify: str) -> Any:
        text = verify.strip()
        if "\n" in text or "|" in text or " " in text:
            return None
        try:
            return self.runbooks.find(text)
        except Exception:  # not a runbook's name: the text is a KQL query
            return None

    def drills(self, item: str | None = None) -> list[dict[str, Any]]:
        """The journal's drill evidence, newest first (only `item`'s when given)."""
        entries = [e for e in self.context.journal.entries() if e.get("phase") == "drill"]
        if item is not None:
            entries = [e for e in entries if str(e.get("item", "")).lower() == item.lower()]
        return list(reversed(entries))


def _client_class(kind: str) -> Any:
    """The SDK client class of `kind`, imported on first use (the backup SDK is large, the web one slow)."""
    if kind == "web":
        from azure.mgmt.web.aio import WebSiteManagementClient

        return WebSiteManagementClient
    if kind == "postgres":
        from azure.mgmt.postgresqlflexibleservers.aio import PostgreSQLManagementClient

        return PostgreSQLManagementClient
    from azure.mgmt.recoveryservicesbackup.aio import RecoveryServicesBackupClient

    return RecoveryServicesBackupClient


def job_failure(job: BackupJob) -> OpsError:
    """The OpsError for a job that ended Failed: its code, message and what Azure recommends."""
    error = job.errors[0] if job.errors else BackupError("Failed", "the job failed")
    advice = " ".join(error.recommendations)
    sentence = f"{error.message.rstrip('.')} (job {job.name})."
    if advice:
        sentence += f" Recommended: {advice.rstrip('.')}"
    return OpsError(ErrorKind.FAILED, sentence, code=error.code)


def _headers(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
    return pipeline_response.http_response.headers


def _quoted(value: str) -> str:
    return value.replace("'", "''")


def _drill_target(item: ProtectedItem, stamp: str) -> str:
    """Where a drill restores when no target is named: beside the original, clearly a drill's."""
    if item.item_type == "VM":
        return f"/subscriptions/{item.subscription_id}/resourceGroups/rg-restore-drills"
    if item.item_type == "FileShare":
        account = item.source_id.rstrip("/").rsplit("/", 1)[-1]
        return f"{account}/{item.name}-drill-{stamp}"
    return f"{item.name}-drill-{stamp}"


def _restore_request(item: ProtectedItem, target: str | None) -> dict[str, Any]:
    """The restore request's properties for the item's kind, to its original location or to `target`."""
    recovery = "AlternateLocation" if target else "OriginalLocation"
    if item.item_type == "VM":
        body: dict[str, Any] = {
            "objectType": "IaasVMRestoreRequest",
            "recoveryType": recovery,
            "sourceResourceId": item.source_id,
        }
        if target:
            key = "targetVirtualMachineId" if "/virtualmachines/" in target.lower() else "targetResourceGroupId"
            body[key] = target
        return body
    if item.item_type == "FileShare":
        body = {
            "objectType": "AzureFileShareRestoreRequest",
            "recoveryType": recovery,
            "sourceResourceId": item.source_id,
        }
        if target:
            account, _, share = target.rpartition("/")
            account_id = item.source_id.rsplit("/", 1)[0] + "/" + (account or item.source_id.rsplit("/", 1)[-1])
            body.update(
                {
                    "copyOptions": "Overwrite",
                    "restoreRequestType": "FullShareRestore",
                    "targetDetails": {"name": share, "targetResourceId": account_id},
                }
            )
        return body
    body = {"objectType": "AzureWorkloadRestoreRequest", "recoveryType": recovery, "sourceResourceId": item.source_id}
    if target:
        body["targetInfo"] = {"overwriteOption": "FailOnConflict", "databaseName": target}
    return body
