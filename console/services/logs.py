"""KQL against Log Analytics through azure-monitor-query, returning Arrow-backed results."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.errors import ErrorKind, OpsError, from_azure
from console.models import Column, QueryResult, Workspace, WorkspaceSchema
from console.services.base import Service, ServiceContext

if TYPE_CHECKING:  # pyarrow is imported on first query: it is not needed to paint the console
    import pyarrow as pa

Timespan = timedelta | tuple[datetime, datetime] | None


def _arrow_type(la_type: str) -> pa.DataType | None:
    """The Arrow type a Log Analytics column type maps to directly, if any."""
    import pyarrow as pa

    return {
        "bool": pa.bool_(),
        "boolean": pa.bool_(),
        "int": pa.int64(),
        "long": pa.int64(),
        "real": pa.float64(),
        "double": pa.float64(),
        "decimal": pa.float64(),
        "datetime": pa.timestamp("us", tz="UTC"),
    }.get(la_type)


# A trailing `render` operator: the console draws it, Log Analytics never sees it.
_RENDER = re.compile(r"\|\s*render\s+(?P<kind>[A-Za-z]+)(?P<options>[^|]*)\s*;?\s*$", re.IGNORECASE)


def split_render(kql: str) -> tuple[str, str | None, dict[str, str]]:
    """Split a trailing `| render kind [with (k=v, ...)]` off a query: (query, kind, options)."""
    match = _RENDER.search(kql)
    if match is None:
        return kql, None, {}
    options: dict[str, str] = {}
    with_clause = re.search(r"with\s*\((?P<body>.*)\)", match.group("options"), re.IGNORECASE | re.DOTALL)
    if with_clause:
        for pair in with_clause.group("body").split(","):
            key, _, value = pair.partition("=")
            if key.strip():
                options[key.strip()] = value.strip().strip("\"'")
    return kql[: match.start()].rstrip(), match.group("kind").lower(), options


def _arrow_column(values: list[Any], la_type: str) -> pa.Array:
    import pyarrow as pa

    wanted = _arrow_type(la_type)
    if wanted is not None:
        try:
            return pa.array(values, type=wanted)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    if la_type == "timespan":
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if la_type == "dynamic":
        import json

        return pa.array(
            [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values], type=pa.string()
        )
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def table_from_logs(names: list[str], types: list[str], rows: list[Any]) -> pa.Table:
    """Build an Arrow table column by column from the SDK's row lists."""
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [_arrow_column(list(values), la_type) for values, la_type in zip(columns, types, strict=True)]
    return pa.Table.from_arrays(arrays, names=_unique(names))


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        result.append(name if count == 0 else f"{name}{count}")
    return result


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_POSITION = re.compile(r"line[:\s]+(\d+)[^\d]+(?:pos|position|column)[:\s]+(\d+)", re.IGNORECASE)


def _describe_partial(error: Any) -> tuple[str, bool]:
    """The sentences inside a partial-result error, and whether it says the result was cut short."""
    details = getattr(error, "details", None) or []
    sentences: list[str] = []
    truncated = False
    for detail in details if isinstance(details, Sequence) else []:
        if not isinstance(detail, Mapping):  # the SDK hands back its own mapping type, not always a dict
            continue
        inner = detail.get("innererror") or {}
        code = str(inner.get("code") or detail.get("code") or "")
        truncated = truncated or "TOO_LARGE" in code.upper() or "LIMIT" in code.upper()
        sentences.append(str(inner.get("message") or detail.get("message") or code))
    if not sentences:
        sentences.append(str(getattr(error, "message", None) or error))
    return " ".join(sentences), truncated


def _query_retry_policy(total: int) -> Any:
    """azure-core's retries for queries, except a timeout (504: the query itself is slow, running it
    again only multiplies the wait) and throttling (429: the caller shows the Retry-After instead)."""
    from azure.core.pipeline.policies import AsyncRetryPolicy

    class QueryRetryPolicy(AsyncRetryPolicy):  # type: ignore[type-arg]
        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            if response.http_response.status_code in (429, 504):
                return False
            return bool(super().is_retry(settings, response))

    return QueryRetryPolicy(retry_total=total)


