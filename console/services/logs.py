"""KQL against Log Analytics through azure-monitor-query, returning Arrow-backed results."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.errors import ErrorKind, OpsError, from_azure
from console.history import QueryHistory
from console.kql import string_literal
from console.models import Column, QueryResult, Resource, Workspace, WorkspaceSchema
from console.services.base import Service, ServiceContext

if TYPE_CHECKING:  # pyarrow is imported on first query: it is not needed to paint the console
    import pyarrow as pa

Timespan = timedelta | tuple[datetime, datetime] | None


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


def table_from_logs(names: list[str], types: list[str], rows: list[Any]) -> pa.Table:
    """Build an Arrow table from the SDK's row lists (`LogsQueryClient.query_workspace`), row by row."""
    from console.services.la_arrow import table_from_rows

    return table_from_rows(names, types, rows)


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_POSITION = re.compile(r"line[:\s]+(\d+)[^\d]+(?:pos|position|column)[:\s]+(\d+)", re.IGNORECASE)


def _describe_partial(error: Any) -> tuple[str, bool]:
    """The sentences inside a partial-result error (the answer's `error` object, or the SDK's
    LogsQueryError), and whether it says the result was cut short."""
    if isinstance(error, Mapping):
        details = error.get("details") or []
        if not details:
            return str(error.get("message") or error.get("code") or "The result is incomplete."), False
    else:
        details = getattr(error, "details", None) or []
    sentences: list[str] = []
    truncated = False
    for detail in details if isinstance(details, Sequence) else []:
        if not isinstance(detail, Mapping):  # the SDK hands back its own mapping type, not always a dict
            continue
        inner = detail.get("innererror") or {}
        code = str(inner.get("code") or detail.get("code") or "")
        message = str(inner.get("message") or detail.get("message") or code)
        # Kusto's codes are numbers; the symbolic name (E_QUERY_RESULT_SET_TOO_LARGE) is in the message.
        said = f"{code} {message}".upper()
        truncated = truncated or "TOO_LARGE" in said or "LIMIT" in code.upper()
        sentences.append(message)
    if not sentences:
        sentences.append(str(getattr(error, "message", None) or error))
    return " ".join(sentences), truncated


def _iso_timespan(timespan: Timespan) -> str | None:
    """A timespan as the query API takes it: `PT3600.0S`, `start/end` or `start/PT...S` (as the SDK writes it)."""
    if timespan is None:
        return None

    def instant(value: datetime) -> str:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    if isinstance(timespan, timedelta):
        return f"PT{timespan.total_seconds()}S" if timespan else None
    start, second = timespan
    if isinstance(second, timedelta):
        return f"{instant(start)}/PT{second.total_seconds()}S"
    return f"{instant(start)}/{instant(second)}"


def _timed_out(error: Any, server_timeout: int | None) -> OpsError:
    """A 504 from the query API: Log Analytics cancelled the query at its server timeout ("Gateway timeout")."""
    limit = f"its {server_timeout} s server timeout" if server_timeout else "the server timeout"
    request_id = error.response.headers.get("x-ms-request-id") if error.response is not None else None
    return OpsError(
        ErrorKind.TRANSIENT,
        f"The query ran past {limit} and Log Analytics cancelled it (Gateway timeout); "
        "narrow the timespan or the query, or allow it longer.",
        request_id=request_id,
        code="GatewayTimeout",
    )


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


_DIAGNOSTIC_TYPES = {
    "microsoft.keyvault/vaults",
    "microsoft.dbforpostgresql/flexibleservers",
    "microsoft.storage/storageaccounts",
    "microsoft.recoveryservices/vaults",
}


def logs_query_for(resource: Resource) -> str:
    """A KQL query about one resource's own telemetry: requests for a web app or slot, heartbeats for a
    VM, diagnostics for data services, the activity log for anything else. Names enter as KQL literals."""
    kind = resource.type.lower()
    if kind in {"microsoft.web/sites", "microsoft.web/sites/slots"}:
        app, _, slot = resource.name.partition("/")
        where = f"| where AppRoleName == {string_literal(app)}"
        if slot:
            where += f" and tostring(Properties.slot) == {string_literal(slot)}"
        return (
            f"AppRequests\n{where}\n"
            "| summarize requests = count(), failed = countif(not(Success)) by bin(TimeGenerated, 15m)\n"
            "| render timechart"
        )
    if kind == "microsoft.compute/virtualmachines":
        return (
            f"Heartbeat\n| where Computer == {string_literal(resource.name)}\n"
            "| summarize heartbeats = count() by bin(TimeGenerated, 15m)\n| render timechart"
        )
    target = string_literal(resource.resource_id.lower())
    if kind in _DIAGNOSTIC_TYPES:
        return (
            f"AzureDiagnostics\n| where _ResourceId =~ {target}\n"
            "| summarize operations = count() by bin(TimeGenerated, 1h), ResultType\n| render timechart"
        )
    return (
        f"AzureActivity\n| where _ResourceId =~ {target}\n"
        "| project TimeGenerated, OperationNameValue, ActivityStatusValue, Caller\n| order by TimeGenerated desc"
    )


