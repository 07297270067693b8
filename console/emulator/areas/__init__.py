"""The areas of the local Azure, each one module: its ARM routes, its seed, what else it starts.

The server starts every area in `AREAS` and names none of them. Adding an area is one module here
that defines an `Area` and one entry in the tuple.
"""

from __future__ import annotations

from console.emulator.areas import alerts, backup, cost, logs, pg_backups, resources, web, web_backups
from console.emulator.areas.base import Area

AREAS: tuple[Area, ...] = (
    resources.AREA,
    web.AREA,
    logs.AREA,
    cost.AREA,
    alerts.AREA,
    backup.AREA,
    web_backups.AREA,
    pg_backups.AREA,
)
"""Every area the local Azure starts, in the order their `start` runs."""

__all__ = ["AREAS", "Area"]
