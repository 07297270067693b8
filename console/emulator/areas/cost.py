"""The cost area of the local Azure: Cost Management query, forecast and budgets, throttled as in Azure.

`POST {scope}/providers/Microsoft.CostManagement/query` and `/forecast` at subscription and resource group
scope answer over the demo estate's daily cost (`cost_data.py`), in the shape Azure gives:
`{"properties": {"columns", "rows", "nextLink"}}` with the aggregation's column first, `UsageDate`
(yyyymmdd as a number) for a daily query, the grouping columns and `Currency` last; a page holds 1000
rows and the `nextLink` is POSTed again with the same body. Budgets live under
`Microsoft.CostManagement/budgets` (and `Microsoft.Consumption/budgets`, the same budgets), with their
current and forecast spend computed on every read.

Throttling: query and forecast count query processing units (one a request) per subscription over
10 seconds, a minute and an hour (12, 60 and 600 by default, as Azure documents). Past any of them the
answer is a 429 with `Retry-After` and `x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after`;
every answer says what is left in `x-ms-ratelimit-microsoft.costmanagement-qpu-remaining`. The
environment variable `OPSCONSOLE_LOCAL_COST_RATE` sets the limits (`12/10s,60/1m,600/1h`, or `off`), and
`OPSCONSOLE_LOCAL_COST_TODAY` (`YYYY-MM-DD`) pins the day the cost ends on (tests and screenshots use it).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from console.emulator import cost_data, estate, story
from console.emulator.areas.base import Area
from console.emulator.arm import ArmRouter, Route, arm_error, clipped, read_json_object
from console.emulator.cost_data import CostLine
from console.emulator.store import Document

BUDGET = "costBudget"
"""The store's document kind for a budget, keyed by its id (scope + provider path + name)."""
PAGE_ROWS = 1000
RATE_VARIABLE = "OPSCONSOLE_LOCAL_COST_RATE"
TODAY_VARIABLE = "OPSCONSOLE_LOCAL_COST_TODAY"
DEFAULT_RATE = "12/10s,60/1m,600/1h"
HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu"
MAX_BUDGETS_PER_SCOPE = 100
MAX_FILTER_DEPTH = 8
MAX_FILTER_VALUES = 100
MAX_FILTER_BYTES = 16_384
MAX_DAYS = 366

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_BUDGET_NAME = re.compile(r"[A-Za-z0-9_-]{1,63}")
_SKIP = re.compile(r"[0-9]{1,9}")
_COST_COLUMNS = ("Cost", "CostUSD", "PreTaxCost", "PreTaxCostUSD")
_TYPES = ("ActualCost", "AmortizedCost", "Usage")
_TIMEFRAMES = (
    "MonthToDate",
    "BillingMonthToDate",
    "TheLastMonth",
    "TheLastBillingMonth",
    "WeekToDate",
    "TheCurrentMonth",
    "Custom",
)
_OPERATORS = ("EqualTo", "GreaterThan", "GreaterThanOrEqualTo")
_DIMENSIONS: dict[str, tuple[str, Callable[[CostLine], str]]] = {
    "resourcegroup": ("ResourceGroup", lambda line: line.resource_group.lower()),
    "resourcegroupname": ("ResourceGroupName", lambda line: line.resource_group.lower()),
    "resourceid": ("ResourceId", lambda line: line.resource_id.lower()),
    "resourcetype": ("ResourceType", lambda line: line.resource_type.lower()),
    "resourcelocation": ("ResourceLocation", lambda line: line.location.lower()),
    "servicename": ("ServiceName", lambda line: line.meter.service),
    "metercategory": ("MeterCategory", lambda line: line.meter.category),
    "meter": ("Meter", lambda line: line.meter.meter),
    "subscriptionid": ("SubscriptionId", lambda line: line.subscription_id),
    "chargetype": ("ChargeType", lambda line: "Usage"),
    "publishertype": ("PublisherType", lambda line: "Azure"),
}


class QueryError(ValueError):
    """A query, forecast or budget body Azure would refuse; the message is Azure's sentence."""


# throttling ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """At most `limit` query units per `seconds`, named as the remaining header names it."""

    name: str
    seconds: float
    limit: int


