"""The console's first listing, made by a forked copy of it while the first frame paints.

Importing the SDK and signing in cost about 300 ms of CPU. In the console's own process that work would
compete with painting for one interpreter lock, and only then could the listing start. So `run_console`
forks a copy before the UI is even imported. The copy imports the SDK's blocking clients (they need no
aiohttp) at the lowest CPU priority, waits for the console's first frame (`go`), signs in on its own,
lists the subscriptions and the resources of the one the console opens on, writes them down a pipe and
exits. Nothing but that inventory crosses: no token. The console shows it as current (it is seconds
old), remembers it as any listing, then signs in itself, after the copy, and lists every later time.
When the copy fails, is too slow or its answer has aged, the console simply lists for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from console.models import Resource, Subscription, preferred_subscription
from console.services.inventory_cache import (
    resource_from_json,
    resource_to_json,
    subscription_from_json,
    subscription_to_json,
)

if TYPE_CHECKING:
    from console.cloud import CloudProfile
    from console.settings import Settings

Connect = Callable[[], "tuple[CloudProfile, Any]"]
"""Waits for the cloud to answer and returns its profile and a blocking (synchronous) credential."""

FRESH_FOR_S = 30.0
"""How long after it arrived the copy's listing may still be shown as current; after that the console lists."""

WAIT_S = 2.0
"""How long the console's own sign-in waits for the copy before it goes ahead regardless: long enough for a
listing from a nearby cloud, short enough that a slow one does not hold up the console's other calls."""

GO_WAIT_S = 1.0
"""How long the copy waits for the console's first frame before it starts anyway."""

NICENESS = 19
"""The copy yields to the console (and to a local Azure starting) whenever they want the same core, so the
first frame is not slowed; it can never take that back, but by then the console is mostly idle."""


class FirstListing:
    """The subscriptions and the start subscription's resources, as the forked copy listed them.

    Each part is handed out once (`take_subscriptions`, `take_resources`): any later call lists afresh.
    """

    def __init__(self, pid: int, read_end: int, go: int) -> None:
        self._pid: int | None = pid
        self._read_end = read_end
        self._go: int | None = go
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        self._arrived_at = 0.0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._subscriptions: list[Subscription] | None = None
        self._resources: dict[str, list[Resource]] = {}
        self._closed = False
        threading.Thread(target=self._read, name="first-listing", daemon=True).start()

    @classmethod
    def fork(
        cls, settings: Settings, connect: Connect, preferred: str | None, *, import_ahead: bool = True
    ) -> FirstListing | None:
        """Fork the copy that lists (call before any other thread starts); None where processes cannot fork.

        With `import_ahead` the copy imports the SDK while the console paints; without, after (when something
        else, a local Azure starting, already wants the other core).
        """
        if not hasattr(os, "fork"):
            return None
        read_end, write_end = os.pipe()
        go_read, go_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copy: never returns
            os.close(read_end)
            os.close(go_write)
            _list_and_exit(settings, connect, preferred, write_end, go_read, import_ahead)
        os.close(write_end)
        os.close(go_read)
        return cls(pid, read_end, go_write)

    def go(self) -> None:
        """Let the copy start: the console has painted its first frame (the copy would have slowed it)."""
        with self._lock:
            go, self._go = self._go, None
        if go is not None:
            os.close(go)  # the copy wakes on the pipe's end

    def wait(self, timeout: float = WAIT_S) -> None:
        """Block until the copy answered, failed or was closed (at most `timeout`): the console's own sign-in
        waits here, so the two do not fight for the CPU."""
        self._arrived.wait(timeout)

    async def take_subscriptions(self, given_up: asyncio.Future[Any]) -> list[Subscription] | None:
        """The subscriptions the copy listed; None if it failed, or if `given_up` finished first (the
        console's own connection was ready sooner, so it lists itself)."""
        arrival: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._arrived.is_set():
                arrival.set_result(None)
            else:
                self._waiters.append((asyncio.get_running_loop(), arrival))
        await asyncio.wait({arrival, given_up}, return_when=asyncio.FIRST_COMPLETED)
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, None
            usable = arrival.done() and not self._closed and not self._stale()
        if subscriptions is None or not usable:
            self.close()
            return None
        return subscriptions

    def take_resources(self, subscription_id: str) -> list[Resource] | None:
        """The resources of `subscription_id` if the copy listed them (once, and only after the subscriptions
        were taken), else None."""
        with self._lock:
            if self._closed or self._subscriptions is not None or self._stale():
                return None
            found = self._resources.pop(subscription_id.lower(), None)
        if found is not None:
            self.close()
        return found

    def _stale(self) -> bool:
        return not self._arrived.is_set() or time.monotonic() - self._arrived_at > FRESH_FOR_S

    def close(self) -> None:
        """Stop the copy if it still runs, and forget what was not taken."""
        self.go()
        with self._lock:
            self._closed = True
            self._subscriptions = None
            self._resources.clear()
            pid, self._pid = self._pid, None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # its pipe closes with it, which ends the reading thread
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def _read(self) -> None:
        """The reading thread: everything the copy writes until it exits, decoded (nothing kept on nonsense)."""
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := os.read(self._read_end, 1 << 16):
                chunks.append(chunk)
        os.close(self._read_end)
        with self._lock:
            pid, self._pid = self._pid, None
        if pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        try:
            answer = json.loads(b"".join(chunks))
            subscriptions = [subscription_from_json(item) for item in answer["subscriptions"]]
            resources = {
                str(key).lower(): [resource_from_json(item) for item in items]
                for key, items in dict(answer["resources"]).items()
            }
        except (ValueError, KeyError, TypeError, AttributeError):
            subscriptions, resources = None, {}
        with self._lock:
            if not self._closed:
                self._subscriptions, self._resources = subscriptions, resources
            self._arrived_at = time.monotonic()
            self._arrived.set()
            waiters, self._waiters = self._waiters, []
        for loop, arrival in waiters:
            with contextlib.suppress(RuntimeError):  # a loop already closed has nobody waiting any more
                loop.call_soon_threadsafe(_settle, arrival)


