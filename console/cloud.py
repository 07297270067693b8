"""Endpoint profiles: the public clouds and the local Azure described by its readiness line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from console.errors import ErrorKind, OpsError

LOCAL_CLOUD = "Local"
"""The name of the local Azure's profile."""
DEMO_TENANT_ID = "8d2a4e1c-5b3f-4c7e-9a10-2f6b7c8d9e01"
"""The demo estate's tenant (the local Azure's seed uses the same id), known before anything starts."""
DEMO_START_SUBSCRIPTION = "1f0e9c2a-3b4d-4e5f-8a6b-7c8d9e0f1a2b"
"""The demo opens in its production subscription, where the action is."""


@dataclass(frozen=True)
class CloudProfile:
    """Where ARM, Log Analytics and sign-in live for one cloud, and the scopes tokens are asked for."""

    name: str
    arm_endpoint: str
    logs_endpoint: str
    authority_host: str
    portal_url: str
    ca_file: str | None = None
    tenant_id: str | None = None
    subscriptions: tuple[str, ...] = ()

    @property
    def arm_scope(self) -> str:
        return "https://management.azure.com/.default" if self.is_local else f"{self.arm_endpoint}/.default"

    @property
    def logs_audience(self) -> str:
        return "https://api.loganalytics.io" if self.is_local else self.logs_endpoint

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL_CLOUD

    def portal_link(self, resource_id: str) -> str:
        """The Azure portal address of a resource (the local Azure has no portal; the public one is shown)."""
        return f"{self.portal_url}/#@{self.tenant_id or ''}/resource{resource_id}"


CLOUDS = {
    "AzureCloud": CloudProfile(
        "AzureCloud",
        "https://management.azure.com",
        "https://api.loganalytics.io",
        "https://login.microsoftonline.com",
        "https://portal.azure.com",
    ),
    "AzureUSGovernment": CloudProfile(
        "AzureUSGovernment",
        "https://management.usgovcloudapi.net",
        "https://api.loganalytics.us",
        "https://login.microsoftonline.us",
        "https://portal.azure.us",
    ),
    "AzureChinaCloud": CloudProfile(
        "AzureChinaCloud",
        "https://management.chinacloudapi.cn",
        "https://api.loganalytics.azure.cn",
        "https://login.chinacloudapi.cn",
        "https://portal.azure.cn",
    ),
}


def cloud_named(name: str) -> CloudProfile:
    """The public cloud profile called `name`, or an OpsError listing the known ones."""
    try:
        return CLOUDS[name]
    except KeyError:
        known = ", ".join(CLOUDS)
        raise OpsError(ErrorKind.CONFIG, f"Unknown cloud {name!r}; expected one of {known}.") from None


LOCAL_AZURE_RECORD = "emulator.json"
"""The file in its data dir where a running local Azure records its readiness line (0600)."""


def local_profile(readiness: dict[str, Any]) -> CloudProfile:
    """The profile of a running local Azure, from the JSON line it printed when ready."""
    return CloudProfile(
        LOCAL_CLOUD,
        str(readiness["arm_endpoint"]).rstrip("/"),
        str(readiness["logs_endpoint"]).rstrip("/"),
        "https://login.microsoftonline.com",
        "https://portal.azure.com",
        ca_file=str(readiness["ca_file"]),
        tenant_id=str(readiness["tenant_id"]),
        subscriptions=tuple(readiness.get("subscriptions", ())),
    )


def parse_readiness_line(line: str) -> dict[str, Any]:
    """Decode the local Azure's readiness line, with a sentence when it is not what it should be."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        raise OpsError(
            ErrorKind.CONFIG, f"The local Azure did not start properly; it printed: {line[:200]!r}"
        ) from None
    missing = {"arm_endpoint", "logs_endpoint", "identity_endpoint", "identity_header", "ca_file"} - set(data)
    if missing:
        raise OpsError(ErrorKind.CONFIG, f"The local Azure's readiness line lacks {', '.join(sorted(missing))}.")
    return dict(data)
