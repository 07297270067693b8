"""Releases that watch themselves, on a local Azure with live traffic: a guarded swap promotes a good build and
swaps a bad one back, a ramp stops at the step that breaches, and routing shifts the live traffic.

The local Azure here is this module's own, with full-scale telemetry (about one request a second to the
checkout app) and live traffic every half second. The gate judges the mean request duration, which tells
the bad build (~640 ms median) from the good ones (~110 ms) within a few requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import EmulatorThread, identity_environment

from console.cloud import local_profile
from console.emulator.server import EmulatorConfig
from console.local import telemetry_status
from console.models import Gate, GateReading
from console.services import Services, make_services
from console.settings import Settings

CHECKOUT, CATALOG = "app-checkout-prod", "app-catalog-prod"
BAD, GOOD = "2026.11.5-rc1", "2026.11.4"

SLOT_SPEED = """AppRequests
| where TimeGenerated > max_of(since, ago(10m)) and AppRoleName == app and tostring(Properties.slot) == {slot}
| summarize n = count(), avg_ms = avg(DurationMs)
| extend avg_ms = iff(n == 0, 0.0, round(avg_ms, 1))"""
SPEED_CHECK = "value(avg_ms) <= 400"
SLOT_GATE = Gate(kql=SLOT_SPEED.format(slot="slot"), check=SPEED_CHECK)
"""The slot's own traffic: before a swap the candidate's, after it production's."""
PRODUCTION_GATE = Gate(kql=SLOT_SPEED.format(slot="'production'"), check=SPEED_CHECK)
"""Production's traffic only (a gate may judge what it likes): the bad build passes its pre-flight."""


@pytest.fixture(scope="module")
def live_azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    emulator = EmulatorThread(
        EmulatorConfig(
            data_dir=tmp_path_factory.mktemp("slots-live"),
            page_size=50,
            telemetry_scale=1.0,
            live_traffic=True,
            traffic_interval_s=0.5,
            seed_delay_s=0,
        )
    )
    emulator.start()
    try:
        for _ in range(600):  # bounded by attempts: the seed takes tens of seconds
            if telemetry_status(emulator.readiness).ready:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the local Azure's telemetry never arrived")
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
async def services(
    live_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Services]:
    for name, value in identity_environment(live_azure.readiness).items():
        monkeypatch.setenv(name, value)
    made = make_services(
        Settings(data_dir=tmp_path / "data", retry_total=1, refresh_seconds=0),
        profile=local_profile(live_azure.readiness),
    )
    yield made
    await made.close()


async def test_a_guarded_swap_promotes_the_good_build(services: Services) -> None:
    readings: list[GateReading] = []
    outcome = await services.slots.guarded_swap(
        CATALOG,
        "staging",
        SLOT_GATE,
        watch=timedelta(seconds=8),
        interval=timedelta(seconds=4),
        on_reading=readings.append,
    )
    assert outcome.decision == "promoted", outcome.sentence
    assert outcome.where == {"production": GOOD, "staging": "2026.11.3"}
    assert [r.verdict for r in readings] == ["pass"] * len(readings) and len(readings) >= 3
    assert outcome.readings == tuple(readings)


async def test_a_guarded_swap_swaps_the_bad_build_back_and_says_why(services: Services) -> None:
    readings: list[GateReading] = []
    outcome = await services.slots.guarded_swap(
        CHECKOUT,
        "staging",
        PRODUCTION_GATE,
        watch=timedelta(seconds=30),
        interval=timedelta(seconds=5),
        on_reading=readings.append,
    )
    assert outcome.decision == "rolled back", outcome.sentence
    assert outcome.where["production"] == GOOD and outcome.where["staging"] == BAD
    assert readings[0].verdict == "pass"  # the pre-flight: production before the swap
    assert readings[-1].verdict == "fail" and readings[-1].observed["gate"] > 400
    assert "was breached" in outcome.sentence and "avg_ms is" in outcome.sentence
    swaps = [e for e in services.context.journal.entries() if e["action"] == "swap slots" and e["phase"] == "intent"]
    assert [e["parameters"]["note"] for e in swaps] == [None, "guarded rollback"]
    rollback_done = [
        e for e in services.context.journal.entries() if e.get("operation_id") == swaps[-1]["operation_id"]
    ]
    assert rollback_done[-1]["result"] == "succeeded"


async def test_a_ramp_stops_at_the_step_that_breaches_and_routes_everything_back(services: Services) -> None:
    steps: list[float] = [20, 60]
    outcome = await services.slots.ramp(
        CHECKOUT, "staging", steps, timedelta(seconds=9), SLOT_GATE, interval=timedelta(seconds=3)
    )
    assert outcome.decision == "rolled back", outcome.sentence
    app = await services.slots.find_app(CHECKOUT)
    assert all(slot.routing_percent == 0 for slot in app.slots)
    assert app.where["production"] == GOOD  # never swapped
    assert any(f"Stopped at {step:g}%" in outcome.sentence for step in steps)
    verdicts = [r.verdict for r in outcome.readings]
    assert verdicts[-1] == "fail" and set(verdicts[:-1]) <= {"pass"}  # it stopped at the first breach


async def test_routing_shifts_the_live_traffic_to_the_slot(services: Services) -> None:
    slots = services.slots
    await slots.set_routing(CATALOG, "staging", 50)
    since = datetime.now(UTC)
    workspace = await services.logs.find_workspace(services.resources, None)
    query = (
        f"AppRequests | where TimeGenerated > datetime({since.isoformat().replace('+00:00', 'Z')}) "
        f"and AppRoleName == '{CATALOG}' "
        "| summarize n = count(), routed = countif(tostring(Properties.slot) == 'staging')"
    )
    try:
        for _ in range(60):
            await asyncio.sleep(0.5)
            row = (await services.logs.query(workspace.customer_id, query, None)).table.to_pylist()[0]
            if row["n"] >= 12:
                break
        assert row["n"] >= 12
        assert row["routed"] / row["n"] > 0.2  # ~53% expected (50% routed, plus staging's own 6%)
    finally:
        await slots.set_routing(CATALOG, "staging", 0)
