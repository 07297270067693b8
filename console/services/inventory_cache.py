"""The last inventory seen (subscriptions and resources), kept on disk so the console can show it at once.

One file per cloud and tenant, 0600 in a 0700 folder of the data dir, written atomically. What is read
back is always marked with the moment it was listed: it is never the current state. A file for
another cloud or tenant, an unknown format or a damaged file is ignored (the console then simply
waits for fresh data).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.models import Resource, Subscription

FORMAT = 1


@dataclass(frozen=True)
class Identity:
    """Whose inventory it is: the cloud's name and the tenant id (a cache is used only for the same pair)."""

    cloud: str
    tenant_id: str

    @property
    def file_name(self) -> str:
        digest = hashlib.sha256(f"{self.cloud.lower()}|{self.tenant_id.lower()}".encode()).hexdigest()[:24]
        return f"inventory-{digest}.json"


@dataclass(frozen=True)
class CachedInventory:
    """Subscriptions, and the resources of some of them, as they were when listed; never the current state."""

    identity: Identity
    subscriptions: list[Subscription]
    resources: dict[str, list[Resource]]
    """Resources by subscription id (lower case), for the subscriptions that were listed."""
    listed_at: dict[str, datetime]
    """When each subscription's resources were listed (UTC)."""

    def for_scope(self, subscription_id: str | None) -> tuple[list[Resource], datetime] | None:
        """The cached resources of one subscription (None: of every subscription) and how old they are (the
        oldest part decides), or None when they were not all listed."""
        every = [s.subscription_id.lower() for s in self.subscriptions]
        wanted = [subscription_id.lower()] if subscription_id else every
        if not wanted or any(key not in self.resources for key in wanted):
            return None
        return [r for key in wanted for r in self.resources[key]], min(self.listed_at[key] for key in wanted)


def resource_to_json(resource: Resource) -> dict[str, Any]:
    """A listed resource as plain JSON (without its properties)."""
    return {
        "id": resource.resource_id,
        "name": resource.name,
        "type": resource.type,
        "location": resource.location,
        "group": resource.resource_group,
        "subscription": resource.subscription_id,
        "kind": resource.kind,
        "sku": resource.sku,
        "tags": dict(resource.tags),
    }


def resource_from_json(item: dict[str, Any]) -> Resource:
    """The resource `resource_to_json` wrote; KeyError or TypeError when `item` is not one."""
    tags = item.get("tags") or {}
    if not isinstance(tags, dict):
        raise TypeError("tags")
    return Resource(
        resource_id=str(item["id"]),
        name=str(item["name"]),
        type=str(item["type"]),
        location=str(item.get("location", "")),
        resource_group=str(item.get("group", "")),
        subscription_id=str(item["subscription"]),
        kind=str(item.get("kind", "")),
        sku=str(item.get("sku", "")),
        tags={str(k): str(v) for k, v in tags.items()},
    )


def subscription_to_json(subscription: Subscription) -> dict[str, Any]:
    """A subscription as plain JSON."""
    return {
        "id": subscription.subscription_id,
        "name": subscription.display_name,
        "state": subscription.state,
        "tenant": subscription.tenant_id,
    }


def subscription_from_json(item: dict[str, Any]) -> Subscription:
    """The subscription `subscription_to_json` wrote; KeyError when `item` is not one."""
    return Subscription(
        subscription_id=str(item["id"]),
        display_name=str(item["name"]),
        state=str(item.get("state", "")),
        tenant_id=str(item.get("tenant", "")),
    )


class InventoryCache:
    """Reads and writes the last inventory of each cloud and tenant under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, identity: Identity) -> Path:
        return self.folder / identity.file_name

    def _read(self, identity: Identity) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path_for(identity).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, unreadable or damaged: as if there were none
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        if data.get("cloud") != identity.cloud or data.get("tenant") != identity.tenant_id:
            return None  # another cloud's or tenant's inventory is never shown
        return data

    def load(self, identity: Identity) -> CachedInventory | None:
        """The cached inventory of this cloud and tenant, or None when nothing usable is cached."""
        data = self._read(identity)
        if data is None:
            return None
        try:
            subscriptions = [subscription_from_json(item) for item in data["subscriptions"]]
            resources: dict[str, list[Resource]] = {}
            listed_at: dict[str, datetime] = {}
            for key, entry in dict(data["resources"]).items():
                moment = datetime.fromisoformat(str(entry["as_of"]))
                if moment.tzinfo is None:
                    return None
                listed_at[str(key)] = moment.astimezone(UTC)
                resources[str(key)] = [resource_from_json(item) for item in entry["items"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        if not subscriptions:
            return None
        return CachedInventory(identity, subscriptions, resources, listed_at)

    def save(
        self,
        identity: Identity,
        *,
        subscriptions: list[Subscription] | None = None,
        resources: dict[str, list[Resource]] | None = None,
        as_of: datetime | None = None,
    ) -> None:
        """Record freshly listed subscriptions and/or the resources of some subscriptions (by id).

        Failing to write is silent: the cache only ever saves waiting, never data.
        """
        moment = (as_of or datetime.now(UTC)).astimezone(UTC)
        data = self._read(identity)
        if (
            data is None
            or not isinstance(data.get("resources"), dict)
            or not isinstance(data.get("subscriptions"), list)
        ):
            data = {
                "format": FORMAT,
                "cloud": identity.cloud,
                "tenant": identity.tenant_id,
                "subscriptions": [],
                "resources": {},
            }
        if subscriptions is not None:
            data["subscriptions"] = [subscription_to_json(s) for s in subscriptions]
        for subscription_id, items in (resources or {}).items():
            data["resources"][subscription_id.lower()] = {
                "as_of": moment.isoformat(),
                "items": [resource_to_json(r) for r in items],
            }
        # A read-only or full data dir costs the next start its head start, nothing else.
        with contextlib.suppress(OSError):
            self._write(identity, json.dumps(data, separators=(",", ":")))

    def _write(self, identity: Identity, text: str) -> None:
        import tempfile

        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".inventory-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:  # mkstemp creates it 0600
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path_for(identity))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