@dataclass(frozen=True)
class QueryProgress:
    """How far a query has got: `running` (waiting for the answer), `receiving` (rows arriving), `done`."""

    phase: str
    elapsed_s: float
    bytes_received: int = 0
    rows: int = 0

    def sentence(self) -> str:
        """One line for a status bar: what the query is waiting for, and for how long."""
        if self.phase == "running":
            return f"Query running, {self.elapsed_s:.1f} s"
        size = f"{self.bytes_received / 1_048_576:.1f} MB"
        if self.phase == "receiving":
            return f"Receiving rows: {self.rows:,} so far ({size}), {self.elapsed_s:.1f} s"
        return f"{self.rows:,} rows ({size}) in {self.elapsed_s:.1f} s"


class LogsService(Service):
    """Runs KQL against a Log Analytics workspace, reads workspace schemas, chooses the workspace every
    area queries and keeps the query history."""

    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        self._client: Any = None
        self._workspaces: dict[str, Workspace] = {}
        self._history: QueryHistory | None = None

    @property
    def history(self) -> QueryHistory:
        """The query history in the settings' history file; one instance, safe to use from any thread."""
        if self._history is None:
            self._history = QueryHistory(self.context.settings.history_path)
        return self._history

    def _logs(self) -> Any:
        if self._client is None:
            from azure.monitor.query.aio import LogsQueryClient

            self._client = LogsQueryClient(
                self.context.credential,
                endpoint=self.context.profile.logs_endpoint,
                audience=self.context.profile.logs_audience,
                retry_policy=_query_retry_policy(self.context.settings.retry_total),
                # Query answers are read as they arrive, in pieces of this size (azure-core's default is 4 KB).
                connection_data_block_size=256 * 1024,
                **self.context.client_options(),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def query(
        self,
        workspace_id: str,
        kql: str,
        timespan: Timespan = timedelta(days=1),
        *,
        server_timeout: int | None = None,
        progress: Callable[[QueryProgress], None] | None = None,
    ) -> QueryResult:
        """Run `kql`; a trailing `render` is kept aside for the console; bad KQL raises OpsError with position.

        `progress`, when given, hears about the query about every half second while it runs and as
        its rows arrive.
        """
        if not kql.strip():
            raise OpsError(ErrorKind.BAD_REQUEST, "The query is empty.")
        query, render, render_options = split_render(kql)
        await self.context.connected()
        started = time.perf_counter()
        from azure.core.exceptions import HttpResponseError, IncompleteReadError, ServiceResponseError

        from console.services.la_arrow import AnswerDecodeError, AnswerDecoder

        def report(phase: str, decoder: AnswerDecoder | None = None) -> None:
            if progress is not None:
                received, rows = (decoder.received, decoder.rows) if decoder is not None else (0, 0)
                progress(QueryProgress(phase, time.perf_counter() - started, received, rows))

        response: Any = None
        attempts = max(1, self.context.settings.retry_total + 1)
        try:
            for attempt in range(1, attempts + 1):
                response = await self._send_query(workspace_id, query, timespan, server_timeout, report)
                decoder = AnswerDecoder()
                report("receiving", decoder)
                try:
                    async for piece in response.iter_bytes():
                        decoder.append(piece)
                        if decoder.pending:
                            # Decoding a slice is CPU work of a few tens of milliseconds: off the event loop.
                            await asyncio.to_thread(decoder.decode)
                            report("receiving", decoder)
                except (ServiceResponseError, IncompleteReadError):
                    # The body broke off: read again, as the pipeline retries a read that fails.
                    await response.close()
                    if attempt == attempts:
                        raise
                    continue
                break
            answer = await asyncio.to_thread(decoder.finish)
        except AnswerDecodeError as error:
            from azure.core.exceptions import DecodeError

            raise from_azure(DecodeError(message=str(error), response=response), "running the query") from error
        except HttpResponseError as error:
            if error.status_code == 400:
                raise self._query_error(error) from error
            if error.status_code == 504:
                raise _timed_out(error, server_timeout) from error
            raise from_azure(error, "running the query") from error
        except Exception as error:
            raise from_azure(error, "running the query") from error
        finally:
            if response is not None:
                await response.close()
        duration_ms = (time.perf_counter() - started) * 1000
        report("done", decoder)
        partial_error = None
        truncated = False
        if answer.error:  # as the SDK: an answer with a non-empty `error` beside its tables is partial
            partial_error, truncated = _describe_partial(answer.error)
        if answer.table is None:
            import pyarrow as pa

            return QueryResult((), pa.table({}), duration_ms, partial_error, truncated, render)
        table = answer.table
        return QueryResult(
            columns=tuple(Column(n, t) for n, t in zip(table.column_names, answer.types, strict=True)),
            table=table,
            duration_ms=duration_ms,
            partial_error=partial_error,
            truncated=truncated,
            render=render,
            render_options=render_options,
            statistics=dict(answer.statistics),
        )

    async def _send_query(
        self,
        workspace_id: str,
        query: str,
        timespan: Timespan,
        server_timeout: int | None,
        report: Callable[[str], None],
    ) -> Any:
        """POST the query through the LogsQueryClient's own pipeline (credential, retries, logging) and
        return the response with its body still to read; failures raise as the SDK's own call raises them."""
        from urllib.parse import quote

        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceExistsError,
            ResourceNotFoundError,
            ResourceNotModifiedError,
            map_error,
        )
        from azure.core.rest import HttpRequest

        prefer = [f"wait={server_timeout}"] if server_timeout else []
        prefer.append("include-statistics=true")
        payload: dict[str, Any] = {"query": query}
        iso = _iso_timespan(timespan)
        if iso is not None:
            payload["timespan"] = iso
        request = HttpRequest(
            "POST",
            f"/workspaces/{quote(workspace_id, safe='')}/query",
            json=payload,
            headers={"Prefer": ",".join(prefer), "Accept": "application/json"},
        )

        async def tick() -> None:
            while True:
                report("running")
                await asyncio.sleep(0.5)

        ticker = asyncio.create_task(tick())
        try:
            response = await self._logs().send_request(request, stream=True)
        finally:
            ticker.cancel()
        if response.status_code != 200:
            await response.read()
            error_map = {
                401: ClientAuthenticationError,
                404: ResourceNotFoundError,
                409: ResourceExistsError,
                304: ResourceNotModifiedError,
            }
            map_error(status_code=response.status_code, response=response, error_map=error_map)
            raise HttpResponseError(response=response)
        return response

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

    @staticmethod
    def is_workspace_id(wanted: str | None) -> bool:
        """Whether `wanted` is a workspace's customer id (a GUID, any case): queries go to it as it is."""
        return bool(wanted and _GUID.match(wanted.strip()))

    async def find_workspace(
        self, resources: Any, wanted: str | None, *, subscription_ids: Sequence[str] | None = None
    ) -> Workspace:
        """The workspace every area queries: named by customer id, name or resource id (any case); with none
        named, the first one found. Looked up once per name and kept, so Logs and Runbooks agree.

        `subscription_ids` are where to look (default: every subscription the identity sees).
        """
        text = (wanted or "").strip()
        key = text.lower()
        known = self._workspaces.get(key)
        if known is not None:
            return known
        if self.is_workspace_id(text):
            chosen = Workspace("", text, text, "", "")
        else:
            if subscription_ids is None:
                subscription_ids = [s.subscription_id for s in await resources.list_subscriptions()]
            found = await self.list_workspaces(resources, list(subscription_ids))
            if not found:
                raise OpsError(
                    ErrorKind.NOT_FOUND,
                    "No Log Analytics workspace is visible in your subscriptions; set `workspace` in the config file.",
                )
            if not key:
                chosen = found[0]
            else:
                match = [w for w in found if key in {w.name.lower(), w.resource_id.lower(), w.customer_id.lower()}]
                if not match:
                    names = ", ".join(w.name for w in found)
                    sentence = f"No workspace is called {text!r}; visible workspaces: {names}."
                    raise OpsError(ErrorKind.NOT_FOUND, sentence)
                chosen = match[0]
        self._workspaces[key] = chosen
        return chosen

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
