"""The one mutation path (`Service.mutate`) on the local Azure: guard, journal, call, progress, failure, restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from azure.core.polling import AsyncLROPoller
from azure.core.rest import HttpRequest
from azure.mgmt.core.polling.async_arm_polling import AsyncARMPolling
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from conftest import EmulatorThread, request_counts

from console.audit import Journal, mask_secrets
from console.emulator import estate
from console.emulator.arm import SUB
from console.emulator.server import LRO_FAIL_KEY
from console.errors import ErrorKind, OpsError
from console.exit_codes import ExitCode, exit_code_for
from console.models import OperationProgress
from console.services import Services
from console.services.operations import review_unfinished

SUBSCRIPTION = estate.PROD_SUBSCRIPTION
Faults = Callable[[list[dict[str, Any]]], Any]


def arm_client(services: Services) -> ResourceManagementClient:
    return ResourceManagementClient(services.context.credential, SUBSCRIPTION, **services.context.arm_options())


@pytest.fixture
async def group(make_local_services: Callable[..., Services]) -> AsyncIterator[str]:
    """A resource group of this test's own (tagged `stage=before`), deleted afterwards if still there."""
    name = f"rg-mutation-{uuid.uuid4().hex[:8]}"
    services = make_local_services()
    client = arm_client(services)
    try:
        await client.resource_groups.create_or_update(name, {"location": "westeurope", "tags": {"stage": "before"}})
        yield f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}"
        if await client.resource_groups.check_existence(name):
            await (await client.resource_groups.begin_delete(name)).result()
    finally:
        await client.close()
        await services.close()


def phases(journal: Journal) -> list[tuple[str, str]]:
    return [(e["phase"], e.get("result", "")) for e in journal.entries()]


async def test_read_only_refuses_a_real_mutation_with_no_request_sent(
    local_azure: EmulatorThread, make_local_services: Callable[..., Services], group: str
) -> None:
    services = make_local_services(read_only=True)
    before = request_counts(local_azure.readiness)
    try:
        with pytest.raises(OpsError) as refused:
            await services.resources.set_tags(group, {"stage": "after"})
    finally:
        await services.close()
    assert request_counts(local_azure.readiness) == before
    assert refused.value.kind is ErrorKind.READ_ONLY
    assert "read-only" in str(refused.value) and group in str(refused.value)
    assert services.context.journal.entries() == []

    # The tripwire has teeth: the same call, writable, is counted as one more PUT.
    writable = make_local_services()
    try:
        await writable.resources.set_tags(group, {"stage": "after"})
    finally:
        await writable.close()
    after = request_counts(local_azure.readiness)
    assert after.get("PUT", 0) == before.get("PUT", 0) + 1


async def test_protected_subscription_needs_an_explicit_confirmation(
    local_azure: EmulatorThread, make_local_services: Callable[..., Services], group: str
) -> None:
    services = make_local_services(protected_subscriptions=(SUBSCRIPTION.upper(),))
    try:
        before = request_counts(local_azure.readiness)
        with pytest.raises(OpsError) as refused:
            await services.resources.set_tags(group, {"stage": "after"})
        assert request_counts(local_azure.readiness) == before
        assert refused.value.kind is ErrorKind.REFUSED
        assert exit_code_for(refused.value) is ExitCode.REFUSED
        assert "protected" in str(refused.value) and "not confirmed" in str(refused.value)
        assert services.context.journal.entries() == []

        assert await services.resources.set_tags(group, {"stage": "after"}, confirmed=True) == {"stage": "after"}
        assert phases(services.context.journal) == [("intent", ""), ("outcome", "succeeded")]
    finally:
        await services.close()


async def test_success_journals_intent_then_outcome_with_request_ids(
    make_local_services: Callable[..., Services], group: str
) -> None:
    services = make_local_services()
    journal = services.context.journal
    seen_in_journal: list[list[str]] = []

    async def call() -> Any:
        seen_in_journal.append([e["phase"] for e in journal.entries()])  # the intent is on disk before the call
        return await arm_client_of(services).tags.begin_create_or_update_at_scope(
            group, {"properties": {"tags": {"stage": "after", "db-password": "hunter2"}}}
        )

    try:
        result = await services.resources.mutate(
            "set tags",
            group,
            call,
            subscription_id=SUBSCRIPTION,
            parameters={"tags": {"stage": "after", "db-password": "hunter2"}},
        )
        assert dict(result.properties.tags) == {"stage": "after", "db-password": "hunter2"}
        assert await services.resources.state_of(group) == "tags db-password=hunter2, stage=after"
    finally:
        await services.close()
    assert seen_in_journal == [["intent"]]
    intent, outcome = journal.entries()
    assert intent["phase"] == "intent" and outcome["phase"] == "outcome"
    assert intent["operation_id"] == outcome["operation_id"]
    assert intent["action"] == outcome["action"] == "set tags"
    assert intent["target"] == outcome["target"] == group
    assert intent["subscription_id"] == SUBSCRIPTION and intent["area"] == "resources"
    assert intent["who"]  # the emulator's tokens name no principal: the OS user
    assert intent["parameters"] == {"tags": {"stage": "after", "db-password": "***"}}
    assert "hunter2" not in journal.path.read_text()
    assert outcome["result"] == "succeeded"
    assert len(outcome["request_ids"]) == 1 and uuid.UUID(outcome["request_ids"][0])
    assert len(outcome["correlation_ids"]) == 1


