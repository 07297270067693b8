"""What an area of the local Azure is: its ARM routes, its ARM seed and what else it starts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from console.emulator.arm import ArmRouter, Route
from console.emulator.store import Document, Store

if TYPE_CHECKING:
    from console.emulator.server import EmulatorConfig

ArmRoutes = Callable[[ArmRouter], Sequence[Route]]
"""Declares an area's ARM routes, answered over the router's store and shared ARM behaviour."""
ArmSeed = Callable[[datetime], Sequence[Document]]
"""An area's ARM documents for a fresh store, built from the seed's `now`."""
Start = Callable[[web.Application, Store, datetime, "EmulatorConfig"], Awaitable[list[asyncio.Task[Any]]]]
"""Adds an area's own (non-ARM) routes to the app and returns the background tasks it started."""

TelemetryStatus = Callable[[], dict[str, Any]]
STATUS_KEY: web.AppKey[TelemetryStatus] = web.AppKey("telemetry_status")
"""Where an area publishes whether the telemetry is loaded (read by `/_emulator/status`)."""
ENGINE_KEY: web.AppKey[Any] = web.AppKey("kql_engine")
"""Where the logs area publishes its KQL engine, for areas that query the telemetry (alert rules)."""


@dataclass(frozen=True)
class Area:
    """One area of the local Azure, as the server starts it."""

    name: str
    routes: ArmRoutes | None = None
    seed: ArmSeed | None = None
    start: Start | None = None
