"""Run by tests/test_first_listing.py in a fresh process (no threads yet, as in the console at its start):
fork a FirstListing, take what it listed through the Resources service, then list again through the SDK
path and print both as JSON.

    python first_listing_probe.py MODE   (readiness JSON in OPSCONSOLE_PROBE_READINESS)

MODE: ok | fail (the copy's sign-in raises) | hang (the copy never answers) | noisy (the copy writes to its
standard streams and logs a warning before listing)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from console.cloud import CloudProfile
from console.local import LocalAzure
from console.models import preferred_subscription
from console.services import first_listing, make_credential, make_services
from console.services.first_listing import FirstListing
from console.services.inventory_cache import Identity, resource_to_json, subscription_to_json
from console.settings import Settings


def main(mode: str) -> None:
    local = LocalAzure(json.loads(os.environ["OPSCONSOLE_PROBE_READINESS"]), None)
    settings = Settings(data_dir=Path(os.environ["OPSCONSOLE_DATA_DIR"]), retry_total=1)

    def connect() -> tuple[CloudProfile, Any]:
        if mode == "fail":
            raise RuntimeError("no sign-in here")
        if mode == "hang":
            time.sleep(600)
        if mode == "noisy":
            print("a line on the copy's stdout")
            print("a line on the copy's stderr", file=sys.stderr)
            logging.getLogger("azure.identity").warning("a warning the copy logs")
        local.apply_environment()
        return local.profile, make_credential(settings, local.profile, blocking=True)

    first = FirstListing.fork(settings, connect, os.environ.get("OPSCONSOLE_PROBE_PREFERRED"))
    assert first is not None
    first.go()
    if os.environ.get("OPSCONSOLE_PROBE_STALE"):
        first.wait()
        first_listing.FRESH_FOR_S = 0.0  # whatever arrived is already too old
    print(json.dumps(asyncio.run(take_then_list(first, local, settings))))


async def take_then_list(first: FirstListing, local: LocalAzure, settings: Settings) -> dict[str, Any]:
    services = make_services(settings, connect_later=True)
    resources = services.resources
    resources.expected = Identity(local.profile.name, local.profile.tenant_id or "")
    resources.first_listing = first
    if os.environ.get("OPSCONSOLE_PROBE_CONNECT_FIRST"):
        services.connect(local.profile, make_credential(settings, local.profile))
    try:
        with services.context.requests.capture() as sent:
            subscriptions = await asyncio.wait_for(resources.list_subscriptions(), 60)
            # The subscription the Resources area opens on (ShellContext.choose_initial's rule).
            chosen = preferred_subscription(subscriptions, os.environ.get("OPSCONSOLE_PROBE_PREFERRED"))
            start = (chosen or subscriptions[0]).subscription_id
            listed = await asyncio.wait_for(resources.list_resources(start), 60)
        answered_by_copy = not sent and not services.context.is_connected
        copy_reaped = not _children_left()
        if not services.context.is_connected:
            services.connect(local.profile, make_credential(settings, local.profile))
        again = await resources.list_subscriptions()
        fresh = await resources.list_resources(start)
        cached = resources.cached_inventory()
        return {
            "answered_by_copy": answered_by_copy,
            "listed_itself": bool(sent),
            "copy_reaped": copy_reaped,
            "subscriptions": [subscription_to_json(s) for s in subscriptions],
            "resources": sorted((resource_to_json(r) for r in listed), key=lambda r: r["id"]),
            "sdk_subscriptions": [subscription_to_json(s) for s in again],
            "sdk_resources": sorted((resource_to_json(r) for r in fresh), key=lambda r: r["id"]),
            "cached_subscriptions": len(cached.subscriptions) if cached else 0,
        }
    finally:
        await services.close()
        if services.context.credential is not None:
            await services.context.credential.close()


def _children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


if __name__ == "__main__":
    main(sys.argv[1])