def parse_rate(spec: str) -> tuple[Window, ...]:
    """`12/10s,60/1m,600/1h` as windows; `off` (or empty) for none."""
    if spec.strip().lower() in {"", "off", "0"}:
        return ()
    windows = []
    units = {"s": 1, "m": 60, "h": 3600}
    for part in spec.split(","):
        match = re.fullmatch(r"\s*([0-9]{1,6})\s*/\s*([0-9]{0,6})\s*([smh])\s*", part)
        if match is None:
            raise ValueError(f"{RATE_VARIABLE}: {part!r} is not LIMIT/PERIOD such as 12/10s")
        limit, amount, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
        seconds = amount * units[unit]
        name = {1: f"{amount}s", 60: f"{amount}min", 3600: f"{amount}hr"}[units[unit]]
        windows.append(Window(name, seconds, max(limit, 1)))
    return tuple(windows)


@dataclass
class Throttle:
    """Query units spent per subscription, in every window."""

    windows: tuple[Window, ...]
    spent: dict[str, deque[float]] = field(default_factory=dict)

    def take(self, key: str, now: float) -> tuple[float, dict[str, str]]:
        """Spend one unit for `key`: (seconds to wait, 0 when it is spent) and the headers to send."""
        longest = max((w.seconds for w in self.windows), default=0.0)
        times = self.spent.setdefault(key, deque())
        while times and now - times[0] >= longest:
            times.popleft()
        wait = 0.0
        for window in self.windows:
            inside = [t for t in times if now - t < window.seconds]
            if len(inside) >= window.limit:
                wait = max(wait, inside[-window.limit] + window.seconds - now)
        if wait <= 0:
            times.append(now)
        remaining = ",".join(
            f"QueryResource:{w.name}:{max(w.limit - sum(1 for t in times if now - t < w.seconds), 0)}"
            for w in self.windows
        )
        headers = {f"{HEADER}-consumed": "1" if wait <= 0 else "0"}
        if remaining:
            headers[f"{HEADER}-remaining"] = remaining
        if wait > 0:
            seconds = str(max(math.ceil(wait), 1))
            headers.update({"Retry-After": seconds, f"{HEADER}-retry-after": seconds})
        return wait, headers


# time ------------------------------------------------------------------------------------------------


def _parse_day(value: object, what: str) -> dt.date:
    if not isinstance(value, str) or len(value) > 40:
        raise QueryError(f"Invalid query definition: timePeriod.{what} must be a date-time text.")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"Invalid query definition: timePeriod.{what} '{clipped(value, 40)}' is not a date-time."
        ) from None
    return parsed.date()


