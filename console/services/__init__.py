"""The async service layer: one class per area, built together by `make_services`."""

from __future__ import annotations

import asyncio
from typing import Any

from console.audit import Journal
from console.cloud import CloudProfile, cloud_named
from console.services.base import ServiceContext
from console.services.logs import LogsService
from console.services.resources import ResourcesService
from console.services.runbooks import RunbookService
from console.settings import Settings


class Services:
    """Everything the screens and the headless commands may call, sharing one credential."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self.resources = ResourcesService(context)
        self.logs = LogsService(context)
        self.runbooks = RunbookService(context, self.logs, context.settings.runbooks_dir)

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def profile(self) -> CloudProfile:
        return self.context.profile

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


def make_services(settings: Settings, credential: Any = None, profile: CloudProfile | None = None) -> Services:
    """Build the services for one session; the credential is created here unless given."""
    profile = profile or cloud_named(settings.cloud)
    credential = credential if credential is not None else make_credential(settings, profile)
    return Services(ServiceContext(settings, profile, credential, Journal(settings.journal_path)))
