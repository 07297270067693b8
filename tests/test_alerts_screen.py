"""The Alerts area driven with Pilot against real services and a local Azure of its own (freshly seeded; its
telemetry never arrives, so no rule is evaluated meanwhile): the list with its summary, detail and history,
marks, bulk acknowledge with a comment, cancel sends nothing, read-only refuses before any dialog, the way to
Logs and to the runbook, the rules with disable/enable, leaving and coming back, and a snapshot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import EmulatorThread, area_app, changes_sent, control, module_azure, screen_of, until
from textual.widgets import DataTable, Input, Static

from console.app import OpsConsole
from console.emulator import estate, story
from console.settings import Settings
from screens.alerts import AlertsScreen
from screens.widgets.alert_forms import AlertFilterScreen, CommentScreen
from screens.widgets.confirm import ConfirmScreen
from screens.widgets.operation import OperationPanel

SIZE = (200, 50)
PROD = estate.PROD_SUBSCRIPTION


alerts_azure = module_azure("alerts-screen-azure", seed_delay_s=3600)


@pytest.fixture
def build_app(
    alerts_azure: EmulatorThread, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., OpsConsole]:
    return area_app(alerts_azure, settings, monkeypatch, "alerts")


def crumbs(screen: AlertsScreen) -> str:
    return str(screen.query_one("#crumbs", Static).render())


async def open_area(pilot: Any) -> AlertsScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, AlertsScreen), "the alerts screen")
    screen = screen_of(app, AlertsScreen)
    await until(pilot, lambda: screen.table.row_count > 0 and screen.summary is not None, "the alerts and summary")
    screen.table.focus()
    return screen


async def select(pilot: Any, screen: AlertsScreen, name: str, state: str | None = None) -> None:
    index = next(i for i, a in enumerate(screen.shown) if a.name == name and (state is None or a.state == state))
    screen.table.move_cursor(row=index)
    await pilot.pause()


def test_alerts_area_snapshot(snap_compare: Any, build_app: Callable[..., OpsConsole]) -> None:
    """The alert that is still firing (the silent build agent's heartbeat; the nightly CPU alert is filtered out by its
    group), its age pinned, the detail hidden."""

    async def ready(pilot: Any) -> None:
        screen = await open_area(pilot)
        await until(pilot, lambda: bool(screen.query("Footer")), "the footer")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(pilot.app.screen, AlertFilterScreen), "the filter form")
        form = pilot.app.screen.query_one(Input)
        form.value = "state=new cond=fired rg=rg-monitoring since=7d"  # the CPU rule also fires nightly
        await pilot.press("enter")
        await until(pilot, lambda: screen.summary is not None and screen.summary.total == 1, "the firing alert")
        await until(pilot, lambda: len(screen.shown) == 1, "one row")
        fired = screen.shown[0].started
        screen.clock = lambda: fired + timedelta(minutes=108)
        await pilot.press("d")
        screen.show_rows()
        screen.table.focus()
        await until(pilot, lambda: screen.table.has_focus and pilot.app.screen is screen, "the table focused")
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=ready)


@pytest.mark.asyncio
async def test_list_summary_detail_marks_and_coming_back(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(2):  # leave for Logs and come back: the same list, loaded again
            screen = await open_area(pilot)
            assert {a.severity for a in screen.shown} == {"Sev0", "Sev1", "Sev2", "Sev3", "Sev4"}
            assert screen.shown[0].severity == "Sev0"
            assert screen.summary is not None and f"{screen.summary.total} alerts" in crumbs(screen)
            await select(pilot, screen, "sqr-checkout-failed-requests")
            detail = screen.query_one("#alert-detail-body", Static)
            await until(pilot, lambda d=detail: "Restart fixed it" in str(d.render()), "the history with its comments")
            shown = str(detail.render())
            assert "Count rows GreaterThan 25" in shown and "AppRequests" in shown and "app-failure-rate" in shown
            await pilot.press("space", "space")
            assert len(screen.marked) == 2 and "2 marked" in crumbs(screen)
            await pilot.press("asterisk")
            assert len(screen.marked) == len(screen.shown)
            await pilot.press("asterisk")
            assert not screen.marked
            await pilot.press("s")
            assert screen.shown[0].started == max(a.started for a in screen.shown)
            await pilot.press("s")
            await pilot.press("colon", *"logs", "enter")
            await until(pilot, lambda: app.current_mode == "logs", "logs")
            await pilot.press("escape", "colon", *"alerts", "enter")


@pytest.mark.asyncio
async def test_bulk_acknowledge_with_a_comment_and_cancel_sends_nothing(
    build_app: Callable[..., OpsConsole], alerts_azure: EmulatorThread
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = changes_sent(alerts_azure)
        await select(pilot, screen, story.FLAPPING_RULE, "New")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CommentScreen), "the comment form")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back to the list")
        assert changes_sent(alerts_azure) == before
        chosen = [a for a in screen.shown if a.state == "New"][:2]
        for alert in chosen:
            screen.table.move_cursor(row=screen.shown.index(alert))
            await pilot.press("space")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, CommentScreen), "the comment form")
        await pilot.press(*"on it", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        body = str(app.screen.query_one("#confirm-body", Static).render())
        assert all(a.short_id in body for a in chosen) and "comment   on it" in body
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, OperationPanel), "the operation panel")
        await until(pilot, lambda: any(o.done for o in screen.operations.items), "the change to end")
        assert screen.operations.items[-1].sentence == "2 acknowledged."
        await pilot.press("escape")
        ids = {a.id for a in chosen}
        await until(
            pilot,
            lambda: {a.id for a in screen.alerts if a.state == "Acknowledged"} >= ids,
            "the list read again",
        )
        assert not screen.marked
        history = await screen.service.history(chosen[0])
        assert history[0].comments == "on it"
        journal = screen.service.context.journal.entries()
        assert sum(1 for e in journal if e.get("phase") == "outcome" and e.get("action") == "acknowledge alert") == 2


@pytest.mark.asyncio
async def test_read_only_refuses_before_any_dialog(
    build_app: Callable[..., OpsConsole], alerts_azure: EmulatorThread
) -> None:
    app = build_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = changes_sent(alerts_azure)
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is screen
        assert any("read-only" in str(n.message) for n in app._notifications)
        await pilot.press("R")
        await until(pilot, lambda: screen.rules_table.row_count > 0, "the rules")
        await pilot.press("x")
        await pilot.pause()
        assert app.screen is screen and changes_sent(alerts_azure) == before


@pytest.mark.asyncio
async def test_a_protected_subscription_asks_for_its_name(
    build_app: Callable[..., OpsConsole], alerts_azure: EmulatorThread
) -> None:
    app = build_app(protected_subscriptions=(PROD,))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = changes_sent(alerts_azure)
        await select(pilot, screen, story.HEARTBEAT_RULE)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, CommentScreen), "the comment form")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        dialog = app.screen
        assert dialog.has_class("-protected")
        await pilot.press(*"wrong", "enter")
        assert app.screen is dialog and changes_sent(alerts_azure) == before
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, "back to the list")
        assert changes_sent(alerts_azure) == before


@pytest.mark.asyncio
async def test_logs_and_runbook_keys(build_app: Callable[..., OpsConsole]) -> None:
    from screens.runbooks import RunbooksScreen
    from screens.widgets.kql_editor import KqlEditor

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "sqr-checkout-failed-requests")
        alert = await screen.service.get_alert(screen.shown[screen.table.cursor_row])
        await pilot.press("l")
        await until(pilot, lambda: app.current_mode == "logs" and bool(app.screen.query(KqlEditor)), "logs")
        editor = app.screen.query_one(KqlEditor)
        await until(pilot, lambda: "AlertStart" in editor.text, "the rule's query")
        assert "between (AlertStart .. AlertEnd)" in editor.text and story.INCIDENT_APP in editor.text
        window_start = alert.detail.window_start
        assert window_start is not None and f"{window_start:%Y-%m-%dT%H:%M}" in editor.text
        app.jump("alerts")
        screen = await open_area(pilot)
        await select(pilot, screen, "sqr-checkout-failed-requests")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, RunbooksScreen), "runbooks")
        runbooks = app.screen
        await until(pilot, lambda: bool(runbooks.query("#param-app")), "the parameter form")
        assert runbooks.query_one("#param-app", Input).value == story.INCIDENT_APP


@pytest.mark.asyncio
async def test_rules_disable_and_enable(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await pilot.press("R")
        await until(pilot, lambda: screen.rules_table.row_count > 0, "the rules")
        names = [r.name for r in screen.rules]
        screen.rules_table.move_cursor(row=names.index("sqr-dependency-failures"))
        await pilot.pause()
        for key, enabled in (("x", False), ("e", True)):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
            await pilot.press("y")
            await until(pilot, lambda: isinstance(app.screen, OperationPanel), "the operation panel")
            await until(pilot, lambda: all(o.done for o in screen.operations.items), "the change")
            await pilot.press("escape")
            await until(
                pilot,
                lambda wanted=enabled: (
                    next(r for r in screen.rules if r.name == "sqr-dependency-failures").enabled is wanted
                ),
                "the rules read again",
            )
        await pilot.press("R")
        assert screen.states.current == "alerts-table"
        assert isinstance(screen.query_one("#alerts-table"), DataTable)


@pytest.mark.asyncio
async def test_a_bulk_close_with_one_failure_says_what_changed_and_what_failed(
    build_app: Callable[..., OpsConsole], alerts_azure: EmulatorThread
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        chosen = [a for a in screen.shown if a.state != "Closed"][:3]
        for alert in chosen:
            screen.table.move_cursor(row=screen.shown.index(alert))
            await pilot.press("space")
        broken = chosen[1]
        control(alerts_azure.readiness, "PUT", [{"path": f"/alerts/{broken.short_id}/changestate", "status": 500}])
        try:
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, CommentScreen), "the comment form")
            await pilot.press(*"done", "enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
            await pilot.press("y")
            await until(pilot, lambda: any(o.done for o in screen.operations.items), "the change to end")
        finally:
            control(alerts_azure.readiness, "DELETE")
        sentence = screen.operations.items[-1].sentence
        assert sentence.startswith("2 closed, 1 failed.") and broken.short_id in sentence
        assert "500" in sentence and f"now: {broken.state}" in sentence
        await pilot.press("escape")
        await until(pilot, lambda: screen.marked == {broken.id}, "only the failed alert still marked")
        states = {a.id: a.state for a in screen.alerts}
        assert [states[a.id] for a in chosen] == ["Closed", broken.state, "Closed"]


@pytest.mark.asyncio
async def test_live_mode_shows_new_alerts_as_they_fire(
    build_app: Callable[..., OpsConsole], alerts_azure: EmulatorThread
) -> None:
    """Last in this module: the alerts it fires stay."""
    from test_alerts_service import fire_alerts

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = len(screen.alerts)
        await pilot.press("t")
        assert screen.live and "● live" in crumbs(screen)
        assert fire_alerts(alerts_azure.readiness, 3) == 3
        await until(pilot, lambda: len(screen.fresh) == 3, "the new alerts", attempts=3000)
        assert len(screen.alerts) == before + 3
        assert any("3 new alerts fired" in str(n.message) for n in app._notifications)
        fresh_rows = [i for i, a in enumerate(screen.shown) if a.id in screen.fresh]
        assert all(str(screen.table.get_cell_at((i, 0)).plain) == "✱" for i in fresh_rows)
        await pilot.press("t")
        assert not screen.live and "live" not in crumbs(screen)
