"""What every service shares: SDK client options, error mapping, and the one path every change to Azure takes."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from console.audit import Journal, mask_secrets
from console.cloud import CloudProfile
from console.errors import ErrorKind, OpsError, from_azure
from console.models import OperationProgress
from console.services.operations import (
    Call,
    ProgressCallback,
    RequestLog,
    Reread,
    await_with_progress,
    principal_name,
    request_ids,
)
from console.settings import Settings

T = TypeVar("T")


class ServiceContext:
    """The settings, cloud profile, credential and journal one console session shares across services.

    A context may start unconnected (the console paints before the SDK is even imported): every
    service call then waits in `connected()` until `connect()` gives it a profile and a credential.
    """

    def __init__(self, settings: Settings, profile: CloudProfile | None, credential: Any, journal: Journal) -> None:
        self.settings = settings
        self._profile = profile
        self.credential = credential
        self.journal = journal
        self.requests = RequestLog()
        self._principal: str | None = None
        self._connected = asyncio.Event()
        self._failure: OpsError | None = None
        self._retry: Callable[[], None] | None = None
        if profile is not None:
            self._connected.set()

    @property
    def profile(self) -> CloudProfile:
        if self._profile is None:
            raise OpsError(ErrorKind.CONFIG, "The console is not connected to Azure yet.")
        return self._profile

    @property
    def is_connected(self) -> bool:
        return self._profile is not None

    def connect(self, profile: CloudProfile, credential: Any) -> None:
        """Attach the cloud and credential; calls waiting in `connected()` go ahead (call on the loop)."""
        self._profile, self.credential, self._failure = profile, credential, None
        self._principal = None
        self._connected.set()

    async def principal(self) -> str:
        """Who the journal says made a change: looked up once per connection (a CLI credential spawns `az`)."""
        if self._principal is None:
            self._principal = await principal_name(self.credential, self.profile.arm_scope)
        return self._principal

    def fail(self, error: OpsError, retry: Callable[[], None] | None = None) -> None:
        """Connecting failed: every waiting call raises `error`. With `retry`, the next call starts connecting
        again (`retry` must end in `connect` or `fail`) and waits for that attempt; without, it raises too."""
        self._failure, self._retry = error, retry
        self._connected.set()

    async def settled(self) -> None:
        """Wait until connecting succeeded or failed, without raising or retrying."""
        await self._connected.wait()

    async def connected(self) -> None:
        """Wait until connected; raise the connection failure if there was one."""
        if self._failure is not None and self._retry is not None:
            retry, self._retry, self._failure = self._retry, None, None
            self._connected.clear()
            retry()
        await self._connected.wait()
        if self._failure is not None:
            raise self._failure

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every SDK client: retries, timeouts and (when configured) the CA to trust."""
        options: dict[str, Any] = {
            "retry_total": self.settings.retry_total,
            "connection_timeout": 10,
            "read_timeout": self.settings.timeout_seconds,
        }
        verify = self.settings.connection_verify or self.profile.ca_file
        if verify:
            options["connection_verify"] = verify
        return options

    def arm_options(self) -> dict[str, Any]:
        return {
            **self.client_options(),
            "base_url": self.profile.arm_endpoint,
            "credential_scopes": [self.profile.arm_scope],
            "raw_response_hook": self.requests.hook,
        }


