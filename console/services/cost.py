"""Cost budgets through azure-mgmt-costmanagement: daily cost, break-downs, forecasts, anomalies and budgets.

Every cost call goes through one request budget: calls run one at a time, a 429's `Retry-After` (or the
`x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after` header) is waited out before the next request,
and answers are kept in a cache keyed by scope, timeframe and grouping, so a screen that refreshes never
hammers the API and can say how old its data is. Budget changes go through the mutation path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from console.errors import ErrorKind, OpsError
from console.services.base import Service, ServiceContext
from console.services.cost_analysis import (
    FORECAST_API,
    Anomaly,
    BreakdownRow,
    BudgetStatus,
    CostForecast,
    DailyCost,
    Threshold,
    anomalies,
    breach_date,
    breakdown,
    trend_forecast,
    worst_first,
)
from console.services.operations import ProgressCallback

CACHE_SECONDS = 300.0
"""Cost data changes a few times a day: an answer is reused for five minutes."""
MAX_WAIT_SECONDS = 60.0
"""The longest a call waits for the rate limit before it gives up (or answers from the cache)."""
THROTTLE_RETRIES = 3
HISTORY_DAYS = 90
RATE_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu"
_GROUPINGS = {
    "service": ("Dimension", "ServiceName"),
    "group": ("Dimension", "ResourceGroupName"),
    "resource": ("Dimension", "ResourceId"),
    "meter": ("Dimension", "MeterCategory"),
    "meter-name": ("Dimension", "Meter"),
}
_SCOPE = re.compile(r"/subscriptions/([^/]+)(?:/resourcegroups/([^/]+))?/?", re.IGNORECASE)


@dataclass(frozen=True)
class CostScope:
    """Where cost is read: a subscription, or a resource group in one."""

    subscription_id: str
    resource_group: str | None = None

    @property
    def path(self) -> str:
        path = f"/subscriptions/{self.subscription_id}"
        return path + (f"/resourceGroups/{self.resource_group}" if self.resource_group else "")

    @classmethod
    def parse(cls, text: str) -> CostScope:
        """`/subscriptions/<id>[/resourceGroups/<name>]`, or a bare subscription id."""
        match = _SCOPE.fullmatch(text.strip())
        if match:
            return cls(match.group(1), match.group(2))
        if re.fullmatch(r"[0-9a-fA-F-]{36}", text.strip()):
            return cls(text.strip())
        raise OpsError(
            ErrorKind.NOT_FOUND, f"{text!r} is not a cost scope: give /subscriptions/<id>[/resourceGroups/<name>]."
        )


def grouping_of(by: str) -> dict[str, str]:
    """`service`, `group`, `resource`, `meter` or `tag:NAME` as a Cost Management grouping."""
    if by.startswith("tag:") and len(by) > 4:
        return {"type": "TagKey", "name": by[4:]}
    found = _GROUPINGS.get(by)
    if found is None:
        raise OpsError(
            ErrorKind.BAD_REQUEST, f"Cannot break cost down by {by!r}: use service, group, resource, meter or tag:NAME."
        )
    return {"type": found[0], "name": found[1]}


@dataclass(frozen=True)
class Answer:
    """A cost table as Azure answered it, and when."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    fetched_at: float
    """`time.time()` of the answer."""

    def column(self, name: str) -> int:
        return self.columns.index(name)


