"""Subscriptions, resource groups and resources, through the Azure Resource Manager SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from console.errors import ErrorKind, OpsError
from console.models import Resource, ResourceGroup, Subscription
from console.services.base import Service, ServiceContext
from console.services.first_listing import FirstListing
from console.services.inventory_cache import CachedInventory, Identity, InventoryCache
from console.services.operations import ProgressCallback

ListingProgress = Callable[[int, int], None]
"""Told (subscriptions listed, subscriptions to list) as a listing across subscriptions goes."""

# api-versions for reading one resource by id; anything else is looked up from its provider.
KNOWN_API_VERSIONS = {
    "microsoft.web/sites": "2024-11-01",
    "microsoft.web/sites/slots": "2024-11-01",
    "microsoft.web/serverfarms": "2024-11-01",
    "microsoft.keyvault/vaults": "2023-07-01",
    "microsoft.dbforpostgresql/flexibleservers": "2024-08-01",
    "microsoft.storage/storageaccounts": "2023-05-01",
    "microsoft.insights/components": "2020-02-02",
    "microsoft.operationalinsights/workspaces": "2023-09-01",
    "microsoft.recoveryservices/vaults": "2024-04-01",
    "microsoft.compute/virtualmachines": "2024-07-01",
    "microsoft.network/virtualnetworks": "2024-05-01",
}


def _resource_group_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""


def _subscription_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""


def resource_from_sdk(item: Any, *, with_properties: bool = False) -> Resource:
    """A Resource model from an SDK GenericResource(Expanded)."""
    sku = getattr(item, "sku", None)
    resource_id = str(item.id)
    return Resource(
        resource_id=resource_id,
        name=str(item.name),
        type=str(item.type),
        location=str(item.location or ""),
        resource_group=_resource_group_of(resource_id),
        subscription_id=_subscription_of(resource_id),
        kind=str(item.kind or ""),
        sku=str(getattr(sku, "name", "") or "") if sku else "",
        tags=dict(item.tags or {}),
        properties=dict(item.properties or {}) if with_properties else None,
    )


def subscription_from_sdk(item: Any) -> Subscription:
    """A Subscription model from an SDK Subscription."""
    return Subscription(
        subscription_id=str(item.subscription_id),
        display_name=str(item.display_name),
        state=str(item.state),
        tenant_id=str(item.tenant_id or ""),
    )


def by_display_name(subscriptions: list[Subscription]) -> list[Subscription]:
    """Subscriptions in the order they are listed everywhere: by display name, any case."""
    return sorted(subscriptions, key=lambda s: s.display_name.lower())


class ResourcesService(Service):
    """Subscriptions, resource groups and resources: read them, and set their tags."""

    area = "resources"

    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        self._subscription_client: Any = None
        self._clients: dict[str, Any] = {}
        self._api_versions: dict[str, str] = dict(KNOWN_API_VERSIONS)
        self._cache = InventoryCache(context.settings.data_dir / "inventory")
        self.expected: Identity | None = None
        """Whose inventory to show before the sign-in is done (cloud and tenant known up front), if known."""
        self.first_listing: FirstListing | None = None
        """The first subscriptions and resources, listed by a forked copy of the console while it painted (the
        console that forked it closes it)."""

    @property
    def identity(self) -> Identity | None:
        """The cloud and tenant this console lists: the connected one's, else the one expected; None if unknown."""
        if not self.context.is_connected:
            return self.expected
        profile = self.context.profile
        tenant = profile.tenant_id
        if not tenant and self.expected is not None and self.expected.cloud == profile.name:
            tenant = self.expected.tenant_id
        return Identity(profile.name, tenant) if tenant else None

    def cached_inventory(self) -> CachedInventory | None:
        """The last inventory listed for this cloud and tenant, stamped with when it was listed; None when
        none is usable (nothing cached, another cloud's or tenant's, damaged). Never the current state."""
        identity = self.identity
        return self._cache.load(identity) if identity is not None else None

    async def _remember(
        self, *, subscriptions: list[Subscription] | None = None, resources: dict[str, list[Resource]] | None = None
    ) -> None:
        identity = self.identity
        if identity is not None:
            await asyncio.to_thread(self._cache.save, identity, subscriptions=subscriptions, resources=resources)

    def _subscriptions(self) -> Any:
        if self._subscription_client is None:
            from azure.mgmt.resource.subscriptions.aio import SubscriptionClient

            self._subscription_client = SubscriptionClient(self.context.credential, **self.context.arm_options())
        return self._subscription_client

    def _client(self, subscription_id: str) -> Any:
        client = self._clients.get(subscription_id)
        if client is None:
            from azure.mgmt.resource.resources.aio import ResourceManagementClient

            client = ResourceManagementClient(self.context.credential, subscription_id, **self.context.arm_options())
            self._clients[subscription_id] = client
        return client

    async def close(self) -> None:
        clients = list(self._clients.values())
        if self._subscription_client is not None:
            clients.append(self._subscription_client)
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
        self._clients.clear()
        self._subscription_client = None

    async def list_subscriptions(self) -> list[Subscription]:
        """Every subscription the identity can see, by display name."""
        if self.first_listing is not None:
            settled = asyncio.ensure_future(self.context.settled())
            try:
                listed = await self.first_listing.take_subscriptions(given_up=settled)
            finally:
                settled.cancel()
            if listed is not None:
                await self._remember(subscriptions=listed)
                return listed

        async def collect() -> list[Subscription]:
            return [subscription_from_sdk(s) async for s in self._subscriptions().subscriptions.list()]

        found = by_display_name(await self.call("listing subscriptions", collect()))
        await self._remember(subscriptions=found)
        return found

    async def list_resource_groups(self, subscription_id: str) -> list[ResourceGroup]:
        """The resource groups of one subscription, by name."""

        async def collect() -> list[ResourceGroup]:
            return [
                ResourceGroup(
                    subscription_id=subscription_id,
                    name=str(g.name),
                    location=str(g.location),
                    tags=dict(g.tags or {}),
                    provisioning_state=str(getattr(g.properties, "provisioning_state", "") or ""),
                )
                async for g in self._client(subscription_id).resource_groups.list()
            ]

        found = await self.call(f"listing resource groups of {subscription_id}", collect())
        return sorted(found, key=lambda g: g.name.lower())

    async def list_resources(
        self,
        subscription_id: str,
        resource_group: str | None = None,
        *,
        resource_type: str | None = None,
    ) -> list[Resource]:
        """Resources of a subscription (or one of its groups), optionally of one type, all pages."""
        if self.first_listing is not None and not resource_group and not resource_type:
            listed = self.first_listing.take_resources(subscription_id)
            if listed is not None:
                await self._remember(resources={subscription_id: listed})
                return listed
        filter_text = f"resourceType eq '{resource_type.replace(chr(39), chr(39) * 2)}'" if resource_type else None
        await self.context.connected()
        operations = self._client(subscription_id).resources

        async def collect() -> list[Resource]:
            pages = (
                operations.list_by_resource_group(resource_group, filter=filter_text)
                if resource_group
                else operations.list(filter=filter_text)
            )
            return [resource_from_sdk(item) async for item in pages]

        where = f"{subscription_id}/{resource_group}" if resource_group else subscription_id
        found = await self.call(f"listing resources of {where}", collect())
        if not resource_group and not resource_type:
            await self._remember(resources={subscription_id: found})
        return found

    async def list_all_resources(
        self,
        subscription_ids: list[str],
        *,
        resource_type: str | None = None,
        progress: ListingProgress | None = None,
    ) -> list[Resource]:
        """Resources across several subscriptions, fetched concurrently; `progress` hears (listed, total)."""
        total = len(subscription_ids)
        done = 0
        if progress is not None:
            progress(0, total)

        async def one(subscription_id: str) -> list[Resource]:
            nonlocal done
            found = await self.list_resources(subscription_id, resource_type=resource_type)
            done += 1
            if progress is not None:
                progress(done, total)
            return found

        results = await asyncio.gather(*(one(s) for s in subscription_ids))
        return [resource for batch in results for resource in batch]

    async def get_resource(self, resource_id: str) -> Resource:
        """One resource with its properties."""
        subscription_id = _subscription_of(resource_id)
        if not subscription_id:
            raise OpsError(ErrorKind.BAD_REQUEST, f"{resource_id!r} is not a resource id.")
        await self.context.connected()
        api_version = await self._api_version_for(resource_id)
        item = await self.call(
            f"reading {resource_id}",
            self._client(subscription_id).resources.get_by_id(resource_id, api_version=api_version),
        )
        return resource_from_sdk(item, with_properties=True)

    async def _api_version_for(self, resource_id: str) -> str:
        parts = resource_id.strip("/").split("/")
        lowered = [p.lower() for p in parts]
        if "providers" not in lowered:
            raise OpsError(ErrorKind.BAD_REQUEST, f"{resource_id!r} is not a provider resource id.")
        start = len(lowered) - 1 - lowered[::-1].index("providers")
        namespace = parts[start + 1]
        type_names = parts[start + 2 :: 2]
        full_type = "/".join([namespace, *type_names]).lower()
        known = self._api_versions.get(full_type)
        if known:
            return known
        provider = await self.call(
            f"looking up the API versions of {namespace}",
            self._client(_subscription_of(resource_id)).providers.get(namespace),
        )
        wanted = "/".join(type_names).lower()
        for resource_type in provider.resource_types or []:
            if str(resource_type.resource_type).lower() == wanted and resource_type.api_versions:
                stable = [v for v in resource_type.api_versions if "preview" not in v]
                version = str((stable or resource_type.api_versions)[0])
                self._api_versions[full_type] = version
                return version
        raise OpsError(ErrorKind.NOT_FOUND, f"Azure does not know the resource type {full_type}.")

    async def set_tags(
        self,
        scope: str,
        tags: Mapping[str, str],
        *,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> dict[str, str]:
        """Replace the tags of a subscription, resource group or resource; the tags Azure now holds."""
        subscription_id = _subscription_of(scope)
        if not subscription_id:
            raise OpsError(ErrorKind.BAD_REQUEST, f"{scope!r} is not a subscription, resource group or resource id.")
        wanted = {str(k): str(v) for k, v in tags.items()}

        async def call() -> Any:
            return await self._client(subscription_id).tags.begin_create_or_update_at_scope(
                scope, {"properties": {"tags": wanted}}
            )

        result = await self.mutate(
            "set tags",
            scope,
            call,
            subscription_id=subscription_id,
            parameters={"tags": wanted},
            confirmed=confirmed,
            progress=progress,
        )
        return dict(result.properties.tags or {})

    async def state_of(self, target: str) -> str:
        """The tags `target` (a subscription, group or resource) holds now."""
        subscription_id = _subscription_of(target)
        if not subscription_id:
            raise OpsError(ErrorKind.BAD_REQUEST, f"{target!r} is not a subscription, resource group or resource id.")
        await self.context.connected()
        tags_now = self._client(subscription_id).tags.get_at_scope(target)
        try:
            found = await self.call(f"reading the tags of {target}", tags_now)
        except OpsError as error:
            if error.kind is ErrorKind.NOT_FOUND:
                return f"{target.rstrip('/').rsplit('/', 1)[-1]} does not exist"
            raise
        tags = dict(found.properties.tags or {}) if found.properties else {}
        return "tags " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) if tags else "no tags"
