"""Backup: protected items against what their policies promise (breaches first), the jobs of every vault with
filters and a failed job's detail, and the changes: back up now, restore (the item's name typed to confirm),
cancel a running job, and restore drills whose evidence is listed per item."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.worker import Worker

from console.errors import OpsError
from console.models import Subscription
from console.services.backups import (
    AppBackup,
    BackupJob,
    BackupService,
    DatabaseBackup,
    DrillResult,
    Freshness,
    ProtectedItem,
)
from screens.area import ListAreaScreen
from screens.filtering import compile_filter, filter_problem
from screens.shell import ShellContext
from screens.widgets.backup_forms import DrillScreen, RestorePlan, RestoreScreen
from screens.widgets.confirm import ChangeRequest

Clock = Callable[[], datetime]
FRESHNESS_COLUMNS = [
    ("Item", 20),
    ("Type", 9),
    ("State", 8),
    ("Late by", 9),
    ("Last good backup", 18),
    ("Age", 8),
    ("RPO", 5),
    ("Policy", 14),
    ("Last status", 11),
    ("Vault", 19),
]
JOB_COLUMNS = [
    ("Started", 16),
    ("Item", 20),
    ("Type", 9),
    ("Operation", 9),
    ("Status", 21),
    ("Duration", 9),
    ("Data", 9),
    ("Vault", 19),
    ("Error", 40),
]
PLATFORM_COLUMNS = [
    ("Kind", 11),
    ("Resource", 20),
    ("Backup", 40),
    ("Status", 11),
    ("Taken", 16),
    ("Size", 8),
    ("Source", 10),
    ("Log", 60),
]
VIEWS = ("freshness", "jobs", "platform")
PlatformBackup = AppBackup | DatabaseBackup
STATUSES = ("", "Failed", "InProgress", "Completed", "CompletedWithWarnings", "Cancelled")
OPERATIONS = ("", "Backup", "Restore")
ITEM_TYPES = ("", "VM", "FileShare", "Database")
WINDOWS = (timedelta(days=7), timedelta(days=1), timedelta(days=30))
STATUS_STYLES = {
    "Failed": "bold red",
    "InProgress": "bold cyan",
    "Cancelling": "yellow",
    "Cancelled": "yellow",
    "CompletedWithWarnings": "yellow",
    "Completed": "green",
}
RUNNING_REFRESH_S = 1.5
"""How often the jobs are read again while one of them runs."""


def utc_now() -> datetime:
    """The screen's default clock."""
    return datetime.now(UTC)


def span_text(span: timedelta | None) -> str:
    """A span as `3d 4h`, `5h 20m` or `12m`."""
    if span is None:
        return "–"
    if span.total_seconds() < 60:
        return f"{max(0, int(span.total_seconds()))}s"
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    return f"{minutes}m"


def status_text(job: BackupJob) -> Text:
    text = Text(job.status, style=STATUS_STYLES.get(job.status, ""))
    if job.running and job.progress is not None:
        text.append(f" {job.progress:.0f}%")
    return text


def platform_detail(backup: PlatformBackup) -> Text:
    """An App Service or PostgreSQL backup: what, when, how big, and App Service's log when it failed."""
    text = Text()
    if isinstance(backup, AppBackup):
        text.append(f"App Service backup {backup.backup_id} of {backup.app}", style="bold")
        text.append(f"   {backup.name}\n", style="dim")
        text.append(backup.status, style=STATUS_STYLES.get(backup.status.replace("Succeeded", "Completed"), ""))
        taken = f"{backup.created:%Y-%m-%d %H:%M} UTC" if backup.created else "–"
        text.append(f"   taken {taken}   {backup.size_text or 'no data'}   ")
        text.append("scheduled" if backup.scheduled else "on demand")
        if backup.last_restore:
            text.append(f"\nlast restored {backup.last_restore:%Y-%m-%d %H:%M} UTC")
        if backup.log:
            text.append(f"\n\n{backup.log}\n", style="red")
        text.append("\n\nb backs the app up now; R restores the app from this backup", style="dim")
        return text
    text.append(f"PostgreSQL backup {backup.name} of {backup.server}", style="bold")
    done = f"{backup.completed:%Y-%m-%d %H:%M} UTC" if backup.completed else "–"
    text.append(f"\n{backup.backup_type} ({backup.source}), completed {done}")
    text.append("\n\nb takes an on-demand backup of the server", style="dim")
    return text


