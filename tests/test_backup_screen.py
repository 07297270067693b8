"""The Backup area driven with Pilot against real services and a local Azure of its own: freshness with the
breaches first, the jobs with filters and a failed job's detail, leaving and coming back, back up now, a restore
that needs the item's name typed, read-only refusals, and a drill whose evidence is listed on its item.

The snapshot uses a second local Azure seeded at a fixed moment, with the screen's clock pinned to it, so the
ages and times it shows do not depend on when the test runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import EmulatorThread, area_app, changes_sent, module_azure, notices, screen_of, text_of, until
from textual.widgets import DataTable, Input, Static

from console.app import OpsConsole
from console.emulator import story
from console.emulator.areas import AREAS
from console.emulator.server import start_emulator
from console.emulator.store import Store
from console.settings import Settings
from screens import backups as backup_screens
from screens.backups import BackupScreen, span_text
from screens.widgets.backup_forms import DrillScreen, RestoreScreen
from screens.widgets.confirm import ConfirmScreen
from screens.widgets.operation import OperationPanel

SIZE = (200, 50)
PINNED = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


backup_azure = module_azure("backup-screen-azure", page_size=50, seed_delay_s=0)


class PinnedEmulator(EmulatorThread):
    """A local Azure whose store was seeded at `PINNED`, and whose backup area adds no runs since (no `start`)."""

    def start(self) -> dict[str, Any]:
        areas = tuple(replace(area, start=None) if area.name == "backup" else area for area in AREAS)

        def seed(moment: datetime) -> list[Any]:
            return [document for area in areas if area.seed is not None for document in area.seed(moment)]

        Store(self.config.data_dir / "local-azure.duckdb", seed=seed, now=PINNED).close()
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_emulator(self.config, areas=areas), self.loop)
        self.running = future.result(timeout=60)
        return self.running.readiness


pinned_azure = module_azure("backup-pinned-azure", kind=PinnedEmulator, page_size=50, seed_delay_s=3600)


@pytest.fixture
def build_app(
    backup_azure: EmulatorThread, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., OpsConsole]:
    return area_app(backup_azure, settings, monkeypatch, "backup")


async def open_area(pilot: Any) -> BackupScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, BackupScreen), "the backup screen")
    screen = screen_of(app, BackupScreen)
    await until(pilot, lambda: screen.query_one(DataTable).row_count > 0, "the freshness table")
    screen.query_one(DataTable).focus()
    return screen


def detail(screen: BackupScreen) -> str:
    return str(screen.query_one("#backup-detail-body", Static).render())


async def select_item(pilot: Any, screen: BackupScreen, name: str) -> None:
    index = next(i for i, f in enumerate(screen.shown_items) if f.item.name == name)
    screen.query_one(DataTable).move_cursor(row=index)
    await until(pilot, lambda: detail(screen).startswith(name), "the item's detail")


async def wait_done(pilot: Any, screen: BackupScreen, count: int) -> None:
    await until(pilot, lambda: len(screen.operations.items) >= count and screen.operations.items[-1].done, "the change")


def test_backup_area_snapshot(
    snap_compare: Any, pinned_azure: EmulatorThread, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Backup area on an estate seeded at a fixed moment: the breaches first, the first one's detail."""
    monkeypatch.setattr(backup_screens, "utc_now", lambda: PINNED)

    async def ready(pilot: Any) -> None:
        screen = await open_area(pilot)
        await until(pilot, lambda: bool(screen.query("Footer")), "the footer")
        await until(pilot, lambda: "Restore drills" in detail(screen), "the detail")
        await pilot.pause()

    assert snap_compare(area_app(pinned_azure, settings, monkeypatch, "backup")(), terminal_size=SIZE, run_before=ready)


