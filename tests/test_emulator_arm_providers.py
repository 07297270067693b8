"""Resource provider metadata served by the local Azure, read through the real SDK and the console's services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from conftest import EmulatorThread
from test_emulator_arm import arm_get, fetch_token

from console.emulator import estate
from console.emulator.providers import CATALOG, ProviderRegistry
from console.services import Services
from console.services.resources import KNOWN_API_VERSIONS

PROD = estate.PROD_SUBSCRIPTION
NONPROD = estate.NONPROD_SUBSCRIPTION

# What the product's SDK clients send (FACTS.md versions), per type: each must be listed for its type.
SDK_API_VERSIONS = {
    "Microsoft.Resources/resourceGroups": "2025-04-01",  # azure-mgmt-resource 26
    "Microsoft.Web/sites": "2025-05-01",  # azure-mgmt-web 11.0.1
    "Microsoft.Web/sites/slots": "2025-05-01",
    "Microsoft.Web/serverFarms": "2025-05-01",
    "Microsoft.Insights/actionGroups": "2023-01-01",  # azure-mgmt-monitor 7.0.0
    "Microsoft.Insights/metricAlerts": "2018-03-01",
    "Microsoft.Insights/scheduledQueryRules": "2023-12-01",
    "Microsoft.Insights/metrics": "2024-02-01",
    "Microsoft.AlertsManagement/alerts": "2019-05-05-preview",  # azure-mgmt-alertsmanagement 1.0.1
    "Microsoft.RecoveryServices/vaults/backupJobs": "2026-10-01",  # azure-mgmt-recoveryservicesbackup 11.2.0
    "Microsoft.CostManagement/query": "2025-03-01",  # azure-mgmt-costmanagement 5.0.0
    "Microsoft.Consumption/budgets": "2024-08-01",  # azure-mgmt-consumption 11.0.0
}


@pytest.fixture
async def client(local_azure: EmulatorThread) -> AsyncIterator[ResourceManagementClient]:
    readiness = local_azure.readiness
    credential = DefaultAzureCredential()
    sdk = ResourceManagementClient(
        credential,
        PROD,
        base_url=readiness["arm_endpoint"],
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=readiness["ca_file"],
    )
    yield sdk
    await sdk.close()
    await credential.close()


def _held(local_azure: EmulatorThread) -> list[dict[str, Any]]:
    store = local_azure.running.store  # type: ignore[union-attr]
    return store.resources(PROD) + store.resources(NONPROD)


def _split(full_type: str) -> tuple[str, str]:
    namespace, _, rest = full_type.partition("/")
    return namespace, rest


def _newest_first(versions: list[str]) -> bool:
    return [v[:10] for v in versions] == sorted((v[:10] for v in versions), reverse=True)


@pytest.mark.asyncio
async def test_every_resource_of_the_seed_opens_through_the_console_service(
    make_local_services: Callable[..., Services], local_azure: EmulatorThread
) -> None:
    """The details pane's path (providers.get for the api-version, then get_by_id) works for every type."""
    held = _held(local_azure)
    types = {str(r["type"]).lower() for r in held}
    assert {"microsoft.cache/redis", "microsoft.servicebus/namespaces", "microsoft.cdn/profiles"} <= types
    assert len(types) >= 20
    services = make_local_services()
    failures: dict[str, str] = {}
    try:
        for document in held:
            try:
                resource = await services.resources.get_resource(document["id"])
            except Exception as error:
                failures[document["id"]] = str(error)
                continue
            assert resource.resource_id.lower() == str(document["id"]).lower()
            assert resource.type == document["type"]
            assert resource.properties == document.get("properties", {})
    finally:
        await services.close()
    assert failures == {}


@pytest.mark.asyncio
async def test_providers_get_lists_every_held_type_with_working_api_versions(
    client: ResourceManagementClient, local_azure: EmulatorThread
) -> None:
    by_type: dict[str, dict[str, Any]] = {}
    for document in _held(local_azure):
        by_type.setdefault(str(document["type"]).lower(), document)
    for full_type, document in sorted(by_type.items()):
        namespace, type_name = _split(str(document["type"]))
        provider = await client.providers.get(namespace)
        assert provider.namespace is not None and provider.namespace.lower() == namespace.lower()
        assert provider.registration_state == "Registered"
        assert provider.id == f"/subscriptions/{PROD}/providers/{provider.namespace}"
        listed = {str(t.resource_type).lower(): t for t in provider.resource_types or []}
        assert type_name.lower() in listed, full_type
        entry = listed[type_name.lower()]
        versions = list(entry.api_versions or [])
        assert versions and _newest_first(versions), full_type
        assert entry.locations, full_type
        # The version a client would pick from the list reads the resource.
        stable = [v for v in versions if "preview" not in v]
        found = await client.resources.get_by_id(document["id"], api_version=stable[0])
        assert found.id is not None and found.id.lower() == str(document["id"]).lower()