class Service:
    """Base of the per-area services: maps SDK failures to OpsError and takes every change through `mutate`."""

    area = "service"
    """The name the journal records for this service's changes, so `review_unfinished` finds it again."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def close(self) -> None:
        """Release the SDK clients this service opened (none by default)."""

    async def call(self, action: str, awaitable: Awaitable[T]) -> T:
        """Await an SDK call, turning any Azure failure into an OpsError that names `action`."""
        try:
            await self.context.connected()
        except BaseException:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never started: close it so it is not reported as never awaited
            raise
        try:
            return await awaitable
        except OpsError:
            raise
        except Exception as error:  # every azure.core failure is mapped; anything else re-raises inside
            raise from_azure(error, action) from error

    def ensure_writable(self, subscription_id: str | None, action: str, *, confirmed: bool = False) -> None:
        """Refuse a change before any request: read-only console or subscription, or an unconfirmed protected one.

        In a protected subscription the screen asks for the typed target name and then passes `confirmed`;
        a headless caller passes it only when told to (`--yes`).
        """
        settings = self.context.settings
        if settings.is_read_only(subscription_id):
            raise OpsError(
                ErrorKind.READ_ONLY,
                f"Refused to {action}: the console is in read-only mode for this subscription.",
            )
        if settings.is_protected(subscription_id) and not confirmed:
            raise OpsError(
                ErrorKind.REFUSED,
                f"Refused to {action}: subscription {subscription_id} is protected and the change was not confirmed.",
            )

    async def state_of(self, target: str) -> str:
        """What `target` looks like now, in a few words; read after a failed or interrupted change."""
        raise OpsError(ErrorKind.CONFIG, f"This console cannot read back the state of {target}.")

    async def mutate(
        self,
        action: str,
        target: str,
        call: Call,
        *,
        subscription_id: str,
        parameters: Mapping[str, Any] | None = None,
        reread: Reread | None = None,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> Any:
        """Change Azure: the one path every mutating service method takes.

        `action` is a verb phrase ("set tags"), `target` the resource id, `call` starts the SDK call (a plain
        awaitable, or a `begin_*` that gives an `AsyncLROPoller`, polled with `progress` reports). Refuses
        before any request when read-only or unconfirmed-protected; journals the intent (fsynced) before the
        call and the outcome with Azure's request ids after it. On failure it re-reads the target (`reread`,
        else `state_of(target)`) and raises an OpsError that says what failed and where things now stand.
        """
        self.ensure_writable(subscription_id, f"{action} on {target}", confirmed=confirmed)
        await self.context.connected()
        journal = self.context.journal
        operation_id = str(uuid.uuid4())
        who = await self.context.principal()
        await asyncio.to_thread(
            journal.record,
            "intent",
            action,
            target,
            operation_id=operation_id,
            area=self.area,
            subscription_id=subscription_id,
            who=who,
            parameters=mask_secrets(dict(parameters or {})),
        )
        started = time.monotonic()
        # Cancelled mid-call: no outcome is written, so the next start reports the change as unfinished.
        with self.context.requests.capture() as record:
            try:
                result = await self._run(call, action, target, started, progress)
            except Exception as error:
                ids = request_ids(record)  # the call's requests only, not the read-back's
                failure, state = await self._failure(error, action, target, reread)
                await asyncio.to_thread(
                    journal.record,
                    "outcome",
                    action,
                    target,
                    operation_id=operation_id,
                    result="failed",
                    error=str(failure or error),
                    code=failure.code if failure else None,
                    state=state,
                    elapsed_s=round(time.monotonic() - started, 3),
                    **ids,
                )
                if failure is None:
                    raise  # not an Azure failure: a fault of ours, journalled but not dressed up
                raise failure from error
        await asyncio.to_thread(
            journal.record,
            "outcome",
            action,
            target,
            operation_id=operation_id,
            result="succeeded",
            elapsed_s=round(time.monotonic() - started, 3),
            **request_ids(record),
        )
        return result

    async def _run(
        self, call: Call, action: str, target: str, started: float, progress: ProgressCallback | None
    ) -> Any:
        """Start the call; poll a long-running operation to its end. `progress` hears Running first, done last."""
        from azure.core.polling import AsyncLROPoller

        def report(status: str, done: bool = False) -> None:
            if progress is not None:
                progress(OperationProgress(action, target, status, time.monotonic() - started, done))

        report("Running")
        try:
            begun = await call()
        except Exception:
            report("Failed", done=True)
            raise
        if isinstance(begun, AsyncLROPoller):
            return await await_with_progress(begun, action, target, started, progress)
        report("Succeeded", done=True)
        return begun

    async def _failure(
        self, error: Exception, action: str, target: str, reread: Reread | None
    ) -> tuple[OpsError | None, str | None]:
        """The OpsError for a failed change (None when `error` is not from Azure), and the state read back."""
        name = target.rstrip("/").rsplit("/", 1)[-1] or target
        try:
            state: str | None = await (reread() if reread is not None else self.state_of(target))
            now = f"now: {state}"
        except Exception as unreadable:  # the failure is told (and journalled) even when the read-back fails
            why = unreadable.message if isinstance(unreadable, OpsError) else str(unreadable) or repr(unreadable)
            state, now = None, f"its state could not be read back ({why.rstrip('.')})"
        try:
            mapped = from_azure(error, f"trying to {action} on {name}")
        except Exception:
            return None, state
        code, detail = _operation_error(error)
        reason = code or mapped.code or mapped.kind.value
        what = f"{action[:1].upper()}{action[1:]} on {name} failed ({reason})"
        sentence = f"{what}: {(detail or mapped.message).rstrip('.')}; {now}."
        return OpsError(mapped.kind, sentence, request_id=mapped.request_id, code=code or mapped.code), state


def _operation_error(error: Exception) -> tuple[str | None, str | None]:
    """The ARM error code and message in a failed response's body (a failed long-running operation answers 200)."""
    response = getattr(error, "response", None)
    if response is None:
        return None, None
    try:
        body = response.json()
    except Exception:  # a body that is not JSON has no ARM error to read
        return None, None
    found = body.get("error") if isinstance(body, dict) else None
    if not isinstance(found, dict):
        return None, None
    code, message = found.get("code"), found.get("message")
    return (str(code) if code else None), (str(message) if message else None)
