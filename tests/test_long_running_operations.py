"""The local Azure's long-running operations, polled by the SDK's own ARM polling (AsyncARMPolling)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from azure.core.exceptions import HttpResponseError
from azure.core.polling import AsyncLROPoller
from azure.core.rest import HttpRequest
from azure.mgmt.core.polling.async_arm_polling import AsyncARMPolling
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from conftest import EmulatorThread

from console.cloud import local_profile
from console.emulator import estate
from console.emulator.arm import SUB, ArmOperationError
from console.emulator.server import LRO_FAIL_KEY
from console.errors import ErrorKind, OpsError, from_azure
from console.services import make_services
from console.settings import Settings

OPERATION_PATH = f"/subscriptions/{estate.PROD_SUBSCRIPTION}/providers/Microsoft.LocalAzure/echo"


@pytest.fixture(scope="module")
def echo_route(local_azure: EmulatorThread) -> None:
    """A test-only ARM action that runs as a long-running operation; `?refuse=1` makes the work fail."""
    assert local_azure.running is not None
    router = local_azure.running.router

    async def start(request: web.Request, match: dict[str, str]) -> web.StreamResponse:
        async def work() -> dict[str, Any]:
            if request.query.get("refuse"):
                raise ArmOperationError("EchoRefused", "The echo was refused.")
            return {"id": request.path, "name": "echo", "properties": {"subscription": match["sub"]}}

        return router.start_operation(request, work, fail=request[LRO_FAIL_KEY])

    router.add("POST", SUB + r"/providers/microsoft\.localazure/echo", start)


async def start_and_poll(settings: Settings, readiness: dict[str, Any], query: str = "") -> Any:
    """POST the action and poll it to the end exactly as generated SDK operations do."""
    services = make_services(settings, profile=local_profile(readiness))
    client = ResourceManagementClient(
        services.context.credential, estate.PROD_SUBSCRIPTION, **services.context.arm_options()
    )
    try:
        request = HttpRequest("POST", f"{readiness['arm_endpoint']}{OPERATION_PATH}?api-version=2024-01-01{query}")
        initial = await client._client._pipeline.run(request, stream=False)
        assert initial.http_response.status_code == 202
        assert initial.http_response.headers["Retry-After"] == "1"
        for header in ("Azure-AsyncOperation", "Location"):
            assert initial.http_response.headers[header].startswith(readiness["arm_endpoint"])
        poller: AsyncLROPoller[Any] = AsyncLROPoller(
            client._client,
            initial,
            lambda response: response.http_response.json(),
            AsyncARMPolling(1),
        )
        return await poller.result()
    finally:
        await client.close()
        await services.close()


@pytest.mark.usefixtures("echo_route")
async def test_operation_is_polled_to_its_result(local_azure: EmulatorThread, settings: Settings) -> None:
    result = await start_and_poll(settings, local_azure.readiness)
    assert result["properties"]["subscription"] == estate.PROD_SUBSCRIPTION


@pytest.mark.usefixtures("echo_route")
async def test_injected_failure_ends_the_operation_failed(
    local_azure: EmulatorThread, settings: Settings, faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    faults([{"path": "/echo$", "method": "POST", "lro_fail": True, "count": 1}])
    with pytest.raises(HttpResponseError) as raised:
        await start_and_poll(settings, local_azure.readiness)
    mapped = from_azure(raised.value, "echoing")
    assert isinstance(mapped, OpsError)
    assert "echoing" in str(mapped)


@pytest.mark.usefixtures("echo_route")
async def test_work_that_fails_reports_its_arm_error(local_azure: EmulatorThread, settings: Settings) -> None:
    with pytest.raises(HttpResponseError) as raised:
        await start_and_poll(settings, local_azure.readiness, "&refuse=1")
    assert "EchoRefused" in str(raised.value) or "refused" in str(raised.value).lower()
    mapped = from_azure(raised.value, "echoing")
    assert mapped.kind is ErrorKind.FAILED
    assert "ended Failed while echoing" in str(mapped) and "EchoRefused" in str(mapped)
