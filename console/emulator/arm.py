"""ARM for the local Azure: case-insensitive routing, api-version, paging, errors and long-running operations."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from console.emulator.store import Store

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An ARM error response: `{"error": {"code", "message"}}`."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _origin(request: web.Request) -> str:
    """The origin the client called (scheme + Host header), so returned links stay on it."""
    return f"{request.scheme}://{request.host}"


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

    def __init__(self, store: Store, *, page_size: int = 100) -> None:
        self.store = store
        self.page_size = page_size
        self.operations: dict[str, Operation] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.add("GET", r"/subscriptions", self._list_subscriptions)
        self.add("GET", SUB, self._get_subscription)
        self.add("GET", SUB + r"/resourcegroups", self._list_groups)
        self.add("GET", RG, self._get_group)
        self.add("GET", SUB + r"/resources", self._list_resources)
        self.add("GET", RG + r"/resources", self._list_resources)
        self.add("GET", r"/providers/microsoft\.localazure/operations/(?P<op>[^/]+)", self._operation_status)
        self.add("GET", r"/providers/microsoft\.localazure/operationresults/(?P<op>[^/]+)", self._operation_result)
        self.add("GET", RG + r"/providers/(?P<rest>.+)", self._get_resource)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a route; later areas add theirs before the generic resource GET by inserting first."""
        self._routes.insert(0, (method, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler))

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if "api-version" not in {k.lower() for k in request.query}:
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            path_matched = True
            if method == request.method:
                return await handler(request, match.groupdict())
        if path_matched:
            return arm_error(405, "MethodNotAllowed", f"{request.method} is not supported on {request.path}.")
        return arm_error(404, "InvalidResourceType", f"No route for {request.path} in the local Azure.")

    # paging ---------------------------------------------------------------------------------

    def page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        """One page of `items` with an absolute nextLink when more remain."""
        skip = 0
        token = request.query.get("$skiptoken")
        if token is not None:
            try:
                skip = max(0, int(token))
            except ValueError:
                return arm_error(400, "InvalidSkipToken", f"The $skiptoken {token!r} is not valid.")
        top = request.query.get("$top")
        if top is not None:
            try:
                items = items[: max(0, int(top))]
            except ValueError:
                return arm_error(400, "InvalidTop", f"$top must be an integer, not {top!r}.")
        body: dict[str, Any] = {"value": items[skip : skip + self.page_size]}
        if skip + self.page_size < len(items):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(skip + self.page_size)
            body["nextLink"] = f"{_origin(request)}{request.path}?{urlencode(query)}"
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
        api_version = request.query.get("api-version", "")
        base = f"{_origin(request)}/providers/Microsoft.LocalAzure"
        headers = {
            "Azure-AsyncOperation": f"{base}/operations/{operation.operation_id}?api-version={api_version}",
            "Location": f"{base}/operationResults/{operation.operation_id}?api-version={api_version}",
            "Retry-After": "1",
        }
        return web.Response(status=202, headers=headers)

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
            return web.Response(status=202, headers={"Retry-After": "1", "Location": str(request.url)})
        if operation.status == "Failed":
            error = operation.error or {"code": "Failed", "message": "The operation failed."}
            return arm_error(500, error["code"], error["message"])
        if operation.result is None:
            return web.Response(status=204)
        return web.json_response(operation.result)

    # subscriptions, groups, resources -------------------------------------------------------

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

    async def _list_subscriptions(self, request: web.Request, match: dict[str, str]) -> web.Response:
        return self.page(request, self.store.subscriptions())

    async def _get_subscription(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self.store.subscription(match["sub"])
        if found is None:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{match['sub']}' could not be found.")
        return web.json_response(found)

    async def _list_groups(self, request: web.Request, match: dict[str, str]) -> web.Response:
        return self.require_subscription(match["sub"]) or self.page(request, self.store.resource_groups(match["sub"]))

    async def _get_group(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        group = self.store.resource_group(match["sub"], match["rg"])
        assert group is not None
        return web.json_response(group)

    async def _list_resources(self, request: web.Request, match: dict[str, str]) -> web.Response:
        group = match.get("rg")
        missing = self.require_group(match["sub"], group) if group else self.require_subscription(match["sub"])
        if missing is not None:
            return missing
        resources = self.store.resources(match["sub"], group)
        try:
            keep = parse_resource_filter(request.query.get("$filter", ""))
        except ValueError as error:
            return arm_error(400, "InvalidFilter", str(error))
        listed = [_summary(r) for r in resources if keep(r)]
        return self.page(request, listed)

    async def _get_resource(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        found = self.store.resource(request.path)
        if found is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource '{match['rest']}' under resource group '{match['rg']}' was not found.",
            )
        return web.json_response(found)


class ArmOperationError(Exception):
    """Raised by operation work to end the operation Failed with an ARM error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _summary(resource: dict[str, Any]) -> dict[str, Any]:
    """What the resources list returns for a resource: no properties, like ARM."""
    return {k: v for k, v in resource.items() if k not in {"properties"}}


_FILTER_TERM = re.compile(r"\s*(resourceType|tagName|tagValue|name)\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)


def parse_resource_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """Parse the `$filter` ARM accepts on resource lists: `resourceType eq 'x'`, `tagName eq 'k' and
    tagValue eq 'v'`, `name eq 'n'`, joined with `and`."""
    if not text.strip():
        return lambda _resource: True
    terms: dict[str, str] = {}
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = _FILTER_TERM.fullmatch(part)
        if match is None:
            raise ValueError(
                f"The $filter expression {part!r} is not supported; "
                "use resourceType, tagName, tagValue or name with eq."
            )
        terms[match.group(1).lower()] = match.group(2).replace("''", "'")

    def keep(resource: dict[str, Any]) -> bool:
        tags = {str(k).lower(): str(v) for k, v in (resource.get("tags") or {}).items()}
        if "resourcetype" in terms and str(resource.get("type", "")).lower() != terms["resourcetype"].lower():
            return False
        if "name" in terms and str(resource.get("name", "")).lower() != terms["name"].lower():
            return False
        if "tagname" in terms:
            value = tags.get(terms["tagname"].lower())
            if value is None or ("tagvalue" in terms and value != terms["tagvalue"]):
                return False
        return True

    return keep
