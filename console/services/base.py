"""What every service shares: SDK client options, error mapping, and the read-only guard."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from console.audit import Journal
from console.cloud import CloudProfile
from console.errors import ErrorKind, OpsError, from_azure
from console.settings import Settings

T = TypeVar("T")


class ServiceContext:
    """The settings, cloud profile, credential and journal one console session shares across services."""

    def __init__(self, settings: Settings, profile: CloudProfile, credential: Any, journal: Journal) -> None:
        self.settings = settings
        self.profile = profile
        self.credential = credential
        self.journal = journal

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every SDK client: retries, timeouts and (when configured) the CA to trust."""
        options: dict[str, Any] = {
            "retry_total": self.settings.retry_total,
            "connection_timeout": 10,
            "read_timeout": self.settings.timeout_seconds,
        }
        verify = self.settings.connection_verify or self.profile.ca_file
        if verify:
            options["connection_verify"] = verify
        return options

    def arm_options(self) -> dict[str, Any]:
        return {
            **self.client_options(),
            "base_url": self.profile.arm_endpoint,
            "credential_scopes": [self.profile.arm_scope],
        }


class Service:
    """Base of the per-area services: maps SDK failures to OpsError and guards mutations."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def call(self, action: str, awaitable: Awaitable[T]) -> T:
        """Await an SDK call, turning any Azure failure into an OpsError that names `action`."""
        try:
            return await awaitable
        except OpsError:
            raise
        except Exception as error:  # every azure.core failure is mapped; anything else re-raises inside
            raise from_azure(error, action) from error

    def ensure_writable(self, subscription_id: str | None, action: str) -> None:
        """Refuse a mutation before any request when the console or the subscription is read-only."""
        if self.context.settings.is_read_only(subscription_id):
            raise OpsError(
                ErrorKind.READ_ONLY,
                f"Refused to {action}: the console is in read-only mode for this subscription.",
            )
