"""Figures of the alerts area over 1,000 fired alerts; prints them, asserts nothing.

    python bench/alerts.py [--alerts 1000] [--runs 5]

Starts the local Azure in-process (no telemetry needed), fires `--alerts` alerts on top of the seeded week, and:

1. `AlertsService.list_alerts` in-process: time to the first page (250 alerts) and to the whole list.
2. The Alerts screen (Textual, headless, 200x50) from the app's start: time until the first rows are in the
   table (the first page painted) and until every alert is (polled every 10 ms, so within ~10 ms).
3. Headless `opsconsole alerts list --demo --since 7d --output json` wall time, reusing the running local Azure
   (a process start, imports, sign-in and every page), median of `--runs`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.app import OpsConsole
from console.cloud import local_profile
from console.emulator import estate
from console.emulator.server import EmulatorConfig, start_emulator, write_record
from console.models import AlertFilter
from console.services import make_services
from console.settings import Settings

OPSCONSOLE = str(Path(sys.executable).with_name("opsconsole"))


def start_local_azure(data_dir: Path) -> dict[str, Any]:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    config = EmulatorConfig(data_dir=data_dir, telemetry_scale=0.01, live_traffic=False, seed_delay_s=3600)
    running = asyncio.run_coroutine_threadsafe(start_emulator(config), loop).result(timeout=120)
    readiness: dict[str, Any] = running.readiness
    return readiness


def fire(readiness: dict[str, Any], count: int) -> None:
    request = urllib.request.Request(
        f"{readiness['arm_endpoint']}/_emulator/alerts",
        data=json.dumps({"count": count}).encode(),
        method="POST",
        headers={"X-IDENTITY-HEADER": readiness["identity_header"], "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=readiness["ca_file"])
    with urllib.request.urlopen(request, context=context, timeout=120) as response:
        response.read()


async def service_figures(readiness: dict[str, Any], data: Path, runs: int) -> tuple[list[float], list[float], int]:
    first: list[float] = []
    whole: list[float] = []
    total = 0
    for _ in range(runs):
        services = make_services(Settings(data_dir=data), profile=local_profile(readiness))
        started = time.perf_counter()
        seen: list[float] = []
        found = await services.alerts.list_alerts(
            AlertFilter(),
            estate.PROD_SUBSCRIPTION,
            on_page=lambda _, seen=seen: seen.append(time.perf_counter()),
        )
        whole.append(time.perf_counter() - started)
        first.append(seen[0] - started)
        total = len(found)
        await services.close()
    return first, whole, total


async def screen_figures(readiness: dict[str, Any], data: Path, total: int) -> tuple[float, float]:
    from screens.alerts import AlertsScreen

    settings = Settings(data_dir=data, subscription=estate.PROD_SUBSCRIPTION, refresh_seconds=0)
    app = OpsConsole(settings, make_services(settings, profile=local_profile(readiness)), start_area="alerts")
    started = time.perf_counter()
    first = whole = 0.0
    async with app.run_test(size=(200, 50)) as pilot:
        screen: AlertsScreen | None = None
        for _ in range(30000):
            if screen is None and isinstance(app.screen, AlertsScreen):
                screen = app.screen
            rows = screen.table.row_count if screen is not None else 0
            if rows and not first:
                first = time.perf_counter() - started
            if rows >= total:
                whole = time.perf_counter() - started
                break
            await pilot.pause(0.01)
    return first, whole


def headless_figures(readiness: dict[str, Any], home: Path, runs: int) -> list[float]:
    data = home / "data"
    (data / "local-azure").mkdir(parents=True, exist_ok=True)
    write_record(data / "local-azure", readiness)
    env = {**os.environ, "OPSCONSOLE_DATA_DIR": str(data), "OPSCONSOLE_CONFIG_DIR": str(home / "config")}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [OPSCONSOLE, "alerts", "list", "--demo", "--since", "7d", "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"alerts list failed: {done.stderr}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    readiness = start_local_azure(home / "azure")
    for name, value in {
        "IDENTITY_ENDPOINT": readiness["identity_endpoint"],
        "IDENTITY_HEADER": readiness["identity_header"],
        "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
    }.items():
        os.environ[name] = value
    fire(readiness, options.alerts)
    first, whole, total = asyncio.run(service_figures(readiness, home / "svc", options.runs))
    print(f"alerts in the last 7 days (the screen's default): {total}")
    print(f"service, first page: median {statistics.median(first) * 1000:.0f} ms (runs {options.runs})")
    print(f"service, whole list: median {statistics.median(whole) * 1000:.0f} ms")
    paint, full = asyncio.run(screen_figures(readiness, home / "tui", total))
    print(f"screen, from app start: first rows {paint * 1000:.0f} ms, all {total} rows {full * 1000:.0f} ms")
    times = headless_figures(readiness, home, options.runs)
    print(f"headless `alerts list --demo --since 7d --output json`: median {statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
