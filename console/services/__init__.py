"""The async service layer: one class per area, built together by `make_services`."""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING, Any

from console.audit import Journal
from console.cloud import CloudProfile, cloud_named
from console.services.base import ServiceContext
from console.services.logs import LogsService
from console.services.resources import ResourcesService
from console.settings import Settings

if TYPE_CHECKING:
    from console.services.runbooks import RunbookService


class Services:
    """Everything the screens and the headless commands may call, sharing one credential."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.resources = ResourcesService(context)
        self.logs = LogsService(context)

    @cached_property
    def runbooks(self) -> RunbookService:
        """Runbooks; built on first use (parsing them needs yaml and pyarrow, not needed to paint)."""
        from console.services.runbooks import RunbookService

        return RunbookService(self.context, self.logs, self.context.settings.runbooks_dir)

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def profile(self) -> CloudProfile:
        return self.context.profile

    def connect(self, profile: CloudProfile, credential: Any) -> None:
        """Give unconnected services their cloud and credential (on the event loop's thread)."""
        self.context.connect(profile, credential)

    async def close(self) -> None:
        await asyncio.gather(self.resources.close(), self.logs.close(), return_exceptions=True)
        closer = getattr(self.context.credential, "close", None)
        if closer is not None:
            await closer()


def make_credential(settings: Settings, profile: CloudProfile) -> Any:
    """DefaultAzureCredential, trusting the configured CA; imported on first use (it is slow to import)."""
    from azure.identity.aio import DefaultAzureCredential

    options: dict[str, Any] = {"authority": profile.authority_host}
    verify = settings.connection_verify or profile.ca_file
    if verify:
        options["connection_verify"] = verify
    return DefaultAzureCredential(**options)


def make_services(
    settings: Settings, credential: Any = None, profile: CloudProfile | None = None, *, connect_later: bool = False
) -> Services:
    """Build the services for one session; the credential is created here unless given.

    With `connect_later`, nothing Azure is touched yet (not even imported): calls wait until
    `services.connect(profile, credential)`.
    """
    journal = Journal(settings.journal_path)
    if connect_later:
        return Services(ServiceContext(settings, None, None, journal))
    profile = profile or cloud_named(settings.cloud)
    credential = credential if credential is not None else make_credential(settings, profile)
    return Services(ServiceContext(settings, profile, credential, journal))
