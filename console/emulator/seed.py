"""The ARM side of the demo estate: subscriptions, resource groups and resources as ARM answers them.

Every object here is the JSON body that `GET {resourceId}` returns from Azure Resource Manager for
that resource, built from the fixed names in `estate` so that the telemetry seed and the traffic
generator describe the same estate. The output depends only on `now`: identifiers that Azure
would generate (principal ids, instrumentation keys, disk suffixes) are name-based UUIDs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from console.emulator import estate, story

Json = dict[str, Any]

# Names the alert and cost seeds can refer to; they live here because only the ARM seed needs
# them to build resources, everything else only references them.
ACTION_GROUP_NAME = "ag-sre-oncall"
APP_SERVICE_PLANS = {
    estate.PROD_SUBSCRIPTION: ("rg-prod-web", "asp-web-prod-weu", "P1v3"),
    estate.NONPROD_SUBSCRIPTION: ("rg-staging-web", "asp-web-stg-weu", "S1"),
}

_ID_NAMESPACE = uuid.UUID("0b6f3a52-7c1e-4d5a-9f38-2e4c6a8b1d07")
_SEED_USER = "platform-automation@contoso.com"

_COST_CENTERS = {"web-platform": "CC-4100", "data": "CC-4200", "sre": "CC-4300", "network": "CC-4400"}

_REGION_DISPLAY = {"westeurope": "West Europe", "northeurope": "North Europe", "eastus": "East US"}

_PLAN_SKUS: dict[str, Json] = {
    "P1v3": {"name": "P1v3", "tier": "PremiumV3", "size": "P1v3", "family": "Pv3", "capacity": 2},
    "S1": {"name": "S1", "tier": "Standard", "size": "S1", "family": "S", "capacity": 1},
}


def arm_resource_id(subscription_id: str, resource_group: str, resource_type: str, name: str) -> str:
    """Build a canonical ARM id; nested types (`ns/a/b`) take slash-separated names (`x/y`)."""
    namespace, *type_segments = resource_type.split("/")
    name_segments = name.split("/")
    if len(type_segments) != len(name_segments):
        raise ValueError(f"Resource type {resource_type!r} needs {len(type_segments)} name parts, got {name!r}.")
    path = "/".join(f"{kind}/{part}" for kind, part in zip(type_segments, name_segments, strict=True))
    return f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{namespace}/{path}"


def subscriptions() -> list[Json]:
    """ARM JSON for every seeded subscription, as `GET /subscriptions` lists them."""
    return [
        {
            "id": f"/subscriptions/{spec.subscription_id}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": spec.subscription_id,
            "tenantId": estate.TENANT_ID,
            "displayName": spec.display_name,
            "state": spec.state,
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "EnterpriseAgreement_2014-09-01",
                "spendingLimit": "Off",
            },
            "tags": {"environment": "prod" if spec.subscription_id == estate.PROD_SUBSCRIPTION else "nonprod"},
        }
        for spec in estate.SUBSCRIPTIONS
    ]


def resource_groups() -> list[Json]:
    """ARM JSON for every seeded resource group, as `GET .../resourcegroups/{name}` returns it."""
    return [
        {
            "id": f"/subscriptions/{spec.subscription_id}/resourceGroups/{spec.name}",
            "name": spec.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": spec.location,
            "tags": dict(spec.tags),
            "properties": {"provisioningState": "Succeeded"},
        }
        for spec in estate.RESOURCE_GROUPS
    ]


def seed_resources(now: datetime) -> list[Json]:
    """Every resource of the demo estate as ARM JSON; timestamps are derived from `now`."""
    seed = _EstateSeed(now)
    builders: tuple[Callable[[], None], ...] = (
        seed.identities,
        seed.app_service,
        seed.data_services,
        seed.monitoring,
        seed.backup,
        seed.networking,
        seed.virtual_machines,
        seed.edge,
    )
    for build in builders:
        build()
    return seed.resources


STICKY_APP_SETTINGS = ("ENVIRONMENT_NAME", "WARMUP_PATH")
"""App settings every seeded web app keeps with its slot on a swap (`config/slotConfigNames`)."""
STICKY_CONNECTION_STRINGS = ("OrdersDb",)
"""Connection strings every seeded web app keeps with its slot on a swap."""


def web_app_content(now: datetime) -> list[tuple[str, Json]]:
    """Per slot of each seeded web app (production included), what Azure keeps beside the site document:
    app settings, connection strings and deployment history, as `(slot resource id, body)`. The
    production entry also holds the app's slot configuration names."""
    found: list[tuple[str, Json]] = []
    for index, app in enumerate(estate.WEB_APPS):
        short = app.name.removeprefix("app-")
        for position, (slot, build) in enumerate(app.builds_by_slot.items()):
            slot_id = app.resource_id if slot == "production" else f"{app.resource_id}/slots/{slot}"
            database = "psql-orders-prod" if app.subscription_id == estate.PROD_SUBSCRIPTION else "psql-orders-stg"
            app_settings = {
                "APP_VERSION": build,
                "WEBSITES_PORT": "8080",
                "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                    f"InstrumentationKey={_guid('ikey', app.name)};IngestionEndpoint="
                    "https://westeurope-5.in.applicationinsights.azure.com/"
                ),
                "FEATURE_FLAGS": "" if slot == "production" else f"{short}-next",
                "ENVIRONMENT_NAME": slot,
                "WARMUP_PATH": "/health" if slot == "production" else f"/health?slot={slot}",
            }
            connection_strings = {
                "OrdersDb": {
                    "value": (
                        f"Host={database}.postgres.database.azure.com;Database=orders_{slot};"
                        f"Username={short}_{slot};Password={_guid('password', slot_id)[:18]}"
                    ),
                    "type": "PostgreSQL",
                },
                "Sessions": {
                    "value": f"redis-sessions-prod.redis.cache.windows.net:6380,ssl=True,password={_guid('redis')}",
                    "type": "Custom",
                },
            }
            deployments = []
            for age, old_build in enumerate((build, *_previous_builds(build))):
                moment = now - timedelta(days=1 + 3 * age, hours=index + position, minutes=17)
                deployment_id = _guid("deployment", slot_id, str(age)).replace("-", "")[:20]
                deployments.append(
                    {
                        "id": f"{slot_id}/deployments/{deployment_id}",
                        "name": deployment_id,
                        "type": "Microsoft.Web/sites/deployments"
                        if slot == "production"
                        else "Microsoft.Web/sites/slots/deployments",
                        "properties": {
                            "status": 4,
                            "message": f"Deploy {app.image}:{old_build} to {slot}",
                            "author": "release-pipeline",
                            "deployer": "GitHub Actions",
                            "author_email": _SEED_USER,
                            "start_time": _arm_time(moment),
                            "end_time": _arm_time(moment + timedelta(seconds=94)),
                            "active": age == 0,
                            "details": f"{app.linux_fx_version(old_build)}",
                        },
                    }
                )
            body: Json = {"appSettings": app_settings, "connectionStrings": connection_strings}
            body["deployments"] = deployments
            if slot == "production":
                body["slotConfigNames"] = {
                    "appSettingNames": list(STICKY_APP_SETTINGS),
                    "connectionStringNames": list(STICKY_CONNECTION_STRINGS),
                    "azureStorageConfigNames": [],
                }
            found.append((slot_id, body))
    return found


