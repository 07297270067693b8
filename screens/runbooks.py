"""Runbooks: a filterable list, and each runbook as a document whose KQL steps run in place."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import (
    ContentSwitcher,
    DataTable,
    Input,
    Markdown,
    Static,
    TabbedContent,
    TabPane,
    Tabs,
)
from textual.worker import Worker

from console.durations import timespan_text
from console.models import StepRun, Workspace
from console.runbooks import Parameter, Runbook, RunbookError, Step
from screens.area import FilterBox, ListAreaScreen, ListStates
from screens.filtering import compile_filter, filter_problem
from screens.messages import OpenInLogs, OpenRunbook
from screens.shell import ShellContext
from screens.widgets.chart import ResultChart
from screens.widgets.result_grid import ResultGrid

if TYPE_CHECKING:
    from console.services import Services
    from console.services.runbooks import StepSession

INLINE_GRID_ROWS = 12
"""Rows of a step's result shown before the grid scrolls."""

_PARAMETER_NAME = re.compile(r"parameter '([A-Za-z_][A-Za-z0-9_]*)'")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


# ---------------------------------------------------------------------------------------------------
# Plain helpers (no widgets): tested on their own
# ---------------------------------------------------------------------------------------------------


def default_text(parameter: Parameter) -> str:
    """What the parameter form shows for a default, in a spelling `parse_value` reads back to the same value."""
    return value_text(parameter.default) if parameter.default is not None else ""


def value_text(value: Any) -> str:
    """A typed parameter value as a user would type it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return timespan_text(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple):
        if any(isinstance(item, str) and ("," in item or item != item.strip()) for item in value):
            return json.dumps(list(value))
        return ", ".join(value_text(item) for item in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def raw_parameters(runbook: Runbook, texts: dict[str, str]) -> dict[str, str]:
    """The form's texts as `bind` takes them: an empty box of a required parameter counts as not given."""
    raw: dict[str, str] = {}
    for parameter in runbook.parameters:
        text = texts.get(parameter.name, "")
        if parameter.required and not text.strip():
            continue
        raw[parameter.name] = text
    return raw


def split_binding_errors(runbook: Runbook, error: RunbookError) -> tuple[dict[str, str], list[str]]:
    """A binding error's sentences by the parameter they name, plus the ones that name none of them."""
    names = {parameter.name for parameter in runbook.parameters}
    by_parameter: dict[str, str] = {}
    general: list[str] = []
    for sentence in str(error.message).split("; "):
        named = [found for found in _PARAMETER_NAME.findall(sentence) if found in names]
        if named and named[0] not in by_parameter:
            by_parameter[named[0]] = sentence
        else:
            general.append(sentence)
    return by_parameter, general


def trailing_prose(body: str) -> str:
    """The Markdown after the last fenced block of a runbook body (steps carry the prose before them)."""
    lines = body.splitlines()
    last_close = -1
    open_fence: str | None = None
    for index, line in enumerate(lines):
        found = _FENCE.match(line)
        if found is None:
            continue
        if open_fence is None:
            open_fence = found.group(1)
        elif line.strip() and set(line.strip()) == {open_fence[0]} and len(line.strip()) >= len(open_fence):
            open_fence = None
            last_close = index
    return "\n".join(lines[last_close + 1 :]).strip() if last_close >= 0 else ""


def summarise(results: list[StepRun]) -> dict[str, int]:
    """Counts of pass, fail, inconclusive, error and info over the steps that ran."""
    kinds = ("pass", "fail", "inconclusive", "error", "info")
    return {status: sum(1 for r in results if r.status == status) for status in kinds}


