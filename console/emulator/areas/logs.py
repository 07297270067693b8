"""The Log Analytics area of the local Azure: the KQL engine, the query and metadata routes, the
telemetry seed and live traffic. It has no ARM routes of its own: the workspace is an ARM resource
of the estate."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from console.emulator import estate
from console.emulator.areas.base import ENGINE_KEY, STATUS_KEY, Area

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

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._ready = threading.Event()
        self._engine: KqlEngine | None = None
        self._error: BaseException | None = None

    def load(self) -> None:
        try:
            from console.emulator.kql_engine import KqlEngine
            from console.emulator.telemetry import create_tables

            engine = KqlEngine(self._path)
            # Until the seeding logic has looked at what the file holds, nothing is known complete;
            # the tables exist from the start, so a query meanwhile hears that data is still arriving.
            engine.seeding, engine.seed_progress, engine.complete_from = True, 0.0, None
            create_tables(engine.connection)
            engine.refresh_schema()
            self._engine = engine
            if self._path is not None:
                self._path.chmod(0o600)
        except BaseException as error:  # surfaced to every caller of the engine
            self._error = error
            raise
        finally:
            self._ready.set()

    @property
    def loaded(self) -> bool:
        """Whether loading has finished and the engine is there."""
        return self._ready.is_set() and self._engine is not None

    @property
    def engine(self) -> KqlEngine:
        self._ready.wait()
        if self._engine is None:
            raise RuntimeError(f"The KQL engine could not be loaded: {self._error}")
        return self._engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


TELEMETRY_FILE = "telemetry.duckdb"


async def start(app: web.Application, store: Store, now: datetime, config: EmulatorConfig) -> list[asyncio.Task[Any]]:
    """Add the routes now; load the engine, seed (or reuse what the data dir keeps), run live traffic."""
    from console.emulator.logs_api import setup_logs_routes

    path = config.data_dir / TELEMETRY_FILE
    if config.reset:
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
    lazy = LazyEngine(path)
    loader = threading.Thread(target=lazy.load, name="kql-engine-load", daemon=True)
    loader.start()
    # The routes only reach the engine from request handlers, after loading has finished.
    engine = cast("KqlEngine", lazy)
    app.router.add_routes([_metadata_route(engine)])
    setup_logs_routes(app, engine, now=lambda: datetime.now(UTC))
    loop = asyncio.get_running_loop()
    written: asyncio.Future[tuple[datetime, datetime]] = loop.create_future()

    def status() -> dict[str, Any]:
        """Ready when every table is complete; until then, how far and from when on it is complete."""
        if not loader_done() or (not lazy.seeding and not written.done()):
            return {"ready": False, "progress": 0.0, "complete_from": None}
        if written.done() and not lazy.seeding:
            return {"ready": True, "progress": 1.0, "complete_from": None}
        complete_from = lazy.complete_from
        return {
            "ready": False,
            "progress": round(lazy.seed_progress, 3),
            "complete_from": f"{complete_from.isoformat()}Z" if complete_from is not None else None,
        }

    def loader_done() -> bool:
        return not loader.is_alive()

    app[STATUS_KEY] = status
    app[ENGINE_KEY] = engine

    async def interrupt_queries(_: web.Application) -> None:
        if loader_done():
            lazy.interrupt_all()

    app.on_shutdown.append(interrupt_queries)

    async def close_engine(_: web.Application) -> None:
        await asyncio.to_thread(loader.join)
        if lazy.loaded:
            await asyncio.to_thread(lazy.engine.close)

    app.on_cleanup.append(close_engine)

    async def seed_and_guard() -> None:
        """Reuse kept telemetry (writing only the gap) or seed afresh; interrupt a seed on stop."""
        from console.emulator import telemetry

        await asyncio.to_thread(loader.join)
        real = lazy.engine
        kept = await asyncio.to_thread(telemetry.kept_telemetry, real, now, config.telemetry_scale)
        if kept is not None:
            real.seeding, real.seed_progress = True, 0.0
            try:
                until = await asyncio.to_thread(telemetry.fill_gap, real, kept, now, config.telemetry_scale)
            finally:
                real.seeding, real.seed_progress = False, 1.0
            real.refresh_schema()
            written.set_result((until, kept.seed_now))
            return
        await asyncio.to_thread(telemetry.discard_telemetry, real)
        real.seeding, real.seed_progress, real.complete_from = True, 0.0, None
        await asyncio.sleep(config.seed_delay_s)
        seeding = telemetry.TelemetrySeeding(real, now, scale=config.telemetry_scale)
        seeding.start()
        try:
            await asyncio.to_thread(seeding.join)
            written.set_result((now.replace(second=0, microsecond=0), now))
        finally:
            await asyncio.to_thread(seeding.stop)

    tasks = [loop.create_task(seed_and_guard(), name="seed-guard")]
    if not config.live_traffic:
        return tasks

    async def live_traffic() -> None:
        from console.emulator import telemetry

        until, seed_now = await written
        generator = telemetry.TrafficGenerator(lazy.engine, until, config.telemetry_scale, seed_now=seed_now)
        while True:
            try:
                moment = datetime.now(UTC)
                await asyncio.to_thread(generator.tick, moment, store.builds_by_slot(), store.routing_by_slot())
                await asyncio.to_thread(telemetry.mark_written_until, lazy.engine, moment)
            except Exception:  # one failed tick must not end live traffic; the next tick covers the gap
                log.exception("live traffic tick failed")
            await asyncio.sleep(config.traffic_interval_s)

    tasks.append(loop.create_task(live_traffic(), name="live-traffic"))
    return tasks


AREA = Area("logs", start=start)
