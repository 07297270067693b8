"""The resources area of the local Azure: subscriptions, resource groups, resources, providers, tags.

Its seed is the demo estate's ARM documents (`console.emulator.seed`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from console.emulator import seed
from console.emulator.areas.base import Area
from console.emulator.arm import RG, SUB, ArmRouter, Route, arm_error, clipped, read_json_object
from console.emulator.store import Document

MAX_GROUPS = 980
"""Resource groups per subscription, Azure's own limit."""
_GROUP_NAME = re.compile(r"[-\w._()]{1,90}")
_TAGS = (
    r"(?P<scope>/subscriptions/[^/]+(?:/resourcegroups/[^/]+(?:/providers/.+?)?)?)"
    r"/providers/microsoft\.resources/tags/default"
)


def routes(router: ArmRouter) -> list[Route]:
    """The routes of the resources area, answered over the router's store."""
    return _Resources(router).routes()


def documents(now: datetime) -> list[Document]:
    """The demo estate as ARM documents: subscriptions, resource groups, resources."""
    found: list[Document] = [("subscription", s["subscriptionId"], s) for s in seed.subscriptions()]
    found += [("resourceGroup", g["id"], g) for g in seed.resource_groups()]
    found += [("resource", r["id"], r) for r in seed.seed_resources(now)]
    return found


AREA = Area("resources", routes, seed=documents)


