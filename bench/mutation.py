"""What the mutation path costs on top of the SDK call; prints figures, asserts nothing.

    python bench/mutation.py [--runs 50]

Starts the local Azure in-process (on its own loop thread) and sets a resource group's tags `--runs`
times each way: the SDK call alone (`tags.begin_create_or_update_at_scope` to its result), and
`ResourcesService.set_tags` (guard, principal, fsynced intent, the same call, fsynced outcome). Also
times one `Journal.record` (a JSON line appended and fsynced) on the data dir's disk. Medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.audit import Journal
from console.cloud import local_profile
from console.emulator.server import EmulatorConfig, start_emulator
from console.services import make_services
from console.settings import Settings

SUBSCRIPTION = "1f0e9c2a-3b4d-4e5f-8a6b-7c8d9e0f1a2b"
GROUP = "rg-prod-web"


def start_local_azure(data_dir: Path) -> tuple[asyncio.AbstractEventLoop, Any]:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    config = EmulatorConfig(data_dir=data_dir, telemetry_scale=0.01, live_traffic=False, seed_delay_s=0)
    running = asyncio.run_coroutine_threadsafe(start_emulator(config), loop).result(timeout=120)
    return loop, running


async def measure(readiness: dict[str, Any], data_dir: Path, runs: int) -> dict[str, list[float]]:
    services = make_services(Settings(data_dir=data_dir), profile=local_profile(readiness))
    scope = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}"
    client = services.resources._client(SUBSCRIPTION)
    times: dict[str, list[float]] = {"sdk": [], "path": [], "journal": []}
    try:
        original = await services.resources.set_tags(scope, {"env": "prod"})  # token, connection, imports
        for run in range(runs):
            tags = {"env": "prod", "run": str(run)}
            started = time.perf_counter()
            await (await client.tags.begin_create_or_update_at_scope(scope, {"properties": {"tags": tags}})).result()
            times["sdk"].append(time.perf_counter() - started)
            started = time.perf_counter()
            await services.resources.set_tags(scope, tags)
            times["path"].append(time.perf_counter() - started)
        journal = Journal(data_dir / "bench-journal.jsonl")
        for run in range(runs):
            started = time.perf_counter()
            journal.record("intent", "set tags", scope, run=run)
            times["journal"].append(time.perf_counter() - started)
        await services.resources.set_tags(scope, original)
    finally:
        await services.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        loop, running = start_local_azure(Path(scratch) / "local-azure")
        readiness = running.readiness
        os.environ.update(
            {
                "IDENTITY_ENDPOINT": readiness["identity_endpoint"],
                "IDENTITY_HEADER": readiness["identity_header"],
                "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
            }
        )
        try:
            times = asyncio.run(measure(readiness, Path(scratch) / "console", args.runs))
        finally:
            asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
    sdk, path, journal = (statistics.median(times[k]) * 1000 for k in ("sdk", "path", "journal"))
    print(f"set tags on {GROUP}, {args.runs} runs each, medians:")
    print(f"  SDK call alone             {sdk:7.2f} ms")
    print(f"  through the mutation path  {path:7.2f} ms   (+{path - sdk:.2f} ms)")
    print(f"  one journal line (fsync)   {journal:7.2f} ms")


if __name__ == "__main__":
    main()