def _previous_builds(build: str) -> tuple[str, ...]:
    """The two builds before `build` in the estate's list, for a slot's deployment history."""
    names = list(estate.BUILDS)
    at = names.index(build) if build in names else 0
    return tuple(names[(at - step) % len(names)] for step in (1, 2))


def _runbook_tags(rule: str) -> dict[str, str]:
    """The tags that name the runbook investigating an alert rule and the app it is about."""
    runbook, app = story.ALERT_RULE_RUNBOOKS.get(rule, ("", ""))
    tags = {"runbook": runbook} if runbook else {}
    if app:
        tags["runbook-app"] = app
    return tags


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


def _arm_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _group(subscription_id: str, resource_group: str) -> estate.ResourceGroupSpec:
    for spec in estate.RESOURCE_GROUPS:
        if spec.subscription_id == subscription_id and spec.name == resource_group:
            return spec
    raise ValueError(f"Resource group {resource_group!r} is not part of the demo estate.")


def _tags(group: estate.ResourceGroupSpec, app: str, **extra: str) -> dict[str, str]:
    owner = group.tags.get("owner", "sre")
    return {
        "env": group.tags.get("env", "prod"),
        "owner": owner,
        "costCenter": _COST_CENTERS.get(owner, "CC-4000"),
        "app": app,
        **extra,
    }


def _default_security_rules(nsg_id: str) -> list[Json]:
    defaults = (
        ("AllowVnetInBound", "Inbound", "Allow", 65000, "VirtualNetwork", "VirtualNetwork"),
        ("AllowAzureLoadBalancerInBound", "Inbound", "Allow", 65001, "AzureLoadBalancer", "*"),
        ("DenyAllInBound", "Inbound", "Deny", 65500, "*", "*"),
        ("AllowVnetOutBound", "Outbound", "Allow", 65000, "VirtualNetwork", "VirtualNetwork"),
        ("AllowInternetOutBound", "Outbound", "Allow", 65001, "*", "Internet"),
        ("DenyAllOutBound", "Outbound", "Deny", 65500, "*", "*"),
    )
    return [
        {
            "name": name,
            "id": f"{nsg_id}/defaultSecurityRules/{name}",
            "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
            "properties": {
                "provisioningState": "Succeeded",
                "description": f"Default rule {name}",
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": source,
                "destinationAddressPrefix": destination,
                "access": access,
                "priority": priority,
                "direction": direction,
                "sourcePortRanges": [],
                "destinationPortRanges": [],
                "sourceAddressPrefixes": [],
                "destinationAddressPrefixes": [],
            },
        }
        for name, direction, access, priority, source, destination in defaults
    ]