def test_span_text() -> None:
    from datetime import timedelta

    assert span_text(None) == "–"
    assert span_text(timedelta(seconds=3)) == "3s"
    assert span_text(timedelta(hours=4)) == "4h"
    assert span_text(timedelta(hours=21, minutes=3)) == "21h 03m"
    assert span_text(timedelta(days=3, hours=2)) == "3d 2h"


@pytest.mark.asyncio
async def test_freshness_then_jobs_with_filters_and_the_failed_detail_twice(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(2):  # leave the area and come back: the same state, read again
            screen = await open_area(pilot)
            flags = [f.breached for f in screen.shown_items]
            assert flags[0] and flags == sorted(flags, reverse=True)
            assert any(f.item.name == story.STALE_BACKUP_ITEM for f in screen.shown_items if f.breached)
            crumbs = str(screen.query_one("#crumbs", Static).render())
            assert "protected items" in crumbs and "past their RPO" in crumbs
            await select_item(pilot, screen, story.STALE_BACKUP_ITEM)
            assert "Past its RPO by" in detail(screen)

            await pilot.press("v")
            assert screen.view == "jobs"
            await until(pilot, lambda shown=screen: bool(shown.shown_jobs), "the jobs")
            await pilot.press("s")  # status: Failed
            assert screen.status == "Failed" and all(j.status == "Failed" for j in screen.shown_jobs)
            await pilot.press("slash", *story.FAILED_BACKUP_ITEM, "enter")
            assert {j.item for j in screen.shown_jobs} == {story.FAILED_BACKUP_ITEM}
            shown = detail(screen)
            assert story.FAILED_BACKUP_ERROR in shown and "•" in shown and "VM agent" in shown
            await pilot.press("escape")
            await pilot.press(*["s"] * 5)  # back to any status
            assert screen.status == "" and not screen.filter_text
            await pilot.press("t", "t")  # FileShare
            assert {j.item_type for j in screen.shown_jobs} == {"FileShare"}
            await pilot.press("t", "t", "v")
            assert screen.view == "platform"  # App Service and PostgreSQL backups
            await pilot.press("v")
            assert screen.view == "freshness"

            await pilot.press("colon", *"resources", "enter")
            await until(pilot, lambda: app.current_mode == "resources", "the resources area")
            await pilot.press("colon", *"backups", "enter")  # the alias
            await until(pilot, lambda: app.current_mode == "backup", "the backup area again")


@pytest.mark.asyncio
async def test_back_up_now_runs_in_the_operation_panel_and_ends_the_breach(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select_item(pilot, screen, story.STALE_BACKUP_ITEM)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        assert "Back up now on vm-sandbox-01?" in text_of(app.screen)
        await pilot.press("y")
        await wait_done(pilot, screen, 1)
        operation = screen.operations.items[-1]
        assert not operation.failed and "transferred" in operation.sentence
        assert isinstance(app.screen, OperationPanel)
        await pilot.press("escape")
        await until(
            pilot,
            lambda: not next(f for f in screen.freshness if f.item.name == story.STALE_BACKUP_ITEM).breached,
            "the breach to end",
        )


@pytest.mark.asyncio
async def test_restore_needs_the_name_typed_and_runs(
    build_app: Callable[..., OpsConsole], backup_azure: EmulatorThread
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select_item(pilot, screen, "psql-orders-prod")
        sent = changes_sent(backup_azure)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RestoreScreen), "the restore form")
        await pilot.press("enter")  # the newest point
        await pilot.press(*"psql-orders-drill", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the typed confirmation")
        assert "psql-orders-drill" in text_of(app.screen)
        await pilot.press("enter")  # nothing typed: refused in the dialog
        assert isinstance(app.screen, ConfirmScreen) and "type psql-orders-prod" in text_of(app.screen)
        assert changes_sent(backup_azure) == sent
        app.screen.query_one(Input).value = "psql-orders-prod"
        await pilot.press("enter")
        await wait_done(pilot, screen, 1)
        operation = screen.operations.items[-1]
        assert not operation.failed and "psql-orders-drill" in operation.sentence, operation.sentence
        restores = [e for e in app.services.context.journal.entries() if e.get("action") == "restore"]
        assert [e["phase"] for e in restores] == ["intent", "outcome"]


@pytest.mark.asyncio
async def test_read_only_refuses_before_any_dialog_or_request(
    build_app: Callable[..., OpsConsole], backup_azure: EmulatorThread
) -> None:
    app = build_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        sent = changes_sent(backup_azure)
        for key in ("b", "R", "D"):
            await pilot.press(key)
            assert isinstance(app.screen, BackupScreen)
        await until(pilot, lambda: sum("read-only" in n for n in notices(app)) == 3, "three refusals")
        assert changes_sent(backup_azure) == sent and not screen.operations.items


@pytest.mark.asyncio
async def test_a_drill_from_the_screen_is_listed_on_its_item(build_app: Callable[..., OpsConsole]) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await select_item(pilot, screen, "vm-jump-prod-01")
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DrillScreen), "the drill form")
        await pilot.press("enter")  # the suggested KQL verification
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the typed confirmation")
        app.screen.query_one(Input).value = "vm-jump-prod-01"
        await pilot.press("enter")
        await wait_done(pilot, screen, 1)
        operation = screen.operations.items[-1]
        assert not operation.failed and "verification pass" in operation.sentence, operation.sentence
        await pilot.press("escape")
        await select_item(pilot, screen, "vm-jump-prod-01")
        await until(pilot, lambda: "PASS" in detail(screen), "the drill in the item's detail")
        assert "RTO" in detail(screen)


