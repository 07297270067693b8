"""Wires the Log Analytics half (engine, telemetry, query routes) into the local Azure."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from console.emulator.server import EmulatorConfig
    from console.emulator.store import Store


async def setup_logs(
    app: web.Application, store: Store, now: datetime, config: EmulatorConfig
) -> list[asyncio.Task[Any]]:
    """Add the query routes; seeding and live traffic run as background tasks."""
    return []
