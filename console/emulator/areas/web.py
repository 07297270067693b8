"""The web area of the local Azure: App Service sites and their deployment slots (Microsoft.Web).

What runs in a slot is its content, as in Azure: the image in `siteConfig.linuxFxVersion` and the
non-sticky app settings (among them `APP_VERSION`) and connection strings. A swap is a long-running
operation of a few seconds that exchanges the content of two slots; the settings named in the app's
`config/slotConfigNames` stay with their slot, and so do tags and each slot's deployment history.

Faults: `lro_fail` on a `slotsswap` request ends the swap Failed with nothing moved. A rule whose
path matches `/slotsswap/settings` (the swap asks for it half-way, with method `POST`) fails the swap
after the images moved and before the settings did, as a swap interrupted in Azure can leave a site.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from console.emulator import seed
from console.emulator.areas.base import Area
from console.emulator.arm import RG, SUB, ArmOperationError, ArmRouter, Route, arm_error, clipped, read_json_object
from console.emulator.store import WEB_CONTENT, Document

SWAP_SECONDS = 2.0
"""How long a swap runs before its operation ends (Azure's take tens of seconds; a few is enough to overlap)."""

_SITE = RG + r"/providers/microsoft\.web/sites/(?P<site>[^/]+)"
_SLOT = _SITE + r"/slots/(?P<slot>[^/]+)"
_CONNECTION_TYPES = (
    "MySql",
    "SQLServer",
    "SQLAzure",
    "Custom",
    "NotificationHub",
    "ServiceBus",
    "EventHub",
    "ApiHub",
    "DocDb",
    "RedisCache",
    "PostgreSQL",
)
_CONFIG_NAME_KEYS = ("appSettingNames", "connectionStringNames", "azureStorageConfigNames")
"""What a slot's sticky names list (slotConfigNames)."""
_IN_PROGRESS = (
    "Cannot modify this site because another operation is in progress. Details: OperationName: SwapSiteSlots, "
    "Site: {site}."
)

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]


def routes(router: ArmRouter) -> list[Route]:
    """The routes of the web area, answered over the router's store."""
    return _Web(router).routes()


def documents(now: datetime) -> list[Document]:
    """What each seeded slot holds beside its site document: settings, connection strings, deployments."""
    return [(WEB_CONTENT, slot_id, body) for slot_id, body in seed.web_app_content(now)]


AREA = Area("web", routes, seed=documents)