@pytest.mark.asyncio
async def test_provider_lists_the_api_versions_the_product_sends(client: ResourceManagementClient) -> None:
    wanted = {**{k: v for k, v in KNOWN_API_VERSIONS.items()}, **SDK_API_VERSIONS}
    for full_type, version in sorted(wanted.items()):
        namespace, type_name = _split(full_type)
        provider = await client.providers.get(namespace)
        listed = {str(t.resource_type).lower(): list(t.api_versions or []) for t in provider.resource_types or []}
        assert version in listed.get(type_name.lower(), []), f"{full_type} does not list {version}"


@pytest.mark.asyncio
async def test_provider_namespace_is_case_insensitive_and_canonical(client: ResourceManagementClient) -> None:
    provider = await client.providers.get("microsoft.cache")
    assert provider.namespace == "Microsoft.Cache"
    assert {str(t.resource_type) for t in provider.resource_types or []} >= {"Redis"}


@pytest.mark.asyncio
async def test_unknown_namespace_is_a_404_with_arm_error(client: ResourceManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        await client.providers.get("Microsoft.Nope")
    assert caught.value.error is not None and caught.value.error.code == "InvalidResourceNamespace"


@pytest.mark.asyncio
async def test_provider_list_pages_through_every_namespace(
    client: ResourceManagementClient, local_azure: EmulatorThread
) -> None:
    pages = [[p async for p in page] async for page in client.providers.list().by_page()]
    namespaces = [str(p.namespace) for page in pages for p in page]
    held = {_split(str(r["type"]))[0].lower() for r in _held(local_azure)}
    assert held <= {n.lower() for n in namespaces}
    assert set(CATALOG) <= set(namespaces)
    assert len(namespaces) == len(set(namespaces))
    assert len(pages) > 1  # the session's local Azure pages by 7
    assert all(p.registration_state == "Registered" for page in pages for p in page)


@pytest.mark.asyncio
async def test_providers_at_tenant_scope(client: ResourceManagementClient) -> None:
    provider = await client.providers.get_at_tenant_scope("Microsoft.Web")
    assert provider.id == "/providers/Microsoft.Web"
    assert {"sites", "sites/slots", "serverFarms"} <= {str(t.resource_type) for t in provider.resource_types or []}
    listed = [p.namespace async for p in client.providers.list_at_tenant_scope()]
    assert "Microsoft.ServiceBus" in listed and "Microsoft.ManagedIdentity" in listed


def test_provider_document_has_the_official_shape(local_azure: EmulatorThread) -> None:
    readiness = local_azure.readiness
    status, body = arm_get(
        readiness, f"/subscriptions/{PROD}/providers/Microsoft.Web?api-version=2025-04-01", fetch_token(readiness)
    )
    assert status == 200
    assert set(body) == {"id", "namespace", "registrationState", "registrationPolicy", "resourceTypes"}
    slots = next(t for t in body["resourceTypes"] if t["resourceType"] == "sites/slots")
    assert {"resourceType", "locations", "apiVersions"} <= set(slots)
    assert "West Europe" in slots["locations"]
    assert slots["apiVersions"][0] == "2025-05-01"


def test_a_type_the_catalog_does_not_name_still_gets_metadata() -> None:
    """Metadata follows what the store holds, not only the catalog."""
    registry = ProviderRegistry(["Contoso.Widgets/gadgets", "Microsoft.Web/sites/hybridThings", "Microsoft.Web/sites"])
    assert registry.canonical("contoso.widgets") == "Contoso.Widgets"
    widgets = registry.document("CONTOSO.WIDGETS", PROD)
    assert [t["resourceType"] for t in widgets["resourceTypes"]] == ["gadgets"]
    assert widgets["resourceTypes"][0]["apiVersions"]
    web = {t["resourceType"]: t for t in registry.document("Microsoft.Web", None)["resourceTypes"]}
    assert web["sites/hybridThings"]["apiVersions"] == web["sites"]["apiVersions"]
    assert "registrationState" not in registry.document("Microsoft.Web", None)
    assert registry.canonical("Microsoft.Nope") is None


@pytest.mark.asyncio
async def test_provider_resource_types(client: ResourceManagementClient) -> None:
    listed = await client.provider_resource_types.list("microsoft.servicebus")
    assert "namespaces" in {str(t.resource_type) for t in listed.value or []}
    with pytest.raises(ResourceNotFoundError):
        await client.provider_resource_types.list("Microsoft.Nope")
