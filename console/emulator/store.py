"""The local Azure's ARM state: one DuckDB file in the data dir, read into memory, written through."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from console.emulator import estate

SCHEMA_VERSION = "4"
"""Bumped when the seed gains documents an existing store lacks (4: budgets, alerts and their rules, the backup
vaults' jobs, App Service and PostgreSQL backups)."""

Document = tuple[str, str, dict[str, Any]]
"""A seeded ARM document: its kind (`subscription`, `resourceGroup`, `resource`), id and body."""
Seed = Callable[[datetime], Iterable[Document]]

WEB_CONTENT = "webContent"
"""The document kind for what a web app's slot holds beside its site document (app settings,
connection strings, deployments, and on production the slot configuration names), keyed by the slot's id."""


def _key(resource_id: str) -> str:
    return resource_id.rstrip("/").lower()


class StoreBusyError(OSError):
    """The DuckDB file is held by another process: one local Azure per data dir."""


class Store:
    """ARM subscriptions, resource groups and resources, plus a small key/value table for later areas.

    Reads are served from memory; every write goes to the DuckDB file before it is visible, so a
    swap stays swapped across restarts.
    """

    def __init__(self, path: Path, *, seed: Seed, reset: bool = False, now: datetime | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = duckdb.connect(str(path))
        except duckdb.IOException as error:
            raise StoreBusyError(
                f"Another process holds {path} (is a local Azure already serving {path.parent}?): {error}"
            ) from None
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS documents (kind VARCHAR, key VARCHAR, body VARCHAR, PRIMARY KEY (kind, key))"
        )
        seeded = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if reset or seeded is None or seeded[0] != SCHEMA_VERSION:
            self._seed(now or datetime.now(UTC), seed)
        self._documents: dict[str, dict[str, dict[str, Any]]] = {}
        for kind, key, body in self._db.execute("SELECT kind, key, body FROM documents").fetchall():
            self._documents.setdefault(kind, {})[key] = json.loads(body)

    def _seed(self, now: datetime, seed: Seed) -> None:
        rows = [(kind, _key(key), json.dumps(body)) for kind, key, body in seed(now)]
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM documents")
        self._db.execute("DELETE FROM meta")
        if rows:
            self._db.executemany("INSERT INTO documents VALUES (?, ?, ?)", rows)
        self._db.execute("INSERT INTO meta VALUES ('schema', ?), ('seeded_at', ?)", [SCHEMA_VERSION, now.isoformat()])
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _all(self, kind: str) -> list[dict[str, Any]]:
        return list(self._documents.get(kind, {}).values())

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._documents.get(kind, {}).get(_key(key))

    def documents_of(self, kind: str) -> list[dict[str, Any]]:
        """Every document of one kind (an area's own kinds: fired alerts, a slot's content)."""
        return self._all(kind)

    def put_many(self, kind: str, bodies: dict[str, dict[str, Any]]) -> None:
        """Write several documents of one kind (key -> body) in one transaction, then make them visible."""
        rows = [(kind, _key(key), json.dumps(body)) for key, body in bodies.items()]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)", rows)
            except duckdb.Error:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            found = self._documents.setdefault(kind, {})
            for key, body in bodies.items():
                found[_key(key)] = body

    def put(self, kind: str, key: str, body: dict[str, Any]) -> None:
        """Write a document through to the file, then make it visible."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO documents VALUES (?, ?, ?)", [kind, _key(key), json.dumps(body)])
            self._documents.setdefault(kind, {})[_key(key)] = body

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every document of `kind`, by its (lower-case) key."""
        return dict(self._documents.get(kind, {}))

    def delete(self, kind: str, key: str) -> None:
        """Remove a document from the file, then from view."""
        with self._lock:
            self._db.execute("DELETE FROM documents WHERE kind = ? AND key = ?", [kind, _key(key)])
            self._documents.get(kind, {}).pop(_key(key), None)

    def subscriptions(self) -> list[dict[str, Any]]:
        return sorted(self._all("subscription"), key=lambda s: str(s["displayName"]))

    def subscription(self, subscription_id: str) -> dict[str, Any] | None:
        return self.get("subscription", subscription_id)

    def resource_groups(self, subscription_id: str) -> list[dict[str, Any]]:
        prefix = f"/subscriptions/{subscription_id}/".lower()
        groups = [g for g in self._all("resourceGroup") if str(g["id"]).lower().startswith(prefix)]
        return sorted(groups, key=lambda g: str(g["name"]).lower())

    def resource_group(self, subscription_id: str, name: str) -> dict[str, Any] | None:
        return self.get("resourceGroup", f"/subscriptions/{subscription_id}/resourceGroups/{name}")

    def resources(self, subscription_id: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        prefix = f"/subscriptions/{subscription_id}/"
        if resource_group is not None:
            prefix += f"resourceGroups/{resource_group}/"
        prefix = prefix.lower()
        found = [r for r in self._all("resource") if str(r["id"]).lower().startswith(prefix)]
        return sorted(found, key=lambda r: str(r["id"]).lower())

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        return self.get("resource", resource_id)

    def put_resource(self, body: dict[str, Any]) -> None:
        self.put("resource", str(body["id"]), body)

    def resource_types(self) -> set[str]:
        """Every resource type held, as its documents spell it (`Namespace/type[/child]`)."""
        return {str(r["type"]) for r in self._all("resource") if r.get("type")}

    def delete_resource_group(self, subscription_id: str, name: str) -> int:
        """Remove a resource group and every resource in it, in one transaction; returns how many went."""
        group_key = _key(f"/subscriptions/{subscription_id}/resourceGroups/{name}")
        prefix = group_key + "/"
        resource_keys = [k for k in self._documents.get("resource", {}) if k.startswith(prefix)]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("DELETE FROM documents WHERE kind = 'resourceGroup' AND key = ?", [group_key])
                self._db.execute("DELETE FROM documents WHERE kind = 'resource' AND starts_with(key, ?)", [prefix])
            except duckdb.Error:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._documents.get("resourceGroup", {}).pop(group_key, None)
            for key in resource_keys:
                self._documents["resource"].pop(key, None)
        return len(resource_keys)

    def builds_by_slot(self) -> dict[tuple[str, str], str]:
        """Which build runs in which slot of each web app, as (app name, slot) -> build.

        Read from the slot's content as Azure holds it: the image tag in `siteConfig.linuxFxVersion`,
        else the `APP_VERSION` app setting; both move on a swap, tags do not.
        """
        builds: dict[tuple[str, str], str] = {}
        for app in estate.WEB_APPS:
            for slot, default in app.builds_by_slot.items():
                slot_id = app.resource_id if slot == "production" else f"{app.resource_id}/slots/{slot}"
                site_config = ((self.resource(slot_id) or {}).get("properties") or {}).get("siteConfig") or {}
                settings = (self.get(WEB_CONTENT, slot_id) or {}).get("appSettings") or {}
                found = estate.build_of(site_config.get("linuxFxVersion"), settings.get("APP_VERSION"))
                builds[(app.name, slot)] = found or default
        return builds

    def routing_by_slot(self) -> dict[tuple[str, str], float]:
        """The share (percent) of each web app's production traffic routed to a slot, as
        (app name, slot) -> percent, from the production site's `siteConfig.experiments.rampUpRules`."""
        routing: dict[tuple[str, str], float] = {}
        for app in estate.WEB_APPS:
            site_config = ((self.resource(app.resource_id) or {}).get("properties") or {}).get("siteConfig") or {}
            rules = (site_config.get("experiments") or {}).get("rampUpRules") or []
            for rule in rules:
                slot = str(rule.get("name") or "")
                percent = rule.get("reroutePercentage")
                if slot in app.builds_by_slot and slot != "production" and isinstance(percent, (int, float)):
                    routing[(app.name, slot)] = float(percent)
        return routing
