"""Alerts: what fired, most severe first, with the summary counts on top; filters; the selected alert's rule,
condition, target, times and history; marked alerts acknowledged or closed at once with a comment; one key to
the evidence in Logs (the rule's KQL over the alert's window) and one to the runbook the rule is tagged with;
the rules with enable/disable; a live mode in which new alerts appear as they fire."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.worker import Worker

from console.errors import OpsError
from console.models import Alert, AlertChange, AlertFilter, AlertRule, AlertSummary, OperationProgress, Subscription
from console.runbooks import Runbook
from console.services.alerts import AlertsService, logs_request, parse_filter, runbook_request
from screens.area import ListAreaScreen
from screens.filtering import compile_filter, filter_problem
from screens.messages import OpenInLogs, OpenRunbook
from screens.shell import ShellContext
from screens.widgets.alert_forms import AlertFilterScreen, CommentScreen
from screens.widgets.confirm import ChangeRequest

LIVE_SECONDS = 5.0
"""How often the live mode reads the alerts again."""
ALERT_COLUMNS = [
    ("", "mark", 2),
    ("Sev", "severity", 5),
    ("State", "state", 13),
    ("Condition", "condition", 10),
    ("Rule", "rule", 30),
    ("Target", "target", 22),
    ("Group", "group", 16),
    ("Fired", "fired", 18),
    ("Resolved", "resolved", 11),
]
RULE_COLUMNS = [
    ("Rule", "name", 30),
    ("Kind", "kind", 13),
    ("Enabled", "enabled", 8),
    ("Sev", "severity", 5),
    ("Every", "frequency", 7),
    ("Window", "window", 7),
    ("Firing", "firing", 7),
    ("Last fired", "last", 12),
    ("Runbook", "runbook", 22),
    ("Condition", "condition", 40),
]
SEVERITY_STYLES = {"Sev0": "bold white on red", "Sev1": "bold red", "Sev2": "yellow", "Sev3": "cyan", "Sev4": "dim"}
STATE_STYLES = {"New": "bold", "Acknowledged": "italic", "Closed": "dim"}


def age_text(moment: datetime | None, now: datetime) -> str:
    """How long ago: `3m`, `2h 5m`, `4d 3h`."""
    if moment is None:
        return "–"
    minutes = max(0, int((now - moment).total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h ago"
    return f"{hours}h {minutes}m ago" if hours else f"{minutes}m ago"


def summary_text(summary: AlertSummary | None, shown: int, wanted: AlertFilter) -> Text:
    """The header line: the counts by severity (styled) and state, and the filter in force."""
    line = Text()
    if summary is None:
        line.append("reading the summary…", style="italic")
    else:
        line.append(f"{summary.total} alerts ", style="bold")
        for name, count in summary.by_severity:
            line.append(f" {name} {count} ", style=SEVERITY_STYLES.get(name, "") if count else "dim")
        line.append("  ")
        line.append(", ".join(f"{name} {count}" for name, count in summary.by_state))
    line.append(f"   [{wanted.text}]", style="dim")
    if summary is not None and shown != summary.total:
        line.append(f"  {shown} shown")
    return line


def detail_text(alert: Alert, rule: AlertRule | None, history: list[AlertChange] | None, now: datetime) -> Text:
    """The selected alert: rule, condition and threshold, target, times, and its history with comments."""
    text = Text()
    text.append(f"{alert.severity} ", style=SEVERITY_STYLES.get(alert.severity, ""))
    text.append(f"{alert.name}", style="bold")
    text.append(f"   {alert.state}, {alert.condition}   {alert.description}\n")
    detail = alert.detail
    text.append("condition ", style="bold")
    text.append(f"{detail.text or (rule.condition if rule else '') or 'not given'}")
    if detail.window_start and detail.window_end:
        text.append(f"   window {detail.window_start:%Y-%m-%d %H:%M} – {detail.window_end:%H:%M} UTC")
    text.append("\n")
    if detail.query:
        text.append("query     ", style="bold")
        text.append(detail.query.replace("\n", " "), style="cyan")
        text.append("\n")
    text.append("target    ", style="bold")
    text.append(f"{alert.target}\n")
    text.append("fired     ", style="bold")
    text.append(f"{alert.started:%Y-%m-%d %H:%M:%S} UTC ({age_text(alert.started, now)})")
    if alert.resolved:
        text.append("   resolved ", style="bold")
        text.append(f"{alert.resolved:%Y-%m-%d %H:%M:%S} UTC")
    text.append("\n")
    if rule is not None:
        runbook = rule.tag("runbook")
        text.append("rule      ", style="bold")
        text.append(f"{rule.kind}, {'enabled' if rule.enabled else 'disabled'}, every {rule.frequency or '–'}")
        text.append(f"   runbook {runbook} (b opens it)" if runbook else "   no runbook tagged")
        text.append("\n")
    text.append("\nhistory\n", style="bold")
    if history is None:
        text.append("reading…\n", style="italic")
    for change in history or []:
        text.append(f" {change.at:%Y-%m-%d %H:%M:%S} ", style="dim")
        text.append(f"{change.description or change.event}")
        text.append(f"  by {change.who}", style="dim")
        if change.comments:
            text.append(f"  “{change.comments}”", style="italic")
        text.append("\n")
    return text


class AlertsScreen(ListAreaScreen):
    """Fired alerts and alert rules; every change asks first and runs in the operation panel."""

    AREA = "alerts"
    AUTO_FOCUS = "#alerts-table"
    DEFAULT_CSS = """
    AlertsScreen #crumbs { height: 1; padding: 0 1; }
    AlertsScreen #alerts-area { height: 1fr; }
    AlertsScreen #alert-detail { height: 40%; border-top: hkey $panel; padding: 0 1; }
    AlertsScreen #alert-detail.-hidden { display: none; }
    """
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="alerts.refresh"),
        Binding("space", "mark", "Mark", id="alerts.mark"),
        Binding("asterisk", "mark_all", "Mark all", id="alerts.mark_all"),
        Binding("a", "acknowledge", "Acknowledge", id="alerts.acknowledge"),
        Binding("c", "close", "Close", id="alerts.close"),
        Binding("l", "open_logs", "Logs", id="alerts.logs"),
        Binding("b", "open_runbook", "Runbook", id="alerts.runbook"),
        Binding("f", "edit_filter", "Filter alerts", id="alerts.filter"),
        Binding("s", "toggle_sort", "Sort", show=False, id="alerts.sort"),
        Binding("d", "toggle_detail", "Detail", id="alerts.detail"),
        Binding("R", "toggle_rules", "Rules", id="alerts.rules"),
        Binding("e", "enable_rule", "Enable rule", show=False, id="alerts.enable"),
        Binding("x", "disable_rule", "Disable rule", show=False, id="alerts.disable"),
        Binding("t", "toggle_live", "Live", id="alerts.live"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="alerts.clear_filter"),
    ]
    LOAD_FAILURES = {"alerts-load": "Could not list the fired alerts.", "alerts-rules": "Could not list the rules."}

    def __init__(
        self,
        context: ShellContext,
        service: AlertsService,
        list_subscriptions: Callable[[], Awaitable[list[Subscription]]],
        find_runbook: Callable[[str], Runbook] | None = None,
        refresh_seconds: float = 30.0,
    ) -> None:
        super().__init__(context, refresh_seconds, list_subscriptions)
        self.service = service
        self.find_runbook = find_runbook
        self.wanted = AlertFilter()
        self.alerts: list[Alert] = []
        self.shown: list[Alert] = []
        self.marked: set[str] = set()
        """Ids of the marked alerts (space, `*`): what acknowledge and close act on."""
        self.fresh: set[str] = set()
        """Alerts that appeared since the previous listing (the live cue)."""
        self.summary: AlertSummary | None = None
        self.rules: list[AlertRule] = []
        self.showing_rules = False
        self.by_time = False
        """Newest first (else most severe first, then newest)."""
        self.live = False
        self._listed = False
        self._detail_for: str | None = None
        self._histories: dict[str, tuple[Alert, list[AlertChange]]] = {}
        """Per alert: the alert as read with its condition, and its history."""
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """What "now" is for the ages shown (a test pins it)."""

    def compose_body(self) -> ComposeResult:
        yield from self.compose_list(
            DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True),
            DataTable(id="rules-table", cursor_type="row", zebra_stripes=True),
            empty_text="No alert fired in this time range.",
            states_id="alerts-area",
            detail_id="alert-detail",
        )

    def on_mount(self) -> None:
        super().on_mount()
        for table_id, columns in (("#alerts-table", ALERT_COLUMNS), ("#rules-table", RULE_COLUMNS)):
            table = self.query_one(table_id, DataTable)
            for label, key, width in columns:
                table.add_column(label, key=key, width=width)
        self.load_alerts()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#alerts-table", DataTable)

    @property
    def rules_table(self) -> DataTable[Any]:
        return self.query_one("#rules-table", DataTable)

    # loading -------------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="alerts-load", name="list fired alerts")
    async def load_alerts(self) -> None:
        if not self._listed:
            self.states.show_loading()
        await self.known_subscriptions()
        subscription = self.context.current.subscription_id if self.context.current else None
        self.set_waiting("reading the fired alerts…")
        before = {a.id for a in self.alerts}

        def page(so_far: list[Alert]) -> None:
            if not self._listed and not self.shown:  # the first page paints before the last has come
                self._replace(so_far, before)

        found = await self.service.list_alerts(self.wanted, subscription, on_page=page)
        self._listed = True
        self._replace(found, before)
        self.set_waiting("")
        self.summary = await self.service.summary(self.wanted, subscription)
        self.update_crumbs()
        self.arm_refresh(self.load_alerts)

    def _replace(self, found: list[Alert], before: set[str]) -> None:
        fresh = {a.id for a in found} - before if self._listed and before else set()
        if fresh:
            self.fresh |= fresh
            self.notify(f"{len(fresh)} new alert{'s' if len(fresh) != 1 else ''} fired.", title="Alerts", timeout=6)
        self.alerts = found
        known = {a.id for a in found}
        self.marked &= known
        self._histories.clear()
        self._detail_for = None
        self.show_rows()

    def reload(self) -> None:
        if self.showing_rules:
            self.load_rules()
        else:
            self.load_alerts()

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        if worker.group == "alerts-load" and self.alerts:
            self.refresh_failed("the alerts", message)
            return True
        if worker.group == "alerts-detail":
            self.query_one("#alert-detail-body", Static).update(
                Text.assemble(("Could not read the alert's history.\n\n", "bold"), message)
            )
            return True
        if worker.group == "alerts-change":
            self.notify(message, title="The change failed", severity="error", timeout=15)
            self.reload()
            return True
        return False

    # showing -------------------------------------------------------------------------------------

    def _ordered(self) -> list[Alert]:
        if self.by_time:
            return sorted(self.alerts, key=lambda a: a.started, reverse=True)
        return self.alerts

    def show_rows(self) -> None:
        if self.showing_rules:
            self._show_rules()
            return
        table = self.table
        keep = self._selected()
        pattern, inverse = compile_filter(self.filter_text)
        self.shown = []
        for alert in self._ordered():
            fields = [alert.name, alert.severity, alert.state, alert.condition, alert.target_name, alert.target_group]
            if pattern is not None and any(pattern.search(f) for f in fields) == inverse:
                continue
            self.shown.append(alert)
        table.clear()
        now = self.clock()
        for alert in self.shown:
            table.add_row(*self._cells(alert, now), key=alert.id)
        if keep is not None:
            index = next((i for i, a in enumerate(self.shown) if a.id == keep.id), None)
            if index is not None:
                table.move_cursor(row=index, animate=False)
        self.update_crumbs()
        if self.shown:
            self.states.show_content()
            self._show_detail()
        elif self.alerts:
            self.states.show_empty("No alert matches the filter.")
        elif self._listed:
            self.states.show_empty()

    def _cells(self, alert: Alert, now: datetime) -> list[Any]:
        if alert.id in self.marked:
            mark = Text("●", style="bold magenta")
        elif alert.id in self.fresh:
            mark = Text("✱", style="bold yellow")
        else:
            mark = Text(" ")
        condition = Text(alert.condition, style="bold red" if alert.condition == "Fired" else "green")
        return [
            mark,
            Text(alert.severity, style=SEVERITY_STYLES.get(alert.severity, "")),
            Text(alert.state, style=STATE_STYLES.get(alert.state, "")),
            condition,
            Text(alert.name, style="bold" if alert.id in self.fresh else ""),
            Text(alert.target_name),
            Text(alert.target_group),
            age_text(alert.started, now),
            age_text(alert.resolved, now) if alert.resolved else "–",
        ]

    def _refresh_marks(self) -> None:
        now = self.clock()
        for alert in self.shown:
            self.table.update_cell(alert.id, "mark", self._cells(alert, now)[0])
        self.update_crumbs()

    def update_crumbs(self) -> None:
        if self.showing_rules:
            line = Text(f"{len(self.rules)} alert rules", style="bold")
            line.append("   e enables, x disables, R goes back to the fired alerts", style="dim")
        else:
            line = summary_text(self.summary, len(self.shown), self.wanted)
            if self.marked:
                line.append(f"   {len(self.marked)} marked", style="bold magenta")
        if self.filter_text:
            line.append(f"   /{self.filter_text}")
            problem = filter_problem(self.filter_text)
            if problem:
                line.append(f" ({problem})")
        if self.live:
            line.append("   ● live", style="bold green")
        if self.waiting:
            line.append(f"   {self.waiting}", style="italic")
        self.query_one("#crumbs", Static).update(line)

    def _selected(self) -> Alert | None:
        table = self.table
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    @on(DataTable.RowHighlighted, "#alerts-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        if self.query_one("#alert-detail").has_class("-hidden") or self.showing_rules:
            return
        alert = self._selected()
        if alert is None or alert.id == self._detail_for:
            return
        self._detail_for = alert.id
        rule = self.service.known_rule(alert.rule_id)
        read = self._histories.get(alert.id)
        full, history = read if read is not None else (alert, None)
        self.query_one("#alert-detail-body", Static).update(detail_text(full, rule, history, self.clock()))
        if read is None:
            self.load_detail(alert)

    @work(exclusive=True, exit_on_error=False, group="alerts-detail", name="alert history")
    async def load_detail(self, alert: Alert) -> None:
        # A listing carries no condition (Azure pages it 25 at a time): the alert itself is read for it.
        full = await self.service.get_alert(alert)
        history = await self.service.history(alert)
        rule = await self.service.rule_of(alert)
        self._histories[alert.id] = (full, history)
        if self._detail_for == alert.id:
            body = detail_text(full, rule, history, self.clock())
            self.query_one("#alert-detail-body", Static).update(body)

    # plain actions -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.set_waiting("refreshing…")
        self.reload()

    def action_clear_filter(self) -> None:
        self.clear_filter()

    def action_mark(self) -> None:
        """Space marks or unmarks the selected alert and moves on."""
        alert = self._selected()
        if alert is None or self.showing_rules:
            return
        self.marked ^= {alert.id}
        self._refresh_marks()
        if self.table.cursor_row < len(self.shown) - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1, animate=False)

    def action_mark_all(self) -> None:
        """`*` marks every alert shown (again: unmarks them)."""
        if self.showing_rules:
            return
        shown = {a.id for a in self.shown}
        self.marked = self.marked - shown if shown <= self.marked else self.marked | shown
        self._refresh_marks()

    def action_toggle_sort(self) -> None:
        self.by_time = not self.by_time
        self.notify("Newest first." if self.by_time else "Most severe first, then newest.", timeout=3)
        self.show_rows()

    def action_toggle_detail(self) -> None:
        pane = self.query_one("#alert-detail")
        pane.toggle_class("-hidden")
        self._detail_for = None
        self._show_detail()

    def action_toggle_live(self) -> None:
        """`t`: read the alerts every few seconds; new ones are marked ✱ and announced."""
        self.live = not self.live
        self.refresh_seconds = LIVE_SECONDS if self.live else self._configured_refresh
        self.update_crumbs()
        self.arm_refresh(self.load_alerts)

    @property
    def _configured_refresh(self) -> float:
        return float(self.service.context.settings.refresh_seconds)

    def action_edit_filter(self) -> None:
        def chosen(text: str | None) -> None:
            if text is None:
                return
            self.wanted = parse_filter(text)
            self.fresh.clear()
            self._listed = False
            self.alerts = []
            self.load_alerts()

        self.app.push_screen(AlertFilterScreen(self.wanted.text, parse_filter), chosen)

    def subscription_changed(self, subscription: Subscription) -> None:
        self.alerts, self._listed, self.marked = [], False, set()
        self.reload()

    # where an alert leads ------------------------------------------------------------------------

    def action_open_logs(self) -> None:
        """`l` opens the rule's KQL in Logs over the alert's window, on the rule's workspace."""
        alert = self._selected()
        if alert is None or self.showing_rules:
            self.notify("No alert selected: move to one, then l opens its evidence in Logs.", severity="warning")
            return
        self.open_logs(alert)

    @work(exclusive=True, exit_on_error=False, group="alerts-open", name="open in logs")
    async def open_logs(self, alert: Alert) -> None:
        read = self._histories.get(alert.id)
        full = read[0] if read is not None else await self.service.get_alert(alert)
        rule = await self.service.rule_of(alert)
        query, timespan, scope = logs_request(full, rule, datetime.now(UTC))
        self.post_message(OpenInLogs(query, timespan, scope))

    def action_open_runbook(self) -> None:
        """`b` opens the runbook the alert's rule is tagged with, its parameters filled from the alert."""
        alert = self._selected()
        if alert is None or self.showing_rules:
            self.notify("No alert selected: move to one, then b opens its runbook.", severity="warning")
            return
        self.open_runbook(alert)

    @work(exclusive=True, exit_on_error=False, group="alerts-open", name="open runbook")
    async def open_runbook(self, alert: Alert) -> None:
        read = self._histories.get(alert.id)
        alert = read[0] if read is not None else await self.service.get_alert(alert)
        rule = await self.service.rule_of(alert)
        name = rule.tag("runbook") if rule is not None else ""
        if not name:
            self.notify(f"The rule {alert.name} is tagged with no runbook (tag it: runbook=NAME).", severity="warning")
            return
        parameters: list[str] = []
        if self.find_runbook is not None:
            try:
                parameters = [p.name for p in self.find_runbook(name).parameters]
            except Exception as error:  # a runbook that is not there is told, not fatal
                self.notify(f"The runbook {name} could not be opened: {error}", severity="error")
                return
        runbook, values = runbook_request(alert, rule, parameters)
        self.post_message(OpenRunbook(runbook, values))

    # changes -------------------------------------------------------------------------------------

    def _targets(self) -> list[Alert]:
        """The marked alerts shown (or, with none marked, the selected one)."""
        marked = [a for a in self.alerts if a.id in self.marked]
        if marked:
            return marked
        selected = self._selected()
        return [selected] if selected is not None else []

    def _writable(self, subscription_ids: set[str], action: str) -> bool:
        """Read-only refuses here, with the service's sentence, before any dialog or request."""
        try:
            for subscription_id in subscription_ids:
                self.service.ensure_writable(subscription_id, action, confirmed=True)
        except OpsError as refused:
            self.notify(refused.message, title="Read-only", severity="error", timeout=10)
            return False
        return True

    def action_acknowledge(self) -> None:
        """`a` acknowledges the marked alerts (or the selected one), with a comment."""
        self._start_change("Acknowledged")

    def action_close(self) -> None:
        """`c` closes the marked alerts (or the selected one), with a comment."""
        self._start_change("Closed")

    def _start_change(self, state: str) -> None:
        if self.showing_rules:
            return
        chosen = self._targets()
        verb = "acknowledge" if state == "Acknowledged" else "close"
        if not chosen:
            self.notify(f"No alert selected: mark some with space (or * for all), then {verb[0]}.", severity="warning")
            return
        action = f"{verb} {len(chosen)} alert{'s' if len(chosen) != 1 else ''}"
        if not self._writable({a.subscription_id for a in chosen}, action):
            return

        def commented(comment: str | None) -> None:
            if comment is None:
                self.notify("Cancelled: nothing was sent.", title=action.capitalize())
                return
            lines = [f"{a.severity:<5} {a.state:<13} {a.name}  {a.short_id}" for a in chosen[:12]]
            if len(chosen) > 12:
                lines.append(f"… and {len(chosen) - 12} more")
            lines.append(f"comment   {comment or '(none)'}")
            subscription = self.context.subscription_name(chosen[0].subscription_id)
            request = ChangeRequest(
                action,
                subscription,
                chosen[0].id if len(chosen) == 1 else f"{len(chosen)} fired alerts in {subscription}",
                subscription,
                protected=any(self.context.protected(a.subscription_id) for a in chosen),
                details="\n".join(lines),
            )
            self.confirm_change(request, lambda: self.change_alerts(chosen, state, comment))

        self.app.push_screen(CommentScreen(f"{action[:1].upper()}{action[1:]}: a comment for their history"), commented)

    @work(exclusive=True, exit_on_error=False, group="alerts-change", name="change alert states")
    async def change_alerts(self, chosen: list[Alert], state: str, comment: str) -> None:
        verb = "acknowledge" if state == "Acknowledged" else "close"
        action = f"{verb} {len(chosen)} alert{'s' if len(chosen) != 1 else ''}"
        target = self.context.subscription_name(chosen[0].subscription_id)

        async def change(progress: Callable[[OperationProgress], None]) -> Any:
            failures = 0
            started = datetime.now(UTC)

            def told(done: int, total: int, alert: Alert, error: str | None) -> None:
                nonlocal failures
                failures += error is not None
                elapsed = (datetime.now(UTC) - started).total_seconds()
                status = f"{done} of {total} done" + (f", {failures} failed" if failures else "")
                progress(OperationProgress(action, target, status, elapsed, done == total))

            return await self.service.change_state(chosen, state, comment, confirmed=True, progress=told)

        outcome = await self.run_change(action, target, change, _outcome_text)
        self.marked -= {a.id for a in outcome.changed}
        if outcome.failed:
            self.notify(_outcome_text(outcome), title="Some alerts were not changed", severity="error", timeout=15)
        self.load_alerts()

    # rules ---------------------------------------------------------------------------------------

    def action_toggle_rules(self) -> None:
        """`R` switches between the fired alerts and the rules."""
        self.showing_rules = not self.showing_rules
        self.query_one("#alert-detail").set_class(self.showing_rules, "-hidden")
        if self.showing_rules:
            self.states.current = "rules-table"
            self.rules_table.focus()
            self.load_rules()
        else:
            self.states.show_content()
            self.table.focus()
            self.show_rows()
        self.update_crumbs()

    @work(exclusive=True, exit_on_error=False, group="alerts-rules", name="list alert rules")
    async def load_rules(self) -> None:
        subscription = self.context.current.subscription_id if self.context.current else None
        self.set_waiting("reading the rules…")
        self.rules = await self.service.list_rules(subscription)
        self.set_waiting("")
        if self.showing_rules:
            self._show_rules()

    def _show_rules(self) -> None:
        table = self.rules_table
        row = table.cursor_row
        table.clear()
        pattern, inverse = compile_filter(self.filter_text)
        now = self.clock()
        for rule in self.rules:
            if pattern is not None and any(pattern.search(f) for f in (rule.name, rule.kind)) == inverse:
                continue
            table.add_row(
                Text(rule.name, style="bold" if rule.enabled else "dim"),
                rule.kind,
                Text("yes", style="green") if rule.enabled else Text("no", style="bold red"),
                f"Sev{rule.severity}" if rule.severity is not None else "–",
                rule.frequency or "–",
                rule.window or "–",
                Text("firing", style="bold red") if rule.firing else "",
                age_text(rule.last_fired, now) if rule.last_fired else "never",
                rule.tag("runbook") or "–",
                rule.condition,
                key=rule.id,
            )
        if 0 <= row < table.row_count:
            table.move_cursor(row=row, animate=False)
        self.states.current = "rules-table"
        self.update_crumbs()

    def _selected_rule(self) -> AlertRule | None:
        table = self.rules_table
        if not self.showing_rules or table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.rules if r.id == key), None)

    def action_enable_rule(self) -> None:
        self._start_rule_change(True)

    def action_disable_rule(self) -> None:
        self._start_rule_change(False)

    def _start_rule_change(self, enabled: bool) -> None:
        rule = self._selected_rule()
        verb = "enable" if enabled else "disable"
        if rule is None:
            self.notify(f"R shows the rules: move to one, then {verb[0]} {verb}s it.", severity="warning")
            return
        action = f"{verb} the alert rule"
        if not self._writable({rule.subscription_id}, f"{action} {rule.name}"):
            return
        now = "enabled" if rule.enabled else "disabled"
        details = f"rule      {rule.name} ({rule.kind})\nnow       {now}\nafter     {verb}d"
        request = ChangeRequest(
            action,
            rule.name,
            rule.id,
            self.context.subscription_name(rule.subscription_id),
            protected=self.context.protected(rule.subscription_id),
            details=details,
        )
        self.confirm_change(request, lambda: self.change_rule(rule, enabled))

    @work(exclusive=True, exit_on_error=False, group="alerts-change", name="enable or disable a rule")
    async def change_rule(self, rule: AlertRule, enabled: bool) -> None:
        verb = "enable" if enabled else "disable"
        await self.run_change(
            f"{verb} the alert rule",
            rule.name,
            lambda progress: self.service.set_rule_enabled(rule, enabled, confirmed=True, progress=progress),
            lambda changed: f"{changed.name} is {'enabled' if changed.enabled else 'disabled'}.",
        )
        self.load_rules()


def _outcome_text(outcome: Any) -> str:
    text = f"{outcome.text[:1].upper()}{outcome.text[1:]}."
    for alert_id, error in outcome.failed[:5]:
        text += f"\n{alert_id.rsplit('/', 1)[-1]}: {error}"
    return text
