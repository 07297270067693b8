"""ARM for the local Azure: what every area shares (routing by specificity, api-version, paging, errors and
long-running operations). The areas in `console.emulator.areas` declare the routes."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from console.emulator.providers import ProviderRegistry
from console.emulator.store import Store

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"

METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"})
"""The HTTP methods ARM knows; anything else is a 405 before routing."""

MAX_TOP = 1000
MAX_OPERATIONS = 1000
"""Finished long-running operations kept for polling; the oldest go first."""
_API_VERSION = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(-(preview|alpha|beta|privatepreview))?", re.IGNORECASE)
_COUNT = re.compile(r"[0-9]{1,9}")

log = logging.getLogger(__name__)


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An ARM error response: `{"error": {"code", "message"}}`."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def clipped(text: str, limit: int = 200) -> str:
    """Client text as echoed in an error message: cut to `limit` characters."""
    return text if len(text) <= limit else text[:limit] + "..."


def valid_api_version(value: str) -> bool:
    """Whether `value` is an api-version ARM accepts: `YYYY-MM-DD` with an optional -preview/-alpha/
    -beta/-privatepreview suffix, and a real date."""
    match = _API_VERSION.fullmatch(value)
    if match is None:
        return False
    year, month, day = (int(match.group(i)) for i in (1, 2, 3))
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _api_version_error(request: web.Request) -> web.Response | None:
    """The 400 ARM gives when the api-version is missing, empty, garbage or given twice differently."""
    values = [v for k, v in request.query.items() if k.lower() == "api-version"]
    if not values:
        return arm_error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    for value in values:
        if not valid_api_version(value):
            shown = clipped(value, 64)
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{shown}' is invalid. The supported format is 'YYYY-MM-DD', optionally with "
                "'-preview', '-alpha', '-beta' or '-privatepreview' (for example '2025-04-01').",
            )
    if len({v.lower() for v in values}) > 1:
        return arm_error(400, "InvalidApiVersionParameter", "The api-version query parameter is given more than once.")
    return None


def api_version_of(request: web.Request) -> str:
    """The request's api-version (already validated by the router)."""
    return next((v for k, v in request.query.items() if k.lower() == "api-version"), "")


