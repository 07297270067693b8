"""The backup area of the local Azure: Recovery Services vaults' policies, protected items, jobs and restores.

Each vault's jobs live in one document (kind `backupVault`) with the operations that created them. A job
started on demand carries its plan (when it ends and how); its state is settled whenever the vault is
read, so a job moves InProgress -> Completed/Failed/Cancelled over seconds and survives a restart.
Protected items and recovery points are derived from the jobs, so they always agree with them.

Faults: `lro_fail` on a `backup` or `restore` request ends the job it creates Failed, with an error code,
message and recommendations as Azure gives them; the trigger itself succeeds, as in Azure.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from console.emulator import estate, story
from console.emulator.areas.base import Area
from console.emulator.arm import RG, ArmRouter, Route, api_version_of, arm_error, clipped, read_json_object
from console.emulator.store import Document, Store

if TYPE_CHECKING:
    from console.emulator.server import EmulatorConfig

KIND = "backupVault"
BACKUP_SECONDS = 3.0
"""How long an on-demand backup job runs here (Azure's take minutes; seconds are enough to watch)."""
RESTORE_SECONDS = 4.0
OPERATION_SECONDS = 0.5
"""How long the trigger operation runs before its job exists in the operation's answer."""
CANCEL_SECONDS = 1.0
RUNNING = ("InProgress", "Cancelling")
OPERATIONS_KEPT = timedelta(hours=6)
"""How long a finished trigger's operation can still be polled."""
TOP_UP_EVERY_S = 300.0
"""How often the scheduled backups that came due since the seed are added while the server runs."""

_VAULT = RG + r"/providers/microsoft\.recoveryservices/vaults/(?P<vault>[^/]+)"
_ITEM = (
    _VAULT
    + r"/backupfabrics/(?P<fabric>[^/]+)/protectioncontainers/(?P<container>[^/]+)/protecteditems/(?P<item>[^/]+)"
)
_FILTER_TERM = re.compile(r"\s*(\w+)\s+eq\s+'([^']{0,100})'\s*", re.IGNORECASE)
_JOB_NAME = re.compile(r"[0-9a-fA-F-]{1,64}")

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ErrorInfo:
    """An error as Azure Backup reports it on a job."""

    code: str
    title: str
    message: str
    recommendations: tuple[str, ...]


ERRORS = {
    e.code: e
    for e in (
        ErrorInfo(
            "UserErrorGuestAgentStatusUnavailable",
            "VM agent unable to communicate with Azure Backup",
            "The VM agent is unable to communicate with Azure Backup.",
            (
                "Ensure that the VM agent is installed, running and up to date on the virtual machine.",
                "Check that the virtual machine can reach Azure Storage and the Azure Backup service.",
            ),
        ),
        ErrorInfo(
            "ExtensionSnapshotFailedNoNetwork",
            "Snapshot operation failed due to no network connectivity on the virtual machine",
            "The snapshot operation failed because the virtual machine has no network connectivity.",
            (
                "Ensure the virtual machine has outbound access to Azure Storage (service tag Storage) "
                "and to the Azure Backup service.",
                "Check the network security group and any firewall or proxy in front of the virtual machine.",
            ),
        ),
        ErrorInfo(
            "UserErrorRequestDisallowedByPolicy",
            "An Azure Policy prevented the snapshot operation",
            "An Azure Policy assigned to the virtual machine's resource group prevents the snapshot operation.",
            ("Exempt the Azure Backup restore point collection from the policy, then retry the backup.",),
        ),
        ErrorInfo(
            "UserErrorMaxConcurrentOperationLimitReached",
            "Too many operations on the item",
            "The operation cannot be performed: the maximum number of concurrent operations on this item "
            "has been reached.",
            ("Wait for the running operations on the item to finish, then retry.",),
        ),
        ErrorInfo(
            "FileshareBackupFailedWithAzureRpRequestThrottling",
            "Backup failed due to throttling on the storage account",
            "The backup of the file share failed because the storage account throttled the request.",
            ("Retry the backup at a time of lower load on the storage account.",),
        ),
        ErrorInfo(
            "CloudInternalError",
            "Microsoft Azure Backup encountered an internal error",
            "Microsoft Azure Backup encountered an internal error.",
            ("Retry the operation after some time. If the problem persists, contact Microsoft support.",),
        ),
    )
}
_INJECTED_BACKUP_ERROR = {
    "VM": "ExtensionSnapshotFailedNoNetwork",
    "AzureFileShare": "FileshareBackupFailedWithAzureRpRequestThrottling",
    "AzureDatabaseForPostgreSQLFlexibleServer": "UserErrorMaxConcurrentOperationLimitReached",
}


# -- the estate's protected items ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """How Azure Backup names and types one kind of protected item."""

    backup_management_type: str
    workload_type: str
    protected_item_type: str
    job_type: str
    policy: str
    restore_request: str
    recovery_point: str


KINDS = {
    "VM": _Kind(
        "AzureIaasVM",
        "VM",
        "Microsoft.Compute/virtualMachines",
        "AzureIaaSVMJob",
        "VM",
        "IaasVMRestoreRequest",
        "IaasVMRecoveryPoint",
    ),
    "AzureFileShare": _Kind(
        "AzureStorage",
        "AzureFileShare",
        "AzureFileShareProtectedItem",
        "AzureStorageJob",
        "Files",
        "AzureFileShareRestoreRequest",
        "AzureFileShareRecoveryPoint",
    ),
    "AzureDatabaseForPostgreSQLFlexibleServer": _Kind(
        "AzureWorkload",
        "GenericDataSource",
        "GenericProtectedItem",
        "AzureWorkloadJob",
        "Database",
        "AzureWorkloadRestoreRequest",
        "GenericRecoveryPoint",
    ),
}


@dataclass(frozen=True)
class ProtectedItem:
    """One item a vault backs up, with the ARM names Azure Backup gives it."""

    vault_id: str
    spec: story.BackupItem
    source_id: str
    container: str
    name: str

    @property
    def kind(self) -> _Kind:
        return KINDS[self.spec.kind]

    @property
    def resource_id(self) -> str:
        return f"{self.vault_id}/backupFabrics/Azure/protectionContainers/{self.container}/protectedItems/{self.name}"

    @property
    def policy_name(self) -> str:
        every = self.spec.every_hours
        return f"Daily{self.kind.policy}" if every == 24 else f"Every{every}h{self.kind.policy}"


def _resource_group_of(name: str, subscription_id: str) -> str:
    for computer, subscription, group in estate.HEARTBEAT_COMPUTERS:
        if computer == name and subscription == subscription_id:
            return group
    return "rg-prod-data" if subscription_id == estate.PROD_SUBSCRIPTION else "rg-staging-data"


def _item(vault_id: str, subscription_id: str, spec: story.BackupItem) -> ProtectedItem:
    group = _resource_group_of(spec.name, subscription_id)
    base = f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers"
    if spec.kind == "VM":
        source = f"{base}/Microsoft.Compute/virtualMachines/{spec.name}"
        suffix = f"iaasvmcontainerv2;{group};{spec.name}"
        return ProtectedItem(vault_id, spec, source, f"IaasVMContainer;{suffix}", f"VM;{suffix}")
    if spec.kind == "AzureFileShare":
        account = "stcatalogprod" if subscription_id == estate.PROD_SUBSCRIPTION else "stcatalogstg"
        source = f"{base}/Microsoft.Storage/storageAccounts/{account}"
        return ProtectedItem(
            vault_id, spec, source, f"StorageContainer;Storage;{group};{account}", f"AzureFileShare;{spec.name}"
        )
    source = f"{base}/Microsoft.DBforPostgreSQL/flexibleServers/{spec.name}"
    return ProtectedItem(
        vault_id, spec, source, f"GenericContainer;{group};{spec.name}", f"GenericDataSource;{spec.name}"
    )


def vault_items() -> dict[str, list[ProtectedItem]]:
    """Every vault of the estate (lower-case id) and the items it protects."""
    prod, nonprod = estate.RECOVERY_VAULT_RESOURCE_ID, estate.NONPROD_RECOVERY_VAULT_RESOURCE_ID
    return {
        prod.lower(): [_item(prod, estate.PROD_SUBSCRIPTION, spec) for spec in story.BACKUP_ITEMS],
        nonprod.lower(): [_item(nonprod, estate.NONPROD_SUBSCRIPTION, spec) for spec in story.NONPROD_BACKUP_ITEMS],
    }


# -- times and the jobs' shapes ----------------------------------------------------------------------------


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _duration(seconds: float) -> str:
    """An ISO 8601 duration as Azure Backup writes it (`PT14M3.5S`)."""
    seconds = max(0.0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{int(hours)}H"
    if minutes:
        text += f"{int(minutes)}M"
    return text + f"{round(secs, 4):g}S"


def _size_mb(item: ProtectedItem, started: datetime) -> int:
    """Data moved by one backup: incremental, varying from night to night, by kind."""
    digest = int(hashlib.sha256(f"{item.spec.name}{started.isoformat()}".encode()).hexdigest()[:8], 16)
    low, high = {"VM": (1800, 14000), "AzureFileShare": (40, 900)}.get(item.spec.kind, (600, 3200))
    return low + digest % (high - low)


def _job_id(item: ProtectedItem, started: datetime, operation: str) -> str:
    return str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"opsconsole/backup/{item.resource_id}/{operation}/{started.isoformat()}")
    )


