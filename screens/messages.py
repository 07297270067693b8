"""Navigation between areas: one area (or the palette) posts a request, the app switches areas and hands it over.

No area imports another's screen: Resources posts `OpenInLogs`, the palette posts `RevealResource`
and `OpenRunbook`, and the app delivers each to the area that shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from textual.message import Message

from console.models import Resource


class AreaRequest(Message):
    """Show something in another area. Posted upwards to the app, which delivers it to `AREA`'s screen."""

    AREA: ClassVar[str] = ""
    """The area that handles this request."""
    FIELDS: ClassVar[tuple[str, ...]] = ()
    """The constructor's arguments, in order, as attributes of the same names."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered = False
        """False while on its way to the app; True once the app has handed it to the area's screen."""

    def for_area(self) -> AreaRequest:
        """A copy marked as delivered, for the area's screen (so it does not bounce back into the app's handler)."""
        build: Any = type(self)
        delivered: AreaRequest = build(*(getattr(self, name) for name in self.FIELDS))
        delivered.delivered = True
        return delivered


class OpenInLogs(AreaRequest):
    """Open Logs with `query` in the editor, over the last `timespan` (default: the range already chosen), on
    the workspace `scope` names (a name, customer id or resource id; default: the one already open)."""

    AREA = "logs"
    FIELDS = ("query", "timespan", "scope")

    def __init__(self, query: str, timespan: timedelta | None = None, scope: str | None = None) -> None:
        super().__init__()
        self.query = query
        self.timespan = timespan
        self.scope = scope


class OpenRunbook(AreaRequest):
    """Open runbook `name` as a document in Runbooks, with `params` as its parameter values."""

    AREA = "runbooks"
    FIELDS = ("name", "params")

    def __init__(self, name: str, params: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.name = name
        self.params = dict(params or {})


class RevealResource(AreaRequest):
    """Show one resource in Resources: its group as the scope, its name as the filter, its details open."""

    AREA = "resources"
    FIELDS = ("resource_id",)

    def __init__(self, resource_id: str) -> None:
        super().__init__()
        self.resource_id = resource_id

    def resource(self) -> Resource:
        """What the id itself says of the resource: subscription, group, type and name (location unknown)."""
        parts = self.resource_id.strip("/").split("/")
        lower = [part.lower() for part in parts]

        def after(word: str) -> str:
            return parts[lower.index(word) + 1] if word in lower[:-1] else ""

        rest = parts[lower.index("providers") + 1 :] if "providers" in lower else []
        kind = "/".join(rest[:1] + rest[1::2])  # namespace, then every type segment: Microsoft.Web/sites/slots
        return Resource(
            self.resource_id, parts[-1] if parts else "", kind, "", after("resourcegroups"), after("subscriptions")
        )