class _Resources:
    """The handlers, over the router's store and shared ARM behaviour."""

    def __init__(self, router: ArmRouter) -> None:
        self.router = router
        self.store = router.store

    def routes(self) -> list[Route]:
        """Every route of the area, in no particular order: the router tries the specific first."""
        return [
            Route("GET", r"/subscriptions", self._list_subscriptions),
            Route("GET", SUB, self._get_subscription),
            Route("GET", SUB + r"/resourcegroups", self._list_groups),
            Route("GET", RG, self._get_group),
            Route("HEAD", RG, self._group_exists),
            Route("PUT", RG, self._put_group),
            Route("PATCH", RG, self._patch_group),
            Route("DELETE", RG, self._delete_group),
            Route("GET", SUB + r"/resources", self._list_resources),
            Route("GET", RG + r"/resources", self._list_resources),
            Route("GET", r"/providers", self._list_providers),
            Route("GET", r"/providers/(?P<ns>[^/]+)", self._get_provider),
            Route("GET", SUB + r"/providers", self._list_providers),
            Route("GET", SUB + r"/providers/(?P<ns>[^/]+)", self._get_provider),
            Route("GET", SUB + r"/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)", self._list_type_in_subscription),
            Route("GET", SUB + r"/providers/(?P<ns>[^/]+)/resourcetypes", self._provider_resource_types),
            Route("GET", RG + r"/providers/(?P<rest>.+)", self._get_resource),
            Route("HEAD", RG + r"/providers/(?P<rest>.+)", self._resource_exists),
            *(Route(method, _TAGS, self._tags_at_scope) for method in ("GET", "PUT", "PATCH", "DELETE")),
        ]

    async def _list_subscriptions(self, request: web.Request, match: dict[str, str]) -> web.Response:
        return self.router.page(request, self.store.subscriptions())

    async def _get_subscription(self, request: web.Request, match: dict[str, str]) -> web.Response:
        found = self.store.subscription(match["sub"])
        if found is None:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{match['sub']}' could not be found.")
        return web.json_response(found)

    async def _list_groups(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_subscription(match["sub"])
        if missing is not None:
            return missing
        try:
            keep = parse_resource_filter(request.query.get("$filter", ""))
        except ValueError as error:
            return arm_error(400, "InvalidFilter", str(error))
        return self.router.page(request, [g for g in self.store.resource_groups(match["sub"]) if keep(g)])

    async def _get_group(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        group = self.store.resource_group(match["sub"], match["rg"])
        assert group is not None
        return web.json_response(group)

    async def _list_resources(self, request: web.Request, match: dict[str, str]) -> web.Response:
        group = match.get("rg")
        missing = (
            self.router.require_group(match["sub"], group) if group else self.router.require_subscription(match["sub"])
        )
        if missing is not None:
            return missing
        resources = self.store.resources(match["sub"], group)
        try:
            keep = parse_resource_filter(request.query.get("$filter", ""))
        except ValueError as error:
            return arm_error(400, "InvalidFilter", str(error))
        listed = [_summary(r) for r in resources if keep(r)]
        return self.router.page(request, listed)

    async def _get_resource(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        refused = self.router.refuse_type(_type_of(match["rest"]), request)
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
            return self.router.page(request, children)
        found = self.store.resource(request.path)
        if found is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource '{clipped(match['rest'])}' under resource group '{match['rg']}' was not found.",
            )
        return web.json_response(found)

    async def _list_type_in_subscription(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_subscription(match["sub"])
        if missing is not None:
            return missing
        full_type = f"{match['ns']}/{match['type']}"
        refused = self.router.refuse_type(full_type, request)
        if refused is not None:
            return refused
        wanted = full_type.lower()
        return self.router.page(
            request, [r for r in self.store.resources(match["sub"]) if str(r["type"]).lower() == wanted]
        )

    async def _resource_exists(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_group(match["sub"], match["rg"])
        refused = self.router.refuse_type(_type_of(match["rest"]), request)
        if refused is not None:
            return web.Response(status=refused.status)
        found = missing is None and self.store.resource(request.path) is not None
        return web.Response(status=204 if found else 404)

    # resource groups: existence, create or update, delete -----------------------------------

    async def _group_exists(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_group(match["sub"], match["rg"])
        return web.Response(status=404 if missing is not None else 204)

    async def _put_group(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self.router.require_subscription(match["sub"])
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
        missing = self.router.require_group(match["sub"], match["rg"])
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
        missing = self.router.require_group(match["sub"], match["rg"])
        if missing is not None:
            return missing
        subscription_id, name = match["sub"], match["rg"]

        async def work() -> None:
            self.store.delete_resource_group(subscription_id, name)

        return self.router.start_operation(request, work)

    # tags at scope -----------------------------------------------------------------------------

    async def _tags_at_scope(self, request: web.Request, match: dict[str, str]) -> web.Response:
        scope = match["scope"]
        parts = scope.strip("/").split("/")
        if len(parts) == 2:
            kind, key, missing = "subscription", parts[1], self.router.require_subscription(parts[1])
        else:
            missing = self.router.require_group(parts[1], parts[3])
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

    def _missing_subscription(self, match: dict[str, str]) -> web.Response | None:
        """The 404 for a subscription-scoped providers route whose subscription is unknown."""
        subscription_id = match.get("sub")
        return None if subscription_id is None else self.router.require_subscription(subscription_id)

    async def _list_providers(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self._missing_subscription(match)
        if missing is not None:
            return missing
        registry = self.router.providers()
        documents = [registry.document(n, match.get("sub")) for n in registry.namespaces()]
        return self.router.page(request, documents)

    def _provider(self, match: dict[str, str]) -> dict[str, Any] | web.Response:
        """The provider document the route names, or its ARM 404."""
        missing = self._missing_subscription(match)
        if missing is not None:
            return missing
        registry = self.router.providers()
        if registry.canonical(match["ns"]) is None:
            return arm_error(
                404, "InvalidResourceNamespace", f"The resource namespace '{match['ns'][:100]}' is invalid."
            )
        return registry.document(match["ns"], match.get("sub"))

    async def _get_provider(self, request: web.Request, match: dict[str, str]) -> web.Response:
        provider = self._provider(match)
        return provider if isinstance(provider, web.Response) else web.json_response(provider)

    async def _provider_resource_types(self, request: web.Request, match: dict[str, str]) -> web.Response:
        provider = self._provider(match)
        if isinstance(provider, web.Response):
            return provider
        return web.json_response({"value": provider["resourceTypes"]})


def _type_of(rest: str) -> str:
    """`Namespace/type[/child...]` of the path after `/providers/` (a resource or a collection)."""
    segments = rest.strip("/").split("/")
    return "/".join([segments[0], *segments[1::2]])


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
            shown = clipped(part, 80)
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
