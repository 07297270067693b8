"""PostgreSQL flexible server backups in the local Azure: the automatic daily backups each server keeps and
on-demand backups (Microsoft.DBforPostgreSQL `flexibleServers/{server}/backups`).

An on-demand backup is a long-running operation of a few seconds; `lro_fail` on its `PUT` ends it Failed.
"""

from __future__ import annotations

import asyncio
import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from console.emulator import estate
from console.emulator.areas.base import Area
from console.emulator.arm import RG, ArmOperationError, ArmRouter, Route, arm_error, clipped
from console.emulator.store import Document

KIND = "postgresBackups"
BACKUP_SECONDS = 2.0
KEPT_DAYS = 7
SERVERS = (
    (estate.PROD_SUBSCRIPTION, "rg-prod-data", "psql-orders-prod"),
    (estate.NONPROD_SUBSCRIPTION, "rg-staging-data", "psql-orders-stg"),
)
_SERVER = RG + r"/providers/microsoft\.dbforpostgresql/flexibleservers/(?P<server>[^/]+)"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
TYPE = "Microsoft.DBforPostgreSQL/flexibleServers/backups"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _backup(server_id: str, name: str, completed: datetime, on_demand: bool) -> dict[str, Any]:
    return {
        "id": f"{server_id}/backups/{name}",
        "name": name,
        "type": TYPE,
        "properties": {
            "backupType": "Customer On-Demand" if on_demand else "Full",
            "completedTime": _time(completed),
            "source": "Customer" if on_demand else "Automatic",
        },
    }


def documents(now: datetime) -> list[Document]:
    """A week of automatic daily backups per server."""
    found: list[Document] = []
    for subscription_id, group, server in SERVERS:
        server_id = (
            f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/Microsoft.DBforPostgreSQL"
            f"/flexibleServers/{server}"
        )
        backups = []
        for night in range(KEPT_DAYS, 0, -1):
            completed = (now - timedelta(days=night)).replace(hour=2, minute=41, second=7, microsecond=0)
            backups.append(_backup(server_id, f"backup_{completed:%Y%m%dT%H%M%S}", completed, on_demand=False))
        found.append((KIND, server_id, {"backups": backups}))
    return found


def routes(router: ArmRouter) -> list[Route]:
    """The routes of PostgreSQL flexible server backups."""
    handlers = _PostgresBackups(router)
    return [
        Route("GET", _SERVER + r"/backups", handlers.list_backups),
        Route("GET", _SERVER + r"/backups/(?P<backup>[^/]+)", handlers.get_backup),
        Route("PUT", _SERVER + r"/backups/(?P<backup>[^/]+)", handlers.create_backup),
    ]


AREA = Area("postgres-backups", routes, seed=documents)


class _PostgresBackups:
    """The handlers, over the router's store."""

    def __init__(self, router: ArmRouter) -> None:
        self.router = router
        self.store = router.store

    def _server(self, request: web.Request, match: dict[str, str]) -> tuple[str, dict[str, Any]] | web.Response:
        refused = self.router.require_group_of_type(request, match["sub"], match["rg"], TYPE)
        if refused is not None:
            return refused
        server_id = (
            f"/subscriptions/{match['sub']}/resourceGroups/{match['rg']}/providers/Microsoft.DBforPostgreSQL"
            f"/flexibleServers/{match['server']}"
        )
        resource = self.store.resource(server_id)
        if resource is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/{clipped(match['server'], 100)}' under "
                f"resource group '{match['rg']}' was not found.",
            )
        canonical = str(resource["id"])
        return canonical, copy.deepcopy(self.store.get(KIND, canonical) or {"backups": []})

    async def list_backups(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._server(request, match)
        if isinstance(found, web.Response):
            return found
        return self.router.page(request, list(reversed(found[1]["backups"])))

    async def get_backup(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self._server(request, match)
        if isinstance(found, web.Response):
            return found
        backup = next((b for b in found[1]["backups"] if b["name"] == match["backup"]), None)
        if backup is None:
            return arm_error(404, "ResourceNotFound", f"The backup '{clipped(match['backup'], 128)}' was not found.")
        return web.json_response(backup)

    async def create_backup(self, request: web.Request, match: dict[str, str]) -> web.Response:
        from console.emulator.server import LRO_FAIL_KEY

        found = self._server(request, match)
        if isinstance(found, web.Response):
            return found
        server_id, document = found
        name = match["backup"]
        if not _NAME.fullmatch(name):
            return arm_error(
                400, "InvalidParameterValue", "A backup name is 1-128 letters, digits, '-' or '_' (a letter first)."
            )
        if any(b["name"] == name for b in document["backups"]):
            return arm_error(409, "Conflict", f"A backup named '{name}' already exists on this server.")
        fail = bool(request.get(LRO_FAIL_KEY, False))

        async def work() -> dict[str, Any]:
            await asyncio.sleep(BACKUP_SECONDS)
            if fail:
                raise ArmOperationError("InternalServerError", f"The on-demand backup '{name}' failed.")
            made = _backup(server_id, name, datetime.now(UTC), on_demand=True)
            current = copy.deepcopy(self.store.get(KIND, server_id) or {"backups": []})
            current["backups"].append(made)
            self.store.put(KIND, server_id, current)
            return made

        return self.router.start_operation(request, work)
