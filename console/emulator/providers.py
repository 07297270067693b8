"""Resource provider metadata for the local Azure: namespaces, resource types and their api-versions.

ARM clients learn which api-version a resource type speaks from `GET .../providers/{namespace}`
(`providers.get` in the SDK). The local Azure answers it for every type its store holds, in the
shape of Microsoft.Resources' `Provider`, with the api-versions Azure lists (newest first; the ones
the SDK clients of the product send are among them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REGIONS = (
    "West Europe",
    "North Europe",
    "East US",
    "East US 2",
    "West US 2",
    "UK South",
    "Germany West Central",
    "France Central",
    "Sweden Central",
    "Southeast Asia",
)
"""Where every regional type of the local Azure is offered (display names, as ARM lists them)."""

GLOBAL = ("Global",)

_WEB = (
    "2025-05-01",
    "2024-11-01",
    "2024-04-01",
    "2023-12-01",
    "2023-01-01",
    "2022-09-01",
    "2022-03-01",
    "2021-03-01",
    "2021-02-01",
    "2021-01-15",
    "2020-12-01",
    "2020-06-01",
    "2019-08-01",
    "2018-11-01",
    "2016-08-01",
)
_NETWORK = (
    "2024-07-01",
    "2024-05-01",
    "2024-03-01",
    "2024-01-01",
    "2023-11-01",
    "2023-09-01",
    "2023-06-01",
    "2023-05-01",
    "2023-04-01",
    "2023-02-01",
    "2022-11-01",
    "2022-09-01",
    "2022-07-01",
    "2022-05-01",
    "2022-01-01",
    "2021-08-01",
    "2021-05-01",
    "2021-02-01",
    "2020-11-01",
)
_PRIVATE_DNS = ("2024-06-01", "2020-06-01", "2020-01-01", "2018-09-01")
_COMPUTE = (
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-09-01",
    "2023-07-01",
    "2023-03-01",
    "2022-11-01",
    "2022-08-01",
    "2022-03-01",
    "2021-11-01",
    "2021-07-01",
    "2021-03-01",
    "2020-12-01",
)
_DISKS = (
    "2024-03-02",
    "2023-10-02",
    "2023-04-02",
    "2023-01-02",
    "2022-07-02",
    "2022-03-02",
    "2021-12-01",
    "2021-08-01",
    "2021-04-01",
    "2020-12-01",
)
_RECOVERY_VAULTS = (
    "2026-10-01",
    "2026-08-01",
    "2026-07-01",
    "2025-02-01",
    "2024-10-01",
    "2024-04-01",
    "2023-06-01",
    "2023-04-01",
    "2023-01-01",
    "2022-10-01",
    "2022-04-01",
    "2021-06-01",
    "2016-06-01",
)
_BACKUP = (
    "2026-10-01",
    "2026-08-31-preview",
    "2026-08-01",
    "2026-07-01",
    "2025-02-01",
    "2024-10-01",
    "2024-04-01",
    "2023-06-01",
    "2023-04-01",
    "2023-01-01",
    "2022-10-01",
    "2021-12-01",
    "2016-12-01",
)
_RESOURCES = (
    "2025-04-01",
    "2025-03-01",
    "2024-11-01",
    "2024-07-01",
    "2024-03-01",
    "2023-07-01",
    "2022-12-01",
    "2022-09-01",
    "2021-04-01",
    "2021-01-01",
    "2020-06-01",
    "2019-10-01",
    "2019-05-01",
    "2018-05-01",
    "2016-09-01",
)
_ALERTS = ("2019-05-05-preview", "2019-03-01", "2018-05-05")
_COST = ("2025-03-01", "2024-08-01", "2023-11-01", "2023-03-01", "2022-10-01", "2021-10-01", "2019-11-01")
_CONSUMPTION = ("2024-08-01", "2023-11-01", "2023-05-01", "2023-03-01", "2021-10-01", "2019-10-01")
_REDIS = (
    "2024-11-01",
    "2024-04-01-preview",
    "2024-03-01",
    "2023-08-01",
    "2023-04-01",
    "2022-06-01",
    "2022-05-01",
    "2021-06-01",
    "2020-12-01",
    "2020-06-01",
    "2019-07-01",
    "2018-03-01",
)
_SERVICE_BUS = (
    "2024-01-01",
    "2023-01-01-preview",
    "2022-10-01-preview",
    "2022-01-01-preview",
    "2021-11-01",
    "2021-06-01-preview",
    "2021-01-01-preview",
    "2018-01-01-preview",
    "2017-04-01",
)
_CDN = (
    "2024-09-01",
    "2024-06-01-preview",
    "2024-05-01-preview",
    "2024-02-01",
    "2023-07-01-preview",
    "2023-05-01",
    "2022-11-01-preview",
    "2021-06-01",
    "2020-09-01",
    "2020-04-15",
)

CAPABILITIES_TRACKED = "CrossResourceGroupResourceMove, CrossSubscriptionResourceMove, SupportsTags, SupportsLocation"


@dataclass(frozen=True)
class ResourceTypeSpec:
    """One resource type of a provider: its name under the namespace, api-versions and where it lives."""

    resource_type: str
    api_versions: tuple[str, ...]
    locations: tuple[str, ...] = REGIONS
    capabilities: str = CAPABILITIES_TRACKED


def _types(*specs: tuple[str, tuple[str, ...]] | ResourceTypeSpec) -> tuple[ResourceTypeSpec, ...]:
    return tuple(spec if isinstance(spec, ResourceTypeSpec) else ResourceTypeSpec(*spec) for spec in specs)


CATALOG: dict[str, tuple[ResourceTypeSpec, ...]] = {
    "Microsoft.Web": _types(
        ("sites", _WEB),
        ("sites/slots", _WEB),
        ("serverFarms", _WEB),
        ("sites/config", _WEB),
        ("sites/slots/config", _WEB),
        ("sites/deployments", _WEB),
    ),
    "Microsoft.KeyVault": _types(
        (
            "vaults",
            (
                "2024-12-01-preview",
                "2024-11-01",
                "2024-04-01-preview",
                "2023-07-01",
                "2023-02-01",
                "2022-11-01",
                "2022-07-01",
                "2021-10-01",
                "2019-09-01",
                "2018-02-14",
            ),
        ),
    ),
    "Microsoft.DBforPostgreSQL": _types(
        (
            "flexibleServers",
            (
                "2025-01-01-preview",
                "2024-11-01-preview",
                "2024-08-01",
                "2023-06-01-preview",
                "2023-03-01-preview",
                "2022-12-01",
                "2021-06-01",
            ),
        ),
        (
            "flexibleServers/databases",
            ("2025-01-01-preview", "2024-08-01", "2022-12-01", "2021-06-01"),
        ),
        (
            "flexibleServers/backups",
            ("2026-10-01", "2025-08-01", "2024-08-01", "2022-12-01"),
        ),
    ),
    "Microsoft.Storage": _types(
        (
            "storageAccounts",
            (
                "2024-01-01",
                "2023-05-01",
                "2023-04-01",
                "2023-01-01",
                "2022-09-01",
                "2022-05-01",
                "2021-09-01",
                "2021-04-01",
                "2019-06-01",
            ),
        ),
    ),
    "Microsoft.Insights": _types(
        ("components", ("2020-02-02", "2020-02-02-preview", "2018-05-01-preview", "2015-05-01", "2014-04-01")),
        ResourceTypeSpec(
            "actionGroups",
            (
                "2024-10-01-preview",
                "2023-09-01-preview",
                "2023-01-01",
                "2022-06-01",
                "2022-04-01",
                "2021-09-01",
                "2019-06-01",
                "2019-03-01",
                "2018-09-01",
                "2018-03-01",
                "2017-04-01",
            ),
            GLOBAL,
            "SupportsTags, SupportsLocation",
        ),
        ResourceTypeSpec(
            "activityLogAlerts",
            ("2023-01-01-preview", "2020-10-01", "2017-04-01"),
            GLOBAL,
            "SupportsTags, SupportsLocation",
        ),
        ResourceTypeSpec(
            "metricAlerts",
            ("2024-03-01-preview", "2018-03-01", "2017-09-01-preview"),
            GLOBAL,
            "SupportsTags, SupportsLocation",
        ),
        (
            "scheduledQueryRules",
            (
                "2025-01-01-preview",
                "2024-01-01-preview",
                "2023-12-01",
                "2023-03-15-preview",
                "2022-08-01-preview",
                "2021-08-01",
                "2021-02-01-preview",
                "2020-05-01-preview",
                "2018-04-16",
            ),
        ),
        ("metrics", ("2024-02-01", "2023-10-01", "2021-05-01", "2019-07-01", "2018-01-01")),
        ("metricDefinitions", ("2024-02-01", "2023-10-01", "2021-05-01", "2018-01-01")),
        ("eventtypes", ("2017-03-01-preview", "2015-04-01")),
    ),
    "Microsoft.OperationalInsights": _types(
        (
            "workspaces",
            (
                "2025-02-01",
                "2023-09-01",
                "2022-10-01",
                "2021-12-01-preview",
                "2021-06-01",
                "2020-08-01",
                "2020-03-01-preview",
                "2015-11-01-preview",
            ),
        ),
    ),
    "Microsoft.RecoveryServices": _types(
        ("vaults", _RECOVERY_VAULTS),
        ("vaults/backupJobs", _BACKUP),
        ("vaults/backupPolicies", _BACKUP),
        ("vaults/backupProtectedItems", _BACKUP),
        ("vaults/backupFabrics", _BACKUP),
    ),
    "Microsoft.Compute": _types(
        ("virtualMachines", _COMPUTE),
        ("virtualMachines/extensions", _COMPUTE),
        ("disks", _DISKS),
        ("snapshots", _DISKS),
    ),
    "Microsoft.Network": _types(
        ("virtualNetworks", _NETWORK),
        ("virtualNetworks/subnets", _NETWORK),
        ("networkInterfaces", _NETWORK),
        ("networkSecurityGroups", _NETWORK),
        ("networkSecurityGroups/securityRules", _NETWORK),
        ("publicIPAddresses", _NETWORK),
        ResourceTypeSpec("privateDnsZones", _PRIVATE_DNS, GLOBAL, "SupportsTags, SupportsLocation"),
        ResourceTypeSpec("privateDnsZones/virtualNetworkLinks", _PRIVATE_DNS, GLOBAL, "SupportsTags, SupportsLocation"),
        ResourceTypeSpec("privateDnsZones/A", _PRIVATE_DNS, GLOBAL, "None"),
    ),
    "Microsoft.Cache": _types(("Redis", _REDIS), ("Redis/firewallRules", _REDIS)),
    "Microsoft.ServiceBus": _types(
        ("namespaces", _SERVICE_BUS),
        ("namespaces/queues", _SERVICE_BUS),
        ("namespaces/topics", _SERVICE_BUS),
        ("namespaces/topics/subscriptions", _SERVICE_BUS),
    ),
    "Microsoft.Cdn": _types(
        ResourceTypeSpec("profiles", _CDN, GLOBAL, "SupportsTags, SupportsLocation"),
        ResourceTypeSpec("profiles/endpoints", _CDN, GLOBAL, "SupportsTags, SupportsLocation"),
        ResourceTypeSpec("profiles/afdEndpoints", _CDN, GLOBAL, "SupportsTags, SupportsLocation"),
    ),
    "Microsoft.ManagedIdentity": _types(
        (
            "userAssignedIdentities",
            (
                "2024-11-30",
                "2023-07-31-preview",
                "2023-01-31",
                "2022-01-31-preview",
                "2021-09-30-preview",
                "2018-11-30",
                "2015-08-31-preview",
            ),
        ),
    ),
    "Microsoft.AlertsManagement": _types(
        ResourceTypeSpec("alerts", _ALERTS, GLOBAL, "None"),
        ResourceTypeSpec("alertsSummary", _ALERTS, GLOBAL, "None"),
        ResourceTypeSpec("smartGroups", _ALERTS, GLOBAL, "None"),
    ),
    "Microsoft.CostManagement": _types(
        ResourceTypeSpec("query", _COST, (), "None"),
        ResourceTypeSpec("budgets", _COST, (), "None"),
        ResourceTypeSpec("forecast", _COST, (), "None"),
    ),
    "Microsoft.Consumption": _types(
        ResourceTypeSpec("budgets", _CONSUMPTION, (), "None"),
        ResourceTypeSpec("usageDetails", _CONSUMPTION, (), "None"),
    ),
    "Microsoft.Resources": _types(
        ResourceTypeSpec("subscriptions", _RESOURCES, (), "None"),
        ResourceTypeSpec("resourceGroups", _RESOURCES, REGIONS, "SupportsTags, SupportsLocation"),
        ResourceTypeSpec("subscriptions/resourceGroups", _RESOURCES, (), "None"),
        ResourceTypeSpec("subscriptions/resources", _RESOURCES, (), "None"),
        ResourceTypeSpec("tags", _RESOURCES, (), "SupportsExtension"),
        ResourceTypeSpec("providers", _RESOURCES, (), "None"),
        ResourceTypeSpec("operations", _RESOURCES, (), "None"),
    ),
}
"""What Azure lists for each namespace the local Azure serves (types beyond the seed included)."""

FALLBACK_API_VERSIONS = ("2024-01-01", "2023-01-01")
"""For a type the catalog does not name (a document put into the store by hand)."""


def _split(full_type: str) -> tuple[str, str]:
    namespace, _, type_name = full_type.partition("/")
    return namespace, type_name


class ProviderRegistry:
    """The provider documents for a set of held resource types, merged with the catalog."""

    def __init__(self, held_types: Iterable[str]) -> None:
        self._namespaces: dict[str, str] = {}
        self._types: dict[str, dict[str, ResourceTypeSpec]] = {}
        for namespace, specs in CATALOG.items():
            self._namespaces[namespace.lower()] = namespace
            self._types[namespace.lower()] = {spec.resource_type.lower(): spec for spec in specs}
        for full_type in held_types:
            namespace, type_name = _split(full_type)
            if not type_name:
                continue
            known = self._types.setdefault(namespace.lower(), {})
            self._namespaces.setdefault(namespace.lower(), namespace)
            if type_name.lower() not in known:
                versions = next(iter(known.values())).api_versions if known else FALLBACK_API_VERSIONS
                known[type_name.lower()] = ResourceTypeSpec(type_name, versions)

    def namespaces(self) -> list[str]:
        """Every namespace, sorted case-insensitively as ARM lists them."""
        return sorted(self._namespaces.values(), key=str.lower)

    def canonical(self, namespace: str) -> str | None:
        """The namespace as ARM spells it, or None when the local Azure has no such provider."""
        return self._namespaces.get(namespace.lower())

    def api_versions(self, full_type: str) -> tuple[str, ...]:
        """The api-versions of `Namespace/type[/child]`, newest first (empty when unknown)."""
        namespace, type_name = _split(full_type)
        spec = self._types.get(namespace.lower(), {}).get(type_name.lower())
        return spec.api_versions if spec else ()

    def document(self, namespace: str, subscription_id: str | None) -> dict[str, Any]:
        """The `Provider` body for one namespace, at subscription scope or (None) at tenant scope."""
        canonical = self.canonical(namespace)
        if canonical is None:
            raise KeyError(namespace)
        specs = sorted(self._types[canonical.lower()].values(), key=lambda spec: spec.resource_type.lower())
        resource_types = [
            {
                "resourceType": spec.resource_type,
                "locations": list(spec.locations),
                "apiVersions": list(spec.api_versions),
                "defaultApiVersion": next((v for v in spec.api_versions if "-" not in v[10:]), spec.api_versions[0]),
                "capabilities": spec.capabilities,
            }
            for spec in specs
        ]
        if subscription_id is None:
            return {"id": f"/providers/{canonical}", "namespace": canonical, "resourceTypes": resource_types}
        return {
            "id": f"/subscriptions/{subscription_id}/providers/{canonical}",
            "namespace": canonical,
            "registrationState": "Registered",
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": resource_types,
        }
