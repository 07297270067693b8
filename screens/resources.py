"""Resources: subscription > resource group > resource, with filter, details, copy and portal links."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker

from console.errors import OpsError
from console.models import Resource, ResourceGroup, Subscription
from console.services.logs import logs_query_for
from console.services.resources import ResourcesService
from screens.area import FilterBox, ListAreaScreen, ListStates
from screens.filtering import compile_filter, filter_problem
from screens.inventory_preview import (
    COLUMNS,
    TREE_WIDTH,
    cached_stamp,
    column_widths,
    row_cells,
    sorted_for_listing,
    visible_tags,
)
from screens.messages import OpenInLogs, RevealResource
from screens.shell import ShellContext, ShellHeader
from screens.widgets.confirm import ChangeRequest, TagsScreen

SECRET_KEY = re.compile(r"(password|secret|connectionstring|token|sas|credential|(?<!public)key$|apikey)", re.I)
SECRET_VALUE = re.compile(r"(accountkey|sharedaccesskey|sharedaccesssignature|password|pwd|sig)=[^;&\s]", re.I)
"""A value that carries a secret whatever its key is called: a connection string or a SAS URL."""
NOT_SECRET = {"enabled", "disabled", "true", "false", "none", "null", "on", "off", "yes", "no", "required", "optional"}
"""Setting words a secret-sounding key may hold (`passwordAuth: Enabled`): they are not secrets."""
MASK = "••••••••"


def is_secret(key: str, value: Any) -> bool:
    """Whether a property value is a secret: text under a secret-sounding key, or text that embeds one.

    Booleans, numbers and setting words (Enabled, Disabled...) are never secrets, whatever the key.
    """
    if not isinstance(value, str):
        return False
    text = value.strip()
    if not text or text.lower() in NOT_SECRET:
        return False
    return SECRET_KEY.search(key) is not None or SECRET_VALUE.search(text) is not None


def mask_secrets(value: Any, *, reveal: bool = False) -> Any:
    """A copy of `value` in which secret values are masked (unless `reveal`)."""
    if reveal:
        return value
    if isinstance(value, dict):
        return {k: MASK if is_secret(str(k), v) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [MASK if is_secret("", v) else mask_secrets(v) for v in value]
    return value


def resource_matches(resource: Resource, pattern: re.Pattern[str] | None, inverse: bool) -> bool:
    """Whether a resource passes the filter: any of name, type, group, location or a visible tag matches.

    Each field is matched on its own so that anchors mean what they say (`^name$` finds one resource).
    """
    if pattern is None:
        return True
    tags = [f"{k}={v}" for k, v in resource.tags.items() if not k.startswith("hidden-")]
    fields = [resource.name, resource.type, resource.resource_group, resource.location, *tags]
    return any(pattern.search(field) is not None for field in fields) != inverse


SORT_FIELDS: dict[str, Callable[[Resource], str]] = {
    "name": lambda r: r.name,
    "type": lambda r: r.type,
    "group": lambda r: r.resource_group,
    "location": lambda r: r.location,
}


@dataclass(frozen=True)
class Scope:
    """Where the table is: every subscription, one subscription, or one resource group."""

    subscription: Subscription | None = None
    group: str | None = None

    def crumbs(self) -> str:
        parts = ["All subscriptions"]
        if self.subscription:
            parts.append(self.subscription.display_name)
        if self.group:
            parts.append(self.group)
        return "  ›  ".join(parts)


class ResourcesScreen(ListAreaScreen):
    """Browse resources by subscription and resource group; `/` filters, enter shows properties."""

    AREA = "resources"
    DEFAULT_CSS = f"""
    ResourcesScreen #scope-tree {{ width: {TREE_WIDTH}; border-right: vkey $panel; }}
    ResourcesScreen #crumbs {{ height: 1; padding: 0 1; color: $text-muted; }}
    ResourcesScreen #table-area {{ height: 1fr; }}
    ResourcesScreen #detail {{ height: 40%; border-top: hkey $panel; padding: 0 1; }}
    ResourcesScreen #detail.-hidden {{ display: none; }}
    ResourcesScreen .state {{ padding: 1 2; }}
    """
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="resources.refresh"),
        Binding("c", "copy_id", "Copy id", id="resources.copy_id"),
        Binding("o", "portal_link", "Portal link", id="resources.portal"),
        Binding("x", "toggle_secrets", "Reveal secrets", id="resources.reveal"),
        Binding("d", "toggle_detail", "Details", id="resources.detail"),
        Binding("backspace", "up_scope", "Up", id="resources.up"),
        Binding("s", "sort", "Sort", id="resources.sort"),
        Binding("L", "resource_logs", "Logs", id="resources.logs"),
        Binding("t", "edit_tags", "Edit tags", show=False, id="resources.tags"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="resources.clear_filter"),
    ]

    def __init__(self, context: ShellContext, service: ResourcesService, refresh_seconds: float = 30.0) -> None:
        super().__init__(context, refresh_seconds)
        self.service = service
        self.scope = Scope(context.current)
        self.resources: list[Resource] = []
        self.shown: list[Resource] = []
        self.reveal = False
        self.detail: Resource | None = None
        self.sort_key: str | None = None
        self.sort_reverse = False
        self._detail_for: str | None = None
        self._column_layout: dict[str, int] = {}
        self._refresh_asked = False
        self.as_of: datetime | None = None
        """When the rows shown were listed, while they come from the cache (None: they are fresh)."""
        self._subscriptions_cached = False

    def compose_body(self) -> ComposeResult:
        tree: Tree[Any] = Tree("All subscriptions", id="scope-tree")
        tree.root.data = ("all",)
        tree.show_root = True
        with Horizontal():
            yield tree
            with Vertical():
                yield Static(self.scope.crumbs(), id="crumbs")
                yield FilterBox()
                yield ListStates(
                    DataTable(id="resource-table", cursor_type="row", zebra_stripes=True),
                    empty_text="No resources here.",
                    id="table-area",
                )
                with VerticalScroll(id="detail", classes="-hidden"):
                    yield Static("", id="detail-body")

    def on_mount(self) -> None:
        self._set_columns(with_subscription=self.scope.subscription is None)
        # Before the first frame: a warm start has shown these rows since its first paint (the preview).
        self._show_cached()
        self.load_subscriptions()

    def _show_cached(self) -> None:
        """Show the last inventory listed for this cloud and tenant, stamped, until fresh rows replace it."""
        cached = self.service.cached_inventory()
        if cached is None:
            return
        if not self.context.subscriptions:
            self.context.subscriptions = list(cached.subscriptions)
            self.context.choose_initial()  # a preferred name not found is said once the fresh list is in
            self._subscriptions_cached = True
            self.query_one(ShellHeader).update_from_context()
            self._fill_tree()
        self.scope = Scope(self.context.current)
        part = cached.for_scope(self.scope.subscription.subscription_id if self.scope.subscription else None)
        if part is None:
            return
        found, self.as_of = part
        self.resources = sorted_for_listing(found)
        self._show()

    def _column_widths(self, with_subscription: bool) -> dict[str, int]:
        # The switcher around the table has its width even while the table is hidden behind "Loading"; before
        # the first layout it has none yet, and the table will have what the tree leaves of the screen.
        width = self.query_one("#table-area").content_region.width or self.app.size.width - TREE_WIDTH
        return column_widths(with_subscription, width)

    def _set_columns(self, *, with_subscription: bool) -> None:
        """The table's columns; "All subscriptions" adds one naming each row's subscription."""
        table = self.query_one(DataTable)
        widths = self._column_widths(with_subscription)
        if self._column_layout == widths and table.columns:
            return
        self._column_layout = widths
        table.clear(columns=True)
        for label, key in COLUMNS:
            if key in widths:
                table.add_column(label, key=key, width=widths[key])

    def on_resize(self) -> None:
        # The tags column takes what is left of the width: lay the rows out again when that changes.
        if self.resources and self._column_widths(self.scope.subscription is None) != self._column_layout:
            self.call_after_refresh(self._show)

    # loading -------------------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="resources-subscriptions", name="load subscriptions")
    async def load_subscriptions(self) -> None:
        if not self.context.subscriptions or self._subscriptions_cached:
            connected = self.service.context.is_connected
            self.set_waiting("listing subscriptions…" if connected else "signing in, then listing subscriptions…")
            self.context.subscriptions = await self.service.list_subscriptions()
            self._subscriptions_cached = False
            warning = self.context.choose_initial()
            if warning:
                self.notify(warning, title="Subscription", severity="warning", timeout=20)
            self.query_one(ShellHeader).update_from_context()
        self._fill_tree()
        self.scope = Scope(self.context.current)
        self.load_scope()

    def _fill_tree(self) -> None:
        tree: Tree[Any] = self.query_one("#scope-tree", Tree)
        tree.root.remove_children()
        for subscription in self.context.subscriptions:
            # Text labels: a str label is read as console markup, and these names come from Azure.
            node = tree.root.add(Text(subscription.display_name), data=("sub", subscription), allow_expand=True)
            node.add_leaf("…", data=("placeholder",))
        tree.root.expand()

    @work(exclusive=True, exit_on_error=False, group="resources-scope", name="load resources")
    async def load_scope(self) -> None:
        if not self.resources:
            self.states.show_loading()
        scope = self.scope
        refreshing = "refreshing… " if self._refresh_asked else ""
        if scope.subscription is None:
            ids = [s.subscription_id for s in self.context.subscriptions]

            def listing(done: int, total: int) -> None:
                if scope == self.scope:
                    self.set_waiting(f"{refreshing}listing {min(done + 1, total)} of {total} subscriptions…")

            found = await self.service.list_all_resources(ids, progress=listing)
        else:
            where = scope.group or scope.subscription.display_name
            self.set_waiting(f"{refreshing}listing the resources of {where}…")
            found = await self.service.list_resources(scope.subscription.subscription_id, scope.group)
        if scope != self.scope:
            return
        self.resources = sorted(found, key=lambda r: (r.resource_group.lower(), r.type.lower(), r.name.lower()))
        self.as_of = None
        self.waiting = ""
        self._show()
        if self._refresh_asked:
            self._refresh_asked = False
            self.notify(f"Refreshed: {len(self.resources)} resources.", timeout=3)
        self._arm_refresh()

    def _arm_refresh(self) -> None:
        self.arm_refresh(self.load_scope)

    @work(exclusive=True, exit_on_error=False, group="resources-groups", name="load resource groups")
    async def load_groups(self, node: TreeNode[Any]) -> None:
        assert node.data is not None
        subscription: Subscription = node.data[1]
        groups = await self.service.list_resource_groups(subscription.subscription_id)
        node.remove_children()
        for group in groups:
            node.add_leaf(Text(group.name), data=("group", subscription, group))
        if not groups:
            node.add_leaf("(no resource groups)", data=("placeholder",))

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        """How failed loads look here: the details pane, the error state (or the cached rows kept); any other
        failure (a change, a group list) is a notice, from the list-area base."""
        if worker.group == "resources-detail":
            # The pane says what went wrong instead of "Loading…" forever.
            self.detail = None
            self.query_one("#detail-body", Static).update(
                Text.assemble(("Could not load the details.\n\n", "bold"), message, "\n\nPress enter to retry.")
            )
            return True
        if worker.group == "resources-scope" or worker.group == "resources-subscriptions":
            self._refresh_asked = False
            if self.as_of is not None:
                # The cached rows stay, still stamped; the crumbs say the refresh failed.
                self.refresh_failed("resources", message)
                return True
            self.waiting = ""
            self.states.show_error("Could not load resources.", message, self.RETRY_HINT)
            return True
        return False

    # showing -------------------------------------------------------------------------------

    def _show(self) -> None:
        pattern, inverse = compile_filter(self.filter_text)
        self.shown = [r for r in self.resources if resource_matches(r, pattern, inverse)]
        if self.sort_key is not None:
            field = SORT_FIELDS[self.sort_key]
            self.shown.sort(key=lambda r: field(r).lower(), reverse=self.sort_reverse)
        table = self.query_one(DataTable)
        keep = self._selected()
        self._set_columns(with_subscription=self.scope.subscription is None)
        table.clear()
        names = {s.subscription_id.lower(): s.display_name for s in self.context.subscriptions}
        for resource in self.shown:
            # Text, not str: a DataTable reads a str as console markup, and names and tags come from Azure.
            row = (Text(cell) for cell in row_cells(resource, names, self._column_layout))
            table.add_row(*row, key=resource.resource_id)
        if keep is not None and keep in self.shown:
            # A refresh or a new sort keeps the cursor on the resource the user was on.
            table.move_cursor(row=self.shown.index(keep), animate=False)
        self.update_crumbs()
        if self.shown:
            self.states.show_content()
        else:
            self.states.show_empty("No resources match the filter." if self.resources else None)

    def show_rows(self) -> None:
        self._show()

    def reload(self) -> None:
        self.load_scope()

    def update_crumbs(self) -> None:
        """Where the table is, how many rows, filter and sort; cached rows carry their stamp; then what is awaited."""
        line = Text(self.scope.crumbs())
        if self.resources or self.as_of is not None:
            count = f"{len(self.shown)} of {len(self.resources)}" if self.filter_text else f"{len(self.resources)}"
            line.append(f"   ({count} resources)")
        if self.as_of is not None:
            line.append(f"   {cached_stamp(self.as_of)}", style="bold reverse")
        if self.filter_text:
            line.append(f"   filter: {self.filter_text}")
            problem = filter_problem(self.filter_text)
            if problem:
                line.append(f" ({problem})")
        if self.sort_key is not None:
            line.append(f"   sorted by {self.sort_key}{' (descending)' if self.sort_reverse else ''}")
        if self.waiting:
            line.append(f"   {self.waiting}", style="italic")
        self.query_one("#crumbs", Static).update(line)

    def _selected(self) -> Resource | None:
        table = self.query_one(DataTable)
        if table.row_count == 0 or table.cursor_row < 0 or table.cursor_row >= table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.resources if r.resource_id == key), None)

    @on(Tree.NodeExpanded, "#scope-tree")
    def _expanded(self, event: Tree.NodeExpanded[Any]) -> None:
        if event.node.data and event.node.data[0] == "sub":
            self.load_groups(event.node)

    @on(Tree.NodeSelected, "#scope-tree")
    def _scope_selected(self, event: Tree.NodeSelected[Any]) -> None:
        data: tuple[Any, ...] = event.node.data or ("placeholder",)
        if data[0] == "all":
            self._set_scope(Scope())
        elif data[0] == "sub":
            self._set_scope(Scope(data[1]))
        elif data[0] == "group":
            group: ResourceGroup = data[2]
            self._set_scope(Scope(data[1], group.name))

    def _set_scope(self, scope: Scope) -> None:
        if scope == self.scope:
            return
        self.scope = scope
        if scope.subscription is not None and scope.subscription != self.context.current:
            self.context.current = scope.subscription
            self.query_one(ShellHeader).update_from_context()
        self.resources = []
        self.as_of = None
        self.load_scope()

    @on(DataTable.RowSelected, "#resource-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        resource = self._selected()
        if resource is not None:
            self.query_one("#detail").remove_class("-hidden")
            self._start_detail(resource)

    @on(DataTable.RowHighlighted, "#resource-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # An open details pane follows the cursor.
        resource = self._selected()
        if resource is not None and self._detail_open and self._detail_for != resource.resource_id:
            self._start_detail(resource)

    @property
    def _detail_open(self) -> bool:
        return not self.query_one("#detail").has_class("-hidden")

    def _start_detail(self, resource: Resource) -> None:
        self._detail_for = resource.resource_id
        self.query_one("#detail-body", Static).update(Text(f"Loading {resource.name}…", style="italic"))
        self.query_one("#detail", VerticalScroll).scroll_home(animate=False)
        self.load_detail(resource.resource_id)

    @work(exclusive=True, exit_on_error=False, group="resources-detail", name="load resource detail")
    async def load_detail(self, resource_id: str) -> None:
        self._detail_for = resource_id
        detail = await self.service.get_resource(resource_id)
        if self._detail_for != resource_id:
            return
        self.detail = detail
        self._render_detail()
        self.query_one("#detail", VerticalScroll).scroll_home(animate=False)

    def _render_detail(self) -> None:
        resource = self.detail
        if resource is None:
            return
        text = Text()
        text.append(f"{resource.name}\n", style="bold")
        text.append(f"{resource.resource_id}\n", style="dim")
        for label, value in (
            ("type", resource.type),
            ("kind", resource.kind),
            ("sku", resource.sku),
            ("location", resource.location),
            ("tags", visible_tags(resource.tags)),
        ):
            if value:
                text.append(f"{label:>9}  ", style="bold")
                text.append(f"{value}\n")
        properties = mask_secrets(resource.properties or {}, reveal=self.reveal)
        text.append("\nproperties", style="bold")
        hint = "  (secrets shown; x hides)\n" if self.reveal else "  (x reveals secret-looking values)\n"
        text.append(hint, style="dim")
        text.append(json.dumps(properties, indent=2, default=str, ensure_ascii=False))
        self.query_one("#detail-body", Static).update(text)

    # actions -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """`r` reloads the table; the crumbs say so until the new rows are in."""
        self.set_waiting("refreshing…")
        self._refresh_asked = True
        if self.context.subscriptions:
            self.load_scope()
        else:
            self.load_subscriptions()  # they could not be listed (not signed in, say): that first

    def action_clear_filter(self) -> None:
        self.clear_filter()

    def action_copy_id(self) -> None:
        resource = self._selected()
        if resource is None:
            self.notify("No resource selected.", severity="warning")
            return
        self.app.copy_to_clipboard(resource.resource_id)
        self.notify(f"Copied {resource.resource_id}", title="Resource id")

    def action_portal_link(self) -> None:
        resource = self._selected()
        if resource is None:
            self.notify("No resource selected.", severity="warning")
            return
        link = self.context.portal_link(resource.resource_id)
        self.app.copy_to_clipboard(link)
        self.notify(link, title="Portal link (copied)", timeout=10)

    def action_sort(self) -> None:
        """Sort by name, type, group, then location; pressing past location sorts descending, then unsorted."""
        keys = list(SORT_FIELDS)
        if self.sort_key is None:
            self.sort_key, self.sort_reverse = keys[0], False
        elif self.sort_key != keys[-1]:
            self.sort_key = keys[keys.index(self.sort_key) + 1]
        elif not self.sort_reverse:
            self.sort_key, self.sort_reverse = keys[0], True
        else:
            self.sort_key, self.sort_reverse = None, False
        self._show()

    @on(DataTable.HeaderSelected, "#resource-table")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if key in SORT_FIELDS:
            self.sort_reverse = not self.sort_reverse if self.sort_key == key else False
            self.sort_key = key
            self._show()

    def action_resource_logs(self) -> None:
        """Open Logs with a query about the selected resource's own telemetry."""
        resource = self._selected()
        if resource is None:
            self.notify("No resource selected.", severity="warning")
            return
        self.post_message(OpenInLogs(logs_query_for(resource)))

    def action_edit_tags(self) -> None:
        """`t` edits the selected resource's tags (in a group's scope with no resource there, the group's):
        tags dialog, confirm dialog, then the change with its progress in the operation panel."""
        resource = self._selected()
        if resource is not None:
            subscription_id, name = resource.subscription_id, resource.name
        elif self.scope.subscription is not None and self.scope.group and not self.resources:
            subscription_id, name = self.scope.subscription.subscription_id, self.scope.group
        else:
            self.notify("No resource selected: move to a resource, then t edits its tags.", severity="warning")
            return
        try:  # read-only refuses here, with the service's own sentence, before any dialog or request
            self.service.ensure_writable(subscription_id, f"set tags on {name}", confirmed=True)
        except OpsError as refused:
            self.notify(refused.message, title="Read-only", severity="error", timeout=10)
            return
        if resource is not None:
            self._edit_tags(resource.resource_id, name, subscription_id, dict(resource.tags))
        else:
            self.read_group_tags(subscription_id, name)

    @work(exclusive=True, exit_on_error=False, group="resources-tags", name="read resource group tags")
    async def read_group_tags(self, subscription_id: str, name: str) -> None:
        groups = await self.service.list_resource_groups(subscription_id)
        group = next((g for g in groups if g.name.lower() == name.lower()), None)
        if group is None:
            self.notify(f"The resource group {name} no longer exists.", severity="warning")
            return
        scope_id = f"/subscriptions/{subscription_id}/resourceGroups/{group.name}"
        self._edit_tags(scope_id, group.name, subscription_id, dict(group.tags))

    def _edit_tags(self, scope_id: str, name: str, subscription_id: str, tags: dict[str, str]) -> None:
        hidden = {k: v for k, v in tags.items() if k.startswith("hidden-")}
        shown = {k: v for k, v in tags.items() if not k.startswith("hidden-")}

        def edited(new: dict[str, str] | None) -> None:
            if new is None:
                return
            subscription = next(
                (s for s in self.context.subscriptions if s.subscription_id.lower() == subscription_id.lower()), None
            )
            wanted = {**hidden, **new}
            before = ", ".join(f"{k}={v}" for k, v in shown.items()) or "none"
            after = ", ".join(f"{k}={v}" for k, v in new.items()) or "none"
            request = ChangeRequest(
                "set tags",
                name,
                scope_id,
                subscription.display_name if subscription else subscription_id,
                protected=self.context.protected(subscription_id),
                details=f"tags now   {before}\ntags after {after}",
            )
            self.confirm_change(request, lambda: self.apply_tags(scope_id, name, wanted))

        self.app.push_screen(TagsScreen(name, shown), edited)

    @work(exclusive=True, exit_on_error=False, group="resources-change", name="set tags")
    async def apply_tags(self, scope_id: str, name: str, tags: dict[str, str]) -> None:
        """Set the tags (confirmed by the dialog), with progress in the operation panel; then reload."""

        def told(now: dict[str, str]) -> str:
            return f"Tags of {name} are now: {visible_tags(now) or 'none'}."

        now = await self.run_change(
            "set tags",
            name,
            lambda progress: self.service.set_tags(scope_id, tags, confirmed=True, progress=progress),
            told,
        )
        self.notify(told(now), title="Tags set")
        self.load_scope()
        if self.detail is not None and self.detail.resource_id == scope_id:
            self.load_detail(scope_id)

    def action_toggle_secrets(self) -> None:
        self.reveal = not self.reveal
        self._render_detail()

    def action_toggle_detail(self) -> None:
        """`d` shows or hides the details of the resource under the cursor."""
        pane = self.query_one("#detail")
        if self._detail_open:
            pane.add_class("-hidden")
            return
        resource = self._selected()
        if resource is None:
            self.notify("No resource selected: move to a resource, then d or enter shows its details.")
            return
        pane.remove_class("-hidden")
        if self.detail is None or self.detail.resource_id != resource.resource_id:
            self._start_detail(resource)

    def action_up_scope(self) -> None:
        if self.scope.group:
            self._set_scope(Scope(self.scope.subscription))
        elif self.scope.subscription:
            self._set_scope(Scope())

    def subscription_changed(self, subscription: Subscription) -> None:
        """The user switched subscription: the table moves to it (the header is the shell's)."""
        if self.scope.subscription != subscription:
            self.scope = Scope(subscription)
            self.resources = []
            self.as_of = None
            self.load_scope()

    def on_reveal_resource(self, message: RevealResource) -> None:
        """The palette (or another area) asked to show one resource."""
        if message.delivered:
            self.reveal_resource(message.resource())

    def reveal_resource(self, resource: Resource) -> None:
        """Show one resource: its group as scope, its name as the filter, its details loaded."""
        subscription = next(
            (s for s in self.context.subscriptions if s.subscription_id.lower() == resource.subscription_id.lower()),
            self.context.current,
        )
        self.filter_text = f"^{re.escape(resource.name)}$"
        self.filter_box.value = self.filter_text
        self._set_scope(Scope(subscription, resource.resource_group))
        self.query_one("#detail").remove_class("-hidden")
        self.load_detail(resource.resource_id)
