"""Logs: KQL editor, time range, schema sidebar, a grid fast enough for a million rows, charts and export."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Input, OptionList, ProgressBar, Static, Tree
from textual.widgets.option_list import Option
from textual.worker import Worker

from console.errors import ErrorKind, OpsError
from console.export import ExportCancelledError, export_table, format_for
from console.history import HistoryEntry, QueryHistory
from console.models import QueryResult, Workspace, WorkspaceSchema
from console.services.logs import QueryProgress, Timespan
from screens.area import ListAreaScreen, ListStates
from screens.messages import OpenInLogs
from screens.shell import ShellContext, ShellHeader
from screens.widgets.chart import CHART_KINDS, ResultChart
from screens.widgets.kql_editor import KqlEditor, Statement
from screens.widgets.result_grid import ResultGrid
from screens.widgets.time_range import CUSTOM, PRESETS, TimeRangePicker, describe

if TYPE_CHECKING:
    from console.services import Services

STARTER_QUERY = (
    "AppRequests\n| summarize requests = count(), failed = countif(Success == false) by bin(TimeGenerated, 1h)\n"
    "| render timechart"
)


def default_export_path(workspace: str, now: datetime | None = None, suffix: str = ".csv") -> Path:
    """A file name in the current directory that says what and when: `logs-<workspace>-<stamp>.csv`."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^\w.-]+", "-", workspace).strip("-") or "query"
    return Path.cwd() / f"logs-{safe}-{stamp}{suffix}"


