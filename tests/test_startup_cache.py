"""The inventory cache: the last inventory shown at once, stamped and never as current, then replaced by fresh
data; never used for another tenant or cloud; a damaged file is ignored. Real services, real local Azure."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console import cloud
from console.app import OpsConsole
from console.emulator import estate
from console.services import Services
from console.services.inventory_cache import Identity, InventoryCache
from console.settings import Settings
from screens.resources import ResourcesScreen

SIZE = (200, 50)
SLOW_LISTING = [{"path": "/resources", "latency_ms": 1500}]
STALE_NAME = "vm-listed-long-ago"
Faults = Callable[[list[dict[str, Any]]], Any]


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, attempts: int = 1500) -> None:
    """Let the app run until `condition` holds (bounded by a number of pauses, never by wall time)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"gave up waiting for {what}")


def crumbs(screen: ResourcesScreen) -> str:
    return str(screen.query_one("#crumbs", Static).render())


def rows(screen: ResourcesScreen) -> int:
    return screen.query_one(DataTable).row_count


def notices(app: OpsConsole) -> list[str]:
    return [str(n.message) for n in app._notifications]


def test_the_demo_tenant_known_up_front_is_the_local_azures() -> None:
    assert cloud.DEMO_TENANT_ID == estate.TENANT_ID
    assert cloud.DEMO_START_SUBSCRIPTION == estate.PROD_SUBSCRIPTION


@pytest.mark.asyncio
async def test_a_listing_is_cached_for_its_cloud_and_tenant_only(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services()
    try:
        assert services.resources.cached_inventory() is None
        await services.resources.list_subscriptions()
        listed = await services.resources.list_resources(estate.PROD_SUBSCRIPTION)
        identity = services.resources.identity
        assert identity == Identity("Local", estate.TENANT_ID)
        cached = services.resources.cached_inventory()
        assert cached is not None
        part = cached.for_scope(estate.PROD_SUBSCRIPTION)
        assert part is not None and {r.resource_id for r in part[0]} == {r.resource_id for r in listed}
        assert part[1].tzinfo is not None
        assert cached.for_scope(None) is None  # the other subscription was never listed: not claimed
        path = InventoryCache(services.settings.data_dir / "inventory").path_for(identity)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]

        data = json.loads(path.read_text())
        for key, other in (("tenant", "00000000-0000-0000-0000-000000000000"), ("cloud", "AzureCloud")):
            path.write_text(json.dumps({**data, key: other}))
            assert services.resources.cached_inventory() is None, key
        path.write_text('{"format": 1, "cloud": "Local", "tenant": ')
        assert services.resources.cached_inventory() is None
        path.write_bytes(b"\x00\xff" * 10)
        assert services.resources.cached_inventory() is None
        # Well-formed JSON of the wrong shape is damage too: read as nothing, and a fresh listing replaces it.
        path.write_text(json.dumps({**data, "resources": [], "subscriptions": {}}))
        assert services.resources.cached_inventory() is None
        await services.resources.list_subscriptions()
        await services.resources.list_resources(estate.PROD_SUBSCRIPTION)
        again = services.resources.cached_inventory()
        assert again is not None and again.for_scope(estate.PROD_SUBSCRIPTION) is not None
    finally:
        await services.close()


def test_a_cache_is_never_read_for_another_tenant_or_cloud(tmp_path: Path) -> None:
    cache = InventoryCache(tmp_path)
    mine = Identity("Local", estate.TENANT_ID)
    from console.models import Resource, Subscription

    subscription = Subscription(estate.PROD_SUBSCRIPTION, "Production", "Enabled", estate.TENANT_ID)
    resource = Resource(f"/subscriptions/{estate.PROD_SUBSCRIPTION}/x", "x", "T", "", "", estate.PROD_SUBSCRIPTION)
    cache.save(mine, subscriptions=[subscription], resources={estate.PROD_SUBSCRIPTION: [resource]})
    assert cache.load(mine) is not None
    assert cache.load(Identity("Local", "11111111-1111-1111-1111-111111111111")) is None
    assert cache.load(Identity("AzureCloud", estate.TENANT_ID)) is None
    assert cache.load(Identity("AzureUSGovernment", estate.TENANT_ID)) is None


@pytest.fixture
def build_app(make_local_services: Callable[..., Services], settings: Settings) -> Callable[..., OpsConsole]:
    def build(**changes: Any) -> OpsConsole:
        return OpsConsole(replace(settings, **changes), make_local_services(**changes))

    return build