def _error_details(item: ProtectedItem, code: str) -> list[dict[str, Any]]:
    info = ERRORS.get(code) or ErrorInfo(code, code, code, ())
    detail: dict[str, Any] = {
        "errorCode": info.code,
        "errorString": info.message,
        "recommendations": list(info.recommendations),
    }
    if item.spec.kind != "AzureFileShare":
        detail["errorTitle"] = info.title
    return [detail]


def _tasks(item: ProtectedItem, started: datetime, ended: datetime | None, status: str) -> list[dict[str, Any]]:
    names = (
        ("Take Snapshot", "Transfer data to vault") if item.spec.kind == "VM" else ("Take Snapshot", "Transfer data")
    )
    middle = started + ((ended or started) - started) / 5
    first_status = "Completed" if status != "Failed" or item.spec.kind != "VM" else "Failed"
    tasks = [{"taskId": names[0], "startTime": _time(started), "status": first_status}]
    if ended is not None or status == "InProgress":
        tasks[0]["endTime"] = _time(middle)
        tasks[0]["duration"] = _duration((middle - started).total_seconds())
    if first_status != "Failed":
        second: dict[str, Any] = {"taskId": names[1], "startTime": _time(middle), "status": status}
        if ended is not None:
            second["endTime"] = _time(ended)
            second["duration"] = _duration((ended - middle).total_seconds())
        tasks.append(second)
    return tasks


