"""The local Azure server: HTTPS ARM + Log Analytics on loopback, plus the managed-identity endpoint.

What it answers comes from its areas (`console.emulator.areas`); this module is the shared part:
TLS, tokens, faults, control routes and the listeners.

`start_emulator()` starts everything on the running event loop and returns the readiness data;
`serve()` is the `opsconsole emulator` command: start, print one JSON line, serve until a signal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import signal
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from console.cloud import LOCAL_AZURE_RECORD
from console.emulator import estate
from console.emulator.areas import AREAS, Area
from console.emulator.areas.base import STATUS_KEY
from console.emulator.arm import ArmRouter, arm_error
from console.emulator.faults import FaultInjector, FaultRule, FaultSpecError, rule_from_mapping
from console.emulator.store import Document, Store
from console.emulator.tls import server_context

log = logging.getLogger(__name__)

RECORD_FILE = LOCAL_AZURE_RECORD
TOKEN_LIFETIME_S = 24 * 3600
ARM_AUDIENCE = "https://management.azure.com"
LOGS_AUDIENCE = "https://api.loganalytics.io"

IDLE_TIMEOUT_S = 10.0
"""A connection with no request in flight for this long is closed (idle, or a request half sent)."""
SHUTDOWN_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 30.0
TLS_HANDSHAKE_TIMEOUT_S = 10.0
MAX_REQUEST_BYTES = 16 * 1024 * 1024

FAULTS_KEY = web.AppKey("faults", FaultInjector)
LRO_FAIL_KEY = web.RequestKey("lro_fail", bool)
REQUESTS_KEY = web.AppKey("request_counts", dict[str, int])
ORIGIN_KEY = web.AppKey("origin", list[str])
"""The server's own https origin, known once it is bound (links and metadata never use the Host header)."""


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
    seed_delay_s: float = 0.5
    idle_timeout_s: float = IDLE_TIMEOUT_S
    """A connection with no request in flight for this long is closed."""
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