def _show_observed(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _when(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return str(text)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the console's one datetime spelling


def _recorded_text(value: Any) -> str:
    """A parameter value as the history stored it, spelled the way the form reads it back."""
    if isinstance(value, list):
        return value_text(tuple(value))
    return value_text(value)


def _parameters_text(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in parameters.items())


# ---------------------------------------------------------------------------------------------------
# One step as a focusable block
# ---------------------------------------------------------------------------------------------------


class StepView(Vertical, can_focus=True):
    """One runbook step: its query, its check, and after a run the verdict and the result inline."""

    DEFAULT_CSS = """
    StepView {
        height: auto;
        margin: 0 0 1 0;
        padding: 0 1;
        border: round $panel;
    }
    StepView:focus, StepView:focus-within {
        border: round $accent;
    }
    StepView > .step-header { text-style: bold; }
    StepView > .step-kql { color: $text-muted; margin: 0 0 0 2; }
    StepView > .step-outcome { margin: 0 0 0 2; }
    StepView.-pass > .step-outcome { color: $success; }
    StepView.-fail > .step-outcome { color: $error; }
    StepView.-inconclusive > .step-outcome { color: $warning; }
    StepView.-error > .step-outcome { color: $error; text-style: bold; }
    StepView.-running > .step-outcome { color: $text-muted; text-style: italic; }
    StepView > ResultGrid { height: auto; max-height: 13; display: none; }
    StepView > ResultChart { height: 10; display: none; }
    StepView.-has-rows > ResultGrid { display: block; }
    StepView.-has-chart > ResultChart { display: block; }
    """
    BINDINGS = [Binding("enter", "run", "Run step", id="runbooks.run_step_enter")]

    class RunRequested(Message):
        """The user asked to run this step."""

        def __init__(self, view: StepView) -> None:
            super().__init__()
            self.view = view

        @property
        def control(self) -> StepView:
            return self.view

    def __init__(self, step: Step, index: int) -> None:
        super().__init__(id=f"step-{index}", classes="step")
        self.step = step
        self.index = index
        self.result: StepRun | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._header(), classes="step-header")
        yield Static(Text(self.step.kql), classes="step-kql")
        yield Static(Text("Not run yet: enter or r runs this step.", style="dim"), classes="step-outcome")
        yield ResultGrid(classes="step-grid")
        yield ResultChart(classes="step-chart")

    def _header(self, mark: str = "") -> Text:
        text = Text()
        if mark:
            text.append(f"{mark}  ")
        text.append(f"{self.index + 1}. {self.step.name}")
        if self.step.check is not None:
            text.append(f"   check: {self.step.check.source}", style="not bold")
        return text

    def action_run(self) -> None:
        self.post_message(self.RunRequested(self))

    def show_running(self) -> None:
        self._set_state("running")
        self.query_one(".step-outcome", Static).update("Running…")

    def show_result(self, run: StepRun) -> None:
        """Mark the step pass / fail / error / info and show its rows (and a chart if it asked for one)."""
        self.result = run
        self._set_state(run.status)
        marks = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "inconclusive": "INCONCLUSIVE", "info": "DONE"}
        self.query_one(".step-header", Static).update(self._header(marks[run.status]))
        outcome = Text()
        if run.error is not None:
            outcome.append(run.error)
        else:
            if run.sentence:
                outcome.append(run.sentence)
                if run.observed is not None:
                    outcome.append(f"  (observed {_show_observed(run.observed)})")
                outcome.append("\n")
            rows = run.row_count or 0
            outcome.append(f"{rows} row{'s' * (rows != 1)}", style="dim")
            if run.result is not None:
                outcome.append(f" in {run.result.duration_ms:.0f} ms", style="dim")
                if run.result.partial_error:
                    outcome.append(f"\nPartial result: {run.result.partial_error}")
        self.query_one(".step-outcome", Static).update(outcome)
        grid = self.query_one(ResultGrid)
        chart = self.query_one(ResultChart)
        result = run.result
        has_rows = result is not None and result.row_count > 0
        self.set_class(has_rows, "-has-rows")
        if result is not None and has_rows:
            grid.load(result.table, {c.name: c.type for c in result.columns})
            grid.styles.height = min(result.row_count, INLINE_GRID_ROWS) + 1
        if result is not None and result.render and has_rows:
            self.add_class("-has-chart")
            chart.plot(result.table, result.render)
        else:
            self.remove_class("-has-chart")
            chart.clear()

    def show_recorded(self, step: dict[str, Any], at: str) -> None:
        """Show a step's verdict as a past run recorded it (its rows were not kept: enter runs it again)."""
        self.result = None
        status = str(step.get("status", "info"))
        marks = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "inconclusive": "INCONCLUSIVE", "info": "DONE"}
        state = status if status in marks else "info"
        self._set_state(state)
        self.query_one(".step-header", Static).update(self._header(marks[state]))
        outcome = Text(f"Recorded {state.upper()} in the run of {at}")
        rows = step.get("rows")
        if rows is not None:
            outcome.append(f": {rows} row{'s' * (rows != 1)}")
        if step.get("observed") is not None:
            outcome.append(f" (observed {_show_observed(step['observed'])})")
        outcome.append("\nThe rows were not kept; enter or r runs the step again to see them.", style="dim")
        self.query_one(".step-outcome", Static).update(outcome)
        self.remove_class("-has-rows", "-has-chart")
        self.query_one(ResultChart).clear()

    def _set_state(self, state: str) -> None:
        for name in ("pass", "fail", "inconclusive", "error", "info", "running"):
            self.set_class(name == state, f"-{name}")


