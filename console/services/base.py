"""What every service shares: SDK client options, error mapping, and the read-only guard."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any, TypeVar

from console.audit import Journal
from console.cloud import CloudProfile
from console.errors import ErrorKind, OpsError, from_azure
from console.settings import Settings

T = TypeVar("T")


class ServiceContext:
    """The settings, cloud profile, credential and journal one console session shares across services.

    A context may start unconnected (the console paints before the SDK is even imported): every
    service call then waits in `connected()` until `connect()` gives it a profile and a credential.
    """

    def __init__(self, settings: Settings, profile: CloudProfile | None, credential: Any, journal: Journal) -> None:
        self.settings = settings
        self._profile = profile
        self.credential = credential
        self.journal = journal
        self._connected = asyncio.Event()
        self._failure: OpsError | None = None
        if profile is not None:
            self._connected.set()

    @property
    def profile(self) -> CloudProfile:
        if self._profile is None:
            raise OpsError(ErrorKind.CONFIG, "The console is not connected to Azure yet.")
        return self._profile

    @property
    def is_connected(self) -> bool:
        return self._profile is not None

    def connect(self, profile: CloudProfile, credential: Any) -> None:
        """Attach the cloud and credential; calls waiting in `connected()` go ahead (call on the loop)."""
        self._profile, self.credential, self._failure = profile, credential, None
        self._connected.set()

    def fail(self, error: OpsError) -> None:
        """Connecting failed: every waiting and later call raises `error`."""
        self._failure = error
        self._connected.set()

    async def connected(self) -> None:
        """Wait until connected; raise the connection failure if there was one."""
        await self._connected.wait()
        if self._failure is not None:
            raise self._failure

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
            await self.context.connected()
        except BaseException:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never started: close it so it is not reported as never awaited
            raise
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
