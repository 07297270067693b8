"""Figures of deployment slots; prints them, asserts nothing.

    python bench/slots.py [--runs 3] [--interval 5] [--list-runs 5]

Starts the local Azure in-process with live traffic (full-scale telemetry, a tick every half second) and:

1. Guarded swap of the bad build (app-checkout-prod's staging, 2026.11.5-rc1) into production, `--runs`
   times, with a short interval, gated by the mean request duration of production's traffic since the swap
   (a KQL check). Times, from the service's own callbacks: the swap's end to the breach being seen (the
   failing reading handed over), and the breach to the rollback's start (the swap back reporting Running).
   Goals: the first under one interval (the first reading comes half an interval after the swap), the second
   under 1 s.
2. Headless `opsconsole slots list --demo` wall time, reusing the running local Azure (a process start,
   imports, sign-in and every read), median of `--list-runs`; and `SlotsService.list_apps` in-process.
   `az webapp deployment slot list` is not measured here (it needs a signed-in az).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.cloud import local_profile
from console.emulator.server import EmulatorConfig, start_emulator, write_record
from console.local import telemetry_status
from console.models import Gate, GateReading, OperationProgress
from console.services import make_services
from console.settings import Settings

OPSCONSOLE = str(Path(sys.executable).with_name("opsconsole"))
APP = "app-checkout-prod"
GATE = Gate(
    kql="""AppRequests
| where TimeGenerated > max_of(since, ago(10m)) and AppRoleName == app and tostring(Properties.slot) == 'production'
| summarize n = count(), avg_ms = avg(DurationMs)
| extend avg_ms = iff(n == 0, 0.0, round(avg_ms, 1))""",
    check="value(avg_ms) <= 400",
)


def start_local_azure(data_dir: Path) -> tuple[asyncio.AbstractEventLoop, Any]:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    config = EmulatorConfig(
        data_dir=data_dir, telemetry_scale=1.0, live_traffic=True, traffic_interval_s=0.5, seed_delay_s=0
    )
    running = asyncio.run_coroutine_threadsafe(start_emulator(config), loop).result(timeout=120)
    for _ in range(1200):
        if telemetry_status(running.readiness).ready:
            break
        time.sleep(0.5)
    return loop, running


async def guarded(readiness: dict[str, Any], data_dir: Path, runs: int, interval: float) -> list[dict[str, float]]:
    services = make_services(Settings(data_dir=data_dir), profile=local_profile(readiness))
    found: list[dict[str, float]] = []
    marks: dict[str, float] = {}
    try:
        for _ in range(runs):
            marks.clear()

            def progress(report: OperationProgress) -> None:
                if report.done and "swap_end" not in marks:
                    marks["swap_end"] = time.monotonic()
                elif report.status == "Running" and "breach" in marks and "rollback" not in marks:
                    marks["rollback"] = time.monotonic()

            def reading(seen: GateReading) -> None:
                if seen.verdict == "fail" and "breach" not in marks:
                    marks["breach"] = time.monotonic()

            outcome = await services.slots.guarded_swap(
                APP,
                "staging",
                GATE,
                watch=timedelta(seconds=interval * 10),
                interval=timedelta(seconds=interval),
                on_reading=reading,
                progress=progress,
            )
            if outcome.decision != "rolled back" or not {"swap_end", "breach", "rollback"} <= set(marks):
                print(f"  run ended {outcome.decision}: {outcome.sentence}")
                continue
            readings = len(outcome.readings) - 1  # the first is the pre-flight
            found.append(
                {
                    "to_breach": marks["breach"] - marks["swap_end"],
                    "to_rollback": marks["rollback"] - marks["breach"],
                    "readings": readings,
                }
            )
    finally:
        await services.close()
    return found


async def list_in_process(readiness: dict[str, Any], data_dir: Path, runs: int) -> list[float]:
    services = make_services(Settings(data_dir=data_dir), profile=local_profile(readiness))
    times = []
    try:
        await services.slots.list_apps()  # token, connection, imports
        for _ in range(runs):
            started = time.perf_counter()
            await services.slots.list_apps()
            times.append(time.perf_counter() - started)
    finally:
        await services.close()
    return times


def list_headless(readiness: dict[str, Any], home: Path, runs: int) -> list[float]:
    data = home / "data"
    (data / "local-azure").mkdir(parents=True, exist_ok=True)
    write_record(data / "local-azure", readiness)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "IDENTITY_", "MSI_", "AZURE_"))}
    env.update(OPSCONSOLE_DATA_DIR=str(data), OPSCONSOLE_CONFIG_DIR=str(home / "config"), HOME=str(home))
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(
            [OPSCONSOLE, "slots", "list", "--demo"], env=env, capture_output=True, text=True, timeout=120
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            print(f"  slots list failed ({done.returncode}): {done.stderr.strip()}")
    return times[1:]  # the first pays for cold caches of the file system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="guarded swaps of the bad build")
    parser.add_argument("--interval", type=float, default=5.0, help="the gate's interval, in seconds")
    parser.add_argument("--list-runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        home = Path(temp)
        started = time.perf_counter()
        loop, running = start_local_azure(home / "local-azure")
        readiness = running.readiness
        for name, value in {
            "IDENTITY_ENDPOINT": readiness["identity_endpoint"],
            "IDENTITY_HEADER": readiness["identity_header"],
            "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
        }.items():
            os.environ[name] = value
        print(f"local Azure with full-scale telemetry ready in {time.perf_counter() - started:.1f} s")
        try:
            runs = asyncio.run(guarded(readiness, home / "console", args.runs, args.interval))
            rolled = f"{len(runs)} of {args.runs} rolled back"
            print(f"\nGuarded swap of the bad build, interval {args.interval:g} s ({rolled}):")
            for i, run in enumerate(runs, 1):
                print(
                    f"  run {i}: swap end -> breach seen {run['to_breach']:.3f} s "
                    f"({run['to_breach'] / args.interval:.2f} intervals, at reading {run['readings']:.0f}); "
                    f"breach -> rollback start {run['to_rollback'] * 1000:.1f} ms"
                )
            if runs:
                to_breach = statistics.median(r["to_breach"] for r in runs)
                to_rollback = statistics.median(r["to_rollback"] for r in runs)
                print(
                    f"  median: swap end -> breach seen {to_breach:.3f} s "
                    f"({to_breach / args.interval:.2f} intervals, goal < 1); "
                    f"breach -> rollback start {to_rollback * 1000:.1f} ms (goal < 1 s)"
                )
            in_process = asyncio.run(list_in_process(readiness, home / "console", args.list_runs))
            headless = list_headless(readiness, home / "headless", args.list_runs)
            print("\nListing apps and slots (4 apps, 9 slots):")
            print(f"  SlotsService.list_apps in-process: median {statistics.median(in_process) * 1000:.0f} ms")
            print(
                f"  opsconsole slots list --demo (reusing the local Azure): median {statistics.median(headless):.2f} s "
                f"over {len(headless)} runs"
            )
            print("  az webapp deployment slot list: not measured (needs a signed-in az; later)")
        finally:
            asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)


if __name__ == "__main__":
    main()
