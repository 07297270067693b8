"""Log Analytics query API handlers: workspace queries and resource-centric queries.

Only the handlers: authentication, request ids and faults are applied around them by the
server's middleware. Queries run in a worker thread so the event loop never waits on DuckDB.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from . import estate
from .kql_engine import KqlEngine, KqlQueryError, QueryOutcome, QueryTimeoutError

__all__ = ["QueryLimits", "parse_prefer", "parse_timespan", "parse_wait", "setup_logs_routes"]

T = TypeVar("T")

DEFAULT_WAIT_S = 60.0
MAX_WAIT_S = 600.0
ROW_CAP = 500_000
SIZE_CAP_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES = 1024 * 1024
BODY_TIMEOUT_S = 30.0
MAX_BATCH = 10
MAX_QUERIES = 8
MAX_QUERIES_PER_CALLER = 3
MAX_WORKSPACES = 100

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


class _BadRequestError(Exception):
    """A request the API refuses before running any query."""


def _parse_duration(text: str) -> dt.timedelta:
    match = _DURATION.match(text.strip())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise _BadRequestError(f"'{text}' is not an ISO 8601 duration such as PT1H or P7D.")
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    try:
        return dt.timedelta(
            weeks=parts.get("weeks", 0.0),
            days=parts.get("days", 0.0),
            hours=parts.get("hours", 0.0),
            minutes=parts.get("minutes", 0.0),
            seconds=parts.get("seconds", 0.0),
        )
    except OverflowError:
        raise _BadRequestError(f"The duration '{text}' is out of range.") from None


def _parse_instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise _BadRequestError(f"'{text}' is not an ISO 8601 date and time.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_timespan(text: str | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """An ISO 8601 duration (`PT1H`) or interval (`start/end`, `start/duration`, `duration/end`)."""
    if text is None or not str(text).strip():
        return None
    value = str(text).strip()
    try:
        return _interval(value, now)
    except OverflowError:
        raise _BadRequestError(f"The timespan '{value}' is out of range.") from None


def _interval(value: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    if "/" not in value:
        return now - _parse_duration(value), now
    first, _, second = value.partition("/")
    if first.upper().startswith("P"):
        end = _parse_instant(second)
        return end - _parse_duration(first), end
    start = _parse_instant(first)
    if second.upper().startswith("P"):
        return start, start + _parse_duration(second)
    end = _parse_instant(second)
    if end < start:
        raise _BadRequestError(f"The timespan '{value}' ends before it starts.")
    return start, end


def parse_prefer(header: str | None) -> dict[str, str]:
    """`prefer: wait=600, include-render=true` -> {"wait": "600", "include-render": "true"}."""
    preferences: dict[str, str] = {}
    for item in (header or "").split(","):
        name, _, value = item.strip().partition("=")
        if name:
            preferences[name.strip().lower()] = value.strip().strip('"') or "true"
    return preferences


class QueryLimits:
    """Bounds how many queries run at once, overall and per caller, on a pool of its own threads.

    A caller past its share is told to retry (429 with Retry-After) instead of queueing, so a few
    slow queries can never starve everyone else; the thread pool belongs to the server, not to the
    event loop's default executor that seeding and live traffic use.
    """

    def __init__(self, *, per_caller: int = MAX_QUERIES_PER_CALLER, total: int = MAX_QUERIES) -> None:
        self.per_caller = per_caller
        self.total = total
        self._running: dict[str, int] = {}
        self._executor = ThreadPoolExecutor(max_workers=total, thread_name_prefix="la-query")

    def admit(self, caller: str) -> str | None:
        """Take a slot for `caller`, or say why not."""
        if sum(self._running.values()) >= self.total:
            return f"{self.total} queries are already running on this local Log Analytics."
        if self._running.get(caller, 0) >= self.per_caller:
            return f"You already have {self.per_caller} queries running; wait for one to finish."
        self._running[caller] = self._running.get(caller, 0) + 1
        return None

    def release(self, caller: str) -> None:
        left = self._running.get(caller, 0) - 1
        if left > 0:
            self._running[caller] = left
        else:
            self._running.pop(caller, None)

    async def run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


LIMITS_KEY = web.AppKey("query_limits", QueryLimits)


def _error(status: int, code: str, message: str, inner: dict[str, Any] | None = None) -> web.Response:
    status, body = _error_body(status, code, message, inner)
    return web.json_response(body, status=status)


def _error_body(
    status: int, code: str, message: str, inner: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner is not None:
        error["innererror"] = inner
    return status, {"error": error}


def _query_error(error: KqlQueryError) -> tuple[int, dict[str, Any]]:
    if isinstance(error, QueryTimeoutError):
        status, body = _error_body(
            504, "GatewayTimeout", error.message, {"code": "GatewayTimeout", "message": "ADX query timed out"}
        )
        body["error"]["correlationId"] = str(uuid.uuid4())
        return status, body
    if error.status == 400:
        inner: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.line is not None:
            inner["line"] = error.line
        if error.column is not None:
            inner["pos"] = error.column
        return _error_body(400, "BadArgumentError", "The request had some invalid properties", inner)
    return _error_body(error.status, error.code, error.message)


def _seeding_notice(engine: KqlEngine) -> dict[str, Any]:
    percent = int(engine.seed_progress * 100)
    message = f"Telemetry is still being loaded ({percent}% so far); the result may be incomplete."
    return {"code": "DataStillArriving", "message": message}


_PIECE = 1 << 20
"""The size of the pieces a big answer is written in."""


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for start in range(0, len(body), _PIECE):
        yield bytes(view[start : start + _PIECE])


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def response(self) -> web.Response:
        # A big body goes out in pieces: written whole, TLS would encrypt all of it before its first byte left.
        body: bytes | AsyncIterator[bytes] = self.body
        headers = self.headers
        if len(self.body) > _PIECE:
            body, headers = _pieces(self.body), {**headers, "Content-Length": str(len(self.body))}
        return web.Response(status=self.status, body=body, headers=headers, content_type="application/json")

    def as_batch_item(self, request_id: str) -> str:
        return f'{{"id":{json.dumps(request_id)},"status":{self.status},"body":{self.body.decode()}}}'


def _json_answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, json.dumps(body, separators=(",", ":")).encode(), headers or {})


def parse_wait(preferences: dict[str, str]) -> float:
    """The server timeout a `prefer: wait=N` asks for: finite, positive, at most MAX_WAIT_S."""
    text = preferences.get("wait")
    if text is None:
        return DEFAULT_WAIT_S
    try:
        wait = float(text)
    except ValueError:
        raise _BadRequestError("The 'wait' preference must be a number of seconds.") from None
    if not math.isfinite(wait) or wait <= 0:
        raise _BadRequestError("The 'wait' preference must be a positive, finite number of seconds.")
    return min(wait, MAX_WAIT_S)


def setup_logs_routes(app: web.Application, engine: KqlEngine, *, now: Callable[[], dt.datetime]) -> None:
    """Add the Log Analytics query routes (workspace, resource-centric, batch) to `app`."""
    workspace_ids = {estate.WORKSPACE_CUSTOMER_ID.lower()}
    workspace_resource = estate.WORKSPACE_RESOURCE_ID.lower()
    workspace_keys = {
        _workspace_key(name)
        for name in (
            estate.WORKSPACE_CUSTOMER_ID,
            estate.WORKSPACE_NAME,
            estate.WORKSPACE_RESOURCE_ID,
            *(
                f"{subscription}/{estate.WORKSPACE_RESOURCE_GROUP}/{estate.WORKSPACE_NAME}"
                for subscription in (estate.PROD_SUBSCRIPTION, _subscription_name(estate.PROD_SUBSCRIPTION))
            ),
        )
    }
    known_subscriptions = {subscription.subscription_id.lower() for subscription in estate.SUBSCRIPTIONS}
    limits = QueryLimits()
    app[LIMITS_KEY] = limits

    async def stop_limits(_: web.Application) -> None:
        limits.close()

    app.on_cleanup.append(stop_limits)

    def _unknown_workspaces(listed: Any) -> list[str]:
        """The entries of a multi-workspace query's `workspaces` that name no workspace here; each may be
        the workspace id, its name, its qualified name or its ARM resource id."""
        if listed is None:
            return []
        if not isinstance(listed, list) or len(listed) > MAX_WORKSPACES or not all(isinstance(w, str) for w in listed):
            raise _BadRequestError(f"'workspaces' must be a list of at most {MAX_WORKSPACES} workspace identifiers.")
        return [name[:200] for name in listed if _workspace_key(name) not in workspace_keys]

    def scope_of(workspace: str | None, resource_path: str | None) -> str | _Answer | None:
        """None for the workspace itself, a resource id for a resource-centric query, or a 404."""
        if workspace is not None:
            if workspace.lower() not in workspace_ids:
                return _json_answer(
                    *_error_body(404, "WorkspaceNotFoundError", f"The workspace '{workspace}' could not be found.")
                )
            return None
        resource_id = "/" + (resource_path or "").strip("/")
        lowered = resource_id.lower()
        if lowered == workspace_resource:
            return None
        parts = lowered.split("/")
        if len(parts) < 3 or parts[1] != "subscriptions" or parts[2] not in known_subscriptions:
            return _json_answer(
                *_error_body(404, "ResourceNotFoundError", f"The resource '{resource_id}' could not be found.")
            )
        return lowered

    async def answer(caller: str, scope: str | None, body: dict[str, Any], prefer: str | None) -> _Answer:
        try:
            query = body.get("query")
            if not isinstance(query, str) or not query.strip():
                raise _BadRequestError("The request must carry a non-empty 'query'.")
            moment = now()
            timespan = parse_timespan(body.get("timespan"), moment)
            preferences = parse_prefer(prefer)
            wait = parse_wait(preferences)
            unknown = _unknown_workspaces(body.get("workspaces"))
        except _BadRequestError as bad:
            return _json_answer(*_error_body(400, "BadArgumentError", str(bad)))
        if unknown:
            message = f"The workspace '{unknown[0]}' could not be found."
            return _json_answer(*_error_body(404, "WorkspaceNotFoundError", message))
        applied = [f"wait={wait:g}"]
        if "include-render" in preferences:
            applied.append("include-render=true")
        if "include-statistics" in preferences:
            applied.append("include-statistics=true")
        applied_header = {"Preference-Applied": ", ".join(applied)}
        refusal = limits.admit(caller)
        if refusal is not None:
            return _json_answer(*_error_body(429, "ThrottledError", refusal), {"Retry-After": "1"})
        seeding = engine.seeding
        started = time.perf_counter()
        try:
            outcome = await limits.run(
                lambda: engine.execute(
                    query,
                    timespan=timespan,
                    now=moment,
                    row_cap=ROW_CAP,
                    size_cap_bytes=SIZE_CAP_BYTES,
                    timeout_s=wait,
                    resource_scope=scope,
                )
            )
        except KqlQueryError as error:
            return _json_answer(*_query_error(error), applied_header)
        finally:
            limits.release(caller)
        extra: dict[str, Any] = {}
        partial = outcome.error
        if (seeding or engine.seeding) and outcome.sources and not _complete_for(engine, timespan):
            partial = partial or {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [],
            }
            partial["details"] = [*partial.get("details", []), _seeding_notice(engine)]
        if partial is not None:
            extra["error"] = partial
        if _is_true(preferences.get("include-render")) and outcome.render is not None:
            extra["render"] = outcome.render.as_la()
        if _is_true(preferences.get("include-statistics")):
            extra["statistics"] = _statistics(time.perf_counter() - started, outcome)
        return _Answer(200, outcome.as_la_bytes(extra), applied_header)

    async def single(request: web.Request, workspace: str | None, resource_path: str | None) -> web.Response:
        scope = scope_of(workspace, resource_path)
        if isinstance(scope, _Answer):
            return scope.response()
        try:
            body = await _request_body(request)
        except _BadRequestError as bad:
            return _error(400, "BadArgumentError", str(bad))
        result = await answer(_caller(request), scope, body, request.headers.get("Prefer"))
        return result.response()

    async def workspace_query(request: web.Request) -> web.Response:
        return await single(request, request.match_info["workspace_id"], None)

    async def resource_query(request: web.Request) -> web.Response:
        return await single(request, None, request.match_info["resource_id"])

    async def batch(request: web.Request) -> web.Response:
        """`POST /v1/$batch`: up to MAX_BATCH queries, answered in one body, each with its own status."""
        try:
            body = await _request_body(request)
            items = body.get("requests")
            if not isinstance(items, list) or not items:
                raise _BadRequestError("A batch must carry a non-empty 'requests' list.")
            if len(items) > MAX_BATCH:
                raise _BadRequestError(f"A batch takes at most {MAX_BATCH} requests, not {len(items)}.")
            if not all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in items):
                raise _BadRequestError("Each batch request must be an object with a string 'id'.")
        except _BadRequestError as bad:
            return _error(400, "BadArgumentError", str(bad))
        caller = _caller(request)
        answers: list[str] = []
        for item in items:
            headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
            prefer = next((str(v) for k, v in headers.items() if str(k).lower() == "prefer"), None)
            inner = item.get("body")
            workspace = item.get("workspace")
            if not isinstance(inner, dict) or not isinstance(workspace, str):
                result = _json_answer(
                    *_error_body(400, "BadArgumentError", "Each batch request needs a 'workspace' and a 'body'.")
                )
            elif str(item.get("path", "/query")).lower() != "/query":
                result = _json_answer(*_error_body(400, "BadArgumentError", "Batch requests may only be '/query'."))
            else:
                scope = scope_of(workspace, None)
                result = scope if isinstance(scope, _Answer) else await answer(caller, scope, inner, prefer)
            answers.append(result.as_batch_item(str(item["id"])))
        text = '{"responses":[' + ",".join(answers) + "]}"
        return web.Response(body=text.encode(), content_type="application/json")

    for path, handler in (
        ("/v1/workspaces/{workspace_id}/query", workspace_query),
        ("/v1/{resource_id:.*}/query", resource_query),
    ):
        app.router.add_route("POST", path, handler)
        app.router.add_route("GET", path, handler)
    app.router.add_route("POST", "/v1/$batch", batch)

    async def elsewhere(request: web.Request) -> web.Response:
        """Anything else under /v1: a known route with the wrong method, or no route at all."""
        if request.path.lower().rstrip("/").endswith(("/query", "/$batch", "/metadata")):
            return _error(405, "MethodNotAllowed", f"{request.method} is not supported on {request.path[:200]}.")
        return _error(404, "PathNotFoundError", f"No Log Analytics route for {request.path[:200]}.")

    app.router.add_route("*", "/v1/{tail:.*}", elsewhere)


def _subscription_name(subscription_id: str) -> str:
    return next(s.display_name for s in estate.SUBSCRIPTIONS if s.subscription_id == subscription_id)


def _workspace_key(identifier: str) -> str:
    return identifier.strip().strip("/").lower()


def _statistics(seconds: float, outcome: QueryOutcome) -> dict[str, Any]:
    """`prefer: include-statistics=true`: what Log Analytics reports that this engine can measure
    (the wall time, and the result table's rows and bytes)."""
    size = len(outcome.rows_json)
    return {
        "query": {
            "executionTime": round(seconds, 7),
            "datasetStatistics": [{"tableRowCount": outcome.row_count, "tableSize": size}],
        }
    }


def _caller(request: web.Request) -> str:
    """Who is asking: the bearer token (already checked by the server), as a digest."""
    token = request.headers.get("Authorization", "")
    return hashlib.sha256(token.encode()).hexdigest()


async def _request_body(request: web.Request) -> dict[str, Any]:
    if request.method == "GET":
        asked: dict[str, Any] = {"query": request.query.get("query"), "timespan": request.query.get("timespan")}
        listed = request.query.get("workspaces")
        if listed is not None:  # `workspaces=a,b`: the GET form of a multi-workspace query
            asked["workspaces"] = [name for name in listed.split(",") if name.strip()]
        return asked
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise _BadRequestError(f"The request body must be UTF-8 JSON, not {charset!r}.")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _BadRequestError(f"The request body is larger than {MAX_BODY_BYTES:,} bytes.")
    try:
        raw = await asyncio.wait_for(request.content.read(MAX_BODY_BYTES + 1), BODY_TIMEOUT_S)
    except TimeoutError:
        raise _BadRequestError("The request body did not arrive in time.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise _BadRequestError(f"The request body is larger than {MAX_BODY_BYTES:,} bytes.")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _BadRequestError("The request body is not valid JSON.") from None
    except RecursionError:
        raise _BadRequestError("The request body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise _BadRequestError("The request body must be a JSON object with 'query' and 'timespan'.")
    return body


def _complete_for(engine: KqlEngine, timespan: tuple[dt.datetime, dt.datetime] | None) -> bool:
    """Whether seeding has already written everything a query over `timespan` can see."""
    complete_from = engine.complete_from
    if timespan is None or complete_from is None:
        return False
    return timespan[0].astimezone(dt.UTC).replace(tzinfo=None) >= complete_from


def _is_true(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "")
