"""The async service layer: one class per area, built together by `make_services`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from console.audit import Journal
from console.cloud import CloudProfile, cloud_named
from console.services.base import Service, ServiceContext
from console.settings import Settings

if TYPE_CHECKING:
    from console.services.alerts import AlertsService
    from console.services.backups import BackupService
    from console.services.cost import CostService
    from console.services.logs import LogsService
    from console.services.resources import ResourcesService
    from console.services.runbooks import RunbookService
    from console.services.slots import SlotsService

S = TypeVar("S", bound=Service)
ServiceBuilder = Callable[["Services"], Service]


def _resources(services: Services) -> Service:
    from console.services.resources import ResourcesService

    return ResourcesService(services.context)


def _logs(services: Services) -> Service:
    from console.services.logs import LogsService

    return LogsService(services.context)


def _runbooks(services: Services) -> Service:
    # Parsing runbooks needs yaml and pyarrow: imported when the area is first used, not to paint.
    from console.services.runbooks import RunbookService

    return RunbookService(services.context, services.logs, services.settings.runbooks_dir)


def _slots(services: Services) -> Service:
    # azure-mgmt-web is imported when a slot is first read, not to paint.
    from console.services.slots import SlotsService

    return SlotsService(services.context, services.resources, lambda: services.runbooks)


def _cost(services: Services) -> Service:
    # azure-mgmt-costmanagement is imported on the first cost call, not to paint.
    from console.services.cost import CostService

    return CostService(services.context)


def _alerts(services: Services) -> Service:
    # The alerts and monitor SDKs are imported when an alert is first read, not to paint.
    from console.services.alerts import AlertsService

    return AlertsService(services.context, services.resources)


def _backup(services: Services) -> Service:
    # azure-mgmt-recoveryservicesbackup is large: imported when a vault is first read.
    from console.services.backups import BackupService

    return BackupService(services.context, services.resources, services.runbooks)


SERVICE_AREAS: Mapping[str, ServiceBuilder] = MappingProxyType(
    {
        "resources": _resources,
        "logs": _logs,
        "runbooks": _runbooks,
        "slots": _slots,
        "cost": _cost,
        "alerts": _alerts,
        "backup": _backup,
    }
)
"""The service half of the area registry: area name -> how its service is built (on first use).

The console half (title, aliases, key, screen, palette) is `console.areas.AREAS`.
"""


class Services:
    """Everything the screens and the headless commands may call, sharing one credential.

    Each area's service is built on first use from `SERVICE_AREAS`; `close` closes those built.
    """

    def __init__(self, context: ServiceContext, builders: Mapping[str, ServiceBuilder] = SERVICE_AREAS) -> None:
        self.context = context
        self._builders = builders
        self._built: dict[str, Service] = {}

    def area(self, name: str) -> Service:
        """The service of area `name`, built the first time it is asked for."""
        service = self._built.get(name)
        if service is None:
            builder = self._builders.get(name)
            if builder is None:
                raise KeyError(f"No area called {name!r} has a service; known: {', '.join(self._builders)}.")
            service = self._built[name] = builder(self)
        return service

    def get(self, name: str, kind: type[S]) -> S:
        """The service of area `name`, checked to be a `kind` (how a screen factory gets its typed service)."""
        service = self.area(name)
        if not isinstance(service, kind):
            raise TypeError(f"The {name} area's service is a {type(service).__name__}, not a {kind.__name__}.")
        return service

    @property
    def names(self) -> tuple[str, ...]:
        """Every area that has a service."""
        return tuple(self._builders)

    @property
    def resources(self) -> ResourcesService:
        return cast("ResourcesService", self.area("resources"))

    @property
    def logs(self) -> LogsService:
        return cast("LogsService", self.area("logs"))

    @property
    def runbooks(self) -> RunbookService:
        return cast("RunbookService", self.area("runbooks"))

    @property
    def slots(self) -> SlotsService:
        return cast("SlotsService", self.area("slots"))

    @property
    def cost(self) -> CostService:
        return cast("CostService", self.area("cost"))

    @property
    def alerts(self) -> AlertsService:
        return cast("AlertsService", self.area("alerts"))

    @property
    def backup(self) -> BackupService:
        return cast("BackupService", self.area("backup"))

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
        """Close every service built so far, then the credential."""
        await asyncio.gather(*(service.close() for service in self._built.values()), return_exceptions=True)
        closer = getattr(self.context.credential, "close", None)
        if closer is not None:
            await closer()


def make_credential(settings: Settings, profile: CloudProfile, *, blocking: bool = False) -> Any:
    """DefaultAzureCredential, trusting the configured CA; imported on first use (it is slow to import).

    `blocking` gives the synchronous one, for the SDK's blocking clients (which do not import aiohttp).
    """
    if blocking:
        from azure.identity import DefaultAzureCredential as BlockingCredential

        credential_type: Any = BlockingCredential
    else:
        from azure.identity.aio import DefaultAzureCredential

        credential_type = DefaultAzureCredential
    options: dict[str, Any] = {"authority": profile.authority_host}
    verify = settings.connection_verify or profile.ca_file
    if verify:
        options["connection_verify"] = verify
    return credential_type(**options)


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
