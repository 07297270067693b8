"""Log Analytics query API handlers: workspace queries and resource-centric queries.

Only the handlers: authentication, request ids and faults are applied around them by the
server's middleware. Queries run in a worker thread so the event loop never waits on DuckDB.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import estate
from .kql_engine import KqlEngine, KqlQueryError

__all__ = ["parse_prefer", "parse_timespan", "setup_logs_routes"]

DEFAULT_WAIT_S = 60.0
MAX_WAIT_S = 600.0
ROW_CAP = 500_000
SIZE_CAP_BYTES = 64 * 1024 * 1024

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
    return dt.timedelta(
        weeks=parts.get("weeks", 0.0),
        days=parts.get("days", 0.0),
        hours=parts.get("hours", 0.0),
        minutes=parts.get("minutes", 0.0),
        seconds=parts.get("seconds", 0.0),
    )


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


def _error(status: int, code: str, message: str, inner: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if inner is not None:
        body["innererror"] = inner
    return web.json_response({"error": body}, status=status)


def _query_error(error: KqlQueryError) -> web.Response:
    if error.status == 400:
        inner: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.line is not None:
            inner["line"] = error.line
        if error.column is not None:
            inner["pos"] = error.column
        return _error(400, "BadArgumentError", "The request had some invalid properties", inner)
    return _error(error.status, error.code, error.message)


def _seeding_notice(engine: KqlEngine) -> dict[str, Any]:
    percent = int(engine.seed_progress * 100)
    message = f"Telemetry is still being loaded ({percent}% so far); the result may be incomplete."
    return {"code": "DataStillArriving", "message": message}


def setup_logs_routes(app: web.Application, engine: KqlEngine, *, now: Callable[[], dt.datetime]) -> None:
    """Add the Log Analytics query routes (workspace and resource-centric) to `app`."""
    workspace_ids = {estate.WORKSPACE_CUSTOMER_ID.lower()}
    workspace_resource = estate.WORKSPACE_RESOURCE_ID.lower()
    known_subscriptions = {subscription.subscription_id.lower() for subscription in estate.SUBSCRIPTIONS}

    async def run(request: web.Request, resource_scope: str | None) -> web.Response:
        try:
            body = await _request_body(request)
            query = body.get("query")
            if not isinstance(query, str) or not query.strip():
                raise _BadRequestError("The request must carry a non-empty 'query'.")
            moment = now()
            timespan = parse_timespan(body.get("timespan"), moment)
        except _BadRequestError as bad:
            return _error(400, "BadArgumentError", str(bad))
        preferences = parse_prefer(request.headers.get("Prefer"))
        try:
            wait = min(float(preferences.get("wait", DEFAULT_WAIT_S)), MAX_WAIT_S)
        except ValueError:
            return _error(400, "BadArgumentError", "The 'wait' preference must be a number of seconds.")
        seeding = engine.seeding
        started = time.perf_counter()
        try:
            outcome = await asyncio.to_thread(
                engine.execute,
                query,
                timespan=timespan,
                now=moment,
                row_cap=ROW_CAP,
                size_cap_bytes=SIZE_CAP_BYTES,
                timeout_s=max(wait, 0.1),
                resource_scope=resource_scope,
            )
        except KqlQueryError as error:
            return _query_error(error)
        answer = outcome.as_la(include_render=_is_true(preferences.get("include-render")))
        if seeding or engine.seeding:
            partial = answer.get("error") or {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [],
            }
            partial["details"] = [*partial.get("details", []), _seeding_notice(engine)]
            answer["error"] = partial
        if _is_true(preferences.get("include-statistics")):
            answer["statistics"] = {
                "query": {
                    "executionTime": round(time.perf_counter() - started, 6),
                    "resourceUsage": {"cpuTime": "00:00:00"},
                    "rowCount": outcome.row_count,
                }
            }
        headers = {}
        applied = [f"wait={wait:g}"]
        if "include-render" in preferences:
            applied.append("include-render=true")
        if "include-statistics" in preferences:
            applied.append("include-statistics=true")
        headers["Preference-Applied"] = ", ".join(applied)
        return web.json_response(answer, headers=headers, dumps=_dumps)

    async def workspace_query(request: web.Request) -> web.Response:
        workspace_id = request.match_info["workspace_id"].lower()
        if workspace_id not in workspace_ids:
            return _error(
                404,
                "WorkspaceNotFoundError",
                f"The workspace '{request.match_info['workspace_id']}' could not be found.",
            )
        return await run(request, None)

    async def resource_query(request: web.Request) -> web.Response:
        resource_id = "/" + request.match_info["resource_id"].strip("/")
        lowered = resource_id.lower()
        if lowered == workspace_resource:
            return await run(request, None)
        parts = lowered.split("/")
        if len(parts) < 3 or parts[1] != "subscriptions" or parts[2] not in known_subscriptions:
            return _error(404, "ResourceNotFoundError", f"The resource '{resource_id}' could not be found.")
        return await run(request, lowered)

    app.router.add_route("POST", "/v1/workspaces/{workspace_id}/query", workspace_query)
    app.router.add_route("GET", "/v1/workspaces/{workspace_id}/query", workspace_query)
    app.router.add_route("POST", "/v1/{resource_id:.*}/query", resource_query)
    app.router.add_route("GET", "/v1/{resource_id:.*}/query", resource_query)


async def _request_body(request: web.Request) -> dict[str, Any]:
    if request.method == "GET":
        return {"query": request.query.get("query"), "timespan": request.query.get("timespan")}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _BadRequestError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _BadRequestError("The request body must be a JSON object with 'query' and 'timespan'.")
    return body


def _is_true(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