def _moment_text(text: str) -> str:
    """A stored ISO timestamp in the console's one datetime spelling (ISO 8601 UTC with a Z)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HistoryScreen(ModalScreen[str | None]):
    """Searchable query history, newest first; enter picks a query, escape closes."""

    DEFAULT_CSS = """
    HistoryScreen { align: center middle; }
    HistoryScreen > Vertical {
        width: 100; height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HistoryScreen #history-search { margin-bottom: 1; }
    HistoryScreen #history-list { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "dismiss_none", "Close", id="history.close"),
        Binding("down", "focus_list", "List", show=False, id="history.to_list"),
    ]

    def __init__(self, history: QueryHistory) -> None:
        super().__init__()
        self.history = history

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Query history (type to search, enter picks)", style="bold"))
            yield Input(placeholder="search words", id="history-search")
            yield OptionList(id="history-list")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#history-search", Input).focus()

    def _fill(self, text: str) -> None:
        options = self.query_one("#history-list", OptionList)
        options.clear_options()
        for index, entry in enumerate(self.history.search(text, limit=500)):
            options.add_option(Option(self._describe(entry), id=str(index)))
        self._shown = self.history.search(text, limit=500)
        if options.option_count:
            options.highlighted = 0

    @staticmethod
    def _describe(entry: HistoryEntry) -> Text:
        line = Text()
        first = entry.kql.replace("\n", " ⏎ ")
        line.append(first[:80] + ("…" if len(first) > 80 else ""))
        outcome = (entry.error and "error") or (f"{entry.rows:,} rows" if entry.rows is not None else "")
        line.append(f"\n  {_moment_text(entry.at)}  {entry.timespan}  {outcome}", style="dim")
        return line

    @on(Input.Changed, "#history-search")
    def _search(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#history-search")
    def _submit_search(self, event: Input.Submitted) -> None:
        self._pick(self.query_one("#history-list", OptionList).highlighted)

    @on(OptionList.OptionSelected, "#history-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._pick(event.option_index)

    def _pick(self, index: int | None) -> None:
        if index is None or index >= len(self._shown):
            return
        self.dismiss(self._shown[index].kql)

    def action_focus_list(self) -> None:
        self.query_one("#history-list", OptionList).focus()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[Path | None]):
    """Asks where to export; the extension (.csv, .jsonl, .parquet) picks the format."""

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 90; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ExportScreen #export-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="export.cancel")]

    def __init__(self, default: Path, rows: int) -> None:
        super().__init__()
        self.default = default
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Export {self.rows:,} rows: .csv, .jsonl or .parquet; enter writes, esc cancels"))
            yield Input(str(self.default), id="export-path")
            yield Static("", id="export-problem")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(Input.Submitted, "#export-path")
    def _submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        try:
            format_for(path)
        except OpsError as error:
            self.query_one("#export-problem", Static).update(error.message)
            return
        if not path.is_absolute():
            path = Path.cwd() / path
        if not path.parent.is_dir():
            self.query_one("#export-problem", Static).update(f"The folder {path.parent} does not exist.")
            return
        self.dismiss(path)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class LogsScreen(ListAreaScreen):
    """Run KQL against a Log Analytics workspace and look at, sort, chart, copy and export the result."""

    AREA = "logs"
    DEFAULT_CSS = """
    LogsScreen #schema-tree { width: 32; border-right: vkey $panel; }
    LogsScreen #schema-tree.-hidden { display: none; }
    LogsScreen #logs-toolbar { height: 1; padding: 0 1; }
    LogsScreen #workspace-label { width: 1fr; color: $text-muted; }
    LogsScreen #kql-editor { height: 10; }
    LogsScreen #status-line { height: 1; padding: 0 1; color: $text-muted; }
    LogsScreen #banner { height: auto; padding: 0 1; display: none; background: $warning 20%; color: $text; }
    LogsScreen #banner.-shown { display: block; }
    LogsScreen #banner.-error { background: $error 25%; }
    LogsScreen #result-area { height: 1fr; }
    LogsScreen #export-progress { display: none; height: 1; padding: 0 1; }
    LogsScreen #export-progress.-shown { display: block; }
    LogsScreen .state { padding: 1 2; }
    """
    BINDINGS = [
        Binding("ctrl+enter,f5", "run", "Run", id="logs.run"),
        Binding("escape", "cancel", "Cancel", id="logs.cancel", priority=True),
        Binding("ctrl+c", "cancel", "Cancel", show=False, id="logs.cancel_alt", priority=True),
        Binding("ctrl+r", "history", "History", id="logs.history"),
        Binding("ctrl+o", "export", "Export", id="logs.export"),
        Binding("ctrl+t", "toggle_view", "Chart/table", id="logs.toggle_view"),
        Binding("ctrl+b", "toggle_schema", "Schema", id="logs.toggle_schema"),
        Binding("f4", "time_range", "Time range", id="logs.time_range"),
        Binding("f3", "focus_results", "Results", show=False, id="logs.focus_results"),
        Binding("f2", "focus_editor", "Editor", show=False, id="logs.focus_editor"),
    ]

    def __init__(self, context: ShellContext, services: Services, *, initial_query: str = STARTER_QUERY) -> None:
        super().__init__(context)
        self.services = services
        self.settings = services.settings
        self.history = services.logs.history
        self.initial_query = initial_query
        self.workspace: Workspace | None = None
        self.schema: WorkspaceSchema | None = None
        self.result: QueryResult | None = None
        self.running: Statement | None = None
        self.last_statement: Statement | None = None
        self._throttled_until = 0.0
        self._throttle_timer: Timer | None = None
        self._export_stop = False
        self._range_label: str | None = None

    def compose_body(self) -> ComposeResult:
        tree: Tree[Any] = Tree("Schema", id="schema-tree")
        tree.show_root = False
        with Horizontal():
            yield tree
            with Vertical():
                with Horizontal(id="logs-toolbar"):
                    yield Static("Looking for a workspace…", id="workspace-label")
                    yield TimeRangePicker(id="time-range")
                yield KqlEditor(self.initial_query, id="kql-editor")
                yield Static("", id="banner")
                yield Static("Run a query with ctrl+enter (or F5).", id="status-line")
                yield ListStates(
                    ResultGrid(id="result-grid"),
                    ResultChart(id="result-chart"),
                    empty_text="No result yet.",
                    initial="empty-state",
                    id="result-area",
                )
                yield ProgressBar(id="export-progress", show_eta=True)

    def on_mount(self) -> None:
        self.query_one(KqlEditor).focus()
        self.load_workspace()
        self.load_history()

    # loading -------------------------------------------------------------------------------

    @work(exclusive=True, group="logs-workspace", name="find workspace", exit_on_error=False)
    async def load_workspace(self, scope: str | None = None) -> None:
        """Find the workspace to query: `scope` (name, customer id or resource id) or the configured one."""
        wanted = scope or self.settings.workspace
        subscription_ids: list[str] | None = None
        if not self.services.logs.is_workspace_id(wanted):
            if not self.context.subscriptions:
                self.context.subscriptions = await self.services.resources.list_subscriptions()
                warning = self.context.choose_initial()
                if warning:
                    self.notify(warning, title="Subscription", severity="warning", timeout=20)
                self.query_one(ShellHeader).update_from_context()
            subscription_ids = [s.subscription_id for s in self.context.subscriptions]
        self.workspace = await self.services.logs.find_workspace(
            self.services.resources, wanted, subscription_ids=subscription_ids
        )
        self._show_workspace()
        self.load_schema()

    def _show_workspace(self) -> None:
        workspace = self.workspace
        if workspace is None:
            return
        where = f"  ({workspace.location})" if workspace.location else ""
        self.query_one("#workspace-label", Static).update(
            Text.assemble(("workspace ", "dim"), (workspace.name, "bold"), (where, "dim"))
        )

    @work(exclusive=True, group="logs-schema", name="load schema", exit_on_error=False)
    async def load_schema(self) -> None:
        assert self.workspace is not None
        schema = await self.services.logs.schema(self.workspace.customer_id)
        self.schema = schema
        self.query_one(KqlEditor).set_schema(schema)
        tree: Tree[Any] = self.query_one("#schema-tree", Tree)
        tree.clear()
        for table, columns in sorted(schema.tables.items()):
            node = tree.root.add(table, data=table)
            for column in columns:
                node.add_leaf(Text.assemble(column.name, (f"  {column.type}", "dim")), data=f"{table}.{column.name}")
        if not schema.tables:
            tree.root.add_leaf("(no tables)")

    @work(thread=True, exclusive=True, group="logs-history", name="read history", exit_on_error=False)
    def load_history(self) -> None:
        self.history.entries()

    # running -------------------------------------------------------------------------------

    def action_run(self) -> None:
        self.query_one(KqlEditor).action_run()

    @on(KqlEditor.RunRequested)
    def _run_requested(self, event: KqlEditor.RunRequested) -> None:
        statement = event.statement
        if not statement.text.strip():
            self.notify(
                "There is no query to run: type one (or pick one from the history with ctrl+r), then press F5.",
                severity="warning",
            )
            return
        remaining = self._throttled_until - time.monotonic()
        if remaining > 0:
            self.notify(f"Azure asked to wait; run again in {remaining:.0f} s.", severity="warning")
            return
        if self.workspace is None:
            self.notify("Still looking for the Log Analytics workspace.", severity="warning")
            return
        try:
            timespan = self.query_one(TimeRangePicker).timespan
        except ValueError as error:
            self.notify(str(error), title="Time range", severity="error")
            return
        self.running = statement
        self.last_statement = statement
        self._set_banner(None)
        self.query_one(ContentSwitcher).current = "loading-state"
        self.query_one("#status-line", Static).update(
            Text(f"Running… ({describe(timespan)}; esc cancels)", style="italic")
        )
        self.run_query(statement, timespan)

    @work(exclusive=True, group="logs-query", name="run query", exit_on_error=False)
    async def run_query(self, statement: Statement, timespan: Timespan) -> None:
        assert self.workspace is not None
        workspace = self.workspace
        try:
            result = await self.services.logs.query(
                workspace.customer_id, statement.text, timespan, progress=lambda p: self._query_progress(statement, p)
            )
        except OpsError as error:
            await asyncio.to_thread(
                self.history.add, statement.text, workspace=workspace.name, timespan=describe(timespan),
                error=error.message,
            )  # fmt: skip
            raise
        await asyncio.to_thread(
            self.history.add, statement.text, workspace=workspace.name, timespan=describe(timespan),
            rows=result.row_count, duration_ms=result.duration_ms,
        )  # fmt: skip
        self.running = None
        self.show_result(result, describe(timespan))

    def _query_progress(self, statement: Statement, progress: QueryProgress) -> None:
        """What the running query waits for (running for so long, rows arriving), in the status line."""
        if self.running is statement:
            self.query_one("#status-line", Static).update(Text(f"{progress.sentence()} (esc cancels)", style="italic"))

    def show_result(self, result: QueryResult, timespan_label: str = "") -> None:
        """Put a result on screen: grid (and chart if it asked for one), status line, banner."""
        self.result = result
        self.running = None
        grid = self.query_one(ResultGrid)
        grid.load(result.table, {c.name: c.type for c in result.columns})
        chart = self.query_one(ResultChart)
        switcher = self.query_one(ContentSwitcher)
        status = Text()
        status.append(f"{result.row_count:,} rows", style="bold")
        status.append(f" · {len(result.columns)} columns · {result.duration_ms:,.0f} ms")
        if timespan_label:
            status.append(f" · {timespan_label}")
        if result.render:
            status.append(f" · render {result.render} (ctrl+t switches chart/table)")
        self.query_one("#status-line", Static).update(status)
        if result.partial_error or result.truncated:
            lead = "Result capped by the service" if result.truncated else "Partial result"
            self._set_banner(f"{lead}: {result.partial_error or 'not every row was returned.'}")
        if result.render and result.render in CHART_KINDS and result.row_count:
            understood = chart.plot(result.table, result.render)
            if understood.problem:
                self.notify(understood.problem, title=f"render {result.render}", severity="warning")
                switcher.current = "result-grid"
            else:
                switcher.current = "result-chart"
        elif result.render and result.render not in CHART_KINDS:
            chart.clear()
            self.notify(f"render {result.render} is not drawn here; showing the table.", severity="warning")
            switcher.current = "result-grid"
        else:
            chart.clear()
            switcher.current = "result-grid"
        if not result.row_count:
            self.query_one("#empty-state", Static).update(
                "The query returned no rows." if result.columns else "The query returned no table."
            )
            switcher.current = "empty-state"

    def _set_banner(self, message: str | None, *, error: bool = False) -> None:
        banner = self.query_one("#banner", Static)
        banner.set_class(message is not None, "-shown")
        banner.set_class(error, "-error")
        banner.update(message or "")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running is not None or self._export_running()
        return True

    def _export_running(self) -> bool:
        return any(w.group == "logs-export" and w.is_running for w in self.workers)

    def action_cancel(self) -> None:
        if self._export_running():
            self._export_stop = True
            return
        if self.running is None:
            return
        self.workers.cancel_group(self, "logs-query")

    def worker_cancelled(self, worker: Worker[Any]) -> None:
        if worker.group == "logs-query":
            self.running = None
            self.query_one("#status-line", Static).update(Text("Query cancelled.", style="italic"))
            self._show_previous("The query was cancelled.")

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        """How failures look in Logs: a query's in the banner or the error state, the rest as notices."""
        group = worker.group
        if group == "logs-query":
            self.running = None
            self._query_failed(error, message)
        elif group == "logs-workspace":
            self.query_one("#workspace-label", Static).update(Text("no workspace", style="bold"))
            self._show_error("Could not find a Log Analytics workspace.", message)
        elif group == "logs-export":
            self.query_one("#export-progress").remove_class("-shown")
            if isinstance(error, ExportCancelledError):
                self.notify(str(error), title="Export", severity="warning")
            else:
                self.notify(message, title="Export failed", severity="error", timeout=10)
        elif group == "logs-schema":
            self.notify(f"The schema sidebar and completion are unavailable: {message}", severity="warning")
        else:
            return False
        return True

    def _show_error(self, title: str, message: str) -> None:
        self.states.show_error(title, message)

    def _query_failed(self, error: BaseException | None, message: str) -> None:
        status = self.query_one("#status-line", Static)
        if isinstance(error, OpsError) and error.kind == ErrorKind.THROTTLED:
            self._start_throttle(error.retry_after or 30.0)
            self._show_previous(None)
            status.update(Text("Throttled." + self._stale_note(), style="bold"))
            return
        if isinstance(error, OpsError) and error.kind == ErrorKind.BAD_REQUEST:
            where = ""
            statement = self.last_statement
            if error.position is not None and statement is not None:
                line, column = error.position
                where = f" (line {statement.first_row + line}, column {column})"
                self.query_one(KqlEditor).mark_error(statement, error.position)
            self._set_banner(f"The query has an error{where}: {error.message}", error=True)
            status.update(Text("Query rejected." + self._stale_note(), style="bold"))
            self._show_previous(None)
            return
        status.update(Text("Query failed.", style="bold"))
        self._show_error("The query failed.", message)

    def _stale_note(self) -> str:
        return " The rows below are from the previous query." if self.result is not None else ""

    def _show_previous(self, reason: str | None) -> None:
        """After a cancel or a failure: show the last result again, marked as not this query's."""
        switcher = self.query_one(ContentSwitcher)
        if self.result is None:
            switcher.current = "empty-state"
            return
        switcher.current = "result-chart" if switcher.current == "result-chart" else "result-grid"
        if reason is not None:
            self._set_banner(f"{reason}{self._stale_note()}")

    def _start_throttle(self, seconds: float) -> None:
        self._throttled_until = time.monotonic() + seconds
        if self._throttle_timer is not None:
            self._throttle_timer.stop()
        self._throttle_timer = self.set_interval(1.0, self._tick_throttle)
        self._tick_throttle()

    def _tick_throttle(self) -> None:
        remaining = self._throttled_until - time.monotonic()
        if remaining <= 0:
            if self._throttle_timer is not None:
                self._throttle_timer.stop()
                self._throttle_timer = None
            self._set_banner("Azure is no longer throttling; you can run the query again.")
            return
        self._set_banner(f"Azure is throttling queries (429). You can run again in {remaining:.0f} s.", error=True)

    # history -------------------------------------------------------------------------------

    def action_history(self) -> None:
        self.app.push_screen(HistoryScreen(self.history), self._history_picked)

    def _history_picked(self, kql: str | None) -> None:
        if kql:
            self.load_query(kql)

    def on_open_in_logs(self, message: OpenInLogs) -> None:
        """Another area sent a query: it replaces the untouched starter text, else joins the editor's text."""
        if not message.delivered:
            return
        editor = self.query_one(KqlEditor)
        if editor.text == self.initial_query:
            editor.load_text("")
        self.load_query(message.query)
        if message.timespan is not None:
            picker = self.query_one(TimeRangePicker)
            preset = next((key for key, (_label, delta) in PRESETS.items() if delta == message.timespan), None)
            if preset is not None:
                picker.set_preset(preset)
            else:
                picker.set_custom((datetime.now(UTC) - message.timespan).isoformat(timespec="seconds"), "now")
        if message.scope:
            self.load_workspace(message.scope)

    def load_query(self, kql: str) -> None:
        """Put a query in the editor as a statement of its own (after any text there), cursor on it."""
        editor = self.query_one(KqlEditor)
        if not editor.text.strip():
            editor.load_text(kql)
            first_row = 0
        else:
            text = editor.text.rstrip("\n")
            editor.load_text(f"{text}\n\n{kql}")
            first_row = len(text.split("\n")) + 1
        editor.move_cursor((first_row, 0))
        editor.focus()
        # The new query's first line at the top of the editor, once the new text is laid out.
        self.call_after_refresh(editor.scroll_to, y=first_row, animate=False)

    # time range ----------------------------------------------------------------------------

    def action_time_range(self) -> None:
        """F4 opens the time range list; the next run uses what is chosen."""
        self.query_one(TimeRangePicker).open()

    @on(TimeRangePicker.Changed)
    def _time_range_changed(self, event: TimeRangePicker.Changed) -> None:
        try:
            label = describe(event.picker.timespan)
        except ValueError:
            return
        if event.picker.preset == CUSTOM:
            return  # the user is still typing the range
        previous, self._range_label = self._range_label, label
        if previous is None or previous == label:
            return  # the picker's first value, as it mounts
        self.notify(f"Time range: {label}. F5 runs the query with it.", title="Time range")
        self.query_one(KqlEditor).focus()

    # export --------------------------------------------------------------------------------

    def action_export(self) -> None:
        if self.result is None or not self.result.table.num_columns:
            self.notify("Run a query first; there is nothing to export.", severity="warning")
            return
        if self._export_running():
            self.notify("An export is already running.", severity="warning")
            return
        name = self.workspace.name if self.workspace else "query"
        screen = ExportScreen(default_export_path(name), self.result.row_count)
        self.app.push_screen(screen, self._export_to)

    def _export_to(self, path: Path | None) -> None:
        if path is None or self.result is None:
            return
        bar = self.query_one("#export-progress", ProgressBar)
        bar.update(total=max(self.result.row_count, 1), progress=0)
        bar.add_class("-shown")
        self._export_stop = False
        self.export_result(self.result, path)

    @work(thread=True, exclusive=True, group="logs-export", name="export result", exit_on_error=False)
    def export_result(self, result: QueryResult, path: Path) -> Path:
        dynamic = [c.name for c in result.columns if c.type == "dynamic"]
        rows = export_table(
            result.table,
            path,
            progress=lambda done, total: self.app.call_from_thread(self._export_progress, done, total),
            should_stop=lambda: self._export_stop,
            json_columns=dynamic,
        )
        self.app.call_from_thread(self._export_done, path, rows)
        return path

    def _export_progress(self, done: int, total: int) -> None:
        self.query_one("#export-progress", ProgressBar).update(total=max(total, 1), progress=done)

    def _export_done(self, path: Path, rows: int) -> None:
        self.query_one("#export-progress").remove_class("-shown")
        self.notify(f"{rows:,} rows written to {path}", title="Exported")

    # views ---------------------------------------------------------------------------------

    def action_toggle_view(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        chart = self.query_one(ResultChart)
        if switcher.current == "result-chart":
            switcher.current = "result-grid"
        elif switcher.current == "result-grid" and chart.data is not None:
            switcher.current = "result-chart"
        else:
            self.notify("This result has no chart; end the query with `| render timechart` for one.")

    def action_toggle_schema(self) -> None:
        self.query_one("#schema-tree").toggle_class("-hidden")

    def action_focus_results(self) -> None:
        self.query_one(ResultGrid).focus()

    def action_focus_editor(self) -> None:
        self.query_one(KqlEditor).focus()

    def action_filter(self) -> None:
        self.notify("Filter a result in KQL: add `| where ...` and run again.")

    @on(Tree.NodeSelected, "#schema-tree")
    def _schema_picked(self, event: Tree.NodeSelected[Any]) -> None:
        """Selecting a table or column inserts its name at the editor's cursor."""
        data = event.node.data
        if not isinstance(data, str):
            return
        name = data.split(".", 1)[1] if "." in data else data
        editor = self.query_one(KqlEditor)
        editor.insert(name)
        editor.focus()