@dataclass(frozen=True)
class _Slot:
    """One slot of a site as a request names it (production included)."""

    site_id: str
    site: str
    name: str  # "production" for the site itself

    @property
    def resource_id(self) -> str:
        return self.site_id if self.name == "production" else f"{self.site_id}/slots/{self.name}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Web:
    """The handlers, over the router's store; swaps running now are held here, per server."""

    def __init__(self, router: ArmRouter) -> None:
        self.router = router
        self.store = router.store
        self.swapping: set[str] = set()
        """Sites (lower-case ids) with a swap running."""

    def routes(self) -> list[Route]:
        """Every route of the area; the router tries them before the resources area's generic ones."""
        both: list[tuple[str, str, Handler]] = [
            ("GET", "", self._get_site),
            ("GET", "/config/web", self._get_config),
            ("PATCH", "/config/web", self._update_config),
            ("PUT", "/config/web", self._update_config),
            ("POST", "/config/appsettings/list", self._list_dictionary("appSettings", "appsettings")),
            ("PUT", "/config/appsettings", self._put_dictionary("appSettings", "appsettings", _app_settings)),
            ("POST", "/config/connectionstrings/list", self._list_dictionary("connectionStrings", "connectionstrings")),
            (
                "PUT",
                "/config/connectionstrings",
                self._put_dictionary("connectionStrings", "connectionstrings", _connection_strings),
            ),
            ("GET", "/deployments", self._list_deployments),
            ("POST", "/start", self._start),
            ("POST", "/stop", self._stop),
            ("POST", "/restart", self._restart),
            ("POST", "/slotsswap", self._swap),
            ("POST", "/applyslotconfig", self._apply_slot_config),
            ("POST", "/resetslotconfig", self._reset_slot_config),
            ("POST", "/slotsdiffs", self._slot_differences),
            ("POST", "/publishxml", self._publishing_profiles),
        ]
        found = [
            Route("GET", SUB + r"/providers/microsoft\.web/sites", self._list_sites),
            Route("GET", RG + r"/providers/microsoft\.web/sites", self._list_sites),
            Route("GET", _SITE + r"/slots", self._list_slots),
            Route("GET", _SITE + r"/config/slotconfignames", self._get_slot_config_names),
            Route(
                "PUT",
                _SITE + r"/config/slotconfignames",
                self._put_dictionary("slotConfigNames", "slotConfigNames", _slot_config_names),
            ),
        ]
        for method, suffix, handler in both:
            found.append(Route(method, _SITE + suffix.replace(".", r"\."), handler))
            found.append(Route(method, _SLOT + suffix.replace(".", r"\."), handler))
        return found

    # finding things ----------------------------------------------------------------------------

    def _slot(self, request: web.Request, match: dict[str, str]) -> _Slot | web.Response:
        """The slot a route names, or the ARM 404 for a missing subscription, group, site or slot (or the
        400 for an api-version Microsoft.Web does not offer)."""
        refused = self.router.require_group_of_type(request, match["sub"], match["rg"], "Microsoft.Web/sites")
        if refused is not None:
            return refused
        site_id = (
            f"/subscriptions/{match['sub']}/resourceGroups/{match['rg']}/providers/Microsoft.Web/sites/{match['site']}"
        )
        site = self.store.resource(site_id)
        if site is None:
            return arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Web/sites/{clipped(match['site'])}' under resource group "
                f"'{match['rg']}' was not found.",
            )
        found = _Slot(str(site["id"]), str(site["name"]), "production")
        slot = match.get("slot")
        if slot is not None and slot.lower() != "production":
            document = self.store.resource(f"{found.site_id}/slots/{slot}")
            if document is None:
                return arm_error(
                    404,
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.Web/sites/{found.site}/slots/{clipped(slot)}' under resource group "
                    f"'{match['rg']}' was not found.",
                )
            found = _Slot(found.site_id, found.site, str(document["name"]).rpartition("/")[2])
        return found

    def _named(self, slot: _Slot, name: object) -> _Slot | web.Response:
        """Another slot of the same site, named in a request body's `targetSlot`."""
        if not isinstance(name, str) or not name.strip():
            return arm_error(400, "BadRequest", "The request body needs targetSlot: the name of a slot of the site.")
        if name.lower() == "production":
            return _Slot(slot.site_id, slot.site, "production")
        document = self.store.resource(f"{slot.site_id}/slots/{name}")
        if document is None:
            return arm_error(
                404, "ResourceNotFound", f"The site '{slot.site}' has no slot named '{clipped(name, 60)}'."
            )
        return _Slot(slot.site_id, slot.site, str(document["name"]).rpartition("/")[2])

    def _document(self, slot: _Slot) -> dict[str, Any]:
        found = self.store.resource(slot.resource_id)
        assert found is not None
        return copy.deepcopy(found)

    def _content(self, slot: _Slot) -> dict[str, Any]:
        return copy.deepcopy(self.store.get(WEB_CONTENT, slot.resource_id) or {})

    def _sticky(self, slot: _Slot) -> tuple[set[str], set[str]]:
        """The app setting and connection string names that stay with their slot on a swap."""
        names = self._content(_Slot(slot.site_id, slot.site, "production")).get("slotConfigNames") or {}
        return set(names.get("appSettingNames") or []), set(names.get("connectionStringNames") or [])

    def _slots_of(self, site_id: str) -> list[dict[str, Any]]:
        site = self.store.resource(site_id)
        prefix = site_id.lower() + "/slots/"
        slots = [
            r
            for r in self.store.resources(site_id.split("/")[2])
            if str(r["id"]).lower().startswith(prefix) and "/" not in str(r["id"])[len(prefix) :]
        ]
        return ([site] if site is not None else []) + slots

    # sites and slots ---------------------------------------------------------------------------

    async def _list_sites(self, request: web.Request, match: dict[str, str]) -> web.Response:
        group = match.get("rg")
        missing = (
            self.router.require_group(match["sub"], group) if group else self.router.require_subscription(match["sub"])
        )
        if missing is not None:
            return missing
        refused = self.router.refuse_type("Microsoft.Web/sites", request)
        if refused is not None:
            return refused
        sites = [r for r in self.store.resources(match["sub"], group) if r["type"] == "Microsoft.Web/sites"]
        return self.router.page(request, sites)

    async def _list_slots(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        return self.router.page(request, self._slots_of(slot.site_id)[1:])

    async def _get_site(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        return web.json_response(self._document(slot))

    # configuration -----------------------------------------------------------------------------

    def _config_body(self, slot: _Slot) -> dict[str, Any]:
        document = self._document(slot)
        site_config = dict(document["properties"].get("siteConfig") or {})
        site_config.setdefault("experiments", {"rampUpRules": []})
        return {
            "id": f"{slot.resource_id}/config/web",
            "name": "web",
            "type": "Microsoft.Web/sites/config" if slot.name == "production" else "Microsoft.Web/sites/slots/config",
            "location": document.get("location"),
            "properties": site_config,
        }

    async def _get_config(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        return web.json_response(self._config_body(slot))

    async def _update_config(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        given = body.get("properties")
        if not isinstance(given, dict):
            return arm_error(400, "BadRequest", "The request body needs properties: the site configuration.")
        if slot.site_id.lower() in self.swapping:
            return arm_error(409, "Conflict", _IN_PROGRESS.format(site=slot.site))
        document = self._document(slot)
        site_config = document["properties"].setdefault("siteConfig", {})
        experiments = given.get("experiments")
        if experiments is not None:
            rules = self._ramp_up_rules(slot, experiments)
            if isinstance(rules, web.Response):
                return rules
            site_config["experiments"] = {"rampUpRules": rules}
        for key, value in given.items():
            if key == "experiments" or value is None:
                continue
            if key == "linuxFxVersion":
                if not isinstance(value, str):
                    return arm_error(400, "BadRequest", "linuxFxVersion is text such as 'DOCKER|image:tag'.")
                if value != site_config.get("linuxFxVersion"):
                    self._record_deployment(slot, value)
            site_config[key] = value
        document["properties"]["lastModifiedTimeUtc"] = _now()
        self.store.put_resource(document)
        return web.json_response(self._config_body(slot))

    def _ramp_up_rules(self, slot: _Slot, experiments: object) -> list[dict[str, Any]] | web.Response:
        """Checked routing rules: each names a slot of the site and a share of 0-100, at most 100 in all."""
        rules = experiments.get("rampUpRules") if isinstance(experiments, dict) else None
        if rules is None:
            rules = []
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            return arm_error(400, "BadRequest", "experiments.rampUpRules is a list of routing rules.")
        if rules and slot.name != "production":
            return arm_error(400, "BadRequest", "Traffic routing rules are set on the production slot.")
        checked: list[dict[str, Any]] = []
        for rule in rules:
            name = rule.get("name")
            host = rule.get("actionHostName")
            if not name and isinstance(host, str) and host.lower().startswith(slot.site.lower() + "-"):
                name = host[len(slot.site) + 1 :].partition(".")[0]  # `{site}-{slot}.azurewebsites.net`
            target = self._named(slot, name)
            if isinstance(target, web.Response) or target.name == "production":
                return arm_error(
                    400, "BadRequest", "Each routing rule's name is a slot of the site other than production."
                )
            percent = rule.get("reroutePercentage")
            if isinstance(percent, bool) or not isinstance(percent, (int, float)) or not 0 <= percent <= 100:
                return arm_error(400, "BadRequest", "reroutePercentage is a number from 0 to 100.")
            host = self._document(target)["properties"]["defaultHostName"]
            checked.append({**rule, "name": target.name, "actionHostName": host, "reroutePercentage": percent})
        if sum(float(r["reroutePercentage"]) for r in checked) > 100:
            return arm_error(400, "BadRequest", "The routing rules route more than 100% of the traffic.")
        return checked

    def _record_deployment(self, slot: _Slot, linux_fx_version: str) -> None:
        content = self._content(slot)
        deployments = list(content.get("deployments") or [])
        moment = _now()
        deployment_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
        kind = (
            "Microsoft.Web/sites/deployments" if slot.name == "production" else "Microsoft.Web/sites/slots/deployments"
        )
        for previous in deployments:
            previous.setdefault("properties", {})["active"] = False
        deployments.insert(
            0,
            {
                "id": f"{slot.resource_id}/deployments/{deployment_id}",
                "name": deployment_id,
                "type": kind,
                "properties": {
                    "status": 4,
                    "message": f"Deploy {linux_fx_version.partition('|')[2] or linux_fx_version} to {slot.name}",
                    "author": "opsconsole",
                    "deployer": "config/web",
                    "author_email": None,
                    "start_time": moment,
                    "end_time": moment,
                    "active": True,
                    "details": linux_fx_version,
                },
            },
        )
        content["deployments"] = deployments
        self.store.put(WEB_CONTENT, slot.resource_id, content)

    # app settings, connection strings, slot configuration names --------------------------------

    def _dictionary(self, slot: _Slot, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        kind = "Microsoft.Web/sites/config" if slot.name == "production" else "Microsoft.Web/sites/slots/config"
        return {"id": f"{slot.resource_id}/config/{name}", "name": name, "type": kind, "properties": properties}

    def _list_dictionary(self, key: str, name: str) -> Handler:
        """A handler that answers one of the slot's name/value dictionaries (app settings, connection strings)."""

        async def handler(request: web.Request, match: dict[str, str]) -> web.Response:
            slot = self._slot(request, match)
            if isinstance(slot, web.Response):
                return slot
            return web.json_response(self._dictionary(slot, name, self._content(slot).get(key) or {}))

        return handler

    def _put_dictionary(self, key: str, name: str, read: Callable[[object], dict[str, Any] | web.Response]) -> Handler:
        """A handler that replaces one of the slot's dictionaries with the body's `properties`, as `read` checks
        them (a 409 while the site swaps)."""

        async def handler(request: web.Request, match: dict[str, str]) -> web.Response:
            slot = self._slot(request, match)
            if isinstance(slot, web.Response):
                return slot
            body = await read_json_object(request)
            if isinstance(body, web.Response):
                return body
            value = read(body.get("properties") or {})
            if isinstance(value, web.Response):
                return value
            if slot.site_id.lower() in self.swapping:
                return arm_error(409, "Conflict", _IN_PROGRESS.format(site=slot.site))
            content = self._content(slot)
            content[key] = value
            self.store.put(WEB_CONTENT, slot.resource_id, content)
            return web.json_response(self._dictionary(slot, name, value))

        return handler

    async def _get_slot_config_names(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        names = self._content(slot).get("slotConfigNames") or {}
        return web.json_response(self._config_names(slot, names))

    def _config_names(self, slot: _Slot, names: dict[str, Any]) -> dict[str, Any]:
        properties = {key: list(names.get(key) or []) for key in _CONFIG_NAME_KEYS}
        return self._dictionary(slot, "slotConfigNames", properties)

    async def _list_deployments(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        return self.router.page(request, list(self._content(slot).get("deployments") or []))

    async def _publishing_profiles(self, request: web.Request, match: dict[str, str]) -> web.Response:
        """The publishing profiles as Azure gives them (XML); their passwords are made for each answer, since
        nothing here can be deployed to with them."""
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        hosts = list(self._document(slot)["properties"].get("enabledHostNames") or [])
        host = next((h for h in hosts if ".scm." not in h), f"{slot.site}.azurewebsites.net")
        scm = next((h for h in hosts if ".scm." in h), host.replace(".azurewebsites.", ".scm.azurewebsites."))
        user = "$" + (slot.site if slot.name == "production" else f"{slot.site}__{slot.name}")
        password = secrets.token_urlsafe(36)
        common = f'userName="{user}" userPWD="{password}" destinationAppUrl="https://{host}" webSystem="WebSites"'
        profiles = (
            f'<publishProfile profileName="{slot.site} - Web Deploy" publishMethod="MSDeploy" '
            f'publishUrl="{scm}:443" msdeploySite="{slot.site}" {common}><databases /></publishProfile>',
            f'<publishProfile profileName="{slot.site} - FTP" publishMethod="FTP" '
            f'publishUrl="ftps://waws-prod-am2-001.ftp.azurewebsites.windows.net/site/wwwroot" ftpPassiveMode="True" '
            f'userName="{slot.site}\\{user}" userPWD="{password}" destinationAppUrl="https://{host}" '
            'webSystem="WebSites"><databases /></publishProfile>',
            f'<publishProfile profileName="{slot.site} - Zip Deploy" publishMethod="ZipDeploy" '
            f'publishUrl="{scm}:443" {common}><databases /></publishProfile>',
        )
        body = "<publishData>" + "".join(profiles) + "</publishData>"
        return web.Response(text=body, content_type="application/xml")

    # start, stop, restart ----------------------------------------------------------------------

    async def _set_state(self, request: web.Request, match: dict[str, str], state: str | None) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        if slot.site_id.lower() in self.swapping:
            return arm_error(409, "Conflict", _IN_PROGRESS.format(site=slot.site))
        document = self._document(slot)
        if state is not None:
            document["properties"]["state"] = state
        document["properties"]["lastModifiedTimeUtc"] = _now()
        self.store.put_resource(document)
        return web.Response(status=200)

    async def _start(self, request: web.Request, match: dict[str, str]) -> web.Response:
        return await self._set_state(request, match, "Running")

    async def _stop(self, request: web.Request, match: dict[str, str]) -> web.Response:
        return await self._set_state(request, match, "Stopped")

    async def _restart(self, request: web.Request, match: dict[str, str]) -> web.Response:
        return await self._set_state(request, match, None)

    # swap, swap with preview, differences ------------------------------------------------------

    async def _pair(self, request: web.Request, match: dict[str, str]) -> tuple[_Slot, _Slot] | web.Response:
        """(source, target) of a swap-like request: the slot the path names and the body's `targetSlot`,
        production always the target when it is one of the two."""
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        other = self._named(slot, body.get("targetSlot"))
        if isinstance(other, web.Response):
            return other
        if other.name == slot.name:
            return arm_error(400, "BadRequest", f"A slot cannot be swapped with itself ('{slot.name}').")
        return (other, slot) if slot.name == "production" else (slot, other)

    def _preview(self, site_id: str) -> dict[str, Any] | None:
        content = self.store.get(WEB_CONTENT, site_id) or {}
        preview = content.get("preview")
        return dict(preview) if isinstance(preview, dict) else None

    def _set_preview(self, site_id: str, preview: dict[str, Any] | None) -> None:
        production = _Slot(site_id, "", "production")
        content = self._content(production)
        if preview is None:
            content.pop("preview", None)
        else:
            content["preview"] = preview
        self.store.put(WEB_CONTENT, site_id, content)

    def _busy(self, source: _Slot, target: _Slot) -> web.Response | None:
        """The 409 when a swap runs on the site, or a preview of another pair of slots is applied."""
        if source.site_id.lower() in self.swapping:
            return arm_error(409, "Conflict", _IN_PROGRESS.format(site=source.site))
        preview = self._preview(source.site_id)
        if preview is not None and (preview["source"], preview["target"]) != (source.name, target.name):
            return arm_error(
                409,
                "Conflict",
                f"The site '{source.site}' has a swap with preview applied from '{preview['source']}' to "
                f"'{preview['target']}': complete or reset it first.",
            )
        return None

    async def _swap(self, request: web.Request, match: dict[str, str]) -> web.Response:
        pair = await self._pair(request, match)
        if isinstance(pair, web.Response):
            return pair
        source, target = pair
        busy = self._busy(source, target)
        if busy is not None:
            return busy
        from console.emulator.server import FAULTS_KEY, LRO_FAIL_KEY

        fail = bool(request.get(LRO_FAIL_KEY, False))
        injector = request.app[FAULTS_KEY]
        site_key = source.site_id.lower()
        self.swapping.add(site_key)
        path = request.path

        async def work() -> None:
            try:
                await asyncio.sleep(SWAP_SECONDS / 2)
                if fail:
                    raise ArmOperationError(
                        "SwapFailed", f"The swap of '{source.name}' into '{target.name}' failed; nothing was moved."
                    )
                self._move_images(source, target)
                await asyncio.sleep(SWAP_SECONDS / 2)
                if injector.decide("POST", f"{path}/settings").lro_fail:
                    raise ArmOperationError(
                        "SwapFailed",
                        f"The swap of '{source.name}' into '{target.name}' failed after the images moved and "
                        "before the settings did.",
                    )
                self._move_settings(source, target)
                self._set_preview(source.site_id, None)
                self._swapped(source, target)
            finally:
                self.swapping.discard(site_key)

        return self.router.start_operation(request, work)

    def _move_images(self, source: _Slot, target: _Slot) -> None:
        first, second = self._document(source), self._document(target)
        first_config = first["properties"].setdefault("siteConfig", {})
        second_config = second["properties"].setdefault("siteConfig", {})
        first_config["linuxFxVersion"], second_config["linuxFxVersion"] = (
            second_config.get("linuxFxVersion"),
            first_config.get("linuxFxVersion"),
        )
        self.store.put_resource(first)
        self.store.put_resource(second)

    def _move_settings(self, source: _Slot, target: _Slot) -> None:
        """Exchange the non-sticky app settings and connection strings; sticky ones stay (a preview's
        temporary values on the source go back to the source's own)."""
        sticky_settings, sticky_strings = self._sticky(source)
        preview = self._preview(source.site_id)
        first, second = self._content(source), self._content(target)
        own = first
        if preview is not None and (preview["source"], preview["target"]) == (source.name, target.name):
            own = {**first, **preview["saved"]}
        for key, sticky in (("appSettings", sticky_settings), ("connectionStrings", sticky_strings)):
            a, b, a_own = first.get(key) or {}, second.get(key) or {}, own.get(key) or {}
            first[key] = {
                **{k: v for k, v in b.items() if k not in sticky},
                **{k: v for k, v in a_own.items() if k in sticky},
            }
            second[key] = {
                **{k: v for k, v in a.items() if k not in sticky},
                **{k: v for k, v in b.items() if k in sticky},
            }
        self.store.put(WEB_CONTENT, source.resource_id, first)
        self.store.put(WEB_CONTENT, target.resource_id, second)

    def _swapped(self, source: _Slot, target: _Slot) -> None:
        status = {"timestampUtc": _now(), "sourceSlotName": source.name, "destinationSlotName": target.name}
        for slot in (source, target):
            document = self._document(slot)
            document["properties"]["slotSwapStatus"] = status
            document["properties"]["targetSwapSlot"] = None
            document["properties"]["lastModifiedTimeUtc"] = status["timestampUtc"]
            self.store.put_resource(document)

    async def _apply_slot_config(self, request: web.Request, match: dict[str, str]) -> web.Response:
        pair = await self._pair(request, match)
        if isinstance(pair, web.Response):
            return pair
        source, target = pair
        busy = self._busy(source, target)
        if busy is not None:
            return busy
        if self._preview(source.site_id) is not None:
            return web.Response(status=200)  # already applied for this pair
        sticky_settings, sticky_strings = self._sticky(source)
        first, second = self._content(source), self._content(target)
        saved: dict[str, Any] = {}
        for key, sticky in (("appSettings", sticky_settings), ("connectionStrings", sticky_strings)):
            a, b = first.get(key) or {}, second.get(key) or {}
            saved[key] = dict(a)
            first[key] = {
                **{k: v for k, v in a.items() if k not in sticky},
                **{k: v for k, v in b.items() if k in sticky},
            }
        self.store.put(WEB_CONTENT, source.resource_id, first)
        self._set_preview(source.site_id, {"source": source.name, "target": target.name, "saved": saved})
        document = self._document(source)
        document["properties"]["targetSwapSlot"] = target.name
        self.store.put_resource(document)
        return web.Response(status=200)

    async def _reset_slot_config(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        if slot.site_id.lower() in self.swapping:
            return arm_error(409, "Conflict", _IN_PROGRESS.format(site=slot.site))
        preview = self._preview(slot.site_id)
        if preview is None or slot.name not in (preview["source"], preview["target"]):
            return web.Response(status=200)
        source = _Slot(slot.site_id, slot.site, str(preview["source"]))
        content = self._content(source)
        content.update(preview["saved"])
        self.store.put(WEB_CONTENT, source.resource_id, content)
        self._set_preview(slot.site_id, None)
        document = self._document(source)
        document["properties"]["targetSwapSlot"] = None
        self.store.put_resource(document)
        return web.Response(status=200)

    async def _slot_differences(self, request: web.Request, match: dict[str, str]) -> web.Response:
        slot = self._slot(request, match)
        if isinstance(slot, web.Response):
            return slot
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        other = self._named(slot, body.get("targetSlot"))
        if isinstance(other, web.Response):
            return other
        sticky_settings, sticky_strings = self._sticky(slot)
        current, target = self._content(slot), self._content(other)
        differences: list[dict[str, Any]] = []

        def add(setting_type: str, name: str, mine: Any, theirs: Any, sticky: bool) -> None:
            if mine == theirs:
                return
            rule = (
                "SettingsNotInTarget" if theirs is None else "SettingsNotInSource" if mine is None else "ValuesDiffer"
            )
            sentence = (
                f"{setting_type} '{name}' stays with its slot on a swap."
                if sticky
                else f"{setting_type} '{name}' moves with the content on a swap."
            )
            differences.append(
                {
                    "id": f"{slot.resource_id}/slotsdiffs/{setting_type}-{name}",
                    "name": name,
                    "type": "Microsoft.Web/sites/slotsdiffs",
                    "properties": {
                        "level": "Warning" if sticky else "Information",
                        "settingType": setting_type,
                        "diffRule": rule,
                        "settingName": name,
                        "valueInCurrentSlot": mine,
                        "valueInTargetSlot": theirs,
                        "description": sentence,
                    },
                }
            )

        mine_config = self._document(slot)["properties"].get("siteConfig") or {}
        theirs_config = self._document(other)["properties"].get("siteConfig") or {}
        add("General", "linuxFxVersion", mine_config.get("linuxFxVersion"), theirs_config.get("linuxFxVersion"), False)
        for key, setting_type, sticky in (
            ("appSettings", "AppSetting", sticky_settings),
            ("connectionStrings", "ConnectionString", sticky_strings),
        ):
            a, b = current.get(key) or {}, target.get(key) or {}
            for name in sorted(set(a) | set(b)):
                mine_value, theirs_value = a.get(name), b.get(name)
                if key == "connectionStrings":
                    mine_value = None if mine_value is None else mine_value.get("value")
                    theirs_value = None if theirs_value is None else theirs_value.get("value")
                add(setting_type, name, mine_value, theirs_value, name in sticky)
        return web.json_response({"value": differences})


# -- what a PUT of a slot's dictionary may hold ---------------------------------------------------------------


def _app_settings(given: object) -> dict[str, Any] | web.Response:
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        return arm_error(400, "BadRequest", "properties is an object of app setting names to text values.")
    return {str(k): v for k, v in given.items()}


def _connection_strings(given: object) -> dict[str, Any] | web.Response:
    shape = arm_error(400, "BadRequest", "properties is an object of connection string names to {value, type} objects.")
    if not isinstance(given, dict):
        return shape
    strings: dict[str, Any] = {}
    for name, pair in given.items():
        if not isinstance(pair, dict) or not isinstance(pair.get("value"), str):
            return shape
        kind = pair.get("type", "Custom")
        canonical = next((t for t in _CONNECTION_TYPES if isinstance(kind, str) and t.lower() == kind.lower()), None)
        if canonical is None:
            return arm_error(
                400,
                "BadRequest",
                f"The connection string type of '{clipped(str(name), 60)}' is not one of "
                f"{', '.join(_CONNECTION_TYPES)}.",
            )
        strings[str(name)] = {"value": pair["value"], "type": canonical}
    return strings


def _slot_config_names(given: object) -> dict[str, Any] | web.Response:
    names: dict[str, Any] = {}
    for key in _CONFIG_NAME_KEYS:
        value = given.get(key) if isinstance(given, dict) else None
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            return arm_error(400, "BadRequest", f"{key} is a list of names.")
        names[key] = list(value or [])
    return names