# Audiences the identity endpoint issues tokens for, and the one each is checked as: the az CLI and
# older SDKs ask for ARM as https://management.core.windows.net/.
AUDIENCES = {
    ARM_AUDIENCE: ARM_AUDIENCE,
    "https://management.core.windows.net": ARM_AUDIENCE,
    LOGS_AUDIENCE: LOGS_AUDIENCE,
}
MANAGED_IDENTITY_CLIENT_ID = "00000000-0000-4000-8000-0000000c0501"
MANAGED_IDENTITY_OBJECT_ID = "00000000-0000-4000-8000-0000000c0502"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and checks bearer tokens: JWTs (HS256) with the claims clients read (`tid`, `oid`,
    `aud`, `exp`), signed with a key that never leaves the process."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, audience: str) -> tuple[str, int]:
        now = int(time.time())
        expires = now + TOKEN_LIFETIME_S
        claims = {
            "aud": audience.rstrip("/"),
            "iss": f"https://sts.windows.net/{estate.TENANT_ID}/",
            "iat": now,
            "nbf": now,
            "exp": expires,
            "tid": estate.TENANT_ID,
            "oid": MANAGED_IDENTITY_OBJECT_ID,
            "sub": MANAGED_IDENTITY_OBJECT_ID,
            "appid": MANAGED_IDENTITY_CLIENT_ID,
            "idtyp": "app",
            "xms_mirid": "/subscriptions/local/resourcegroups/local/providers/Microsoft.ManagedIdentity/local",
            "jti": uuid.uuid4().hex,
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        return f"{header}.{body}.{signature}", expires

    def audience_of(self, token: str) -> str | None:
        """The audience (as checked) of a valid, unexpired token, or None."""
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 4096:
            return None
        header, body, signature = parts
        expected = _b64(hmac.new(self._key, f"{header}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        try:
            claims = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        expires = claims.get("exp") if isinstance(claims, dict) else None
        if not isinstance(expires, int) or expires < time.time():
            return None
        return AUDIENCES.get(str(claims.get("aud", "")))


def _request_ids(request: web.Request) -> dict[str, str]:
    request_id = str(uuid.uuid4())
    correlation = request.headers.get("x-ms-correlation-request-id") or request_id
    return {"x-ms-request-id": request_id, "x-ms-correlation-request-id": correlation}


def control_allowed(request: web.Request) -> bool:
    """Control routes answer only a loopback peer that shows the identity header."""
    shown = request.headers.get("X-IDENTITY-HEADER", "")
    return _is_loopback_peer(request) and _same_secret(shown, request.app[SECRET_KEY])


def _same_secret(shown: str, secret: str) -> bool:
    """Constant-time comparison of a header (any bytes a client sent) with the secret."""
    return hmac.compare_digest(shown.encode("utf-8", "surrogateescape"), secret.encode())


def _is_loopback_peer(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


@web.middleware
async def _azure_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Request ids, connection tracking and the Azure-shaped answer to anything that goes wrong."""
    ids = _request_ids(request)
    tracker = request.app[CONNECTIONS_KEY]
    tracker.started(request.protocol)
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as refused:
        # Routing and body-size refusals from aiohttp itself: same status, Azure's shape.
        response = arm_error(refused.status, _status_code(refused.status), _status_sentence(refused.status))
    except Exception:
        log.exception("Unexpected failure answering %s %s", request.method, request.path[:200])
        response = arm_error(500, "InternalServerError", "The local Azure failed to answer; see its log.")
    finally:
        tracker.finished(request.protocol)
    response.headers.update(ids)
    return response


async def _guarded(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Faults and bearer-token checks for every ARM and Log Analytics request."""
    if request.path.startswith("/_emulator/") or request.path.lower().rstrip("/") == "/metadata/endpoints":
        return await handler(request)  # control routes check their own header; cloud metadata is public
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
    if audience is None or audience != wanted:
        return arm_error(
            401,
            "InvalidAuthenticationToken",
            "The access token is missing, invalid or expired."
            if audience is None
            else f"The access token is for {audience}, not {wanted}.",
            headers={
                "WWW-Authenticate": f'Bearer authorization_uri="https://login.microsoftonline.com/{estate.TENANT_ID}"'
            },
        )
    if decision.status is not None:
        headers = {"Retry-After": str(int(decision.retry_after))} if decision.retry_after is not None else {}
        return arm_error(
            decision.status, "InjectedFault", f"Fault injected by the local Azure: HTTP {decision.status}.", headers
        )
    if decision.malformed:
        return web.Response(status=200, body=b'{"value": [{"id": "/subscr', content_type="application/json")
    request[LRO_FAIL_KEY] = decision.lro_fail
    if request.can_read_body and not request.path.startswith("/v1/"):
        # Read (and keep) the body here, bounded in time, so no handler waits on a client sending slowly.
        try:
            await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
        except TimeoutError:
            return arm_error(408, "RequestTimeout", f"The request body did not arrive within {BODY_TIMEOUT_S:g} s.")
    counts = request.app[REQUESTS_KEY]
    counts[request.method] = counts.get(request.method, 0) + 1
    return await handler(request)


def _status_code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "BadRequest"


def _status_sentence(status: int) -> str:
    sentences = {
        405: "That HTTP method is not supported on this path.",
        413: f"The request body is larger than {MAX_REQUEST_BYTES:,} bytes.",
        414: "The request path is too long.",
        431: "The request headers are too large.",
    }
    return sentences.get(status, f"The request was refused (HTTP {status}).")


class _ConnectionTracker:
    """Closes connections that sit with no request in flight: idle ones and half-sent requests.

    aiohttp times out idle keep-alive connections but not a client that never finishes sending
    its headers, so every connection gets a deadline that only an answered request renews.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, idle_s: float) -> None:
        self._loop = loop
        self._idle_s = idle_s
        self._state: weakref.WeakKeyDictionary[Any, list[int]] = weakref.WeakKeyDictionary()

    def opened(self, protocol: RequestHandler) -> None:
        self._state[protocol] = [0, 0]  # requests seen, requests in flight
        self._arm(protocol)

    def started(self, protocol: Any) -> None:
        state = self._state.get(protocol)
        if state is not None:
            state[0] += 1
            state[1] += 1

    def finished(self, protocol: Any) -> None:
        state = self._state.get(protocol)
        if state is not None:
            state[1] -= 1
            self._arm(protocol)

    def _arm(self, protocol: RequestHandler) -> None:
        seen = self._state[protocol][0]
        reference = weakref.ref(protocol)
        self._loop.call_later(self._idle_s, self._expire, reference, seen)

    def _expire(self, reference: weakref.ref[RequestHandler], seen: int) -> None:
        protocol = reference()
        state = self._state.get(protocol) if protocol is not None else None
        if protocol is None or state is None or state[0] != seen or state[1] > 0:
            return
        if protocol.transport is not None:
            protocol.transport.close()


CONNECTIONS_KEY = web.AppKey("connections", _ConnectionTracker)


class _AzureProtocol(RequestHandler):
    """aiohttp's connection handler, answering requests it cannot parse in Azure's error shape and
    logging the status but never the bytes that caused it (they come from an unauthenticated peer)."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        log.warning("Refused a malformed request: HTTP %s (%s)", status, type(exc).__name__ if exc else "no detail")
        if status >= 500:
            status = 400
        sentence = _status_sentence(status)
        if type(exc).__name__ == "LineTooLong":
            sentence = "The request line or one of its headers is too long."
        elif type(exc).__name__ == "BadHttpMethod":
            sentence = "The request's HTTP method is not one this server knows."
        response = arm_error(status, _status_code(status), sentence)
        response.force_close()
        return response


ISSUER_KEY = web.AppKey("issuer", TokenIssuer)


async def _control_faults(request: web.Request) -> web.Response:
    """Loopback-only control route: GET lists, POST adds (or PUT replaces), DELETE clears fault rules."""
    if not control_allowed(request):
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


async def _cloud_metadata(request: web.Request) -> web.Response:
    """`GET /metadata/endpoints`: this local Azure described as a cloud, for `az cloud register` and
    `ARM_CLOUD_METADATA_URL` (a list of clouds since api-version 2019-05-01, one object before)."""
    origin = request.app[ORIGIN_KEY][0]
    arm = f"{origin}/"
    login = "https://login.microsoftonline.com/"
    audiences = ["https://management.core.windows.net/", "https://management.azure.com/"]
    version = request.query.get("api-version", "")
    if version and version < "2019-05-01":
        return web.json_response(
            {
                "galleryEndpoint": arm,
                "graphEndpoint": "https://graph.windows.net/",
                "portalEndpoint": "https://portal.azure.com/",
                "authentication": {"loginEndpoint": login, "audiences": audiences},
            }
        )
    cloud = {
        "name": "LocalAzure",
        "portal": "https://portal.azure.com",
        "resourceManager": arm,
        "authentication": {
            "loginEndpoint": login,
            "audiences": audiences,
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "graph": "https://graph.windows.net/",
        "graphAudience": "https://graph.windows.net/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "gallery": arm,
        "batch": "https://batch.core.windows.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "media": "https://rest.media.azure.net",
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "suffixes": {
            "storage": "core.windows.net",
            "keyVaultDns": "vault.azure.net",
            "sqlServerHostname": "database.windows.net",
            "acrLoginServer": "azurecr.io",
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
        },
    }
    return web.json_response([cloud])


async def _control_requests(request: web.Request) -> web.Response:
    """Loopback-only: how many authenticated requests reached the handlers, by method (DELETE resets).

    Lets a test prove that something sent no request at all (a read-only refusal, a dry run)."""
    if not control_allowed(request):
        return arm_error(403, "Forbidden", "The control route needs the identity header from a loopback peer.")
    counts = request.app[REQUESTS_KEY]
    if request.method == "DELETE":
        counts.clear()
    return web.json_response(dict(counts))


async def _control_status(request: web.Request) -> web.Response:
    """Loopback-only: whether the telemetry is loaded, so a headless command can wait for it."""
    if not control_allowed(request):
        return arm_error(403, "Forbidden", "The control route needs the identity header from a loopback peer.")
    status = request.app.get(STATUS_KEY)
    telemetry = status() if status is not None else {"ready": True, "progress": 1.0}
    return web.json_response({"telemetry": telemetry})


def _identity_error(status: int, code: str, message: str) -> web.Response:
    """An error as App Service's identity endpoint words it (`statusCode`, `message`), plus the OAuth
    fields, so MSAL and the SDKs can both show the sentence."""
    body = {"statusCode": status, "message": message, "error": code, "error_description": message}
    return web.json_response(body, status=status)


def _identity_app(issuer: TokenIssuer, secret: str) -> web.Application:
    """The App Service managed-identity endpoint (plain http on loopback, as Azure does)."""

    async def token(request: web.Request) -> web.Response:
        if not _same_secret(request.headers.get("X-IDENTITY-HEADER", ""), secret):
            return _identity_error(401, "invalid_request", "The X-IDENTITY-HEADER header is missing or wrong.")
        resource = request.query.get("resource", "").rstrip("/")
        if resource.endswith("/.default"):
            resource = resource[: -len("/.default")]
        if resource not in AUDIENCES:
            known = ", ".join(sorted(AUDIENCES))
            sentence = f"No tokens for {resource[:200]!r}; this local Azure serves {known}."
            return _identity_error(400, "invalid_resource", sentence)
        access_token, expires = issuer.issue(resource)
        return web.json_response(
            {
                "access_token": access_token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": MANAGED_IDENTITY_CLIENT_ID,
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
    listeners: list[asyncio.Server] = field(default_factory=list)

    async def stop(self) -> None:
        """Stop accepting, interrupt running queries and seeding, close connections, close the store."""
        for listener in self.listeners:
            listener.close()
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for runner in self.runners:
            await runner.cleanup()
        self.store.close()


def _private_dir(path: Path) -> None:
    """The data dir holds secrets (seeded passwords, the CA key, the identity header): owner only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    for child in path.iterdir():
        if child.is_file():
            child.chmod(0o600)


async def start_emulator(config: EmulatorConfig, *, areas: Sequence[Area] = AREAS) -> RunningEmulator:
    """Start the local Azure on the running loop; returns once both listeners accept connections."""
    require_loopback(config.host)
    _private_dir(config.data_dir)
    now = datetime.now(UTC)

    def seed(moment: datetime) -> list[Document]:
        return [document for area in areas if area.seed is not None for document in area.seed(moment)]

    store = Store(config.data_dir / "local-azure.duckdb", seed=seed, reset=config.reset, now=now)
    _private_dir(config.data_dir)
    issuer = TokenIssuer()
    secret = secrets.token_urlsafe(24)
    faults = FaultInjector(config.faults)
    router = ArmRouter(store, page_size=config.page_size)
    for area in areas:
        if area.routes is not None:
            router.add_routes(area.routes(router))
    loop = asyncio.get_running_loop()

    app = web.Application(middlewares=[_azure_middleware], client_max_size=MAX_REQUEST_BYTES)
    app[FAULTS_KEY] = faults
    app[ISSUER_KEY] = issuer
    app[SECRET_KEY] = secret
    tracker = _ConnectionTracker(loop, config.idle_timeout_s)
    app[CONNECTIONS_KEY] = tracker
    app.router.add_route("*", "/_emulator/faults", _control_faults)
    app.router.add_route("GET", "/_emulator/status", _control_status)
    app[REQUESTS_KEY] = {}
    app.router.add_route("GET", "/_emulator/requests", _control_requests)
    app[ORIGIN_KEY] = [""]
    app.router.add_route("GET", "/metadata/endpoints", _cloud_metadata)
    app.router.add_route("DELETE", "/_emulator/requests", _control_requests)
    background: list[asyncio.Task[Any]] = []
    for area in areas:
        if area.start is not None:
            background += await area.start(app, store, now, config)
    app.router.add_route("*", "/{tail:.*}", router.dispatch)

    context, ca_file = server_context(config.data_dir, config.host)
    arm_runner = web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=True,
        keepalive_timeout=IDLE_TIMEOUT_S,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await arm_runner.setup()
    server = arm_runner.server
    assert server is not None

    def protocol() -> RequestHandler:
        # No access log, as for the runner (aiohttp's own type hint does not admit None).
        handler = _AzureProtocol(server, loop=loop, keepalive_timeout=config.idle_timeout_s, access_log=cast(Any, None))
        tracker.opened(handler)
        return handler

    arm_listener = await loop.create_server(
        protocol, config.host, config.port, ssl=context, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S
    )
    identity_runner = web.AppRunner(
        _identity_app(issuer, secret),
        access_log=None,
        keepalive_timeout=IDLE_TIMEOUT_S,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await identity_runner.setup()
    assert identity_runner.server is not None
    identity_listener = await loop.create_server(identity_runner.server, config.host, 0)

    host = f"[{config.host}]" if ":" in config.host else config.host
    arm_port = int(arm_listener.sockets[0].getsockname()[1])
    endpoint = f"https://{host}:{arm_port}"
    router.origin = endpoint
    app[ORIGIN_KEY][0] = endpoint
    identity_port = int(identity_listener.sockets[0].getsockname()[1])
    readiness = {
        "arm_endpoint": endpoint,
        "logs_endpoint": endpoint,
        "identity_endpoint": f"http://{host}:{identity_port}/msi/token",
        "identity_header": secret,
        "ca_file": str(ca_file.resolve()),
        "tenant_id": estate.TENANT_ID,
        "subscriptions": [s["subscriptionId"] for s in store.subscriptions()],
        "data_dir": str(config.data_dir.resolve()),
        "pid": os.getpid(),
    }
    return RunningEmulator(
        readiness, store, router, faults, [arm_runner, identity_runner], background, [arm_listener, identity_listener]
    )


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
    os.umask(0o077)  # this process is the local Azure: everything it writes is the owner's alone
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
        await asyncio.sleep(0.5)
    stop.set()