def make_job(
    item: ProtectedItem,
    operation: str,
    started: datetime,
    ended: datetime | None,
    status: str,
    *,
    error: str | None = None,
    size_mb: int | None = None,
    extra: dict[str, str] | None = None,
    user_triggered: bool = False,
) -> dict[str, Any]:
    """One job as the vault's job list and job details answer it."""
    name = _job_id(item, started, operation)
    kind = item.kind
    properties: dict[str, Any] = {
        "jobType": kind.job_type,
        "entityFriendlyName": item.spec.name,
        "backupManagementType": kind.backup_management_type,
        "operation": operation,
        "status": status,
        "startTime": _time(started),
        "activityId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "duration": _duration(((ended or started) - started).total_seconds()),
        "actionsInfo": ["Cancellable"] if status == "InProgress" else [],
        "errorDetails": _error_details(item, error) if error else [],
    }
    if ended is not None:
        properties["endTime"] = _time(ended)
    bag: dict[str, str] = {}
    if operation == "Backup" and status not in ("Failed", "Cancelled", "InProgress"):
        bag["Backup Size"] = f"{size_mb if size_mb is not None else _size_mb(item, started)} MB"
    bag.update(extra or {})
    extended: dict[str, Any] = {"tasksList": _tasks(item, started, ended, status), "propertyBag": bag}
    if error:
        extended["dynamicErrorMessage"] = (ERRORS.get(error) or ErrorInfo(error, error, error, ())).message
    if kind.job_type == "AzureIaaSVMJob":
        properties["virtualMachineVersion"] = "Compute"
        properties["containerName"] = item.container.partition(";")[2]
        properties["isUserTriggered"] = user_triggered
        bag.setdefault("VM Name", item.spec.name)
        extended["progressPercentage"] = 100.0 if ended is not None else 0.0
        extended["estimatedRemainingDuration"] = "PT0S" if ended is not None else ""
    elif kind.job_type == "AzureStorageJob":
        properties["storageAccountName"] = item.source_id.rsplit("/", 1)[-1]
        properties["storageAccountVersion"] = "MicrosoftStorage"
        properties["isUserTriggered"] = user_triggered
    else:
        properties["workloadType"] = kind.workload_type
    properties["extendedInfo"] = extended
    return {
        "id": f"{item.vault_id}/backupJobs/{name}",
        "name": name,
        "type": "Microsoft.RecoveryServices/vaults/backupJobs",
        "properties": properties,
    }