@pytest.mark.asyncio
async def test_app_service_and_postgresql_backups_view_backs_up_and_restores(
    build_app: Callable[..., OpsConsole],
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        await pilot.press("v", "v")
        assert screen.view == "platform"
        await until(pilot, lambda: bool(screen.shown_platform), "the App Service and PostgreSQL backups")
        kinds = {type(b).__name__ for b in screen.shown_platform}
        assert kinds == {"AppBackup", "DatabaseBackup"}
        await pilot.press("slash", *"403", "enter")
        assert len(screen.shown_platform) == 1 and "403" in detail(screen)
        await pilot.press("escape")
        await pilot.press("slash", *"app-catalog-prod", "enter")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
        await pilot.press("y")
        await wait_done(pilot, screen, 1)
        assert not screen.operations.items[-1].failed, screen.operations.items[-1].sentence
        await pilot.press("escape")
        await until(pilot, lambda: any(not b.scheduled for b in screen.shown_platform), "the new backup listed")
        screen.query_one(DataTable).move_cursor(row=0)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the typed confirmation")
        app.screen.query_one(Input).value = "app-catalog-prod"
        await pilot.press("enter")
        await wait_done(pilot, screen, 2)
        assert "Restored app-catalog-prod" in screen.operations.items[-1].sentence


@pytest.mark.asyncio
async def test_an_escape_typed_before_the_colon_does_not_close_the_bar(build_app: Callable[..., OpsConsole]) -> None:
    """On a busy screen the escape before `:` can be passed on after `:` opened the bar (a priority binding)."""
    from textual import events

    from screens.shell import CommandBar

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_area(pilot)
        early = events.Key("escape", "\x1b")  # stamped now, before the bar opens
        await pilot.press("colon")
        bar = screen.query_one(CommandBar)
        assert bar.is_open
        app.post_message(early)
        await pilot.pause()
        assert bar.is_open and app.focused is bar
        await pilot.press(*"runbooks", "enter")
        await until(pilot, lambda: app.current_mode == "runbooks", "the runbooks area")
        await pilot.press("colon", *"backup", "enter")
        await until(pilot, lambda: app.current_mode == "backup", "the backup area")
        await pilot.press("colon", "escape")  # an escape typed after `:` still closes it
        assert not screen.query_one(CommandBar).is_open
