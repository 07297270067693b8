"""The first frame of a warm start: the last inventory listed, laid out as the Resources area lays it out.

Kept light (no table or tree widgets) so that it paints with the shell, before the Resources area is built;
the area then takes its place with the same rows, the same stamp, and the keys. Also the one place that says
how a resource row reads, so the preview and the area cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from console.durations import iso_utc
from console.models import Resource, Subscription
from console.services.inventory_cache import CachedInventory

COLUMNS = [
    ("Name", "name"),
    ("Type", "type"),
    ("Group", "group"),
    ("Location", "location"),
    ("Subscription", "subscription"),
    ("Tags", "tags"),
]
COLUMN_WIDTHS = {"name": 36, "type": 42, "group": 16, "location": 12, "subscription": 24, "tags": 60}
TREE_WIDTH = 36
"""The scope tree's width, its border included."""


def fit(text: str, width: int) -> str:
    """`text` cut to `width` characters, ending in an ellipsis when it was longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def visible_tags(tags: dict[str, str]) -> str:
    """A resource's tags as the list shows them (hidden-* tags left out)."""
    return ", ".join(f"{k}={v}" for k, v in tags.items() if not k.startswith("hidden-"))


def column_widths(with_subscription: bool, table_width: int) -> dict[str, int]:
    """Fixed widths keep a long disk name from pushing the type off narrow terminals; the tags get what a
    table `table_width` wide has left (each cell has a space either side, and the scrollbar takes two)."""
    widths = {k: w for k, w in COLUMN_WIDTHS.items() if with_subscription or k != "subscription"}
    available = table_width - 2
    if available > 0:
        others = sum(w + 2 for k, w in widths.items() if k != "tags")
        widths["tags"] = max(20, available - others - 2)
    return widths


def row_cells(resource: Resource, names: dict[str, str], widths: dict[str, int]) -> list[str]:
    """The cells of a resource's row, each fitted to its column (`names`: subscription names by lower-case id)."""
    cells = {
        "name": resource.name,
        "type": resource.type,
        "group": resource.resource_group,
        "location": resource.location,
        "subscription": names.get(resource.subscription_id.lower(), resource.subscription_id),
        "tags": visible_tags(resource.tags),
    }
    return [fit(cells[key], widths[key]) for _label, key in COLUMNS if key in widths]


def sorted_for_listing(resources: list[Resource]) -> list[Resource]:
    """The order the list starts in: by group, type and name."""
    return sorted(resources, key=lambda r: (r.resource_group.lower(), r.type.lower(), r.name.lower()))


def cached_stamp(listed_at: datetime) -> str:
    """The words that mark rows as cached, never current."""
    return f"cached, as of {iso_utc(listed_at.replace(microsecond=0))}"


class InventoryPreview(Static):
    """The cached inventory of the scope the Resources area will open on, as it will show it; no keys. One
    widget of plain lines (the tree, its border and the table drawn as text), so it costs the first frame
    next to nothing."""

    # Cut at the edge, never wrapped: on a narrow terminal the list scrolls sideways; its preview just ends.
    DEFAULT_CSS = "InventoryPreview { height: 1fr; text-wrap: nowrap; text-overflow: clip; }"


def inventory_preview(
    cached: CachedInventory, current: Subscription | None, terminal_width: int, terminal_height: int
) -> InventoryPreview | None:
    """The preview of `current`'s cached resources (None: of every subscription) on a terminal of that size, or
    None when they were not all listed."""
    part = cached.for_scope(current.subscription_id if current else None)
    if part is None:
        return None
    found, listed_at = part
    resources = sorted_for_listing(found)
    widths = column_widths(current is None, terminal_width - TREE_WIDTH)
    names = {s.subscription_id.lower(): s.display_name for s in cached.subscriptions}

    tree = ["▼ All subscriptions"]
    for index, subscription in enumerate(cached.subscriptions):
        branch = "└──" if index == len(cached.subscriptions) - 1 else "├──"
        tree.append(f"{branch} ▶ {subscription.display_name}")

    def row(cells: list[str]) -> str:
        return "".join(f" {cell.ljust(widths[key])} " for cell, key in zip(cells, widths, strict=True))

    crumbs = Text(" " + "  ›  ".join(["All subscriptions", *([current.display_name] if current else [])]), style="dim")
    crumbs.append(f"   ({len(resources)} resources)")
    crumbs.append(f"   {cached_stamp(listed_at)}", style="bold reverse")
    header = Text(row([fit(label, widths[key]) for label, key in COLUMNS if key in widths]), style="bold")
    body = [crumbs, header, *(Text(row(row_cells(resource, names, widths))) for resource in resources)]

    text = Text()
    # The tree's border runs down to the footer, below the header (one line each).
    for index in range(max(len(tree), terminal_height - 2)):
        text.append((tree[index] if index < len(tree) else "").ljust(TREE_WIDTH - 1))
        text.append("▕", style="dim")
        text.append_text(body[index] if index < len(body) else Text())
        text.append("\n")
    return InventoryPreview(text, id="inventory-preview")