def _day(value: Any) -> dt.date:
    number = int(value)
    return dt.date(number // 10000, number // 100 % 100, number % 100)


def _date_text(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00+00:00"


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from the cost API's own header or `Retry-After`."""
    for name in (f"{RATE_HEADER}-retry-after", "Retry-After"):
        value = headers.get(name)
        if value:
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return None


_WINDOW = re.compile(r"([0-9]+)(s|sec|m|min|h|hr|hour)$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "hour": 3600}


def spent_window(remaining: str) -> float | None:
    """The longest window (in seconds) a `qpu-remaining` header says is used up, e.g. 10 for
    `QueryResource:10s:0,QueryResource:1min:48`; None when every window has room (or it cannot be read)."""
    longest = None
    for part in remaining.split(","):
        pieces = part.strip().rsplit(":", 2)
        if len(pieces) != 3 or not pieces[2].strip().isdigit() or int(pieces[2]) > 0:
            continue
        window = _WINDOW.match(pieces[1].strip())
        if window is not None:
            seconds = float(int(window.group(1)) * _UNIT_SECONDS[window.group(2).lower()])
            longest = seconds if longest is None else max(longest, seconds)
    return longest


class CostService(Service):
    """Cost against budgets for a subscription or resource group, read through one request budget."""

    area = "cost"

    def __init__(self, context: ServiceContext, *, clock: Callable[[], dt.date] | None = None) -> None:
        super().__init__(context)
        self._client: Any = None
        self._gate = asyncio.Lock()
        self._not_before = 0.0
        self._cache: dict[tuple[Any, ...], Answer] = {}
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC).date())
        """What today is (the day cost ends on); tests pin it."""
        self.requests_sent = 0
        """How many requests this service sent to the cost API (throttled ones included)."""
        self.throttled_answers = 0
        """How many of those Azure answered with a 429."""
        self.waited_seconds = 0.0
        """How long it waited for the rate limit in all."""
        self.remaining: str | None = None
        """The last `qpu-remaining` header seen."""

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _cost_client(self) -> Any:
        if self._client is None:
            from azure.mgmt.costmanagement.aio import CostManagementClient

            # Status retries are this service's own (it honours Retry-After and keeps the cache warm).
            self._client = CostManagementClient(
                self.context.credential, **{**self.context.arm_options(), "retry_status": 0}
            )
        return self._client

    def today(self) -> dt.date:
        return self.clock()

    @property
    def last_fetched(self) -> float | None:
        """When the newest answer in the cache arrived (`time.time()`), for "data is N s old"."""
        return max((a.fetched_at for a in self._cache.values()), default=None)

    # the request budget ------------------------------------------------------------------------------

    async def _wait_turn(self) -> None:
        wait = self._not_before - time.monotonic()
        if wait > MAX_WAIT_SECONDS:
            raise OpsError(
                ErrorKind.THROTTLED, f"Cost Management asks to wait {wait:.0f} s before the next query; try again then."
            )
        if wait > 0:
            self.waited_seconds += wait
            await asyncio.sleep(wait)

    def _learn(self, headers: Mapping[str, str]) -> float | None:
        remaining = headers.get(f"{RATE_HEADER}-remaining")
        if remaining:
            self.remaining = remaining
            spent = spent_window(remaining)
            if spent is not None:  # a window is used up: the next request waits it out instead of drawing a 429
                self._not_before = max(self._not_before, time.monotonic() + spent)
        after = retry_after_of(headers)
        if after is not None:
            self._not_before = max(self._not_before, time.monotonic() + after)
        return after

    async def _post(self, operation: str, scope: str, body: dict[str, Any]) -> Answer:
        """POST a query or forecast through the budget, following every nextLink; one Answer of all rows."""
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        await self.context.connected()
        client = self._cost_client()
        columns: tuple[str, ...] = ()
        rows: list[tuple[Any, ...]] = []
        url: str | None = None
        while True:
            for attempt in range(THROTTLE_RETRIES + 1):
                await self._wait_turn()
                self.requests_sent += 1
                try:
                    if url is None:
                        method = client.query.usage if operation == "query" else client.forecast.usage
                        result, headers = await method(
                            scope, body, cls=lambda response, found, _h: (found, response.http_response.headers)
                        )
                        page = dict(result or {}).get("properties") or {}
                    else:
                        response = await client.send_request(HttpRequest("POST", url, json=body))
                        headers = response.headers
                        response.raise_for_status()
                        page = (response.json() or {}).get("properties") or {}
                    self._learn(headers)
                    break
                except HttpResponseError as error:
                    headers = getattr(error.response, "headers", None) or {}
                    after = self._learn(headers)
                    if error.status_code == 429:
                        self.throttled_answers += 1
                    if error.status_code != 429 or attempt == THROTTLE_RETRIES:
                        raise self._mapped(error, operation) from error
                    if after is None:
                        self._not_before = time.monotonic() + 2.0**attempt
                except OpsError:
                    raise
                except Exception as error:  # a dropped connection, a body that is not the answer
                    raise self._mapped(error, operation) from error
            columns = tuple(str(dict(c).get("name")) for c in page.get("columns") or [])
            rows += [tuple(row) for row in page.get("rows") or []]
            url = page.get("nextLink")
            if not url:
                return Answer(columns, tuple(rows), time.time())

    def _mapped(self, error: Exception, operation: str) -> OpsError:
        from console.errors import from_azure

        return from_azure(error, f"reading cost ({operation})")

    async def _cached(
        self, key: tuple[Any, ...], operation: str, scope: str, body: dict[str, Any], fresh: bool
    ) -> Answer:
        """The answer for `key`: from the cache while young (or when Azure throttles), else asked for."""
        async with self._gate:
            known = self._cache.get(key)
            if known is not None and not fresh and time.time() - known.fetched_at < CACHE_SECONDS:
                return known
            try:
                answer = await self._post(operation, scope, body)
            except OpsError as error:
                if error.kind is ErrorKind.THROTTLED and known is not None:
                    return known  # older data beats none; its age is shown
                raise
            self._cache[key] = answer
            return answer

    # reading cost --------------------------------------------------------------------------------------

    async def daily_by(
        self,
        scope: CostScope,
        by: Sequence[str] = (),
        *,
        days: int = HISTORY_DAYS,
        kind: str = "ActualCost",
        fresh: bool = False,
    ) -> tuple[dict[tuple[tuple[str, ...], dt.date], float], Answer]:
        """Daily cost over the last `days` days (today included), keyed by the grouping's values and the day."""
        today = self.today()
        start = today - dt.timedelta(days=days - 1)
        groupings = [grouping_of(b) for b in by]
        body: dict[str, Any] = {
            "type": kind,
            "timeframe": "Custom",
            "timePeriod": {"from": _date_text(start), "to": _date_text(today)},
            "dataset": {
                "granularity": "Daily",
                "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                "grouping": groupings,
            },
        }
        key = ("query", scope.path.lower(), kind, start, today, "Daily", tuple(by))
        answer = await self._cached(key, "query", scope.path, body, fresh)
        cost, date = answer.column("Cost"), answer.column("UsageDate")
        value_columns = [
            i for i, name in enumerate(answer.columns) if name not in {"Cost", "UsageDate", "Currency", "TagKey"}
        ]
        found: dict[tuple[tuple[str, ...], dt.date], float] = {}
        for row in answer.rows:
            group = tuple(str(row[i]) for i in value_columns)
            slot = (group, _day(row[date]))
            found[slot] = found.get(slot, 0.0) + float(row[cost])
        return found, answer

    async def daily(self, scope: CostScope, *, days: int = HISTORY_DAYS, fresh: bool = False) -> list[DailyCost]:
        """The scope's cost per day over the last `days` days."""
        found, _ = await self.daily_by(scope, days=days, fresh=fresh)
        return sorted((DailyCost(day, round(amount, 2)) for (_g, day), amount in found.items()), key=lambda d: d.day)

    async def breakdown(self, scope: CostScope, by: str, *, days: int = 30, fresh: bool = False) -> list[BreakdownRow]:
        """Cost by `by` over the last `days` days against the `days` before (one query)."""
        found, _ = await self.daily_by(scope, (by,), days=2 * days, fresh=fresh)
        keyed = {(_label(group, by), day): amount for (group, day), amount in found.items()}
        merged: dict[tuple[str, dt.date], float] = {}
        for slot, amount in keyed.items():
            merged[slot] = merged.get(slot, 0.0) + amount
        return breakdown(merged, self.today(), days)

    async def anomalies(self, scope: CostScope, *, fresh: bool = False) -> list[Anomaly]:
        """Spikes (with why they moved), new and stopped costs, steady growth, over the last 90 days."""
        found, _ = await self.daily_by(scope, ("resource", "meter-name"), fresh=fresh)
        meters: dict[tuple[str, str], dict[dt.date, float]] = {}
        for (group, day), amount in found.items():
            meters.setdefault((group[0], group[1]), {})[day] = amount
        return anomalies(meters, self.today())

    async def forecast(
        self, scope: CostScope, start: dt.date, end: dt.date, history: Sequence[DailyCost]
    ) -> CostForecast:
        """Daily forecast for the days after today up to `end`: the forecast API's, else the trend of `history`."""
        today = self.today()
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        if end <= today:
            return CostForecast((), FORECAST_API)
        body = {
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {"from": _date_text(max(start, today + dt.timedelta(days=1))), "to": _date_text(end)},
            "dataset": {"granularity": "Daily", "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}}},
            "includeActualCost": False,
            "includeFreshPartialCost": False,
        }
        key = ("forecast", scope.path.lower(), start, end, today)
        try:
            answer = await self._cached(key, "forecast", scope.path, body, False)
            cost, date, status = answer.column("Cost"), answer.column("UsageDate"), answer.column("CostStatus")
            ahead = tuple(
                DailyCost(_day(row[date]), float(row[cost]))
                for row in answer.rows
                if str(row[status]).lower() == "forecast" and _day(row[date]) > today
            )
            if ahead:
                return CostForecast(tuple(sorted(ahead, key=lambda d: d.day)), FORECAST_API)
            why = "the forecast API gave no days"
        except (OpsError, ValueError) as error:
            why = str(error)  # no forecast from Azure (refused, throttled, unknown shape): the trend stands in
        return replace(trend_forecast(history, days, today), note=why)

    # budgets ----------------------------------------------------------------------------------------------

    async def budgets(self, scope: CostScope, *, fresh: bool = False) -> list[BudgetStatus]:
        """The scope's budgets, worst first: spend, forecast to the period's end, breach date, thresholds crossed."""
        client = await self._connected_client()
        raw = await self.call("list budgets", _collect(client.budgets.list(scope.path)))
        history = await self.daily(scope, fresh=fresh)
        found = [await self._status(scope, dict(budget), history) for budget in raw]
        return worst_first(found)

    async def budget(self, scope: CostScope, name: str) -> BudgetStatus:
        client = await self._connected_client()
        raw = await self.call(f"read budget {name}", client.budgets.get(scope.path, name))
        return await self._status(scope, dict(raw), await self.daily(scope))

    async def _connected_client(self) -> Any:
        await self.context.connected()
        return self._cost_client()

    async def _status(self, scope: CostScope, raw: dict[str, Any], history: Sequence[DailyCost]) -> BudgetStatus:
        properties = dict(raw.get("properties") or {})
        today = self.today()
        period = dict(properties.get("timePeriod") or {})
        start = _as_date(period.get("startDate")) or today.replace(day=1)
        first, last = _period(start, str(properties.get("timeGrain") or "Monthly"), today)
        amount = float(properties.get("amount") or 0)
        if properties.get("filter"):
            spent = float(dict(properties.get("currentSpend") or {}).get("amount") or 0)
            forecast_total = float(dict(properties.get("forecastSpend") or {}).get("amount") or spent)
            daily: tuple[DailyCost, ...] = ()
            ahead: tuple[DailyCost, ...] = ()
            source = FORECAST_API
            breach = None if forecast_total <= amount else last
        else:
            daily = tuple(d for d in history if first <= d.day <= min(today, last))
            forecast = await self.forecast(scope, first, last, history)
            ahead, source = forecast.days, forecast.source
            spent = round(sum(d.amount for d in daily), 2)
            forecast_total = round(spent + forecast.total, 2)
            breach = breach_date(amount, daily, ahead)
        thresholds = tuple(
            Threshold(
                str(name),
                float(dict(n).get("threshold") or 0),
                str(dict(n).get("thresholdType") or "Actual"),
                str(dict(n).get("operator") or "GreaterThan"),
                bool(dict(n).get("enabled", True)),
                tuple(dict(n).get("contactEmails") or ()),
            )
            for name, n in dict(properties.get("notifications") or {}).items()
        )
        unit = str(dict(properties.get("currentSpend") or {}).get("unit") or "USD")
        return BudgetStatus(
            name=str(raw.get("name")),
            scope=scope.path,
            amount=amount,
            currency=unit,
            time_grain=str(properties.get("timeGrain") or "Monthly"),
            period_start=first,
            period_end=last,
            spent=spent,
            forecast=forecast_total,
            forecast_source=source,
            breach_date=breach,
            thresholds=thresholds,
            daily=daily,
            forecast_days=ahead,
            etag=raw.get("eTag"),
        )

    async def set_budget(
        self,
        scope: CostScope,
        name: str,
        amount: float,
        thresholds: Sequence[Threshold] | None = None,
        *,
        contact: str | None = None,
        confirmed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> BudgetStatus:
        """Create a monthly budget or change an existing one's amount (and thresholds, when given)."""
        if not amount > 0:
            raise OpsError(ErrorKind.BAD_REQUEST, f"A budget's amount must be above 0, not {amount}.")
        client = await self._connected_client()
        from azure.core.exceptions import ResourceNotFoundError

        try:
            current: dict[str, Any] | None = dict(await client.budgets.get(scope.path, name))
        except ResourceNotFoundError:
            current = None
        except Exception as error:
            raise self._mapped(error, f"budget {name}") from error
        properties = dict((current or {}).get("properties") or {})
        properties.pop("currentSpend", None)
        properties.pop("forecastSpend", None)
        properties["amount"] = amount
        properties.setdefault("category", "Cost")
        properties.setdefault("timeGrain", "Monthly")
        properties.setdefault("timePeriod", {"startDate": _date_text(self.today().replace(day=1))})
        if thresholds is not None:
            emails = [contact] if contact else _contacts(properties) or ["finops@contoso.com"]
            properties["notifications"] = {
                f"{t.kind}_{t.operator}_{t.percent:g}_Percent".replace(".", "_"): {
                    "enabled": t.enabled,
                    "operator": t.operator,
                    "threshold": t.percent,
                    "thresholdType": t.kind,
                    "contactEmails": list(t.contacts) or emails,
                }
                for t in thresholds
            }
        body: dict[str, Any] = {"properties": properties}
        if current is not None and current.get("eTag"):
            body["eTag"] = current["eTag"]
        budget_id = f"{scope.path}/providers/Microsoft.CostManagement/budgets/{name}"
        parameters = {
            "amount": amount,
            "thresholds": [f"{t.kind} {t.percent:g}%" for t in thresholds] if thresholds is not None else "unchanged",
            "previous_amount": (current or {}).get("properties", {}).get("amount") if current else None,
        }
        await self.mutate(
            "set budget" if current else "create budget",
            budget_id,
            lambda: client.budgets.create_or_update(scope.path, name, body),
            subscription_id=scope.subscription_id,
            parameters=parameters,
            confirmed=confirmed,
            progress=progress,
            reread=lambda: self._budget_state(scope, name),
        )
        return await self.budget(scope, name)

    async def _budget_state(self, scope: CostScope, name: str) -> str:
        client = await self._connected_client()
        raw = dict(await self.call(f"read budget {name}", client.budgets.get(scope.path, name)))
        return f"amount {dict(raw.get('properties') or {}).get('amount')}"

    async def state_of(self, target: str) -> str:
        scope_path, _, name = target.partition("/providers/Microsoft.CostManagement/budgets/")
        return await self._budget_state(CostScope.parse(scope_path), name)


def _contacts(properties: Mapping[str, Any]) -> list[str]:
    for notification in dict(properties.get("notifications") or {}).values():
        emails = list(dict(notification).get("contactEmails") or [])
        if emails:
            return emails
    return []


async def _collect(pager: Any) -> list[Any]:
    return [item async for item in pager]


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str) and value:
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            return None
    return None


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _period(start: dt.date, grain: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The budget period holding `today` (months stepped from the budget's start)."""
    months = {"quarterly": 3, "billingquarter": 3, "annually": 12, "billingannual": 12}.get(grain.lower(), 1)
    begin = start.replace(day=1)
    if today >= begin:
        steps = ((today.year - begin.year) * 12 + today.month - begin.month) // months
        begin = _add_months(begin, steps * months)
    return begin, _add_months(begin, months) - dt.timedelta(days=1)


def _label(group: tuple[str, ...], by: str) -> str:
    if by.startswith("tag:"):
        return group[-1] if group and group[-1] else "(untagged)"
    value = group[0] if group else ""
    if by == "resource":
        return value.rstrip("/").rsplit("/", 1)[-1] or "(none)"
    return value or "(none)"
