"""Cost: budgets worst first, the selected budget's daily and accumulated cost against its amount with the
forecast, the break-down against the previous period, and anomalies with why they moved; `e` changes a
budget's amount and thresholds through the mutation path."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker

from console.errors import OpsError
from console.models import OperationProgress, Subscription
from console.services.cost import CostScope, CostService
from console.services.cost_analysis import (
    Anomaly,
    BreakdownRow,
    BudgetStatus,
    Threshold,
    accumulated,
    worst_first,
)
from screens.area import FilterBox, ListAreaScreen, ListStates
from screens.filtering import compile_filter
from screens.shell import ShellContext
from screens.widgets.chart import ResultChart
from screens.widgets.confirm import ChangeRequest

BUDGET_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
GROUPINGS = ("service", "group", "resource", "meter", "tag:env", "tag:owner")
BUDGET_COLUMNS = [
    ("Budget", 24),
    ("Amount", 10),
    ("Spent", 10),
    ("Used", 7),
    ("Forecast", 10),
    ("Fcst %", 7),
    ("Crosses on", 11),
    ("Thresholds crossed", 30),
    ("From", 13),
]


def money(value: float) -> str:
    return f"{value:,.2f}"


def budget_chart_table(budget: BudgetStatus) -> pa.Table:
    """The budget's period as chart rows: accumulated spend, the forecast from the last actual day, the amount."""
    days: list[dt.datetime] = []
    series: list[str] = []
    values: list[float] = []

    def add(name: str, day: dt.date, value: float) -> None:
        days.append(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
        series.append(name)
        values.append(value)

    spent = accumulated(budget.daily)
    for entry in spent:
        add("spent", entry.day, entry.amount)
    start = spent[-1].amount if spent else 0.0
    if spent:
        add("forecast", spent[-1].day, start)
    for entry in accumulated(budget.forecast_days, start):
        add("forecast", entry.day, entry.amount)
    add("budget", budget.period_start, budget.amount)
    add("budget", budget.period_end, budget.amount)
    for entry in budget.daily:
        add("daily", entry.day, entry.amount)
    return pa.table(
        {
            "day": pa.array(days, pa.timestamp("us", tz="UTC")),
            "series": pa.array(series, pa.string()),
            "cost": pa.array(values, pa.float64()),
        }
    )


def parse_thresholds(text: str) -> list[Threshold]:
    """`80, 100, f100` as thresholds: a bare number is of actual spend, `f` before it of the forecast."""
    found = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind = "Forecasted" if part[:1].lower() == "f" else "Actual"
        number = part[1:] if kind == "Forecasted" else part
        try:
            percent = float(number.rstrip("%"))
        except ValueError:
            raise ValueError(f"{part!r} is not a percentage (80, or f100 for the forecast).") from None
        if not 0 < percent <= 1000:
            raise ValueError(f"{part!r}: a threshold is above 0 and at most 1000 percent.")
        found.append(Threshold("", percent, kind))
    if len(found) > 5:
        raise ValueError("A budget has at most 5 thresholds.")
    return found


def thresholds_text(thresholds: tuple[Threshold, ...]) -> str:
    return ", ".join(f"{'f' if t.kind == 'Forecasted' else ''}{t.percent:g}" for t in thresholds)


@dataclass(frozen=True)
class BudgetPlan:
    """What the budget form asks for: the name (new budgets), the amount and the thresholds."""

    name: str
    amount: float
    thresholds: list[Threshold]


class BudgetForm(ModalScreen[BudgetPlan | None]):
    """Ask for a budget's amount and thresholds (`80, 100, f100`: f marks a forecast threshold); with no
    budget given, for a new monthly budget's name too."""

    DEFAULT_CSS = """
    BudgetForm { align: center middle; }
    BudgetForm > Vertical { width: 80; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    BudgetForm Input, BudgetForm Input:focus {
        height: 1; border: none; padding: 0 1; background: $boost; margin: 1 0 0 0;
    }
    BudgetForm #budget-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="budget.cancel")]

    def __init__(self, budget: BudgetStatus | None) -> None:
        super().__init__()
        self.budget = budget

    def compose(self) -> ComposeResult:
        budget = self.budget
        with Vertical():
            if budget is None:
                yield Static(Text("New monthly budget: its name", "bold"))
                yield Input("", id="budget-name", placeholder="budget-team-monthly")
                yield Static(Text("Amount per month", "bold"))
                yield Input("", id="budget-amount")
            else:
                yield Static(Text(f"Budget {budget.name}: amount per {budget.time_grain.lower()} period", "bold"))
                yield Input(f"{budget.amount:g}", id="budget-amount", select_on_focus=True)
            yield Static(Text("Thresholds in percent (f before one: of the forecast)", "bold"))
            shown = thresholds_text(budget.thresholds) if budget is not None else "80, 100, f100"
            yield Input(shown, id="budget-thresholds")
            yield Static("", id="budget-problem")
            yield Static(Text("enter goes on, tab moves, esc cancels", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#budget-name" if self.budget is None else "#budget-amount", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.query_one("#budget-problem", Static)
        name = self.budget.name if self.budget is not None else self.query_one("#budget-name", Input).value.strip()
        if not BUDGET_NAME.fullmatch(name):
            problem.update("A budget's name is 1 to 63 letters, digits, hyphens or underscores.")
            return
        try:
            amount = float(self.query_one("#budget-amount", Input).value.replace(",", ""))
        except ValueError:
            problem.update("The amount is a number, such as 2500.")
            return
        if not amount > 0:
            problem.update("The amount must be above 0.")
            return
        try:
            thresholds = parse_thresholds(self.query_one("#budget-thresholds", Input).value)
        except ValueError as error:
            problem.update(str(error))
            return
        self.dismiss(BudgetPlan(name, amount, thresholds))

    def action_cancel(self) -> None:
        self.dismiss(None)


class CostScreen(ListAreaScreen):
    """Budgets of the current subscription, worst first; the selected one's chart; the break-down or the
    anomalies below. The data's age and the cost API's remaining quota are in the crumbs."""

    AREA = "cost"
    AUTO_FOCUS = "#budgets-table"
    DEFAULT_CSS = """
    CostScreen #crumbs { height: 1; padding: 0 1; color: $text-muted; }
    CostScreen #cost-area { height: 1fr; }
    CostScreen #cost-body { height: 1fr; }
    CostScreen #budgets-table { height: auto; max-height: 8; }
    CostScreen #cost-chart { height: 12; border-top: hkey $panel; }
    CostScreen #cost-lower { height: 1fr; border-top: hkey $panel; }
    CostScreen #cost-detail-title { height: 1; padding: 0 1; text-style: bold; }
    CostScreen #cost-detail { width: 3fr; }
    CostScreen #cost-why { width: 2fr; padding: 0 1; border-left: vkey $panel; }
    """
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="cost.refresh"),
        Binding("e", "edit_budget", "Edit budget", id="cost.edit"),
        Binding("n", "new_budget", "New budget", id="cost.new"),
        Binding("a", "toggle_lower", "Anomalies/Break-down", id="cost.anomalies"),
        Binding("g", "next_grouping", "Group by", id="cost.group"),
        Binding("tab", "focus_next_table", "Next table", show=False, id="cost.next_table"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="cost.clear_filter"),
    ]
    LOAD_FAILURES = {"cost-load": "Could not read the cost."}

    def __init__(
        self,
        context: ShellContext,
        service: CostService,
        list_subscriptions: Callable[[], Awaitable[list[Subscription]]],
        refresh_seconds: float = 300.0,
    ) -> None:
        super().__init__(context, refresh_seconds, list_subscriptions)
        self.service = service
        self.budgets: list[BudgetStatus] = []
        self.breakdown: list[BreakdownRow] = []
        self.anomalies: list[Anomaly] = []
        self.lower = "breakdown"
        """What the lower pane shows: the break-down or the anomalies."""
        self.grouping = GROUPINGS[0]
        self._loaded = False
        self._fresh = False

    def compose_body(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="crumbs")
            yield FilterBox()
            yield ListStates(
                Vertical(
                    DataTable(id="budgets-table", cursor_type="row", zebra_stripes=True),
                    ResultChart(id="cost-chart"),
                    Vertical(
                        Static("", id="cost-detail-title"),
                        Horizontal(
                            DataTable(id="cost-detail", cursor_type="row", zebra_stripes=True),
                            Static("", id="cost-why"),
                        ),
                        id="cost-lower",
                    ),
                    id="cost-body",
                ),
                empty_text="No cost in this subscription.",
                id="cost-area",
            )

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#budgets-table", DataTable)
        for label, width in BUDGET_COLUMNS:
            table.add_column(label, width=width)
        self.set_interval(5, self.update_crumbs)  # the data's age keeps counting
        self.load()

    @property
    def scope(self) -> CostScope | None:
        current = self.context.current
        return CostScope(current.subscription_id) if current is not None else None

    # loading --------------------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="cost-load", name="read cost")
    async def load(self) -> None:
        if not self._loaded:
            self.states.show_loading()
        await self.known_subscriptions()
        scope = self.scope
        if scope is None:
            self.states.show_empty("No subscription is open.")
            return
        fresh, self._fresh = self._fresh, False
        self.set_waiting("reading budgets…")
        self.budgets = await self.service.budgets(scope, fresh=fresh)
        self.set_waiting(f"reading the break-down by {self.grouping}…")
        self.breakdown = await self.service.breakdown(scope, self.grouping, fresh=fresh)
        self.set_waiting("looking for anomalies…")
        self.anomalies = await self.service.anomalies(scope, fresh=fresh)
        self._loaded = True
        self.set_waiting("")
        self.show_rows()
        self.arm_refresh(self.load)

    @work(exclusive=True, exit_on_error=False, group="cost-grouping", name="read the break-down")
    async def load_breakdown(self) -> None:
        scope = self.scope
        if scope is None:
            return
        self.set_waiting(f"reading the break-down by {self.grouping}…")
        self.breakdown = await self.service.breakdown(scope, self.grouping)
        self.set_waiting("")
        self._show_lower()

    def reload(self) -> None:
        self.load()

    def subscription_changed(self, subscription: Subscription) -> None:
        self._loaded = False
        self.budgets, self.breakdown, self.anomalies = [], [], []
        self.load()

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        self.set_waiting("")
        if worker.group == "cost-load" and self._loaded:
            self.refresh_failed("the cost", message)
            return True
        if worker.group == "cost-change":
            self.notify(message, title="The budget change failed", severity="error", timeout=15)
            self.load()
            return True
        return False

    # showing ----------------------------------------------------------------------------------------------

    def show_rows(self) -> None:
        if not self._loaded:
            return
        table = self.query_one("#budgets-table", DataTable)
        keep = table.cursor_row
        table.clear()
        for budget in self.budgets:
            bad = budget.breaches
            table.add_row(
                Text(budget.name, style="bold red" if bad else "bold"),
                money(budget.amount),
                money(budget.spent),
                f"{budget.percent_used:g}%",
                Text(money(budget.forecast), style="red" if bad else ""),
                Text(f"{budget.forecast_percent:g}%", style="red" if bad else "green"),
                Text(budget.breach_date.isoformat() if budget.breach_date else "–", style="bold red" if bad else ""),
                ", ".join(budget.crossed) or "–",
                budget.forecast_source,
                key=budget.name,
            )
        if self.budgets:
            table.move_cursor(row=min(keep, len(self.budgets) - 1), animate=False)
        self.states.show_content()
        self._show_chart()
        self._show_lower()
        self.update_crumbs()

    def selected_budget(self) -> BudgetStatus | None:
        table = self.query_one("#budgets-table", DataTable)
        if not self.budgets or table.cursor_row < 0:
            return None
        return self.budgets[min(table.cursor_row, len(self.budgets) - 1)]

    @on(DataTable.RowHighlighted, "#budgets-table")
    def _budget_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_chart()

    @on(DataTable.RowHighlighted, "#cost-detail")
    def _detail_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_why()

    def _show_chart(self) -> None:
        chart = self.query_one("#cost-chart", ResultChart)
        budget = self.selected_budget()
        if budget is None:
            chart.clear()
            return
        chart.plot(budget_chart_table(budget), "timechart")

    def _filtered(self, fields: list[str]) -> bool:
        pattern, inverse = compile_filter(self.filter_text)
        return pattern is None or any(pattern.search(f) for f in fields) != inverse

    def _show_lower(self) -> None:
        table = self.query_one("#cost-detail", DataTable)
        title = self.query_one("#cost-detail-title", Static)
        table.clear(columns=True)
        if self.lower == "breakdown":
            title.update(f"Break-down by {self.grouping}: the last 30 days against the 30 before (g: group by)")
            for label, width in ((self.grouping, 34), ("Cost", 11), ("Previous", 11), ("Change", 11), ("%", 8)):
                table.add_column(label, width=width)
            for row in self.breakdown:
                if not self._filtered([row.key]):
                    continue
                change = Text(f"{row.change:+,.2f}", style="red" if row.change > 0 else "green")
                percent = "new" if row.change_percent is None else f"{row.change_percent:+g}%"
                table.add_row(row.key, money(row.current), money(row.previous), change, percent)
        else:
            title.update("Anomalies over the last 90 days, newest first (a: the break-down)")
            for label, width in (("Kind", 14), ("Subject", 22), ("Date", 11), ("Amount", 10), ("Why", 60)):
                table.add_column(label, width=width)
            for anomaly in self.anomalies:
                if not self._filtered([anomaly.kind, anomaly.subject, anomaly.why]):
                    continue
                style = {"spike": "bold red", "new cost": "yellow", "stopped cost": "cyan"}.get(anomaly.kind, "magenta")
                table.add_row(
                    Text(anomaly.kind, style=style),
                    anomaly.subject,
                    anomaly.day.isoformat(),
                    money(anomaly.amount),
                    anomaly.why,
                    key=f"{anomaly.kind}/{anomaly.subject}/{anomaly.day}",
                )
        self._show_why()

    def _shown_anomalies(self) -> list[Anomaly]:
        return [a for a in self.anomalies if self._filtered([a.kind, a.subject, a.why])]

    def _show_why(self) -> None:
        why = self.query_one("#cost-why", Static)
        if self.lower != "anomalies":
            why.update(Text("a shows the anomalies and why each one moved", style="dim"))
            return
        shown = self._shown_anomalies()
        table = self.query_one("#cost-detail", DataTable)
        if not shown or table.cursor_row < 0:
            why.update(Text("No anomaly.", style="dim"))
            return
        anomaly = shown[min(table.cursor_row, len(shown) - 1)]
        text = Text()
        text.append(f"{anomaly.kind} · {anomaly.subject} · {anomaly.day.isoformat()}\n", style="bold")
        text.append(f"rule: {anomaly.rule}\n", style="dim")
        if anomaly.contributors:
            text.append("\nwhy it moved (against each meter's baseline, largest first):\n", style="bold")
            for contributor in anomaly.contributors:
                text.append(f"{contributor.change:+9.2f}  ", style="red")
                text.append(f"{contributor.resource_name}", style="bold")
                text.append(f"  {contributor.meter}  ({contributor.baseline:.2f} → {contributor.actual:.2f})\n")
        why.update(text)

    def update_crumbs(self) -> None:
        if not self.is_mounted:
            return
        current = self.context.current
        parts = [current.display_name if current else "no subscription"]
        fetched = self.service.last_fetched
        if fetched is not None:
            age = max(time.time() - fetched, 0.0)
            if age < 5:
                parts.append("data just read")
            else:
                parts.append(f"data {age:.0f} s old" if age < 120 else f"data {age / 60:.0f} min old")
        if self.service.remaining:
            parts.append(f"quota {self.service.remaining}")
        if self.waiting:
            parts.append(self.waiting)
        self.query_one("#crumbs", Static).update(Text("  ·  ".join(parts)))

    # actions ----------------------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._fresh = True
        self.set_waiting("refreshing…")
        self.load()

    def action_clear_filter(self) -> None:
        self.clear_filter()

    def action_toggle_lower(self) -> None:
        """`a` switches the lower pane between the break-down and the anomalies."""
        self.lower = "anomalies" if self.lower == "breakdown" else "breakdown"
        self._show_lower()

    def action_next_grouping(self) -> None:
        """`g` breaks the cost down by the next grouping (service, group, resource, meter, tags)."""
        self.grouping = GROUPINGS[(GROUPINGS.index(self.grouping) + 1) % len(GROUPINGS)]
        self.lower = "breakdown"
        self._show_lower()
        self.load_breakdown()

    def action_focus_next_table(self) -> None:
        budgets = self.query_one("#budgets-table", DataTable)
        (self.query_one("#cost-detail", DataTable) if budgets.has_focus else budgets).focus()

    def action_edit_budget(self) -> None:
        """`e` changes the selected budget's amount and thresholds (asks first; journaled)."""
        budget = self.selected_budget()
        if budget is None:
            self.notify("No budget selected: n creates one.", severity="warning")
            return
        self._budget_change(budget)

    def action_new_budget(self) -> None:
        """`n` creates a monthly budget in the current subscription (asks first; journaled)."""
        self._budget_change(None)

    def _budget_change(self, budget: BudgetStatus | None) -> None:
        scope = self.scope
        if scope is None:
            self.notify("No subscription is open.", severity="warning")
            return
        what = f"set budget {budget.name}" if budget is not None else "create a budget"
        try:
            self.service.ensure_writable(scope.subscription_id, what, confirmed=True)
        except OpsError as refused:
            self.notify(refused.message, title="Read-only", severity="error", timeout=10)
            return

        def chosen(plan: BudgetPlan | None) -> None:
            if plan is None:
                return
            before = (
                f"{money(budget.amount)} → {money(plan.amount)} {budget.currency}"
                if budget is not None
                else f"{money(plan.amount)} a month (new)"
            )
            was = thresholds_text(budget.thresholds) if budget is not None else ""
            details = (
                f"budget      {plan.name}\namount      {before}\n"
                f"thresholds  {was or '–'} → {thresholds_text(tuple(plan.thresholds)) or '–'}"
            )
            subscription = self.context.current
            request = ChangeRequest(
                "change the amount and thresholds" if budget is not None else "create the budget",
                plan.name,
                f"{scope.path}/providers/Microsoft.CostManagement/budgets/{plan.name}",
                subscription.display_name if subscription else scope.subscription_id,
                protected=self.context.protected(scope.subscription_id),
                details=details,
            )
            self.confirm_change(request, lambda: self.set_budget(scope, plan))

        self.app.push_screen(BudgetForm(budget), chosen)

    @work(exclusive=True, exit_on_error=False, group="cost-change", name="set budget")
    async def set_budget(self, scope: CostScope, plan: BudgetPlan) -> None:
        async def change(progress: Callable[[OperationProgress], None]) -> BudgetStatus:
            return await self.service.set_budget(
                scope, plan.name, plan.amount, plan.thresholds, confirmed=True, progress=progress
            )

        changed = await self.run_change(
            f"set budget {plan.name}",
            plan.name,
            change,
            lambda b: f"{b.name}: {money(b.amount)} {b.currency}, forecast {money(b.forecast)}.",
        )
        others = [b for b in self.budgets if b.name != changed.name]
        self.budgets = worst_first([*others, changed])
        self.show_rows()