def scheduled_runs(
    item: ProtectedItem, now: datetime, after: datetime | None = None, seeded: datetime | None = None
) -> list[dict[str, Any]]:
    """The item's scheduled backup jobs that ended by `now` (and, with `after`, started after it): the
    story's 30 days when seeding, the runs that came due since when topping up. Nights are numbered
    from the last night before `seeded` (the seed's moment, `now` when seeding), as the telemetry's are."""
    last_night = story.last_backup_night(seeded or now)
    end = now.astimezone(UTC).replace(tzinfo=None)
    spec = item.spec
    jobs = []
    first = last_night - timedelta(days=story.BACKUP_HISTORY_DAYS - 1)
    night_start = first
    while night_start <= end:
        night = (last_night - night_start).days
        for run in range(24 // spec.every_hours):
            started = night_start + timedelta(hours=run * spec.every_hours, minutes=spec.offset_minutes)
            ended = started + timedelta(minutes=spec.duration_minutes)
            if ended > end or (after is not None and started <= after):
                continue
            status, code = story.backup_outcome(spec, night) if run == 0 else ("Completed", None)
            jobs.append(
                make_job(item, "Backup", started.replace(tzinfo=UTC), ended.replace(tzinfo=UTC), status, error=code)
            )
        night_start += timedelta(days=1)
    return jobs


def documents(now: datetime) -> list[Document]:
    """Each vault's 30 days of scheduled jobs."""
    found: list[Document] = []
    through = _time(now)
    for vault_id, items in vault_items().items():
        jobs = [job for item in items for job in scheduled_runs(item, now)]
        document = {"jobs": {j["name"]: j for j in jobs}, "operations": {}, "through": through, "seeded": through}
        found.append((KIND, vault_id, document))
    return found


async def start(app: web.Application, store: Store, now: datetime, config: EmulatorConfig) -> list[asyncio.Task[Any]]:
    """Add the scheduled backups that came due since the store was seeded, now and every few minutes."""

    async def keep_up() -> None:
        while True:
            top_up(store, datetime.now(UTC))
            await asyncio.sleep(TOP_UP_EVERY_S)

    return [asyncio.get_running_loop().create_task(keep_up())]


def top_up(store: Store, now: datetime) -> None:
    """Write the scheduled jobs that ended between each vault's `through` and `now`."""
    for vault_id, items in vault_items().items():
        document = store.get(KIND, vault_id)
        if document is None:
            continue
        through = _parse(str(document.get("through") or _time(now))).replace(tzinfo=None)
        # A day back from `through`: a run that was still going then is added now (job ids are the same
        # for the same run, so nothing is added twice).
        seeded = _parse(str(document["seeded"])) if document.get("seeded") else None
        since = through - timedelta(days=1)
        new = [job for item in items for job in scheduled_runs(item, now, after=since, seeded=seeded)]
        fresh = [job for job in new if job["name"] not in document["jobs"]]
        if not fresh and through + timedelta(hours=1) > now.replace(tzinfo=None):
            continue
        updated = copy.deepcopy(document)
        for job in fresh:
            updated["jobs"][job["name"]] = job
        kept_since = _time(now - timedelta(days=story.BACKUP_HISTORY_DAYS + 1))
        updated["jobs"] = {
            name: job
            for name, job in updated["jobs"].items()
            if job["properties"]["startTime"] >= kept_since or job["properties"]["status"] in RUNNING
        }
        updated["operations"] = {
            op: found for op, found in updated["operations"].items() if found["started"] >= _time(now - OPERATIONS_KEPT)
        }
        updated["through"] = _time(now)
        store.put(KIND, vault_id, updated)


def routes(router: ArmRouter) -> list[Route]:
    """The routes of the backup area."""
    return _Backup(router).routes()


AREA = Area("backup", routes, seed=documents, start=start)


# -- the handlers ---------------------------------------------------------------------------------------


class _Backup:
    """The handlers, over the router's store."""

    def __init__(self, router: ArmRouter) -> None:
        self.router = router
        self.store = router.store

    def routes(self) -> list[Route]:
        return [
            Route("GET", _VAULT + r"/backuppolicies", self._list_policies),
            Route("GET", _VAULT + r"/backupprotecteditems", self._list_items),
            Route("GET", _VAULT + r"/backupjobs", self._list_jobs),
            Route("GET", _VAULT + r"/backupjobs/(?P<job>[^/]+)", self._get_job),
            Route("POST", _VAULT + r"/backupjobs/(?P<job>[^/]+)/cancel", self._cancel_job),
            Route("GET", _VAULT + r"/backupjobs/(?P<job>[^/]+)/operationresults/(?P<op>[^/]+)", self._cancel_result),
            Route("GET", _VAULT + r"/backupoperations/(?P<op>[^/]+)", self._operation_status),
            Route("GET", _ITEM, self._get_item),
            Route("POST", _ITEM + r"/backup", self._backup),
            Route("GET", _ITEM + r"/operationsstatus/(?P<op>[^/]+)", self._operation_status),
            Route("GET", _ITEM + r"/operationresults/(?P<op>[^/]+)", self._operation_result),
            Route("GET", _ITEM + r"/recoverypoints", self._list_recovery_points),
            Route("GET", _ITEM + r"/recoverypoints/(?P<point>[^/]+)", self._get_recovery_point),
            Route("POST", _ITEM + r"/recoverypoints/(?P<point>[^/]+)/restore", self._restore),
        ]

    # finding things ----------------------------------------------------------------------------------

    def _vault(self, request: web.Request, match: dict[str, str]) -> tuple[str, dict[str, Any]] | web.Response:
        """The vault's id (as seeded) and its settled jobs document, or the ARM 4xx."""
        refused = self.router.require_group_of_type(
            request, match["sub"], match["rg"], "Microsoft.RecoveryServices/vaults/backupJobs"
        )
        if refused is not None:
            return refused
        vault_id = (
            f"/subscriptions/{match['sub']}/resourceGroups/{match['rg']}"
            f"/providers/Microsoft.RecoveryServices/vaults/{match['vault']}"
        )
        resource = self.store.resource(vault_id)
        document = self.store.get(KIND, vault_id)
        if resource is None or document is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.RecoveryServices/vaults/{clipped(match['vault'])}' under resource group "
                f"'{match['rg']}' was not found.",
            )
        return str(resource["id"]), self._settled(str(resource["id"]), document)

    def _items(self, vault_id: str) -> list[ProtectedItem]:
        return vault_items().get(vault_id.lower(), [])

    def _item(self, request: web.Request, match: dict[str, str]) -> tuple[ProtectedItem, dict[str, Any]] | web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        vault_id, document = found
        for item in self._items(vault_id):
            if item.container.lower() == match["container"].lower() and item.name.lower() == match["item"].lower():
                if match["fabric"].lower() != "azure":
                    break
                return item, document
        return arm_error(
            404,
            "BMSUserErrorItemNotFound",
            f"The protected item '{clipped(match['item'], 100)}' was not found in the vault '{match['vault']}'.",
        )

    def _item_of(self, vault_id: str, job: dict[str, Any]) -> ProtectedItem | None:
        name = job["properties"]["entityFriendlyName"]
        return next((i for i in self._items(vault_id) if i.spec.name == name), None)

    # settling jobs started on demand -----------------------------------------------------------------

    def _settled(self, vault_id: str, document: dict[str, Any]) -> dict[str, Any]:
        """The document with every planned job brought to now (written back when one changed)."""
        now = datetime.now(UTC)
        changed = False
        for job in document["jobs"].values():
            plan = job.get("plan")
            if plan is None:
                continue
            properties = job["properties"]
            started = _parse(properties["startTime"])
            ends = _parse(plan["endsAt"])
            if now < ends:
                if properties["status"] == "InProgress" and job["properties"]["jobType"] == "AzureIaaSVMJob":
                    total = (ends - started).total_seconds() or 1.0
                    done = (now - started).total_seconds()
                    info = properties["extendedInfo"]
                    info["progressPercentage"] = round(min(99.0, 100.0 * done / total), 1)
                    info["estimatedRemainingDuration"] = _duration((ends - now).total_seconds())
                properties["duration"] = _duration((now - started).total_seconds())
                continue
            item = self._item_of(vault_id, job)
            if item is None:
                continue
            final = make_job(
                item,
                properties["operation"],
                started,
                ends,
                plan["outcome"],
                error=plan.get("error"),
                size_mb=plan.get("sizeMb"),
                extra=plan.get("bag"),
                user_triggered=True,
            )
            job.clear()
            job.update(final)
            job["name"] = final["name"]
            changed = True
        if changed:
            document = copy.deepcopy(document)
            self.store.put(KIND, vault_id, document)
        return document

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in job.items() if key != "plan"}

    # policies and items ------------------------------------------------------------------------------

    async def _list_policies(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        vault_id, _ = found
        seen: dict[str, dict[str, Any]] = {}
        for item in self._items(vault_id):
            seen.setdefault(item.policy_name, _policy(vault_id, item, len(self._items(vault_id))))
        return self.router.page(request, list(seen.values()))

    async def _list_items(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        vault_id, document = found
        wanted = _filters(request.query.get("$filter", ""))
        if isinstance(wanted, web.Response):
            return wanted
        items = []
        for item in self._items(vault_id):
            body = _protected_item(item, document)
            properties = body["properties"]
            if wanted.get("backupmanagementtype", "").lower() not in ("", properties["backupManagementType"].lower()):
                continue
            if wanted.get("itemtype", "").lower() not in ("", properties["workloadType"].lower()):
                continue
            items.append(body)
        return self.router.page(request, items)

    async def _get_item(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._item(request, match)
        if isinstance(found, web.Response):
            return found
        item, document = found
        return web.json_response(_protected_item(item, document))

    # jobs --------------------------------------------------------------------------------------------

    async def _list_jobs(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        _, document = found
        wanted = _filters(request.query.get("$filter", ""))
        if isinstance(wanted, web.Response):
            return wanted
        unknown = set(wanted) - {"status", "operation", "starttime", "endtime", "backupmanagementtype"}
        if unknown:
            return arm_error(
                400, "BMSUserErrorInvalidFilter", f"The job filter does not support {clipped(sorted(unknown)[0], 40)}."
            )
        since = _filter_time(wanted.get("starttime"))
        until = _filter_time(wanted.get("endtime"))
        if isinstance(since, web.Response):
            return since
        if isinstance(until, web.Response):
            return until
        jobs = []
        for job in document["jobs"].values():
            properties = job["properties"]
            started = _parse(properties["startTime"])
            if "status" in wanted and properties["status"].lower() != wanted["status"].lower():
                continue
            if "operation" in wanted and properties["operation"].lower() != wanted["operation"].lower():
                continue
            bmt = wanted.get("backupmanagementtype")
            if bmt and properties["backupManagementType"].lower() != bmt.lower():
                continue
            if since is not None and started < since:
                continue
            if until is not None and started > until:
                continue
            jobs.append(self._public(job))
        jobs.sort(key=lambda j: j["properties"]["startTime"], reverse=True)
        return self.router.page(request, jobs)

    async def _get_job(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        job = self._job(found[1], match)
        if isinstance(job, web.Response):
            return job
        return web.json_response(self._public(job))

    def _job(self, document: dict[str, Any], match: dict[str, str]) -> dict[str, Any] | web.Response:
        name = match["job"]
        job = document["jobs"].get(name.lower()) if _JOB_NAME.fullmatch(name) else None
        if job is None:
            return arm_error(
                404, "BMSUserErrorJobNotFound", f"The job '{clipped(name, 64)}' was not found in the vault."
            )
        return dict(job)

    async def _cancel_job(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        vault_id, document = found
        job = self._job(document, match)
        if isinstance(job, web.Response):
            return job
        if job["properties"]["status"] != "InProgress" or "plan" not in job:
            return arm_error(
                400,
                "BMSUserErrorJobNotCancellable",
                f"The job '{job['name']}' is {job['properties']['status']} and cannot be cancelled.",
            )
        document = copy.deepcopy(document)
        job = document["jobs"][job["name"]]
        now = datetime.now(UTC)
        job["properties"]["status"] = "Cancelling"
        job["properties"]["actionsInfo"] = []
        job["plan"].update({"outcome": "Cancelled", "endsAt": _time(now + timedelta(seconds=CANCEL_SECONDS))})
        job["plan"].pop("error", None)
        operation = str(uuid.uuid4())
        document["operations"][operation] = {"jobId": job["name"], "started": _time(now), "doneAt": _time(now)}
        self.store.put(KIND, vault_id, document)
        location = (
            f"{self.router.link_origin(request)}{vault_id}/backupJobs/{job['name']}/operationResults/{operation}"
            f"?api-version={api_version_of(request)}"
        )
        return web.Response(status=202, headers={"Location": location, "Retry-After": "1"})

    async def _cancel_result(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        if match["op"] not in found[1]["operations"]:
            return arm_error(404, "BMSUserErrorOperationNotFound", "The operation was not found.")
        return web.Response(status=204)

    # operations --------------------------------------------------------------------------------------

    def _operation(self, document: dict[str, Any], op: str) -> dict[str, Any] | web.Response:
        operation = document["operations"].get(op)
        if operation is None:
            return arm_error(404, "BMSUserErrorOperationNotFound", f"The operation '{clipped(op, 64)}' was not found.")
        return dict(operation)

    async def _operation_status(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._vault(request, match)
        if isinstance(found, web.Response):
            return found
        vault_id, document = found
        operation = self._operation(document, match["op"])
        if isinstance(operation, web.Response):
            return operation
        done = datetime.now(UTC) >= _parse(operation["doneAt"])
        body: dict[str, Any] = {
            "id": f"{vault_id}/backupOperations/{match['op']}",
            "name": match["op"],
            "status": "Succeeded" if done else "InProgress",
            "startTime": operation["started"],
        }
        if done:
            body["endTime"] = operation["doneAt"]
            body["properties"] = {"objectType": "OperationStatusJobExtendedInfo", "jobId": operation["jobId"]}
        return web.json_response(body, headers=None if done else {"Retry-After": "1"})

    async def _operation_result(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._item(request, match)
        if isinstance(found, web.Response):
            return found
        operation = self._operation(found[1], match["op"])
        if isinstance(operation, web.Response):
            return operation
        if datetime.now(UTC) < _parse(operation["doneAt"]):
            location = f"{self.router.link_origin(request)}{request.raw_path}"
            return web.Response(status=202, headers={"Location": location, "Retry-After": "1"})
        return web.Response(status=204)

    def _start_job(
        self,
        request: web.Request,
        item: ProtectedItem,
        document: dict[str, Any],
        operation: str,
        seconds: float,
        outcome: tuple[str, str | None],
        bag: dict[str, str],
    ) -> web.Response:
        """Create an InProgress job and the operation that reports it; answer 202 as Azure Backup does."""
        for job in document["jobs"].values():
            properties = job["properties"]
            if (
                properties["entityFriendlyName"] == item.spec.name
                and properties["status"] in ("InProgress", "Cancelling")
                and properties["operation"] == operation
            ):
                return arm_error(
                    409,
                    "BMSUserErrorAnotherOperationInProgress",
                    f"Another {operation.lower()} operation is in progress on '{item.spec.name}': job {job['name']}.",
                )
        now = datetime.now(UTC)
        status, error = outcome
        job = make_job(item, operation, now, None, "InProgress", extra=bag, user_triggered=True)
        job["plan"] = {
            "endsAt": _time(now + timedelta(seconds=seconds)),
            "outcome": status,
            "error": error,
            "sizeMb": _size_mb(item, now) // 4 if operation == "Backup" else None,
            "bag": bag,
        }
        document = copy.deepcopy(document)
        document["jobs"][job["name"]] = job
        op = str(uuid.uuid4())
        document["operations"][op] = {
            "jobId": job["name"],
            "started": _time(now),
            "doneAt": _time(now + timedelta(seconds=OPERATION_SECONDS)),
        }
        self.store.put(KIND, item.vault_id, document)
        origin = f"{self.router.link_origin(request)}{item.resource_id}"
        version = api_version_of(request)
        return web.Response(
            status=202,
            headers={
                "Azure-AsyncOperation": f"{origin}/operationsStatus/{op}?api-version={version}",
                "Location": f"{origin}/operationResults/{op}?api-version={version}",
                "Retry-After": "1",
            },
        )

    async def _backup(self, request: web.Request, match: dict[str, str]) -> web.Response:
        from console.emulator.server import LRO_FAIL_KEY

        found = self._item(request, match)
        if isinstance(found, web.Response):
            return found
        item, document = found
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        properties = body.get("properties")
        wanted = {"VM": "IaasVMBackupRequest", "AzureFileShare": "AzureFileShareBackupRequest"}.get(
            item.spec.kind, "AzureWorkloadBackupRequest"
        )
        if not isinstance(properties, dict) or properties.get("objectType") != wanted:
            return arm_error(
                400, "BMSUserErrorInvalidInput", f"The backup request's properties.objectType must be {wanted}."
            )
        expiry = properties.get("recoveryPointExpiryTimeInUTC")
        bag: dict[str, str] = {}
        if expiry is not None:
            try:
                bag["Recovery point expiry time"] = _time(_parse(str(expiry)))
            except ValueError:
                return arm_error(
                    400, "BMSUserErrorInvalidInput", "recoveryPointExpiryTimeInUTC is not a date and time."
                )
        if request.get(LRO_FAIL_KEY, False):
            outcome: tuple[str, str | None] = ("Failed", _INJECTED_BACKUP_ERROR[item.spec.kind])
        elif item.spec.name == story.FAILED_BACKUP_ITEM:
            outcome = ("Failed", story.FAILED_BACKUP_ERROR)  # its agent is still silent
        else:
            outcome = ("Completed", None)
        return self._start_job(request, item, document, "Backup", BACKUP_SECONDS, outcome, bag)

    # recovery points and restore ---------------------------------------------------------------------

    def _points(self, item: ProtectedItem, document: dict[str, Any]) -> list[dict[str, Any]]:
        points = []
        for job in document["jobs"].values():
            properties = job["properties"]
            if (
                properties["entityFriendlyName"] != item.spec.name
                or properties["operation"] != "Backup"
                or properties["status"] not in ("Completed", "CompletedWithWarnings")
            ):
                continue
            points.append(_recovery_point(item, job))
        points.sort(key=lambda p: p["properties"]["recoveryPointTime"], reverse=True)
        return points

    async def _list_recovery_points(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._item(request, match)
        if isinstance(found, web.Response):
            return found
        return self.router.page(request, self._points(*found))

    def _point(self, item: ProtectedItem, document: dict[str, Any], name: str) -> dict[str, Any] | web.Response:
        point = next((p for p in self._points(item, document) if p["name"] == name), None)
        if point is None:
            return arm_error(
                404,
                "BMSUserErrorRecoveryPointNotFound",
                f"The recovery point '{clipped(name, 64)}' of '{item.spec.name}' was not found.",
            )
        return point

    async def _get_recovery_point(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._item(request, match)
        if isinstance(found, web.Response):
            return found
        point = self._point(*found, match["point"])
        if isinstance(point, web.Response):
            return point
        return web.json_response(point)

    async def _restore(self, request: web.Request, match: dict[str, str]) -> web.Response:
        from console.emulator.server import LRO_FAIL_KEY

        found = self._item(request, match)
        if isinstance(found, web.Response):
            return found
        item, document = found
        point = self._point(item, document, match["point"])
        if isinstance(point, web.Response):
            return point
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        target = _restore_target(item, body.get("properties"))
        if isinstance(target, web.Response):
            return target
        bag = {
            "Recovery point time": point["properties"]["recoveryPointTime"],
            "Recovery point": point["name"],
            "Restore type": target[0],
            "Target": target[1],
        }
        outcome: tuple[str, str | None] = (
            ("Failed", "CloudInternalError") if request.get(LRO_FAIL_KEY, False) else ("Completed", None)
        )
        return self._start_job(request, item, document, "Restore", RESTORE_SECONDS, outcome, bag)


# -- documents derived from the jobs ------------------------------------------------------------------------


def _filters(text: str) -> dict[str, str] | web.Response:
    """`a eq 'x' and b eq 'y'` as {a: x, b: y} (names lower-cased), or the 400 for anything else."""
    if not text.strip():
        return {}
    if len(text) > 1000:
        return arm_error(400, "BMSUserErrorInvalidFilter", "The $filter is too long.")
    found: dict[str, str] = {}
    for term in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _FILTER_TERM.fullmatch(term)
        if match is None:
            return arm_error(
                400, "BMSUserErrorInvalidFilter", f"The $filter term '{clipped(term, 80)}' is not `name eq 'value'`."
            )
        found[match.group(1).lower()] = match.group(2)
    return found


def _filter_time(value: str | None) -> datetime | web.Response | None:
    """A job filter's time: `2026-11-02 01:30:00 AM` as Azure Backup writes it, or ISO 8601 (UTC)."""
    if value is None:
        return None
    for pattern in ("%Y-%m-%d %I:%M:%S %p", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            pass
    try:
        parsed = _parse(value)
    except ValueError:
        return arm_error(400, "BMSUserErrorInvalidFilter", f"'{clipped(value, 60)}' is not a date and time.")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _last(document: dict[str, Any], item: ProtectedItem, good: bool) -> dict[str, Any] | None:
    best = None
    for job in document["jobs"].values():
        properties = job["properties"]
        if properties["entityFriendlyName"] != item.spec.name or properties["operation"] != "Backup":
            continue
        if properties["status"] in ("InProgress", "Cancelling"):
            continue
        if good and properties["status"] not in ("Completed", "CompletedWithWarnings"):
            continue
        if best is None or properties["startTime"] > best["properties"]["startTime"]:
            best = job
    return best


def _protected_item(item: ProtectedItem, document: dict[str, Any]) -> dict[str, Any]:
    last, good = _last(document, item, False), _last(document, item, True)
    last_status = last["properties"]["status"] if last else None
    healthy = last_status in (None, "Completed", "CompletedWithWarnings")
    properties: dict[str, Any] = {
        "protectedItemType": item.kind.protected_item_type,
        "backupManagementType": item.kind.backup_management_type,
        "workloadType": item.kind.workload_type,
        "containerName": item.container,
        "sourceResourceId": item.source_id,
        "policyId": f"{item.vault_id}/backupPolicies/{item.policy_name}",
        "policyName": item.policy_name,
        "friendlyName": item.spec.name,
        "protectionState": "Protected",
        "protectionStatus": "Healthy" if healthy else "Unhealthy",
        "lastBackupStatus": {"Completed": "Completed", "CompletedWithWarnings": "Completed"}.get(
            str(last_status), "Failed" if last_status else "Unknown"
        ),
        "lastBackupTime": last["properties"]["startTime"] if last else None,
        "isScheduledForDeferredDelete": False,
    }
    if good is not None:
        properties["lastRecoveryPoint"] = good["properties"]["endTime"]
    if item.spec.kind == "VM":
        properties["virtualMachineId"] = item.source_id
        properties["healthStatus"] = "Passed" if healthy else "ActionRequired"
    if not healthy and last is not None:
        details = last["properties"]["errorDetails"]
        properties["healthDetails"] = [
            {"code": 400, "title": d["errorCode"], "message": d["errorString"], "recommendations": d["recommendations"]}
            for d in details
        ]
    return {
        "id": item.resource_id,
        "name": item.name,
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
        "properties": properties,
    }


def _recovery_point(item: ProtectedItem, job: dict[str, Any]) -> dict[str, Any]:
    ended = _parse(job["properties"]["endTime"])
    name = str(int(ended.timestamp() * 1000))
    properties: dict[str, Any] = {"objectType": item.kind.recovery_point, "recoveryPointTime": _time(ended)}
    if item.spec.kind == "VM":
        properties.update(
            {
                "recoveryPointType": "AppConsistent",
                "sourceVMStorageType": "NormalStorage",
                "isSourceVMEncrypted": False,
                "isManagedVirtualMachine": True,
                "virtualMachineSize": "Standard_D2s_v5",
                "osType": "Linux",
                "recoveryPointTierDetails": [{"type": "HardenedRP", "status": "Valid"}],
            }
        )
    elif item.spec.kind == "AzureFileShare":
        size = job["properties"]["extendedInfo"]["propertyBag"].get("Backup Size", "0 MB").split()[0]
        properties.update(
            {
                "recoveryPointType": "FileSystemConsistent",
                "fileShareSnapshotUri": f"https://{item.source_id.rsplit('/', 1)[-1]}.file.core.windows.net/"
                f"{item.spec.name}?sharesnapshot={_time(ended)}",
                "recoveryPointSizeInGB": max(1, int(size) // 1024),
            }
        )
    else:
        properties.update({"friendlyName": item.spec.name, "recoveryPointType": "Full"})
    return {
        "id": f"{item.resource_id}/recoveryPoints/{name}",
        "name": name,
        "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints",
        "properties": properties,
    }


def _restore_target(item: ProtectedItem, properties: object) -> tuple[str, str] | web.Response:
    """(restore type, target) of a restore request, or the 400 that says what is wrong with it."""
    wanted = item.kind.restore_request
    if not isinstance(properties, dict) or properties.get("objectType") != wanted:
        return arm_error(
            400, "BMSUserErrorInvalidInput", f"The restore request's properties.objectType must be {wanted}."
        )
    recovery_type = properties.get("recoveryType")
    if recovery_type not in ("OriginalLocation", "AlternateLocation"):
        return arm_error(400, "BMSUserErrorInvalidInput", "recoveryType must be OriginalLocation or AlternateLocation.")
    if recovery_type == "OriginalLocation":
        return recovery_type, item.source_id
    if item.spec.kind == "VM":
        target = properties.get("targetVirtualMachineId") or properties.get("targetResourceGroupId")
    elif item.spec.kind == "AzureFileShare":
        details = properties.get("targetDetails")
        target = None
        if isinstance(details, dict) and details.get("name") and details.get("targetResourceId"):
            target = f"{details['targetResourceId']}/fileServices/default/shares/{details['name']}"
    else:
        info = properties.get("targetInfo")
        target = info.get("databaseName") if isinstance(info, dict) else None
    if not isinstance(target, str) or not target.strip() or len(target) > 512:
        return arm_error(
            400, "BMSUserErrorInvalidInput", "An alternate-location restore needs its target (a resource or a name)."
        )
    return recovery_type, target


def _policy(vault_id: str, item: ProtectedItem, protected: int) -> dict[str, Any]:
    spec = item.spec
    if spec.every_hours == 24:
        start = f"2026-01-01T01:{30 + spec.offset_minutes:02d}:00.0000000Z"
        schedule: dict[str, Any] = {
            "schedulePolicyType": "SimpleSchedulePolicy",
            "scheduleRunFrequency": "Daily",
            "scheduleRunTimes": [start],
        }
    else:
        schedule = {
            "schedulePolicyType": "SimpleSchedulePolicy",
            "scheduleRunFrequency": "Hourly",
            "hourlySchedule": {
                "interval": spec.every_hours,
                "scheduleWindowStartTime": "2026-01-01T00:00:00.0000000Z",
                "scheduleWindowDuration": 24,
            },
        }
    days = 30 if item.kind.backup_management_type != "AzureWorkload" else 35
    retention = {
        "retentionPolicyType": "LongTermRetentionPolicy",
        "dailySchedule": {
            "retentionTimes": schedule.get("scheduleRunTimes") or ["2026-01-01T00:00:00.0000000Z"],
            "retentionDuration": {"count": days, "durationType": "Days"},
        },
    }
    properties: dict[str, Any] = {
        "backupManagementType": item.kind.backup_management_type,
        "protectedItemsCount": protected,
        "timeZone": "UTC",
    }
    if item.spec.kind == "VM":
        properties.update(
            {"schedulePolicy": schedule, "retentionPolicy": retention, "instantRpRetentionRangeInDays": 2}
        )
    elif item.spec.kind == "AzureFileShare":
        properties.update({"workLoadType": "AzureFileShare", "schedulePolicy": schedule, "retentionPolicy": retention})
    else:
        properties.update(
            {
                "workLoadType": "GenericDataSource",
                "subProtectionPolicy": [
                    {"policyType": "Full", "schedulePolicy": schedule, "retentionPolicy": retention}
                ],
            }
        )
    return {
        "id": f"{vault_id}/backupPolicies/{item.policy_name}",
        "name": item.policy_name,
        "type": "Microsoft.RecoveryServices/vaults/backupPolicies",
        "properties": properties,
    }
