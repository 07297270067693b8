"""Shared fixtures: a real local Azure (in-process, on its own loop thread) and services pointed at it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result
from textual.widgets import Static

from console.app import OpsConsole
from console.cli import main
from console.cloud import local_profile
from console.emulator import estate
from console.emulator.kql_engine import KqlEngine
from console.emulator.server import EmulatorConfig, RunningEmulator, start_emulator, write_record
from console.services import Services, make_services
from console.settings import Settings

ScreenT = TypeVar("ScreenT")


class EmulatorThread:
    """A local Azure running on an event loop in a daemon thread, usable from any test's loop."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.running: RunningEmulator | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="local-azure")

    def start(self) -> dict[str, Any]:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_emulator(self.config), self.loop)
        self.running = future.result(timeout=60)
        return self.running.readiness

    def stop(self) -> None:
        if self.running is not None:
            asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    @property
    def readiness(self) -> dict[str, Any]:
        assert self.running is not None
        return self.running.readiness


def _control_route(readiness: dict[str, Any], route: str, method: str = "GET", body: Any = None) -> Any:
    """Call one of the local Azure's control routes (loopback, identity header, its own CA)."""
    context = ssl.create_default_context(cafile=readiness["ca_file"])
    request = urllib.request.Request(
        f"{readiness['arm_endpoint']}/_emulator/{route}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"X-IDENTITY-HEADER": readiness["identity_header"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.loads(response.read())


def control(readiness: dict[str, Any], method: str, rules: list[dict[str, Any]] | None = None) -> Any:
    """Install (PUT), read (GET) or clear (DELETE) the local Azure's fault rules."""
    return _control_route(readiness, "faults", method, rules)


def request_counts(readiness: dict[str, Any]) -> dict[str, int]:
    """Authenticated requests the local Azure's handlers received, by method."""
    counts: dict[str, int] = _control_route(readiness, "requests")
    return counts


def changes_sent(emulator: EmulatorThread) -> int:
    """Requests that could change something (anything but GET) the local Azure received."""
    return sum(n for method, n in request_counts(emulator.readiness).items() if method != "GET")


def telemetry_status(readiness: dict[str, Any]) -> dict[str, Any]:
    """The local Azure's telemetry status: ready, progress, complete_from."""
    return dict(_control_route(readiness, "status")["telemetry"])


def wait_for_telemetry(readiness: dict[str, Any], limit_s: float = 120) -> None:
    """Return once every day of the local Azure's telemetry is loaded."""
    deadline = time.monotonic() + limit_s
    while not telemetry_status(readiness)["ready"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"the telemetry was not loaded within {limit_s:g} s")
        time.sleep(0.1)


async def until(pilot: Any, condition: Callable[[], bool], what: str, attempts: int = 1500) -> None:
    """Let a Textual app run until `condition` holds (bounded by a number of pauses, never by wall time)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def screen_of(app: OpsConsole, kind: type[ScreenT]) -> ScreenT:
    """The screen of `kind` on the app's stack (under any dialog above it)."""
    for screen in app.screen_stack:
        if isinstance(screen, kind):
            return screen
    raise AssertionError(f"no {kind.__name__} in {app.screen_stack}")


def notices(app: OpsConsole) -> list[str]:
    """The messages of the notifications the app shows."""
    return [str(n.message) for n in app._notifications]


def text_of(screen: Any) -> str:
    """All the static text on a screen, in one line."""
    return " ".join(str(s.render()) for s in screen.query(Static))


def identity_environment(readiness: dict[str, Any]) -> dict[str, str]:
    return {
        "IDENTITY_ENDPOINT": readiness["identity_endpoint"],
        "IDENTITY_HEADER": readiness["identity_header"],
        "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
    }


def use_identity(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorThread) -> None:
    """Sign the SDKs in with `emulator`'s managed identity for one test (monkeypatch puts the variables back)."""
    for name, value in identity_environment(emulator.readiness).items():
        monkeypatch.setenv(name, value)


@contextmanager
def environment_set(variables: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a block and put back what was there (where monkeypatch cannot: a module's or
    the session's set-up)."""
    previous = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_local_azure(
    data_dir: Path,
    *,
    started_with: Mapping[str, str] | None = None,
    kind: type[EmulatorThread] = EmulatorThread,
    **config: Any,
) -> EmulatorThread:
    """Start a local Azure seeded afresh in `data_dir`, with a small telemetry scale and no live traffic unless
    `config` (EmulatorConfig's fields) says otherwise; `started_with`: environment variables set only while it
    starts. The caller stops it."""
    emulator = kind(EmulatorConfig(data_dir=data_dir, **{"telemetry_scale": 0.01, "live_traffic": False, **config}))
    with environment_set(started_with or {}):
        emulator.start()
    return emulator


def module_azure(
    directory: str,
    *,
    started_with: Mapping[str, str] | None = None,
    then: Callable[[EmulatorThread], None] | None = None,
    kind: type[EmulatorThread] = EmulatorThread,
    **config: Any,
) -> Any:
    """A module-scoped fixture: a local Azure of the module's own (see `start_local_azure`), in `directory` of the
    session's temporary folder; `then` runs once it has started (say, to wait for its telemetry). Each call makes
    one fixture: bind it to one name in one module."""

    @pytest.fixture(scope="module")
    def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
        data_dir = tmp_path_factory.mktemp(directory)
        emulator = start_local_azure(data_dir, started_with=started_with, kind=kind, **config)
        try:
            if then is not None:
                then(emulator)
            yield emulator
        finally:
            emulator.stop()

    return azure


@asynccontextmanager
async def services_on(
    emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Callable[..., Services]]:
    """Build Services against `emulator` (no retries unless changed: `build(retry_total=3)`), signed in with its
    identity; every one built is closed at the end."""
    use_identity(monkeypatch, emulator)
    built: list[Services] = []

    def build(**changes: Any) -> Services:
        settings = replace(Settings(data_dir=tmp_path / "data", retry_total=0, refresh_seconds=0), **changes)
        made = make_services(settings, profile=local_profile(emulator.readiness))
        built.append(made)
        return made

    yield build
    for made in built:
        await made.close()


@contextmanager
def fault_rules(emulator: EmulatorThread) -> Iterator[Callable[[list[dict[str, Any]]], Any]]:
    """Install fault rules on `emulator` for a block; cleared afterwards."""
    yield lambda rules: control(emulator.readiness, "PUT", rules)
    control(emulator.readiness, "DELETE")


def area_app(
    emulator: EmulatorThread,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    area: str,
    prepare: Callable[[Services], None] | None = None,
) -> Callable[..., OpsConsole]:
    """Build the console opening on `area` (the production subscription unless changed), its services on
    `emulator` and signed in with its identity for the test; `prepare` sees the services first."""
    use_identity(monkeypatch, emulator)

    def build(**changes: Any) -> OpsConsole:
        chosen = replace(settings, **{"subscription": estate.PROD_SUBSCRIPTION, **changes})
        services = make_services(chosen, profile=local_profile(emulator.readiness))
        if prepare is not None:
            prepare(services)
        return OpsConsole(chosen, services, start_area=area)

    return build


def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Config and data dirs of this test only, no console variables from outside; returns the data dir."""
    monkeypatch.setenv("OPSCONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("OPSCONSOLE_DATA_DIR", str(tmp_path / "data"))
    for name in ("OPSCONSOLE_CONFIG", "OPSCONSOLE_READ_ONLY", "OPSCONSOLE_SUBSCRIPTION", "OPSCONSOLE_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def reuse(data_dir: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point `--demo` at a running local Azure (its record in the data dir); env restored after the test."""
    (data_dir / "local-azure").mkdir(parents=True, exist_ok=True)
    write_record(data_dir / "local-azure", emulator.readiness)
    use_identity(monkeypatch, emulator)  # `--demo` sets these in this process; monkeypatch puts them back


def demo_environment(emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Config and data dirs of this test, with `--demo` pointed at `emulator` through its record; returns the
    variables set (for a subprocess's environment)."""
    data = isolated_home(tmp_path, monkeypatch)
    reuse(data, emulator, monkeypatch)
    return {
        "OPSCONSOLE_DATA_DIR": str(data),
        "OPSCONSOLE_CONFIG_DIR": str(tmp_path / "config"),
        **identity_environment(emulator.readiness),
    }


def invoke(*args: str) -> Result:
    """Run the headless CLI in this process."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="session", autouse=True)
def no_agent_of_the_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Commands the tests run never go through an agent the user has running: agents live under
    XDG_RUNTIME_DIR, here a folder of the session's (the agent tests start their own)."""
    with environment_set({"XDG_RUNTIME_DIR": str(tmp_path_factory.mktemp("run"))}):
        yield


@pytest.fixture(scope="session")
def local_azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    """One local Azure for the session: small pages (to exercise paging) and a small telemetry scale."""
    emulator = start_local_azure(tmp_path_factory.mktemp("local-azure"), page_size=7, seed_delay_s=0)
    with environment_set(identity_environment(emulator.readiness)):
        yield emulator
    emulator.stop()


@pytest.fixture
def faults(local_azure: EmulatorThread) -> Iterator[Callable[[list[dict[str, Any]]], Any]]:
    """Install fault rules for one test; cleared afterwards."""
    with fault_rules(local_azure) as install:
        yield install


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retry_total=3, refresh_seconds=0)


@pytest.fixture
def make_local_services(local_azure: EmulatorThread, settings: Settings) -> Callable[..., Services]:
    """Build Services against the session's local Azure (call inside the test's event loop)."""

    def build(**changes: Any) -> Services:
        return make_services(replace(settings, **changes), profile=local_profile(local_azure.readiness))

    return build


# The KQL engine on its own, and the Log Analytics query API through the SDK ---------------------------------

KQL_NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)
"""The moment the KQL tests run at (now() and ago() read it)."""


@pytest.fixture(scope="module")
def engine() -> Iterator[KqlEngine]:
    """An empty KQL engine for a test module (modules that need telemetry seed their own)."""
    engine = KqlEngine()
    yield engine
    engine.close()


def kql_table(engine: KqlEngine, query: str) -> dict[str, Any]:
    """The first table of `query`'s answer, as the query API sends it (`columns`, `rows`)."""
    table: dict[str, Any] = json.loads(engine.execute(query, timespan=None, now=KQL_NOW).as_la_bytes())["tables"][0]
    return table


@pytest.fixture(scope="module")
def logs_client(local_azure: EmulatorThread) -> Iterator[Any]:
    """The SDK's sync LogsQueryClient (DefaultAzureCredential) on the session's local Azure."""
    from azure.identity import DefaultAzureCredential
    from azure.monitor.query import LogsQueryClient

    readiness = local_azure.readiness
    credential = DefaultAzureCredential(connection_verify=readiness["ca_file"])
    with LogsQueryClient(
        credential,
        endpoint=readiness["logs_endpoint"] + "/v1",
        audience="https://api.loganalytics.io",
        connection_verify=readiness["ca_file"],
    ) as client:
        yield client
