"""The local Azure by area: routes tried by specificity whatever their order, and an area added as
one module (its routes, its seed) served by the running server with nothing else edited."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_emulator_arm import arm_get, fetch_token

from console.emulator import estate
from console.emulator.areas import AREAS, Area, resources
from console.emulator.arm import SUB, ArmRouter, Route
from console.emulator.server import EmulatorConfig, start_emulator
from console.emulator.store import Document, Store

PROD = estate.PROD_SUBSCRIPTION
RG_PATH = f"/subscriptions/{PROD}/resourceGroups/rg-prod-web"
SITE = f"{RG_PATH}/providers/Microsoft.Web/sites/app-checkout-prod"
TAGS = "/providers/Microsoft.Resources/tags/default"


def _labelled(routes: list[Route]) -> list[Route]:
    """The same routes, each answering with its own pattern and method, so dispatch can be seen."""

    def answer(route: Route) -> Any:
        async def handler(request: web.Request, match: dict[str, str]) -> web.Response:
            return web.json_response({"pattern": route.pattern, "method": route.method, "match": match})

        return handler

    return [Route(route.method, route.pattern, answer(route)) for route in routes]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "local-azure.duckdb", seed=lambda _now: ())
    yield opened
    opened.close()


async def _dispatch_all(router: ArmRouter, requests: list[tuple[str, str]]) -> list[tuple[int, Any]]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", router.dispatch)
    answers: list[tuple[int, Any]] = []
    async with TestClient(TestServer(app)) as client:
        for method, path in requests:
            response = await client.request(method, path, params={"api-version": "2021-04-01"})
            body = await response.json() if method != "HEAD" else None
            answers.append((response.status, body))
    return answers


async def test_routes_dispatch_the_same_whatever_order_they_are_declared_in(store: Store) -> None:
    declared = _labelled(list(resources.routes(ArmRouter(store))))
    shuffled = list(declared)
    random.Random(7).shuffle(shuffled)
    requests = [
        ("GET", f"/subscriptions/{PROD}/providers/Microsoft.Web/resourceTypes"),
        ("GET", f"/subscriptions/{PROD}/providers/Microsoft.Web/sites"),
        ("GET", f"/subscriptions/{PROD}/providers/Microsoft.Web"),
        ("GET", f"{RG_PATH}/providers/Microsoft.Web/sites"),
        ("GET", SITE),
        ("HEAD", SITE),
        ("GET", SITE + TAGS),
        ("PATCH", RG_PATH + TAGS),
        ("GET", f"{RG_PATH}/resources"),
        ("GET", RG_PATH),
        ("PUT", SITE),
    ]
    answers = [
        await _dispatch_all(ArmRouter(store, routes=order), requests)
        for order in (declared, list(reversed(declared)), shuffled)
    ]
    assert answers[0] == answers[1] == answers[2]
    patterns = [(body or {}).get("pattern", status) for status, body in answers[0]]
    assert patterns[0].endswith("/(?P<ns>[^/]+)/resourcetypes")
    assert patterns[1].endswith("/(?P<ns>[^/]+)/(?P<type>[^/]+)")
    assert patterns[2].endswith("/providers/(?P<ns>[^/]+)")
    assert patterns[3].endswith("/providers/(?P<rest>.+)") and patterns[4] == patterns[3]
    assert answers[0][5][0] == 200  # HEAD on the generic resource route
    assert patterns[6].endswith("/tags/default") and patterns[7] == patterns[6]
    assert answers[0][6][1]["match"]["scope"].lower() == SITE.lower()
    assert patterns[8].endswith("/resources") and patterns[9].endswith("(?P<rg>[^/]+)")
    assert answers[0][10][0] == 405  # PUT on a resource: the generic routes know GET and HEAD only


async def test_a_route_added_later_still_comes_before_a_generic_one(store: Store) -> None:
    router = ArmRouter(store, routes=_labelled(list(resources.routes(ArmRouter(store)))))
    router.add_routes(_labelled([Route("GET", SUB + r"/providers/microsoft\.web/special", _hello)]))
    [(status, body)] = await _dispatch_all(router, [("GET", f"/subscriptions/{PROD}/providers/Microsoft.Web/special")])
    assert status == 200 and body["pattern"].endswith("special")


async def _hello(request: web.Request, match: dict[str, str]) -> web.Response:
    return web.json_response({"hello": match["sub"]})


def _hello_routes(router: ArmRouter) -> list[Route]:
    async def get_note(request: web.Request, match: dict[str, str]) -> web.Response:
        note = router.store.get("note", match["name"])
        return web.json_response(note) if note else web.json_response({"error": {"code": "NotFound"}}, status=404)

    return [
        Route("GET", SUB + r"/providers/microsoft\.localazure/hello", _hello),
        Route("GET", r"/providers/microsoft\.localazure/notes/(?P<name>[^/]+)", get_note),
    ]


def _hello_seed(now: Any) -> list[Document]:
    return [("note", "first", {"name": "first", "seededAt": now.isoformat()})]


HELLO = Area("hello", routes=_hello_routes, seed=_hello_seed)


async def test_an_area_is_its_routes_and_seed_and_the_server_serves_it(tmp_path: Path) -> None:
    running = await start_emulator(
        EmulatorConfig(data_dir=tmp_path, live_traffic=False, seed_delay_s=0.0), areas=(*AREAS, HELLO)
    )
    try:
        readiness = running.readiness
        token = await asyncio.to_thread(fetch_token, readiness)
        hello = await asyncio.to_thread(
            arm_get,
            readiness,
            f"/subscriptions/{PROD}/providers/Microsoft.LocalAzure/hello?api-version=2024-01-01",
            token,
        )
        note = await asyncio.to_thread(
            arm_get, readiness, "/providers/Microsoft.LocalAzure/notes/first?api-version=2024-01-01", token
        )
        group = await asyncio.to_thread(arm_get, readiness, RG_PATH + "?api-version=2021-04-01", token)
    finally:
        await running.stop()
    assert hello == (200, {"hello": PROD})
    assert note[0] == 200 and note[1]["name"] == "first"
    assert group[0] == 200 and group[1]["name"] == "rg-prod-web"  # the other areas still seed and answer


async def test_without_the_resources_area_no_resource_route_answers(tmp_path: Path) -> None:
    running = await start_emulator(
        EmulatorConfig(data_dir=tmp_path, live_traffic=False, seed_delay_s=0.0), areas=(HELLO,)
    )
    try:
        readiness = running.readiness
        token = await asyncio.to_thread(fetch_token, readiness)
        status, body = await asyncio.to_thread(arm_get, readiness, RG_PATH + "?api-version=2021-04-01", token)
    finally:
        await running.stop()
    assert status == 404 and body["error"]["code"] == "InvalidResourceType"
    assert readiness["subscriptions"] == []
