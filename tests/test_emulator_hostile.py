"""The local Azure under hostile input: every refusal is a 4xx in Azure's shape, nothing escapes.

Raw HTTPS against a real local Azure, as any client (or attacker) on this machine could send it.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import stat
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorThread, wait_for_telemetry
from cryptography import x509

from console.emulator import logs_api
from console.emulator.estate import WORKSPACE_CUSTOMER_ID
from console.emulator.server import EmulatorConfig

LOGS = "https://api.loganalytics.io"
ARM = "https://management.azure.com"
QUERY_PATH = f"/v1/workspaces/{WORKSPACE_CUSTOMER_ID}/query"


def _token(readiness: dict[str, Any], audience: str) -> str:
    parsed = urllib.parse.urlparse(readiness["identity_endpoint"])
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
    connection.request(
        "GET",
        f"{parsed.path}?api-version=2019-08-01&resource={audience}",
        headers={"X-IDENTITY-HEADER": readiness["identity_header"]},
    )
    return str(json.loads(connection.getresponse().read())["access_token"])


class Raw:
    """Sends whatever it is given to the local Azure over its real TLS."""

    def __init__(self, readiness: dict[str, Any]) -> None:
        self.readiness = readiness
        parsed = urllib.parse.urlparse(readiness["arm_endpoint"])
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 443
        self.context = ssl.create_default_context(cafile=readiness["ca_file"])
        self.tokens = {audience: _token(readiness, audience) for audience in (LOGS, ARM)}

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        audience: str = LOGS,
        token: str | None = None,
    ) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
        connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
        sent = {"Authorization": f"Bearer {token or self.tokens[audience]}", "Content-Type": "application/json"}
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        raw = response.read()
        assert response.headers.get("Content-Type", "").startswith("application/json"), raw[:200]
        return response.status, json.loads(raw), response

    def query(
        self,
        kql: str,
        *,
        prefer: str | None = None,
        timespan: str | None = "P7D",
        token: str | None = None,
        path: str = QUERY_PATH,
    ) -> tuple[int, dict[str, Any]]:
        body = {"query": kql, "timespan": timespan} if timespan else {"query": kql}
        headers = {"Prefer": prefer} if prefer else {}
        status, answer, _ = self.send("POST", path, json.dumps(body).encode(), headers, token=token)
        return status, answer


@pytest.fixture(scope="module")
def raw(local_azure: EmulatorThread) -> Raw:
    return Raw(local_azure.readiness)


def _rows(answer: dict[str, Any]) -> list[list[Any]]:
    return list(answer["tables"][0]["rows"])


def _count(raw: Raw, table: str) -> int:
    status, answer = raw.query(f"{table} | count", timespan=None)
    assert status == 200, answer
    return int(_rows(answer)[0][0])


# -- control commands and scope ------------------------------------------------------------------


def test_control_commands_are_refused_and_touch_nothing(raw: Raw, tmp_path: Path) -> None:
    before = _count(raw, "AppRequests")
    target = tmp_path / "written.duckdb"
    commands = [
        f'.create database X persist (@"{target}")',
        f'.create database X persist (@"{target}", @"{target}.data")',
        f'  // a comment first\n.attach database S from "{target}"',
        ".attach database P from 'postgres:dbname=x'",
        ".set-or-replace AppRequests <| AppRequests | take 0",
        ".append AppRequests <| AppRequests | take 5",
        ".drop table AppRequests",
        ".show tables",
        "print 1;\n.create database Y volatile",
    ]
    for command in commands:
        status, answer = raw.query(command)
        assert status == 400, (command, answer)
        assert answer["error"]["code"] == "BadArgumentError"
    assert not any(tmp_path.iterdir())
    assert _count(raw, "AppRequests") == before


def test_a_query_sees_only_its_workspace_tables(raw: Raw) -> None:
    for query in (
        "database('memory').AppRequests | count",
        "database('telemetry').AppRequests | count",
        "cluster('x').database('y').AppRequests | count",
        "union AppRequests, database('system').AppRequests | count",
    ):
        status, answer = raw.query(query)
        assert status == 400, (query, answer)
    resource = "/v1/subscriptions/2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d/resourcegroups/x/query"
    status, _ = raw.query("database('memory').AppRequests | count", path=resource)
    assert status in (400, 404)


def test_the_engine_reads_no_files(raw: Raw) -> None:
    for query in ("externaldata (x: string) [@'/etc/passwd'] | take 1", "print x = 1 | extend y = 2"):
        status, answer = raw.query(query)
        assert status in (200, 400), answer
        assert "root:" not in json.dumps(answer)


# -- bounds ------------------------------------------------------------------------------------


@pytest.mark.parametrize("wait", ["nan", "NaN", "inf", "-inf", "-1", "0", "abc", "1e999"])
def test_a_wait_that_is_not_a_positive_finite_number_is_refused(raw: Raw, wait: str) -> None:
    status, answer = raw.query("print 1", prefer=f"wait={wait}")
    assert status == 400, answer
    assert answer["error"]["code"] == "BadArgumentError"


def test_a_query_past_its_wait_is_cancelled(raw: Raw) -> None:
    status, answer = raw.query("range x from 1 to 3000000000 step 1 | summarize sum(x * x % 7)", prefer="wait=1")
    assert status == 504, answer
    # As Log Analytics says it.
    assert answer["error"]["code"] == "GatewayTimeout" and answer["error"]["message"] == "Gateway timeout"
    assert answer["error"]["innererror"]["code"] == "GatewayTimeout"


def test_results_are_capped_while_read(raw: Raw) -> None:
    status, answer = raw.query("range i from 1 to 30 step 1 | extend s = strrep('x', 10000000)")
    if status == 400:  # the engine's memory limit refused it: also bounded
        assert "memory" in answer["error"]["innererror"]["message"]
        return
    assert status == 200
    assert answer["error"]["code"] == "PartialError"
    assert len(json.dumps(answer["tables"])) <= logs_api.SIZE_CAP_BYTES + 1024


def test_queries_past_the_size_of_the_translator_are_refused(raw: Raw) -> None:
    chained = "AppRequests" + " | where DurationMs > 1" * 1500
    nested = "print x = " + "(" * 200 + "1" + ")" * 200
    long_query = "print x = '" + "a" * 70_000 + "'"
    for query in (chained, nested, long_query):
        status, answer = raw.query(query)
        assert status == 400, answer
        assert answer["error"]["code"] == "BadArgumentError"
    status, answer = raw.query("print x = 1" + " + 1" * 1000)
    assert status in (200, 400), answer


def test_a_query_the_translator_trips_over_is_a_400_with_a_sentence(raw: Raw) -> None:
    # The parser accepts it; the translator asserted on it and the caller got a 500.
    query = "let T = datatable(a:long)[1,2,3]; let h = (tbl:(a:long), n:long) { tbl | where a >= n }; h(T, 2)"
    status, answer = raw.query(query)
    assert status == 400, answer
    assert "cannot translate this query" in json.dumps(answer["error"])
    status, answer = raw.query("print still = 'answering'")
    assert status == 200 and _rows(answer) == [["answering"]]


def test_slow_queries_of_one_caller_cannot_starve_another(local_azure: EmulatorThread, raw: Raw) -> None:
    heavy = "range x from 1 to 3000000000 step 1 | summarize sum(x * x % 7)"
    greedy = _token(local_azure.readiness, LOGS)
    with ThreadPoolExecutor(max_workers=logs_api.MAX_QUERIES_PER_CALLER) as pool:
        running = [
            pool.submit(raw.query, heavy, prefer="wait=8", token=greedy) for _ in range(logs_api.MAX_QUERIES_PER_CALLER)
        ]
        time.sleep(1.0)
        refused, answer = raw.query("print 1", token=greedy)
        assert refused == 429, answer
        status, answer = raw.query("print 1")  # another caller
        assert status == 200 and _rows(answer) == [[1]]
        assert {future.result()[0] for future in running} <= {504, 200}


def test_a_batch_answers_each_query(raw: Raw) -> None:
    body = {
        "requests": [
            {
                "id": "1",
                "workspace": WORKSPACE_CUSTOMER_ID,
                "path": "/query",
                "method": "POST",
                "headers": {"Prefer": ""},
                "body": {"query": "print 1", "timespan": "PT1H"},
            },
            {
                "id": "2",
                "workspace": WORKSPACE_CUSTOMER_ID,
                "path": "/query",
                "method": "POST",
                "headers": {},
                "body": {"query": "print (", "timespan": "PT1H"},
            },
        ]
    }
    status, answer, _ = raw.send("POST", "/v1/$batch", json.dumps(body).encode())
    assert status == 200
    by_id = {item["id"]: item for item in answer["responses"]}
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["tables"][0]["rows"] == [[1]]
    assert by_id["2"]["status"] == 400
    too_many = {"requests": [body["requests"][0]] * (logs_api.MAX_BATCH + 1)}
    status, answer, _ = raw.send("POST", "/v1/$batch", json.dumps(too_many).encode())
    assert status == 400


# -- malformed requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "application/json; charset=foobar"}, b'{"query": "print 1"}'),
        ({}, b"[" * 100_000 + b"]" * 100_000),
        ({}, b'{"query": "print 1", "timespan": "P99999999999D"}'),
        ({}, b'{"query": "print 1", "timespan": "9999-12-31T23:59:59Z/P1D"}'),
        ({}, b'{"query": "print 1", "timespan": "P1D/0001-01-01T00:00:00Z"}'),
        ({}, b'{"query": 5}'),
        ({}, b"\xff\xfe not json"),
        ({}, b'"just a string"'),
    ],
)
def test_bad_bodies_are_400s_with_an_error_body(raw: Raw, headers: dict[str, str], body: bytes) -> None:
    status, answer, _ = raw.send("POST", QUERY_PATH, body, headers)
    assert status == 400, answer
    assert answer["error"]["code"] == "BadArgumentError"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_on_the_query_route_are_405(raw: Raw, method: str) -> None:
    status, answer, _ = raw.send(method, QUERY_PATH, b"{}")
    assert status == 405
    assert answer["error"]["code"] == "MethodNotAllowed"


def test_oversized_path_header_body_and_odd_methods_get_error_bodies(raw: Raw) -> None:
    status, answer, _ = raw.send("GET", "/" + "a" * 20_000)
    assert 400 <= status < 500 and "error" in answer
    status, answer, _ = raw.send("GET", "/subscriptions?api-version=2022-12-01", headers={"X-Big": "b" * 20_000})
    assert 400 <= status < 500 and "error" in answer
    status, answer, _ = raw.send("POST", QUERY_PATH, b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert 400 <= status < 500 and "error" in answer
    status, answer, _ = raw.send("FOO", QUERY_PATH)
    assert 400 <= status < 500 and "error" in answer


# -- the server itself ------------------------------------------------------------------------


@pytest.fixture
def private_emulator(tmp_path: Path) -> Iterator[EmulatorThread]:
    emulator = EmulatorThread(
        EmulatorConfig(
            data_dir=tmp_path / "data", telemetry_scale=0.005, live_traffic=False, seed_delay_s=0, idle_timeout_s=0.5
        )
    )
    emulator.start()
    yield emulator
    emulator.stop()


def test_half_sent_and_idle_connections_are_closed(private_emulator: EmulatorThread) -> None:
    parsed = urllib.parse.urlparse(private_emulator.readiness["arm_endpoint"])
    context = ssl.create_default_context(cafile=private_emulator.readiness["ca_file"])
    with (
        socket.create_connection((parsed.hostname, parsed.port), timeout=10) as plain,
        context.wrap_socket(plain, server_hostname=parsed.hostname) as tls,
    ):
        tls.sendall(b"GET /subscriptions HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never finished
        tls.settimeout(10)
        assert tls.recv(1024) == b""  # closed by the server, not by our timeout


def test_data_dir_is_private_and_the_ca_constrained(private_emulator: EmulatorThread) -> None:
    data_dir = Path(private_emulator.readiness["data_dir"])
    wait_for_telemetry(private_emulator.readiness)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in data_dir.rglob("*"):
        # Write-ahead logs appear later under the process umask: the standalone server sets 077.
        if path.is_file() and path.suffix != ".wal":
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    ca = x509.load_pem_x509_certificate(Path(private_emulator.readiness["ca_file"]).read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    names = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    assert names.permitted_subtrees and not names.excluded_subtrees
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days <= 366


def test_another_loopback_address_is_certified(tmp_path: Path) -> None:
    emulator = EmulatorThread(
        EmulatorConfig(data_dir=tmp_path / "data", host="127.0.0.2", telemetry_scale=0.005, live_traffic=False)
    )
    emulator.start()
    try:
        status, answer, _ = Raw(emulator.readiness).send("GET", "/subscriptions?api-version=2022-12-01", audience=ARM)
        assert status == 200 and len(answer["value"]) == 2
    finally:
        emulator.stop()


def test_telemetry_is_kept_across_a_restart(tmp_path: Path) -> None:
    config = EmulatorConfig(data_dir=tmp_path / "data", telemetry_scale=0.005, live_traffic=False, seed_delay_s=0)
    first = EmulatorThread(config)
    first.start()
    try:
        wait_for_telemetry(first.readiness)
        before = _count(Raw(first.readiness), "AppRequests")
        ids = _rows(Raw(first.readiness).query("AppRequests | summarize min(Id), max(Id)", timespan=None)[1])
    finally:
        first.stop()
    again = EmulatorThread(config)
    again.start()
    try:
        wait_for_telemetry(again.readiness)
        raw = Raw(again.readiness)
        assert _count(raw, "AppRequests") >= before > 0
        assert _rows(raw.query("AppRequests | summarize min(Id), max(Id)", timespan=None)[1]) == ids
    finally:
        again.stop()


def test_a_stopping_server_interrupts_running_queries(tmp_path: Path) -> None:
    emulator = EmulatorThread(
        EmulatorConfig(data_dir=tmp_path / "data", telemetry_scale=0.005, live_traffic=False, seed_delay_s=0)
    )
    emulator.start()
    raw = Raw(emulator.readiness)
    outcome: list[Any] = []

    def slow() -> None:
        try:
            outcome.append(
                raw.query("range x from 1 to 30000000000 step 1 | summarize sum(x * x % 7)", prefer="wait=600")
            )
        except (OSError, http.client.HTTPException) as error:
            outcome.append(error)

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(1.0)
    emulator.stop()  # would wait for the query (minutes) if running queries were not interrupted
    worker.join(30)
    assert not worker.is_alive()


def test_a_standalone_local_azure_writes_only_private_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process, readiness = _standalone(data_dir)
    try:
        wait_for_telemetry(readiness)
        files = [path for path in data_dir.rglob("*") if path.is_file()]
        assert any(path.name == "telemetry.duckdb" for path in files)
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    finally:
        process.terminate()
        code = process.wait(30)
        assert process.stderr is not None
        assert code == 0, process.stderr.read()


def _standalone(data_dir: Path, *extra: str) -> tuple[Any, dict[str, Any]]:
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.emulator",
            "--data-dir",
            str(data_dir),
            "--telemetry-scale",
            "0.005",
            "--seed-delay",
            "0",
            "--no-traffic",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def test_a_standalone_local_azure_stops_on_sigterm_mid_query(tmp_path: Path) -> None:
    import signal

    process, readiness = _standalone(tmp_path / "data")
    try:
        raw = Raw(readiness)
        pool = ThreadPoolExecutor(max_workers=1)
        pending = pool.submit(
            raw.query, "range x from 1 to 30000000000 step 1 | summarize sum(x * x % 7)", prefer="wait=600"
        )
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0  # the query alone would run for minutes
        try:
            status, _ = pending.result(timeout=15)
        except (OSError, http.client.HTTPException):
            status = None  # the connection closed with the server
        assert status != 200  # interrupted, never a made-up answer
        pool.shutdown()
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def test_a_local_azure_whose_console_was_killed_stops(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    # A stand-in console: starts the local Azure as its child with --parent-pid, prints the child's pid.
    console = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-m', 'console.emulator', '--data-dir', sys.argv[1],"
            " '--no-traffic', '--telemetry-scale', '0.005', '--parent-pid', str(os.getpid())],"
            " stdout=subprocess.PIPE, text=True)\n"
            "child.stdout.readline()\n"
            "print(child.pid, flush=True)\n"
            "import time; time.sleep(600)\n",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert console.stdout is not None
    child = int(console.stdout.readline())
    console.send_signal(signal.SIGKILL)
    console.wait(10)
    for _ in range(150):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the local Azure outlived its console by more than 15 s")


def test_a_malformed_request_is_logged_without_its_bytes(raw: Raw, caplog: pytest.LogCaptureFixture) -> None:
    marker = "secret-marker-" + "z" * 9000
    with caplog.at_level("DEBUG"):
        status, _, _ = raw.send("GET", "/subscriptions?api-version=2022-12-01", headers={"X-Big": marker})
    assert 400 <= status < 500
    assert "secret-marker" not in caplog.text


def test_tokens_are_jwts_with_the_claims_clients_read(raw: Raw) -> None:
    import base64

    from console.emulator.estate import TENANT_ID

    token = raw.tokens[ARM]
    header, body, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["typ"] == "JWT"
    assert claims["tid"] == TENANT_ID and claims["aud"] == ARM and claims["exp"] > time.time()
    forged = ".".join([header, body, "x" * 43])
    status, answer, _ = raw.send("GET", "/subscriptions?api-version=2022-12-01", token=forged)
    assert status == 401 and answer["error"]["code"] == "InvalidAuthenticationToken"


def test_the_classic_arm_audience_gets_a_token_and_an_unknown_one_a_readable_error(raw: Raw) -> None:
    classic = _token(raw.readiness, "https://management.core.windows.net/")
    status, _, _ = raw.send("GET", "/subscriptions?api-version=2022-12-01", token=classic)
    assert status == 200
    parsed = urllib.parse.urlparse(raw.readiness["identity_endpoint"])
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
    connection.request(
        "GET",
        f"{parsed.path}?api-version=2019-08-01&resource=https://vault.azure.net",
        headers={"X-IDENTITY-HEADER": raw.readiness["identity_header"]},
    )
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 400 and body["statusCode"] == 400 and "vault.azure.net" in body["message"]
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
    connection.request("GET", f"{parsed.path}?resource={ARM}", headers={"X-IDENTITY-HEADER": "é"})
    assert connection.getresponse().status == 401


def test_cloud_metadata_is_public_and_names_this_origin(raw: Raw) -> None:
    connection = http.client.HTTPSConnection(raw.host, raw.port, context=raw.context, timeout=10)
    connection.request("GET", "/metadata/endpoints?api-version=2022-09-01", headers={"Host": "evil.example"})
    clouds = json.loads(connection.getresponse().read())
    assert clouds[0]["resourceManager"] == raw.readiness["arm_endpoint"] + "/"
    assert "https://management.core.windows.net/" in clouds[0]["authentication"]["audiences"]
    connection = http.client.HTTPSConnection(raw.host, raw.port, context=raw.context, timeout=10)
    connection.request("GET", "/metadata/endpoints?api-version=2015-01-01")
    assert "authentication" in json.loads(connection.getresponse().read())