# ---------------------------------------------------------------------------------------------------
# The screen
# ---------------------------------------------------------------------------------------------------


class RunbooksScreen(ListAreaScreen):
    """Runbooks by title and tags with their last result; enter opens one as a document to run."""

    AREA = "runbooks"
    AUTO_FOCUS = "#runbook-table"
    DEFAULT_CSS = """
    RunbooksScreen #views { height: 1fr; }
    RunbooksScreen #list-view { height: 1fr; }
    RunbooksScreen #list-crumbs { height: 1; padding: 0 1; color: $text-muted; }
    RunbooksScreen #list-area { height: 1fr; }
    RunbooksScreen .state { padding: 1 2; }
    RunbooksScreen #doc-view { height: 1fr; }
    RunbooksScreen #doc-title { height: auto; padding: 0 1; text-style: bold; background: $panel; }
    RunbooksScreen #doc-meta { height: auto; padding: 0 1; color: $text-muted; }
    RunbooksScreen #summary { height: auto; padding: 0 1; }
    RunbooksScreen #summary.-pass { color: $success; }
    RunbooksScreen #summary.-inconclusive { color: $warning; text-style: bold; }
    RunbooksScreen #summary.-fail, RunbooksScreen #summary.-error { color: $error; text-style: bold; }
    RunbooksScreen #doc-tabs { height: 1fr; }
    RunbooksScreen #document { height: 1fr; padding: 0 1; }
    RunbooksScreen #parameters { height: auto; border: round $panel; padding: 0 1; margin: 0 0 1 0; }
    RunbooksScreen .param-row { height: auto; }
    RunbooksScreen .param-label { width: 26; padding: 1 1 0 0; }
    RunbooksScreen .param-input { width: 40; }
    RunbooksScreen .param-hint { width: 1fr; padding: 1 0 0 1; color: $text-muted; }
    RunbooksScreen .param-error { display: none; color: $error; padding: 0 0 0 26; }
    RunbooksScreen .param-error.-shown { display: block; }
    RunbooksScreen Input.-invalid { border: tall $error; }
    RunbooksScreen #form-error { display: none; color: $error; }
    RunbooksScreen #form-error.-shown { display: block; }
    RunbooksScreen Markdown { margin: 0; padding: 0; }
    RunbooksScreen #history-table { height: 1fr; }
    """
    BINDINGS = [
        Binding("r", "run_step", "Run step", id="runbooks.run_step"),
        Binding("R,ctrl+r", "run_all", "Run all", id="runbooks.run_all"),
        Binding("l", "open_in_logs", "Open in Logs", id="runbooks.open_in_logs"),
        Binding("h", "show_history", "History", id="runbooks.history"),
        Binding("p", "edit_parameters", "Parameters", id="runbooks.parameters"),
        Binding("escape", "back", "Back", id="runbooks.back"),
        Binding("f5", "refresh", "Refresh", show=False, id="runbooks.refresh"),
    ]

    LOAD_FAILURES = {"runbooks-list": "Could not load the runbooks."}
    RETRY_HINT = "Press F5 to retry."

    def __init__(self, context: ShellContext, services: Services) -> None:
        super().__init__(context)
        self.services = services
        self.service = services.runbooks
        self.runbooks: list[Runbook] = []
        self.shown: list[Runbook] = []
        self.last_runs: dict[str, dict[str, Any]] = {}
        self.current: Runbook | None = None
        self.workspace: Workspace | None = None
        self.history_entries: list[dict[str, Any]] = []
        self._pending_open: str | None = None
        self._given_values: tuple[str, dict[str, str]] | None = None
        """Parameter values an `OpenRunbook` gave, for the form of that runbook when it is next shown."""
        self._document_ready: Runbook | None = None
        """The runbook whose widgets are mounted in the document (None while a swap is under way)."""

    # layout ----------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with ContentSwitcher(initial="list-view", id="views"):
            with Vertical(id="list-view"):
                yield Static("Runbooks", id="list-crumbs")
                yield FilterBox("filter: title, tag or name (regex, ! inverts), esc clears")
                yield ListStates(
                    DataTable(id="runbook-table", cursor_type="row", zebra_stripes=True),
                    loading_id="list-loading",
                    empty_id="list-empty",
                    error_id="list-error",
                    empty_text="No runbooks found.",
                    id="list-area",
                )
            with Vertical(id="doc-view"):
                yield Static("", id="doc-title")
                yield Static("", id="doc-meta")
                yield Static("", id="summary")
                with TabbedContent(id="doc-tabs"):
                    with TabPane("Runbook", id="doc-pane"):
                        yield VerticalScroll(id="document")
                    with (
                        TabPane("History", id="history-pane"),
                        ContentSwitcher(initial="history-empty", id="history-area"),
                    ):
                        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
                        yield Static("This runbook has not been run here yet.", id="history-empty", classes="state")

    def on_mount(self) -> None:
        table = self.query_one("#runbook-table", DataTable)
        table.add_column("Title", key="title")
        table.add_column("Tags", key="tags")
        table.add_column("Last run", key="last")
        table.add_column("Name", key="name")
        history = self.query_one("#history-table", DataTable)
        history.add_column("Time", key="at")
        history.add_column("Status", key="status")
        history.add_column("Summary", key="summary")
        history.add_column("Parameters", key="parameters")
        self.load_runbooks()

    # loading ---------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="runbooks-list", name="load runbooks")
    async def load_runbooks(self) -> None:
        if not self.runbooks:
            self.states.show_loading()
        found, last = await asyncio.to_thread(lambda: (self.service.available(), self.service.last_runs()))
        self.runbooks = found
        self.last_runs = last
        self._show_list()
        if self._pending_open is not None:
            name, self._pending_open = self._pending_open, None
            self.open_runbook(name)

    @work(exclusive=True, exit_on_error=False, group="runbooks-workspace", name="find workspace")
    async def load_workspace(self, runbook: Runbook) -> None:
        self.query_one("#doc-meta", Static).update(self._meta_text("looking for a workspace…"))
        workspace = await self._resolve_workspace(runbook)
        if self.current is runbook:
            self.workspace = workspace
            self.query_one("#doc-meta", Static).update(self._meta_text())

    async def _resolve_workspace(self, runbook: Runbook) -> Workspace:
        """settings.workspace, else the runbook's own, else the first workspace found (as Logs chooses it)."""
        wanted = self.services.settings.workspace or runbook.workspace or None
        return await self.services.logs.find_workspace(self.services.resources, wanted)

    @work(exclusive=True, exit_on_error=False, group="runbooks-history", name="load run history")
    async def load_history(self, runbook: Runbook) -> None:
        entries = await asyncio.to_thread(self.service.history, runbook.name)
        if self.current is not runbook:
            return
        self.history_entries = entries
        table = self.query_one("#history-table", DataTable)
        table.clear()
        for index, entry in enumerate(entries):
            status = str(entry.get("status", ""))
            table.add_row(
                _when(str(entry.get("at", ""))),
                Text(status.upper(), style="bold" if status in ("fail", "error") else ""),
                str(entry.get("summary", "")),
                _parameters_text(dict(entry.get("parameters") or {})),
                key=str(index),
            )
        self.query_one("#history-area", ContentSwitcher).current = "history-table" if entries else "history-empty"

    @work(exclusive=True, exit_on_error=False, group="runbooks-run", name="run runbook steps")
    async def run_steps(
        self, runbook: Runbook, indices: list[int], bound: tuple[dict[str, Any], str], whole: bool
    ) -> None:
        """Run steps in order and show each verdict as it comes; record a whole run, or a session once complete."""
        values, prelude = bound
        for index in indices:
            self.query_one(f"#step-{index}", StepView).show_running()
        workspace = await self._resolve_workspace(runbook)
        self.workspace = workspace
        self.query_one("#doc-meta", Static).update(self._meta_text())
        previous = self.service.session
        if previous is not None and (whole or not previous.matches(runbook, values, workspace.customer_id)):
            await self._record(previous)
        session = await self.service.open_session(runbook, values, workspace.customer_id, whole=whole)
        for index in indices:
            view = self.query_one(f"#step-{index}", StepView)
            result = await self.service.run_session_step(session, index, prelude)
            if self.current is not runbook:
                return
            view.show_result(result)
            self._show_summary()
        if whole or session.complete:
            await self._record(session)

    async def _record(self, session: StepSession) -> None:
        """Have the service record `session`; the list's last run and the history tab follow."""
        run = await self.service.finish_session(session)
        if run is None or not self.is_attached:
            return
        self.last_runs[run.runbook] = {"status": run.status, "at": run.started_at.isoformat()}
        self._show_list()
        if self.current is not None and self.current.name == run.runbook:
            self.load_history(self.current)

    def _record_in_background(self) -> None:
        """Record the open runbook's unrecorded steps: the user is leaving it."""
        session = self.service.session
        if session is not None and not session.recorded and session.results:
            self.run_worker(self._record(session), group="runbooks-record", name="record run", exit_on_error=False)

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        """A failed workspace lookup or run is told in the document (the list's failure is the base's)."""
        if worker.group in ("runbooks-workspace", "runbooks-run"):
            self.query_one("#doc-meta", Static).update(Text(f"No workspace to run against: {message}"))
            for view in self.query(StepView).results(StepView):
                if view.has_class("-running"):
                    view.show_result(StepRun(view.step.name, "", error=message))
            self.notify(message, severity="error", timeout=8)
            return True
        return False

    # the list --------------------------------------------------------------------------------

    def _show_list(self) -> None:
        pattern, inverse = compile_filter(self.filter_text)

        def matches(runbook: Runbook) -> bool:
            if pattern is None:
                return True
            fields = [runbook.title, runbook.name, runbook.description, *runbook.tags]
            return any(pattern.search(text) is not None for text in fields) != inverse

        self.shown = [r for r in self.runbooks if matches(r)]
        table = self.query_one("#runbook-table", DataTable)
        table.clear()
        for runbook in self.shown:
            table.add_row(
                runbook.title, ", ".join(runbook.tags), self._last_run_text(runbook), runbook.name, key=runbook.name
            )
        count = f"{len(self.shown)} of {len(self.runbooks)}" if self.filter_text else str(len(self.runbooks))
        note = f"   filter: {self.filter_text}" if self.filter_text else ""
        problem = filter_problem(self.filter_text)
        if problem:
            note += f" ({problem})"
        self.query_one("#list-crumbs", Static).update(f"Runbooks ({count}){note}   enter opens")
        if self.shown:
            self.states.show_content()
        else:
            self.states.show_empty("No runbook matches the filter." if self.runbooks else None)

    def show_rows(self) -> None:
        self._show_list()

    def reload(self) -> None:
        self.load_runbooks()

    def _last_run_text(self, runbook: Runbook) -> Text:
        entry = self.last_runs.get(runbook.name)
        if not entry:
            return Text("never", style="dim")
        status = str(entry.get("status", "?"))
        text = Text(status.upper(), style="bold" if status in ("fail", "error") else "")
        text.append(f"  {_when(str(entry.get('at', '')))}", style="dim")
        return text

    @on(DataTable.RowSelected, "#runbook-table")
    def _runbook_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_runbook(str(event.row_key.value))

    @on(DataTable.RowSelected, "#history-table")
    def _history_selected(self, event: DataTable.RowSelected) -> None:
        """enter on a past run reopens it: its parameters back in the form, each step's recorded verdict."""
        event.stop()
        key = event.row_key.value
        if key is None or self.current is None or self._document_ready is not self.current:
            return
        entry = self.history_entries[int(key)]
        self.reopen_run(entry)

    def reopen_run(self, entry: dict[str, Any]) -> None:
        """Show a recorded run of the open runbook in its document."""
        runbook = self.current
        assert runbook is not None
        recorded = dict(entry.get("parameters") or {})
        for parameter in runbook.parameters:
            if parameter.name in recorded:
                self.query_one(f"#param-{parameter.name}", Input).value = _recorded_text(recorded[parameter.name])
        at = _when(str(entry.get("at", "")))
        steps = {str(step.get("name")): step for step in entry.get("steps") or []}
        for view in self.query(StepView).results(StepView):
            step = steps.get(view.step.name)
            if step is not None:
                view.show_recorded(step, at)
        self.service.forget_session()
        summary = self.query_one("#summary", Static)
        status = str(entry.get("status", ""))
        for name in ("pass", "fail", "inconclusive", "error"):
            summary.set_class(name == status, f"-{name}")
        line = f"{status.upper()}   the run of {at}: {entry.get('summary', '')}   (R runs it again with these values)"
        summary.update(Text(line))
        self.query_one("#doc-tabs", TabbedContent).active = "doc-pane"
        self._focus_first_step()

    # the document ----------------------------------------------------------------------------

    def on_open_runbook(self, message: OpenRunbook) -> None:
        """The palette (or another area) asked to open a runbook."""
        if message.delivered:
            self._given_values = (message.name, dict(message.params))
            self.open_runbook(message.name)

    def open_runbook(self, name: str) -> None:
        """Show a runbook as a document (also used by the command palette)."""
        runbook = next((r for r in self.runbooks if r.name == name), None)
        if runbook is None:
            if not self.runbooks:
                self._pending_open = name
                return
            self.notify(f"No runbook is called {name!r}.", severity="warning")
            return
        if self.current is not runbook:
            self._record_in_background()
        self.current = runbook
        self.service.forget_session()
        self.workspace = None
        self.query_one("#views", ContentSwitcher).current = "doc-view"
        self.query_one("#doc-title", Static).update(Text(runbook.title))
        self.query_one("#doc-meta", Static).update(self._meta_text())
        self._show_summary()
        self.query_one("#doc-tabs", TabbedContent).active = "doc-pane"
        self._document_ready = None
        # The old document's widgets (ids `parameters`, `step-0`, ...) must be gone before the new ones
        # mount, so the swap runs as one awaited task; a newer open replaces an unfinished one.
        self.run_worker(
            self._show_document(runbook),
            exclusive=True,
            group="runbooks-document",
            name="show runbook document",
            exit_on_error=False,
        )
        self.load_workspace(runbook)
        self.load_history(runbook)

    async def _show_document(self, runbook: Runbook) -> None:
        document = self.query_one("#document", VerticalScroll)
        await document.remove_children()
        if self.current is not runbook:
            return
        await document.mount_all(self._document_widgets(runbook))
        if self.current is not runbook:
            return  # the user went back (or on) while the steps mounted: the focus is theirs, not the document's
        document.scroll_home(animate=False)
        self._document_ready = runbook
        if self._given_values is not None and self._given_values[0] == runbook.name:
            self._given_values = None
        self._show_summary()
        self._focus_first_step()

    def _document_widgets(self, runbook: Runbook) -> list[Any]:
        widgets: list[Any] = []
        given = self._given_values[1] if self._given_values and self._given_values[0] == runbook.name else {}
        if runbook.description:
            widgets.append(Static(Text(runbook.description, style="italic")))
        if runbook.parameters:
            rows: list[Any] = []
            for parameter in runbook.parameters:
                label = f"{parameter.name} ({parameter.type})" + (" *" if parameter.required else "")
                hint = parameter.description
                if parameter.allowed:
                    hint += f"  [one of: {', '.join(value_text(a) for a in parameter.allowed)}]"
                rows.append(
                    Horizontal(
                        Static(label, classes="param-label"),
                        Input(
                            given.get(parameter.name, default_text(parameter)),
                            id=f"param-{parameter.name}",
                            classes="param-input",
                        ),
                        Static(hint, classes="param-hint"),
                        classes="param-row",
                    )
                )
                rows.append(Static("", id=f"param-error-{parameter.name}", classes="param-error"))
            rows.append(Static("", id="form-error"))
            widgets.append(Vertical(*rows, id="parameters"))
        for index, step in enumerate(runbook.steps):
            if step.prose:
                widgets.append(Markdown(step.prose, classes="prose"))
            widgets.append(StepView(step, index))
        tail = trailing_prose(runbook.prose)
        if tail:
            widgets.append(Markdown(tail, classes="prose"))
        return widgets

    def _focus_first_step(self) -> None:
        if self.query_one("#views", ContentSwitcher).current != "doc-view":
            return
        views = list(self.query(StepView).results(StepView))
        if views:
            views[0].focus(scroll_visible=False)

    def _meta_text(self, note: str | None = None) -> Text:
        text = Text()
        if self.current is not None:
            text.append(f"{self.current.name}   ")
            if self.current.tags:
                text.append(f"tags: {', '.join(self.current.tags)}   ")
        if note is not None:
            text.append(note, style="italic")
        elif self.workspace is not None:
            text.append(f"workspace: {self.workspace.name} ({self.workspace.customer_id})")
        text.append("   enter/r step · R all · l logs · h history · p parameters · esc back", style="dim")
        return text

    def _show_summary(self) -> None:
        summary = self.query_one("#summary", Static)
        views = list(self.query(StepView).results(StepView)) if self.current is not None else []
        results = [view.result for view in views if view.result is not None]
        for name in ("pass", "fail", "inconclusive", "error"):
            summary.remove_class(f"-{name}")
        if not results:
            summary.update(Text("Not run yet: R runs every step in order.", style="dim"))
            return
        counts = summarise(results)
        status = next((s for s in ("error", "fail", "inconclusive") if counts[s]), "pass")
        summary.add_class(f"-{status}")
        line = Text(f"{status.upper()}   ")
        line.append(f"{counts['pass']} pass / {counts['fail']} fail / {counts['error']} error")
        if counts["inconclusive"]:
            line.append(f" / {counts['inconclusive']} inconclusive (partial data)")
        if counts["info"]:
            line.append(f"  ({counts['info']} without a check)")
        line.append(f"   {len(results)} of {len(views)} steps run")
        summary.update(line)

    def _form_texts(self) -> dict[str, str]:
        assert self.current is not None
        return {p.name: self.query_one(f"#param-{p.name}", Input).value for p in self.current.parameters}

    def _bind(self) -> tuple[dict[str, Any], str] | None:
        """Bind the form; on a bad value show the sentences next to their inputs and return None."""
        runbook = self.current
        assert runbook is not None
        for parameter in runbook.parameters:
            self.query_one(f"#param-{parameter.name}", Input).remove_class("-invalid")
            self.query_one(f"#param-error-{parameter.name}", Static).remove_class("-shown")
        if runbook.parameters:
            self.query_one("#form-error", Static).remove_class("-shown")
        try:
            return self.service.bind(runbook, raw_parameters(runbook, self._form_texts()))
        except RunbookError as error:
            by_parameter, general = split_binding_errors(runbook, error)
            for name, sentence in by_parameter.items():
                self.query_one(f"#param-{name}", Input).add_class("-invalid")
                label = self.query_one(f"#param-error-{name}", Static)
                label.update(sentence)
                label.add_class("-shown")
            if general:
                form_error = self.query_one("#form-error", Static)
                form_error.update("; ".join(general))
                form_error.add_class("-shown")
            first = next(iter(by_parameter), None)
            if first is not None:
                self.query_one(f"#param-{first}", Input).focus()
            self.notify("Fix the parameters first: " + str(error.message), severity="error", timeout=8)
            return None

    def _focused_step(self) -> StepView | None:
        node = self.focused
        while node is not None:
            if isinstance(node, StepView):
                return node
            node = node.parent  # type: ignore[assignment]
        return None

    def _start(self, indices: list[int], whole: bool) -> None:
        runbook = self.current
        if runbook is None:
            return
        bound = self._bind()
        if bound is None:
            return
        self.run_steps(runbook, indices, bound, whole)

    @on(StepView.RunRequested)
    def _step_run_requested(self, event: StepView.RunRequested) -> None:
        event.stop()
        self._start([event.view.index], whole=False)

    @on(Input.Submitted, ".param-input")
    def _parameter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._bind() is not None:
            self.focus_next()

    # actions ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        in_document = (
            self.current is not None
            and self._document_ready is self.current
            and self.query_one("#views", ContentSwitcher).current == "doc-view"
        )
        if action in ("run_step", "run_all", "open_in_logs", "show_history", "edit_parameters"):
            return in_document
        return True

    def action_run_step(self) -> None:
        view = self._focused_step()
        if view is None:
            self.notify("Focus a step (tab) to run it, or press R to run them all.", severity="information")
            return
        self._start([view.index], whole=False)

    def action_run_all(self) -> None:
        if self.current is not None:
            self._start(list(range(len(self.current.steps))), whole=True)

    def action_open_in_logs(self) -> None:
        runbook = self.current
        if runbook is None:
            return
        view = self._focused_step() or next(iter(self.query(StepView).results(StepView)), None)
        if view is None:
            return
        bound = self._bind()
        if bound is None:
            return
        self.post_message(OpenInLogs(bound[1] + view.step.kql))

    def action_show_history(self) -> None:
        """`h` switches between the document and its history; focus moves along, or the tab would snap back."""
        tabs = self.query_one("#doc-tabs", TabbedContent)
        if tabs.active == "doc-pane":
            tabs.active = "history-pane"
            if self.history_entries:
                self.query_one("#history-table", DataTable).focus()
            else:
                tabs.query_one(Tabs).focus()
        else:
            tabs.active = "doc-pane"
            self._focus_first_step()

    def action_edit_parameters(self) -> None:
        if self.current is not None and self.current.parameters:
            self.query_one(f"#param-{self.current.parameters[0].name}", Input).focus()
        else:
            self.notify("This runbook takes no parameters.", severity="information")

    def action_back(self) -> None:
        views = self.query_one("#views", ContentSwitcher)
        focused = self.focused
        if views.current == "doc-view" and isinstance(focused, Input) and focused.has_class("param-input"):
            # esc in a parameter box ends the editing, not the runbook.
            self._focus_first_step()
            return
        if views.current == "doc-view":
            self.workers.cancel_group(self, "runbooks-run")
            self._record_in_background()
            self.current = None
            self.service.forget_session()
            views.current = "list-view"
            self.query_one("#runbook-table", DataTable).focus()
            return
        if self.filter_box.is_open or self.filter_text:
            self.clear_filter()

    def action_filter(self) -> None:
        if self.query_one("#views", ContentSwitcher).current == "doc-view":
            self.notify("Go back to the list (esc) to filter runbooks.", severity="information")
            return
        super().action_filter()

    def action_refresh(self) -> None:
        self.load_runbooks()

    def on_screen_suspend(self) -> None:
        # Another area took over: what was run so far goes into the history now.
        self._record_in_background()

    def on_unmount(self) -> None:
        # Leaving the console: the service records a partly run runbook (it is still worth a line).
        self.service.close_session()
