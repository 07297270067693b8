"""Slots: web apps with their deployment slots, what build runs where, and the changes a release makes —
swap (with preview), complete, cancel, rollback, start/stop/restart, traffic routing, and a guarded swap
that watches production and swaps back on a breach."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.worker import Worker

from console.errors import OpsError
from console.models import (
    Gate,
    GateReading,
    OperationProgress,
    ReleaseOutcome,
    SettingDiff,
    Slot,
    Subscription,
    WebApp,
)
from console.runbooks import Parameter, Runbook, RunbookError, parse_check
from console.services.slots import SWAP_ACTION, SlotsService
from screens.area import ListAreaScreen, failure_message
from screens.filtering import compile_filter, filter_problem
from screens.shell import ShellContext
from screens.widgets.confirm import ChangeRequest
from screens.widgets.operation import Operations
from screens.widgets.release import Release, ReleasePanel, StopReleaseScreen
from screens.widgets.slot_forms import GuardPlan, GuardScreen, RoutingScreen, span_text

PRODUCTION = "production"
DEFAULT_GATE = "slot-health"
DEFAULT_RAMP = (5.0, 25.0, 50.0)
COLUMNS = [
    ("App", "app", 22),
    ("Slot", "slot", 11),
    ("Build", "build", 30),
    ("State", "state", 9),
    ("Routing", "routing", 8),
    ("Group", "group", 14),
    ("Subscription", "subscription", 24),
    ("Last deployment", "deployed", 48),
]
_STAMPED = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2})\s*(.*)$")
CHANGE_MARKS = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}


def slot_key(slot: Slot) -> str:
    return f"{slot.subscription_id}/{slot.resource_group}/{slot.app}/{slot.name}".lower()


def slot_id(slot: Slot) -> str:
    """The slot's ARM id (production is the site itself)."""
    group = f"/subscriptions/{slot.subscription_id}/resourceGroups/{slot.resource_group}"
    site = f"{group}/providers/Microsoft.Web/sites/{slot.app}"
    return site if slot.name == PRODUCTION else f"{site}/slots/{slot.name}"


def build_text(slot: Slot) -> Text:
    """The slot's build; APP_VERSION beside it when it says something else than the image tag."""
    text = Text(slot.build)
    if slot.app_version and slot.app_version != slot.build:
        text.append(f" (APP_VERSION {slot.app_version})", style="yellow")
    return text


def routing_text(app: WebApp, slot: Slot) -> str:
    """The share of production traffic the slot serves; production keeps what the slots do not take."""
    if slot.name == PRODUCTION:
        routed = sum(s.routing_percent for s in app.slots if s.name != PRODUCTION)
        return f"{100 - routed:g} %"
    return f"{slot.routing_percent:g} %" if slot.routing_percent else "–"