class _EstateSeed:
    """Accumulates resources; one method per area of the estate."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.resources: list[Json] = []

    # -- shared plumbing -------------------------------------------------------------------------

    def _system_data(self, age_days: int) -> Json:
        created = self.now - timedelta(days=age_days, hours=3)
        modified = self.now - timedelta(days=min(age_days, 6), hours=1)
        return {
            "createdBy": _SEED_USER,
            "createdByType": "User",
            "createdAt": _arm_time(created),
            "lastModifiedBy": _SEED_USER,
            "lastModifiedByType": "User",
            "lastModifiedAt": _arm_time(modified),
        }

    def _add(
        self,
        subscription_id: str,
        resource_group: str,
        resource_type: str,
        name: str,
        *,
        app: str,
        properties: Json,
        location: str | None = None,
        kind: str | None = None,
        sku: Json | None = None,
        identity: Json | None = None,
        zones: list[str] | None = None,
        managed_by: str | None = None,
        etag: str | None = None,
        extra_tags: dict[str, str] | None = None,
        age_days: int = 180,
    ) -> str:
        group = _group(subscription_id, resource_group)
        resource_id = arm_resource_id(subscription_id, resource_group, resource_type, name)
        body: Json = {"id": resource_id, "name": name, "type": resource_type}
        if kind is not None:
            body["kind"] = kind
        body["location"] = location or group.location
        body["tags"] = _tags(group, app, **(extra_tags or {}))
        if sku is not None:
            body["sku"] = sku
        if zones is not None:
            body["zones"] = zones
        if identity is not None:
            body["identity"] = identity
        if managed_by is not None:
            body["managedBy"] = managed_by
        if etag is not None:
            body["etag"] = etag
        body["properties"] = properties
        body["systemData"] = self._system_data(age_days)
        self.resources.append(body)
        return resource_id

    def _system_identity(self, resource_id: str) -> Json:
        return {
            "type": "SystemAssigned",
            "principalId": _guid("principal", resource_id),
            "tenantId": estate.TENANT_ID,
        }

    def _etag(self, resource_id: str) -> str:
        return f'W/"{_guid("etag", resource_id)}"'

    # -- identities ------------------------------------------------------------------------------

    def identities(self) -> None:
        """User-assigned identities the web apps use to reach Key Vault and PostgreSQL."""
        for subscription_id, resource_group, name in (
            (estate.PROD_SUBSCRIPTION, "rg-prod-web", "id-web-prod"),
            (estate.NONPROD_SUBSCRIPTION, "rg-staging-web", "id-web-stg"),
        ):
            resource_id = arm_resource_id(
                subscription_id, resource_group, "Microsoft.ManagedIdentity/userAssignedIdentities", name
            )
            self._add(
                subscription_id,
                resource_group,
                "Microsoft.ManagedIdentity/userAssignedIdentities",
                name,
                app="shared",
                properties={
                    "tenantId": estate.TENANT_ID,
                    "principalId": _guid("principal", resource_id),
                    "clientId": _guid("client", resource_id),
                    "isolationScope": "None",
                },
                age_days=400,
            )

    # -- App Service -----------------------------------------------------------------------------

    def app_service(self) -> None:
        """App Service plans, the web apps of `estate.WEB_APPS` and each non-production slot."""
        plan_ids: dict[str, str] = {}
        for subscription_id, (resource_group, plan_name, sku_name) in APP_SERVICE_PLANS.items():
            sites_on_plan = [app for app in estate.WEB_APPS if app.subscription_id == subscription_id]
            group = _group(subscription_id, resource_group)
            sku = dict(_PLAN_SKUS[sku_name])
            plan_ids[subscription_id] = self._add(
                subscription_id,
                resource_group,
                "Microsoft.Web/serverfarms",
                plan_name,
                app="shared",
                kind="linux",
                sku=sku,
                properties={
                    "name": plan_name,
                    "status": "Ready",
                    "geoRegion": _REGION_DISPLAY[group.location],
                    "numberOfWorkers": sku["capacity"],
                    "currentNumberOfWorkers": sku["capacity"],
                    "maximumNumberOfWorkers": 30,
                    "numberOfSites": len(sites_on_plan),
                    "perSiteScaling": False,
                    "elasticScaleEnabled": False,
                    "maximumElasticWorkerCount": 1,
                    "isSpot": False,
                    "reserved": True,
                    "isXenon": False,
                    "hyperV": False,
                    "targetWorkerCount": 0,
                    "targetWorkerSizeId": 0,
                    "zoneRedundant": False,
                    "kind": "linux",
                    "resourceGroup": resource_group,
                    "provisioningState": "Succeeded",
                },
                age_days=420,
            )
        for index, app in enumerate(estate.WEB_APPS):
            plan_id = plan_ids[app.subscription_id]
            plan_tier = str(_PLAN_SKUS[APP_SERVICE_PLANS[app.subscription_id][2]]["tier"])
            production_build = app.builds_by_slot["production"]
            self._add_site(app, index, plan_id, plan_tier, slot=None, build=production_build)
            for slot, build in app.builds_by_slot.items():
                if slot != "production":
                    self._add_site(app, index, plan_id, plan_tier, slot=slot, build=build)

    def _add_site(
        self,
        app: estate.WebAppSpec,
        index: int,
        plan_id: str,
        plan_tier: str,
        *,
        slot: str | None,
        build: str,
    ) -> None:
        host_prefix = app.name if slot is None else f"{app.name}-{slot}"
        host = f"{host_prefix}.azurewebsites.net"
        scm_host = f"{host_prefix}.scm.azurewebsites.net"
        outbound = [f"20.105.{40 + index}.{octet}" for octet in (11, 27, 58, 91)]
        inbound = f"20.50.2.{80 + index}"
        is_production_app = app.subscription_id == estate.PROD_SUBSCRIPTION
        resource_type = "Microsoft.Web/sites" if slot is None else "Microsoft.Web/sites/slots"
        name = app.name if slot is None else f"{app.name}/{slot}"
        resource_id = arm_resource_id(app.subscription_id, app.resource_group, resource_type, name)
        insights_name = "appi-" + app.name.removeprefix("app-")
        properties: Json = {
            "name": name,
            "state": "Running",
            "hostNames": [host],
            "webSpace": f"{app.resource_group}-WestEuropewebspace-Linux",
            "repositorySiteName": app.name,
            "owner": None,
            "usageState": "Normal",
            "enabled": True,
            "adminEnabled": True,
            "enabledHostNames": [host, scm_host],
            "availabilityState": "Normal",
            "hostNameSslStates": [
                {"name": host, "sslState": "Disabled", "hostType": "Standard"},
                {"name": scm_host, "sslState": "Disabled", "hostType": "Repository"},
            ],
            "serverFarmId": plan_id,
            "reserved": True,
            "isXenon": False,
            "hyperV": False,
            "lastModifiedTimeUtc": _arm_time(self.now - timedelta(days=2, hours=index)),
            "storageRecoveryDefaultState": "Running",
            "contentAvailabilityState": "Normal",
            "runtimeAvailabilityState": "Normal",
            "vnetRouteAllEnabled": is_production_app,
            "siteConfig": {
                "numberOfWorkers": 1,
                "linuxFxVersion": app.linux_fx_version(build),
                "alwaysOn": True,
                "http20Enabled": True,
                "minTlsVersion": "1.2",
                "scmMinTlsVersion": "1.2",
                "ftpsState": "Disabled",
                "healthCheckPath": "/health",
                "acrUseManagedIdentityCreds": False,
                "functionAppScaleLimit": 0,
                "minimumElasticInstanceCount": 0,
            },
            "deploymentId": host_prefix,
            "trafficManagerHostNames": None,
            "sku": plan_tier,
            "scmSiteAlsoStopped": False,
            "targetSwapSlot": None,
            "clientAffinityEnabled": False,
            "clientCertEnabled": False,
            "clientCertMode": "Required",
            "hostNamesDisabled": False,
            "customDomainVerificationId": _guid("domain-verification", app.subscription_id).replace("-", "").upper(),
            "outboundIpAddresses": ",".join(outbound),
            "possibleOutboundIpAddresses": ",".join(outbound + [f"20.105.{40 + index}.{o}" for o in (120, 144)]),
            "containerSize": 0,
            "dailyMemoryTimeQuota": 0,
            "resourceGroup": app.resource_group,
            "defaultHostName": host,
            "slotSwapStatus": None,
            "httpsOnly": True,
            "redundancyMode": "None",
            "publicNetworkAccess": "Enabled",
            "keyVaultReferenceIdentity": "SystemAssigned",
            "inboundIpAddress": inbound,
            "provisioningState": "Succeeded",
        }
        self._add(
            app.subscription_id,
            app.resource_group,
            resource_type,
            name,
            app=app.name,
            kind="app,linux",
            location=app.location,
            identity=self._system_identity(resource_id),
            properties=properties,
            extra_tags={
                "slot": slot or "production",
                "hidden-link: /app-insights-resource-id": arm_resource_id(
                    app.subscription_id,
                    "rg-monitoring" if is_production_app else app.resource_group,
                    "Microsoft.Insights/components",
                    insights_name,
                ),
            },
            age_days=300 if slot is None else 120,
        )

    # -- data ------------------------------------------------------------------------------------

    def data_services(self) -> None:
        """Key Vaults, PostgreSQL flexible servers, storage accounts, Service Bus and Redis."""
        self._key_vault(estate.PROD_SUBSCRIPTION, "rg-prod-data", "kv-prod-shared", public=False)
        self._key_vault(estate.NONPROD_SUBSCRIPTION, "rg-staging-data", "kv-stg-shared", public=True)
        self._postgres(estate.PROD_SUBSCRIPTION, "rg-prod-data", "psql-orders-prod", production=True)
        self._postgres(estate.NONPROD_SUBSCRIPTION, "rg-staging-data", "psql-orders-stg", production=False)
        self._storage(estate.PROD_SUBSCRIPTION, "rg-prod-data", "stcatalogprod", "Standard_GRS", app="app-catalog-prod")
        self._storage(estate.PROD_SUBSCRIPTION, "rg-monitoring", "stopsdiagprod", "Standard_LRS", app="monitoring")
        self._storage(estate.NONPROD_SUBSCRIPTION, "rg-staging-data", "stcatalogstg", "Standard_LRS", app="app-catalog")
        self._storage(estate.NONPROD_SUBSCRIPTION, "rg-dev-sandbox", "stsandboxdev01", "Standard_LRS", app="sandbox")
        self._service_bus(estate.PROD_SUBSCRIPTION, "rg-prod-data", "sb-orders-prod")
        self._redis(estate.PROD_SUBSCRIPTION, "rg-prod-data", "redis-sessions-prod")

    def _key_vault(self, subscription_id: str, resource_group: str, name: str, *, public: bool) -> None:
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.KeyVault/vaults",
            name,
            app="shared",
            properties={
                "sku": {"family": "A", "name": "standard"},
                "tenantId": estate.TENANT_ID,
                "accessPolicies": [],
                "enabledForDeployment": False,
                "enabledForDiskEncryption": False,
                "enabledForTemplateDeployment": False,
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": 90,
                "enableRbacAuthorization": True,
                "enablePurgeProtection": True,
                "vaultUri": f"https://{name}.vault.azure.net/",
                "provisioningState": "Succeeded",
                "publicNetworkAccess": "Enabled" if public else "Disabled",
                "networkAcls": {
                    "bypass": "AzureServices",
                    "defaultAction": "Allow" if public else "Deny",
                    "ipRules": [],
                    "virtualNetworkRules": [],
                },
            },
            age_days=500,
        )

    def _postgres(self, subscription_id: str, resource_group: str, name: str, *, production: bool) -> None:
        network: Json
        if production:
            network = {
                "publicNetworkAccess": "Disabled",
                "delegatedSubnetResourceId": arm_resource_id(
                    subscription_id, "rg-prod-network", "Microsoft.Network/virtualNetworks", "vnet-prod-weu"
                )
                + "/subnets/snet-postgres",
                "privateDnsZoneArmResourceId": arm_resource_id(
                    subscription_id,
                    "rg-prod-network",
                    "Microsoft.Network/privateDnsZones",
                    "privatelink.postgres.database.azure.com",
                ),
            }
        else:
            network = {"publicNetworkAccess": "Enabled"}
        retention_days = 14 if production else 7
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.DBforPostgreSQL/flexibleServers",
            name,
            app="orders",
            sku={
                "name": "Standard_D4ds_v5" if production else "Standard_B2s",
                "tier": "GeneralPurpose" if production else "Burstable",
            },
            properties={
                "administratorLogin": "ordersadmin",
                # Returned here on purpose: the console must prove it masks secret-looking keys.
                "administratorLoginPassword": f"Ord3rs!{_guid('psql-password', name)[:13]}",
                "version": "16",
                "minorVersion": "4",
                "state": "Ready",
                "fullyQualifiedDomainName": f"{name}.postgres.database.azure.com",
                "storage": {
                    "storageSizeGB": 256 if production else 32,
                    "autoGrow": "Enabled" if production else "Disabled",
                    "tier": "P15" if production else "P4",
                    "iops": 1100 if production else 120,
                    "type": "",
                },
                "authConfig": {
                    "activeDirectoryAuth": "Enabled",
                    "passwordAuth": "Enabled",
                    "tenantId": estate.TENANT_ID,
                },
                "dataEncryption": {"type": "SystemManaged"},
                "backup": {
                    "backupRetentionDays": retention_days,
                    "geoRedundantBackup": "Enabled" if production else "Disabled",
                    "earliestRestoreDate": _arm_time(self.now - timedelta(days=retention_days)),
                },
                "network": network,
                "highAvailability": (
                    {"mode": "ZoneRedundant", "state": "Healthy", "standbyAvailabilityZone": "2"}
                    if production
                    else {"mode": "Disabled", "state": "NotEnabled"}
                ),
                "maintenanceWindow": {
                    "customWindow": "Enabled",
                    "dayOfWeek": 0,
                    "startHour": 2,
                    "startMinute": 0,
                },
                "availabilityZone": "1",
                "replicationRole": "Primary",
                "replicaCapacity": 5,
                "replica": {"role": "Primary", "capacity": 5},
            },
            age_days=480,
        )

    def _storage(self, subscription_id: str, resource_group: str, name: str, sku_name: str, *, app: str) -> None:
        group = _group(subscription_id, resource_group)
        geo = sku_name.endswith("GRS")

        def endpoints(suffix: str) -> Json:
            return {
                service: f"https://{name}{suffix}.{service}.core.windows.net/"
                for service in ("dfs", "web", "blob", "queue", "table", "file")
            } | {"web": f"https://{name}{suffix}.z6.web.core.windows.net/"}

        properties: Json = {
            "dnsEndpointType": "Standard",
            "defaultToOAuthAuthentication": True,
            "publicNetworkAccess": "Enabled",
            "keyCreationTime": {
                "key1": _arm_time(self.now - timedelta(days=90)),
                "key2": _arm_time(self.now - timedelta(days=90)),
            },
            "allowCrossTenantReplication": False,
            "minimumTlsVersion": "TLS1_2",
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "isHnsEnabled": False,
            "networkAcls": {
                "bypass": "AzureServices",
                "virtualNetworkRules": [],
                "ipRules": [],
                "defaultAction": "Allow",
            },
            "supportsHttpsTrafficOnly": True,
            "encryption": {
                "requireInfrastructureEncryption": False,
                "services": {
                    "file": {"keyType": "Account", "enabled": True},
                    "blob": {"keyType": "Account", "enabled": True},
                },
                "keySource": "Microsoft.Storage",
            },
            "accessTier": "Hot",
            "provisioningState": "Succeeded",
            "creationTime": _arm_time(self.now - timedelta(days=365)),
            "primaryEndpoints": endpoints(""),
            "primaryLocation": group.location,
            "statusOfPrimary": "available",
        }
        if geo:
            properties |= {
                "secondaryLocation": "northeurope" if group.location == "westeurope" else "westus",
                "statusOfSecondary": "available",
                "secondaryEndpoints": {
                    k: v for k, v in endpoints("-secondary").items() if k in ("dfs", "web", "blob", "queue", "table")
                },
            }
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.Storage/storageAccounts",
            name,
            app=app,
            kind="StorageV2",
            sku={"name": sku_name, "tier": "Standard"},
            properties=properties,
            age_days=365,
        )

    def _service_bus(self, subscription_id: str, resource_group: str, name: str) -> None:
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.ServiceBus/namespaces",
            name,
            app="orders",
            sku={"name": "Standard", "tier": "Standard"},
            properties={
                "minimumTlsVersion": "1.2",
                "publicNetworkAccess": "Enabled",
                "disableLocalAuth": True,
                "zoneRedundant": True,
                "provisioningState": "Succeeded",
                "status": "Active",
                "metricId": f"{subscription_id}:{name}",
                "serviceBusEndpoint": f"https://{name}.servicebus.windows.net:443/",
                "createdAt": _arm_time(self.now - timedelta(days=330)),
                "updatedAt": _arm_time(self.now - timedelta(days=12)),
            },
            age_days=330,
        )

    def _redis(self, subscription_id: str, resource_group: str, name: str) -> None:
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.Cache/Redis",
            name,
            app="app-checkout-prod",
            properties={
                "provisioningState": "Succeeded",
                "redisVersion": "6.0.14",
                "sku": {"name": "Standard", "family": "C", "capacity": 1},
                "enableNonSslPort": False,
                "minimumTlsVersion": "1.2",
                "publicNetworkAccess": "Enabled",
                "redisConfiguration": {
                    "maxclients": "1000",
                    "maxmemory-reserved": "125",
                    "maxfragmentationmemory-reserved": "125",
                    "maxmemory-delta": "125",
                    "aad-enabled": "true",
                },
                "updateChannel": "Stable",
                "disableAccessKeyAuthentication": True,
                "hostName": f"{name}.redis.cache.windows.net",
                "port": 6379,
                "sslPort": 6380,
                "linkedServers": [],
                "instances": [
                    {"sslPort": 15000, "nonSslPort": 13000, "isMaster": True, "isPrimary": True},
                    {"sslPort": 15001, "nonSslPort": 13001, "isMaster": False, "isPrimary": False},
                ],
            },
            age_days=250,
        )

    # -- monitoring ------------------------------------------------------------------------------

    def monitoring(self) -> None:
        """The Log Analytics workspace, Application Insights, the action group and the alert rules."""
        self._add(
            estate.PROD_SUBSCRIPTION,
            estate.WORKSPACE_RESOURCE_GROUP,
            "Microsoft.OperationalInsights/workspaces",
            estate.WORKSPACE_NAME,
            app="monitoring",
            properties={
                "customerId": estate.WORKSPACE_CUSTOMER_ID,
                "provisioningState": "Succeeded",
                "sku": {"name": "PerGB2018", "lastSkuUpdate": _arm_time(self.now - timedelta(days=600))},
                "retentionInDays": 90,
                "features": {
                    "legacy": 0,
                    "searchVersion": 1,
                    "enableLogAccessUsingOnlyResourcePermissions": True,
                },
                "workspaceCapping": {
                    "dailyQuotaGb": -1.0,
                    "quotaNextResetTime": _arm_time(
                        self.now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
                    ),
                    "dataIngestionStatus": "RespectQuota",
                },
                "publicNetworkAccessForIngestion": "Enabled",
                "publicNetworkAccessForQuery": "Enabled",
                "createdDate": _arm_time(self.now - timedelta(days=600)),
                "modifiedDate": _arm_time(self.now - timedelta(days=30)),
            },
            etag=f'"{_guid("etag", estate.WORKSPACE_RESOURCE_ID)}"',
            age_days=600,
        )
        for app in estate.WEB_APPS:
            self._app_insights(app)
        action_group_id = self._action_group()
        self._metric_alerts(action_group_id)
        self._log_alerts(action_group_id)

    def _app_insights(self, app: estate.WebAppSpec) -> None:
        production = app.subscription_id == estate.PROD_SUBSCRIPTION
        resource_group = "rg-monitoring" if production else app.resource_group
        name = "appi-" + app.name.removeprefix("app-")
        resource_id = arm_resource_id(app.subscription_id, resource_group, "Microsoft.Insights/components", name)
        instrumentation_key = _guid("ikey", resource_id)
        app_id = _guid("appid", resource_id)
        self._add(
            app.subscription_id,
            resource_group,
            "Microsoft.Insights/components",
            name,
            app=app.name,
            kind="web",
            location=app.location,
            properties={
                "ApplicationId": name,
                "AppId": app_id,
                "Application_Type": "web",
                "Flow_Type": "Bluefield",
                "Request_Source": "rest",
                "InstrumentationKey": instrumentation_key,
                "ConnectionString": (
                    f"InstrumentationKey={instrumentation_key};"
                    f"IngestionEndpoint=https://{app.location}-5.in.applicationinsights.azure.com/;"
                    f"LiveEndpoint=https://{app.location}.livediagnostics.monitor.azure.com/;"
                    f"ApplicationId={app_id}"
                ),
                "Name": name,
                "CreationDate": _arm_time(self.now - timedelta(days=300)),
                "TenantId": app.subscription_id,
                "provisioningState": "Succeeded",
                "SamplingPercentage": None,
                "RetentionInDays": 90,
                "WorkspaceResourceId": estate.WORKSPACE_RESOURCE_ID,
                "IngestionMode": "LogAnalytics",
                "publicNetworkAccessForIngestion": "Enabled",
                "publicNetworkAccessForQuery": "Enabled",
                "Ver": "v2",
            },
            extra_tags={f"hidden-link:{app.resource_id}": "Resource"},
            age_days=300,
        )

    def _action_group(self) -> str:
        return self._add(
            estate.PROD_SUBSCRIPTION,
            "rg-monitoring",
            "Microsoft.Insights/actionGroups",
            ACTION_GROUP_NAME,
            app="monitoring",
            location="Global",
            properties={
                "groupShortName": "sre-oncall",
                "enabled": True,
                "emailReceivers": [
                    {
                        "name": "sre-team_-EmailAction-",
                        "emailAddress": "sre-oncall@contoso.com",
                        "useCommonAlertSchema": True,
                        "status": "Enabled",
                    },
                ],
                "smsReceivers": [],
                "webhookReceivers": [
                    {
                        "name": "pager",
                        "serviceUri": "https://events.pager.contoso.com/integration/azure",
                        "useCommonAlertSchema": True,
                        "useAadAuth": False,
                    },
                ],
                "eventHubReceivers": [],
                "itsmReceivers": [],
                "azureAppPushReceivers": [],
                "automationRunbookReceivers": [],
                "voiceReceivers": [],
                "logicAppReceivers": [],
                "azureFunctionReceivers": [],
                "armRoleReceivers": [
                    {
                        "name": "Monitoring Contributor",
                        "roleId": "749f88d5-cbae-40b8-bcfc-e573ddc772fa",
                        "useCommonAlertSchema": True,
                    },
                ],
            },
            age_days=400,
        )

    def _metric_alerts(self, action_group_id: str) -> None:
        checkout = story.incident_app()
        psql_id = arm_resource_id(
            estate.PROD_SUBSCRIPTION,
            "rg-prod-data",
            "Microsoft.DBforPostgreSQL/flexibleServers",
            "psql-orders-prod",
        )
        rules = (
            (
                "ma-checkout-http5xx",
                "Checkout is answering 5xx",
                1,
                checkout.resource_id,
                "Microsoft.Web/sites",
                "Http5xx",
                "Total",
                "GreaterThan",
                10.0,
            ),
            (
                "ma-checkout-availability",
                "Checkout fails its health check",
                0,
                checkout.resource_id,
                "Microsoft.Web/sites",
                "HealthCheckStatus",
                "Average",
                "LessThan",
                100.0,
            ),
            (
                "ma-checkout-response-time",
                "Checkout responds slowly",
                2,
                checkout.resource_id,
                "Microsoft.Web/sites",
                "HttpResponseTime",
                "Average",
                "GreaterThan",
                1.5,
            ),
            (
                "ma-psql-orders-cpu",
                "Orders database CPU is high",
                2,
                psql_id,
                "Microsoft.DBforPostgreSQL/flexibleServers",
                "cpu_percent",
                "Average",
                "GreaterThan",
                85.0,
            ),
        )
        for (
            name,
            description,
            severity,
            scope,
            target_type,
            metric,
            aggregation,
            operator,
            threshold,
        ) in rules:
            self._add(
                estate.PROD_SUBSCRIPTION,
                "rg-monitoring",
                "Microsoft.Insights/metricAlerts",
                name,
                app="monitoring",
                location="global",
                properties={
                    "description": description,
                    "severity": severity,
                    "enabled": True,
                    "scopes": [scope],
                    "evaluationFrequency": "PT1M",
                    "windowSize": "PT5M",
                    "templateType": 8,
                    "criteria": {
                        "allOf": [
                            {
                                "threshold": threshold,
                                "name": "Metric1",
                                "metricNamespace": target_type,
                                "metricName": metric,
                                "operator": operator,
                                "timeAggregation": aggregation,
                                "criterionType": "StaticThresholdCriterion",
                                "skipMetricValidation": False,
                                "dimensions": [],
                            }
                        ],
                        "odata.type": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    },
                    "autoMitigate": True,
                    "targetResourceType": target_type,
                    "targetResourceRegion": "westeurope",
                    "actions": [{"actionGroupId": action_group_id, "webHookProperties": {}}],
                    "lastUpdatedTime": _arm_time(self.now - timedelta(days=20)),
                },
                extra_tags=_runbook_tags(name),
                age_days=200,
            )

    def _log_alerts(self, action_group_id: str) -> None:
        rules = (
            (
                "sqr-checkout-failed-requests",
                "Checkout failed requests",
                1,
                "PT5M",
                "PT15M",
                f"AppRequests\n| where AppRoleName == '{story.INCIDENT_APP}' and Success == false",
                "Count",
                "GreaterThan",
                25.0,
            ),
            (
                "sqr-heartbeat-missing",
                "A virtual machine stopped sending heartbeats",
                2,
                "PT5M",
                "P1D",
                ("Heartbeat\n| summarize LastCall = max(TimeGenerated) by Computer\n| where LastCall < ago(10m)"),
                "Count",
                "GreaterThan",
                0.0,
            ),
            (
                "sqr-dependency-failures",
                "Outbound dependency failures",
                3,
                "PT15M",
                "PT30M",
                "AppDependencies\n| where Success == false",
                "Count",
                "GreaterThan",
                50.0,
            ),
        )
        for name, display_name, severity, frequency, window, query, aggregation, operator, threshold in rules:
            self._add(
                estate.PROD_SUBSCRIPTION,
                "rg-monitoring",
                "Microsoft.Insights/scheduledQueryRules",
                name,
                app="monitoring",
                kind="LogAlert",
                properties={
                    "createdWithApiVersion": "2023-12-01",
                    "displayName": display_name,
                    "description": display_name,
                    "severity": severity,
                    "enabled": True,
                    "evaluationFrequency": frequency,
                    "scopes": [estate.WORKSPACE_RESOURCE_ID],
                    "targetResourceTypes": ["Microsoft.OperationalInsights/workspaces"],
                    "windowSize": window,
                    "criteria": {
                        "allOf": [
                            {
                                "query": query,
                                "timeAggregation": aggregation,
                                "dimensions": [],
                                "operator": operator,
                                "threshold": threshold,
                                "failingPeriods": {
                                    "numberOfEvaluationPeriods": 1,
                                    "minFailingPeriodsToAlert": 1,
                                },
                            }
                        ],
                    },
                    "autoMitigate": True,
                    "actions": {"actionGroups": [action_group_id], "customProperties": {}},
                    "isLegacyLogAnalyticsRule": False,
                    "isWorkspaceAlertsStorageConfigured": False,
                    "checkWorkspaceAlertsStorageConfigured": False,
                    "skipQueryValidation": False,
                },
                extra_tags=_runbook_tags(name),
                age_days=200,
            )
        self._activity_log_alert(action_group_id)

    def _activity_log_alert(self, action_group_id: str) -> None:
        """Service health notices for the production subscription's regions."""
        self._add(
            estate.PROD_SUBSCRIPTION,
            "rg-monitoring",
            "Microsoft.Insights/activityLogAlerts",
            story.SERVICE_HEALTH_RULE,
            app="monitoring",
            location="Global",
            properties={
                "scopes": [f"/subscriptions/{estate.PROD_SUBSCRIPTION}"],
                "condition": {
                    "allOf": [
                        {"field": "category", "equals": "ServiceHealth"},
                        {
                            "field": "properties.impactedServices[*].ImpactedRegions[*].RegionName",
                            "containsAny": [
                                "West Europe",
                                "North Europe",
                            ],
                        },
                    ]
                },
                "actions": {"actionGroups": [{"actionGroupId": action_group_id, "webhookProperties": {}}]},
                "enabled": True,
                "description": "Azure service health notices for the regions production runs in",
            },
            age_days=300,
        )

    # -- backup ----------------------------------------------------------------------------------

    def backup(self) -> None:
        """The Recovery Services vaults: production's (its VMs and database) and non-production's."""
        self._recovery_vault(estate.PROD_SUBSCRIPTION, estate.RECOVERY_VAULT_RESOURCE_GROUP, estate.RECOVERY_VAULT_NAME)
        self._recovery_vault(
            estate.NONPROD_SUBSCRIPTION,
            estate.NONPROD_RECOVERY_VAULT_RESOURCE_GROUP,
            estate.NONPROD_RECOVERY_VAULT_NAME,
        )

    def _recovery_vault(self, subscription_id: str, resource_group: str, name: str) -> None:
        resource_id = arm_resource_id(subscription_id, resource_group, "Microsoft.RecoveryServices/vaults", name)
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.RecoveryServices/vaults",
            name,
            app="backup",
            sku={"name": "RS0", "tier": "Standard"},
            identity=self._system_identity(resource_id),
            etag=f"W/\"datetime'{_arm_time(self.now - timedelta(days=5)).replace(':', '%3A')}'\"",
            properties={
                "provisioningState": "Succeeded",
                "privateEndpointStateForBackup": "None",
                "privateEndpointStateForSiteRecovery": "None",
                "publicNetworkAccess": "Enabled",
                "redundancySettings": {
                    "standardTierStorageRedundancy": "GeoRedundant",
                    "crossRegionRestore": "Enabled",
                },
                "securitySettings": {
                    "immutabilitySettings": {"state": "Unlocked"},
                    "softDeleteSettings": {
                        "softDeleteState": "Enabled",
                        "softDeleteRetentionPeriodInDays": 14,
                        "enhancedSecurityState": "Enabled",
                    },
                    "multiUserAuthorization": "Disabled",
                },
                "monitoringSettings": {
                    "azureMonitorAlertSettings": {"alertsForAllJobFailures": "Enabled"},
                    "classicAlertSettings": {"alertsForCriticalOperations": "Disabled"},
                },
                "secureScore": "Adequate",
                "bcdrSecurityLevel": "Good",
            },
            age_days=520,
        )

    # -- networking ------------------------------------------------------------------------------

    def networking(self) -> None:
        """Virtual networks, network security groups and the jump host's public IP."""
        prod_nsg_mgmt = self._nsg(
            estate.PROD_SUBSCRIPTION,
            "rg-prod-network",
            "nsg-prod-mgmt",
            [("AllowSshFromCorpnet", 100, "Inbound", "Allow", "Tcp", "22", "203.0.113.0/24")],
            subnets=[("vnet-prod-weu", "snet-mgmt"), ("vnet-prod-weu", "snet-build")],
            nics=[
                ("rg-prod-network", "vm-jump-prod-01"),
                ("rg-prod-web", "vm-build-agent-01"),
                ("rg-prod-web", "vm-build-agent-02"),
            ],
        )
        prod_nsg_data = self._nsg(
            estate.PROD_SUBSCRIPTION,
            "rg-prod-network",
            "nsg-prod-data",
            [("AllowPostgresFromVnet", 100, "Inbound", "Allow", "Tcp", "5432", "VirtualNetwork")],
            subnets=[("vnet-prod-weu", "snet-postgres")],
            nics=[],
        )
        self._vnet(
            estate.PROD_SUBSCRIPTION,
            "rg-prod-network",
            "vnet-prod-weu",
            "10.10.0.0/16",
            [
                ("snet-mgmt", "10.10.0.0/24", prod_nsg_mgmt, None),
                ("snet-build", "10.10.1.0/24", prod_nsg_mgmt, None),
                ("snet-postgres", "10.10.2.0/24", prod_nsg_data, "Microsoft.DBforPostgreSQL/flexibleServers"),
                ("snet-appservice", "10.10.3.0/24", None, "Microsoft.Web/serverFarms"),
            ],
        )
        sandbox_nsg = self._nsg(
            estate.NONPROD_SUBSCRIPTION,
            "rg-dev-sandbox",
            "nsg-sandbox",
            [("AllowSshFromCorpnet", 100, "Inbound", "Allow", "Tcp", "22", "203.0.113.0/24")],
            subnets=[("vnet-sandbox-eus", "snet-default")],
            nics=[("rg-dev-sandbox", "vm-sandbox-01")],
        )
        self._vnet(
            estate.NONPROD_SUBSCRIPTION,
            "rg-dev-sandbox",
            "vnet-sandbox-eus",
            "10.30.0.0/16",
            [("snet-default", "10.30.0.0/24", sandbox_nsg, None)],
        )
        self._private_dns_zone(estate.PROD_SUBSCRIPTION, "rg-prod-network", "privatelink.postgres.database.azure.com")
        name = "pip-vm-jump-prod-01"
        nic_config = (
            self._nic_id(estate.PROD_SUBSCRIPTION, "rg-prod-network", "vm-jump-prod-01") + "/ipConfigurations/ipconfig1"
        )
        resource_id = arm_resource_id(
            estate.PROD_SUBSCRIPTION, "rg-prod-network", "Microsoft.Network/publicIPAddresses", name
        )
        self._add(
            estate.PROD_SUBSCRIPTION,
            "rg-prod-network",
            "Microsoft.Network/publicIPAddresses",
            name,
            app="jump-host",
            sku={"name": "Standard", "tier": "Regional"},
            zones=["1", "2", "3"],
            etag=self._etag(resource_id),
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": _guid("guid", resource_id),
                "ipAddress": "20.61.144.37",
                "publicIPAddressVersion": "IPv4",
                "publicIPAllocationMethod": "Static",
                "idleTimeoutInMinutes": 4,
                "ipTags": [],
                "ipConfiguration": {"id": nic_config},
                "ddosSettings": {"protectionMode": "VirtualNetworkInherited"},
            },
            age_days=450,
        )

    def _private_dns_zone(self, subscription_id: str, resource_group: str, name: str) -> None:
        resource_id = arm_resource_id(subscription_id, resource_group, "Microsoft.Network/privateDnsZones", name)
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.Network/privateDnsZones",
            name,
            app="network",
            location="global",
            etag=_guid("etag", resource_id),
            properties={
                "maxNumberOfRecordSets": 25000,
                "maxNumberOfVirtualNetworkLinks": 1000,
                "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
                "numberOfRecordSets": 2,
                "numberOfVirtualNetworkLinks": 1,
                "numberOfVirtualNetworkLinksWithRegistration": 0,
                "provisioningState": "Succeeded",
                "internalId": _guid("internal", resource_id),
            },
            age_days=480,
        )

    def _nsg(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        rules: list[tuple[str, int, str, str, str, str, str]],
        *,
        subnets: list[tuple[str, str]],
        nics: list[tuple[str, str]],
    ) -> str:
        resource_id = arm_resource_id(subscription_id, resource_group, "Microsoft.Network/networkSecurityGroups", name)
        security_rules = [
            {
                "name": rule_name,
                "id": f"{resource_id}/securityRules/{rule_name}",
                "etag": self._etag(f"{resource_id}/securityRules/{rule_name}"),
                "type": "Microsoft.Network/networkSecurityGroups/securityRules",
                "properties": {
                    "provisioningState": "Succeeded",
                    "protocol": protocol,
                    "sourcePortRange": "*",
                    "destinationPortRange": port,
                    "sourceAddressPrefix": source,
                    "destinationAddressPrefix": "*",
                    "access": access,
                    "priority": priority,
                    "direction": direction,
                    "sourcePortRanges": [],
                    "destinationPortRanges": [],
                    "sourceAddressPrefixes": [],
                    "destinationAddressPrefixes": [],
                },
            }
            for rule_name, priority, direction, access, protocol, port, source in rules
        ]
        # Subnets of these NSGs live in the network resource group of the same subscription.
        vnet_group = "rg-prod-network" if subscription_id == estate.PROD_SUBSCRIPTION else "rg-dev-sandbox"
        return self._add(
            subscription_id,
            resource_group,
            "Microsoft.Network/networkSecurityGroups",
            name,
            app="network",
            etag=self._etag(resource_id),
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": _guid("guid", resource_id),
                "securityRules": security_rules,
                "defaultSecurityRules": _default_security_rules(resource_id),
                "subnets": [
                    {
                        "id": arm_resource_id(subscription_id, vnet_group, "Microsoft.Network/virtualNetworks", vnet)
                        + f"/subnets/{subnet}"
                    }
                    for vnet, subnet in subnets
                ],
                "networkInterfaces": [{"id": self._nic_id(subscription_id, group, vm)} for group, vm in nics],
            },
            age_days=450,
        )

    def _vnet(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        address_space: str,
        subnets: list[tuple[str, str, str | None, str | None]],
    ) -> None:
        resource_id = arm_resource_id(subscription_id, resource_group, "Microsoft.Network/virtualNetworks", name)
        subnet_bodies: list[Json] = []
        for subnet_name, prefix, nsg_id, delegated_to in subnets:
            subnet_id = f"{resource_id}/subnets/{subnet_name}"
            subnet_properties: Json = {
                "provisioningState": "Succeeded",
                "addressPrefix": prefix,
                "delegations": [],
                "privateEndpointNetworkPolicies": "Disabled",
                "privateLinkServiceNetworkPolicies": "Enabled",
            }
            if nsg_id is not None:
                subnet_properties["networkSecurityGroup"] = {"id": nsg_id}
            if delegated_to is not None:
                delegation_name = delegated_to.split("/")[0].replace(".", "")
                subnet_properties["delegations"] = [
                    {
                        "name": delegation_name,
                        "id": f"{subnet_id}/delegations/{delegation_name}",
                        "etag": self._etag(f"{subnet_id}/delegations/{delegation_name}"),
                        "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
                        "properties": {
                            "provisioningState": "Succeeded",
                            "serviceName": delegated_to,
                            "actions": ["Microsoft.Network/virtualNetworks/subnets/join/action"],
                        },
                    }
                ]
            subnet_bodies.append(
                {
                    "name": subnet_name,
                    "id": subnet_id,
                    "etag": self._etag(subnet_id),
                    "type": "Microsoft.Network/virtualNetworks/subnets",
                    "properties": subnet_properties,
                }
            )
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.Network/virtualNetworks",
            name,
            app="network",
            etag=self._etag(resource_id),
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": _guid("guid", resource_id),
                "addressSpace": {"addressPrefixes": [address_space]},
                "subnets": subnet_bodies,
                "virtualNetworkPeerings": [],
                "enableDdosProtection": False,
            },
            age_days=500,
        )

    # -- compute ---------------------------------------------------------------------------------

    @staticmethod
    def _nic_id(subscription_id: str, resource_group: str, vm_name: str) -> str:
        return arm_resource_id(
            subscription_id, resource_group, "Microsoft.Network/networkInterfaces", f"{vm_name}-nic01"
        )

    def virtual_machines(self) -> None:
        """One VM per heartbeat computer in the estate, each with its OS disk and network interface."""
        for index, (vm_name, subscription_id, resource_group) in enumerate(estate.HEARTBEAT_COMPUTERS):
            self._virtual_machine(index, vm_name, subscription_id, resource_group)

    def _virtual_machine(self, index: int, vm_name: str, subscription_id: str, resource_group: str) -> None:
        group = _group(subscription_id, resource_group)
        production = subscription_id == estate.PROD_SUBSCRIPTION
        is_jump_host = vm_name.startswith("vm-jump")
        vm_size = "Standard_D4s_v5" if "build" in vm_name else "Standard_B2s"
        app = "build-agents" if "build" in vm_name else ("jump-host" if is_jump_host else "sandbox")
        vm_id = arm_resource_id(subscription_id, resource_group, "Microsoft.Compute/virtualMachines", vm_name)
        disk_name = f"{vm_name}_OsDisk_1_{_guid('disk', vm_id).replace('-', '')}"
        disk_id = arm_resource_id(subscription_id, resource_group, "Microsoft.Compute/disks", disk_name)
        nic_id = self._nic_id(subscription_id, resource_group, vm_name)
        vnet_group, vnet, subnet = (
            ("rg-prod-network", "vnet-prod-weu", "snet-mgmt" if is_jump_host else "snet-build")
            if production
            else ("rg-dev-sandbox", "vnet-sandbox-eus", "snet-default")
        )
        subnet_id = (
            arm_resource_id(subscription_id, vnet_group, "Microsoft.Network/virtualNetworks", vnet)
            + f"/subnets/{subnet}"
        )
        nsg_id = arm_resource_id(
            subscription_id,
            vnet_group,
            "Microsoft.Network/networkSecurityGroups",
            "nsg-prod-mgmt" if production else "nsg-sandbox",
        )
        zone = str(index % 3 + 1)
        image = {
            "publisher": "canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "latest",
            "exactVersion": "24.04.202510010",
        }
        created = _arm_time(self.now - timedelta(days=200 - index * 10))

        self._add(
            subscription_id,
            resource_group,
            "Microsoft.Compute/virtualMachines",
            vm_name,
            app=app,
            zones=[zone],
            identity=self._system_identity(vm_id),
            properties={
                "vmId": _guid("vmid", vm_id),
                "hardwareProfile": {"vmSize": vm_size},
                "storageProfile": {
                    "imageReference": image,
                    "osDisk": {
                        "osType": "Linux",
                        "name": disk_name,
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": {"storageAccountType": "Premium_LRS", "id": disk_id},
                        "deleteOption": "Delete",
                        "diskSizeGB": 64,
                    },
                    "dataDisks": [],
                    "diskControllerType": "SCSI",
                },
                "osProfile": {
                    "computerName": vm_name,
                    "adminUsername": "azureops",
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": True,
                        "ssh": {
                            "publicKeys": [
                                {
                                    "path": "/home/azureops/.ssh/authorized_keys",
                                    "keyData": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"
                                    + _guid("ssh", vm_id).replace("-", "")
                                    + " azureops@contoso",
                                }
                            ]
                        },
                        "provisionVMAgent": True,
                        "patchSettings": {
                            "patchMode": "AutomaticByPlatform",
                            "assessmentMode": "AutomaticByPlatform",
                        },
                    },
                    "secrets": [],
                    "allowExtensionOperations": True,
                    "requireGuestProvisionSignal": True,
                },
                "securityProfile": {
                    "uefiSettings": {"secureBootEnabled": True, "vTpmEnabled": True},
                    "securityType": "TrustedLaunch",
                },
                "networkProfile": {
                    "networkInterfaces": [{"id": nic_id, "properties": {"deleteOption": "Delete"}}],
                },
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
                "provisioningState": "Succeeded",
                "timeCreated": created,
            },
            age_days=200 - index * 10,
        )

        self._add(
            subscription_id,
            resource_group,
            "Microsoft.Compute/disks",
            disk_name,
            app=app,
            zones=[zone],
            managed_by=vm_id,
            sku={"name": "Premium_LRS", "tier": "Premium"},
            properties={
                "osType": "Linux",
                "hyperVGeneration": "V2",
                "supportsHibernation": True,
                "supportedCapabilities": {
                    "diskControllerTypes": "SCSI, NVMe",
                    "acceleratedNetwork": True,
                    "architecture": "x64",
                },
                "creationData": {
                    "createOption": "FromImage",
                    "imageReference": {
                        "id": f"/Subscriptions/{subscription_id}/Providers/Microsoft.Compute/Locations/"
                        f"{group.location}/Publishers/canonical/ArtifactTypes/VMImage/Offers/"
                        f"{image['offer']}/Skus/{image['sku']}/Versions/{image['exactVersion']}",
                    },
                },
                "diskSizeGB": 64,
                "diskIOPSReadWrite": 240,
                "diskMBpsReadWrite": 50,
                "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
                "networkAccessPolicy": "AllowAll",
                "publicNetworkAccess": "Enabled",
                "timeCreated": created,
                "provisioningState": "Succeeded",
                "diskState": "Attached",
                "diskSizeBytes": 64 * 1024**3,
                "uniqueId": _guid("disk-unique", disk_id),
                "tier": "P6",
            },
            age_days=200 - index * 10,
        )

        subnet_octet = 1 if production and not is_jump_host else 0
        private_ip = f"{'10.10' if production else '10.30'}.{subnet_octet}.{4 + index}"
        ip_configuration: Json = {
            "provisioningState": "Succeeded",
            "privateIPAddress": private_ip,
            "privateIPAllocationMethod": "Dynamic",
            "subnet": {"id": subnet_id},
            "primary": True,
            "privateIPAddressVersion": "IPv4",
        }
        if is_jump_host:
            ip_configuration["publicIPAddress"] = {
                "id": arm_resource_id(
                    subscription_id, resource_group, "Microsoft.Network/publicIPAddresses", f"pip-{vm_name}"
                )
            }
        nic_name = nic_id.rsplit("/", 1)[1]
        self._add(
            subscription_id,
            resource_group,
            "Microsoft.Network/networkInterfaces",
            nic_name,
            app=app,
            kind="Regular",
            etag=self._etag(nic_id),
            properties={
                "provisioningState": "Succeeded",
                "resourceGuid": _guid("guid", nic_id),
                "ipConfigurations": [
                    {
                        "name": "ipconfig1",
                        "id": f"{nic_id}/ipConfigurations/ipconfig1",
                        "etag": self._etag(f"{nic_id}/ipConfigurations/ipconfig1"),
                        "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                        "properties": ip_configuration,
                    }
                ],
                "dnsSettings": {
                    "dnsServers": [],
                    "appliedDnsServers": [],
                    "internalDomainNameSuffix": f"{_guid('dns', vnet)[:26]}.ax.internal.cloudapp.net",
                },
                "macAddress": "00-22-48-" + "-".join(f"{(index * 37 + k * 11) % 256:02X}" for k in range(3)),
                "enableAcceleratedNetworking": vm_size.startswith("Standard_D"),
                "vnetEncryptionSupported": False,
                "enableIPForwarding": False,
                "disableTcpStateTracking": False,
                "networkSecurityGroup": {"id": nsg_id},
                "primary": True,
                "virtualMachine": {"id": vm_id},
                "hostedWorkloads": [],
                "tapConfigurations": [],
                "nicType": "Standard",
                "auxiliaryMode": "None",
                "auxiliarySku": "None",
            },
            age_days=200 - index * 10,
        )

    # -- edge ------------------------------------------------------------------------------------

    def edge(self) -> None:
        """The Front Door profile in front of the production web apps."""
        name = "afd-contoso-shop"
        resource_id = arm_resource_id(estate.PROD_SUBSCRIPTION, "rg-prod-web", "Microsoft.Cdn/profiles", name)
        self._add(
            estate.PROD_SUBSCRIPTION,
            "rg-prod-web",
            "Microsoft.Cdn/profiles",
            name,
            app="shop",
            kind="frontdoor",
            location="Global",
            sku={"name": "Standard_AzureFrontDoor"},
            properties={
                "provisioningState": "Succeeded",
                "resourceState": "Active",
                "frontDoorId": _guid("frontdoor", resource_id),
                "originResponseTimeoutSeconds": 60,
                "extendedProperties": {},
            },
            age_days=380,
        )
