"""The demo estate: the fixed names and numbers every part of the local Azure seeds from.

Everything here is plain data so that the ARM seed, the telemetry seed and the live traffic
generator agree on one estate without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TENANT_ID = "8d2a4e1c-5b3f-4c7e-9a10-2f6b7c8d9e01"
PROD_SUBSCRIPTION = "1f0e9c2a-3b4d-4e5f-8a6b-7c8d9e0f1a2b"
NONPROD_SUBSCRIPTION = "2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


@dataclass(frozen=True)
class SubscriptionSpec:
    """One seeded subscription."""

    subscription_id: str
    display_name: str
    state: str = "Enabled"


SUBSCRIPTIONS = (
    SubscriptionSpec(PROD_SUBSCRIPTION, "Contoso Production"),
    SubscriptionSpec(NONPROD_SUBSCRIPTION, "Contoso Non-Production"),
)


@dataclass(frozen=True)
class ResourceGroupSpec:
    """One seeded resource group."""

    subscription_id: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)


RESOURCE_GROUPS = (
    ResourceGroupSpec(PROD_SUBSCRIPTION, "rg-prod-web", "westeurope", {"env": "prod", "owner": "web-platform"}),
    ResourceGroupSpec(PROD_SUBSCRIPTION, "rg-prod-data", "westeurope", {"env": "prod", "owner": "data"}),
    ResourceGroupSpec(PROD_SUBSCRIPTION, "rg-monitoring", "westeurope", {"env": "prod", "owner": "sre"}),
    ResourceGroupSpec(PROD_SUBSCRIPTION, "rg-backup", "northeurope", {"env": "prod", "owner": "sre"}),
    ResourceGroupSpec(PROD_SUBSCRIPTION, "rg-prod-network", "westeurope", {"env": "prod", "owner": "network"}),
    ResourceGroupSpec(
        NONPROD_SUBSCRIPTION, "rg-staging-web", "westeurope", {"env": "staging", "owner": "web-platform"}
    ),
    ResourceGroupSpec(NONPROD_SUBSCRIPTION, "rg-staging-data", "westeurope", {"env": "staging", "owner": "data"}),
    ResourceGroupSpec(NONPROD_SUBSCRIPTION, "rg-dev-sandbox", "eastus", {"env": "dev", "owner": "web-platform"}),
)


@dataclass(frozen=True)
class BuildProfile:
    """How a deployed build behaves under traffic: what the traffic generator draws from."""

    build: str
    failure_rate: float
    latency_ms: float


BUILDS = {
    "2026.11.3": BuildProfile("2026.11.3", failure_rate=0.004, latency_ms=120.0),
    "2026.11.4": BuildProfile("2026.11.4", failure_rate=0.003, latency_ms=110.0),
    # The bad release candidate: swapping it into production visibly hurts.
    "2026.11.5-rc1": BuildProfile("2026.11.5-rc1", failure_rate=0.18, latency_ms=640.0),
    "2026.11.2": BuildProfile("2026.11.2", failure_rate=0.005, latency_ms=130.0),
    "2026.12.0-beta": BuildProfile("2026.12.0-beta", failure_rate=0.02, latency_ms=150.0),
}


@dataclass(frozen=True)
class WebAppSpec:
    """A web app with its slots and the build deployed in each slot at seed time."""

    subscription_id: str
    resource_group: str
    name: str
    location: str
    builds_by_slot: dict[str, str]
    requests_per_minute: float
    operations: tuple[str, ...]
    dependencies: tuple[str, ...]

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/sites/{self.name}"
        )

    @property
    def image(self) -> str:
        """The container image the app runs, without its tag (`contoso/checkout`)."""
        return "contoso/" + self.name.removeprefix("app-").rsplit("-", 1)[0]

    def linux_fx_version(self, build: str) -> str:
        """`siteConfig.linuxFxVersion` for `build`: the image tagged with the build."""
        return f"DOCKER|{self.image}:{build}"


def build_of(linux_fx_version: str | None, app_version: str | None) -> str | None:
    """Which build a slot runs, read from its content: the image tag, else the `APP_VERSION` setting."""
    image = (linux_fx_version or "").partition("|")[2]
    name, colon, tag = image.rpartition(":")
    if colon and tag and "/" not in tag and name:
        return tag
    return app_version or None


WEB_APPS = (
    WebAppSpec(
        PROD_SUBSCRIPTION,
        "rg-prod-web",
        "app-checkout-prod",
        "westeurope",
        {"production": "2026.11.4", "staging": "2026.11.5-rc1", "canary": "2026.11.4"},
        requests_per_minute=60.0,
        operations=("GET /cart", "POST /cart/items", "POST /checkout", "GET /checkout/status", "GET /health"),
        dependencies=(
            "psql-orders-prod.postgres.database.azure.com",
            "kv-prod-shared.vault.azure.net",
            "api.payments.contoso.com",
        ),
    ),
    WebAppSpec(
        PROD_SUBSCRIPTION,
        "rg-prod-web",
        "app-catalog-prod",
        "westeurope",
        {"production": "2026.11.3", "staging": "2026.11.4"},
        requests_per_minute=90.0,
        operations=("GET /products", "GET /products/{id}", "GET /search", "GET /categories", "GET /health"),
        dependencies=("stcatalogprod.blob.core.windows.net", "psql-orders-prod.postgres.database.azure.com"),
    ),
    WebAppSpec(
        PROD_SUBSCRIPTION,
        "rg-prod-web",
        "app-payments-prod",
        "westeurope",
        {"production": "2026.11.3", "staging": "2026.11.3"},
        requests_per_minute=25.0,
        operations=("POST /payments", "GET /payments/{id}", "POST /refunds", "GET /health"),
        dependencies=("api.payments.contoso.com", "kv-prod-shared.vault.azure.net"),
    ),
    WebAppSpec(
        NONPROD_SUBSCRIPTION,
        "rg-staging-web",
        "app-checkout-stg",
        "westeurope",
        {"production": "2026.11.5-rc1", "staging": "2026.12.0-beta"},
        requests_per_minute=6.0,
        operations=("GET /cart", "POST /cart/items", "POST /checkout", "GET /health"),
        dependencies=("psql-orders-stg.postgres.database.azure.com",),
    ),
)

WORKSPACE_NAME = "law-ops-prod"
WORKSPACE_RESOURCE_GROUP = "rg-monitoring"
WORKSPACE_CUSTOMER_ID = "5e7d3c1b-9a2f-4e8d-b6c4-1a3f5e7d9b20"
WORKSPACE_RESOURCE_ID = (
    f"/subscriptions/{PROD_SUBSCRIPTION}/resourceGroups/{WORKSPACE_RESOURCE_GROUP}"
    f"/providers/Microsoft.OperationalInsights/workspaces/{WORKSPACE_NAME}"
)

# Virtual machines and other heartbeat sources for the Heartbeat table.
HEARTBEAT_COMPUTERS = (
    ("vm-jump-prod-01", PROD_SUBSCRIPTION, "rg-prod-network"),
    ("vm-build-agent-01", PROD_SUBSCRIPTION, "rg-prod-web"),
    ("vm-build-agent-02", PROD_SUBSCRIPTION, "rg-prod-web"),
    ("vm-sandbox-01", NONPROD_SUBSCRIPTION, "rg-dev-sandbox"),
)

RECOVERY_VAULT_NAME = "rsv-prod-backup"
RECOVERY_VAULT_RESOURCE_GROUP = "rg-backup"
RECOVERY_VAULT_RESOURCE_ID = (
    f"/subscriptions/{PROD_SUBSCRIPTION}/resourceGroups/{RECOVERY_VAULT_RESOURCE_GROUP}"
    f"/providers/Microsoft.RecoveryServices/vaults/{RECOVERY_VAULT_NAME}"
)

NONPROD_RECOVERY_VAULT_NAME = "rsv-nonprod-backup"
NONPROD_RECOVERY_VAULT_RESOURCE_GROUP = "rg-staging-data"
NONPROD_RECOVERY_VAULT_RESOURCE_ID = (
    f"/subscriptions/{NONPROD_SUBSCRIPTION}/resourceGroups/{NONPROD_RECOVERY_VAULT_RESOURCE_GROUP}"
    f"/providers/Microsoft.RecoveryServices/vaults/{NONPROD_RECOVERY_VAULT_NAME}"
)
