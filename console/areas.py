"""The console half of the area registry: what the command bar, palette, `?`, placeholders and jumps read.

An area is one `Area` entry here plus, when it has data, one `SERVICE_AREAS` entry in
`console.services` (the service half, which the service layer may read without the screens).
An entry without a screen factory is a placeholder: listed, reachable, and saying it is not built yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from screens.palette import ResourceCommands, RunbookCommands
from screens.shell import AreaIndex

if TYPE_CHECKING:
    from textual.command import Provider
    from textual.screen import Screen

    from console.services import Services
    from screens.shell import ShellContext

ScreenFactory = Callable[["Services", "ShellContext"], "Screen[Any]"]


@dataclass(frozen=True)
class Area:
    """One area of the console."""

    name: str
    """What `:` jumps to; also the mode name and the service's name in `SERVICE_AREAS`."""
    title: str
    aliases: tuple[str, ...] = ()
    """Other words `:` accepts for this area."""
    key: str | None = None
    """A key that jumps straight here from any area (binding id `area.<name>`, remappable)."""
    screen: ScreenFactory | None = None
    """Builds the area's screen (importing its module then); None for an area not built yet."""
    screen_module: str | None = None
    """The module of the screen, whose binding ids the config file may remap."""
    palette: tuple[type[Provider], ...] = ()
    """Command palette providers this area adds (for example: find a resource, open a runbook)."""


def _resources_screen(services: Services, context: ShellContext) -> Screen[Any]:
    from console.services.resources import ResourcesService
    from screens.resources import ResourcesScreen

    service = services.get("resources", ResourcesService)
    return ResourcesScreen(context, service, services.settings.refresh_seconds)


def _logs_screen(services: Services, context: ShellContext) -> Screen[Any]:
    from screens.logs import LogsScreen

    return LogsScreen(context, services)


def _runbooks_screen(services: Services, context: ShellContext) -> Screen[Any]:
    from screens.runbooks import RunbooksScreen

    return RunbooksScreen(context, services)


def _slots_screen(services: Services, context: ShellContext) -> Screen[Any]:
    # The web SDK takes ~0.3 s to import: here, before the area shows, rather than during its first listing,
    # when it would hold back keys typed meanwhile (an escape and a `:` read together become alt+:).
    import azure.mgmt.web.aio  # noqa: F401

    from console.services.slots import SlotsService
    from screens.slots import SlotsScreen

    service = services.get("slots", SlotsService)
    return SlotsScreen(
        context,
        service,
        services.resources.list_subscriptions,
        services.runbooks.find,
        services.settings.refresh_seconds,
    )


def _cost_screen(services: Services, context: ShellContext) -> Screen[Any]:
    from console.services.cost import CostService
    from screens.cost import CostScreen

    service = services.get("cost", CostService)
    return CostScreen(context, service, services.resources.list_subscriptions, services.settings.refresh_seconds)


def _alerts_screen(services: Services, context: ShellContext) -> Screen[Any]:
    # The alerts and monitor SDKs are imported here, before the area shows (as for slots).
    import azure.mgmt.alertsmanagement.aio
    import azure.mgmt.monitor.aio  # noqa: F401

    from console.services.alerts import AlertsService
    from screens.alerts import AlertsScreen

    service = services.get("alerts", AlertsService)
    return AlertsScreen(
        context,
        service,
        services.resources.list_subscriptions,
        services.runbooks.find,
        services.settings.refresh_seconds,
    )


def _backup_screen(services: Services, context: ShellContext) -> Screen[Any]:
    # The backup SDK is large: imported here, before the area shows, not during its first listing.
    import azure.mgmt.recoveryservicesbackup.aio  # noqa: F401

    from console.services.backups import BackupService
    from screens.backups import BackupScreen

    service = services.get("backup", BackupService)
    return BackupScreen(context, service, services.resources.list_subscriptions, services.settings.refresh_seconds)


AREAS: Mapping[str, Area] = MappingProxyType(
    {
        area.name: area
        for area in (
            Area(
                "resources",
                "Resources",
                ("res", "r"),
                "alt+1",
                _resources_screen,
                "screens.resources",
                (ResourceCommands,),
            ),
            Area("logs", "Logs", ("log", "kql"), "alt+2", _logs_screen, "screens.logs"),
            Area("runbooks", "Runbooks", ("rb",), "alt+3", _runbooks_screen, "screens.runbooks", (RunbookCommands,)),
            Area("alerts", "Alerts", ("alert", "alarms"), "alt+4", _alerts_screen, "screens.alerts"),
            Area("cost", "Cost", ("budget",), "alt+5", _cost_screen, "screens.cost"),
            Area("slots", "Slots", ("slot", "swap"), "alt+6", _slots_screen, "screens.slots"),
            Area("backup", "Backup", ("backups", "bk"), "alt+7", _backup_screen, "screens.backups"),
        )
    }
)
"""Every area of the console, in the order the command bar and the palette list them."""


def area_index(areas: Mapping[str, Area] = AREAS) -> AreaIndex:
    """What the shell (command bar, header, placeholders) needs to know of the areas."""
    return AreaIndex(
        titles={area.name: area.title for area in areas.values()},
        aliases={alias: area.name for area in areas.values() for alias in area.aliases},
        built=tuple(area.name for area in areas.values() if area.screen is not None),
    )


def palette_providers(areas: Mapping[str, Area] = AREAS) -> set[type[Provider]]:
    """The palette providers every area adds."""
    return {provider for area in areas.values() for provider in area.palette}
