"""The demo estate's cost: ninety days of daily cost per resource and meter, and what is computed from it.

Every amount is a whole number of cents, so a day's total is exactly the sum of its resources and a
month's exactly the sum of its days, at every grouping. The series has a weekly rhythm (usage meters
cost less at the weekend), slow growth, and the story told in `story.py`: a one-day spike, a stopped
cost, a new cost from the middle of a month. Forecasts are by weekday from the last four weeks,
scaled by the growth seen between the last two fortnights.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from console.emulator import seed, story

HISTORY_DAYS = 90
CURRENCY = "USD"
_WEEKDAY_FACTOR = (1.0, 1.03, 1.04, 1.02, 0.97, 0.74, 0.70)
"""How much a usage meter costs on each weekday (Monday first) against its base."""
_DAILY_GROWTH = 1.005
_NOISE = 0.05


@dataclass(frozen=True)
class Meter:
    """One priced meter of a resource: its service, category, name and base cost per day in cents."""

    service: str
    category: str
    meter: str
    cents_per_day: int
    usage: bool = True
    """A usage meter follows the week and grows; a fixed one costs the same every day."""


@dataclass(frozen=True)
class CostLine:
    """One resource's cost on one meter for one day, in cents."""

    day: dt.date
    subscription_id: str
    resource_group: str
    resource_id: str
    resource_type: str
    location: str
    meter: Meter
    cents: int
    tags: Mapping[str, str]


_BY_TYPE: dict[str, tuple[Meter, ...]] = {
    "microsoft.compute/virtualmachines": (Meter("Virtual Machines", "Virtual Machines", "D4s v5", 460, usage=False),),
    "microsoft.compute/disks": (Meter("Storage", "Storage", "P10 LRS Disk", 65, usage=False),),
    "microsoft.keyvault/vaults": (Meter("Key Vault", "Key Vault", "Operations", 40),),
    "microsoft.storage/storageaccounts": (
        Meter("Storage", "Storage", "Hot LRS Data Stored", 60, usage=False),
        Meter("Storage", "Storage", "Hot LRS Write Operations", 35),
    ),
    "microsoft.servicebus/namespaces": (Meter("Service Bus", "Service Bus", "Standard Messaging Operations", 33),),
    "microsoft.cache/redis": (Meter("Redis Cache", "Redis Cache", "C1 Cache Instance", 240, usage=False),),
    "microsoft.operationalinsights/workspaces": (
        Meter("Log Analytics", "Log Analytics", "Analytics Logs Data Ingestion", 920),
        Meter("Log Analytics", "Log Analytics", "Data Retention", 45, usage=False),
    ),
    "microsoft.insights/components": (Meter("Application Insights", "Application Insights", "Standard Web Test", 40),),
    "microsoft.insights/scheduledqueryrules": (Meter("Azure Monitor", "Azure Monitor", "Alerts Log Monitored", 5),),
    "microsoft.recoveryservices/vaults": (
        Meter("Backup", "Backup", "Azure VM Protected Instances", 90, usage=False),
        Meter("Backup", "Storage", "GRS Data Stored", 70),
    ),
    "microsoft.network/publicipaddresses": (
        Meter("Virtual Network", "Virtual Network", "Standard IPv4 Static Public IP", 12, usage=False),
    ),
    "microsoft.network/privatednszones": (Meter("Azure DNS", "Azure DNS", "Private Zone", 2, usage=False),),
    "microsoft.cdn/profiles": (
        Meter("Azure Front Door Service", "Azure Front Door Service", "Standard Base Fees", 110, usage=False),
        Meter("Azure Front Door Service", "Azure Front Door Service", "Data Transfer Out", 190),
    ),
}
_BY_NAME: dict[str, tuple[Meter, ...]] = {
    "asp-web-prod-weu": (Meter("Azure App Service", "Azure App Service", "P1 v3 App", 1440),),
    "asp-web-stg-weu": (Meter("Azure App Service", "Azure App Service", "P0 v3 App", 240),),
    "psql-orders-prod": (
        Meter("Azure Database for PostgreSQL", "Azure Database for PostgreSQL", "D4ds v5 vCore", 840, usage=False),
        Meter("Azure Database for PostgreSQL", "Azure Database for PostgreSQL", "Storage Data Stored", 50, usage=False),
    ),
    "psql-orders-stg": (
        Meter("Azure Database for PostgreSQL", "Azure Database for PostgreSQL", "B2s vCore", 210, usage=False),
    ),
    "vm-jump-prod-01": (Meter("Virtual Machines", "Virtual Machines", "B2s", 100, usage=False),),
    "vm-sandbox-01": (Meter("Virtual Machines", "Virtual Machines", "B2ms", 200, usage=False),),
}


def _noise(*parts: str) -> float:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return (int.from_bytes(digest[:4], "big") / 0xFFFFFFFF * 2 - 1) * _NOISE


