"""App Service backups in the local Azure: each site's (or slot's) backup configuration, its backups, an
on-demand backup and a restore (Microsoft.Web `backup`, `backups`, `config/backup/list`, `restore`).

A backup made on demand runs for seconds (its state is settled when the site's backups are read); a restore
is a long-running operation. Faults: `lro_fail` on a `backup` request ends the backup Failed with App
Service's log line, on a `restore` request ends the restore Failed.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from console.emulator import estate
from console.emulator.areas.base import Area
from console.emulator.arm import RG, ArmOperationError, ArmRouter, Route, arm_error, clipped, read_json_object
from console.emulator.store import Document

KIND = "webBackups"
BACKUP_SECONDS = 3.0
RESTORE_SECONDS = 3.0
KEPT_DAYS = 7
STORAGE = "https://stopsdiagprod.blob.core.windows.net/webapp-backups"
FAILED_LOG = "Storage access failed. The remote server returned an error: (403) Forbidden."
FAILED_NIGHT = ("app-payments-prod", 2)
"""The seeded backup that failed: (app, nights ago) — the storage account's SAS had expired that night."""

_SITE = RG + r"/providers/microsoft\.web/sites/(?P<site>[^/]+)"
_SLOT = _SITE + r"/slots/(?P<slot>[^/]+)"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _size(site_id: str, when: datetime) -> int:
    digest = int(hashlib.sha256(f"{site_id}{when.isoformat()}".encode()).hexdigest()[:8], 16)
    return 40_000_000 + digest % 180_000_000


def _item(site_id: str, backup_id: int, name: str, status: str, created: datetime, **extra: Any) -> dict[str, Any]:
    site = site_id.rsplit("/sites/", 1)[-1].replace("/slots/", "_")
    finished = extra.pop("finished", None)
    size = _size(site_id, created) if status == "Succeeded" else 0
    properties: dict[str, Any] = {
        "id": backup_id,
        "storageAccountUrl": f"{STORAGE}?sv=2025-01-05&sr=c&sig=••••••",
        "blobName": f"{site}_{created:%Y%m%d%H%M}.zip",
        "name": name,
        "status": status,
        "sizeInBytes": size,
        "websiteSizeInBytes": size,
        "created": _time(created),
        "log": extra.pop("log", None),
        "databases": [],
        "scheduled": extra.pop("scheduled", True),
        "lastRestoreTimeStamp": None,
        "finishedTimeStamp": _time(finished) if finished else None,
        "correlationId": hashlib.sha256(f"{site_id}{backup_id}".encode()).hexdigest()[:32],
    }
    properties.update(extra)
    return {
        "id": f"{site_id}/backups/{backup_id}",
        "name": str(backup_id),
        "type": "Microsoft.Web/sites/backups" if "/slots/" not in site_id else "Microsoft.Web/sites/slots/backups",
        "properties": properties,
    }


def documents(now: datetime) -> list[Document]:
    """A week of nightly backups for each production site (one failed); the slots have no backup set up."""
    found: list[Document] = []
    for app in estate.WEB_APPS:
        site_id = app.resource_id
        backups = []
        for night in range(KEPT_DAYS, 0, -1):
            created = (now - timedelta(days=night)).replace(hour=3, minute=0, second=0, microsecond=0)
            failed = (app.name, night) == FAILED_NIGHT
            backups.append(
                _item(
                    site_id,
                    KEPT_DAYS - night + 1,
                    f"{app.name}_scheduled",
                    "Failed" if failed else "Succeeded",
                    created,
                    finished=created + timedelta(minutes=2 if failed else 6),
                    log=FAILED_LOG if failed else None,
                )
            )
        config = {
            "backupName": f"{app.name}_scheduled",
            "enabled": True,
            "storageAccountUrl": f"{STORAGE}?sv=2025-01-05&sr=c&sig=••••••",
            "backupSchedule": {
                "frequencyInterval": 1,
                "frequencyUnit": "Day",
                "keepAtLeastOneBackup": True,
                "retentionPeriodInDays": 30,
                "startTime": _time((now - timedelta(days=200)).replace(hour=3, minute=0, second=0, microsecond=0)),
            },
            "databases": [],
        }
        found.append((KIND, site_id, {"config": config, "backups": backups}))
    return found


def routes(router: ArmRouter) -> list[Route]:
    """The routes of App Service backups, for sites and their slots."""
    handlers = _WebBackups(router)
    found = []
    for base in (_SITE, _SLOT):
        found += [
            Route("GET", base + r"/backups", handlers.list_backups),
            Route("POST", base + r"/backup", handlers.backup),
            Route("POST", base + r"/config/backup/list", handlers.configuration),
            Route("POST", base + r"/backups/(?P<backup>[^/]+)/restore", handlers.restore),
        ]
    return found


AREA = Area("web-backups", routes, seed=documents)