def job_detail(job: BackupJob) -> Text:
    """A job's detail: what, when, how long, how much; a failed one's code, message and recommendations."""
    text = Text()
    text.append(f"{job.operation} of {job.item}", style="bold")
    text.append(f"   {job.vault}   job {job.name}\n", style="dim")
    text.append_text(status_text(job))
    start = f"{job.start:%Y-%m-%d %H:%M:%S} UTC" if job.start else "–"
    text.append(f"   started {start}   took {span_text(job.duration)}")
    if job.data_transferred:
        text.append(f"   transferred {job.data_transferred}")
    text.append("\n")
    for error in job.errors:
        text.append(f"\n{error.code}\n", style="bold red")
        text.append(f"{error.message}\n")
        for advice in error.recommendations:
            text.append("  • ", style="bold")
            text.append(f"{advice}\n")
    details = [(k, v) for k, v in job.details if k != "Backup Size"]
    if details:
        text.append("\n")
        for key, value in details:
            text.append(f"{key:<28}", style="dim")
            text.append(f"{value}\n")
    if job.cancellable:
        text.append("\nx cancels this job", style="dim")
    return text


def item_detail(found: Freshness, drills: list[dict[str, Any]]) -> Text:
    """An item's freshness, and the restore drills the journal holds for it (newest first)."""
    item = found.item
    text = Text()
    text.append(f"{item.name}", style="bold")
    text.append(f"   {item.item_type} in {item.vault}, policy {item.policy} (RPO {span_text(item.rpo)})\n", style="dim")
    if found.breached:
        text.append(f"Past its RPO by {span_text(found.late)}", style="bold red")
        text.append(f": last good backup {span_text(found.age)} ago; last backup {item.last_backup_status}.\n")
        text.append("b backs it up now; j shows its jobs.\n", style="dim")
    else:
        text.append(f"Within its RPO: last good backup {span_text(found.age)} ago.\n", style="green")
    text.append("\nRestore drills", style="bold")
    text.append("   from the operations journal, newest first (D runs one)\n", style="dim")
    if not drills:
        text.append("No drill of this item yet.\n")
    for drill in drills[:20]:
        verdict = str(drill.get("verdict", "?"))
        style = {"pass": "bold green", "fail": "bold red"}.get(verdict, "yellow")
        text.append(f" {str(drill.get('at', ''))[:19].replace('T', ' ')} ", style="dim")
        text.append(f"{verdict.upper():<13}", style=style)
        rto = float(drill.get("rto_s", 0))
        text.append(f"RTO {rto:.1f} s   point {drill.get('point')} → {drill.get('restore_target')}\n")
        if drill.get("sentence"):
            text.append(f"{'':>34}{drill.get('sentence')}\n", style="dim")
    return text


def _platform_fields(backup: PlatformBackup) -> list[str]:
    if isinstance(backup, AppBackup):
        return ["App Service", backup.app, backup.name, backup.status, backup.log or ""]
    return ["PostgreSQL", backup.server, backup.name, backup.backup_type, backup.source]


