"""Shared fixtures: a real local Azure (in-process, on its own loop thread) and services pointed at it."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from console.cloud import local_profile
from console.emulator.server import EmulatorConfig, RunningEmulator, start_emulator
from console.services import Services, make_services
from console.settings import Settings


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


def identity_environment(readiness: dict[str, Any]) -> dict[str, str]:
    return {
        "IDENTITY_ENDPOINT": readiness["identity_endpoint"],
        "IDENTITY_HEADER": readiness["identity_header"],
        "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
    }


@pytest.fixture(scope="session")
def local_azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    """One local Azure for the session: small pages (to exercise paging) and a small telemetry scale."""
    data_dir = tmp_path_factory.mktemp("local-azure")
    emulator = EmulatorThread(
        EmulatorConfig(data_dir=data_dir, page_size=7, telemetry_scale=0.01, live_traffic=False, seed_delay_s=0)
    )
    emulator.start()
    previous = {k: os.environ.get(k) for k in identity_environment(emulator.readiness)}
    os.environ.update(identity_environment(emulator.readiness))
    yield emulator
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    emulator.stop()


@pytest.fixture
def faults(local_azure: EmulatorThread) -> Iterator[Callable[[list[dict[str, Any]]], Any]]:
    """Install fault rules for one test; cleared afterwards."""

    def install(rules: list[dict[str, Any]]) -> Any:
        return control(local_azure.readiness, "PUT", rules)

    yield install
    control(local_azure.readiness, "DELETE")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", retry_total=3, refresh_seconds=0)


@pytest.fixture
def make_local_services(local_azure: EmulatorThread, settings: Settings) -> Callable[..., Services]:
    """Build Services against the session's local Azure (call inside the test's event loop)."""

    def build(**changes: Any) -> Services:
        from dataclasses import replace

        return make_services(replace(settings, **changes), profile=local_profile(local_azure.readiness))

    return build
