"""ARM for the local Azure: case-insensitive routing, api-version, paging, errors and long-running operations."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
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
MAX_GROUPS = 980
"""Resource groups per subscription, Azure's own limit."""
_API_VERSION = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(-(preview|alpha|beta|privatepreview))?", re.IGNORECASE)
_COUNT = re.compile(r"[0-9]{1,9}")
_GROUP_NAME = re.compile(r"[-\w._()]{1,90}")

log = logging.getLogger(__name__)


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An ARM error response: `{"error": {"code", "message"}}`."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _shown(text: str, limit: int = 200) -> str:
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
            shown = _shown(value, 64)
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

    def __init__(self, store: Store, *, page_size: int = 100) -> None:
        self.store = store
        self.page_size = page_size
        self.origin = None
        self.operations: dict[str, Operation] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.add("GET", r"/subscriptions", self._list_subscriptions)
        self.add("GET", SUB, self._get_subscription)
        self.add("GET", SUB + r"/resourcegroups", self._list_groups)
        self.add("GET", RG, self._get_group)
        self.add("HEAD", RG, self._group_exists)
        self.add("PUT", RG, self._put_group)
        self.add("PATCH", RG, self._patch_group)
        self.add("DELETE", RG, self._delete_group)
        self.add("GET", SUB + r"/resources", self._list_resources)
        self.add("GET", RG + r"/resources", self._list_resources)
        self.add("GET", r"/providers", self._list_providers)
        self.add("GET", r"/providers/(?P<ns>[^/]+)", self._get_provider)
        self.add("GET", SUB + r"/providers", self._list_providers)
        self.add("GET", SUB + r"/providers/(?P<ns>[^/]+)", self._get_provider)
        self.add("GET", SUB + r"/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)", self._list_type_in_subscription)
        self.add("GET", SUB + r"/providers/(?P<ns>[^/]+)/resourcetypes", self._provider_resource_types)
        self.add("GET", r"/providers/microsoft\.localazure/operations/(?P<op>[^/]+)", self._operation_status)
        self.add("GET", r"/providers/microsoft\.localazure/operationresults/(?P<op>[^/]+)", self._operation_result)
        self.add("GET", RG + r"/providers/(?P<rest>.+)", self._get_resource)
        self.add("HEAD", RG + r"/providers/(?P<rest>.+)", self._resource_exists)
        tags = r"(?P<scope>/subscriptions/[^/]+(?:/resourcegroups/[^/]+(?:/providers/.+?)?)?)"
        tags += r"/providers/microsoft\.resources/tags/default"
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            self.add(method, tags, self._tags_at_scope)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register a route; later areas add theirs before the generic resource GET by inserting first."""
        self._routes.insert(0, (method, re.compile(f"^{pattern}/?$", re.IGNORECASE), handler))

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
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method == request.method:
                try:
                    return await handler(request, match.groupdict())
                except web.HTTPRequestEntityTooLarge:
                    return arm_error(
                        413, "RequestEntityTooLarge", "The request is larger than the local Azure accepts."
                    )
                except Exception:
                    # Last resort: an ARM-shaped 500 rather than aiohttp's text page. Nothing of the request
                    # but its method and path goes to the log.
                    log.exception("ARM handler failed on %s %s", request.method, request.path[:200])
                    return arm_error(500, "InternalServerError", "The local Azure failed to answer this request.")
            allowed.append(method)
        if allowed:
            return arm_error(
                405,
                "MethodNotAllowed",
                f"{request.method} is not supported on {_shown(request.path)}.",
                headers={"Allow": ", ".join(sorted(set(allowed)))},
            )
        return arm_error(404, "InvalidResourceType", f"No route for {_shown(request.path)} in the local Azure.")

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
                shown = _shown(token, 64)
                return arm_error(
                    400, "InvalidSkipToken", f"The $skiptoken '{shown}' is not valid: use the nextLink as given."
                )
            skip = int(token)
        size = self.page_size
        top = request.query.get("$top")
        if top is not None:
            if not _COUNT.fullmatch(top) or int(top) < 1:
                shown = _shown(top, 64)
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
        missing = self.require_subscription(match["sub"])
        if missing is not None:
            return missing
        try:
            keep = parse_resource_filter(request.query.get("$filter", ""))
        except ValueError as error:
            return arm_error(400, "InvalidFilter", str(error))
        return self.page(request, [g for g in self.store.resource_groups(match["sub"]) if keep(g)])

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
        refused = self._refuse_type(self._type_of(match["rest"]), request)
        if refused is not None:
            return refused
        if match["rest"].strip("/").count("/") % 2 == 1:  # namespace/type[/name/child...]: a collection
            prefix = request.path.rstrip("/").lower() + "/"
            depth = prefix.count("/")
            children = [
                r
                for r in self.store.resources(match["sub"], match["rg"])
                if str(r["id"]).lower().startswith(prefix) and str(r["id"]).count("/") == depth
            ]
            return self.page(request, children)
        found = self.store.resource(request.path)
        if found is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource '{_shown(match['rest'])}' under resource group '{match['rg']}' was not found.",
            )
        return web.json_response(found)

    async def _list_type_in_subscription(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_subscription(match["sub"])
        if missing is not None:
            return missing
        full_type = f"{match['ns']}/{match['type']}"
        refused = self._refuse_type(full_type, request)
        if refused is not None:
            return refused
        wanted = full_type.lower()
        return self.page(request, [r for r in self.store.resources(match["sub"]) if str(r["type"]).lower() == wanted])

    def _refuse_type(self, full_type: str, request: web.Request) -> web.Response | None:
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
                f"No registered resource provider found for API version '{asked}' and type '{_shown(type_name)}'. "
                f"The supported api-versions are '{', '.join(versions)}'.",
            )
        return None

    @staticmethod
    def _type_of(rest: str) -> str:
        """`Namespace/type[/child...]` of the path after `/providers/` (a resource or a collection)."""
        segments = rest.strip("/").split("/")
        return "/".join([segments[0], *segments[1::2]])

    async def _resource_exists(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_group(match["sub"], match["rg"])
        refused = self._refuse_type(self._type_of(match["rest"]), request)
        if refused is not None:
            return web.Response(status=refused.status)
        found = missing is None and self.store.resource(request.path) is not None
        return web.Response(status=204 if found else 404)

    # resource groups: existence, create or update, delete -----------------------------------

    async def _group_exists(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_group(match["sub"], match["rg"])
        return web.Response(status=404 if missing is not None else 204)

    async def _put_group(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_subscription(match["sub"])
        if missing is not None:
            return missing
        name = match["rg"]
        if not _GROUP_NAME.fullmatch(name) or name.endswith("."):
            return arm_error(
                400,
                "InvalidResourceGroupName",
                "A resource group name is 1-90 letters, digits, '-', '_', '.', '(' or ')', and does not end in '.'.",
            )
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        location = body.get("location")
        if not isinstance(location, str) or not location.strip():
            return arm_error(400, "LocationRequired", "The location property is required for this definition.")
        tags = _tags_of(body)
        if isinstance(tags, web.Response):
            return tags
        existing = self.store.resource_group(match["sub"], name)
        if existing is None and len(self.store.resource_groups(match["sub"])) >= MAX_GROUPS:
            return arm_error(
                400,
                "ResourceGroupQuotaExceeded",
                f"The subscription already has {MAX_GROUPS} resource groups, the most it can hold.",
            )
        if existing is not None:
            if str(existing["location"]).lower() != location.lower():
                return arm_error(
                    409,
                    "InvalidResourceGroupLocation",
                    f"Invalid resource group location '{location}'. The Resource group already exists in "
                    f"location '{existing['location']}'.",
                )
            group = {**existing, "tags": tags}
        else:
            group = {
                "id": f"/subscriptions/{match['sub']}/resourceGroups/{name}",
                "name": name,
                "type": "Microsoft.Resources/resourceGroups",
                "location": location,
                "tags": tags,
                "properties": {"provisioningState": "Succeeded"},
            }
        self.store.put("resourceGroup", str(group["id"]), group)
        return web.json_response(group, status=200 if existing is not None else 201)

    async def _patch_group(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        group = dict(self.store.resource_group(match["sub"], match["rg"]) or {})
        if "tags" in body:
            tags = _tags_of(body)
            if isinstance(tags, web.Response):
                return tags
            group["tags"] = tags
        self.store.put("resourceGroup", str(group["id"]), group)
        return web.json_response(group)

    async def _delete_group(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        subscription_id, name = match["sub"], match["rg"]

        async def work() -> None:
            self.store.delete_resource_group(subscription_id, name)

        return self.start_operation(request, work)

    # tags at scope -----------------------------------------------------------------------------

    async def _tags_at_scope(self, request: web.Request, match: dict[str, str]) -> web.Response:
        scope = match["scope"]
        parts = scope.strip("/").split("/")
        if len(parts) == 2:
            kind, key, missing = "subscription", parts[1], self.require_subscription(parts[1])
        else:
            missing = self.require_group(parts[1], parts[3])
            kind, key = ("resourceGroup", scope) if len(parts) == 4 else ("resource", scope)
        document = self.store.get(kind, key) if missing is None else None
        if missing is not None:
            return missing
        if document is None:
            return arm_error(404, "ResourceNotFound", f"The resource '{scope}' was not found.")
        tags = {str(k): str(v) for k, v in (document.get("tags") or {}).items()}
        if request.method in {"PUT", "PATCH"}:
            body = await read_json_object(request)
            if isinstance(body, web.Response):
                return body
            properties = body.get("properties")
            given = _tags_of(properties if isinstance(properties, dict) else {})
            if isinstance(given, web.Response):
                return given
            operation = str(body.get("operation", "Replace")) if request.method == "PATCH" else "Replace"
            if operation.lower() == "merge":
                tags = {**tags, **given}
            elif operation.lower() == "delete":
                # A name alone removes the tag; a name with a value removes it only when the value matches.
                tags = {k: v for k, v in tags.items() if k not in given or given[k] not in ("", v)}
            elif operation.lower() == "replace":
                tags = given
            else:
                return arm_error(
                    400, "InvalidTagOperation", f"The operation '{operation[:32]}' is not Merge, Replace or Delete."
                )
        elif request.method == "DELETE":
            tags = {}
        if request.method != "GET":
            self.store.put(kind, key, {**document, "tags": tags})
        if request.method == "DELETE":
            return web.Response(status=200)
        return web.json_response(
            {
                "id": f"{document.get('id', scope)}/providers/Microsoft.Resources/tags/default",
                "name": "default",
                "type": "Microsoft.Resources/tags",
                "properties": {"tags": tags},
            }
        )

    # providers -------------------------------------------------------------------------------

    def providers(self) -> ProviderRegistry:
        """The providers for the types the store holds now (built per call: the store is small)."""
        return ProviderRegistry(self.store.resource_types())

    async def _list_providers(self, request: web.Request, match: dict[str, str]) -> web.Response:
        subscription_id = match.get("sub")
        if subscription_id is not None:
            missing = self.require_subscription(subscription_id)
            if missing is not None:
                return missing
        registry = self.providers()
        return self.page(request, [registry.document(n, subscription_id) for n in registry.namespaces()])

    def _provider(self, match: dict[str, str]) -> dict[str, Any] | web.Response:
        """The provider document the route names, or its ARM 404."""
        subscription_id = match.get("sub")
        if subscription_id is not None:
            missing = self.require_subscription(subscription_id)
            if missing is not None:
                return missing
        registry = self.providers()
        if registry.canonical(match["ns"]) is None:
            return arm_error(
                404, "InvalidResourceNamespace", f"The resource namespace '{match['ns'][:100]}' is invalid."
            )
        return registry.document(match["ns"], subscription_id)

    async def _get_provider(self, request: web.Request, match: dict[str, str]) -> web.Response:
        provider = self._provider(match)
        return provider if isinstance(provider, web.Response) else web.json_response(provider)

    async def _provider_resource_types(self, request: web.Request, match: dict[str, str]) -> web.Response:
        provider = self._provider(match)
        if isinstance(provider, web.Response):
            return provider
        return web.json_response({"value": provider["resourceTypes"]})


class ArmOperationError(Exception):
    """Raised by operation work to end the operation Failed with an ARM error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _tags_of(body: dict[str, Any]) -> dict[str, str] | web.Response:
    """The `tags` of a request body as strings, or the 400 ARM gives for tags that are not a map."""
    tags = body.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict) or not all(isinstance(v, (str, int, float, bool)) for v in tags.values()):
        return arm_error(400, "InvalidTagFormat", "Tags must be a JSON object of names to string values.")
    if len(tags) > 50:
        return arm_error(400, "InvalidTagCount", "A resource takes at most 50 tags.")
    if any(not str(k) or len(str(k)) > 512 or len(str(v)) > 256 for k, v in tags.items()):
        return arm_error(
            400, "InvalidTagNameOrValue", "Tag names are 1-512 characters and tag values at most 256 characters."
        )
    return {str(k): str(v) for k, v in tags.items()}


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
            shown = _shown(part, 80)
            raise ValueError(
                f"The $filter expression {shown!r} is not supported; "
                "use resourceType, tagName, tagValue or name with eq, joined with and."
            )
        terms[match.group(1).lower()] = match.group(2).replace("''", "'")
    if "tagvalue" in terms and "tagname" not in terms:
        raise ValueError("The $filter tagValue needs a tagName beside it: tagName eq 'k' and tagValue eq 'v'.")

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
