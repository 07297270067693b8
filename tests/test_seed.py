"""The ARM seed of the demo estate: shape, coverage and determinism."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from console.emulator import estate, story
from console.emulator.seed import arm_resource_id, resource_groups, seed_resources, subscriptions

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return seed_resources(NOW)


def _by_type(resources: list[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"].lower() == resource_type.lower()]


def _split_id(resource_id: str) -> tuple[str, str, str]:
    """Subscription, resource group and the provider part of a canonical resource id."""
    parts = resource_id.split("/")
    assert parts[0] == "" and parts[1] == "subscriptions" and parts[3] == "resourceGroups", resource_id
    assert parts[5] == "providers", resource_id
    return parts[2], parts[4], "/".join(parts[6:])


def test_estate_is_large_and_varied(resources: list[dict[str, Any]]) -> None:
    assert len(resources) >= 40
    assert len({r["type"] for r in resources}) >= 12


def test_ids_are_unique_ignoring_case(resources: list[dict[str, Any]]) -> None:
    ids = [r["id"].lower() for r in resources]
    assert len(ids) == len(set(ids))


def test_every_resource_lives_in_a_seeded_group_and_subscription(resources: list[dict[str, Any]]) -> None:
    known_subscriptions = {s["subscriptionId"] for s in subscriptions()}
    known_groups = {(g["id"].split("/")[2], g["name"].lower()) for g in resource_groups()}
    for resource in resources:
        subscription_id, group, _ = _split_id(resource["id"])
        assert subscription_id in known_subscriptions, resource["id"]
        assert (subscription_id, group.lower()) in known_groups, resource["id"]


def test_id_ends_with_the_type_and_name_shape(resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        namespace, *type_segments = resource["type"].split("/")
        names = resource["name"].split("/")
        assert len(type_segments) == len(names), resource["id"]
        tail = "/".join(f"{kind}/{name}" for kind, name in zip(type_segments, names, strict=True))
        assert resource["id"].endswith(f"/providers/{namespace}/{tail}"), resource["id"]
        assert resource["id"] == arm_resource_id(*_split_id(resource["id"])[:2], resource["type"], resource["name"])


def test_every_resource_has_location_tags_and_properties(resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        assert resource["location"], resource["id"]
        assert {"env", "owner", "costCenter", "app"} <= resource["tags"].keys(), resource["id"]
        assert isinstance(resource["properties"], dict) and resource["properties"], resource["id"]


def test_every_web_app_and_its_slots_are_seeded_with_their_builds(resources: list[dict[str, Any]]) -> None:
    sites = {r["id"].lower(): r for r in _by_type(resources, "Microsoft.Web/sites")}
    slots = {r["id"].lower(): r for r in _by_type(resources, "Microsoft.Web/sites/slots")}
    assert len(sites) == len(estate.WEB_APPS)
    for app in estate.WEB_APPS:
        site = sites[app.resource_id.lower()]
        assert site["kind"] == "app,linux"
        assert site["properties"]["state"] == "Running"
        assert site["properties"]["defaultHostName"] == f"{app.name}.azurewebsites.net"
        assert "build" not in site["tags"]  # what runs is the content, which moves on a swap; tags do not
        production = app.linux_fx_version(app.builds_by_slot["production"])
        assert site["properties"]["siteConfig"]["linuxFxVersion"] == production
        plan_id = site["properties"]["serverFarmId"].lower()
        assert any(r["id"].lower() == plan_id for r in _by_type(resources, "Microsoft.Web/serverfarms"))
        for slot_name, build in app.builds_by_slot.items():
            if slot_name == "production":
                continue
            slot = slots[f"{app.resource_id}/slots/{slot_name}".lower()]
            assert slot["name"] == f"{app.name}/{slot_name}"
            assert slot["properties"]["siteConfig"]["linuxFxVersion"] == app.linux_fx_version(build)
            assert slot["properties"]["defaultHostName"] == f"{app.name}-{slot_name}.azurewebsites.net"
    expected_slots = sum(len(app.builds_by_slot) - 1 for app in estate.WEB_APPS)
    assert len(slots) == expected_slots


def test_workspace_and_application_insights_point_at_the_estate_workspace(
    resources: list[dict[str, Any]],
) -> None:
    (workspace,) = _by_type(resources, "Microsoft.OperationalInsights/workspaces")
    assert workspace["id"] == estate.WORKSPACE_RESOURCE_ID
    assert workspace["properties"]["customerId"] == estate.WORKSPACE_CUSTOMER_ID
    assert workspace["properties"]["sku"]["name"] == "PerGB2018"
    components = _by_type(resources, "Microsoft.Insights/components")
    assert components
    for component in components:
        properties = component["properties"]
        assert component["kind"] == "web"
        assert properties["WorkspaceResourceId"] == estate.WORKSPACE_RESOURCE_ID
        assert properties["InstrumentationKey"] in properties["ConnectionString"]


def test_virtual_machines_match_the_heartbeat_computers(resources: list[dict[str, Any]]) -> None:
    vms = {r["name"]: r for r in _by_type(resources, "Microsoft.Compute/virtualMachines")}
    assert set(vms) == {name for name, _, _ in estate.HEARTBEAT_COMPUTERS}
    all_ids = {r["id"].lower() for r in resources}
    for name, subscription_id, group in estate.HEARTBEAT_COMPUTERS:
        vm = vms[name]
        assert _split_id(vm["id"])[:2] == (subscription_id, group)
        assert vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].lower() in all_ids
        for nic in vm["properties"]["networkProfile"]["networkInterfaces"]:
            assert nic["id"].lower() in all_ids


def test_postgres_servers_carry_a_secret_looking_property(resources: list[dict[str, Any]]) -> None:
    servers = {r["name"]: r for r in _by_type(resources, "Microsoft.DBforPostgreSQL/flexibleServers")}
    assert {"psql-orders-prod", "psql-orders-stg"} <= servers.keys()
    prod = servers["psql-orders-prod"]["properties"]
    assert prod["fullyQualifiedDomainName"] == "psql-orders-prod.postgres.database.azure.com"
    assert prod["administratorLoginPassword"]


def test_required_resource_kinds_are_present(resources: list[dict[str, Any]]) -> None:
    names_by_type: dict[str, set[str]] = {r["type"]: set() for r in resources}
    for r in resources:
        names_by_type[r["type"]].add(r["name"])
    assert "kv-prod-shared" in names_by_type["Microsoft.KeyVault/vaults"]
    for required in (
        "Microsoft.Storage/storageAccounts",
        "Microsoft.RecoveryServices/vaults",
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/networkSecurityGroups",
        "Microsoft.Network/publicIPAddresses",
        "Microsoft.Network/networkInterfaces",
        "Microsoft.Compute/disks",
        "Microsoft.Insights/actionGroups",
        "Microsoft.Insights/metricAlerts",
        "Microsoft.Insights/scheduledQueryRules",
        "Microsoft.Cdn/profiles",
        "Microsoft.ServiceBus/namespaces",
        "Microsoft.Cache/Redis",
        "Microsoft.Web/serverfarms",
    ):
        assert names_by_type.get(required), required
    vaults = {v["id"].lower() for v in _by_type(resources, "Microsoft.RecoveryServices/vaults")}
    assert vaults == {estate.RECOVERY_VAULT_RESOURCE_ID.lower(), estate.NONPROD_RECOVERY_VAULT_RESOURCE_ID.lower()}


def test_resource_groups_and_subscriptions_are_arm_shaped() -> None:
    groups = resource_groups()
    assert len(groups) == len(estate.RESOURCE_GROUPS)
    for group in groups:
        assert group["type"] == "Microsoft.Resources/resourceGroups"
        assert group["id"].endswith(f"/resourceGroups/{group['name']}")
        assert group["properties"] == {"provisioningState": "Succeeded"}
        assert "managedBy" not in group
    subs = subscriptions()
    assert {s["subscriptionId"] for s in subs} == {spec.subscription_id for spec in estate.SUBSCRIPTIONS}
    for sub in subs:
        assert sub["id"] == f"/subscriptions/{sub['subscriptionId']}"
        assert sub["tenantId"] == estate.TENANT_ID
        assert sub["authorizationSource"] == "RoleBased"
        assert {"locationPlacementId", "quotaId", "spendingLimit"} <= sub["subscriptionPolicies"].keys()


def test_seed_is_deterministic_and_follows_now(resources: list[dict[str, Any]]) -> None:
    again = seed_resources(NOW)
    assert json.dumps(again, sort_keys=True) == json.dumps(resources, sort_keys=True)
    later = seed_resources(datetime(2027, 1, 1, tzinfo=UTC))
    assert [r["id"] for r in later] == [r["id"] for r in resources]
    assert later != resources
    assert resources[0]["systemData"]["createdAt"].endswith("Z")


def test_arm_resource_id_rejects_mismatched_name_parts() -> None:
    with pytest.raises(ValueError, match="needs 2 name parts"):
        arm_resource_id(estate.PROD_SUBSCRIPTION, "rg-prod-web", "Microsoft.Web/sites/slots", "app-only")


def test_the_story_names_only_what_the_estate_seeds(resources: list[dict[str, Any]]) -> None:
    apps = {app.name: app for app in estate.WEB_APPS}
    assert story.incident_app().name == story.INCIDENT_APP in apps
    app, slot = story.BAD_BUILD_SLOT
    assert apps[app].builds_by_slot[slot] == story.BAD_BUILD
    worst = max(estate.BUILDS.values(), key=lambda profile: profile.failure_rate)
    assert worst.build == story.BAD_BUILD
    computers = {name for name, _, _ in estate.HEARTBEAT_COMPUTERS}
    assert story.SILENT_COMPUTER in computers and story.FAILED_BACKUP_ITEM == story.SILENT_COMPUTER
    protectable = {
        r["name"]: r
        for r in resources
        if r["type"] in {"Microsoft.Compute/virtualMachines", "Microsoft.DBforPostgreSQL/flexibleServers"}
    }
    for item in story.BACKUP_ITEMS:
        assert _split_id(protectable[item.name]["id"])[0] == estate.PROD_SUBSCRIPTION, item
    assert estate.RECOVERY_VAULT_RESOURCE_ID.lower() in {r["id"].lower() for r in resources}


def test_the_alert_rules_watch_the_incident_app(resources: list[dict[str, Any]]) -> None:
    incident_id = story.incident_app().resource_id.lower()
    scopes = {
        s.lower() for r in _by_type(resources, "Microsoft.Insights/metricAlerts") for s in r["properties"]["scopes"]
    }
    assert incident_id in scopes
    queries = [
        c["query"]
        for r in _by_type(resources, "Microsoft.Insights/scheduledQueryRules")
        for c in r["properties"]["criteria"]["allOf"]
    ]
    assert any(f"'{story.INCIDENT_APP}'" in query for query in queries)
