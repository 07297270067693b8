"""The local Azure server: HTTPS ARM + Log Analytics on loopback, plus the managed-identity endpoint.

`start_emulator()` starts everything on the running event loop and returns the readiness data;
`serve()` is the `opsconsole emulator` command: start, print one JSON line, serve until a signal.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import signal
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from console.emulator import estate
from console.emulator.arm import ArmRouter, arm_error
from console.emulator.faults import FaultInjector, FaultRule, FaultSpecError, rule_from_mapping
from console.emulator.store import Store

RECORD_FILE = "emulator.json"
TOKEN_LIFETIME_S = 24 * 3600
ARM_AUDIENCE = "https://management.azure.com"
LOGS_AUDIENCE = "https://api.loganalytics.io"

FAULTS_KEY = web.AppKey("faults", FaultInjector)
LRO_FAIL_KEY = web.RequestKey("lro_fail", bool)


@dataclass
class EmulatorConfig:
    """How to run the local Azure."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    reset: bool = False
    faults: list[FaultRule] = field(default_factory=list)
    page_size: int = 100
    telemetry_scale: float = 1.0
    live_traffic: bool = True
    traffic_interval_s: float = 5.0
    parent_pid: int | None = None
    """When set, the local Azure stops once that process (the console that started it) has gone."""
    seed_delay_s: float = 2.0
    """Seconds to wait before seeding telemetry, so a console starting beside the local Azure gets the CPU."""


class NotLoopbackError(ValueError):
    """The emulator was asked to listen somewhere other than loopback."""


def require_loopback(host: str) -> None:
    """Refuse any address that is not loopback: the local Azure never listens on a network."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise NotLoopbackError(f"{host!r} is not an IP address; the local Azure binds to loopback only.") from None
    if not address.is_loopback:
        raise NotLoopbackError(f"{host} is not a loopback address; the local Azure binds to loopback only.")


class TokenIssuer:
    """Issues and checks bearer tokens: HMAC-signed, per audience, secret never leaves the process."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, audience: str) -> tuple[str, int]:
        expires = int(time.time()) + TOKEN_LIFETIME_S
        payload = f"{audience.rstrip('/')}|{expires}|{uuid.uuid4().hex}"
        signature = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload.encode().hex()}.{signature}", expires

    def audience_of(self, token: str) -> str | None:
        """The audience of a valid, unexpired token, or None."""
        payload_hex, _, signature = token.partition(".")
        try:
            payload = bytes.fromhex(payload_hex).decode()
        except ValueError:
            return None
        expected = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return None
        audience, _, rest = payload.partition("|")
        expires = rest.partition("|")[0]
        if not expires.isdigit() or int(expires) < time.time():
            return None
        return audience


def _tls_context(data_dir: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context from a CA kept in the data dir (made on first start) and a fresh leaf cert."""
    tls_dir = data_dir / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = tls_dir / "ca.pem", tls_dir / "ca-key.pem"
    if ca_cert.exists() and ca_key.exists():
        ca = trustme.CA.from_pem(ca_cert.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name="opsconsole local Azure")
        ca_key.touch(mode=0o600)
        ca_key.write_bytes(ca.private_key_pem.bytes())
        ca_cert.write_bytes(ca.cert_pem.bytes())
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context, ca_cert


def _request_ids(request: web.Request) -> dict[str, str]:
    request_id = str(uuid.uuid4())
    correlation = request.headers.get("x-ms-correlation-request-id") or request_id
    return {"x-ms-request-id": request_id, "x-ms-correlation-request-id": correlation}


def _is_loopback_peer(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


@web.middleware
async def _azure_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Request ids, faults and bearer-token checks for every ARM and Log Analytics request."""
    ids = _request_ids(request)
    if request.path.startswith("/_emulator/"):
        control = await handler(request)
        control.headers.update(ids)
        return control
    decision = request.app[FAULTS_KEY].decide(request.method, request.path)
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
    if decision.drop and request.transport is not None:
        request.transport.abort()
        raise asyncio.CancelledError
    issuer: TokenIssuer = request.app[ISSUER_KEY]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    audience = issuer.audience_of(token.strip()) if scheme.lower() == "bearer" else None
    wanted = LOGS_AUDIENCE if request.path.startswith("/v1/") else ARM_AUDIENCE
    response: web.StreamResponse
    if audience is None or audience != wanted:
        response = arm_error(
            401,
            "InvalidAuthenticationToken",
            "The access token is missing, invalid or expired."
            if audience is None
            else f"The access token is for {audience}, not {wanted}.",
            headers={
                "WWW-Authenticate": f'Bearer authorization_uri="https://login.microsoftonline.com/{estate.TENANT_ID}"'
            },
        )
    elif decision.status is not None:
        headers = {"Retry-After": str(int(decision.retry_after))} if decision.retry_after is not None else {}
        response = arm_error(
            decision.status, "InjectedFault", f"Fault injected by the local Azure: HTTP {decision.status}.", headers
        )
    elif decision.malformed:
        response = web.Response(status=200, body=b'{"value": [{"id": "/subscr', content_type="application/json")
    else:
        request[LRO_FAIL_KEY] = decision.lro_fail
        response = await handler(request)
    response.headers.update(ids)
    return response


ISSUER_KEY = web.AppKey("issuer", TokenIssuer)


async def _control_faults(request: web.Request) -> web.Response:
    """Loopback-only control route: GET lists, POST adds (or PUT replaces), DELETE clears fault rules."""
    if not _is_loopback_peer(request) or request.headers.get("X-IDENTITY-HEADER") != request.app[SECRET_KEY]:
        return arm_error(403, "Forbidden", "The control route needs the identity header from a loopback peer.")
    injector = request.app[FAULTS_KEY]
    if request.method == "DELETE":
        injector.replace([])
    elif request.method in {"POST", "PUT"}:
        try:
            body = await request.json()
            rules = [rule_from_mapping(item) for item in (body if isinstance(body, list) else [body])]
        except (json.JSONDecodeError, FaultSpecError, AttributeError) as error:
            return arm_error(400, "InvalidFault", f"The fault rules could not be read: {error}")
        if request.method == "PUT":
            injector.replace(rules)
        else:
            injector.add(rules)
    return web.json_response([rule.as_dict() for rule in injector.rules()])


SECRET_KEY = web.AppKey("identity_secret", str)


def _identity_app(issuer: TokenIssuer, secret: str) -> web.Application:
    """The App Service managed-identity endpoint (plain http on loopback, as Azure does)."""

    async def token(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), secret):
            return web.json_response(
                {"error": "invalid_request", "error_description": "Bad identity header."}, status=401
            )
        resource = request.query.get("resource", "").rstrip("/")
        if resource.endswith("/.default"):
            resource = resource[: -len("/.default")]
        if resource not in {ARM_AUDIENCE, LOGS_AUDIENCE}:
            return web.json_response(
                {"error": "invalid_resource", "error_description": f"Unknown resource {resource!r}."}, status=400
            )
        access_token, expires = issuer.issue(resource)
        return web.json_response(
            {
                "access_token": access_token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": "00000000-0000-4000-8000-0000000c0501",
            }
        )

    app = web.Application()
    app.router.add_get("/msi/token", token)
    return app


