"""Deployment slots of App Service web apps: what runs where, diffs, swaps, routing, rollback and guarded releases.

Everything goes through azure-mgmt-web's async client, imported on first use; every change through `mutate`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from console.errors import ErrorKind, OpsError
from console.models import Gate, GateReading, ReleaseOutcome, SettingDiff, Slot, WebApp
from console.services.base import Service, ServiceContext
from console.services.operations import ProgressCallback

PRODUCTION = "production"
SWAP_ACTION = "swap slots"
ReadingCallback = Callable[[GateReading], None]
"""Told each gate reading as a guarded release takes it."""
Sleep = Callable[[float], Awaitable[None]]
MASK = "••••••"


class ReleaseStop:
    """How a running guarded swap or ramp is told to stop, and whether to keep what it changed or roll back.

    `request(roll_back)` decides at once (the console asks first); `request()` leaves it to `ask`, called
    once the release has stopped (a terminal asks then); with neither, it rolls back: an unproven build is
    not left serving.
    """

    def __init__(self, ask: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._ask = ask
        self._event = asyncio.Event()
        self._roll_back: bool | None = None

    def request(self, roll_back: bool | None = None) -> None:
        """Stop the release; `roll_back` True or False decides now, None asks (or rolls back) later."""
        if roll_back is not None:
            self._roll_back = roll_back
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()

    async def rolls_back(self) -> bool:
        """True to roll back what the release changed, False to keep it."""
        if self._roll_back is None:
            self._roll_back = await self._ask() if self._ask is not None else True
        return self._roll_back


def _resource_group_of(resource_id: str) -> str:
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("resourcegroups") + 1] if "resourcegroups" in lowered else ""


def _props(model: Any) -> Any:
    return getattr(model, "properties", None) if model is not None else None


def _routing_rules(config: Any) -> list[Any]:
    experiments = getattr(_props(config), "experiments", None)
    return list(getattr(experiments, "ramp_up_rules", None) or [])


def _rule_slot(rule: Any) -> str:
    """The slot a rampUpRule routes to: its name, else the slot part of its host name."""
    name = getattr(rule, "name", None)
    if name:
        return str(name)
    host = str(getattr(rule, "action_host_name", "") or "")
    first = host.split(".", 1)[0]
    return first.rsplit("-", 1)[-1] if "-" in first else first


def _rule_json(rule: Any) -> dict[str, Any]:
    return {
        "actionHostName": getattr(rule, "action_host_name", None),
        "reroutePercentage": getattr(rule, "reroute_percentage", None),
        "name": getattr(rule, "name", None),
    }


class SlotsService(Service):
    """Web apps and their deployment slots."""

    area = "slots"

    def __init__(
        self, context: ServiceContext, resources: Any, runbooks: Callable[[], Any], *, sleep: Sleep | None = None
    ) -> None:
        super().__init__(context)
        self.resources = resources
        self._runbooks = runbooks
        self._clients: dict[str, Any] = {}
        self._sleep: Sleep = sleep or asyncio.sleep

    @property
    def runbooks(self) -> Any:
        """The runbooks service, which only a release gate needs: built (yaml, pyarrow) when first asked for,
        so listing or swapping slots never pays for it."""
        return self._runbooks()

    # -- clients and lookups -------------------------------------------------------------------------------

    def _client(self, subscription_id: str) -> Any:
        client = self._clients.get(subscription_id)
        if client is None:
            from azure.mgmt.web.aio import WebSiteManagementClient  # imported on first use: slow to import

            client = WebSiteManagementClient(self.context.credential, subscription_id, **self.context.arm_options())
            self._clients[subscription_id] = client
        return client

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)

    async def _subscription_ids(self, subscription_id: str | None) -> list[str]:
        if subscription_id:
            return [subscription_id]
        configured = self.context.settings.subscription
        known = await self.resources.list_subscriptions()
        if configured:
            chosen = [s for s in known if configured.lower() in {s.subscription_id.lower(), s.display_name.lower()}]
            if chosen:
                return [s.subscription_id for s in chosen]
        return [s.subscription_id for s in known]

    async def list_apps(self, subscription_id: str | None = None, name: str | None = None) -> list[WebApp]:
        """Web apps (every subscription when none is given; only `name` when given) with their slots."""
        await self.context.connected()
        sites: list[tuple[str, Any]] = []
        for sub in await self._subscription_ids(subscription_id):
            pager = self._client(sub).web_apps.list()
            found = await self.call("list web apps", _collect(pager))
            sites += [(sub, site) for site in found if name is None or str(site.name).lower() == name.lower()]
        apps = await asyncio.gather(*(self._read_app(sub, site) for sub, site in sites))
        return sorted(apps, key=lambda a: a.name.lower())

    async def find_app(self, app: WebApp | str, subscription_id: str | None = None) -> WebApp:
        """The app by name (or a fresh read of a WebApp); a clear sentence when there is none."""
        if isinstance(app, WebApp):
            return await self.read_app(app.subscription_id, app.resource_group, app.name)
        found = await self.list_apps(subscription_id, name=app)
        if not found:
            known = ", ".join(a.name for a in await self.list_apps(subscription_id)) or "none"
            raise OpsError(ErrorKind.NOT_FOUND, f"No web app is called {app!r}; known: {known}.")
        return found[0]

    async def read_app(self, subscription_id: str, resource_group: str, name: str) -> WebApp:
        """One app read afresh."""
        site = await self.call(f"read {name}", self._client(subscription_id).web_apps.get(resource_group, name))
        return await self._read_app(subscription_id, site)

    async def _read_app(self, subscription_id: str, site: Any) -> WebApp:
        name = str(site.name)
        group = _resource_group_of(str(site.id))
        web = self._client(subscription_id).web_apps
        slot_sites = await self.call(f"list the slots of {name}", _collect(web.list_slots(group, name)))
        production_config = await self.call(f"read {name}'s configuration", web.get_configuration(group, name))
        routing = {_rule_slot(r).lower(): float(r.reroute_percentage or 0) for r in _routing_rules(production_config)}
        production = self._read_slot(subscription_id, group, name, PRODUCTION, site, production_config, routing)
        others = [
            self._read_slot(subscription_id, group, name, str(s.name).split("/")[-1], s, None, routing)
            for s in slot_sites
        ]
        slots = await asyncio.gather(production, *others)
        return WebApp(name, group, subscription_id, (slots[0], *sorted(slots[1:], key=lambda s: s.name)))

    async def _read_slot(
        self,
        subscription_id: str,
        group: str,
        app: str,
        slot: str,
        site: Any,
        config: Any,
        routing: Mapping[str, float],
    ) -> Slot:
        web = self._client(subscription_id).web_apps
        is_production = slot == PRODUCTION
        where = app if is_production else f"{app}/{slot}"
        if config is None:
            config = await self.call(
                f"read {where}'s configuration",
                web.get_configuration(group, app) if is_production else web.get_configuration_slot(group, app, slot),
            )
        settings, deployments = await asyncio.gather(
            self.call(
                f"read {where}'s app settings",
                web.list_application_settings(group, app)
                if is_production
                else web.list_application_settings_slot(group, app, slot),
            ),
            self._last_deployment(web, group, app, slot),
        )
        values = dict(_props(settings) or {})
        state = str(getattr(_props(site), "state", None) or "Unknown")
        image = getattr(_props(config), "linux_fx_version", None)
        return Slot(
            app=app,
            name=slot,
            resource_group=group,
            subscription_id=subscription_id,
            state=state,
            image=str(image) if image else None,
            app_version=values.get("APP_VERSION"),
            routing_percent=0.0 if is_production else routing.get(slot.lower(), 0.0),
            last_deployment=deployments,
        )

    async def _last_deployment(self, web: Any, group: str, app: str, slot: str) -> str | None:
        """The newest deployment, as "<end time> <status/message>"; None when there is none or it is unreadable."""
        pager = web.list_deployments(group, app) if slot == PRODUCTION else web.list_deployments_slot(group, app, slot)
        try:
            found = await self.call("list deployments", _collect(pager))
        except OpsError:
            return None  # deployment history is a detail of the list, not worth failing it for
        best: tuple[str, str] | None = None
        for deployment in found:
            props = _props(deployment)
            when = getattr(props, "end_time", None) or getattr(props, "start_time", None)
            stamp = when.isoformat() if isinstance(when, datetime) else str(when or "")
            text = f"{stamp[:16].replace('T', ' ')} {getattr(props, 'message', None) or ''}".strip()
            if best is None or stamp > best[0]:
                best = (stamp, text)
        return best[1] if best else None

    def _slot_of(self, app: WebApp, slot: str) -> Slot:
        found = app.slot(slot)
        if found is None:
            known = ", ".join(s.name for s in app.slots)
            raise OpsError(ErrorKind.NOT_FOUND, f"{app.name} has no slot called {slot!r}; its slots: {known}.")
        return found

    def _target(self, app: WebApp, slot: str) -> str:
        group = f"/subscriptions/{app.subscription_id}/resourceGroups/{app.resource_group}"
        base = f"{group}/providers/Microsoft.Web/sites/{app.name}"
        return base if slot == PRODUCTION else f"{base}/slots/{slot}"

    async def state_of(self, target: str) -> str:
        """Which build is where in the app `target` names (a site or a slot id)."""
        parts = target.split("/")
        lowered = [p.lower() for p in parts]
        try:
            sub = parts[lowered.index("subscriptions") + 1]
            group = parts[lowered.index("resourcegroups") + 1]
            name = parts[lowered.index("sites") + 1]
        except (ValueError, IndexError):
            raise OpsError(ErrorKind.CONFIG, f"{target} is not a web app.") from None
        return describe(await self.read_app(sub, group, name))

    # -- diff ----------------------------------------------------------------------------------------------

    async def diff(
        self, app: WebApp | str, slot: str, target: str = PRODUCTION, reveal: bool = False
    ) -> list[SettingDiff]:
        """What differs between `slot` and `target`: app settings, connection strings, image; sticky marked."""
        found = await self.find_app(app)
        source, dest = self._slot_of(found, slot).name, self._slot_of(found, target).name
        web = self._client(found.subscription_id).web_apps
        group, name = found.resource_group, found.name

        async def read(slot_name: str) -> tuple[dict[str, str], dict[str, str], str | None]:
            prod = slot_name == PRODUCTION
            settings, strings, config = await asyncio.gather(
                self.call(
                    "read app settings",
                    web.list_application_settings(group, name)
                    if prod
                    else web.list_application_settings_slot(group, name, slot_name),
                ),
                self.call(
                    "read connection strings",
                    web.list_connection_strings(group, name)
                    if prod
                    else web.list_connection_strings_slot(group, name, slot_name),
                ),
                self.call(
                    "read configuration",
                    web.get_configuration(group, name) if prod else web.get_configuration_slot(group, name, slot_name),
                ),
            )
            conn = {k: str(getattr(v, "value", v) or "") for k, v in dict(_props(strings) or {}).items()}
            fx = getattr(_props(config), "linux_fx_version", None)
            return {k: str(v) for k, v in dict(_props(settings) or {}).items()}, conn, fx

        (s_set, s_conn, s_fx), (t_set, t_conn, t_fx), names = await asyncio.gather(
            read(source),
            read(dest),
            self.call("read the sticky setting names", web.list_slot_configuration_names(group, name)),
        )
        sticky_props = _props(names)
        sticky_settings = set(getattr(sticky_props, "app_setting_names", None) or [])
        sticky_strings = set(getattr(sticky_props, "connection_string_names", None) or [])
        diffs = _compare(s_set, t_set, "app setting", sticky_settings, reveal)
        diffs += _compare(s_conn, t_conn, "connection string", sticky_strings, reveal)
        if (s_fx or "") != (t_fx or ""):
            diffs.append(SettingDiff("linuxFxVersion", "config", "changed", s_fx, t_fx, False))
        return diffs

    # -- mutations -----------------------------------------------------------------------------------------

    async def swap(
        self,
        app: WebApp | str,
        slot: str,
        target: str = PRODUCTION,
        *,
        preview: bool = False,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> WebApp:
        """Swap `slot` into `target`; with `preview`, only apply the target's settings to the slot (phase one)."""
        found = await self._writable(app, f"swap {slot} into {target}", confirmed)
        source, dest = self._slot_of(found, slot).name, self._slot_of(found, target).name
        if source == dest:
            raise OpsError(ErrorKind.BAD_REQUEST, f"Cannot swap {found.name}/{source} with itself.")
        if preview:
            return await self._apply_preview(found, source, dest, confirmed, progress)
        return await self._swap(found, source, dest, confirmed, progress)

    async def _swap(
        self,
        app: WebApp,
        source: str,
        dest: str,
        confirmed: bool,
        progress: ProgressCallback | None,
        *,
        action: str = SWAP_ACTION,
        note: str | None = None,
    ) -> WebApp:
        web = self._client(app.subscription_id).web_apps
        group, name = app.resource_group, app.name
        # A swap with production is asked of the site, naming the slot; any other of one slot, naming the other.
        slot, other = (dest, source) if source == PRODUCTION else (source, dest)

        def call() -> Awaitable[Any]:
            if other == PRODUCTION:
                entity = {"targetSlot": slot, "preserveVnet": True}
                return web.begin_swap_slot_with_production(group, name, entity)  # type: ignore[no-any-return]
            return web.begin_swap_slot(group, name, slot, {"targetSlot": other, "preserveVnet": True})  # type: ignore[no-any-return]

        await self.mutate(
            action,
            self._target(app, slot),
            call,
            subscription_id=app.subscription_id,
            parameters={"app": name, "source": source, "target": dest, "before": app.where, "note": note},
            reread=lambda: self._reread(app),
            confirmed=confirmed,
            progress=progress,
        )
        return await self.read_app(app.subscription_id, group, name)

    async def _apply_preview(
        self, app: WebApp, source: str, dest: str, confirmed: bool, progress: ProgressCallback | None
    ) -> WebApp:
        web = self._client(app.subscription_id).web_apps
        group, name = app.resource_group, app.name
        # Phase one of a swap with preview: the source slot takes the target's settings (Azure's applySlotConfig).
        entity = {"targetSlot": dest, "preserveVnet": True}

        def call() -> Awaitable[Any]:
            if source == PRODUCTION:
                return web.apply_slot_config_to_production(group, name, entity)  # type: ignore[no-any-return]
            return web.apply_slot_configuration_slot(group, name, source, entity)  # type: ignore[no-any-return]

        await self.mutate(
            "start a swap with preview",
            self._target(app, source),
            call,
            subscription_id=app.subscription_id,
            parameters={"app": name, "source": source, "target": dest},
            reread=lambda: self._reread(app),
            confirmed=confirmed,
            progress=progress,
        )
        return await self.read_app(app.subscription_id, group, name)

    async def complete_preview(
        self,
        app: WebApp | str,
        slot: str,
        target: str = PRODUCTION,
        *,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> WebApp:
        """Finish a swap with preview: the swap itself."""
        found = await self._writable(app, f"complete the swap of {slot}", confirmed)
        return await self._swap(
            found, self._slot_of(found, slot).name, self._slot_of(found, target).name, confirmed, progress
        )

    async def cancel_preview(
        self,
        app: WebApp | str,
        slot: str,
        target: str = PRODUCTION,
        *,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> WebApp:
        """Cancel a swap with preview: the slot gets its own settings back."""
        found = await self._writable(app, f"cancel the swap of {slot}", confirmed)
        name = self._slot_of(found, slot).name
        self._slot_of(found, target)
        web = self._client(found.subscription_id).web_apps
        group, app_name = found.resource_group, found.name

        def call() -> Awaitable[Any]:
            if name == PRODUCTION:
                return web.reset_production_slot_config(group, app_name)  # type: ignore[no-any-return]
            return web.reset_slot_configuration_slot(group, app_name, name)  # type: ignore[no-any-return]

        await self.mutate(
            "cancel a swap with preview",
            self._target(found, name),
            call,
            subscription_id=found.subscription_id,
            parameters={"app": app_name, "slot": name},
            reread=lambda: self._reread(found),
            confirmed=confirmed,
            progress=progress,
        )
        return await self.read_app(found.subscription_id, group, app_name)

    async def restart(self, app: WebApp | str, slot: str, *, confirmed: bool = False) -> WebApp:
        """Restart one slot."""
        return await self._power(app, slot, "restart", confirmed)

    async def start(self, app: WebApp | str, slot: str, *, confirmed: bool = False) -> WebApp:
        """Start one slot."""
        return await self._power(app, slot, "start", confirmed)

    async def stop(self, app: WebApp | str, slot: str, *, confirmed: bool = False) -> WebApp:
        """Stop one slot."""
        return await self._power(app, slot, "stop", confirmed)

    async def _power(self, app: WebApp | str, slot: str, verb: str, confirmed: bool) -> WebApp:
        found = await self._writable(app, f"{verb} {slot}", confirmed)
        name = self._slot_of(found, slot).name
        web = self._client(found.subscription_id).web_apps
        group, app_name = found.resource_group, found.name

        def call() -> Awaitable[Any]:
            if name == PRODUCTION:
                return getattr(web, verb)(group, app_name)  # type: ignore[no-any-return]
            return getattr(web, f"{verb}_slot")(group, app_name, name)  # type: ignore[no-any-return]

        await self.mutate(
            verb,
            self._target(found, name),
            call,
            subscription_id=found.subscription_id,
            parameters={"app": app_name, "slot": name},
            reread=lambda: self._reread(found),
            confirmed=confirmed,
        )
        return await self.read_app(found.subscription_id, group, app_name)

    async def set_routing(self, app: WebApp | str, slot: str, percent: float, *, confirmed: bool = False) -> WebApp:
        """Route `percent` of production traffic to `slot` (0 clears its rule)."""
        if not 0 <= percent <= 100:
            raise OpsError(ErrorKind.BAD_REQUEST, f"A routing share is between 0 and 100 percent, not {percent:g}.")
        found = await self._writable(app, f"route traffic to {slot}", confirmed)
        name = self._slot_of(found, slot).name
        if name == PRODUCTION:
            raise OpsError(
                ErrorKind.BAD_REQUEST, "Traffic is routed from production to another slot, not to production."
            )
        web = self._client(found.subscription_id).web_apps
        group, app_name = found.resource_group, found.name
        config = await self.call(f"read {app_name}'s configuration", web.get_configuration(group, app_name))
        rules = [_rule_json(r) for r in _routing_rules(config) if _rule_slot(r).lower() != name.lower()]
        if percent > 0:
            site = await self.call(f"read {app_name}/{name}", web.get_slot(group, app_name, name))
            hosts = list(getattr(_props(site), "host_names", None) or [])
            host = str(hosts[0]) if hosts else f"{app_name}-{name}.azurewebsites.net"
            rules.append({"actionHostName": host, "reroutePercentage": percent, "name": name})
        body = {"properties": {"experiments": {"rampUpRules": rules}}}
        await self.mutate(
            "set traffic routing",
            self._target(found, PRODUCTION),
            lambda: web.update_configuration(group, app_name, body),
            subscription_id=found.subscription_id,
            parameters={"app": app_name, "slot": name, "percent": percent},
            reread=lambda: self._reread(found),
            confirmed=confirmed,
        )
        return await self.read_app(found.subscription_id, group, app_name)

    async def rollback(
        self,
        app: WebApp | str,
        *,
        since: datetime | None = None,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> WebApp:
        """Swap back the app's last swap (made since `since`, when given), found in the journal; refuses when
        there is none, or when the slots have changed since."""
        found = await self._writable(app, "roll back", confirmed)
        last = await asyncio.to_thread(self.last_swap, found, since)
        if last is None:
            when = f" since {since.isoformat()[:19]}Z" if since is not None else ""
            raise OpsError(
                ErrorKind.REFUSED,
                f"Nothing to roll back: the journal has no finished swap of {found.name}{when}.",
            )
        source, dest, before = last["source"], last["target"], last["before"]
        expected = {source: before.get(dest), dest: before.get(source)}
        now = found.where
        if any(now.get(slot) != build for slot, build in expected.items()):
            shown = ", ".join(f"{slot} {now.get(slot, 'missing')}" for slot in expected)
            swapped = ", ".join(f"{slot} {build}" for slot, build in expected.items())
            raise OpsError(
                ErrorKind.REFUSED,
                f"The slots of {found.name} changed since its last swap ({last['at'][:19]}Z): it left "
                f"{swapped}; now {shown}. Nothing was swapped back.",
            )
        return await self._swap(found, source, dest, confirmed, progress, action=SWAP_ACTION, note="rollback")

    def last_swap(self, app: WebApp, since: datetime | None = None) -> dict[str, Any] | None:
        """The app's last swap that succeeded (at or after `since`), from the journal: at, source, target and
        the builds before."""
        entries = self.context.journal.entries()
        succeeded = {
            e.get("operation_id") for e in entries if e.get("phase") == "outcome" and e.get("result") == "succeeded"
        }
        prefix = self._target(app, PRODUCTION).lower()
        for entry in reversed(entries):
            params = entry.get("parameters") or {}
            if (
                entry.get("phase") == "intent"
                and entry.get("action") == SWAP_ACTION
                and entry.get("operation_id") in succeeded
                and str(entry.get("target", "")).lower().startswith(prefix)
                and isinstance(params.get("before"), dict)
            ):
                if since is not None and _journal_time(entry) < since:
                    return None
                return {
                    "at": str(entry.get("at", "")),
                    "source": str(params["source"]),
                    "target": str(params["target"]),
                    "before": params["before"],
                }
        return None

    async def _writable(self, app: WebApp | str, action: str, confirmed: bool) -> WebApp:
        """Refuse before any request when the console or the app's subscription is read-only."""
        if isinstance(app, WebApp):
            self.ensure_writable(app.subscription_id, f"{action} on {app.name}", confirmed=confirmed)
        elif self.context.settings.read_only:
            self.ensure_writable(None, f"{action} on {app}", confirmed=confirmed)
        found = await self.find_app(app)
        self.ensure_writable(found.subscription_id, f"{action} on {found.name}", confirmed=confirmed)
        return found

    async def _reread(self, app: WebApp) -> str:
        return describe(await self.read_app(app.subscription_id, app.resource_group, app.name))

    # -- gates and guarded releases ------------------------------------------------------------------------

    async def evaluate(self, gate: Gate, app: WebApp, slot: str, since: datetime | None) -> GateReading:
        """One reading of `gate` on the traffic of `app`'s `slot` since `since`; never raises for a bad query."""
        at = datetime.now(UTC)
        try:
            run = await self._run_gate(gate, app, slot, since)
        except OpsError as error:
            return GateReading(at, "error", None, error.message)
        except Exception as error:  # a runbook error (bad parameter, unknown name) decides against the release
            return GateReading(at, "error", None, str(error))
        checked = [step for step in run.steps if step.status in ("fail", "error", "inconclusive")]
        observed = {step.name: step.observed for step in run.steps if step.check is not None}
        if not checked:
            sentence = "; ".join(step.sentence for step in run.steps if step.check is not None and step.sentence)
            return GateReading(at, "pass", observed, sentence or "every check passed")
        sentence = "; ".join(f"{step.name}: {step.error or step.sentence}" for step in checked)
        too_little = run.status == "inconclusive" and all(
            step.too_little for step in checked if step.status == "inconclusive"
        )
        return GateReading(at, run.status, observed, sentence, too_little)

    async def _run_gate(self, gate: Gate, app: WebApp, slot: str, since: datetime | None) -> Any:
        from console.runbooks import Parameter, Runbook, Step, parse_check

        workspace = await self.runbooks.logs.find_workspace(
            self.resources, gate.workspace or self.context.settings.workspace
        )
        binding = {"app": app.name, "slot": slot}
        if since is not None:
            binding["since"] = since.isoformat().replace("+00:00", "Z")
        if gate.runbook is not None:
            runbook = self.runbooks.find(gate.runbook)
            raw = dict(gate.parameters)
            for key, value in binding.items():
                if runbook.parameter(key) is not None and (key != "app" or key not in raw):
                    raw[key] = value
            return await self.runbooks.run(runbook, raw, workspace.customer_id)
        if not gate.kql or not gate.check:
            raise OpsError(ErrorKind.BAD_REQUEST, "A KQL gate needs a query and a check.")
        parameters = (
            Parameter("app", "string", app.name),
            Parameter("slot", "string", slot),
            Parameter("since", "datetime", datetime(2000, 1, 1, tzinfo=UTC)),
        )
        step = Step("gate", gate.kql, parse_check(gate.check, parameters))
        runbook = Runbook("kql-gate", "KQL gate", "", (), parameters, (step,), "")
        values, prelude = self.runbooks.bind(runbook, binding)
        steps = [await self.runbooks.run_step(step, values, prelude, workspace.customer_id)]
        return self.runbooks.make_run(runbook, values, steps, workspace.customer_id, datetime.now(UTC))

    async def _watch(
        self,
        gate: Gate,
        app: WebApp,
        slot: str,
        since: datetime,
        watch: timedelta,
        interval: timedelta,
        max_inconclusive: int,
        readings: list[GateReading],
        on_reading: ReadingCallback | None,
        stop: ReleaseStop | None = None,
    ) -> tuple[str, str]:
        """Read the gate every interval until `watch` is over: ("pass", why), ("fail"/"inconclusive", why),
        or ("stopped", why) once `stop` is requested."""
        # Readings are due at fixed ticks from the start, so the time a query takes does not push them later.
        # The first comes half an interval in: a build that fails at once is caught within one interval.
        start = time.monotonic()
        end = start + watch.total_seconds()
        unsure = ticks = 0
        while True:
            ticks += 1
            due = min(start + (ticks - 0.5) * interval.total_seconds(), end)
            await self._pause(max(0.0, due - time.monotonic()), stop)
            if stop is not None and stop.requested:
                return "stopped", f"stopped by the user after {len(readings)} readings"
            reading = await self.evaluate(gate, app, slot, since)
            readings.append(reading)
            if on_reading is not None:
                on_reading(reading)
            if reading.verdict in ("fail", "error"):
                how = "could not be read" if reading.verdict == "error" else "was breached"
                return "fail", f"the gate {how}: {reading.sentence}"
            # Too little traffic yet neither counts nor clears a miss: the rest of the watch may bring enough,
            # and its end needs a clean pass all the same.
            if reading.verdict == "inconclusive" and not reading.too_little:
                unsure += 1
                if unsure > max_inconclusive:
                    return "inconclusive", (
                        f"the gate was inconclusive {unsure} intervals in a row: {reading.sentence}"
                    )
            elif reading.verdict == "pass":
                unsure = 0
            if time.monotonic() >= end:
                if reading.verdict != "pass":
                    return "inconclusive", f"the watch ended without a clean pass: {reading.sentence}"
                return "pass", reading.sentence

    async def _pause(self, seconds: float, stop: ReleaseStop | None) -> None:
        """Sleep `seconds`, or less when `stop` is requested meanwhile."""
        if stop is None:
            await self._sleep(seconds)
            return
        sleeping = asyncio.ensure_future(self._sleep(seconds))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((sleeping, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            stopping.cancel()

    async def preflight(self, app: WebApp, slot: str, target: str) -> None:
        """Both slots running and the app not mid-swap, or an OpsError saying which is not."""
        for name in (slot, target):
            found = self._slot_of(app, name)
            if found.state.lower() != "running":
                raise OpsError(ErrorKind.REFUSED, f"{app.name}/{found.name} is {found.state}, not Running.")
        unfinished = await asyncio.to_thread(self.context.journal.unfinished)
        prefix = self._target(app, PRODUCTION).lower()
        if any(str(e.get("target", "")).lower().startswith(prefix) and e.get("area") == self.area for e in unfinished):
            raise OpsError(
                ErrorKind.REFUSED, f"A change to {app.name} was left unfinished; review it before a new release."
            )

    async def guarded_swap(
        self,
        app: WebApp | str,
        slot: str,
        gate: Gate,
        *,
        target: str = PRODUCTION,
        watch: timedelta = timedelta(minutes=10),
        interval: timedelta = timedelta(seconds=30),
        max_inconclusive: int = 2,
        preview: bool = False,
        confirmed: bool = False,
        on_reading: ReadingCallback | None = None,
        progress: ProgressCallback | None = None,
        stop: ReleaseStop | None = None,
    ) -> ReleaseOutcome:
        """Pre-flight, swap, then watch the gate on `target` every interval; roll back on anything but a pass.

        Stopped (`stop`) before the swap, nothing is swapped; after it, the swap is kept or rolled back as
        `stop` says (decision "kept" or "rolled back")."""
        found = await self._writable(app, f"release {slot}", confirmed)
        source, dest = self._slot_of(found, slot).name, self._slot_of(found, target).name
        await self.preflight(found, source, dest)
        readings: list[GateReading] = []
        first = await self.evaluate(gate, found, source, None)
        readings.append(first)
        if on_reading is not None:
            on_reading(first)
        if first.verdict != "pass":
            decision = "inconclusive" if first.verdict == "inconclusive" else "failed"
            return ReleaseOutcome(
                decision,
                tuple(readings),
                found.where,
                f"Not swapped: the gate did not pass on {source} before the swap ({first.sentence}).",
            )
        if stop is not None and stop.requested:
            return ReleaseOutcome(
                "stopped", tuple(readings), found.where, "Not swapped: the release was stopped before the swap."
            )
        if preview:
            await self._apply_preview(found, source, dest, confirmed, progress)
        try:
            swapped = await self._swap(found, source, dest, confirmed, progress)
        except OpsError as error:
            after = await self.read_app(found.subscription_id, found.resource_group, found.name)
            return ReleaseOutcome("failed", tuple(readings), after.where, f"The swap failed: {error.message}")
        swapped_at = datetime.now(UTC)
        verdict, why = await self._watch(
            gate, swapped, dest, swapped_at, watch, interval, max_inconclusive, readings, on_reading, stop
        )
        if verdict == "stopped" and stop is not None and not await stop.rolls_back():
            return ReleaseOutcome(
                "kept",
                tuple(readings),
                swapped.where,
                f"Kept {swapped.where.get(dest)} in {dest} of {found.name}, unproven: {why}; now {describe(swapped)}.",
            )
        if verdict == "pass":
            return ReleaseOutcome(
                "promoted",
                tuple(readings),
                swapped.where,
                f"Promoted {swapped.where.get(dest)} to {dest} of {found.name}: {why}; now {describe(swapped)}.",
            )
        return await self._roll_back_release(swapped, source, dest, readings, why, progress, confirmed)

    async def _roll_back_release(
        self,
        app: WebApp,
        source: str,
        dest: str,
        readings: list[GateReading],
        why: str,
        progress: ProgressCallback | None,
        confirmed: bool,
    ) -> ReleaseOutcome:
        try:
            back = await self._swap(app, source, dest, confirmed, progress, note="guarded rollback")
        except OpsError as error:
            after = await self.read_app(app.subscription_id, app.resource_group, app.name)
            return ReleaseOutcome(
                "failed", tuple(readings), after.where, f"Swapping back failed after {why}: {error.message}"
            )
        return ReleaseOutcome(
            "rolled back", tuple(readings), back.where, f"Rolled back {app.name}: {why}; now {describe(back)}."
        )

    async def ramp(
        self,
        app: WebApp | str,
        slot: str,
        steps: Sequence[float],
        hold: timedelta,
        gate: Gate,
        *,
        watch: timedelta = timedelta(minutes=10),
        interval: timedelta = timedelta(seconds=30),
        max_inconclusive: int = 2,
        confirmed: bool = False,
        on_reading: ReadingCallback | None = None,
        progress: ProgressCallback | None = None,
        stop: ReleaseStop | None = None,
        on_share: Callable[[float], None] | None = None,
    ) -> ReleaseOutcome:
        """Route each share of production traffic to `slot` in turn, judging the slot's traffic at every step,
        then a guarded swap; on anything but a pass, routing goes back to 0 and the ramp stops.

        `on_share` is told each share once it is routed (0 when routing is cleared). Stopped (`stop`) during a
        step, routing stays at that share (decision "kept") or goes back to 0."""
        _check_shares(steps)
        found = await self._writable(app, f"ramp {slot}", confirmed)
        source = self._slot_of(found, slot).name
        if source == PRODUCTION:
            raise OpsError(ErrorKind.BAD_REQUEST, "A ramp routes production traffic to another slot; name that slot.")
        await self.preflight(found, source, PRODUCTION)
        readings: list[GateReading] = []

        def routed(share: float) -> None:
            if on_share is not None:
                on_share(share)

        for share in steps:
            await self.set_routing(found, source, share, confirmed=confirmed)
            routed(share)
            started = datetime.now(UTC)
            verdict, why = await self._watch(
                gate, found, source, started, hold, interval, max_inconclusive, readings, on_reading, stop
            )
            if verdict == "stopped" and stop is not None and not await stop.rolls_back():
                kept = await self.read_app(found.subscription_id, found.resource_group, found.name)
                return ReleaseOutcome(
                    "kept",
                    tuple(readings),
                    kept.where,
                    f"Stopped at {share:g}% and kept that routing: {why}; now {describe(kept)}.",
                )
            if verdict != "pass":
                back = await self.set_routing(found, source, 0, confirmed=confirmed)
                routed(0)
                decision = "rolled back" if verdict in ("fail", "stopped") else "inconclusive"
                return ReleaseOutcome(
                    decision,
                    tuple(readings),
                    back.where,
                    f"Stopped at {share:g}% and routed all traffic back to production: {why}; now {describe(back)}.",
                )
        await self.set_routing(found, source, 0, confirmed=confirmed)
        routed(0)
        outcome = await self.guarded_swap(
            found,
            source,
            gate,
            watch=watch,
            interval=interval,
            max_inconclusive=max_inconclusive,
            confirmed=confirmed,
            on_reading=on_reading,
            progress=progress,
            stop=stop,
        )
        return ReleaseOutcome(outcome.decision, (*readings, *outcome.readings), outcome.where, outcome.sentence)


def read_ramp_steps(text: str) -> tuple[float, ...]:
    """Ramp steps from `5,25,50` (percent signs allowed); an OpsError with a sentence otherwise."""
    try:
        shares = tuple(float(part.strip().rstrip("%")) for part in text.split(",") if part.strip())
    except ValueError:
        sentence = f"{text.strip()!r} is not a list of percentages such as 5,25,50."
        raise OpsError(ErrorKind.BAD_REQUEST, sentence) from None
    _check_shares(shares)
    return shares


def _check_shares(shares: Sequence[float]) -> None:
    if not shares or any(not 0 < share <= 100 for share in shares):
        raise OpsError(ErrorKind.BAD_REQUEST, "Each ramp step is a share between 0 and 100 percent, e.g. 5,25,50.")


def describe(app: WebApp) -> str:
    """Which build is where, e.g. "production 2026.11.4, staging 2026.11.5-rc1"."""
    return ", ".join(f"{slot.name} {slot.build}" for slot in app.slots)


def _compare(
    source: Mapping[str, str], target: Mapping[str, str], kind: str, sticky: set[str], reveal: bool
) -> list[SettingDiff]:
    def shown(value: str | None) -> str | None:
        return value if reveal or value is None else MASK

    found = []
    for key in sorted(set(source) | set(target), key=str.lower):
        a, b = source.get(key), target.get(key)
        if a == b:
            continue
        change = "added" if b is None else "removed" if a is None else "changed"
        found.append(SettingDiff(key, kind, change, shown(a), shown(b), key in sticky))
    return found


def _journal_time(entry: Mapping[str, Any]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(entry.get("at")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _collect(pager: Any) -> list[Any]:
    return [item async for item in pager]