async def read_json_object(request: web.Request) -> dict[str, Any] | web.Response:
    """The request body as a JSON object, or the ARM 4xx that says why it is not one."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return arm_error(413, "RequestEntityTooLarge", "The request body is larger than the local Azure accepts.")
    try:
        text = raw.decode(request.charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return arm_error(
            400, "InvalidRequestContent", f"The request body is not text in the charset {request.charset!r}."
        )
    try:
        body = json.loads(text) if text.strip() else None
    except (ValueError, RecursionError):
        return arm_error(400, "InvalidRequestContent", "The request content is not valid JSON.")
    if not isinstance(body, dict):
        return arm_error(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


_WILDCARD = re.compile(r"(?<!\\)\.[+*]")
"""`.+` or `.*` in a pattern: a part that can span several path segments."""


@dataclass(frozen=True)
class Route:
    """One ARM route an area declares: method, case-insensitive path pattern, handler."""

    method: str
    pattern: str
    handler: Handler

    def specificity(self) -> tuple[bool, int, int, str, str]:
        """The sort key that puts specific routes first: a pattern that can span segments after all
        others, then fewer capture groups, then longer patterns (then by text, so ties never
        depend on the order of declaration)."""
        groups = re.compile(self.pattern).groups
        return (_WILDCARD.search(self.pattern) is not None, groups, -len(self.pattern), self.pattern, self.method)


@dataclass
class Operation:
    """A long-running operation: polled through Azure-AsyncOperation and Location until terminal."""

    operation_id: str
    status: str = "InProgress"
    error: dict[str, str] | None = None
    result: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class ArmRouter:
    """Dispatches ARM paths by case-insensitive regex and holds the shared ARM behaviour."""

    origin: str | None = None
    """The server's own `https://host:port`, set once bound; links are built on it, never on `Host`."""

    def __init__(self, store: Store, *, page_size: int = 100, routes: Iterable[Route] = ()) -> None:
        self.store = store
        self.page_size = page_size
        self.origin = None
        self.operations: dict[str, Operation] = {}
        self._routes: list[tuple[Route, re.Pattern[str]]] = []
        operations = r"/providers/microsoft\.localazure"
        self.add_routes(
            [
                Route("GET", operations + r"/operations/(?P<op>[^/]+)", self._operation_status),
                Route("GET", operations + r"/operationresults/(?P<op>[^/]+)", self._operation_result),
                *routes,
            ]
        )

    def add_routes(self, routes: Iterable[Route]) -> None:
        """Register routes; they are tried most specific first, whatever the order they come in."""
        self._routes += [(route, re.compile(f"^{route.pattern}/?$", re.IGNORECASE)) for route in routes]
        self._routes.sort(key=lambda entry: entry[0].specificity())

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register one route (see `add_routes`)."""
        self.add_routes([Route(method, pattern, handler)])

    def link_origin(self, request: web.Request) -> str:
        """Where returned links point: the server's own origin, or (not yet bound) the one called."""
        return self.origin or f"{request.scheme}://{request.host}"

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.method not in METHODS:
            return arm_error(
                405,
                "MethodNotAllowed",
                f"The HTTP method {request.method[:32]!r} is not supported.",
                headers={"Allow": ", ".join(sorted(METHODS))},
            )
        refused = _api_version_error(request)
        if refused is not None:
            return refused
        allowed: list[str] = []
        for route, pattern in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if route.method == request.method:
                try:
                    return await route.handler(request, match.groupdict())
                except web.HTTPRequestEntityTooLarge:
                    return arm_error(
                        413, "RequestEntityTooLarge", "The request is larger than the local Azure accepts."
                    )
                except Exception:
                    # Last resort: an ARM-shaped 500 rather than aiohttp's text page. Nothing of the request
                    # but its method and path goes to the log.
                    log.exception("ARM handler failed on %s %s", request.method, request.path[:200])
                    return arm_error(500, "InternalServerError", "The local Azure failed to answer this request.")
            allowed.append(route.method)
        if allowed:
            return arm_error(
                405,
                "MethodNotAllowed",
                f"{request.method} is not supported on {clipped(request.path)}.",
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        return arm_error(404, "InvalidResourceType", f"No route for {clipped(request.path)} in the local Azure.")

    # paging ---------------------------------------------------------------------------------

    def page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """One page of `items` with an absolute nextLink when more remain.

        `$top` is the page size (at most 1000), as in ARM: the nextLink carries it on, so a pager
        that follows nextLinks still sees every item.
        """
        skip = 0
        token = request.query.get("$skiptoken")
        if token is not None:
            if not _COUNT.fullmatch(token):
                shown = clipped(token, 64)
                return arm_error(
                    400, "InvalidSkipToken", f"The $skiptoken '{shown}' is not valid: use the nextLink as given."
                )
            skip = int(token)
        size = self.page_size
        top = request.query.get("$top")
        if top is not None:
            if not _COUNT.fullmatch(top) or int(top) < 1:
                shown = clipped(top, 64)
                return arm_error(400, "InvalidTop", f"$top must be a whole number from 1 to {MAX_TOP}, not '{shown}'.")
            size = min(int(top), MAX_TOP)
        body: dict[str, Any] = {"value": items[skip : skip + size]}
        if skip + size < len(items):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(skip + size)
            body["nextLink"] = f"{self.link_origin(request)}{request.rel_url.raw_path}?{urlencode(query)}"
        return web.json_response(body)

    # long-running operations ----------------------------------------------------------------

    def start_operation(
        self,
        request: web.Request,
        work: Callable[[], Awaitable[dict[str, Any] | None]],
        *,
        fail: bool = False,
    ) -> web.Response:
        """Run `work` in the background and answer 202 with the polling headers ARM uses."""
        operation = Operation(str(uuid.uuid4()))
        self._forget_old_operations()
        self.operations[operation.operation_id] = operation

        async def run() -> None:
            await asyncio.sleep(0.2)
            if fail:
                operation.status = "Failed"
                operation.error = {"code": "InternalOperationError", "message": "The operation failed in the service."}
                return
            try:
                operation.result = await work()
                operation.status = "Succeeded"
            except ArmOperationError as failure:
                operation.status = "Failed"
                operation.error = {"code": failure.code, "message": failure.message}

        operation.task = asyncio.get_running_loop().create_task(run())
        api_version = api_version_of(request)
        base = f"{self.link_origin(request)}/providers/Microsoft.LocalAzure"
        headers = {
            "Azure-AsyncOperation": f"{base}/operations/{operation.operation_id}?api-version={api_version}",
            "Location": f"{base}/operationResults/{operation.operation_id}?api-version={api_version}",
            "Retry-After": "1",
        }
        return web.Response(status=202, headers=headers)

    def _forget_old_operations(self) -> None:
        """Keep the operation table bounded: drop the oldest finished operations past the cap."""
        if len(self.operations) < MAX_OPERATIONS:
            return
        finished = [key for key, op in self.operations.items() if op.status != "InProgress"]
        for key in finished[: len(self.operations) - MAX_OPERATIONS + 1]:
            del self.operations[key]

    async def _operation_status(self, request: web.Request, match: dict[str, str]) -> web.Response:
        operation = self.operations.get(match["op"])
        if operation is None:
            return arm_error(404, "OperationNotFound", f"Operation {match['op']} is unknown.")
        body: dict[str, Any] = {"id": request.path, "name": operation.operation_id, "status": operation.status}
        if operation.error:
            body["error"] = operation.error
        headers = {"Retry-After": "1"} if operation.status == "InProgress" else None
        return web.json_response(body, headers=headers)

    async def _operation_result(self, request: web.Request, match: dict[str, str]) -> web.Response:
        operation = self.operations.get(match["op"])
        if operation is None:
            return arm_error(404, "OperationNotFound", f"Operation {match['op']} is unknown.")
        if operation.status == "InProgress":
            location = f"{self.link_origin(request)}{request.raw_path}"
            return web.Response(status=202, headers={"Retry-After": "1", "Location": location})
        if operation.status == "Failed":
            error = operation.error or {"code": "Failed", "message": "The operation failed."}
            return arm_error(500, error["code"], error["message"])
        if operation.result is None:
            return web.Response(status=204)
        return web.json_response(operation.result)

    # checks every area makes ----------------------------------------------------------------

    def require_subscription(self, subscription_id: str) -> web.Response | None:
        if self.store.subscription(subscription_id) is None:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
        return None

    def require_group(self, subscription_id: str, group: str) -> web.Response | None:
        missing = self.require_subscription(subscription_id)
        if missing is not None:
            return missing
        if self.store.resource_group(subscription_id, group) is None:
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        return None

    def require_group_of_type(
        self, request: web.Request, subscription_id: str, group: str, full_type: str
    ) -> web.Response | None:
        """The ARM 4xx for a missing subscription or group, or a type or api-version no provider offers."""
        return self.require_group(subscription_id, group) or self.refuse_type(full_type, request)

    def refuse_type(self, full_type: str, request: web.Request) -> web.Response | None:
        """The ARM answer for a type no provider has (404) or an api-version its provider does not list (400)."""
        versions = self.providers().api_versions(full_type)
        namespace, _, type_name = full_type.partition("/")
        if not versions:
            return arm_error(
                404,
                "InvalidResourceType",
                f"The resource type '{type_name[:100]}' could not be found in the namespace '{namespace[:100]}'.",
            )
        asked = api_version_of(request)
        if asked.lower() not in {v.lower() for v in versions}:
            return arm_error(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for API version '{asked}' and type '{clipped(type_name)}'. "
                f"The supported api-versions are '{', '.join(versions)}'.",
            )
        return None

    # providers -------------------------------------------------------------------------------

    def providers(self) -> ProviderRegistry:
        """The providers for the types the store holds now (built per call: the store is small)."""
        return ProviderRegistry(self.store.resource_types())


class ArmOperationError(Exception):
    """Raised by operation work to end the operation Failed with an ARM error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