def _cents(resource_id: str, meter: Meter, day: dt.date, today: dt.date) -> int:
    """What `meter` of `resource_id` costs on `day`, with the story applied."""
    name = resource_id.rsplit("/", 1)[-1]
    if name == story.COST_STOPPED_RESOURCE and day > today - dt.timedelta(days=story.COST_STOPPED_DAYS_AGO):
        return 0
    if name == story.COST_NEW_RESOURCE and day < story.cost_new_since(today):
        return 0
    if not meter.usage:
        return meter.cents_per_day
    age = (day - today).days
    value = meter.cents_per_day * _WEEKDAY_FACTOR[day.weekday()] * _DAILY_GROWTH**age
    value *= 1 + _noise(resource_id, meter.meter, day.isoformat())
    if day == today - dt.timedelta(days=story.COST_SPIKE_DAYS_AGO):
        if (name, meter.meter) == (story.COST_SPIKE_RESOURCE, story.COST_SPIKE_METER):
            value *= story.COST_SPIKE_FACTOR
        elif (name, meter.meter) == (story.COST_SPIKE_ECHO_RESOURCE, story.COST_SPIKE_ECHO_METER):
            value *= story.COST_SPIKE_ECHO_FACTOR
    return max(round(value), 0)


def _meters(resource: Mapping[str, Any]) -> tuple[Meter, ...]:
    return _BY_NAME.get(str(resource["name"]), _BY_TYPE.get(str(resource["type"]).lower(), ()))


def cost_lines(today: dt.date) -> list[CostLine]:
    """Every resource's daily cost per meter for the `HISTORY_DAYS` days that end with `today`."""
    moment = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    lines: list[CostLine] = []
    days = [today - dt.timedelta(days=back) for back in range(HISTORY_DAYS - 1, -1, -1)]
    for resource in seed.seed_resources(moment):
        resource_id = str(resource["id"])
        parts = resource_id.split("/")
        tags = {str(k): str(v) for k, v in (resource.get("tags") or {}).items() if not str(k).startswith("hidden-")}
        for meter in _meters(resource):
            for day in days:
                cents = _cents(resource_id, meter, day, today)
                if cents:
                    lines.append(
                        CostLine(
                            day,
                            parts[2],
                            parts[4],
                            resource_id,
                            str(resource["type"]),
                            str(resource.get("location") or ""),
                            meter,
                            cents,
                            tags,
                        )
                    )
    return lines


def daily_totals(lines: Iterable[CostLine]) -> dict[dt.date, int]:
    """Cents per day over `lines`."""
    totals: dict[dt.date, int] = {}
    for line in lines:
        totals[line.day] = totals.get(line.day, 0) + line.cents
    return totals


def _middle(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def forecast(totals: Mapping[dt.date, int], today: dt.date, days: Iterable[dt.date]) -> dict[dt.date, int]:
    """Forecast cents for each of `days` after `today`: the median of the same weekday over the last four weeks,
    grown at the rate seen between the last two fortnights (medians, so one spike moves neither)."""
    recent = [float(totals.get(today - dt.timedelta(days=back), 0)) for back in range(14)]
    before = [float(totals.get(today - dt.timedelta(days=back), 0)) for back in range(14, 28)]
    growth = (_middle(recent) / _middle(before)) ** (1 / 14) if _middle(before) > 0 and _middle(recent) > 0 else 1.0
    found: dict[dt.date, int] = {}
    for day in days:
        if day <= today:
            continue
        same = [
            float(totals.get(candidate, 0))
            for candidate in (today - dt.timedelta(days=back) for back in range(28))
            if candidate.weekday() == day.weekday()
        ]
        # The four samples sit on average 13.5 days before today.
        found[day] = round(_middle(same) * growth ** ((day - today).days + 13.5))
    return found


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months, clamped to the end of the month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


GRAIN_MONTHS = {
    "monthly": 1,
    "billingmonth": 1,
    "quarterly": 3,
    "billingquarter": 3,
    "annually": 12,
    "billingannual": 12,
}


def budget_period(start: dt.date, grain: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The budget period (first and last day) that holds `today`, stepping by the grain from `start`."""
    months = GRAIN_MONTHS.get(grain.lower(), 1)
    begin = start
    if today >= start:
        steps = ((today.year - start.year) * 12 + today.month - start.month) // months
        begin = add_months(start, steps * months)
        if begin > today:
            begin = add_months(start, (steps - 1) * months)
    return begin, add_months(begin, months) - dt.timedelta(days=1)


def subscription_of(resource_id: str) -> str:
    return resource_id.split("/")[2]


def seed_budget_amount(
    lines: list[CostLine], subscription_id: str, group: str | None, today: dt.date, share: float
) -> int:
    """A whole-dollar budget amount: `share` of what the month of `today` is forecast to cost in the scope."""
    scoped = [
        line
        for line in lines
        if line.subscription_id == subscription_id and (group is None or line.resource_group.lower() == group.lower())
    ]
    totals = daily_totals(scoped)
    first = today.replace(day=1)
    last = add_months(first, 1) - dt.timedelta(days=1)
    actual = sum(cents for day, cents in totals.items() if first <= day <= today)
    ahead = forecast(totals, today, (first + dt.timedelta(days=n) for n in range((last - first).days + 1)))
    return max(round((actual + sum(ahead.values())) * share / 100), 1)