def deployed_text(last_deployment: str | None, now: datetime) -> str:
    """The last deployment with its age (`1d 3h ago  Deploy …`); as given when it does not start with a time."""
    if not last_deployment:
        return "–"
    match = _STAMPED.match(last_deployment)
    if match is None:
        return last_deployment
    try:
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    except ValueError:
        return last_deployment
    minutes = max(0, int((now - at).total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    age = f"{days}d {hours}h" if days else f"{hours}h" if hours else f"{minutes}m"
    return f"{age} ago  {match.group(2)}".rstrip()


def where_text(app: WebApp) -> str:
    """Which build runs in which slot: `production runs 2026.11.4, staging runs 2026.11.5-rc1`."""
    return ", ".join(f"{slot.name} runs {slot.build}" for slot in app.slots)


def diff_text(diffs: list[SettingDiff], source: str, target: str, revealed: bool) -> Text:
    """A slot's differences from its swap target, one setting a line; sticky settings stay with their slot."""
    text = Text()
    text.append(f"{source} against {target}", style="bold")
    text.append("   (+ only in the source, - only in the target, ~ differs; sticky settings stay on a swap)\n", "dim")
    if not diffs:
        text.append("No differences: the two slots have the same settings.\n")
        return text
    width = max(len(d.name) for d in diffs)
    for diff in diffs:
        mark, style = CHANGE_MARKS.get(diff.change, ("·", ""))
        text.append(f" {mark} ", style=f"bold {style}")
        text.append(f"{diff.name:<{width}}  ", style="bold")
        text.append(f"{diff.kind:<18}", style="dim")
        if diff.change == "changed":
            text.append(f"{diff.source} → {diff.target}")
        elif diff.change == "added":
            text.append(f"{diff.source}")
        else:
            text.append(f"{diff.target}")
        if diff.sticky:
            text.append("  sticky", style="italic cyan")
        text.append("\n")
    hint = "v hides the values" if revealed else "values masked; v reveals them"
    text.append(f"\n{hint}", style="dim")
    return text


def history_text(app: str, entries: list[dict[str, Any]]) -> Text:
    """The app's changes as the journal holds them, newest first: when, what, on which slot, how it ended."""
    text = Text()
    text.append(f"Release history of {app}", style="bold")
    text.append("   from the operations journal, newest first\n", style="dim")
    changes = changes_of(app, entries)
    if not changes:
        text.append("No change to this app is in the journal yet.\n")
        return text
    for change in changes[:40]:
        text.append(f" {change.at:%Y-%m-%d %H:%M:%S} ", style="dim")
        style = {"succeeded": "green", "failed": "bold red", "unfinished": "yellow"}.get(change.result, "")
        text.append(f"{change.result:<11}", style=style)
        text.append(f"{change.action}", style="bold")
        text.append(f" on {change.where}")
        if change.who:
            text.append(f"  by {change.who}", style="dim")
        if change.error:
            text.append(f"\n{'':>32}{change.error}", style="red")
        text.append("\n")
    return text


@dataclass(frozen=True)
class JournalChange:
    """One change of an app as the journal holds it: the intent, and how it ended."""

    at: datetime
    action: str
    where: str
    result: str
    who: str
    error: str


def _targets_app(target: str, app: str) -> bool:
    lowered = target.lower().rstrip("/")
    name = app.lower()
    return lowered == name or f"/sites/{name}/" in f"{lowered}/"


def changes_of(app: str, entries: list[dict[str, Any]]) -> list[JournalChange]:
    """The journal's changes to one app (any slot), newest first; an intent with no outcome is unfinished."""
    outcomes = {e.get("operation_id"): e for e in entries if e.get("phase") == "outcome" and e.get("operation_id")}
    found: list[JournalChange] = []
    for entry in entries:
        if entry.get("phase") != "intent" or not _targets_app(str(entry.get("target", "")), app):
            continue
        outcome = outcomes.get(entry.get("operation_id"), {})
        try:
            at = datetime.fromisoformat(str(entry.get("at")))
        except ValueError:
            continue
        target = str(entry.get("target", ""))
        where = target.rsplit("/", 1)[-1] if "/slots/" in target.lower() else PRODUCTION
        found.append(
            JournalChange(
                at,
                str(entry.get("action", "")),
                where,
                str(outcome.get("result", "unfinished")),
                str(entry.get("who", "") or ""),
                str(outcome.get("error", "") or ""),
            )
        )
    found.sort(key=lambda change: change.at, reverse=True)
    return found


def gate_of(plan: GuardPlan) -> Gate:
    """The service's gate for a plan: a runbook with its parameters, or a KQL query with its check."""
    if plan.is_kql:
        return Gate(kql=plan.gate, check=plan.check)
    return Gate(runbook=plan.gate, parameters=tuple(plan.parameters.items()))


def gate_limit(plan: GuardPlan, runbook: Runbook | None) -> tuple[float | None, str | None]:
    """What the release chart draws against: the first upper limit the gate checks (`<=`/`<`) and the name of
    the reading's value it limits (the runbook step's name; `gate` for a KQL check). None when there is none."""
    if plan.is_kql:
        try:
            check = parse_check(plan.check, (Parameter("app", "string", ""), Parameter("slot", "string", "")))
        except RunbookError:
            return None, None
        if check.operator in ("<=", "<") and isinstance(check.expected, int | float):
            return float(check.expected), "gate"
        return None, None
    if runbook is None:
        return None, None
    for step in runbook.steps:
        limited = step.check
        if limited is None or limited.operator not in ("<=", "<"):
            continue
        limit: Any = limited.expected
        if limited.parameter is not None:
            parameter = runbook.parameter(limited.parameter)
            limit = plan.parameters.get(limited.parameter, parameter.default if parameter is not None else None)
        try:
            return float(limit), step.name
        except (TypeError, ValueError):
            continue
    return None, None


class SlotsScreen(ListAreaScreen):
    """Web apps and their slots: build, state, routing; the selected slot's differences from production;
    every change asks first and runs in the operation panel; a guarded swap shows its release panel."""

    AREA = "slots"
    AUTO_FOCUS = "#slots-table"
    DEFAULT_CSS = """
    SlotsScreen #crumbs { height: 1; padding: 0 1; color: $text-muted; }
    SlotsScreen #slots-area { height: 1fr; }
    SlotsScreen #slot-detail { height: 45%; border-top: hkey $panel; padding: 0 1; }
    SlotsScreen #slot-detail.-hidden { display: none; }
    """
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="slots.refresh"),
        Binding("w", "swap", "Swap", id="slots.swap"),
        Binding("p", "swap_preview", "Swap with preview", id="slots.preview"),
        Binding("c", "complete_preview", "Complete preview", show=False, id="slots.complete"),
        Binding("x", "cancel_preview", "Cancel preview", show=False, id="slots.cancel"),
        Binding("b", "rollback", "Roll back", id="slots.rollback"),
        Binding("g", "guarded_swap", "Guarded swap", id="slots.guarded"),
        Binding("u", "ramp", "Ramp", id="slots.ramp"),
        Binding("G", "show_release", "Release panel", show=False, id="slots.release"),
        Binding("t", "routing", "Routing", id="slots.routing"),
        Binding("s", "start", "Start", show=False, id="slots.start"),
        Binding("S", "stop", "Stop", show=False, id="slots.stop"),
        Binding("R", "restart", "Restart", show=False, id="slots.restart"),
        Binding("d", "toggle_detail", "Diff", id="slots.diff"),
        Binding("h", "history", "History", id="slots.history"),
        Binding("v", "toggle_reveal", "Reveal values", show=False, id="slots.reveal"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="slots.clear_filter"),
    ]
    LOAD_FAILURES = {"slots-load": "Could not list the web apps."}

    def __init__(
        self,
        context: ShellContext,
        service: SlotsService,
        list_subscriptions: Callable[[], Awaitable[list[Subscription]]],
        find_runbook: Callable[[str], Runbook] | None = None,
        refresh_seconds: float = 30.0,
    ) -> None:
        super().__init__(context, refresh_seconds, list_subscriptions)
        self.service = service
        self.find_runbook = find_runbook
        self.apps: list[WebApp] = []
        self.shown: list[tuple[WebApp, Slot]] = []
        self.previews: set[str] = set()
        """Slots whose swap with preview this console started and has not completed or cancelled."""
        self.reveal = False
        self.detail_mode = "diff"
        """What the lower pane shows: the selected slot's diff, or its app's release history."""
        self._detail_for: str | None = None
        self.release: Release | None = None
        self._quit_after_release: Callable[[], None] | None = None
        """Set when the user quit during a release: called once the release has stopped."""
        self._diffs: dict[str, list[SettingDiff]] = {}
        """The last differences read per slot, for the confirm dialog's summary."""
        self._refresh_asked = False
        self._listed = False
        """Whether a listing has come back (until then an empty table means still loading)."""

    def compose_body(self) -> ComposeResult:
        yield from self.compose_list(
            DataTable(id="slots-table", cursor_type="row", zebra_stripes=True),
            empty_text="No web app in these subscriptions.",
            states_id="slots-area",
            detail_id="slot-detail",
        )

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.load_apps()

    # loading -------------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="slots-load", name="list web apps")
    async def load_apps(self) -> None:
        if not self.apps:
            self.states.show_loading()
        subscriptions = await self.known_subscriptions()
        self.set_waiting(("refreshing… " if self._refresh_asked else "") + "listing web apps and their slots…")
        found = await asyncio.gather(*(self.service.list_apps(s.subscription_id) for s in subscriptions))
        self.apps = [app for apps in found for app in apps]
        self._listed = True
        self.waiting = ""
        self._detail_for = None  # the diff or history below is read again: a change may have moved things
        self._diffs.clear()
        self.show_rows()
        if self._refresh_asked:
            self._refresh_asked = False
            self.notify(f"Refreshed: {len(self.apps)} web apps.", timeout=3)
        self.arm_refresh(self.load_apps)

    def reload(self) -> None:
        self.load_apps()

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        if worker.group == "slots-load":
            self.waiting = ""
            self._refresh_asked = False
            if self.apps:
                self.refresh_failed("the slots", message)
                return True
            return False
        if worker.group == "slots-detail":
            self.query_one("#slot-detail-body", Static).update(
                Text.assemble(("Could not read the differences.\n\n", "bold"), message)
            )
            return True
        if worker.group in ("slots-change", "slots-release"):
            # The service re-read the slots and said where each build is; the table shows it too.
            self.notify(message, title="The change failed", severity="error", timeout=15)
            self.load_apps()
            return True
        return False

    # showing -------------------------------------------------------------------------------------

    def show_rows(self) -> None:
        table = self.query_one(DataTable)
        keep = self._selected()
        pattern, inverse = compile_filter(self.filter_text)
        names = {s.subscription_id.lower(): s.display_name for s in self.context.subscriptions}
        self.shown = []
        for app in self.apps:
            for slot in app.slots:
                fields = [app.name, slot.name, slot.build, slot.state, slot.app_version or "", app.resource_group]
                if pattern is not None and any(pattern.search(f) for f in fields) == inverse:
                    continue
                self.shown.append((app, slot))
        table.clear()
        now = datetime.now(UTC)
        for app, slot in self.shown:
            production = slot.name == PRODUCTION
            state = Text(slot.state, style="green" if slot.state.lower() == "running" else "bold red")
            if slot_key(slot) in self.previews:
                state.append(" preview", style="bold yellow")
            table.add_row(
                Text(app.name, style="bold" if production else "dim"),
                Text(slot.name, style="bold" if production else ""),
                build_text(slot),
                state,
                routing_text(app, slot),
                app.resource_group,
                names.get(app.subscription_id.lower(), app.subscription_id),
                deployed_text(slot.last_deployment, now),
                key=slot_key(slot),
            )
        if keep is not None:
            index = next((i for i, (_, s) in enumerate(self.shown) if slot_key(s) == slot_key(keep[1])), None)
            if index is not None:
                table.move_cursor(row=index, animate=False)
        self.update_crumbs()
        if self.shown:
            self.states.show_content()
            self._show_detail()
        elif self.apps:
            self.states.show_empty("No slot matches the filter.")
        elif self._listed:
            self.states.show_empty()

    def update_crumbs(self) -> None:
        slots = sum(len(app.slots) for app in self.apps)
        line = Text(f"{len(self.apps)} web apps, {slots} slots")
        if self.filter_text:
            line.append(f"   filter: {self.filter_text} ({len(self.shown)} shown)")
            problem = filter_problem(self.filter_text)
            if problem:
                line.append(f" ({problem})")
        if self.release is not None and not self.release.done:
            line.append(f"   release of {self.release.app} running: G shows it", style="bold")
        if self.waiting:
            line.append(f"   {self.waiting}", style="italic")
        self.query_one("#crumbs", Static).update(line)

    def _selected(self) -> tuple[WebApp, Slot] | None:
        table = self.query_one(DataTable)
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    @on(DataTable.RowHighlighted, "#slots-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        """The lower pane follows the cursor: the slot's diff against production, or the app's history."""
        if self.query_one("#slot-detail").has_class("-hidden"):
            return
        selected = self._selected()
        if selected is None:
            return
        app, slot = selected
        key = f"{self.detail_mode}:{slot_key(slot)}:{self.reveal}"
        if key == self._detail_for:
            return
        self._detail_for = key
        body = self.query_one("#slot-detail-body", Static)
        if self.detail_mode == "history":
            body.update(Text(f"Reading the journal for {app.name}…", style="italic"))
            self.load_history(app.name)
        elif slot.name == PRODUCTION:
            body.update(
                Text.assemble(
                    (f"{app.name}: production", "bold"),
                    f" runs {slot.build}.\n\nMove to one of its slots to see how it differs from production; "
                    "h shows the app's release history.",
                )
            )
        else:
            body.update(Text(f"Comparing {slot.name} with production…", style="italic"))
            self.load_diff(app, slot, self.reveal)

    @work(exclusive=True, exit_on_error=False, group="slots-detail", name="slot differences")
    async def load_diff(self, app: WebApp, slot: Slot, reveal: bool) -> None:
        diffs = await self.service.diff(app, slot.name, PRODUCTION, reveal=reveal)
        self._diffs[slot_key(slot)] = list(diffs)
        if self._detail_for != f"diff:{slot_key(slot)}:{reveal}":
            return
        text = diff_text(list(diffs), f"{app.name}/{slot.name}", PRODUCTION, reveal)
        self.query_one("#slot-detail-body", Static).update(text)

    @work(exclusive=True, exit_on_error=False, group="slots-detail", name="release history")
    async def load_history(self, app: str) -> None:
        entries = await asyncio.to_thread(self.service.context.journal.entries)
        if self.detail_mode == "history":
            self.query_one("#slot-detail-body", Static).update(history_text(app, entries))

    # plain actions -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._refresh_asked = True
        self.set_waiting("refreshing…")
        self.load_apps()

    def action_clear_filter(self) -> None:
        self.clear_filter()

    def action_toggle_detail(self) -> None:
        """`d` shows the selected slot's differences from production (or hides the pane when it shows them)."""
        pane = self.query_one("#slot-detail")
        if self.detail_mode == "diff" and not pane.has_class("-hidden"):
            pane.add_class("-hidden")
            return
        pane.remove_class("-hidden")
        self.detail_mode = "diff"
        self._detail_for = None
        self._show_detail()

    def action_history(self) -> None:
        """`h` shows the selected app's changes from the journal (again: back to the diff)."""
        self.query_one("#slot-detail").remove_class("-hidden")
        self.detail_mode = "diff" if self.detail_mode == "history" else "history"
        self._detail_for = None
        self._show_detail()

    def action_toggle_reveal(self) -> None:
        self.reveal = not self.reveal
        self._detail_for = None
        self._show_detail()

    def subscription_changed(self, subscription: Subscription) -> None:
        """The current subscription's apps lead the table."""
        self.load_apps()

    # changes -------------------------------------------------------------------------------------

    def _subscription_name(self, subscription_id: str) -> str:
        match = next(
            (s for s in self.context.subscriptions if s.subscription_id.lower() == subscription_id.lower()), None
        )
        return match.display_name if match else subscription_id

    def _writable(self, slot: Slot, action: str) -> bool:
        """Read-only refuses here, with the service's sentence, before any dialog or request."""
        try:
            self.service.ensure_writable(slot.subscription_id, f"{action} on {slot.app}", confirmed=True)
        except OpsError as refused:
            self.notify(refused.message, title="Read-only", severity="error", timeout=10)
            return False
        return True

    def _a_slot(self, what: str) -> tuple[WebApp, Slot] | None:
        """The selected slot other than production (the source of a swap), or a sentence saying to pick one."""
        selected = self._selected()
        if selected is None:
            self.notify(f"No slot selected: move to a slot, then {what}.", severity="warning")
            return None
        if selected[1].name == PRODUCTION:
            self.notify(
                f"Production is the target: move to one of {selected[0].name}'s other slots, then {what}.",
                severity="warning",
            )
            return None
        return selected

    def _request(self, action: str, app: WebApp, slot: Slot, details: str) -> ChangeRequest:
        return ChangeRequest(
            action,
            app.name,
            slot_id(slot),
            self._subscription_name(app.subscription_id),
            protected=self.context.protected(app.subscription_id),
            details=details,
        )

    def _swap_details(self, app: WebApp, slot: Slot, preview: bool) -> str:
        production = app.slot(PRODUCTION)
        now_there = production.build if production else "unknown"
        lines = [
            f"app       {app.name}",
            f"source    {slot.name}   runs {slot.build}",
            f"target    {PRODUCTION}   runs {now_there}",
            f"after     {PRODUCTION} runs {slot.build}, {slot.name} runs {now_there}",
        ]
        diffs = self._diffs.get(slot_key(slot))
        if diffs is not None:
            sticky = sum(1 for d in diffs if d.sticky)
            lines.append(
                f"settings  {len(diffs)} differ from {PRODUCTION}'s, {sticky} of them sticky (stay with their slot)"
            )
        if preview:
            lines.append(
                f"preview   {PRODUCTION}'s settings are applied to {slot.name} first; c completes the swap, x cancels"
            )
        return "\n".join(lines)

    def action_swap(self) -> None:
        """`w` swaps the selected slot with production."""
        self._start_swap(preview=False)

    def action_swap_preview(self) -> None:
        """`p` swaps with preview: production's settings go to the slot; complete or cancel afterwards."""
        self._start_swap(preview=True)

    def _start_swap(self, *, preview: bool) -> None:
        what = "p swaps it with preview" if preview else "w swaps it with production"
        selected = self._a_slot(what)
        if selected is None:
            return
        app, slot = selected
        action = f"swap {slot.name} with {PRODUCTION}" + (" (preview)" if preview else "")
        if not self._writable(slot, action):
            return
        request = self._request(action, app, slot, self._swap_details(app, slot, preview))
        self.confirm_change(request, lambda: self.swap(app, slot, preview))

    @work(exclusive=True, exit_on_error=False, group="slots-change", name="swap slots")
    async def swap(self, app: WebApp, slot: Slot, preview: bool) -> None:
        action = f"swap {slot.name} with {PRODUCTION}" + (" (preview)" if preview else "")
        if preview:
            await self.run_change(
                action,
                app.name,
                lambda progress: self.service.swap(
                    app, slot.name, PRODUCTION, preview=True, confirmed=True, progress=progress
                ),
                lambda _: f"{PRODUCTION}'s settings are on {slot.name}: c completes the swap, x cancels it.",
            )
            self.previews.add(slot_key(slot))
        else:
            changed = await self.run_change(
                action,
                app.name,
                lambda progress: self.service.swap(app, slot.name, PRODUCTION, confirmed=True, progress=progress),
                lambda now: f"Swapped: {where_text(now)}.",
            )
            self._replace(changed)
        self.load_apps()

    def action_complete_preview(self) -> None:
        """`c` completes a swap with preview (the slots swap)."""
        selected = self._a_slot("c completes its swap with preview")
        if selected is None:
            return
        app, slot = selected
        action = f"complete the swap of {slot.name} with {PRODUCTION}"
        if not self._writable(slot, action):
            return
        request = self._request(action, app, slot, self._swap_details(app, slot, False))
        self.confirm_change(request, lambda: self.finish_preview(app, slot, True))

    def action_cancel_preview(self) -> None:
        """`x` cancels a swap with preview: both slots get their own settings back."""
        selected = self._a_slot("x cancels its swap with preview")
        if selected is None:
            return
        app, slot = selected
        action = f"cancel the swap of {slot.name} with {PRODUCTION}"
        if not self._writable(slot, action):
            return
        details = (
            f"app       {app.name}\nsource    {slot.name}\ntarget    {PRODUCTION}\n"
            "after     both slots keep their builds and get their own settings back"
        )
        self.confirm_change(self._request(action, app, slot, details), lambda: self.finish_preview(app, slot, False))

    @work(exclusive=True, exit_on_error=False, group="slots-change", name="finish a swap with preview")
    async def finish_preview(self, app: WebApp, slot: Slot, complete: bool) -> None:
        if complete:
            changed = await self.run_change(
                f"complete the swap of {slot.name}",
                app.name,
                lambda progress: self.service.complete_preview(
                    app, slot.name, PRODUCTION, confirmed=True, progress=progress
                ),
                lambda now: f"Swapped: {where_text(now)}.",
            )
        else:
            changed = await self.run_change(
                f"cancel the swap of {slot.name}",
                app.name,
                lambda progress: self.service.cancel_preview(
                    app, slot.name, PRODUCTION, confirmed=True, progress=progress
                ),
                lambda now: f"Cancelled: {where_text(now)}, each with its own settings.",
            )
        self.previews.discard(slot_key(slot))
        self._replace(changed)
        self.load_apps()

    def action_rollback(self) -> None:
        """`b` swaps back the app's last swap (the service finds it in the journal)."""
        selected = self._selected()
        if selected is None:
            self.notify(
                "No app selected: move to one of its slots, then b rolls back its last swap.", severity="warning"
            )
            return
        app, slot = selected
        action = "roll back the last swap"
        if not self._writable(slot, action):
            return
        last = self.service.last_swap(app)
        if last is None:
            details = (
                f"app       {app.name}\nnow       {where_text(app)}\n"
                "what      the journal has no finished swap of this app: the service will say so and send nothing"
            )
        else:
            before = ", ".join(f"{slot} runs {build}" for slot, build in dict(last["before"]).items())
            details = (
                f"app       {app.name}\nsource    {last['source']}\ntarget    {last['target']}\n"
                f"what      the swap of {last['source']} with {last['target']} at {last['at'][:19]}Z is swapped back\n"
                f"now       {where_text(app)}\nafter     {before}"
            )
        request = self._request(action, app, app.slot(PRODUCTION) or slot, details)
        self.confirm_change(request, lambda: self.rollback(app))

    @work(exclusive=True, exit_on_error=False, group="slots-change", name="roll back")
    async def rollback(self, app: WebApp) -> None:
        changed = await self.run_change(
            "roll back the last swap",
            app.name,
            lambda progress: self.service.rollback(app, confirmed=True, progress=progress),
            lambda now: f"Rolled back: {where_text(now)}.",
        )
        self._replace(changed)
        self.load_apps()

    def _slot_action(self, verb: str) -> None:
        selected = self._selected()
        if selected is None:
            self.notify(f"No slot selected: move to a slot, then {verb} it.", severity="warning")
            return
        app, slot = selected
        if not self._writable(slot, f"{verb} {slot.name}"):
            return
        details = f"app       {app.name}\nslot      {slot.name}   {slot.state}, runs {slot.build}"
        if verb == "stop":
            details += "\nafter     the slot serves no traffic until it is started again"
        request = self._request(f"{verb} {slot.name}", app, slot, details)
        self.confirm_change(request, lambda: self.slot_power(app, slot, verb))

    def action_start(self) -> None:
        self._slot_action("start")

    def action_stop(self) -> None:
        self._slot_action("stop")

    def action_restart(self) -> None:
        self._slot_action("restart")

    @work(exclusive=True, exit_on_error=False, group="slots-change", name="start, stop or restart a slot")
    async def slot_power(self, app: WebApp, slot: Slot, verb: str) -> None:
        method = {"start": self.service.start, "stop": self.service.stop, "restart": self.service.restart}[verb]
        past = {"start": "Started", "stop": "Stopped", "restart": "Restarted"}[verb]

        async def change(progress: Callable[[OperationProgress], None]) -> Any:
            return await method(app, slot.name, confirmed=True)

        await self.run_change(f"{verb} {slot.name}", app.name, change, lambda _: f"{past} {app.name}/{slot.name}.")
        self.load_apps()

    def action_routing(self) -> None:
        """`t` sets the share of production traffic the selected slot serves (0 clears it)."""
        selected = self._a_slot("t routes a share of production traffic to it")
        if selected is None:
            return
        app, slot = selected
        if not self._writable(slot, f"route traffic to {slot.name}"):
            return

        def chosen(percent: float | None) -> None:
            if percent is None:
                return
            action = f"route {percent:g} % of traffic to {slot.name}"
            details = (
                f"app       {app.name}\nsource    {slot.name}   runs {slot.build}\ntarget    {PRODUCTION}'s traffic\n"
                f"now       {slot.routing_percent:g} % to {slot.name}\nafter     {percent:g} % to {slot.name}, "
                f"{100 - percent:g} % stays on {PRODUCTION}"
            )
            self.confirm_change(self._request(action, app, slot, details), lambda: self.set_routing(app, slot, percent))

        self.app.push_screen(RoutingScreen(app.name, slot.name, slot.routing_percent), chosen)

    @work(exclusive=True, exit_on_error=False, group="slots-change", name="set routing")
    async def set_routing(self, app: WebApp, slot: Slot, percent: float) -> None:
        async def change(progress: Callable[[OperationProgress], None]) -> Any:
            return await self.service.set_routing(app, slot.name, percent, confirmed=True)

        await self.run_change(
            f"route {percent:g} % to {slot.name}",
            app.name,
            change,
            lambda _: f"{slot.name} serves {percent:g} % of {app.name}'s production traffic.",
        )
        self.load_apps()

    def _replace(self, changed: Any) -> None:
        """Show an app as a change left it (read back by the service), before the next listing."""
        if not isinstance(changed, WebApp):
            return
        self.apps = [
            changed if (a.name, a.subscription_id) == (changed.name, changed.subscription_id) else a for a in self.apps
        ]
        self.show_rows()

    # guarded swap --------------------------------------------------------------------------------

    def action_guarded_swap(self) -> None:
        """`g`: a swap that watches production with a gate and swaps back on a breach."""
        self._plan_release(GuardPlan(DEFAULT_GATE))

    def action_ramp(self) -> None:
        """`u`: route growing shares of production traffic to the slot, judged by a gate, then a guarded swap."""
        self._plan_release(GuardPlan(DEFAULT_GATE, steps=DEFAULT_RAMP))

    def _plan_release(self, plan: GuardPlan) -> None:
        if self.release is not None and not self.release.done:
            self.notify(f"A release of {self.release.app} is running: G shows it.", severity="warning")
            return
        kind = "ramp" if plan.is_ramp else "guarded swap"
        selected = self._a_slot(f"{'u' if plan.is_ramp else 'g'} starts a {kind} of it")
        if selected is None:
            return
        app, slot = selected
        action = f"{kind} of {slot.name} {'into' if plan.is_ramp else 'with'} {PRODUCTION}"
        if not self._writable(slot, action):
            return

        def planned(plan: GuardPlan | None) -> None:
            if plan is None:
                return
            steps = (
                f"steps     {', '.join(f'{share:g}%' for share in plan.steps)} of production traffic, "
                f"each held {span_text(plan.hold)}; a breach routes it all back\n"
                if plan.is_ramp
                else ""
            )
            details = self._swap_details(app, slot, plan.preview) + (
                f"\n{steps}gate      {plan.describe()}\n"
                f"watch     {span_text(plan.watch)}, a reading every {span_text(plan.interval)}\n"
                "on breach the slots are swapped back at once"
            )
            self.confirm_change(self._request(action, app, slot, details), lambda: self.run_release(app, slot, plan))

        title = f"{kind.capitalize()} of {app.name}: {slot.name} → {PRODUCTION}"
        self.app.push_screen(GuardScreen(title, plan), planned)

    def _runbook(self, plan: GuardPlan) -> Runbook | None:
        if plan.is_kql or self.find_runbook is None:
            return None
        try:
            return self.find_runbook(plan.gate)
        except RunbookError:
            return None  # the service says so in the pre-flight reading

    def holds_quit(self, quit_now: Callable[[], None]) -> bool:
        """While a release runs, quitting asks whether to keep what it changed or roll it back, and waits for it."""
        release = self.release
        if release is None or release.done:
            return False
        if release.stop.requested:
            self.notify("The release is stopping; the console quits once it has.", title="Quit", timeout=5)
            return True
        if isinstance(self.app.screen, StopReleaseScreen):
            return True

        def chosen(roll_back: bool | None) -> None:
            if roll_back is None or release.done:
                return
            self._quit_after_release = quit_now
            release.stop.request(roll_back)
            release.phase = "stopping"
            self.app.push_screen(ReleasePanel(release))

        self.app.switch_mode(self.AREA)
        self.app.push_screen(StopReleaseScreen(release), chosen)
        return True

    def action_show_release(self) -> None:
        """`G` brings back the release panel."""
        if self.release is None:
            self.notify("No guarded swap has run in this console yet: g starts one.", severity="information")
            return
        self.app.push_screen(ReleasePanel(self.release))

    @work(exclusive=True, exit_on_error=False, group="slots-release", name="release")
    async def run_release(self, app: WebApp, slot: Slot, plan: GuardPlan) -> None:
        threshold, metric = gate_limit(plan, self._runbook(plan))
        release = self.release = Release(
            app.name,
            slot.name,
            PRODUCTION,
            plan.describe(),
            plan.watch.total_seconds(),
            plan.interval.total_seconds(),
            threshold,
            metric=metric,
            hold_s=plan.hold.total_seconds(),
            steps=plan.steps,
        )
        operation = self.operations.start(f"{release.kind.lower()} of {slot.name}", app.name)
        self.app.push_screen(ReleasePanel(release))
        self.update_crumbs()

        def progress(update: OperationProgress) -> None:
            release.progress(update, SWAP_ACTION)
            Operations.progress(operation, update)
            operation.status = release.phase

        def reading(found: GateReading) -> None:
            release.reading(found)
            operation.status = f"{release.phase}, {len(release.readings)} readings"

        try:
            outcome: ReleaseOutcome
            if plan.is_ramp:
                outcome = await self.service.ramp(
                    app,
                    slot.name,
                    plan.steps,
                    plan.hold,
                    gate_of(plan),
                    watch=plan.watch,
                    interval=plan.interval,
                    confirmed=True,
                    on_reading=reading,
                    progress=progress,
                    stop=release.stop,
                    on_share=release.routed,
                )
            else:
                outcome = await self.service.guarded_swap(
                    app,
                    slot.name,
                    gate_of(plan),
                    watch=plan.watch,
                    interval=plan.interval,
                    preview=plan.preview,
                    confirmed=True,
                    on_reading=reading,
                    progress=progress,
                    stop=release.stop,
                )
        except BaseException as error:
            release.fail(failure_message(error))
            Operations.finish(operation, release.failure or "", failed=True)
            self.update_crumbs()
            self._quit_if_asked()
            raise
        release.finish(outcome)
        Operations.finish(operation, outcome.sentence, failed=outcome.decision != "promoted")
        promoted = outcome.decision == "promoted"
        self.notify(
            outcome.sentence,
            title=f"{release.kind} {outcome.decision}",
            severity="information" if promoted else "error",
            timeout=15,
        )
        self.load_apps()
        self._quit_if_asked()

    def _quit_if_asked(self) -> None:
        quit_now, self._quit_after_release = self._quit_after_release, None
        if quit_now is not None:
            quit_now()