class LogsService(Service):
    """Runs KQL against a Log Analytics workspace and reads workspace schemas."""

    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        self._client: Any = None

    def _logs(self) -> Any:
        if self._client is None:
            from azure.monitor.query.aio import LogsQueryClient

            self._client = LogsQueryClient(
                self.context.credential,
                endpoint=self.context.profile.logs_endpoint,
                audience=self.context.profile.logs_audience,
                retry_policy=_query_retry_policy(self.context.settings.retry_total),
                **self.context.client_options(),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def query(
        self, workspace_id: str, kql: str, timespan: Timespan = timedelta(days=1), *, server_timeout: int | None = None
    ) -> QueryResult:
        """Run `kql`; a trailing `render` is kept aside for the console; bad KQL raises OpsError with position."""
        if not kql.strip():
            raise OpsError(ErrorKind.BAD_REQUEST, "The query is empty.")
        query, render, render_options = split_render(kql)
        await self.context.connected()
        started = time.perf_counter()
        from azure.core.exceptions import HttpResponseError
        from azure.monitor.query import LogsQueryPartialResult

        try:
            response = await self._logs().query_workspace(
                workspace_id, query, timespan=timespan, server_timeout=server_timeout, include_statistics=True
            )
        except HttpResponseError as error:
            if error.status_code == 400:
                raise self._query_error(error) from error
            raise from_azure(error, "running the query") from error
        except Exception as error:
            raise from_azure(error, "running the query") from error
        duration_ms = (time.perf_counter() - started) * 1000
        partial_error = None
        truncated = False
        if isinstance(response, LogsQueryPartialResult):
            tables = response.partial_data
            partial_error, truncated = _describe_partial(response.partial_error)
        else:
            tables = response.tables
        if not tables:
            import pyarrow as pa

            return QueryResult((), pa.table({}), duration_ms, partial_error, truncated, render)
        primary = tables[0]
        names = [str(c) for c in primary.columns]
        types = [str(t) for t in primary.columns_types]
        table = table_from_logs(names, types, [list(row) for row in primary.rows])
        statistics = dict(getattr(response, "statistics", None) or {})
        return QueryResult(
            columns=tuple(Column(n, t) for n, t in zip(table.column_names, types, strict=True)),
            table=table,
            duration_ms=duration_ms,
            partial_error=partial_error,
            truncated=truncated,
            render=render,
            render_options=render_options,
            statistics=statistics,
        )

    @staticmethod
    def _query_error(error: Any) -> OpsError:
        """The engine's own sentence (and position) from a 400 answer to a query."""
        odata = getattr(error, "error", None)
        message = getattr(odata, "message", None) or str(error).splitlines()[0]
        details: list[str] = []
        position: tuple[int, int] | None = None
        inner = getattr(odata, "innererror", None) or {}
        if isinstance(inner, dict):
            line, pos = inner.get("line"), inner.get("pos")
            if isinstance(line, int) and isinstance(pos, int):
                position = (line, pos)
            if inner.get("message"):
                details.append(str(inner["message"]))
        # The engine's own sentence says what is wrong; the envelope ("invalid properties") adds nothing.
        sentence = details[0] if details else str(message)
        if position is None:
            found = _POSITION.search(sentence)
            if found:
                position = (int(found.group(1)), int(found.group(2)))
        request_id = error.response.headers.get("x-ms-request-id") if error.response is not None else None
        code = inner.get("code") if isinstance(inner, dict) else None
        return OpsError(ErrorKind.BAD_REQUEST, sentence, request_id=request_id, code=code, position=position)

    async def schema(self, workspace_id: str) -> WorkspaceSchema:
        """Tables and columns of a workspace, from the Log Analytics metadata API."""
        from azure.core.rest import HttpRequest

        async def fetch() -> Any:
            request = HttpRequest("GET", f"/workspaces/{workspace_id}/metadata")
            response = await self._logs().send_request(request)
            response.raise_for_status()
            return response.json()

        body = await self.call("reading the workspace schema", fetch())
        tables: dict[str, tuple[Column, ...]] = {}
        for table in body.get("tables", []):
            columns = tuple(Column(str(c["name"]), str(c["type"])) for c in table.get("columns", []))
            tables[str(table["name"])] = columns
        return WorkspaceSchema(tables)

    async def find_workspace(self, resources: Any, wanted: str | None) -> Workspace:
        """The workspace named by customer id, name or resource id; with none named, the first one found."""
        if wanted and _GUID.match(wanted):
            return Workspace("", wanted, wanted, "", "")
        subscriptions = await resources.list_subscriptions()
        found = await self.list_workspaces(resources, [s.subscription_id for s in subscriptions])
        if not found:
            raise OpsError(ErrorKind.NOT_FOUND, "No Log Analytics workspace is visible in any subscription.")
        if not wanted:
            return found[0]
        for workspace in found:
            if wanted.lower() in {workspace.name.lower(), workspace.resource_id.lower(), workspace.customer_id.lower()}:
                return workspace
        names = ", ".join(w.name for w in found)
        raise OpsError(ErrorKind.NOT_FOUND, f"No workspace is called {wanted!r}; visible workspaces: {names}.")

    async def list_workspaces(self, resources: Any, subscription_ids: list[str]) -> list[Workspace]:
        """Log Analytics workspaces across subscriptions, with the customer id queries need."""
        found = await resources.list_all_resources(
            subscription_ids, resource_type="Microsoft.OperationalInsights/workspaces"
        )
        workspaces = []
        for summary in found:
            full = await resources.get_resource(summary.resource_id)
            customer_id = str((full.properties or {}).get("customerId", ""))
            workspaces.append(Workspace(full.resource_id, full.name, customer_id, full.location, full.subscription_id))
        return workspaces
