"""Hostile and odd input on the local Azure's ARM surface: always a 4xx with an ARM error body, never a 500.

Also the fidelity the SDK relies on: HEAD for existence, `$top` as a page size, links on the server's own
origin whatever the `Host` header says, resource group create/delete and tags at scope.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from conftest import EmulatorThread
from test_emulator_arm import fetch_token

from console.emulator import estate
from console.emulator.arm import valid_api_version
from console.emulator.server import EmulatorConfig

PROD = estate.PROD_SUBSCRIPTION
API = "2025-04-01"
GROUP = f"/subscriptions/{PROD}/resourceGroups/rg-prod-web"
CHECKOUT_ID = f"{GROUP}/providers/Microsoft.Web/sites/app-checkout-prod"


class Answer:
    """A raw HTTPS answer: status, headers and the body parsed as JSON when it is JSON."""

    def __init__(self, status: int, headers: dict[str, str], raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw

    def json(self) -> Any:
        return json.loads(self.raw)

    def assert_arm_error(self, status: int, code: str | None = None) -> dict[str, str]:
        assert self.status == status, (self.status, self.raw[:300])
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        error = self.json()["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"].endswith((".", ")"))
        if code is not None:
            assert error["code"] == code, error
        return dict(error)


@pytest.fixture(scope="module")
def call(local_azure: EmulatorThread) -> Any:
    """Send any method, path, headers and body over HTTPS with a valid ARM token."""
    readiness = local_azure.readiness
    router = local_azure.running.router  # type: ignore[union-attr]
    if router.origin is None:  # what the server sets once bound
        router.origin = readiness["arm_endpoint"]
    token = fetch_token(readiness)
    endpoint = urllib.parse.urlsplit(readiness["arm_endpoint"])
    context = ssl.create_default_context(cafile=readiness["ca_file"])

    def send(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPSConnection(endpoint.hostname or "", endpoint.port, context=context, timeout=30)
        try:
            connection.request(method, path, body=body, headers={"Authorization": f"Bearer {token}", **(headers or {})})
            response = connection.getresponse()
            raw = response.read()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
        finally:
            connection.close()

    return send


@pytest.fixture
async def client(local_azure: EmulatorThread) -> AsyncIterator[ResourceManagementClient]:
    readiness = local_azure.readiness
    credential = DefaultAzureCredential()
    sdk = ResourceManagementClient(
        credential,
        PROD,
        base_url=readiness["arm_endpoint"],
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=readiness["ca_file"],
    )
    yield sdk
    await sdk.close()
    await credential.close()


# api-version ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["", "garbage", "2024-13-01", "2024-02-30", "2024-1-1", "24-01-01", "2024-01-01-foo", "2024-01-01preview",
     "%00", "2024-01-01%0d%0aX-Injected:%201", "9" * 5000, "%D9%A2%D9%A0%D9%A2%D9%A4-01-01"],
)  # fmt: skip
def test_bad_api_version_is_refused(call: Any, value: str) -> None:
    answer = call("GET", f"/subscriptions/{PROD}/resources?api-version={value}")
    error = answer.assert_arm_error(400, "InvalidApiVersionParameter")
    assert len(error["message"]) < 400
    assert "x-injected" not in answer.headers


@pytest.mark.parametrize(
    "value", ["2025-04-01", "2019-05-05-preview", "2024-01-01-alpha", "2024-01-01-BETA", "2024-02-29-privatepreview"]
)
def test_good_api_versions_are_accepted(call: Any, value: str) -> None:
    assert valid_api_version(value)
    assert call("GET", f"/subscriptions/{PROD}?api-version={value}").status == 200


def test_two_different_api_versions_are_refused(call: Any) -> None:
    answer = call("GET", f"/subscriptions/{PROD}?api-version=2025-04-01&api-version=2021-04-01")
    answer.assert_arm_error(400, "InvalidApiVersionParameter")


# methods ----------------------------------------------------------------------------------------


# Methods the HTTP parser knows but ARM does not; a token no HTTP parser knows is refused before routing.
@pytest.mark.parametrize("method", ["PROPFIND", "MKCOL", "TRACE", "PURGE", "QUERY", "SOURCE", "LINK"])
@pytest.mark.parametrize("path", [f"/subscriptions/{PROD}", "/nowhere", CHECKOUT_ID])
def test_unknown_methods_are_405_json(call: Any, method: str, path: str) -> None:
    answer = call(method, f"{path}?api-version={API}")
    answer.assert_arm_error(405, "MethodNotAllowed")
    assert "GET" in answer.headers["allow"]


def test_known_method_on_a_read_only_route_is_405_with_allow(call: Any) -> None:
    answer = call("POST", f"/subscriptions/{PROD}/resources?api-version={API}", b"{}")
    answer.assert_arm_error(405, "MethodNotAllowed")
    assert answer.headers["allow"] == "GET"


# paging parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "top", ["", "abc", "-1", "0", "1e3", "3.5", " 3", "+3", "99999999999999999999", "0x10", "\u0663"]
)
def test_bad_top_is_400(call: Any, top: str) -> None:
    query = urllib.parse.urlencode({"api-version": API, "$top": top})
    call("GET", f"/subscriptions/{PROD}/resources?{query}").assert_arm_error(400, "InvalidTop")


@pytest.mark.parametrize("token", ["", "abc", "-5", "1.5", "9" * 50, "%ff"])
def test_bad_skiptoken_is_400(call: Any, token: str) -> None:
    query = f"api-version={API}&$skiptoken={token}"
    call("GET", f"/subscriptions/{PROD}/resources?{query}").assert_arm_error(400, "InvalidSkipToken")


def test_skiptoken_past_the_end_is_an_empty_last_page(call: Any) -> None:
    answer = call("GET", f"/subscriptions/{PROD}/resources?api-version={API}&$skiptoken=100000")
    assert answer.status == 200
    assert answer.json() == {"value": []}


@pytest.mark.parametrize(
    "text",
    ["garbage", "resourceType eq", "'''", "name eq 'x' or name eq 'y'", "location gt 'a'", "substringof('a', name)",
     "resourceType eq 'a' and", "(" * 1000, "name eq '" + "x" * 5000, "tagName eq 'a''"],
)  # fmt: skip
def test_bad_filter_is_400_with_a_sentence(call: Any, text: str) -> None:
    query = urllib.parse.urlencode({"api-version": API, "$filter": text})
    call("GET", f"/subscriptions/{PROD}/resources?{query}").assert_arm_error(400, "InvalidFilter")


# bodies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"", "application/json"),
        (b'{"location": "westeurope"', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"location": "westeurope"}', "application/json; charset=foobar"),
        (b'\xff\xfe{"location"', "application/json"),
        (b'{"location": 5}', "application/json"),
        (b'{"location": "westeurope", "tags": ["a"]}', "application/json"),
        (b'{"location": "westeurope", "tags": {"a": {"b": 1}}}', "application/json"),
    ],
)
def test_bad_bodies_on_a_group_put_are_400(call: Any, body: bytes, content_type: str) -> None:
    name = f"rg-bad-{uuid.uuid4().hex[:8]}"
    path = f"/subscriptions/{PROD}/resourcegroups/{name}?api-version={API}"
    call("PUT", path, body, {"Content-Type": content_type}).assert_arm_error(400)
    assert call("HEAD", path).status == 404


def test_bad_group_name_is_400(call: Any) -> None:
    path = f"/subscriptions/{PROD}/resourcegroups/bad%20name!?api-version={API}"
    call("PUT", path, b'{"location": "westeurope"}').assert_arm_error(400, "InvalidResourceGroupName")


def test_group_put_in_another_location_is_409(call: Any) -> None:
    path = f"{GROUP}?api-version={API}"
    call("PUT", path, b'{"location": "eastus"}').assert_arm_error(409, "InvalidResourceGroupLocation")


def test_bad_tags_at_scope_body_is_400(call: Any) -> None:
    path = f"{CHECKOUT_ID}/providers/Microsoft.Resources/tags/default?api-version={API}"
    call("PATCH", path, b'{"operation": "Explode", "properties": {"tags": {}}}').assert_arm_error(400)
    call("PUT", path, b"][").assert_arm_error(400, "InvalidRequestContent")


# existence, $top, links -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_check_existence_of_groups_and_resources(client: ResourceManagementClient) -> None:
    assert await client.resource_groups.check_existence("rg-prod-web") is True
    assert await client.resource_groups.check_existence("RG-PROD-WEB") is True
    assert await client.resource_groups.check_existence("rg-nope") is False
    assert await client.resources.check_existence_by_id(CHECKOUT_ID, api_version="2025-05-01") is True
    missing = CHECKOUT_ID.replace("app-checkout-prod", "app-nope")
    assert await client.resources.check_existence_by_id(missing, api_version="2025-05-01") is False


def test_next_link_ignores_a_forged_host(call: Any, local_azure: EmulatorThread) -> None:
    origin = local_azure.readiness["arm_endpoint"]
    answer = call("GET", f"/subscriptions/{PROD}/resources?api-version={API}&$top=2", headers={"Host": "evil.example"})
    assert answer.status == 200
    link = answer.json()["nextLink"]
    assert link.startswith(origin + f"/subscriptions/{PROD}/resources?")
    assert "evil" not in link
    assert "%24top=2" in link or "$top=2" in link


def test_operation_links_ignore_a_forged_host(call: Any, local_azure: EmulatorThread) -> None:
    origin = local_azure.readiness["arm_endpoint"]
    name = f"rg-lro-{uuid.uuid4().hex[:8]}"
    path = f"/subscriptions/{PROD}/resourcegroups/{name}?api-version={API}"
    assert call("PUT", path, b'{"location": "westeurope"}').status == 201
    answer = call("DELETE", path, headers={"Host": "evil.example:443"})
    assert answer.status == 202
    for header in ("location", "azure-asyncoperation"):
        assert answer.headers[header].startswith(origin + "/"), answer.headers[header]
    result = urllib.parse.urlsplit(answer.headers["location"])
    polled = call("GET", f"{result.path}?{result.query}", headers={"Host": "evil.example"})
    assert polled.status in {202, 204}
    if polled.status == 202:
        assert polled.headers["location"].startswith(origin + "/")


# resource groups and tags through the SDK --------------------------------------------------------


@pytest.mark.asyncio
async def test_group_create_update_and_delete_through_the_sdk(
    client: ResourceManagementClient, local_azure: EmulatorThread
) -> None:
    name = f"rg-sdk-{uuid.uuid4().hex[:8]}"
    created = await client.resource_groups.create_or_update(name, {"location": "westeurope", "tags": {"a": "1"}})
    assert created.name == name and created.location == "westeurope" and created.tags == {"a": "1"}
    assert await client.resource_groups.check_existence(name) is True
    again = await client.resource_groups.create_or_update(name, {"location": "westeurope", "tags": {"b": "2"}})
    assert again.tags == {"b": "2"}
    patched = await client.resource_groups.update(name, {"tags": {"c": "3"}})
    assert patched.tags == {"c": "3"}
    assert name in [g.name async for g in client.resource_groups.list()]

    store = local_azure.running.store  # type: ignore[union-attr]
    resource_id = (
        f"/subscriptions/{PROD}/resourceGroups/{name}/providers/Microsoft.Storage/storageAccounts/st{name[-8:]}"
    )
    store.put_resource({"id": resource_id, "name": f"st{name[-8:]}", "type": "Microsoft.Storage/storageAccounts"})
    poller = await client.resource_groups.begin_delete(name, polling_interval=0)
    await poller.result()
    assert await client.resource_groups.check_existence(name) is False
    assert store.resource(resource_id) is None
    with pytest.raises(ResourceNotFoundError):
        await client.resource_groups.get(name)
    with pytest.raises(ResourceNotFoundError):
        await client.resource_groups.begin_delete(name)


@pytest.mark.asyncio
async def test_tags_at_scope_through_the_sdk(client: ResourceManagementClient) -> None:
    name = f"rg-tags-{uuid.uuid4().hex[:8]}"
    await client.resource_groups.create_or_update(name, {"location": "westeurope", "tags": {"keep": "yes"}})
    scope = f"/subscriptions/{PROD}/resourceGroups/{name}"
    try:
        got = await client.tags.get_at_scope(scope)
        assert got.properties.tags == {"keep": "yes"}
        merged = await (
            await client.tags.begin_update_at_scope(scope, {"operation": "Merge", "properties": {"tags": {"x": "1"}}})
        ).result()
        assert merged.properties.tags == {"keep": "yes", "x": "1"}
        deleted = await (
            await client.tags.begin_update_at_scope(scope, {"operation": "Delete", "properties": {"tags": {"x": ""}}})
        ).result()
        assert deleted.properties.tags == {"keep": "yes"}
        replaced = await (
            await client.tags.begin_create_or_update_at_scope(scope, {"properties": {"tags": {"only": "this"}}})
        ).result()
        assert replaced.properties.tags == {"only": "this"}
        assert (await client.resource_groups.get(name)).tags == {"only": "this"}
        await (await client.tags.begin_delete_at_scope(scope)).result()
        assert (await client.tags.get_at_scope(scope)).properties.tags == {}
    finally:
        await (await client.resource_groups.begin_delete(name, polling_interval=0)).result()
    with pytest.raises(HttpResponseError) as caught:
        await client.tags.get_at_scope(scope)
    assert caught.value.status_code == 404


@pytest.mark.asyncio
async def test_group_list_takes_the_tag_filter(client: ResourceManagementClient) -> None:
    groups = [g.name async for g in client.resource_groups.list(filter="tagName eq 'owner' and tagValue eq 'sre'")]
    assert sorted(groups) == ["rg-backup", "rg-monitoring"]
    with pytest.raises(HttpResponseError) as caught:
        _ = [g async for g in client.resource_groups.list(filter="tagValue eq 'sre'")]
    assert caught.value.status_code == 400 and "tagName" in str(caught.value.message)


@pytest.mark.parametrize(
    "tags",
    [{f"k{i}": "v" for i in range(51)}, {"k" * 513: "v"}, {"": "v"}, {"k": "v" * 257}],
    ids=["51 tags", "long name", "empty name", "long value"],
)
def test_tag_limits_are_400(call: Any, tags: dict[str, str]) -> None:
    path = f"{CHECKOUT_ID}/providers/Microsoft.Resources/tags/default?api-version={API}"
    call("PUT", path, json.dumps({"properties": {"tags": tags}}).encode()).assert_arm_error(400)
    assert "k0" not in call("GET", path).json()["properties"]["tags"]


def test_finished_operations_are_forgotten_past_the_cap(
    call: Any, local_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.emulator import arm

    monkeypatch.setattr(arm, "MAX_OPERATIONS", 3)
    router = local_azure.running.router  # type: ignore[union-attr]
    for _ in range(6):
        path = f"/subscriptions/{PROD}/resourcegroups/rg-op-{uuid.uuid4().hex[:8]}?api-version={API}"
        assert call("PUT", path, b'{"location": "westeurope"}').status == 201
        status_url = urllib.parse.urlsplit(call("DELETE", path).headers["azure-asyncoperation"])
        for _poll in range(200):
            body = call("GET", f"{status_url.path}?{status_url.query}").json()
            if body["status"] != "InProgress":
                break
            time.sleep(0.05)
        assert body["status"] == "Succeeded"
        assert call("HEAD", path).status == 404
    assert len(router.operations) <= 3


def test_a_deleted_group_stays_deleted_after_a_restart(tmp_path: Path) -> None:
    def start() -> EmulatorThread:
        emulator = EmulatorThread(
            EmulatorConfig(data_dir=tmp_path, telemetry_scale=0.001, live_traffic=False, seed_delay_s=0)
        )
        emulator.start()
        return emulator

    def send(emulator: EmulatorThread, method: str, path: str, body: bytes | None = None) -> int:
        readiness = emulator.readiness
        endpoint = urllib.parse.urlsplit(readiness["arm_endpoint"])
        context = ssl.create_default_context(cafile=readiness["ca_file"])
        connection = http.client.HTTPSConnection(endpoint.hostname or "", endpoint.port, context=context, timeout=30)
        try:
            headers = {"Authorization": f"Bearer {fetch_token(readiness)}"}
            connection.request(method, f"{path}?api-version={API}", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    kept = f"/subscriptions/{PROD}/resourceGroups/rg-kept"
    first = start()
    try:
        assert send(first, "PUT", kept, b'{"location": "westeurope", "tags": {"a": "b"}}') == 201
        store = first.running.store  # type: ignore[union-attr]
        assert store.resources(PROD, "rg-prod-data")
        assert send(first, "DELETE", f"/subscriptions/{PROD}/resourceGroups/rg-prod-data") == 202
        for _ in range(200):
            if store.resource_group(PROD, "rg-prod-data") is None:
                break
            time.sleep(0.05)
        assert store.resources(PROD, "rg-prod-data") == []
    finally:
        first.stop()
    second = start()
    try:
        assert send(second, "HEAD", kept) == 204
        assert send(second, "HEAD", f"/subscriptions/{PROD}/resourceGroups/rg-prod-data") == 404
        assert second.running.store.resources(PROD, "rg-prod-data") == []  # type: ignore[union-attr]
        assert second.running.store.resource_group(PROD, "rg-kept")["tags"] == {"a": "b"}  # type: ignore[union-attr,index]
    finally:
        second.stop()


def test_collections_of_a_type_list_full_documents(call: Any, local_azure: EmulatorThread) -> None:
    """What the service SDKs' list calls ask for: `.../providers/{namespace}/{type}` and nested collections."""
    store = local_azure.running.store  # type: ignore[union-attr]
    answer = call("GET", f"/subscriptions/{PROD}/providers/microsoft.web/SITES?api-version=2025-05-01&$top=2")
    assert answer.status == 200
    first = answer.json()
    assert len(first["value"]) == 2 and "nextLink" in first
    rest = urllib.parse.urlsplit(first["nextLink"])
    names = [s["name"] for s in first["value"]] + [
        s["name"] for s in call("GET", f"{rest.path}?{rest.query}").json()["value"]
    ]
    wanted = [r for r in store.resources(PROD) if r["type"] == "Microsoft.Web/sites"]
    assert sorted(names) == sorted(r["name"] for r in wanted)
    assert all("properties" in s for s in first["value"])

    slots = call("GET", f"{CHECKOUT_ID}/slots?api-version=2025-05-01").json()["value"]
    assert sorted(s["name"] for s in slots) == ["app-checkout-prod/canary", "app-checkout-prod/staging"]
    assert all(s["type"] == "Microsoft.Web/sites/slots" for s in slots)
    in_group = call("GET", f"{GROUP}/providers/Microsoft.Web/serverfarms?api-version=2025-05-01").json()["value"]
    assert {r["type"] for r in in_group} == {"Microsoft.Web/serverfarms"}

    for path in (f"/subscriptions/{PROD}/providers/Microsoft.Web/gadgets", f"{GROUP}/providers/Microsoft.Nope/things"):
        call("GET", f"{path}?api-version={API}").assert_arm_error(404, "InvalidResourceType")


