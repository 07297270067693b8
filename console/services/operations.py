"""The parts of the mutation path that are not the path itself: request ids, progress, who, and unfinished work.

`Service.mutate` (services/base.py) is the one path every change to Azure takes; this module holds what it
leans on, and `review_unfinished`, which the console calls at start to report changes it stopped in the middle of.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import getpass
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol

from console.audit import Journal
from console.errors import OpsError
from console.models import OperationProgress, UnfinishedOperation

ProgressCallback = Callable[[OperationProgress], None]
Call = Callable[[], Awaitable[Any]]
"""Starts the SDK call: returns its result, or the `AsyncLROPoller` a `begin_*` method gives."""
Reread = Callable[[], Awaitable[str]]
"""Reads what the target looks like now, in a few words."""

PROGRESS_INTERVAL_S = 1.0
"""How often a running long-running operation reports progress (ARM asks to be polled every second or more)."""


class RequestLog:
    """Collects the Azure request ids of the responses seen while one operation runs.

    Every ARM client is built with `hook` as its `raw_response_hook`; `capture()` opens a record for the
    current task (and the tasks it starts), so concurrent reads elsewhere in the console are not mixed in.
    """

    def __init__(self) -> None:
        self._current: ContextVar[list[dict[str, Any]] | None] = ContextVar(f"requests-{id(self)}", default=None)

    def hook(self, response: Any) -> None:
        """azure-core's raw response hook: note the ids of one response (every attempt, polls included)."""
        record = self._current.get()
        if record is None:
            return
        http = response.http_response
        record.append(
            {
                "method": http.request.method,
                "status": http.status_code,
                "request_id": http.headers.get("x-ms-request-id"),
                "correlation_id": http.headers.get("x-ms-correlation-request-id"),
            }
        )

    @contextmanager
    def capture(self) -> Iterator[list[dict[str, Any]]]:
        """A list that fills with one entry per response until the block ends."""
        record: list[dict[str, Any]] = []
        token = self._current.set(record)
        try:
            yield record
        finally:
            self._current.reset(token)


def request_ids(record: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The distinct request and correlation ids of a captured record, in order."""
    ids = [str(r["request_id"]) for r in record if r.get("request_id")]
    correlations = [str(r["correlation_id"]) for r in record if r.get("correlation_id")]
    return {"request_ids": list(dict.fromkeys(ids)), "correlation_ids": list(dict.fromkeys(correlations))}


async def await_with_progress(
    poller: Any, action: str, target: str, started: float, progress: ProgressCallback | None
) -> Any:
    """Await an azure-core `AsyncLROPoller`, telling `progress` its status now, every second, and at the end."""

    def report(status: str, done: bool = False) -> None:
        if progress is not None:
            progress(OperationProgress(action, target, status, time.monotonic() - started, done))

    result = asyncio.ensure_future(poller.result())
    try:
        while True:
            report(str(poller.status()))
            finished, _ = await asyncio.wait({result}, timeout=PROGRESS_INTERVAL_S)
            if finished:
                break
    finally:
        # Cancelled while polling: stop polling (the operation itself goes on in Azure).
        if not result.done():
            result.cancel()
    report(str(poller.status()), done=True)
    return result.result()


async def principal_name(credential: Any, scope: str) -> str:
    """Who is changing things: the signed-in principal from the ARM token's claims, else the OS user."""
    try:
        token = await credential.get_token(scope)
        claims = _jwt_claims(str(token.token))
    except Exception:  # no token now means the call itself fails next, with its own sentence; name the OS user
        claims = {}
    for claim in ("upn", "unique_name", "preferred_username", "appid", "oid"):
        if claims.get(claim):
            return str(claims[claim])
    return _os_user()


def _jwt_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return os.environ.get("USER") or f"uid {os.getuid()}"


class StateReader(Protocol):
    """A service that can say what one of its targets looks like now (every `Service` is one)."""

    area: str

    async def state_of(self, target: str) -> str: ...


async def review_unfinished(
    journal: Journal, services: Iterable[StateReader], *, close: bool = True
) -> list[UnfinishedOperation]:
    """The journal's intents without an outcome, each with its target's state read back from Azure.

    With `close` (the default), each one whose state was read gets an `interrupted` outcome recording that
    state, so it is reported once; one whose state could not be read stays open for the next start.
    """
    readers = {service.area: service for service in services}
    found = []
    for intent in await asyncio.to_thread(journal.unfinished):
        action, target = str(intent.get("action", "")), str(intent.get("target", ""))
        reader = readers.get(str(intent.get("area", "")))
        state = error = None
        if reader is None:
            error = f"no service of this console reads {intent.get('area') or 'that kind of'} target"
        else:
            try:
                state = await reader.state_of(target)
            except OpsError as failure:
                error = failure.message
        if state is not None and close:
            await asyncio.to_thread(
                journal.record,
                "outcome",
                action,
                target,
                operation_id=intent["operation_id"],
                result="interrupted",
                state=state,
            )
        found.append(
            UnfinishedOperation(
                operation_id=str(intent["operation_id"]),
                action=action,
                target=target,
                started_at=_parse_time(intent.get("at")),
                who=str(intent.get("who") or "unknown"),
                state=state,
                read_error=error,
            )
        )
    return found


def _parse_time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