def period_of(body: dict[str, Any], today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day a query or forecast asks about."""
    timeframe = body.get("timeframe")
    known = {name.lower(): name for name in _TIMEFRAMES}
    if not isinstance(timeframe, str) or timeframe.lower() not in known:
        raise QueryError(f"Invalid query definition: timeframe must be one of {', '.join(_TIMEFRAMES)}.")
    name = known[timeframe.lower()]
    first_of_month = today.replace(day=1)
    if name in {"MonthToDate", "BillingMonthToDate"}:
        return first_of_month, today
    if name == "TheCurrentMonth":
        return first_of_month, cost_data.add_months(first_of_month, 1) - dt.timedelta(days=1)
    if name in {"TheLastMonth", "TheLastBillingMonth"}:
        last = first_of_month - dt.timedelta(days=1)
        return last.replace(day=1), last
    if name == "WeekToDate":
        return today - dt.timedelta(days=today.weekday()), today
    window = body.get("timePeriod")
    if not isinstance(window, dict):
        raise QueryError("Invalid query definition: a Custom timeframe needs timePeriod with from and to.")
    start, end = _parse_day(window.get("from"), "from"), _parse_day(window.get("to"), "to")
    if start > end:
        start, end = end, start  # as Azure does, silently
    if (end - start).days >= MAX_DAYS:
        raise QueryError("Invalid query definition: the time period for pulling the data can't exceed 1 year.")
    return start, end


# filters and grouping ------------------------------------------------------------------------------------------


Predicate = Callable[[CostLine], bool]


def _comparison(raw: object, tags: bool) -> Predicate:
    if not isinstance(raw, dict):
        raise QueryError("Invalid query definition: a dimensions or tags filter must be an object.")
    name, operator, values = raw.get("name"), raw.get("operator", "In"), raw.get("values")
    if not isinstance(name, str) or not name or len(name) > 256:
        raise QueryError("Invalid query definition: a filter needs a name.")
    if not isinstance(operator, str) or operator.lower() not in {"in", "equal", "contains"}:
        raise QueryError(f"Invalid query definition: operator '{clipped(str(operator), 40)}' is not supported.")
    if not isinstance(values, list) or not values or len(values) > MAX_FILTER_VALUES:
        raise QueryError(f"Invalid query definition: a filter needs 1 to {MAX_FILTER_VALUES} values.")
    if not all(isinstance(v, str) and len(v) <= 512 for v in values):
        raise QueryError("Invalid query definition: filter values must be texts.")
    wanted = [v.lower() for v in values]
    contains = operator.lower() == "contains"
    value_of = _tag_value(name.lower()) if tags else _dimension(name)[1]

    def test(line: CostLine) -> bool:
        have = value_of(line).lower()
        return any(w in have for w in wanted) if contains else have in wanted

    return test


def _tag_value(key: str) -> Callable[[CostLine], str]:
    def value_of(line: CostLine) -> str:
        return next((v for k, v in line.tags.items() if k.lower() == key), "\0")

    return value_of


def _all(tests: list[Predicate]) -> Predicate:
    return lambda line: all(test(line) for test in tests)


def _any(tests: list[Predicate]) -> Predicate:
    return lambda line: any(test(line) for test in tests)


def _not(test: Predicate) -> Predicate:
    return lambda line: not test(line)


def _single(value_of: Callable[[CostLine], str]) -> Callable[[CostLine], tuple[str, ...]]:
    return lambda line: (value_of(line),)


def compile_filter(raw: object, depth: int = 0) -> Predicate:
    """A query or budget filter (`and`, `or`, `not`, `dimensions`, `tags`) as a predicate over cost lines."""
    if depth == 0 and len(json.dumps(raw)) > MAX_FILTER_BYTES:
        raise QueryError(f"Invalid query definition: a filter is at most {MAX_FILTER_BYTES} bytes of JSON.")
    if depth > MAX_FILTER_DEPTH:
        raise QueryError(f"Invalid query definition: filters nest at most {MAX_FILTER_DEPTH} deep.")
    if not isinstance(raw, dict) or not raw:
        raise QueryError("Invalid query definition: a filter must be a non-empty object.")
    parts: list[Predicate] = []
    for key, value in raw.items():
        lowered = key.lower()
        if lowered in {"and", "or"}:
            if not isinstance(value, list) or not value or len(value) > MAX_FILTER_VALUES:
                raise QueryError(f"Invalid query definition: '{key}' needs a list of filters.")
            inner = [compile_filter(item, depth + 1) for item in value]
            parts.append(_all(inner) if lowered == "and" else _any(inner))
        elif lowered == "not":
            parts.append(_not(compile_filter(value, depth + 1)))
        elif lowered in {"dimensions", "dimension", "tags", "tag"}:
            parts.append(_comparison(value, tags=lowered.startswith("tag")))
        else:
            raise QueryError(f"Invalid query definition: unknown filter '{clipped(key, 40)}'.")
    return _all(parts)


def _dimension(name: str) -> tuple[str, Callable[[CostLine], str]]:
    found = _DIMENSIONS.get(name.lower())
    if found is None:
        raise QueryError(
            f"Invalid query definition: the dimension '{clipped(name, 60)}' is not valid for this scope; known: "
            + ", ".join(column for column, _ in _DIMENSIONS.values())
            + "."
        )
    return found


@dataclass(frozen=True)
class Dataset:
    """What a query asks for: the cost column names, daily or not, the groupings and the filter."""

    aggregations: tuple[str, ...]
    daily: bool
    columns: tuple[tuple[str, str], ...]
    keys: tuple[Callable[[CostLine], tuple[str, ...]], ...]
    keep: Predicate


def _dataset(raw: object) -> Dataset:
    if not isinstance(raw, dict):
        raise QueryError("Invalid query definition: dataset is required.")
    granularity = raw.get("granularity")
    if granularity is not None and (not isinstance(granularity, str) or granularity.lower() not in {"daily", "none"}):
        raise QueryError("Invalid query definition: granularity must be Daily (or left out for the whole period).")
    daily = isinstance(granularity, str) and granularity.lower() == "daily"
    aggregation = raw.get("aggregation") or {"totalCost": {"name": "Cost", "function": "Sum"}}
    if not isinstance(aggregation, dict) or len(aggregation) > 2:
        raise QueryError("Invalid query definition: aggregation takes at most 2 entries.")
    names: list[str] = []
    for entry in aggregation.values():
        if not isinstance(entry, dict) or str(entry.get("function", "")).lower() != "sum":
            raise QueryError("Invalid query definition: each aggregation needs a name and the function Sum.")
        column = next((c for c in _COST_COLUMNS if c.lower() == str(entry.get("name", "")).lower()), None)
        if column is None:
            raise QueryError(f"Invalid query definition: aggregation names one of {', '.join(_COST_COLUMNS)}.")
        names.append(column)
    grouping = raw.get("grouping") or []
    if not isinstance(grouping, list) or len(grouping) > 2:
        raise QueryError("Invalid query definition: grouping takes at most 2 entries.")
    columns: list[tuple[str, str]] = []
    keys: list[Callable[[CostLine], tuple[str, ...]]] = []
    for group in grouping:
        if not isinstance(group, dict) or not isinstance(group.get("name"), str) or len(group["name"]) > 256:
            raise QueryError("Invalid query definition: each grouping needs a type and a name.")
        kind, name = str(group.get("type", "Dimension")).lower(), group["name"]
        if kind == "dimension":
            column, value_of = _dimension(name)
            columns.append((column, "String"))
            keys.append(_single(value_of))
        elif kind in {"tagkey", "tag"}:
            columns += [("TagKey", "String"), ("TagValue", "String")]
            key = name.lower()

            def tag_pair(line: CostLine, key: str = key, name: str = name) -> tuple[str, str]:
                value = next((v for k, v in line.tags.items() if k.lower() == key), None)
                return (name, value) if value is not None else ("", "")

            keys.append(tag_pair)
        else:
            raise QueryError("Invalid query definition: a grouping's type is Dimension or TagKey.")
    keep = compile_filter(raw["filter"]) if raw.get("filter") is not None else (lambda line: True)
    return Dataset(tuple(names), daily, tuple(columns), tuple(keys), keep)


def _usage_date(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


# the area ------------------------------------------------------------------------------------------------


def routes(router: ArmRouter) -> list[Route]:
    """The routes of the cost area, answered over the router's store."""
    return _Cost(router, parse_rate(os.environ.get(RATE_VARIABLE, DEFAULT_RATE)), pinned_today()).routes()


def pinned_today() -> dt.date | None:
    """The day `OPSCONSOLE_LOCAL_COST_TODAY` pins the cost to, if any."""
    text = os.environ.get(TODAY_VARIABLE, "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{TODAY_VARIABLE}: {text!r} is not a date (YYYY-MM-DD)") from None


def _notification(threshold: int, kind: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "operator": "GreaterThan",
        "threshold": threshold,
        "contactEmails": ["finops@contoso.com"],
        "contactGroups": [],
        "contactRoles": ["Owner"],
        "thresholdType": kind,
        "locale": "en-us",
    }


def documents(now: dt.datetime) -> list[Document]:
    """The seeded budgets: production's monthly budget sits below its forecast (the story), the others do not."""
    today = pinned_today() or now.astimezone(dt.UTC).date()
    lines = cost_data.cost_lines(today)
    first = today.replace(day=1).isoformat() + "T00:00:00Z"
    end = cost_data.add_months(today.replace(day=1), 36).isoformat() + "T00:00:00Z"
    found: list[Document] = []
    specs = (
        (estate.PROD_SUBSCRIPTION, None, story.COST_BREACH_BUDGET, story.COST_BREACH_SHARE, "Monthly"),
        # about three months of cost with room to spare: it holds
        (estate.PROD_SUBSCRIPTION, None, "budget-prod-quarterly", 3.6, "Quarterly"),
        (estate.PROD_SUBSCRIPTION, "rg-prod-data", "budget-prod-data", 1.25, "Monthly"),
        (estate.NONPROD_SUBSCRIPTION, None, "budget-nonprod-monthly", 1.6, "Monthly"),
    )
    for subscription, group, name, share, grain in specs:
        scope = f"/subscriptions/{subscription}" + (f"/resourceGroups/{group}" if group else "")
        amount = cost_data.seed_budget_amount(lines, subscription, group, today, share)
        budget_id = f"{scope}/providers/Microsoft.CostManagement/budgets/{name}"
        body = {
            "id": budget_id,
            "name": name,
            "type": "Microsoft.CostManagement/budgets",
            "eTag": f'"{uuid.uuid5(uuid.NAMESPACE_URL, budget_id).hex[:16]}"',
            "properties": {
                "category": "Cost",
                "amount": amount,
                "timeGrain": grain,
                "timePeriod": {"startDate": first, "endDate": end},
                "notifications": {
                    "Actual_GreaterThan_80_Percent": _notification(80, "Actual"),
                    "Actual_GreaterThan_100_Percent": _notification(100, "Actual"),
                    "Forecasted_GreaterThan_100_Percent": _notification(100, "Forecasted"),
                },
            },
        }
        found.append((BUDGET, budget_id, body))
    return found


AREA = Area("cost", routes, seed=documents)


class _Cost:
    """The handlers; the day's cost lines are built once per calendar day and kept."""

    def __init__(self, router: ArmRouter, windows: tuple[Window, ...], pinned: dt.date | None = None) -> None:
        self.router = router
        self.pinned = pinned
        self.store = router.store
        self.throttle = Throttle(windows)
        self._lines: tuple[dt.date, list[CostLine]] | None = None

    def routes(self) -> list[Route]:
        found: list[Route] = []
        for scope in (_SUB, _RG):
            found += [
                Route("POST", scope + r"/providers/microsoft\.costmanagement/query", self._query),
                Route("POST", scope + r"/providers/microsoft\.costmanagement/forecast", self._forecast),
            ]
            for provider in ("costmanagement", "consumption"):
                budgets = scope + rf"/providers/microsoft\.{provider}/budgets"
                found += [
                    Route("GET", budgets, self._list_budgets),
                    Route("GET", budgets + r"/(?P<name>[^/]+)", self._get_budget),
                    Route("PUT", budgets + r"/(?P<name>[^/]+)", self._put_budget),
                    Route("DELETE", budgets + r"/(?P<name>[^/]+)", self._delete_budget),
                ]
        return found

    # data ---------------------------------------------------------------------------------------------

    def today(self) -> dt.date:
        return self.pinned or dt.datetime.now(dt.UTC).date()

    def lines(self) -> list[CostLine]:
        today = self.today()
        if self._lines is None or self._lines[0] != today:
            self._lines = (today, cost_data.cost_lines(today))
        return self._lines[1]

    def scoped(self, match: dict[str, str]) -> list[CostLine]:
        sub, group = match["sub"].lower(), (match.get("rg") or "").lower()
        return [
            line
            for line in self.lines()
            if line.subscription_id.lower() == sub and (not group or line.resource_group.lower() == group)
        ]

    def _scope_error(self, match: dict[str, str]) -> web.Response | None:
        if match.get("rg"):
            return self.router.require_group(match["sub"], match["rg"])
        return self.router.require_subscription(match["sub"])

    @staticmethod
    def _scope(match: dict[str, str]) -> str:
        scope = f"/subscriptions/{match['sub']}"
        return scope + (f"/resourceGroups/{match['rg']}" if match.get("rg") else "")

    async def _throttled(
        self, request: web.Request, match: dict[str, str]
    ) -> tuple[dict[str, str], web.Response | None]:
        wait, headers = self.throttle.take(match["sub"].lower(), time.monotonic())
        if wait > 0:
            return headers, arm_error(
                429,
                "429",
                f"Too many requests. Please retry after {headers['Retry-After']} seconds.",
                headers=headers,
            )
        return headers, None

    async def _body(
        self, request: web.Request, match: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]] | web.Response:
        """The scope checked, a query unit spent, the body read: or the 4xx (or 429) that stops it."""
        missing = self._scope_error(match)
        if missing is not None:
            return missing
        headers, refused = await self._throttled(request, match)
        if refused is not None:
            return refused
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            body.headers.update(headers)
            return body
        kind = body.get("type")
        if not isinstance(kind, str) or kind.lower() not in {t.lower() for t in _TYPES}:
            return arm_error(
                400, "BadRequest", f"Invalid query definition: type must be one of {', '.join(_TYPES)}.", headers
            )
        return body, headers

    # query --------------------------------------------------------------------------------------------

    async def _query(self, request: web.Request, match: dict[str, str]) -> web.Response:
        read = await self._body(request, match)
        if isinstance(read, web.Response):
            return read
        body, headers = read
        try:
            start, end = period_of(body, self.today())
            dataset = _dataset(body.get("dataset"))
        except QueryError as error:
            return arm_error(400, "BadRequest", str(error), headers)
        sums: dict[tuple[Any, ...], int] = {}
        for line in self.scoped(match):
            if start <= line.day <= end and dataset.keep(line):
                key: tuple[Any, ...] = (_usage_date(line.day),) if dataset.daily else ()
                for key_of in dataset.keys:
                    key += key_of(line)
                sums[key] = sums.get(key, 0) + line.cents
        columns = [{"name": name, "type": "Number"} for name in dataset.aggregations]
        if dataset.daily:
            columns.append({"name": "UsageDate", "type": "Number"})
        columns += [{"name": name, "type": kind} for name, kind in dataset.columns]
        columns.append({"name": "Currency", "type": "String"})
        rows = [
            [*(round(cents / 100, 2) for _ in dataset.aggregations), *key, cost_data.CURRENCY]
            for key, cents in sorted(sums.items(), key=lambda item: tuple(str(part) for part in item[0]))
        ]
        return self._page(request, match, "query", columns, rows, headers)

    def _page(
        self,
        request: web.Request,
        match: dict[str, str],
        kind: str,
        columns: list[dict[str, str]],
        rows: list[list[Any]],
        headers: dict[str, str],
    ) -> web.Response:
        skip = 0
        token = request.query.get("$skiptoken")
        if token is not None:
            decoded = _decode_token(token)
            if decoded is None:
                return arm_error(400, "BadRequest", "The $skiptoken is not valid: use the nextLink as given.", headers)
            skip = decoded
        page = rows[skip : skip + PAGE_ROWS]
        next_link = None
        if skip + PAGE_ROWS < len(rows):
            query = "&".join(f"{k}={v}" for k, v in request.query.items() if k != "$skiptoken")
            next_link = (
                f"{self.router.link_origin(request)}{request.rel_url.raw_path}?{query}"
                f"&$skiptoken={_encode_token(skip + PAGE_ROWS)}"
            )
        scope = self._scope(match)
        answer = {
            "id": f"{scope}/providers/Microsoft.CostManagement/{kind}/{uuid.uuid4()}",
            "name": str(uuid.uuid4()),
            "type": f"Microsoft.CostManagement/{kind}",
            "location": None,
            "sku": None,
            "eTag": None,
            "properties": {"nextLink": next_link, "columns": columns, "rows": page},
        }
        return web.json_response(answer, headers=headers)

    # forecast ------------------------------------------------------------------------------------------

    async def _forecast(self, request: web.Request, match: dict[str, str]) -> web.Response:
        read = await self._body(request, match)
        if isinstance(read, web.Response):
            return read
        body, headers = read
        today = self.today()
        try:
            if str(body.get("timeframe", "")).lower() != "custom":
                raise QueryError("Invalid forecast definition: timeframe must be Custom, with a timePeriod.")
            start, end = period_of(body, today)
            dataset = _dataset(body.get("dataset"))
        except QueryError as error:
            return arm_error(400, "BadRequest", str(error), headers)
        if dataset.keys:
            return arm_error(400, "BadRequest", "Invalid forecast definition: a forecast takes no grouping.", headers)
        totals = cost_data.daily_totals(line for line in self.scoped(match) if dataset.keep(line))
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        ahead = cost_data.forecast(totals, today, days)
        rows: list[list[Any]] = []
        actual = bool(body.get("includeActualCost"))
        name = dataset.aggregations[0]
        for day in days:
            if day <= today and actual and day in totals:
                rows.append([round(totals[day] / 100, 2), _usage_date(day), "Actual", cost_data.CURRENCY])
            elif day in ahead:
                rows.append([round(ahead[day] / 100, 2), _usage_date(day), "Forecast", cost_data.CURRENCY])
        columns = [
            {"name": name, "type": "Number"},
            {"name": "UsageDate", "type": "Number"},
            {"name": "CostStatus", "type": "String"},
            {"name": "Currency", "type": "String"},
        ]
        return self._page(request, match, "forecast", columns, rows, headers)

    # budgets --------------------------------------------------------------------------------------------

    def _budgets_in(self, scope: str) -> list[dict[str, Any]]:
        prefix = scope.lower() + "/providers/microsoft.costmanagement/budgets/"
        found = [body for key, body in self.store.of_kind(BUDGET).items() if key.startswith(prefix)]
        return sorted(found, key=lambda body: str(body["name"]).lower())

    def _key(self, match: dict[str, str], name: str) -> str:
        return f"{self._scope(match)}/providers/Microsoft.CostManagement/budgets/{name}"

    def _shown(self, request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
        """A stored budget as Azure shows it: its spend to date and forecast for the period, in the provider asked."""
        shown = {**body, "properties": dict(body["properties"])}
        if "/microsoft.consumption/" in request.path.lower():
            shown["id"] = str(body["id"]).replace("Microsoft.CostManagement", "Microsoft.Consumption")
            shown["type"] = "Microsoft.Consumption/budgets"
        properties = shown["properties"]
        today = self.today()
        start = _parse_day(properties["timePeriod"]["startDate"], "startDate")
        first, last = cost_data.budget_period(start, str(properties.get("timeGrain", "Monthly")), today)
        parts = str(body["id"]).split("/")
        match = {"sub": parts[2], "rg": parts[4] if parts[3].lower() == "resourcegroups" else ""}
        keep = compile_filter(properties["filter"]) if properties.get("filter") else (lambda line: True)
        totals = cost_data.daily_totals(line for line in self.scoped(match) if keep(line))
        spent = sum(cents for day, cents in totals.items() if first <= day <= min(last, today))
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        ahead = sum(cost_data.forecast(totals, today, days).values())
        properties["currentSpend"] = {"amount": round(spent / 100, 2), "unit": cost_data.CURRENCY}
        properties["forecastSpend"] = {"amount": round((spent + ahead) / 100, 2), "unit": cost_data.CURRENCY}
        return shown

    async def _list_budgets(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self._scope_error(match)
        if missing is not None:
            return missing
        return self.router.page(request, [self._shown(request, body) for body in self._budgets_in(self._scope(match))])

    async def _get_budget(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self._scope_error(match)
        if missing is not None:
            return missing
        body = self.store.get(BUDGET, self._key(match, match["name"]))
        if body is None:
            return arm_error(404, "NotFound", f"The budget '{clipped(match['name'], 63)}' could not be found.")
        return web.json_response(self._shown(request, body))

    async def _delete_budget(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self._scope_error(match)
        if missing is not None:
            return missing
        key = self._key(match, match["name"])
        if self.store.get(BUDGET, key) is None:
            return web.Response(status=204)
        self.store.delete(BUDGET, key)
        return web.Response(status=200)

    async def _put_budget(self, request: web.Request, match: dict[str, str]) -> web.Response:
        missing = self._scope_error(match)
        if missing is not None:
            return missing
        name = match["name"]
        if not _BUDGET_NAME.fullmatch(name):
            return arm_error(
                400, "InvalidBudgetName", "A budget name is 1 to 63 letters, digits, hyphens or underscores."
            )
        body = await read_json_object(request)
        if isinstance(body, web.Response):
            return body
        key = self._key(match, name)
        existing = self.store.get(BUDGET, key)
        if existing is None and len(self._budgets_in(self._scope(match))) >= MAX_BUDGETS_PER_SCOPE:
            return arm_error(400, "BudgetLimitExceeded", f"A scope holds at most {MAX_BUDGETS_PER_SCOPE} budgets.")
        asked_etag = body.get("eTag")
        if existing is not None and asked_etag not in (None, "", "*") and asked_etag != existing.get("eTag"):
            return arm_error(
                412,
                "PreconditionFailed",
                "The budget was changed since it was read (its eTag differs): read it again and retry.",
            )
        try:
            properties = _budget_properties(body.get("properties"))
        except QueryError as error:
            return arm_error(400, "InvalidBudget", str(error))
        stored = {
            "id": key,
            "name": name,
            "type": "Microsoft.CostManagement/budgets",
            "eTag": f'"{uuid.uuid4().hex[:16]}"',
            "properties": properties,
        }
        self.store.put(BUDGET, key, stored)
        return web.json_response(self._shown(request, stored), status=200 if existing else 201)


def _budget_properties(raw: object) -> dict[str, Any]:
    """A budget's properties as stored, checked the way Azure checks them."""
    if not isinstance(raw, dict):
        raise QueryError("The budget needs properties.")
    category = raw.get("category", "Cost")
    if not isinstance(category, str) or category.lower() != "cost":
        raise QueryError("The budget's category must be Cost.")
    amount = raw.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 < amount <= 1e12:
        raise QueryError("The budget's amount must be a number above 0.")
    grain = raw.get("timeGrain")
    grains = {
        g.lower(): g for g in ("Monthly", "Quarterly", "Annually", "BillingMonth", "BillingQuarter", "BillingAnnual")
    }
    if not isinstance(grain, str) or grain.lower() not in grains:
        raise QueryError(f"The budget's timeGrain must be one of {', '.join(grains.values())}.")
    period = raw.get("timePeriod")
    if not isinstance(period, dict):
        raise QueryError("The budget needs a timePeriod with a startDate.")
    start = _parse_day(period.get("startDate"), "startDate")
    if start.day != 1:
        raise QueryError("The budget's start date must be the first day of a month.")
    end_raw = period.get("endDate")
    end = _parse_day(end_raw, "endDate") if end_raw else cost_data.add_months(start, 120)
    if end <= start:
        raise QueryError("The budget's end date must be after its start date.")
    filter_raw = raw.get("filter")
    if filter_raw:
        compile_filter(filter_raw)
    notifications = raw.get("notifications") or {}
    if not isinstance(notifications, dict) or len(notifications) > 5:
        raise QueryError("A budget has at most 5 notifications.")
    checked: dict[str, Any] = {}
    for key, value in notifications.items():
        if not isinstance(value, dict) or len(key) > 128:
            raise QueryError("Each notification is an object under a name of at most 128 characters.")
        operator = next((o for o in _OPERATORS if o.lower() == str(value.get("operator", "")).lower()), None)
        threshold = value.get("threshold")
        if operator is None:
            raise QueryError(f"A notification's operator is one of {', '.join(_OPERATORS)}.")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1000:
            raise QueryError("A notification's threshold is a percentage above 0 and at most 1000.")
        emails = value.get("contactEmails") or []
        groups = value.get("contactGroups") or []
        roles = value.get("contactRoles") or []
        lists = (emails, groups, roles)
        if not all(
            isinstance(each, list) and len(each) <= 50 and all(isinstance(v, str) and len(v) <= 256 for v in each)
            for each in lists
        ):
            raise QueryError("A notification's contacts are lists of at most 50 texts.")
        if not (emails or groups or roles):
            raise QueryError("A notification needs at least one contact email, group or role.")
        kind = str(value.get("thresholdType", "Actual"))
        if kind.lower() not in {"actual", "forecasted"}:
            raise QueryError("A notification's thresholdType is Actual or Forecasted.")
        checked[key] = {
            "enabled": bool(value.get("enabled", True)),
            "operator": operator,
            "threshold": threshold,
            "contactEmails": emails,
            "contactGroups": groups,
            "contactRoles": roles,
            "thresholdType": "Actual" if kind.lower() == "actual" else "Forecasted",
            "locale": str(value.get("locale", "en-us"))[:16],
        }
    stored: dict[str, Any] = {
        "category": "Cost",
        "amount": amount,
        "timeGrain": grains[grain.lower()],
        "timePeriod": {"startDate": f"{start.isoformat()}T00:00:00Z", "endDate": f"{end.isoformat()}T00:00:00Z"},
        "notifications": checked,
    }
    if filter_raw:
        stored["filter"] = filter_raw
    return stored


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"skip:{offset}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> int | None:
    if len(token) > 64:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, _, number = text.partition(":")
    return int(number) if kind == "skip" and _SKIP.fullmatch(number) else None
