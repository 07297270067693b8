"""The Cost area driven with Pilot against real services and a local Azure of its own, its cost pinned to one
day so the numbers and the snapshot hold: budgets worst first, the chart, break-down and anomalies with the
spike's why, leaving and coming back, a budget changed through the confirm dialog and journaled, read-only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from conftest import EmulatorThread, area_app, module_azure, screen_of, until
from textual.widgets import DataTable, Input, Static

from console.app import OpsConsole
from console.emulator import estate, story
from console.emulator.areas.cost import RATE_VARIABLE, TODAY_VARIABLE
from console.services import Services
from console.settings import Settings
from screens.cost import GROUPINGS, BudgetForm, CostScreen, parse_thresholds
from screens.widgets.chart import ResultChart
from screens.widgets.confirm import ConfirmScreen

SIZE = (200, 50)
KEYS_BY_GROUPING: dict[str, Callable[[str], bool]] = {
    "service": lambda key: key == "Azure App Service",
    "group": lambda key: key.startswith("rg-"),
    "resource": lambda key: key == "asp-web-prod-weu",
}
TODAY = dt.date(2026, 11, 20)


cost_azure = module_azure(
    "cost-screen", seed_delay_s=3600, started_with={RATE_VARIABLE: "off", TODAY_VARIABLE: TODAY.isoformat()}
)


def pin_today(services: Services) -> None:
    """The cost service's today is the day the local Azure's cost is pinned to."""
    services.cost.clock = lambda: TODAY


@pytest.fixture
def build_app(
    cost_azure: EmulatorThread, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., OpsConsole]:
    return area_app(cost_azure, settings, monkeypatch, "cost", prepare=pin_today)


async def open_area(pilot: Any) -> CostScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, CostScreen), "the cost screen")
    screen = screen_of(app, CostScreen)
    await until(pilot, lambda: screen.query_one("#budgets-table", DataTable).row_count > 0, "the budgets")
    await until(pilot, lambda: screen.query_one("#cost-detail", DataTable).row_count > 0, "the break-down")
    return screen


def test_cost_area_snapshot(snap_compare: Any, build_app: Callable[..., OpsConsole]) -> None:
    """The Cost area on the seeded estate: the breaching budget first, its chart, the break-down by service."""

    async def ready(pilot: Any) -> None:
        screen = await open_area(pilot)
        await until(pilot, lambda: bool(screen.query("Footer")), "the footer")
        await pilot.pause()

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=ready)


async def look_around(pilot: Any) -> None:
    """Budgets, chart, anomalies with the spike's why, the next grouping; then leave for Resources."""
    app = pilot.app
    screen = await open_area(pilot)
    assert screen.budgets[0].name == story.COST_BREACH_BUDGET and screen.budgets[0].breaches
    chart = screen.query_one("#cost-chart", ResultChart).data
    assert chart is not None and {"spent", "forecast", "budget"} <= {s.name for s in chart.series}
    assert screen.breakdown and screen.breakdown[0].current >= screen.breakdown[-1].current
    await pilot.press("a")
    detail = screen.query_one("#cost-detail", DataTable)
    assert screen.lower == "anomalies"
    spike = next(i for i, a in enumerate(screen._shown_anomalies()) if a.kind == "spike")
    detail.focus()
    detail.move_cursor(row=spike)
    await pilot.pause()
    why = str(screen.query_one("#cost-why", Static).render())
    assert "why it moved" in why and story.COST_SPIKE_RESOURCE in why
    assert why.index(story.COST_SPIKE_RESOURCE) < why.index(story.COST_SPIKE_ECHO_RESOURCE)
    wanted = GROUPINGS[(GROUPINGS.index(screen.grouping) + 1) % len(GROUPINGS)]
    await pilot.press("a", "g")
    keys = KEYS_BY_GROUPING[wanted]
    await until(pilot, lambda: screen.grouping == wanted and keys(screen.breakdown[0].key), f"by {wanted}")
    await pilot.press("escape", "colon", *"res", "enter")
    await until(pilot, lambda: not isinstance(app.screen, CostScreen), "leaving the cost area")


