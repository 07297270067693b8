"""The area kit end to end: Resources' `t` (edit tags) through the confirm dialog, the mutation path and the
operation panel, against the local Azure (which counts the requests it was sent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from conftest import EmulatorThread, notices, request_counts
from test_mutation_path import group as group_fixture
from test_resources_screen import SIZE, resources_screen, until, wait_for_rows
from textual.widgets import Input, Static

from console.app import OpsConsole
from console.emulator import estate
from console.models import OperationProgress
from console.services import Services
from console.settings import Settings
from screens.area import failure_message
from screens.resources import ResourcesScreen, Scope
from screens.widgets.confirm import ConfirmScreen, TagsScreen, parse_tags
from screens.widgets.operation import OperationIndicator, OperationPanel, Operations

PROD = estate.PROD_SUBSCRIPTION
group = group_fixture  # a resource group of the test's own, tagged stage=before
Faults = Callable[[list[dict[str, Any]]], Any]


@pytest.fixture
def build_app(make_local_services: Callable[..., Services], settings: Settings) -> Callable[..., OpsConsole]:
    def build(**changes: Any) -> OpsConsole:
        return OpsConsole(replace(settings, **changes), make_local_services(**changes))

    return build


def puts(local_azure: EmulatorThread) -> int:
    return request_counts(local_azure.readiness).get("PUT", 0)


async def open_group_tags(pilot: Any, app: OpsConsole, group_id: str, tags: str) -> ConfirmScreen:
    """Go to the test's (empty) resource group, press t, type the tags; the confirm dialog is up."""
    await wait_for_rows(pilot)
    screen = resources_screen(app)
    prod = next(s for s in app.shell.subscriptions if s.subscription_id == PROD)
    screen._set_scope(Scope(prod, group_id.rsplit("/", 1)[-1]))
    await until(pilot, lambda: screen.query_one("#table-area").current == "empty-state", "the empty group")  # type: ignore[attr-defined]
    await pilot.press("t")
    await until(pilot, lambda: isinstance(app.screen, TagsScreen), "the tags dialog")
    box = app.screen.query_one("#tags-input", Input)
    assert box.value == "stage=before"
    box.value = tags
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm dialog")
    assert isinstance(app.screen, ConfirmScreen)
    return app.screen


def confirm_text(dialog: ConfirmScreen) -> str:
    return " ".join(str(s.render()) for s in dialog.query(Static))


@pytest.mark.asyncio
async def test_confirm_names_action_target_and_subscription_and_cancel_sends_nothing(
    build_app: Callable[..., OpsConsole],
    group: str,
    local_azure: EmulatorThread,
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_group_tags(pilot, app, group, "stage=after")
        name = group.rsplit("/", 1)[-1]
        text = confirm_text(dialog)
        assert f"Set tags on {name}?" in text and group in text and "Contoso Production" in text
        assert "stage=before" in text and "stage=after" in text
        sent = puts(local_azure)
        await pilot.press("escape")
        await until(pilot, lambda: any("nothing was sent" in n for n in notices(app)), "the cancel notice")
        assert puts(local_azure) == sent
        assert not resources_screen(app).operations.items


@pytest.mark.asyncio
async def test_protected_subscription_needs_the_typed_name_then_the_change_runs_in_the_panel(
    build_app: Callable[..., OpsConsole],
    group: str,
    local_azure: EmulatorThread,
) -> None:
    app = build_app(protected_subscriptions=(PROD,))
    name = group.rsplit("/", 1)[-1]
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_group_tags(pilot, app, group, "stage=after, owner=ops")
        screen = app.screen_stack[-2]
        assert isinstance(screen, ResourcesScreen)
        assert "PROTECTED" in confirm_text(dialog)
        sent = puts(local_azure)
        await pilot.press("y", "enter")  # `y` lands in the name box: it is not the name
        problem = dialog.query_one("#confirm-problem", Static)
        assert f"type {name} exactly" in str(problem.render())
        assert isinstance(app.screen, ConfirmScreen) and puts(local_azure) == sent
        dialog.query_one("#confirm-name", Input).value = name
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OperationPanel), "the operation panel")
        await until(pilot, lambda: bool(screen.operations.items) and screen.operations.items[0].done, "the change")
        operation = screen.operations.items[0]
        assert not operation.failed and operation.status == "Succeeded"
        assert operation.sentence == f"Tags of {name} are now: stage=after, owner=ops."
        await until(pilot, lambda: any(f"Tags of {name} are now" in n for n in notices(app)), "the outcome")
        assert puts(local_azure) > sent
        await pilot.press("escape")  # the panel goes; the indicator says how it ended until it is seen
        indicator = screen.query_one(OperationIndicator)
        assert not isinstance(app.screen, OperationPanel)
        await pilot.press("O")
        await until(pilot, lambda: isinstance(app.screen, OperationPanel), "the panel back")
        await pilot.press("escape")
        await until(pilot, lambda: not indicator.has_class("-shown"), "the indicator to go")
    services = build_app().services
    try:
        assert await services.resources.state_of(group) == "tags owner=ops, stage=after"
    finally:
        await services.close()