def arm_client_of(services: Services) -> Any:
    """The resources service's own ARM client (built with the request-id hook the path reads)."""
    return services.resources._client(SUBSCRIPTION)


async def test_injected_failure_journals_the_state_read_back_and_says_where_things_stand(
    make_local_services: Callable[..., Services], group: str, faults: Faults
) -> None:
    services = make_local_services()
    updates: list[OperationProgress] = []
    faults([{"path": "/tags/default$", "method": "PUT", "status": 409, "count": 1}])
    try:
        with pytest.raises(OpsError) as failed:
            await services.resources.set_tags(group, {"stage": "after"}, progress=updates.append)
    finally:
        await services.close()
    name = group.rsplit("/", 1)[-1]
    error = failed.value
    assert error.kind is ErrorKind.CONFLICT
    assert error.message == (
        f"Set tags on {name} failed (InjectedFault): Fault injected by the local Azure: HTTP 409; "
        "now: tags stage=before."
    )
    assert error.request_id
    assert [(u.status, u.done) for u in updates] == [("Running", False), ("Failed", True)]
    intent, outcome = services.context.journal.entries()
    assert outcome["result"] == "failed" and outcome["operation_id"] == intent["operation_id"]
    assert outcome["state"] == "tags stage=before"
    assert outcome["code"] == "InjectedFault"
    assert outcome["request_ids"] == [error.request_id]
    assert "now: tags stage=before" in outcome["error"]


async def test_a_long_running_operation_reports_progress_until_it_ends(
    make_local_services: Callable[..., Services], group: str
) -> None:
    services = make_local_services()
    name = group.rsplit("/", 1)[-1]
    updates: list[OperationProgress] = []
    try:
        await services.resources.mutate(
            "delete resource group",
            group,
            lambda: arm_client_of(services).resource_groups.begin_delete(name),
            subscription_id=SUBSCRIPTION,
            progress=updates.append,
        )
        assert await services.resources.state_of(group) == f"{name} does not exist"
    finally:
        await services.close()
    assert [u.status for u in updates[:2]] == ["Running", "InProgress"] and not updates[1].done
    assert updates[-1].status == "Succeeded" and updates[-1].done
    assert [u.done for u in updates].count(True) == 1
    assert all(u.action == "delete resource group" and u.target == group for u in updates)
    assert [u.elapsed_s for u in updates] == sorted(u.elapsed_s for u in updates)
    outcome = services.context.journal.entries()[-1]
    assert outcome["result"] == "succeeded"
    assert len(outcome["request_ids"]) >= 2  # the DELETE and at least one poll


@pytest.fixture(scope="module")
def failing_operation_route(local_azure: EmulatorThread) -> str:
    """A test-only ARM action run as a long-running operation, so `lro_fail` can make it end Failed."""
    assert local_azure.running is not None
    router = local_azure.running.router
    path = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.LocalAzure/mutationEcho"

    async def start(request: web.Request, match: dict[str, str]) -> web.StreamResponse:
        async def work() -> dict[str, Any]:
            return {"id": request.path, "name": "echo"}

        return router.start_operation(request, work, fail=request[LRO_FAIL_KEY])

    router.add("POST", SUB + r"/providers/microsoft\.localazure/mutationecho", start)
    return path


async def test_a_long_running_operation_that_ends_failed_says_where_things_stand(
    local_azure: EmulatorThread,
    make_local_services: Callable[..., Services],
    failing_operation_route: str,
    faults: Faults,
) -> None:
    services = make_local_services()
    client = arm_client(services)
    updates: list[OperationProgress] = []

    async def begin() -> AsyncLROPoller[Any]:
        url = f"{local_azure.readiness['arm_endpoint']}{failing_operation_route}?api-version=2024-01-01"
        initial = await client._client._pipeline.run(HttpRequest("POST", url), stream=False)
        return AsyncLROPoller(client._client, initial, lambda response: None, AsyncARMPolling(1))

    async def reread() -> str:
        return "the echo holds nothing"

    faults([{"path": "/mutationEcho$", "method": "POST", "lro_fail": True, "count": 1}])
    try:
        with pytest.raises(OpsError) as failed:
            await services.resources.mutate(
                "echo",
                failing_operation_route,
                begin,
                subscription_id=SUBSCRIPTION,
                reread=reread,
                progress=updates.append,
            )
    finally:
        await client.close()
        await services.close()
    assert failed.value.message == (
        "Echo on mutationEcho failed (InternalOperationError): The operation failed in the service; "
        "now: the echo holds nothing."
    )
    assert [u.status for u in updates[:2]] == ["Running", "InProgress"] and not updates[1].done
    assert updates[-1].status == "Failed" and updates[-1].done
    outcome = services.context.journal.entries()[-1]
    assert outcome["result"] == "failed" and outcome["state"] == "the echo holds nothing"
    assert outcome["code"] == "InternalOperationError"
    assert len(outcome["request_ids"]) >= 2  # the POST and the poll that said Failed