def _settle(arrival: asyncio.Future[None]) -> None:
    if not arrival.done():
        arrival.set_result(None)


def _list_and_exit(
    settings: Settings, connect: Connect, preferred: str | None, write_end: int, go: int, import_ahead: bool
) -> None:
    """The copy's whole life: import on spare CPU, wait for the console's first frame, list, write the answer
    (or nothing, on any failure), exit."""
    try:
        # The terminal belongs to the console: a warning logged here must not land in its frame.
        quiet = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(quiet, stream)
        os.nice(NICENESS)  # the copy takes only CPU the console leaves
        if import_ahead:
            _import_blocking_sdk()
        select.select([go], [], [], GO_WAIT_S)
        answer = json.dumps(_listing(settings, connect, preferred)).encode()
        view = memoryview(answer)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:  # the console lists for itself when the copy wrote nothing
        pass
    finally:
        os._exit(0)


def _import_blocking_sdk() -> None:
    import azure.identity
    import azure.mgmt.resource.resources
    import azure.mgmt.resource.subscriptions  # noqa: F401


def _listing(settings: Settings, connect: Connect, preferred: str | None) -> dict[str, Any]:
    """List with the SDK's blocking clients: without aiohttp to import, the copy is done ~100 ms sooner."""
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from console.audit import Journal
    from console.services.base import ServiceContext
    from console.services.resources import by_display_name, resource_from_sdk, subscription_from_sdk

    profile, credential = connect()
    options = ServiceContext(settings, profile, credential, Journal(settings.journal_path)).arm_options()
    with credential, SubscriptionClient(credential, **options) as client:
        subscriptions = by_display_name([subscription_from_sdk(s) for s in client.subscriptions.list()])
        start = preferred_subscription(subscriptions, preferred) or next(iter(subscriptions), None)
        if start is None:
            return {"subscriptions": [], "resources": {}}
        with ResourceManagementClient(credential, start.subscription_id, **options) as resources:
            listed = [resource_from_sdk(item) for item in resources.resources.list()]
    return {
        "subscriptions": [subscription_to_json(s) for s in subscriptions],
        "resources": {start.subscription_id: [resource_to_json(r) for r in listed]},
    }
