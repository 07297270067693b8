"""The local Azure's ARM surface, driven by the unmodified SDK and by plain HTTPS requests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.resource.resources.aio import ResourceManagementClient
from click.testing import CliRunner
from conftest import EmulatorThread

from console.cli import main
from console.emulator import estate
from console.emulator.server import EmulatorConfig, NotLoopbackError, require_loopback, start_emulator
from console.services import Services

PROD = estate.PROD_SUBSCRIPTION
NONPROD = estate.NONPROD_SUBSCRIPTION
ARM_API = "2021-04-01"
CHECKOUT_ID = f"/subscriptions/{PROD}/resourceGroups/rg-prod-web/providers/Microsoft.Web/sites/app-checkout-prod"


def fetch_token(readiness: dict[str, Any], audience: str = "https://management.azure.com") -> str:
    """A bearer token from the local managed-identity endpoint, the way the SDK asks for one."""
    query = urllib.parse.urlencode({"api-version": "2019-08-01", "resource": audience})
    request = urllib.request.Request(
        f"{readiness['identity_endpoint']}?{query}", headers={"X-IDENTITY-HEADER": readiness["identity_header"]}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["access_token"])


def arm_get(readiness: dict[str, Any], path: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    """GET an ARM path over HTTPS trusting the local CA; returns the status and the JSON body."""
    context = ssl.create_default_context(cafile=readiness["ca_file"])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{readiness['arm_endpoint']}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def token(local_azure: EmulatorThread) -> str:
    return fetch_token(local_azure.readiness)


@pytest.fixture
async def raw_client(local_azure: EmulatorThread) -> AsyncIterator[ResourceManagementClient]:
    """A plain SDK client for the production subscription, configured only with endpoint and CA."""
    readiness = local_azure.readiness
    credential = DefaultAzureCredential()
    client = ResourceManagementClient(
        credential,
        PROD,
        base_url=readiness["arm_endpoint"],
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=readiness["ca_file"],
    )
    yield client
    await client.close()
    await credential.close()


# paging and filters -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sdk_pages_through_every_resource(
    raw_client: ResourceManagementClient, local_azure: EmulatorThread
) -> None:
    expected = {r["id"].lower() for r in local_azure.running.store.resources(PROD)}  # type: ignore[union-attr]
    pages = 0
    seen: list[str] = []
    async for page in raw_client.resources.list().by_page():
        pages += 1
        seen.extend([item.id.lower() async for item in page])
    assert set(seen) == expected
    assert len(seen) == len(expected)
    assert pages == -(-len(expected) // 7) and pages > 1


@pytest.mark.asyncio
async def test_services_list_every_resource_of_both_subscriptions(
    make_local_services: Callable[..., Services], local_azure: EmulatorThread
) -> None:
    store = local_azure.running.store  # type: ignore[union-attr]
    services = make_local_services()
    try:
        subscriptions = await services.resources.list_subscriptions()
        everything = await services.resources.list_all_resources([s.subscription_id for s in subscriptions])
        groups = await services.resources.list_resource_groups(PROD)
    finally:
        await services.close()
    wanted = {r["id"].lower() for r in store.resources(PROD) + store.resources(NONPROD)}
    assert len(wanted) > 7
    assert {r.resource_id.lower() for r in everything} == wanted
    assert len(everything) == len(wanted)
    assert [g.name for g in groups] == sorted(g["name"] for g in store.resource_groups(PROD))


@pytest.mark.asyncio
async def test_filter_on_resource_type(raw_client: ResourceManagementClient) -> None:
    sites = [r async for r in raw_client.resources.list(filter="resourceType eq 'Microsoft.Web/sites'")]
    assert sites
    assert {r.type for r in sites} == {"Microsoft.Web/sites"}
    assert "app-checkout-prod" in {r.name for r in sites}


@pytest.mark.asyncio
async def test_filter_on_tag_name_and_value(raw_client: ResourceManagementClient, local_azure: EmulatorThread) -> None:
    found = [r async for r in raw_client.resources.list(filter="tagName eq 'owner' and tagValue eq 'sre'")]
    store = local_azure.running.store  # type: ignore[union-attr]
    expected = {r["name"] for r in store.resources(PROD) if (r.get("tags") or {}).get("owner") == "sre"}
    assert expected
    assert {r.name for r in found} == expected
    tagged = [r async for r in raw_client.resources.list(filter="tagName eq 'slot'")]
    assert tagged and all("slot" in (r.tags or {}) for r in tagged)


@pytest.mark.asyncio
async def test_unsupported_filter_is_a_bad_request(raw_client: ResourceManagementClient) -> None:
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as caught:
        _ = [r async for r in raw_client.resources.list(filter="location gt 'a'")]
    assert caught.value.status_code == 400
    assert caught.value.error is not None and caught.value.error.code == "InvalidFilter"


@pytest.mark.asyncio
async def test_top_is_a_page_size_and_the_pager_follows_on(
    raw_client: ResourceManagementClient, local_azure: EmulatorThread
) -> None:
    """As in Azure: `$top=N` answers N items and a nextLink that carries on, so the SDK sees them all."""
    expected = len(local_azure.running.store.resources(PROD))  # type: ignore[union-attr]
    for top in (3, 10):
        sizes = [len([r async for r in page]) async for page in raw_client.resources.list(top=top).by_page()]
        assert sum(sizes) == expected
        assert sizes[:-1] == [top] * (len(sizes) - 1)
        assert 0 < sizes[-1] <= top


@pytest.mark.asyncio
async def test_missing_resource_and_group_are_404s(raw_client: ResourceManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError) as missing_resource:
        missing_id = CHECKOUT_ID.replace("app-checkout-prod", "app-nope")
        await raw_client.resources.get_by_id(missing_id, api_version="2024-11-01")
    assert missing_resource.value.error is not None
    assert missing_resource.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as missing_group:
        await raw_client.resource_groups.get("rg-does-not-exist")
    assert missing_group.value.error is not None
    assert missing_group.value.error.code == "ResourceGroupNotFound"


# plain HTTPS: auth, api-version, case-insensitive paths ---------------------------------------


def test_request_without_token_gets_401(local_azure: EmulatorThread) -> None:
    status, body = arm_get(local_azure.readiness, f"/subscriptions?api-version={ARM_API}")
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"


def test_token_for_another_audience_gets_401(local_azure: EmulatorThread) -> None:
    logs_token = fetch_token(local_azure.readiness, "https://api.loganalytics.io")
    status, body = arm_get(local_azure.readiness, f"/subscriptions?api-version={ARM_API}", logs_token)
    assert status == 401
    assert "not https://management.azure.com" in body["error"]["message"]


def test_missing_api_version_is_400(local_azure: EmulatorThread, token: str) -> None:
    status, body = arm_get(local_azure.readiness, f"/subscriptions/{PROD}/resources", token)
    assert status == 400
    assert body["error"]["code"] == "MissingApiVersionParameter"


def test_paths_are_case_insensitive(local_azure: EmulatorThread, token: str) -> None:
    readiness = local_azure.readiness
    lower = arm_get(readiness, f"/subscriptions/{PROD}/resourcegroups/rg-prod-web?api-version={ARM_API}", token)
    upper = arm_get(readiness, f"/subscriptions/{PROD}/resourceGroups/rg-prod-web?api-version={ARM_API}", token)
    assert lower[0] == upper[0] == 200
    assert lower[1] == upper[1]
    shouted = f"/SUBSCRIPTIONS/{PROD}/RESOURCEGROUPS/rg-prod-web/PROVIDERS/microsoft.web/SITES/app-checkout-prod"
    status, body = arm_get(readiness, f"{shouted}?api-version=2024-11-01", token)
    assert status == 200
    assert body["id"] == CHECKOUT_ID
    assert body["name"] == "app-checkout-prod"


def test_next_link_is_absolute_on_the_server_origin(local_azure: EmulatorThread, token: str) -> None:
    readiness = local_azure.readiness
    status, body = arm_get(readiness, f"/subscriptions/{PROD}/resources?api-version={ARM_API}", token)
    assert status == 200 and len(body["value"]) == 7
    assert body["nextLink"].startswith(readiness["arm_endpoint"] + "/")


def test_unknown_route_is_404_with_arm_error(local_azure: EmulatorThread, token: str) -> None:
    status, body = arm_get(local_azure.readiness, f"/subscriptions/{PROD}/nothing/here?api-version={ARM_API}", token)
    assert status == 404
    assert set(body["error"]) == {"code", "message"}


# lifecycle: persistence, reset, loopback only -------------------------------------------------


def _start(data_dir: Path, *, reset: bool = False) -> EmulatorThread:
    emulator = EmulatorThread(EmulatorConfig(data_dir=data_dir, reset=reset, telemetry_scale=0.01, live_traffic=False))
    emulator.start()
    return emulator


def _tags_over_https(emulator: EmulatorThread) -> dict[str, str]:
    readiness = emulator.readiness
    status, body = arm_get(readiness, f"{CHECKOUT_ID}?api-version=2024-11-01", fetch_token(readiness))
    assert status == 200
    return dict(body.get("tags") or {})


def test_state_survives_a_restart_and_reset_reseeds(tmp_path: Path) -> None:
    first = _start(tmp_path)
    try:
        assert first.running is not None
        document = dict(first.running.store.resource(CHECKOUT_ID) or {})
        document["tags"] = {**document["tags"], "touched": "yes"}
        first.running.store.put_resource(document)
        assert _tags_over_https(first)["touched"] == "yes"
    finally:
        first.stop()

    second = _start(tmp_path)
    try:
        assert _tags_over_https(second)["touched"] == "yes"
    finally:
        second.stop()

    third = _start(tmp_path, reset=True)
    try:
        assert "touched" not in _tags_over_https(third)
    finally:
        third.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "::", "example.com"])
def test_non_loopback_bind_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(NotLoopbackError, match="loopback"):
        asyncio.run(start_emulator(EmulatorConfig(data_dir=tmp_path, host=host)))
    assert not (tmp_path / "local-azure.duckdb").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_accepted(host: str) -> None:
    require_loopback(host)


def test_emulator_command_refuses_a_network_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSCONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("OPSCONSOLE_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["emulator", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "la")])
    assert result.exit_code != 0
    assert "0.0.0.0 is not a loopback address" in result.stderr
    assert "Traceback" not in result.output


# the standalone command ------------------------------------------------------------------------


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    data_dir = tmp_path / "standalone"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCONSOLE_")}
    env.update(OPSCONSOLE_CONFIG_DIR=str(tmp_path / "config"), OPSCONSOLE_DATA_DIR=str(tmp_path / "data"))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console",
            "emulator",
            "--data-dir",
            str(data_dir),
            "--telemetry-scale",
            "0.01",
            "--no-traffic",
            "--page-size",
            "7",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    yield process, data_dir
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_standalone_emulator_announces_readiness_and_stops_on_sigterm(
    emulator_process: tuple[subprocess.Popen[str], Path],
) -> None:
    process, data_dir = emulator_process
    assert process.stdout is not None
    line = process.stdout.readline()
    readiness = json.loads(line)
    assert {
        "arm_endpoint",
        "logs_endpoint",
        "identity_endpoint",
        "identity_header",
        "ca_file",
        "tenant_id",
        "subscriptions",
        "data_dir",
        "pid",
    } <= set(readiness)
    assert readiness["arm_endpoint"].startswith("https://127.0.0.1:")
    assert readiness["identity_endpoint"].startswith("http://127.0.0.1:")
    assert readiness["pid"] == process.pid
    assert readiness["tenant_id"] == estate.TENANT_ID
    assert set(readiness["subscriptions"]) == {PROD, NONPROD}
    assert Path(readiness["ca_file"]).is_file()
    record = data_dir / "emulator.json"
    assert json.loads(record.read_text())["pid"] == process.pid
    assert record.stat().st_mode & 0o077 == 0

    status, body = arm_get(readiness, f"/subscriptions?api-version={ARM_API}", fetch_token(readiness))
    assert status == 200
    assert {s["subscriptionId"] for s in body["value"]} == {PROD, NONPROD}

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert not record.exists()
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


def test_a_second_local_azure_on_the_same_data_dir_is_refused_with_a_sentence(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "console.emulator", "--data-dir", str(tmp_path), "--no-traffic"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert first.stdout is not None
        assert json.loads(first.stdout.readline())["data_dir"] == str(tmp_path.resolve())
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert second.returncode == 3  # the table: the local Azure could not start
        assert "Another process holds" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=30)


def _running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_a_local_azure_started_by_a_console_stops_when_the_console_is_killed(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from console.local import spawn_local_azure\n"
        f"local = spawn_local_azure(Path({str(tmp_path)!r}), extra_args=['--no-traffic']).wait()\n"
        "print(local.readiness['pid'], flush=True)\n"
        "time.sleep(600)\n"
    )
    console = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert console.stdout is not None
    child = int(console.stdout.readline())
    assert _running(child)
    console.kill()  # no chance to stop its child: the child must notice by itself
    console.wait()
    for _ in range(300):
        if not _running(child):
            break
        time.sleep(0.1)
    assert not _running(child), "the local Azure outlived the console that started it"
    assert not (tmp_path / "emulator.json").exists()
