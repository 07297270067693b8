"""Wires the Log Analytics half into the local Azure: engine, query and metadata routes, seed, live traffic."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

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


class LazyEngine:
    """Stands in for the KQL engine while it loads in a thread: importing the engine costs ~250 ms,
    which would otherwise delay the readiness line. Attribute access waits until it is there."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._engine: KqlEngine | None = None
        self._error: BaseException | None = None

    def load(self) -> None:
        try:
            from console.emulator.kql_engine import KqlEngine

            self._engine = KqlEngine()
        except BaseException as error:  # surfaced to every caller of the engine
            self._error = error
            raise
        finally:
            self._ready.set()

    @property
    def engine(self) -> KqlEngine:
        self._ready.wait()
        if self._engine is None:
            raise RuntimeError(f"The KQL engine could not be loaded: {self._error}")
        return self._engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


async def setup_logs(
    app: web.Application, store: Store, now: datetime, config: EmulatorConfig
) -> list[asyncio.Task[Any]]:
    """Add the routes now; load the engine, seed, and run live traffic in the background."""
    from console.emulator.logs_api import setup_logs_routes

    lazy = LazyEngine()
    loader = threading.Thread(target=lazy.load, name="kql-engine-load", daemon=True)
    loader.start()
    # The routes only reach the engine from request handlers, after loading has finished.
    engine = cast("KqlEngine", lazy)
    app.router.add_routes([_metadata_route(engine)])
    setup_logs_routes(app, engine, now=lambda: datetime.now(UTC))
    loop = asyncio.get_running_loop()

    async def seed_and_guard() -> None:
        """Seed once the engine is loaded; on stop, interrupt a seed still running so shutdown is clean."""
        from console.emulator import telemetry

        await asyncio.to_thread(loader.join)
        real = lazy.engine
        # Empty tables at once (a query during the delay hears that data is still arriving), rows later.
        telemetry.create_tables(real.connection)
        real.refresh_schema()
        real.seeding, real.seed_progress = True, 0.0
        await asyncio.sleep(config.seed_delay_s)
        seeder = telemetry.start_seeding(real, now, scale=config.telemetry_scale)
        seeded.set_result(seeder)
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.to_thread(telemetry.stop_seeding, real, seeder)

    seeded: asyncio.Future[threading.Thread] = loop.create_future()
    tasks = [loop.create_task(seed_and_guard(), name="seed-guard")]
    if not config.live_traffic:
        return tasks

    async def live_traffic() -> None:
        from console.emulator import telemetry

        seeder = await seeded
        await asyncio.to_thread(seeder.join)
        seeded_until = now.replace(second=0, microsecond=0)
        generator = telemetry.TrafficGenerator(lazy.engine, seeded_until, config.telemetry_scale, seed_now=now)
        while True:
            try:
                await asyncio.to_thread(generator.tick, datetime.now(UTC), store.builds_by_slot())
            except Exception:  # one failed tick must not end live traffic; the next tick covers the gap
                log.exception("live traffic tick failed")
            await asyncio.sleep(config.traffic_interval_s)

    tasks.append(loop.create_task(live_traffic(), name="live-traffic"))
    return tasks
