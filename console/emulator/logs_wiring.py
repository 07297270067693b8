"""Wires the Log Analytics half into the local Azure: engine, query and metadata routes, seed, live traffic."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from console.emulator import estate

if TYPE_CHECKING:
    from console.emulator.kql_engine import KqlEngine
    from console.emulator.server import EmulatorConfig
    from console.emulator.store import Store

log = logging.getLogger(__name__)


def _metadata_route(engine: KqlEngine) -> web.RouteDef:
    """`GET /v1/workspaces/{id}/metadata`: the workspace's tables and typed columns."""

    async def metadata(request: web.Request) -> web.Response:
        if request.match_info["workspace_id"].lower() != estate.WORKSPACE_CUSTOMER_ID.lower():
            return web.json_response(
                {"error": {"code": "WorkspaceNotFoundError", "message": "The workspace could not be found."}},
                status=404,
            )
        schema = await asyncio.to_thread(engine.schema)
        tables = [
            {"id": f"t/{name}", "name": name, "columns": [{"name": c, "type": t} for c, t in columns]}
            for name, columns in sorted(schema.items())
        ]
        return web.json_response({"tables": tables, "workspaces": [{"id": estate.WORKSPACE_CUSTOMER_ID}]})

    return web.get("/v1/workspaces/{workspace_id}/metadata", metadata)


async def setup_logs(
    app: web.Application, store: Store, now: datetime, config: EmulatorConfig
) -> list[asyncio.Task[Any]]:
    """Add the routes and start seeding in a thread; live traffic runs as a task once the seed is in."""
    from console.emulator import telemetry
    from console.emulator.kql_engine import KqlEngine
    from console.emulator.logs_api import setup_logs_routes

    engine = KqlEngine()
    app.router.add_routes([_metadata_route(engine)])
    setup_logs_routes(app, engine, now=lambda: datetime.now(UTC))
    seeder = telemetry.start_seeding(engine, now, scale=config.telemetry_scale)

    async def seed_guard() -> None:
        """Lives as long as the server; on stop, interrupts a seed still running so shutdown is clean."""
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.to_thread(telemetry.stop_seeding, engine, seeder)

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(seed_guard(), name="seed-guard")]
    if not config.live_traffic:
        return tasks

    async def live_traffic() -> None:
        await asyncio.to_thread(seeder.join)
        seeded_until = now.replace(second=0, microsecond=0)
        generator = telemetry.TrafficGenerator(engine, seeded_until, config.telemetry_scale, seed_now=now)
        while True:
            try:
                await asyncio.to_thread(generator.tick, datetime.now(UTC), store.builds_by_slot())
            except Exception:  # one failed tick must not end live traffic; the next tick covers the gap
                log.exception("live traffic tick failed")
            await asyncio.sleep(config.traffic_interval_s)

    tasks.append(loop.create_task(live_traffic(), name="live-traffic"))
    return tasks