async def first_run(build_app: Callable[..., OpsConsole]) -> Path:
    """Run the console once so the inventory is listed fresh (and cached); the cache file's path."""
    app = build_app(subscription=estate.PROD_SUBSCRIPTION)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen) and rows(app.screen) > 0, "fresh rows")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        assert screen.as_of is None and "cached" not in crumbs(screen)
        await app.workers.wait_for_complete()
        identity = app.services.resources.identity
        assert identity is not None
    path = InventoryCache(app.settings.data_dir / "inventory").path_for(identity)
    assert path.exists()
    return path


def age_the_cache(path: Path) -> None:
    """Make the cached inventory differ from Azure's: one resource renamed, as if listed before a change."""
    data = json.loads(path.read_text())
    items = data["resources"][estate.PROD_SUBSCRIPTION.lower()]["items"]
    items[0]["name"] = STALE_NAME
    path.write_text(json.dumps(data))


@pytest.mark.asyncio
async def test_a_warm_start_shows_the_cache_stamped_then_fresh_data_replaces_it(
    build_app: Callable[..., OpsConsole], faults: Faults
) -> None:
    path = await first_run(build_app)
    age_the_cache(path)
    faults(SLOW_LISTING)
    app = build_app(subscription=estate.PROD_SUBSCRIPTION)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "the Resources screen")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        # From the cache, before any listing answered: stamped, never as current.
        assert rows(screen) > 0
        assert STALE_NAME in {r.name for r in screen.shown}
        assert screen.as_of is not None
        assert "cached, as of " in crumbs(screen)
        assert "Contoso Production" in crumbs(screen)
        # Fresh data replaces it, and the stamp goes with it.
        await until(pilot, lambda: screen.as_of is None, "the fresh listing")
        assert "cached" not in crumbs(screen)
        assert STALE_NAME not in {r.name for r in screen.shown}
        assert rows(screen) == len(screen.shown) > 0


@pytest.mark.asyncio
async def test_a_refresh_that_fails_keeps_the_stamp(build_app: Callable[..., OpsConsole], faults: Faults) -> None:
    path = await first_run(build_app)
    age_the_cache(path)
    faults([{"path": "/resources", "status": 403}])
    app = build_app(subscription=estate.PROD_SUBSCRIPTION)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "the Resources screen")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        await until(pilot, lambda: "could not refresh" in crumbs(screen), "the failed refresh")
        assert screen.as_of is not None and "cached, as of " in crumbs(screen)
        assert STALE_NAME in {r.name for r in screen.shown}


@pytest.mark.asyncio
@pytest.mark.parametrize("field", ["tenant", "cloud"])
async def test_a_cache_of_another_tenant_or_cloud_is_never_shown(
    build_app: Callable[..., OpsConsole], faults: Faults, field: str
) -> None:
    path = await first_run(build_app)
    age_the_cache(path)
    data = json.loads(path.read_text())
    data[field] = "AzureCloud" if field == "cloud" else "22222222-2222-2222-2222-222222222222"
    path.write_text(json.dumps(data))
    faults(SLOW_LISTING)
    app = build_app(subscription=estate.PROD_SUBSCRIPTION)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen), "the Resources screen")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        for _ in range(5):
            assert screen.as_of is None and rows(screen) == 0 and "cached" not in crumbs(screen)
            await pilot.pause(0.01)
        await until(pilot, lambda: rows(screen) > 0, "the fresh listing")
        assert screen.as_of is None and STALE_NAME not in {r.name for r in screen.shown}


@pytest.mark.asyncio
async def test_a_damaged_cache_is_ignored_without_a_word(build_app: Callable[..., OpsConsole]) -> None:
    path = await first_run(build_app)
    path.write_text('{"format": 1, "cloud": "Local", "tenant": "' + estate.TENANT_ID + '", "subscriptions": [{"id"')
    app = build_app(subscription=estate.PROD_SUBSCRIPTION)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResourcesScreen) and rows(app.screen) > 0, "fresh rows")
        screen = app.screen
        assert isinstance(screen, ResourcesScreen)
        assert screen.as_of is None
        await app.workers.wait_for_complete()
        assert not [n for n in app._notifications if n.severity == "error"], notices(app)
    assert json.loads(path.read_text())["tenant"] == estate.TENANT_ID  # rewritten whole by the fresh listing