@pytest.mark.asyncio
async def test_budgets_chart_breakdown_and_anomalies_twice(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await look_around(pilot)
        await pilot.press("escape", "colon", *"cost", "enter")
        await look_around(pilot)  # come back: the same things, the grouping moved on


@pytest.mark.asyncio
async def test_editing_a_budget_asks_then_changes_and_journals_it(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        screen.query_one("#budgets-table", DataTable).focus()
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, BudgetForm), "the budget form")
        amount = app.screen.query_one("#budget-amount", Input)
        amount.value = "2500"
        app.screen.query_one("#budget-thresholds", Input).value = "90, f100"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        await pilot.press("n")  # cancelled: nothing changes
        await until(pilot, lambda: isinstance(app.screen, CostScreen), "back on the screen")
        assert screen.budgets[0].amount != 2500
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, BudgetForm), "the budget form")
        app.screen.query_one("#budget-amount", Input).value = "2500"
        app.screen.query_one("#budget-thresholds", Input).value = "90, f100"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        await pilot.press("y")
        await until(
            pilot, lambda: any(b.name == story.COST_BREACH_BUDGET and b.amount == 2500 for b in screen.budgets), "2500"
        )
        changed = next(b for b in screen.budgets if b.name == story.COST_BREACH_BUDGET)
        assert not changed.breaches and [(t.kind, t.percent) for t in changed.thresholds] == [
            ("Actual", 90.0),
            ("Forecasted", 100.0),
        ]
        entries = [e for e in app.services.context.journal.entries() if e.get("action") == "set budget"]
        assert [e["phase"] for e in entries][-2:] == ["intent", "outcome"]
        # put it back for the other tests
        await app.services.cost.set_budget(
            screen.scope,  # type: ignore[arg-type]
            story.COST_BREACH_BUDGET,
            _seeded_amount(),
            parse_thresholds("80, 100, f100"),
            confirmed=True,
        )


def _seeded_amount() -> float:
    from console.emulator import cost_data

    lines = cost_data.cost_lines(TODAY)
    return float(cost_data.seed_budget_amount(lines, estate.PROD_SUBSCRIPTION, None, TODAY, story.COST_BREACH_SHARE))


@pytest.mark.asyncio
async def test_read_only_refuses_before_any_dialog(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_area(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, CostScreen)
        assert any("read-only" in str(n.message) for n in app._notifications)


def test_thresholds_are_read_as_typed() -> None:
    assert [(t.kind, t.percent) for t in parse_thresholds("80, 100%, f110")] == [
        ("Actual", 80.0),
        ("Actual", 100.0),
        ("Forecasted", 110.0),
    ]
    with pytest.raises(ValueError):
        parse_thresholds("eighty")


@pytest.mark.asyncio
async def test_a_new_budget_is_created_after_the_confirm_dialog(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, BudgetForm), "the budget form")
        app.screen.query_one("#budget-name", Input).value = "bad name!"
        app.screen.query_one("#budget-amount", Input).value = "99999"
        await pilot.press("enter")
        assert isinstance(app.screen, BudgetForm)  # the name is refused in the form, nothing sent
        assert "letters, digits" in str(app.screen.query_one("#budget-problem", Static).render())
        app.screen.query_one("#budget-name", Input).value = "budget-platform-monthly"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: any(b.name == "budget-platform-monthly" for b in screen.budgets), "the new budget")
        created = next(b for b in screen.budgets if b.name == "budget-platform-monthly")
        assert created.amount == 99999 and not created.breaches and screen.budgets[-1] is created
        entries = [e for e in app.services.context.journal.entries() if e.get("action") == "create budget"]
        assert [e["phase"] for e in entries] == ["intent", "outcome"]
