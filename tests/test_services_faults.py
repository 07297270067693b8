"""Services against the local Azure with faults injected: every failure becomes an OpsError with a sentence."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import EmulatorThread, control

from console.emulator import estate
from console.errors import ErrorKind, OpsError
from console.services import Services

PROD = estate.PROD_SUBSCRIPTION
POSTGRES_ID = (
    f"/subscriptions/{PROD}/resourceGroups/rg-prod-data"
    "/providers/Microsoft.DBforPostgreSQL/flexibleServers/psql-orders-prod"
)

Faults = Callable[[list[dict[str, Any]]], Any]
Call = Callable[[Services], Awaitable[Any]]

# Every ResourcesService and LogsService call, with the path its first request goes to.
CALLS: dict[str, tuple[str, Call]] = {
    "list_subscriptions": ("^/subscriptions$", lambda s: s.resources.list_subscriptions()),
    "list_resource_groups": ("/resourcegroups$", lambda s: s.resources.list_resource_groups(PROD)),
    "list_resources": ("/resources$", lambda s: s.resources.list_resources(PROD)),
    "list_group_resources": ("/resources$", lambda s: s.resources.list_resources(PROD, "rg-prod-web")),
    "get_resource": ("/flexibleservers/", lambda s: s.resources.get_resource(POSTGRES_ID)),
    "logs_query": ("/query$", lambda s: s.logs.query(estate.WORKSPACE_CUSTOMER_ID, "AppRequests | count", None)),
    "logs_schema": ("/metadata$", lambda s: s.logs.schema(estate.WORKSPACE_CUSTOMER_ID)),
}


async def run(services: Services, call: Call) -> Any:
    try:
        return await call(services)
    finally:
        await services.close()


def assert_sentence(error: OpsError) -> None:
    text = str(error)
    assert text[:1].isupper() and len(text.split()) >= 5, text
    assert "Traceback" not in text and "<" not in text, text


@pytest.mark.asyncio
async def test_throttling_with_retry_after_is_waited_out(
    make_local_services: Callable[..., Services], faults: Faults, local_azure: EmulatorThread
) -> None:
    faults([{"path": "/resources$", "method": "GET", "status": 429, "retry_after": 1, "count": 2}])
    found = await run(make_local_services(retry_total=3), CALLS["list_resources"][1])
    assert len(found) == len(local_azure.running.store.resources(PROD))  # type: ignore[union-attr]
    assert control(local_azure.readiness, "GET") == []  # both throttled answers were used up


@pytest.mark.asyncio
async def test_throttling_beyond_the_retries_says_when_to_retry(
    make_local_services: Callable[..., Services], faults: Faults
) -> None:
    faults([{"path": "/resources$", "status": 429, "retry_after": 1}])
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=0), CALLS["list_resources"][1])
    error = caught.value
    assert error.kind is ErrorKind.THROTTLED
    assert error.retry_after == 1.0
    assert error.request_id
    assert "throttling" in str(error) and error.request_id in str(error)
    assert_sentence(error)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(CALLS))
async def test_server_error_every_time_is_transient(
    make_local_services: Callable[..., Services], faults: Faults, name: str
) -> None:
    path, call = CALLS[name]
    faults([{"path": path, "status": 500}])
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=1), call)
    error = caught.value
    assert error.kind is ErrorKind.TRANSIENT
    assert "500" in error.message
    assert error.request_id and error.request_id in str(error)
    assert_sentence(error)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(CALLS))
async def test_dropped_connection_is_transient(
    make_local_services: Callable[..., Services], faults: Faults, name: str
) -> None:
    path, call = CALLS[name]
    faults([{"path": path, "drop": True}])
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=1), call)
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert "connection" in caught.value.message.lower()
    assert_sentence(caught.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(CALLS))
async def test_malformed_body_is_transient(
    make_local_services: Callable[..., Services], faults: Faults, name: str
) -> None:
    path, call = CALLS[name]
    faults([{"path": path, "malformed": True}])
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(retry_total=1), call)
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert "could not be read" in caught.value.message
    assert_sentence(caught.value)


@pytest.mark.asyncio
async def test_one_dropped_connection_is_retried(
    make_local_services: Callable[..., Services], faults: Faults, local_azure: EmulatorThread
) -> None:
    faults([{"path": "^/subscriptions$", "drop": True, "count": 1}])
    found = await run(make_local_services(retry_total=2), CALLS["list_subscriptions"][1])
    assert len(found) == 2
    assert control(local_azure.readiness, "GET") == []


@pytest.mark.asyncio
async def test_not_found_is_a_sentence_with_the_request_id(make_local_services: Callable[..., Services]) -> None:
    missing = POSTGRES_ID.replace("psql-orders-prod", "psql-nope")
    with pytest.raises(OpsError) as caught:
        await run(make_local_services(), lambda s: s.resources.get_resource(missing))
    assert caught.value.kind is ErrorKind.NOT_FOUND
    assert caught.value.code == "ResourceNotFound"
    assert caught.value.request_id
    assert_sentence(caught.value)



@pytest.mark.asyncio
async def test_read_only_can_be_per_subscription(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services(read_only_subscriptions=(PROD.upper(),))
    try:
        with pytest.raises(OpsError) as caught:
            services.resources.ensure_writable(PROD, "restart app-checkout-prod")
        services.resources.ensure_writable(estate.NONPROD_SUBSCRIPTION, "restart app-checkout-stg")
    finally:
        await services.close()
    assert caught.value.kind is ErrorKind.READ_ONLY
