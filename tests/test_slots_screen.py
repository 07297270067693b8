"""The Slots area driven with Pilot against real services and a local Azure of its own (freshly seeded, so the
builds and the snapshot do not depend on what other tests swapped): the table, the diff, the confirm dialog,
a swap and a rollback in the operation panel, a guarded swap's release panel, read-only refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorThread, area_app, changes_sent, module_azure, notices, screen_of, text_of, until
from textual.widgets import DataTable, Input, Static

from console.app import OpsConsole
from console.areas import AREAS
from console.emulator import estate
from console.models import GateReading, OperationProgress, ReleaseOutcome
from console.settings import Settings
from screens.shell import KeyHelpScreen
from screens.slots import SlotsScreen, changes_of, deployed_text, gate_limit
from screens.widgets.confirm import ConfirmScreen
from screens.widgets.operation import OperationPanel
from screens.widgets.release import Release, ReleasePanel, StopReleaseScreen, gate_chart, reading_value
from screens.widgets.slot_forms import GuardPlan, GuardScreen, RoutingScreen, read_guard_plan, read_percent

SIZE = (200, 50)
PROD = estate.PROD_SUBSCRIPTION
NONPROD = estate.NONPROD_SUBSCRIPTION
# A KQL gate that passes on the source slot and breaches on production: the release must swap back.
BREACHING_GATE = 'print failure_pct = iff(slot == "production", 50.0, 1.0)'
PASSING_GATE = "print failure_pct = 1.0"


slots_azure = module_azure("slots-azure", page_size=7, seed_delay_s=0)
"""A local Azure for this module alone, seeded afresh."""


@pytest.fixture
def build_app(
    slots_azure: EmulatorThread, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., OpsConsole]:
    return area_app(slots_azure, settings, monkeypatch, "slots")


def builds(screen: SlotsScreen) -> dict[tuple[str, str], str]:
    return {(app.name, slot.name): slot.build for app, slot in screen.shown}


async def open_area(pilot: Any) -> SlotsScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, SlotsScreen), "the slots screen")
    screen = screen_of(app, SlotsScreen)
    await until(pilot, lambda: screen.query_one(DataTable).row_count > 0, "the slots table")
    screen.query_one(DataTable).focus()
    return screen


async def select(pilot: Any, screen: SlotsScreen, app_name: str, slot: str) -> None:
    """Move to a row and let its diff load (reading settings is a POST: counted requests wait for it)."""
    index = next(i for i, (a, s) in enumerate(screen.shown) if (a.name, s.name) == (app_name, slot))
    screen.query_one(DataTable).move_cursor(row=index)
    detail = screen.query_one("#slot-detail-body", Static)
    loaded = f"{app_name}: production" if slot == "production" else f"{app_name}/{slot} against production"
    await until(pilot, lambda: str(detail.render()).startswith(loaded), "the detail pane")


def journalled(app: OpsConsole) -> list[dict[str, Any]]:
    return app.services.context.journal.entries()


async def wait_done(pilot: Any, screen: SlotsScreen, count: int) -> None:
    await until(pilot, lambda: len(screen.operations.items) >= count and screen.operations.items[-1].done, "the change")


# -- the snapshot first: the estate as seeded -----------------------------------------------------------


def test_slots_area_snapshot(snap_compare: Any, build_app: Callable[..., OpsConsole]) -> None:
    """The Slots area on the seeded estate: production's apps first, the cursor on the first app's production."""

    async def ready(pilot: Any) -> None:
        screen = await open_area(pilot)
        await until(pilot, lambda: bool(screen.query("Footer")), "the footer")
        await until(pilot, lambda: "runs" in str(screen.query_one("#slot-detail-body", Static).render()), "detail")
        await pilot.pause()

    assert snap_compare(build_app(), terminal_size=SIZE, run_before=ready)


# -- the table and the diff -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_table_lists_every_seeded_app_and_slot_with_its_build(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        expected = {(spec.name, slot): build for spec in estate.WEB_APPS for slot, build in spec.builds_by_slot.items()}
        assert builds(screen) == expected
        assert screen.query_one(DataTable).row_count == len(expected)
        # Production's apps lead (the current subscription), each app's production row first.
        assert screen.shown[0][0].subscription_id == PROD and screen.shown[0][1].name == "production"
        assert "4 web apps, 9 slots" in str(screen.query_one("#crumbs", Static).render())

        await select(pilot, screen, "app-checkout-prod", "staging")
        detail = screen.query_one("#slot-detail-body", Static)
        await until(pilot, lambda: "linuxFxVersion" in str(detail.render()), "the diff against production")
        shown = str(detail.render())
        assert "app-checkout-prod/staging against production" in shown
        assert "2026.11.5-rc1" in shown and "sticky" in shown
        assert "values masked" in shown

        await pilot.press("slash", *"catalog")
        assert {a.name for a, _ in screen.shown} == {"app-catalog-prod"}
        await pilot.press("escape")
        assert len(screen.shown) == len(expected)


# -- confirm, cancel, swap, rollback --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_confirm_names_app_source_and_target_and_cancel_sends_nothing(
    build_app: Callable[..., OpsConsole], slots_azure: EmulatorThread
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "app-checkout-prod", "staging")
        sent = changes_sent(slots_azure)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        text = text_of(app.screen)
        assert "Swap staging with production on app-checkout-prod?" in text
        assert "source    staging   runs 2026.11.5-rc1" in text
        assert "target    production   runs 2026.11.4" in text
        assert "Contoso Production" in text and "/sites/app-checkout-prod/slots/staging" in text
        await pilot.press("escape")
        await until(pilot, lambda: any("nothing was sent" in n for n in notices(app)), "the cancel notice")
        assert changes_sent(slots_azure) == sent
        assert not screen.operations.items and not journalled(app)


@pytest.mark.asyncio
async def test_production_is_not_a_swap_source(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "app-catalog-prod", "production")
        await pilot.press("w")
        await until(pilot, lambda: any("Production is the target" in n for n in notices(app)), "the sentence")
        assert not isinstance(app.screen, ConfirmScreen)


@pytest.mark.asyncio
async def test_a_protected_subscription_asks_for_the_app_name(
    build_app: Callable[..., OpsConsole], slots_azure: EmulatorThread
) -> None:
    app = build_app(protected_subscriptions=(PROD,))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "app-catalog-prod", "staging")
        sent = changes_sent(slots_azure)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        dialog = app.screen
        assert "PROTECTED" in text_of(dialog)
        dialog.query_one("#confirm-name", Input).value = "staging"  # the slot is not the name asked for
        await pilot.press("enter")
        assert "type app-catalog-prod exactly" in str(dialog.query_one("#confirm-problem", Static).render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dialog to close")
        assert changes_sent(slots_azure) == sent and not journalled(app)


@pytest.mark.asyncio
async def test_a_swap_runs_in_the_operation_panel_the_builds_move_and_rollback_moves_them_back(
    build_app: Callable[..., OpsConsole], slots_azure: EmulatorThread
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = builds(screen)
        assert before[("app-checkout-stg", "production")] == "2026.11.5-rc1"
        assert before[("app-checkout-stg", "staging")] == "2026.12.0-beta"
        await select(pilot, screen, "app-checkout-stg", "staging")
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        assert "Contoso Non-Production" in text_of(app.screen)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, OperationPanel), "the operation panel")
        await wait_done(pilot, screen, 1)
        operation = screen.operations.items[0]
        assert not operation.failed, operation.sentence
        assert operation.sentence == "Swapped: production runs 2026.12.0-beta, staging runs 2026.11.5-rc1."
        await until(
            pilot, lambda: builds(screen)[("app-checkout-stg", "production")] == "2026.12.0-beta", "the moved builds"
        )
        assert builds(screen)[("app-checkout-stg", "staging")] == "2026.11.5-rc1"
        await pilot.press("escape")  # the panel goes to the background

        await select(pilot, screen, "app-checkout-stg", "staging")
        await pilot.press("h")  # the app's release history, from the journal
        detail = screen.query_one("#slot-detail-body", Static)
        await until(pilot, lambda: "swap slots" in str(detail.render()), "the history")
        assert "succeeded" in str(detail.render())

        await pilot.press("b")  # roll back: the journal's last swap, swapped back
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the rollback confirmation")
        text = text_of(app.screen)
        assert "Roll back the last swap on app-checkout-stg?" in text and "is swapped back" in text
        await pilot.press("y")
        await wait_done(pilot, screen, 2)
        assert not screen.operations.items[1].failed, screen.operations.items[1].sentence
        assert screen.operations.items[1].sentence.startswith("Rolled back: production runs 2026.11.5-rc1")
        await until(pilot, lambda: builds(screen) == before, "the builds back where they were")


@pytest.mark.asyncio
async def test_a_swap_with_preview_is_marked_until_cancelled(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = builds(screen)
        await select(pilot, screen, "app-catalog-prod", "staging")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        text = text_of(app.screen)
        assert "Swap staging with production (preview) on app-catalog-prod?" in text
        assert "c completes the swap, x cancels" in text and "settings  " in text
        await pilot.press("y")
        await wait_done(pilot, screen, 1)
        assert not screen.operations.items[0].failed, screen.operations.items[0].sentence

        def state() -> str:
            index = next(
                i for i, (a, s) in enumerate(screen.shown) if (a.name, s.name) == ("app-catalog-prod", "staging")
            )
            return str(screen.query_one(DataTable).get_row_at(index)[3])

        await until(pilot, lambda: state() == "Running preview", "the preview mark")
        assert builds(screen) == before  # a preview moves settings, not builds
        await pilot.press("escape")
        await select(pilot, screen, "app-catalog-prod", "staging")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the cancel confirmation")
        assert "Cancel the swap of staging with production on app-catalog-prod?" in text_of(app.screen)
        await pilot.press("y")
        await wait_done(pilot, screen, 2)
        assert screen.operations.items[1].sentence.startswith("Cancelled: production runs 2026.11.3")
        await until(pilot, lambda: state() == "Running", "the mark gone")
        assert builds(screen) == before


@pytest.mark.asyncio
async def test_routing_and_stop_start_go_through_the_dialogs(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "app-payments-prod", "staging")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, RoutingScreen), "the routing form")
        form = app.screen
        form.query_one(Input).value = "150"
        await pilot.press("enter")
        assert "from 0 to 100" in str(form.query_one("#routing-problem", Static).render())
        form.query_one(Input).value = "25"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        assert "25 % to staging, 75 % stays on production" in text_of(app.screen)
        await pilot.press("y")
        await wait_done(pilot, screen, 1)
        assert not screen.operations.items[0].failed, screen.operations.items[0].sentence

        def routing(slot: str) -> str:
            index = next(i for i, (a, s) in enumerate(screen.shown) if (a.name, s.name) == ("app-payments-prod", slot))
            return str(screen.query_one(DataTable).get_row_at(index)[4])

        await until(pilot, lambda: routing("staging") == "25 %" and routing("production") == "75 %", "the shares")
        await pilot.press("escape")
        await select(pilot, screen, "app-payments-prod", "staging")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, RoutingScreen), "the routing form")
        app.screen.query_one(Input).value = "0"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        await pilot.press("y")
        await wait_done(pilot, screen, 2)
        await until(pilot, lambda: routing("staging") == "–" and routing("production") == "100 %", "routing cleared")
        await pilot.press("escape")

        await select(pilot, screen, "app-payments-prod", "staging")
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the stop confirmation")
        assert "Stop staging on app-payments-prod?" in text_of(app.screen)
        await pilot.press("y")
        await wait_done(pilot, screen, 3)

        def state() -> str:
            return next(s.state for a, s in screen.shown if (a.name, s.name) == ("app-payments-prod", "staging"))

        await until(pilot, lambda: state() == "Stopped", "the slot stopped")
        await pilot.press("escape")
        await select(pilot, screen, "app-payments-prod", "staging")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the start confirmation")
        await pilot.press("y")
        await wait_done(pilot, screen, 4)
        await until(pilot, lambda: state() == "Running", "the slot running again")


async def _release_from_form(pilot: Any, key: str, fields: dict[str, str]) -> SlotsScreen:
    """Open the release form with `key`, fill it in, confirm, and return once the release panel shows."""
    app = pilot.app
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, GuardScreen), "the release form")
    form = app.screen
    for field, value in fields.items():
        form.query_one(f"#guard-{field}", Input).value = value
    form.query_one("#guard-gate", Input).focus()
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
    return screen_of(app, SlotsScreen)


# -- guarded swap ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_guarded_swap_that_breaches_shows_its_readings_and_rolls_back(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = builds(screen)
        await select(pilot, screen, "app-catalog-prod", "staging")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GuardScreen), "the gate form")
        form = app.screen
        form.query_one("#guard-gate", Input).value = BREACHING_GATE
        form.query_one("#guard-watch", Input).value = "20s"
        form.query_one("#guard-interval", Input).value = "1s"
        form.query_one("#guard-gate", Input).focus()
        await pilot.press("enter")
        problem = str(form.query_one("#guard-problem", Static).render())
        assert "A KQL gate needs a check" in problem  # the form says what is missing
        form.query_one("#guard-check", Input).value = "value(failure_pct) <= 5"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        text = text_of(app.screen)
        assert "Guarded swap of staging with production on app-catalog-prod?" in text
        assert "KQL check value(failure_pct) <= 5" in text and "swapped back at once" in text
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ReleasePanel), "the release panel")
        release = screen.release
        assert release is not None and release.threshold == 5.0 and release.metric == "gate"
        await until(pilot, lambda: release.done, "the release's decision", attempts=3000)
        assert release.failure is None, release.failure
        assert release.outcome is not None and release.outcome.decision == "rolled back"
        verdicts = [r.verdict for r in release.readings]
        assert verdicts[0] == "pass" and verdicts[-1] == "fail"
        assert release.preflight_readings == 1
        assert release.outcome.where == {"production": "2026.11.3", "staging": "2026.11.4"}
        panel = app.screen
        assert isinstance(panel, ReleasePanel)
        panel.update_release()
        shown = text_of(panel)
        assert "ROLLED BACK" in shown and "threshold" in shown and "✗" in shown
        assert "now: production runs 2026.11.3, staging runs 2026.11.4" in shown
        await pilot.press("escape")  # the panel goes; G brings it back
        await until(pilot, lambda: not isinstance(app.screen, ReleasePanel), "the panel to go")
        await pilot.press("G")
        await until(pilot, lambda: isinstance(app.screen, ReleasePanel), "the panel back")
        await pilot.press("escape")
        await until(pilot, lambda: builds(screen) == before, "the builds where they were")


@pytest.mark.asyncio
async def test_the_release_panel_can_go_to_the_background_while_the_release_runs(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "app-payments-prod", "staging")
        fields = {"gate": PASSING_GATE, "check": "value(failure_pct) <= 5", "watch": "3s", "interval": "1s"}
        await _release_from_form(pilot, "g", fields)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ReleasePanel), "the release panel")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ReleasePanel), "the panel in the background")
        release = screen.release
        assert release is not None
        crumbs = screen.query_one("#crumbs", Static)
        if not release.done:
            assert "G shows it" in str(crumbs.render())
        await pilot.press("g")  # one release at a time
        if not release.done:
            await until(pilot, lambda: any("is running: G shows it" in n for n in notices(app)), "the refusal")
        elif isinstance(app.screen, GuardScreen):
            await pilot.press("escape")
        await until(pilot, lambda: release.done, "the decision", attempts=3000)
        assert release.outcome is not None and release.outcome.decision == "promoted", release.failure
        await pilot.press("G")
        await until(pilot, lambda: isinstance(app.screen, ReleasePanel), "the panel back")
        assert "PROMOTED" in text_of(app.screen)


@pytest.mark.asyncio
async def test_u_ramps_the_slot_and_stops_at_the_step_that_breaches(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "app-catalog-prod", "staging")
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, GuardScreen), "the ramp form")
        assert app.screen.query_one("#guard-steps", Input).value == "5,25,50"
        await pilot.press("escape")
        fields = {"gate": "print failure_pct = 50.0", "check": "value(failure_pct) <= 5", "steps": "10,40"}
        await _release_from_form(pilot, "u", {**fields, "hold": "3s", "interval": "1s"})
        text = text_of(app.screen)
        assert "Ramp of staging into production on app-catalog-prod?" in text
        assert "10%, 40% of production traffic, each held 3s" in text
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, ReleasePanel), "the release panel")
        release = screen.release
        assert release is not None and release.kind == "Ramp"
        assert "Ramp" in text_of(app.screen)
        await until(pilot, lambda: release.done, "the ramp's decision", attempts=3000)
        assert release.outcome is not None and release.outcome.decision == "rolled back", release.failure
        assert "Stopped at 10%" in release.outcome.sentence and release.share == 0
        assert [r.verdict for r in release.readings] == ["fail"] and release.preflight_readings == 0
        await pilot.press("escape")
        await until(
            pilot,
            lambda: all(s.routing_percent == 0 for a, s in screen.shown if a.name == "app-catalog-prod"),
            "routing back to production",
        )


@pytest.mark.asyncio
async def test_quitting_during_a_release_asks_then_rolls_back_and_quits(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        before = builds(screen)
        await select(pilot, screen, "app-payments-prod", "staging")
        fields = {"gate": PASSING_GATE, "check": "value(failure_pct) <= 5", "watch": "5m", "interval": "1s"}
        await _release_from_form(pilot, "g", fields)
        await pilot.press("y")
        release = screen.release
        assert release is not None
        await until(pilot, lambda: release.phase == "watching", "the watch after the swap", attempts=3000)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, StopReleaseScreen), "the question")
        assert "swapped into production" in text_of(app.screen)
        await pilot.press("escape")  # go on watching
        await until(pilot, lambda: not isinstance(app.screen, StopReleaseScreen), "the question to go")
        assert app.is_running and not release.stop.requested
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, StopReleaseScreen), "the question again")
        await pilot.press("r")
        for _ in range(3000):  # the console quits by itself once the release has rolled back
            if release.done and not app.is_running:
                break
            await asyncio.sleep(0.02)
    assert release.outcome is not None and release.outcome.decision == "rolled back", release.failure
    assert "stopped by the user" in release.outcome.sentence
    assert app.return_code == 0
    where = release.outcome.where
    assert (where["production"], where["staging"]) == (
        before[("app-payments-prod", "production")],
        before[("app-payments-prod", "staging")],
    )


# -- read-only and keys ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_read_only_refuses_every_change_before_any_dialog(
    build_app: Callable[..., OpsConsole], slots_azure: EmulatorThread
) -> None:
    app = build_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select(pilot, screen, "app-checkout-prod", "staging")
        sent = changes_sent(slots_azure)
        for key, words in (
            ("w", "Refused to swap staging with production on app-checkout-prod"),
            ("p", "Refused to swap staging with production (preview)"),
            ("g", "Refused to guarded swap of staging"),
            ("t", "Refused to route traffic to staging"),
            ("b", "Refused to roll back the last swap"),
            ("S", "Refused to stop staging"),
        ):
            await pilot.press(key)
            await until(pilot, lambda words=words: any(words in n for n in notices(app)), f"the refusal of {key}")
            assert isinstance(app.screen, SlotsScreen), (key, app.screen)
        assert changes_sent(slots_azure) == sent
        assert not screen.operations.items and not journalled(app)


@pytest.mark.asyncio
async def test_every_slots_key_is_listed_by_question_mark_with_its_id(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_area(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, KeyHelpScreen), "the key help")
        text = text_of(app.screen)
        for words, binding_id in (
            ("Swap", "slots.swap"),
            ("Swap with preview", "slots.preview"),
            ("Complete preview", "slots.complete"),
            ("Cancel preview", "slots.cancel"),
            ("Roll back", "slots.rollback"),
            ("Guarded swap", "slots.guarded"),
            ("Release panel", "slots.release"),
            ("Routing", "slots.routing"),
            ("Start", "slots.start"),
            ("Stop", "slots.stop"),
            ("Restart", "slots.restart"),
            ("Diff", "slots.diff"),
            ("History", "slots.history"),
        ):
            assert words in text and binding_id in text, binding_id


def test_slots_is_a_built_area_reached_by_colon_slots() -> None:
    area = AREAS["slots"]
    assert area.screen is not None and area.screen_module == "screens.slots"


# -- plain helpers --------------------------------------------------------------------------------------


def test_guard_form_text_is_read_or_refused_with_a_sentence() -> None:
    plan = read_guard_plan("slot-health", "max_failure_pct=2, window=5m", "5m", "30s")
    assert plan.parameters == {"max_failure_pct": "2", "window": "5m"} and not plan.is_kql
    assert plan.watch.total_seconds() == 300 and plan.interval.total_seconds() == 30
    kql = read_guard_plan("AppRequests | summarize n = count()", "", "1m", "10s", check="value(n) >= 1")
    assert kql.is_kql and kql.describe() == "KQL check value(n) >= 1"
    for args, words in (
        (("", "", "5m", "30s"), "Name a gate"),
        (("slot-health", "nonsense", "5m", "30s"), "is not key=value"),
        (("slot-health", "", "soon", "30s"), "is not a positive timespan"),
        (("slot-health", "", "5m", "-1s"), "is not a positive timespan"),
        (("slot-health", "", "30s", "5m"), "longer than the watch"),
        (("print x = 1", "", "5m", "30s"), "needs a check"),
    ):
        with pytest.raises(ValueError, match=words):
            read_guard_plan(*args)
    assert read_percent(" 25% ") == 25.0 and read_percent("12.5") == 12.5
    with pytest.raises(ValueError, match="from 0 to 100"):
        read_percent("120")
    with pytest.raises(ValueError, match="not a percentage"):
        read_percent("lots")


def test_the_chart_limit_comes_from_the_gate() -> None:
    from console.runbooks import parse_runbook

    path = Path(__file__).parent.parent / "queries" / "slot-health.md"
    runbook = parse_runbook(path.read_text(encoding="utf-8"), path.stem, path)
    assert gate_limit(GuardPlan("slot-health"), runbook) == (5.0, "failure rate")
    assert gate_limit(GuardPlan("slot-health", {"max_failure_pct": "2.5"}), runbook) == (2.5, "failure rate")
    assert gate_limit(GuardPlan(PASSING_GATE, check="value(failure_pct) <= 5"), None) == (5.0, "gate")
    assert gate_limit(GuardPlan(PASSING_GATE, check="value(failure_pct) >= 5"), None) == (None, None)


def test_a_reading_value_is_the_metric_or_the_first_number() -> None:
    assert reading_value({"requests in slot": 120, "failure rate": 18.2}, "failure rate") == 18.2
    assert reading_value({"requests in slot": 120, "failure rate": 18.2}) == 120.0
    assert reading_value(None) is None and reading_value(True) is None and reading_value(float("nan")) is None
    assert reading_value([None, 3]) == 3.0


def test_the_chart_draws_each_reading_against_the_threshold() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    readings = [
        GateReading(at, "pass", {"failure rate": 1.0}, ""),
        GateReading(at, "fail", {"failure rate": 18.0}, ""),
        GateReading(at, "error", None, ""),
    ]
    chart = gate_chart(readings, 5.0, "failure rate")
    plain = chart.plain
    assert "threshold" in plain and "╌" in plain
    assert plain.splitlines()[-1].split() == ["✓", "✗", "!"]
    assert any(span.style == "red" for span in chart.spans)  # the breach is drawn in red


def test_a_release_follows_its_phases() -> None:
    release = Release("app", "staging", "production", "gate", 60, 10, 5.0, "failure rate")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert release.phase == "pre-flight"
    release.reading(GateReading(at, "pass", 1.0, "ok"))
    release.progress(OperationProgress("start a swap with preview", "x", "Succeeded", 1.0, True), "swap slots")
    assert release.phase == "swapping" and release.watch_started is None
    release.progress(OperationProgress("swap slots", "x", "Succeeded", 2.0, True), "swap slots")
    assert release.phase == "watching" and "left, next reading in" in release.countdown()
    release.reading(GateReading(at, "fail", 9.0, "breach"))
    release.progress(OperationProgress("swap slots", "x", "Running", 0.1), "swap slots")
    assert release.phase == "rolling back" and release.preflight_readings == 1
    release.finish(ReleaseOutcome("rolled back", (), {"production": "1"}, "Rolled back."))
    assert release.done and "ROLLED BACK" in release.summary().plain


def test_deployments_show_their_age_and_history_reads_the_journal() -> None:
    now = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)
    assert deployed_text("2026-11-30 19:07 Deploy x", now) == "1d 3h ago  Deploy x"
    assert deployed_text("2026-12-01 22:10", now) == "20m ago"
    assert deployed_text("whenever", now) == "whenever" and deployed_text(None, now) == "–"
    site = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/app-a"
    entries = [
        {"at": "2026-12-01T10:00:00+00:00", "phase": "intent", "action": "swap slots",
         "target": f"{site}/slots/staging", "operation_id": "1", "who": "ana"},
        {"at": "2026-12-01T10:00:05+00:00", "phase": "outcome", "action": "swap slots", "target": site,
         "operation_id": "1", "result": "succeeded"},
        {"at": "2026-12-01T11:00:00+00:00", "phase": "intent", "action": "stop", "target": site, "operation_id": "2"},
        {"at": "2026-12-01T12:00:00+00:00", "phase": "intent", "action": "stop",
         "target": f"{site}-other", "operation_id": "3"},
    ]  # fmt: skip
    found = changes_of("app-a", entries)
    assert [(c.action, c.where, c.result) for c in found] == [
        ("stop", "production", "unfinished"),
        ("swap slots", "staging", "succeeded"),
    ]