@dataclass
class RunningEmulator:
    """A started local Azure: its readiness data and what is needed to stop it."""

    readiness: dict[str, Any]
    store: Store
    router: ArmRouter
    faults: FaultInjector
    runners: list[web.AppRunner]
    background: list[asyncio.Task[Any]]

    async def stop(self) -> None:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for runner in self.runners:
            await runner.cleanup()
        self.store.close()


LogsSetup = Callable[[web.Application, Store, datetime, EmulatorConfig], Awaitable[list[asyncio.Task[Any]]]]


async def start_emulator(config: EmulatorConfig, *, logs_setup: LogsSetup | None = None) -> RunningEmulator:
    """Start the local Azure on the running loop; returns once both listeners accept connections."""
    require_loopback(config.host)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    store = Store(config.data_dir / "local-azure.duckdb", reset=config.reset, now=now)
    issuer = TokenIssuer()
    secret = secrets.token_urlsafe(24)
    faults = FaultInjector(config.faults)
    router = ArmRouter(store, page_size=config.page_size)

    app = web.Application(middlewares=[_azure_middleware], client_max_size=16 * 1024 * 1024)
    app[FAULTS_KEY] = faults
    app[ISSUER_KEY] = issuer
    app[SECRET_KEY] = secret
    app.router.add_route("*", "/_emulator/faults", _control_faults)
    background: list[asyncio.Task[Any]] = []
    if logs_setup is None:
        from console.emulator.logs_wiring import setup_logs

        logs_setup = setup_logs
    background += await logs_setup(app, store, now, config)
    app.router.add_route("*", "/{tail:.*}", router.dispatch)

    context, ca_file = _tls_context(config.data_dir)
    arm_runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await arm_runner.setup()
    arm_site = web.TCPSite(arm_runner, config.host, config.port, ssl_context=context)
    await arm_site.start()
    identity_runner = web.AppRunner(_identity_app(issuer, secret), access_log=None)
    await identity_runner.setup()
    identity_site = web.TCPSite(identity_runner, config.host, 0)
    await identity_site.start()

    host = f"[{config.host}]" if ":" in config.host else config.host
    arm_port = _bound_port(arm_site)
    endpoint = f"https://{host}:{arm_port}"
    readiness = {
        "arm_endpoint": endpoint,
        "logs_endpoint": endpoint,
        "identity_endpoint": f"http://{host}:{_bound_port(identity_site)}/msi/token",
        "identity_header": secret,
        "ca_file": str(ca_file.resolve()),
        "tenant_id": estate.TENANT_ID,
        "subscriptions": [s["subscriptionId"] for s in store.subscriptions()],
        "data_dir": str(config.data_dir.resolve()),
        "pid": os.getpid(),
    }
    return RunningEmulator(readiness, store, router, faults, [arm_runner, identity_runner], background)


def _bound_port(site: web.TCPSite) -> int:
    server: Any = site._server  # aiohttp exposes the bound port only through the server's sockets
    assert server is not None and server.sockets
    return int(server.sockets[0].getsockname()[1])


def write_record(data_dir: Path, readiness: dict[str, Any]) -> Path:
    """Record the running emulator in its data dir (0600: the identity header is in it)."""
    path = data_dir / RECORD_FILE
    temporary = path.with_suffix(".tmp")
    temporary.touch(mode=0o600)
    temporary.write_text(json.dumps(readiness))
    temporary.replace(path)
    return path


def remove_record(data_dir: Path) -> None:
    path = data_dir / RECORD_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, json.JSONDecodeError):
        pass


async def serve(config: EmulatorConfig, announce: Callable[[str], None]) -> None:
    """Run until SIGINT/SIGTERM: start, record, announce the readiness line, then stop cleanly."""
    running = await start_emulator(config)
    write_record(config.data_dir, running.readiness)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    announce(json.dumps(running.readiness))
    watcher = loop.create_task(_watch_parent(config.parent_pid, stop)) if config.parent_pid else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        remove_record(config.data_dir)
        await running.stop()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Stop when the console that started us is gone (killed, or its terminal closed), not linger."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(1.0)
    stop.set()