class _WebBackups:
    """The handlers, over the router's store."""

    def __init__(self, router: ArmRouter) -> None:
        self.router = router
        self.store = router.store

    def _site(self, request: web.Request, match: dict[str, str]) -> tuple[str, dict[str, Any]] | web.Response:
        """The site's (or slot's) id as seeded and its settled backups document, or the ARM 4xx."""
        refused = self.router.require_group_of_type(request, match["sub"], match["rg"], "Microsoft.Web/sites")
        if refused is not None:
            return refused
        site_id = (
            f"/subscriptions/{match['sub']}/resourceGroups/{match['rg']}/providers/Microsoft.Web/sites/{match['site']}"
        )
        if match.get("slot"):
            site_id += f"/slots/{match['slot']}"
        resource = self.store.resource(site_id)
        if resource is None:
            name = clipped(match["site"] + (f"/slots/{match['slot']}" if match.get("slot") else ""), 120)
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Web/sites/{name}' under resource group '{match['rg']}' was not found.",
            )
        canonical = str(resource["id"])
        document = copy.deepcopy(self.store.get(KIND, canonical) or {"config": None, "backups": []})
        return canonical, self._settled(canonical, document)

    def _settled(self, site_id: str, document: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        changed = False
        for backup in document["backups"]:
            plan = backup.get("plan")
            if plan is None or now < datetime.fromisoformat(plan["endsAt"]):
                continue
            properties = backup["properties"]
            properties["status"] = plan["outcome"]
            properties["finishedTimeStamp"] = _time(now)
            properties["log"] = plan.get("log")
            size = _size(site_id, now) if plan["outcome"] == "Succeeded" else 0
            properties["sizeInBytes"] = properties["websiteSizeInBytes"] = size
            del backup["plan"]
            changed = True
        if changed:
            self.store.put(KIND, site_id, document)
        return document

    @staticmethod
    def _public(backup: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in backup.items() if k != "plan"}

    async def list_backups(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._site(request, match)
        if isinstance(found, web.Response):
            return found
        backups = [self._public(b) for b in reversed(found[1]["backups"])]
        return self.router.page(request, backups)

    async def configuration(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._site(request, match)
        if isinstance(found, web.Response):
            return found
        site_id, document = found
        if document["config"] is None:
            return arm_error(404, "NotFound", "Backup configuration not found for site.")
        return web.json_response(
            {
                "id": f"{site_id}/config/backup",
                "name": "backup",
                "type": "Microsoft.Web/sites/config",
                "properties": document["config"],
            }
        )

    async def backup(self, request: web.Request, match: dict[str, str]) -> web.Response:
        from console.emulator.server import LRO_FAIL_KEY

        found = self._site(request, match)
        if isinstance(found, web.Response):
            return found
        site_id, document = found
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        properties = body.get("properties")
        url = properties.get("storageAccountUrl") if isinstance(properties, dict) else None
        if not isinstance(url, str) or not url.lower().startswith("https://") or len(url) > 2048:
            return arm_error(400, "BadRequest", "storageAccountUrl is required: a container SAS URL (https).")
        name = properties.get("backupName") if isinstance(properties, dict) else None
        if name is not None and (not isinstance(name, str) or len(name) > 100):
            return arm_error(400, "BadRequest", "backupName is text of at most 100 characters.")
        if any(b["properties"]["status"] == "InProgress" for b in document["backups"]):
            return arm_error(409, "Conflict", "Another backup of this site is in progress.")
        now = datetime.now(UTC)
        backup_id = max((int(b["properties"]["id"]) for b in document["backups"]), default=0) + 1
        site = site_id.rsplit("/", 1)[-1]
        item = _item(site_id, backup_id, name or f"{site}_manual", "InProgress", now, scheduled=False)
        failed = bool(request.get(LRO_FAIL_KEY, False))
        item["plan"] = {
            "endsAt": (now + timedelta(seconds=BACKUP_SECONDS)).isoformat(),
            "outcome": "Failed" if failed else "Succeeded",
            "log": FAILED_LOG if failed else None,
        }
        document["backups"].append(item)
        cutoff = now - timedelta(days=30)
        document["backups"] = [
            b for b in document["backups"] if datetime.fromisoformat(b["properties"]["created"]) >= cutoff
        ]
        self.store.put(KIND, site_id, document)
        return web.json_response(self._public(item))

    async def restore(self, request: web.Request, match: dict[str, str]) -> web.Response:
        from console.emulator.server import LRO_FAIL_KEY

        found = self._site(request, match)
        if isinstance(found, web.Response):
            return found
        site_id, document = found
        backup = next((b for b in document["backups"] if b["name"] == match["backup"]), None)
        if backup is None:
            return arm_error(404, "NotFound", f"Backup {clipped(match['backup'], 40)} was not found for the site.")
        if backup["properties"]["status"] != "Succeeded":
            return arm_error(
                400,
                "BadRequest",
                f"Backup {backup['name']} is {backup['properties']['status']}: it cannot be restored.",
            )
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        properties = body.get("properties")
        if not isinstance(properties, dict) or not isinstance(properties.get("overwrite"), bool):
            return arm_error(400, "BadRequest", "The restore request needs properties.overwrite (true or false).")
        if not isinstance(properties.get("storageAccountUrl"), str):
            return arm_error(400, "BadRequest", "The restore request needs properties.storageAccountUrl.")
        fail = bool(request.get(LRO_FAIL_KEY, False))

        async def work() -> None:
            await asyncio.sleep(RESTORE_SECONDS)
            if fail:
                raise ArmOperationError("RestoreFailed", f"The restore of backup {backup['name']} failed.")
            current = copy.deepcopy(self.store.get(KIND, site_id) or document)
            for kept in current["backups"]:
                if kept["name"] == backup["name"]:
                    kept["properties"]["lastRestoreTimeStamp"] = _time(datetime.now(UTC))
            self.store.put(KIND, site_id, current)

        return self.router.start_operation(request, work)