@pytest.mark.asyncio
async def test_a_failed_change_says_where_things_stand(
    build_app: Callable[..., OpsConsole],
    group: str,
    faults: Faults,
) -> None:
    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_group_tags(pilot, app, group, "stage=after")
        faults([{"path": "/tags/default$", "method": "PUT", "status": 409, "count": 1}])
        screen = app.screen_stack[-2]
        assert isinstance(screen, ResourcesScreen)
        await pilot.press("enter")
        await until(pilot, lambda: any("now: tags stage=before" in n for n in notices(app)), "the failure")
        operation = screen.operations.items[0]
        assert operation.failed and "now: tags stage=before" in operation.sentence
        assert "request id" in operation.sentence


@pytest.mark.asyncio
async def test_read_only_refuses_edit_tags_with_the_sentence_and_no_dialog(
    build_app: Callable[..., OpsConsole], local_azure: EmulatorThread
) -> None:
    app = build_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        sent = puts(local_azure)
        resources_screen(app).query_one("#resource-table").focus()
        await pilot.press("t")
        await until(pilot, lambda: any("Refused to set tags" in n for n in notices(app)), "the refusal")
        assert not isinstance(app.screen, TagsScreen)
        assert puts(local_azure) == sent


def test_tags_text_is_read_or_refused_with_a_sentence() -> None:
    assert parse_tags("a=1, b = two ,") == {"a": "1", "b": "two"}
    assert parse_tags("") == {}
    with pytest.raises(ValueError, match="not key=value"):
        parse_tags("a=1, nonsense")
    with pytest.raises(ValueError, match="given twice"):
        parse_tags("a=1, a=2")


def test_failure_message_keeps_the_sentence_request_id_and_retry_after() -> None:
    from console.errors import ErrorKind, OpsError

    throttled = OpsError(ErrorKind.THROTTLED, "Azure is throttling.", request_id="abc", retry_after=12)
    assert (
        failure_message(throttled)
        == "Azure is throttling. (request id abc) Azure asked to wait 12 s before trying again."
    )
    assert failure_message(RuntimeError("boom")) == "Unexpected failure: RuntimeError('boom')"


def test_operations_take_progress_reports() -> None:
    operations = Operations()
    operation = operations.start("set tags", "rg")
    Operations.progress(operation, OperationProgress("set tags", "rg", "InProgress", 2.0))
    assert operations.running == [operation] and operation.status == "InProgress"
    Operations.finish(operation, "Succeeded.")
    assert operations.running == [] and operation.done


@pytest.mark.asyncio
async def test_edit_tags_and_operations_keys_are_listed_by_question_mark(build_app: Callable[..., OpsConsole]) -> None:
    from screens.shell import KeyHelpScreen

    app = build_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot)
        resources_screen(app).query_one("#resource-table").focus()
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, KeyHelpScreen), "the key help")
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Edit tags" in text and "resources.tags" in text
        assert "Operations" in text and "area.operations" in text