async def test_a_dropped_connection_is_told_with_the_state_read_back(
    make_local_services: Callable[..., Services], group: str, faults: Faults
) -> None:
    services = make_local_services(retry_total=0)
    faults([{"path": "/tags/default$", "method": "PUT", "drop": True}])
    try:
        with pytest.raises(OpsError) as failed:
            await services.resources.set_tags(group, {"stage": "after"})
    finally:
        await services.close()
    assert failed.value.kind is ErrorKind.TRANSIENT
    assert failed.value.message.startswith(f"Set tags on {group.rsplit('/', 1)[-1]} failed (transient): ")
    assert failed.value.message.endswith("; now: tags stage=before.")
    assert services.context.journal.entries()[-1]["state"] == "tags stage=before"


async def test_an_interrupted_change_is_found_at_the_next_start_with_its_state_read_back(
    make_local_services: Callable[..., Services], group: str
) -> None:
    services = make_local_services()
    name = group.rsplit("/", 1)[-1]
    polling = asyncio.Event()

    def on_progress(update: OperationProgress) -> None:
        if update.status == "InProgress":  # Azure accepted the deletion and it is being polled
            polling.set()

    change = asyncio.ensure_future(
        services.resources.mutate(
            "delete resource group",
            group,
            lambda: arm_client_of(services).resource_groups.begin_delete(name),
            subscription_id=SUBSCRIPTION,
            progress=on_progress,
        )
    )
    try:
        await asyncio.wait_for(polling.wait(), timeout=30)
        change.cancel()  # the console stops while the operation runs
        with pytest.raises(asyncio.CancelledError):
            await change
        journal = services.context.journal
        assert [e["action"] for e in journal.unfinished()] == ["delete resource group"]
        client = arm_client_of(services)
        for _ in range(300):  # the deletion goes on in Azure; wait for it (bounded) so the state read is known
            if not await client.resource_groups.check_existence(name):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail(f"{name} was still there after its deletion was accepted")

        # The next start: a new session on the same journal.
        restarted = make_local_services()
        try:
            found = await review_unfinished(restarted.context.journal, [restarted.resources])
        finally:
            await restarted.close()
    finally:
        await services.close()
    assert len(found) == 1
    unfinished = found[0]
    assert unfinished.state == f"{name} does not exist"
    assert unfinished.sentence.startswith(f"unfinished operation: delete resource group on {group} (started ")
    assert unfinished.sentence.endswith(f"; now: {name} does not exist")
    assert journal.unfinished() == []  # reported once: its outcome now records the state read back
    assert journal.entries()[-1]["result"] == "interrupted"


async def test_an_unfinished_change_whose_state_cannot_be_read_stays_open(
    make_local_services: Callable[..., Services], tmp_path: Path
) -> None:
    services = make_local_services()
    journal = services.context.journal
    journal.record("intent", "swap", "/subscriptions/x/sites/a", operation_id="op-1", area="slots", who="ana")
    journal.record("intent", "set tags", "/subscriptions/x", operation_id="op-2", area="resources", who="ana")
    journal.record("outcome", "set tags", "/subscriptions/x", operation_id="op-2", result="succeeded")
    journal.record("intent", "untracked", "legacy")  # no operation id: not an operation of this path
    try:
        assert [e["operation_id"] for e in journal.unfinished()] == ["op-1"]
        found = await review_unfinished(journal, [services.resources])
    finally:
        await services.close()
    assert [u.operation_id for u in found] == ["op-1"] and found[0].state is None
    assert "its state could not be read: no service of this console reads slots target" in found[0].sentence
    assert [e["operation_id"] for e in journal.unfinished()] == ["op-1"]


def test_secret_looking_parameters_are_masked() -> None:
    masked = mask_secrets(
        {
            "tags": {"owner": "ops", "api_key": "k", "note": "Endpoint=sb://x;SharedAccessKey=abc"},
            "connectionString": "x",
            "slots": ["staging", {"clientSecret": "s"}],
            "sasUrl": "https://a.blob.core.windows.net/c?sv=1&sig=abc",
        }
    )
    assert masked == {
        "tags": {"owner": "ops", "api_key": "***", "note": "***"},
        "connectionString": "***",
        "slots": ["staging", {"clientSecret": "***"}],
        "sasUrl": "***",
    }