@pytest.mark.parametrize("version", ["2099-01-01", "2015-01-01", "2024-11-01-preview"])
def test_an_api_version_the_type_does_not_list_is_refused_with_the_list(call: Any, version: str) -> None:
    for path in (CHECKOUT_ID, f"{CHECKOUT_ID}/slots", f"/subscriptions/{PROD}/providers/Microsoft.Web/sites"):
        error = call("GET", f"{path}?api-version={version}").assert_arm_error(400, "NoRegisteredProviderFound")
        assert "2025-05-01" in error["message"] and version in error["message"]
    assert call("HEAD", f"{CHECKOUT_ID}?api-version={version}").status == 400


@pytest.mark.asyncio
async def test_every_listed_api_version_reads_the_resource(
    client: ResourceManagementClient, local_azure: EmulatorThread
) -> None:
    provider = await client.providers.get("Microsoft.Cache")
    redis = next(r for r in local_azure.running.store.resources(PROD) if r["type"] == "Microsoft.Cache/Redis")  # type: ignore[union-attr]
    for version in next(t for t in provider.resource_types or [] if t.resource_type == "Redis").api_versions or []:
        assert (await client.resources.get_by_id(redis["id"], api_version=version)).name == redis["name"]


@pytest.mark.parametrize(
    ("method", "tail"),
    [
        ("GET", "/nothing/" + "x" * 6000),
        ("POST", "/resourceGroups/rg-prod-web/providers/Microsoft.Web/sites/" + "y" * 6000),
        ("GET", "/resourceGroups/rg-prod-web/providers/Microsoft.Web/sites/" + "z" * 6000),
    ],
)
def test_error_messages_do_not_echo_long_input_whole(call: Any, method: str, tail: str) -> None:
    error = call(method, f"/subscriptions/{PROD}{tail}?api-version=2025-05-01").assert_arm_error(
        404 if method == "GET" else 405
    )
    assert len(error["message"]) < 500