def _add_platform_row(table: DataTable[Any], backup: PlatformBackup) -> None:
    if isinstance(backup, AppBackup):
        style = "bold red" if backup.status == "Failed" else "green" if backup.status == "Succeeded" else "cyan"
        table.add_row(
            "App Service",
            backup.app,
            f"{backup.backup_id}  {backup.name}",
            Text(backup.status, style=style),
            f"{backup.created:%Y-%m-%d %H:%M}" if backup.created else "–",
            backup.size_text,
            "scheduled" if backup.scheduled else "on demand",
            Text(backup.log or "", style="red"),
        )
        return
    table.add_row(
        "PostgreSQL",
        backup.server,
        backup.name,
        Text("Completed", style="green"),
        f"{backup.completed:%Y-%m-%d %H:%M}" if backup.completed else "–",
        "",
        backup.source,
        "",
    )


class BackupScreen(ListAreaScreen):
    """Freshness of every protected item (breaches first) and the jobs of every vault; the selected row's
    detail below; changes ask first and run in the operation panel."""

    AREA = "backup"
    AUTO_FOCUS = "#backup-table"
    DEFAULT_CSS = """
    BackupScreen #crumbs { height: 1; padding: 0 1; color: $text-muted; }
    BackupScreen #backup-area { height: 1fr; }
    BackupScreen #backup-detail { height: 40%; border-top: hkey $panel; padding: 0 1; }
    BackupScreen #backup-detail.-hidden { display: none; }
    """
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="backup.refresh"),
        Binding("v", "switch_view", "Jobs/Freshness", id="backup.view"),
        Binding("j", "jobs_of_item", "Item's jobs", show=False, id="backup.item_jobs"),
        Binding("s", "cycle_status", "Status", id="backup.status"),
        Binding("o", "cycle_operation", "Operation", show=False, id="backup.operation"),
        Binding("t", "cycle_type", "Type", show=False, id="backup.type"),
        Binding("w", "cycle_window", "Window", show=False, id="backup.window"),
        Binding("b", "backup_now", "Back up now", id="backup.now"),
        Binding("R", "restore", "Restore", id="backup.restore"),
        Binding("x", "cancel_job", "Cancel job", show=False, id="backup.cancel"),
        Binding("D", "drill", "Drill", id="backup.drill"),
        Binding("d", "toggle_detail", "Detail", show=False, id="backup.detail"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="backup.clear_filter"),
    ]
    LOAD_FAILURES: ClassVar[dict[str, str]] = {"backup-load": "Could not read the backup vaults."}

    def __init__(
        self,
        context: ShellContext,
        service: BackupService,
        list_subscriptions: Callable[[], Awaitable[list[Subscription]]],
        refresh_seconds: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(context, refresh_seconds, list_subscriptions)
        self.service = service
        self.clock: Clock = clock or (lambda: utc_now())
        self.view = "freshness"
        """What the table lists: `freshness` (per item) or `jobs`."""
        self.freshness: list[Freshness] = []
        self.jobs: list[BackupJob] = []
        self.status = ""
        self.operation = ""
        self.item_type = ""
        self.window = WINDOWS[0]
        self.item_filter = ""
        """The item whose jobs `j` asked for (empty: every item)."""
        self.shown_items: list[Freshness] = []
        self.shown_jobs: list[BackupJob] = []
        self.platform: list[PlatformBackup] = []
        """App Service and PostgreSQL backups, read when their view is first shown."""
        self.shown_platform: list[PlatformBackup] = []
        self._platform_loaded = False
        self._jobs_loaded = False
        self._loaded = False

    def compose_body(self) -> ComposeResult:
        yield from self.compose_list(
            DataTable(id="backup-table", cursor_type="row", zebra_stripes=True),
            empty_text="No Recovery Services vault protects anything in these subscriptions.",
            states_id="backup-area",
            detail_id="backup-detail",
        )

    def on_mount(self) -> None:
        super().on_mount()
        self._columns()
        self.load()

    # loading -------------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="backup-load", name="read the backup vaults")
    async def load(self) -> None:
        if not self._loaded:
            self.states.show_loading()
        await self.known_subscriptions()
        # The jobs (hundreds, each parsed by the SDK) are read once their view has been shown, not to paint
        # the freshness view first.
        with_jobs = self.view == "jobs" or self._jobs_loaded
        self.set_waiting("reading the vaults' items and jobs…" if with_jobs else "reading the vaults' items…")
        if with_jobs:
            since = self.clock() - WINDOWS[-1]
            self.freshness, self.jobs = await asyncio.gather(
                self.service.freshness(self.clock()), self.service.list_jobs(since=since)
            )
            self._jobs_loaded = True
        else:
            self.freshness = await self.service.freshness(self.clock())
        self._loaded = True
        self.set_waiting("")
        self.show_rows()
        running = any(job.running for job in self.jobs)
        if running:
            self.set_timer(RUNNING_REFRESH_S, self.load)
        else:
            self.arm_refresh(self.load)

    def reload(self) -> None:
        self.load()

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        if worker.group == "backup-load" and self._loaded:
            self.refresh_failed("the backups", message)
            return True
        if worker.group == "backup-platform":
            self.notify(message, title="Could not read the App Service and PostgreSQL backups", severity="error")
            self.platform, self._platform_loaded = [], True
            self.show_rows()
            return True
        if worker.group == "backup-change":
            self.notify(message, title="The change failed", severity="error", timeout=15)
            self.load()
            return True
        return False

    # showing -------------------------------------------------------------------------------------

    def _columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        columns = {"freshness": FRESHNESS_COLUMNS, "jobs": JOB_COLUMNS, "platform": PLATFORM_COLUMNS}[self.view]
        for label, width in columns:
            table.add_column(label, width=width)

    def show_rows(self) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        pattern, inverse = compile_filter(self.filter_text)

        def hidden(fields: list[str]) -> bool:
            return pattern is not None and any(pattern.search(f) for f in fields) == inverse

        if self.view == "freshness":
            self.shown_items = [
                f for f in self.freshness if not hidden([f.item.name, f.item.item_type, f.item.vault, f.item.policy])
            ]
            for found in self.shown_items:
                self._add_item_row(table, found)
        elif self.view == "jobs":
            self.shown_jobs = [job for job in self.jobs if self._wanted(job) and not hidden(self._job_fields(job))]
            for job in self.shown_jobs:
                self._add_job_row(table, job)
        else:
            self.shown_platform = [b for b in self.platform if not hidden(_platform_fields(b))]
            for backup in self.shown_platform:
                _add_platform_row(table, backup)
        rows = len(
            self.shown_items
            if self.view == "freshness"
            else self.shown_jobs
            if self.view == "jobs"
            else self.shown_platform
        )
        if rows:
            table.move_cursor(row=min(max(keep, 0), rows - 1), animate=False)
            self.states.show_content()
            self._show_detail()
        elif (self.view == "platform" and not self._platform_loaded) or (self.view == "jobs" and not self._jobs_loaded):
            self.states.show_loading()
        elif self._loaded:
            self.states.show_empty("Nothing matches the filters." if self.freshness else None)
        self.update_crumbs()

    @staticmethod
    def _job_fields(job: BackupJob) -> list[str]:
        return [job.item, job.item_type, job.operation, job.status, job.vault, *(e.code for e in job.errors)]

    def _wanted(self, job: BackupJob) -> bool:
        if self.status and job.status != self.status:
            return False
        if self.operation and job.operation != self.operation:
            return False
        if self.item_type and job.item_type != self.item_type:
            return False
        if self.item_filter and job.item != self.item_filter:
            return False
        return job.start is None or job.start >= self.clock() - self.window

    def _add_item_row(self, table: DataTable[Any], found: Freshness) -> None:
        item = found.item
        state = Text("BREACH", style="bold red") if found.breached else Text("ok", style="green")
        last = f"{item.last_recovery_point:%Y-%m-%d %H:%M}" if item.last_recovery_point else "never"
        status_style = STATUS_STYLES.get(item.last_backup_status, "")
        table.add_row(
            Text(item.name, style="bold" if found.breached else ""),
            item.item_type,
            state,
            Text(span_text(found.late), style="bold red") if found.breached else "–",
            last,
            span_text(found.age),
            span_text(item.rpo),
            item.policy,
            Text(item.last_backup_status, style=status_style),
            item.vault,
            key=item.item_id,
        )

    def _add_job_row(self, table: DataTable[Any], job: BackupJob) -> None:
        error = job.errors[0].code if job.errors else ""
        table.add_row(
            f"{job.start:%Y-%m-%d %H:%M}" if job.start else "–",
            job.item,
            job.item_type,
            job.operation,
            status_text(job),
            span_text(job.duration),
            job.data_transferred or "",
            job.vault,
            Text(error, style="red"),
            key=job.job_id,
        )

    def update_crumbs(self) -> None:
        late = sum(1 for f in self.freshness if f.breached)
        line = Text()
        if self.view == "freshness":
            line.append(f"{len(self.freshness)} protected items", style="bold")
            if late:
                line.append(f"   {late} past their RPO", style="bold red")
            line.append("   v shows the jobs")
        elif self.view == "platform":
            apps = sum(1 for b in self.platform if isinstance(b, AppBackup))
            line.append(f"{apps} App Service and {len(self.platform) - apps} PostgreSQL backups", style="bold")
            line.append("   v shows the protected items")
        else:
            running = sum(1 for job in self.jobs if job.running)
            line.append(f"{len(self.shown_jobs)} of {len(self.jobs)} jobs", style="bold")
            line.append(f"   last {span_text(self.window)} (w)")
            line.append(f"   status {self.status or 'any'} (s)")
            line.append(f"   operation {self.operation or 'any'} (o)")
            line.append(f"   type {self.item_type or 'any'} (t)")
            if self.item_filter:
                line.append(f"   item {self.item_filter} (j clears)")
            if running:
                line.append(f"   {running} running", style="bold cyan")
        if self.filter_text:
            line.append(f"   filter: {self.filter_text}")
            problem = filter_problem(self.filter_text)
            if problem:
                line.append(f" ({problem})")
        if self.waiting:
            line.append(f"   {self.waiting}", style="italic")
        self.query_one("#crumbs", Static).update(line)

    def _selected_item(self) -> Freshness | None:
        row = self.query_one(DataTable).cursor_row
        if self.view != "freshness" or not self.shown_items or not 0 <= row < len(self.shown_items):
            return None
        return self.shown_items[row]

    def _selected_job(self) -> BackupJob | None:
        row = self.query_one(DataTable).cursor_row
        if self.view != "jobs" or not self.shown_jobs or not 0 <= row < len(self.shown_jobs):
            return None
        return self.shown_jobs[row]

    def _target_item(self) -> ProtectedItem | None:
        """The item the selected row is about: the row's item, or the selected job's."""
        found = self._selected_item()
        if found is not None:
            return found.item
        job = self._selected_job()
        if job is None:
            return None
        return next((f.item for f in self.freshness if f.item.name == job.item and f.item.vault == job.vault), None)

    @on(DataTable.RowHighlighted, "#backup-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        if self.query_one("#backup-detail").has_class("-hidden"):
            return
        body = self.query_one("#backup-detail-body", Static)
        job = self._selected_job()
        if job is not None:
            body.update(job_detail(job))
            return
        found = self._selected_item()
        if found is not None:
            body.update(item_detail(found, self.service.drills(found.item.name)))
            return
        backup = self._selected_platform()
        if backup is not None:
            body.update(platform_detail(backup))

    # plain actions -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.set_waiting("refreshing…")
        self.load()

    def action_clear_filter(self) -> None:
        # With nothing to clear, escape leaves the focus alone (an escape read just before `:` must not take
        # the focus back from the command bar it opens).
        if self.filter_box.is_open or self.filter_text:
            self.clear_filter()

    def action_toggle_detail(self) -> None:
        self.query_one("#backup-detail").toggle_class("-hidden")
        self._show_detail()

    def action_switch_view(self) -> None:
        """`v` goes round the views: the items' freshness, the jobs, App Service and PostgreSQL backups."""
        self._show_view(VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)])
        self.show_rows()

    @work(exclusive=True, exit_on_error=False, group="backup-platform", name="read App Service and PostgreSQL backups")
    async def load_platform(self) -> None:
        apps, databases = await self.service.list_platform_backups()
        self.platform = [*apps, *databases]
        self._platform_loaded = True
        if self.view == "platform":
            self.show_rows()

    def _selected_platform(self) -> PlatformBackup | None:
        row = self.query_one(DataTable).cursor_row
        if self.view != "platform" or not self.shown_platform or not 0 <= row < len(self.shown_platform):
            return None
        return self.shown_platform[row]

    def action_jobs_of_item(self) -> None:
        """`j` lists the selected item's jobs (again in the jobs view: every item's)."""
        if self.view == "jobs":
            self.item_filter = ""
        else:
            item = self._target_item()
            self.item_filter = item.name if item is not None else ""
            self._show_view("jobs")
        self.show_rows()

    def _show_view(self, view: str) -> None:
        """Switch the table to `view`, starting the read its rows need the first time."""
        self.view = view
        self._columns()
        if view == "jobs" and not self._jobs_loaded:
            self.load()
        elif view == "platform":
            self.load_platform()

    def _cycle(self, name: str, values: tuple[Any, ...]) -> None:
        if self.view != "jobs":
            self._show_view("jobs")
        current = getattr(self, name)
        setattr(self, name, values[(values.index(current) + 1) % len(values)])
        self.show_rows()

    def action_cycle_status(self) -> None:
        self._cycle("status", STATUSES)

    def action_cycle_operation(self) -> None:
        self._cycle("operation", OPERATIONS)

    def action_cycle_type(self) -> None:
        self._cycle("item_type", ITEM_TYPES)

    def action_cycle_window(self) -> None:
        self._cycle("window", WINDOWS)

    # changes -------------------------------------------------------------------------------------

    def _writable(self, subscription_id: str, action: str) -> bool:
        """Read-only refuses here, with the service's sentence, before any dialog or request."""
        try:
            self.service.ensure_writable(subscription_id, action, confirmed=True)
        except OpsError as refused:
            self.notify(refused.message, title="Read-only", severity="error", timeout=10)
            return False
        return True

    def _subscription_name(self, subscription_id: str) -> str:
        match = next(
            (s for s in self.context.subscriptions if s.subscription_id.lower() == subscription_id.lower()), None
        )
        return match.display_name if match else subscription_id

    def _request(self, action: str, item: ProtectedItem, details: str, *, typed: bool = False) -> ChangeRequest:
        return ChangeRequest(
            action,
            item.name,
            item.item_id,
            self._subscription_name(item.subscription_id),
            protected=self.context.protected(item.subscription_id),
            details=details,
            typed=typed,
        )

    def _an_item(self, what: str) -> ProtectedItem | None:
        item = self._target_item()
        if item is None:
            self.notify(f"No item selected: move to an item (or one of its jobs), then {what}.", severity="warning")
        return item

    def _platform_request(self, action: str, backup: PlatformBackup, details: str, typed: bool) -> ChangeRequest:
        name = backup.app if isinstance(backup, AppBackup) else backup.server
        return ChangeRequest(
            action,
            name,
            name,
            self._subscription_name(backup.subscription_id),
            protected=self.context.protected(backup.subscription_id),
            details=details,
            typed=typed,
        )

    def _platform_backup_now(self, backup: PlatformBackup) -> None:
        name = backup.app if isinstance(backup, AppBackup) else backup.server
        if not self._writable(backup.subscription_id, f"back up {name}"):
            return
        kind = (
            "App Service backup to the storage its backup configuration names"
            if isinstance(backup, AppBackup)
            else "PostgreSQL on-demand backup"
        )
        details = f"resource  {name}\nwhat      an {kind}"
        self.confirm_change(
            self._platform_request("back up now", backup, details, False), lambda: self.platform_backup(backup)
        )

    @work(exclusive=True, exit_on_error=False, group="backup-change", name="back up an app or a server")
    async def platform_backup(self, backup: PlatformBackup) -> None:
        if isinstance(backup, AppBackup):
            await self.run_change(
                "back up now",
                backup.app,
                lambda progress: self.service.backup_app(backup.app, confirmed=True, progress=progress),
                lambda made: f"{made.status}: backup {made.backup_id}, {made.size_text or 'no data'}.",
            )
        else:
            await self.run_change(
                "back up now",
                backup.server,
                lambda progress: self.service.backup_database(backup.server, confirmed=True, progress=progress),
                lambda made: f"Taken: {made.name}.",
            )
        self.load_platform()

    def action_backup_now(self) -> None:
        """`b` backs the selected item up now (in the App Service and PostgreSQL view: the row's app or server)."""
        selected = self._selected_platform()
        if selected is not None:
            self._platform_backup_now(selected)
            return
        item = self._an_item("b backs it up now")
        if item is None or not self._writable(item.subscription_id, f"back up {item.name}"):
            return
        details = (
            f"item      {item.name} ({item.item_type}) in {item.vault}\n"
            f"policy    {item.policy}, RPO {span_text(item.rpo)}\n"
            "what      an on-demand backup; its recovery point is kept 30 days"
        )
        self.confirm_change(self._request("back up now", item, details), lambda: self.backup_now(item))

    @work(exclusive=True, exit_on_error=False, group="backup-change", name="back up now")
    async def backup_now(self, item: ProtectedItem) -> None:
        self.set_waiting(f"backing up {item.name}…")
        self.load()  # the new job shows as it runs
        await self.run_change(
            "back up now",
            item.name,
            lambda progress: self.service.backup_now(item, wait=True, confirmed=True, progress=progress),
            lambda job: f"Completed: {job.data_transferred or 'no data'} transferred in {span_text(job.duration)}.",
        )
        self.load()

    def action_cancel_job(self) -> None:
        """`x` cancels the selected running job."""
        job = self._selected_job()
        if job is None or not job.cancellable:
            self.notify("Move to a running job in the jobs view (v), then x cancels it.", severity="warning")
            return
        if not self._writable(job.subscription_id, f"cancel job {job.name}"):
            return
        item = self._target_item()
        if item is None:
            return
        details = f"job       {job.operation} of {job.item}, {job.status}\nid        {job.job_id}"
        self.confirm_change(self._request("cancel the job of", item, details), lambda: self.cancel_job(job))

    @work(exclusive=True, exit_on_error=False, group="backup-change", name="cancel a job")
    async def cancel_job(self, job: BackupJob) -> None:
        await self.run_change(
            "cancel job",
            job.item,
            lambda progress: self.service.cancel(job, confirmed=True, progress=progress),
            lambda now: f"The job is {now.status}.",
        )
        self.load()

    def action_restore(self) -> None:
        """`R` restores the selected item: pick a recovery point (and an alternate target), type its name. On
        an App Service backup: restore the app from it."""
        selected = self._selected_platform()
        if selected is not None:
            self._restore_app(selected)
            return
        item = self._an_item("R restores it")
        if item is None or not self._writable(item.subscription_id, f"restore {item.name}"):
            return
        self.pick_point(item)

    @work(exclusive=True, exit_on_error=False, group="backup-points", name="list recovery points")
    async def pick_point(self, item: ProtectedItem) -> None:
        points = await self.service.recovery_points(item)
        if not points:
            self.notify(f"{item.name} has no recovery point to restore from.", severity="warning")
            return
        suggested = f"e.g. {item.name}-restored" if item.item_type != "VM" else "a resource group id"

        def planned(plan: RestorePlan | None) -> None:
            if plan is not None:
                self._confirm_restore(item, plan)

        self.app.push_screen(RestoreScreen(item.name, points, item.alternate_location, suggested), planned)

    def _confirm_restore(self, item: ProtectedItem, plan: RestorePlan) -> None:
        where = plan.target or "its original location (overwrites it)"
        details = (
            f"item      {item.name} ({item.item_type}) in {item.vault}\n"
            f"point     {plan.point.name}   {plan.point.time:%Y-%m-%d %H:%M:%S} UTC\n"
            f"to        {where}"
        )
        request = self._request("restore", item, details, typed=True)
        self.confirm_change(request, lambda: self.restore(item, plan))

    @work(exclusive=True, exit_on_error=False, group="backup-change", name="restore")
    async def restore(self, item: ProtectedItem, plan: RestorePlan) -> None:
        self.load()
        await self.run_change(
            "restore",
            item.name,
            lambda progress: self.service.restore(
                item, plan.point.name, target=plan.target, confirmed=True, progress=progress
            ),
            lambda job: f"Restored {plan.point.name} to {job.detail('Target') or 'the original location'}.",
        )
        self.load()

    def _restore_app(self, backup: PlatformBackup) -> None:
        if not isinstance(backup, AppBackup) or backup.status != "Succeeded":
            self.notify("Move to a succeeded App Service backup, then R restores the app from it.", severity="warning")
            return
        if not self._writable(backup.subscription_id, f"restore {backup.app}"):
            return
        taken = f"{backup.created:%Y-%m-%d %H:%M} UTC" if backup.created else "?"
        details = (
            f"app       {backup.app}\nbackup    {backup.backup_id} ({backup.name}, {taken})\n"
            "what      overwrites the app's content"
        )
        request = self._platform_request("restore", backup, details, True)
        self.confirm_change(request, lambda: self.restore_app(backup))

    @work(exclusive=True, exit_on_error=False, group="backup-change", name="restore an app")
    async def restore_app(self, backup: AppBackup) -> None:
        await self.run_change(
            "restore",
            backup.app,
            lambda progress: self.service.restore_app(backup.app, backup.backup_id, confirmed=True, progress=progress),
            lambda done: f"Restored {backup.app} from backup {done.backup_id}.",
        )
        self.load_platform()

    def action_drill(self) -> None:
        """`D` runs a restore drill of the selected item: restore elsewhere, verify, measure the RTO."""
        item = self._an_item("D runs a restore drill")
        if item is None or not self._writable(item.subscription_id, f"restore {item.name}"):
            return
        suggested = "AzureDiagnostics | where Category == 'AddonAzureBackupJobs' and ResultDescription endswith item"

        def asked(verify: str | None) -> None:
            if verify is None:
                return
            details = (
                f"item      {item.name} ({item.item_type}) in {item.vault}\n"
                "what      restore the newest recovery point to an alternate target, then verify it\n"
                f"verify    {verify}"
            )
            request = self._request("run a restore drill of", item, details, typed=True)
            self.confirm_change(request, lambda: self.drill(item, verify))

        self.app.push_screen(DrillScreen(item.name, suggested), asked)

    @work(exclusive=True, exit_on_error=False, group="backup-change", name="restore drill")
    async def drill(self, item: ProtectedItem, verify: str) -> None:
        def told(result: DrillResult) -> str:
            return (
                f"Restored {result.point} to {result.target} in {result.rto.total_seconds():.1f} s; "
                f"verification {result.verdict}: {result.sentence}"
            )

        await self.run_change(
            "restore drill",
            item.name,
            lambda progress: self.service.drill(item, verify, confirmed=True, progress=progress),
            told,
        )
        self.load()
