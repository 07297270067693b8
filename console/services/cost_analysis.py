"""What the cost area computes from cost series, with no Azure in it: the models, the trend forecast,
the breach date, the break-down against the previous period and the anomaly rules."""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

FORECAST_API = "forecast API"
TREND = "trend"

SPIKE_FACTOR = 1.5
"""A day is a spike when it costs at least this many times its baseline,"""
SPIKE_MINIMUM = 5.0
"""and at least this much more than it (in the currency), so pennies never spike."""
BASELINE_DAYS = 14
RECENT_DAYS = 45
"""Anomalies are looked for in this many days before today."""
QUIET_DAYS = 3
"""A stopped cost has had no cost for at least this many days; a new cost at least this many days of cost."""
GROWTH_WEEKS = 4
GROWTH_MINIMUM = 0.03
"""Steady growth: no week of the last four cost less than the one before (within `GROWTH_TOLERANCE`), and
the last cost this much more than the first."""
GROWTH_TOLERANCE = 0.01


@dataclass(frozen=True)
class DailyCost:
    """The cost of one day."""

    day: dt.date
    amount: float


@dataclass(frozen=True)
class CostForecast:
    """The forecast cost of each day to come, and whether it came from the forecast API or the trend."""

    days: tuple[DailyCost, ...]
    source: str
    note: str = ""
    """Why the trend stands in, when it does (the forecast API's failure in a sentence)."""

    @property
    def total(self) -> float:
        return round(sum(d.amount for d in self.days), 2)


@dataclass(frozen=True)
class Threshold:
    """A budget notification: a percentage of the amount, of actual or forecast spend."""

    name: str
    percent: float
    kind: str
    """`Actual` or `Forecasted`."""
    operator: str = "GreaterThan"
    enabled: bool = True
    contacts: tuple[str, ...] = ()


@dataclass(frozen=True)
class BudgetStatus:
    """A budget and where its period stands: spend to date, forecast to the period's end, when it breaches."""

    name: str
    scope: str
    amount: float
    currency: str
    time_grain: str
    period_start: dt.date
    period_end: dt.date
    spent: float
    forecast: float
    forecast_source: str
    breach_date: dt.date | None
    thresholds: tuple[Threshold, ...]
    daily: tuple[DailyCost, ...] = ()
    """Actual cost of each day of the period so far."""
    forecast_days: tuple[DailyCost, ...] = ()
    etag: str | None = None

    @property
    def percent_used(self) -> float:
        return round(100 * self.spent / self.amount, 1) if self.amount else 0.0

    @property
    def forecast_percent(self) -> float:
        return round(100 * self.forecast / self.amount, 1) if self.amount else 0.0

    @property
    def breaches(self) -> bool:
        """Whether the forecast crosses the amount before the period ends."""
        return self.forecast > self.amount

    @property
    def crossed(self) -> tuple[str, ...]:
        """The enabled thresholds already crossed (actual spend) or forecast to be (forecast spend)."""
        found = []
        for threshold in self.thresholds:
            value = self.percent_used if threshold.kind.lower() == "actual" else self.forecast_percent
            over = (
                value >= threshold.percent
                if threshold.operator == "GreaterThanOrEqualTo"
                else value > threshold.percent
            )
            if threshold.operator == "EqualTo":
                over = value == threshold.percent
            if threshold.enabled and over:
                found.append(f"{threshold.kind} {threshold.percent:g}%")
        return tuple(found)


def worst_first(budgets: Iterable[BudgetStatus]) -> list[BudgetStatus]:
    """Budgets sorted so the worst comes first: breaching soonest, then highest forecast share."""
    far = dt.date.max
    return sorted(budgets, key=lambda b: (not b.breaches, b.breach_date or far, -b.forecast_percent, b.name))


def trend_forecast(history: Sequence[DailyCost], days: Iterable[dt.date], today: dt.date) -> CostForecast:
    """A forecast from the trend: a least-squares line through the last 28 days, never below zero."""
    recent = [d for d in history if today - dt.timedelta(days=28) < d.day <= today]
    if len(recent) < 2:
        level = recent[0].amount if recent else 0.0
        return CostForecast(tuple(DailyCost(day, round(level, 2)) for day in days if day > today), TREND)
    xs = [float((d.day - today).days) for d in recent]
    ys = [d.amount for d in recent]
    slope, intercept = statistics.linear_regression(xs, ys)
    found = tuple(
        DailyCost(day, round(max(intercept + slope * (day - today).days, 0.0), 2)) for day in days if day > today
    )
    return CostForecast(found, TREND)


def breach_date(amount: float, actual: Sequence[DailyCost], ahead: Sequence[DailyCost]) -> dt.date | None:
    """The first day on which the accumulated cost (actual, then forecast) is above `amount`."""
    total = 0.0
    for entry in sorted([*actual, *ahead], key=lambda d: d.day):
        total += entry.amount
        if total > amount + 1e-9:
            return entry.day
    return None


def accumulated(days: Sequence[DailyCost], start: float = 0.0) -> list[DailyCost]:
    """The running total of `days`, starting at `start`."""
    total, found = start, []
    for entry in sorted(days, key=lambda d: d.day):
        total += entry.amount
        found.append(DailyCost(entry.day, round(total, 2)))
    return found


@dataclass(frozen=True)
class BreakdownRow:
    """One group's cost this period and the one before."""

    key: str
    current: float
    previous: float

    @property
    def change(self) -> float:
        return round(self.current - self.previous, 2)

    @property
    def change_percent(self) -> float | None:
        return round(100 * self.change / self.previous, 1) if self.previous else None


def breakdown(costs: Mapping[tuple[str, dt.date], float], today: dt.date, days: int) -> list[BreakdownRow]:
    """Cost by group over the last `days` days against the `days` before, largest first."""
    current: dict[str, float] = {}
    previous: dict[str, float] = {}
    for (key, day), amount in costs.items():
        age = (today - day).days
        if 0 <= age < days:
            current[key] = current.get(key, 0.0) + amount
        elif days <= age < 2 * days:
            previous[key] = previous.get(key, 0.0) + amount
    keys = set(current) | set(previous)
    rows = [BreakdownRow(key, round(current.get(key, 0.0), 2), round(previous.get(key, 0.0), 2)) for key in keys]
    return sorted(rows, key=lambda r: (-r.current, -r.previous, r.key))


@dataclass(frozen=True)
class Contributor:
    """What one resource's meter added to a day against its baseline."""

    resource_id: str
    meter: str
    baseline: float
    actual: float

    @property
    def change(self) -> float:
        return round(self.actual - self.baseline, 2)

    @property
    def resource_name(self) -> str:
        return self.resource_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Anomaly:
    """Something in the cost that deserves a look, with the rule that flagged it."""

    kind: str
    """`spike`, `new cost`, `stopped cost` or `steady growth`."""
    subject: str
    day: dt.date
    amount: float
    baseline: float
    rule: str
    contributors: tuple[Contributor, ...] = field(default=())

    @property
    def why(self) -> str:
        """The explanation in one line: the largest contributors first."""
        if not self.contributors:
            return self.rule
        parts = [f"{c.resource_name} {c.meter} {c.change:+.2f}" for c in self.contributors[:3]]
        return "; ".join(parts)


MeterSeries = Mapping[tuple[str, str], Mapping[dt.date, float]]
"""Daily cost by (resource id, meter)."""


def _baseline(series: Mapping[dt.date, float], day: dt.date) -> float:
    values = [series.get(day - dt.timedelta(days=back), 0.0) for back in range(1, BASELINE_DAYS + 1)]
    return statistics.median(values)


def _totals(meters: MeterSeries) -> dict[dt.date, float]:
    totals: dict[dt.date, float] = {}
    for series in meters.values():
        for day, amount in series.items():
            totals[day] = totals.get(day, 0.0) + amount
    return totals


def _by_resource(meters: MeterSeries) -> dict[str, dict[dt.date, float]]:
    found: dict[str, dict[dt.date, float]] = {}
    for (resource, _meter), series in meters.items():
        target = found.setdefault(resource, {})
        for day, amount in series.items():
            target[day] = target.get(day, 0.0) + amount
    return found


def explain(meters: MeterSeries, day: dt.date, limit: int = 5) -> tuple[Contributor, ...]:
    """Why `day` moved: each resource meter's cost that day against its baseline, largest increase first."""
    found = [
        Contributor(resource, meter, round(_baseline(series, day), 2), round(series.get(day, 0.0), 2))
        for (resource, meter), series in meters.items()
    ]
    rising = [c for c in found if c.change > 0]
    return tuple(sorted(rising, key=lambda c: (-c.change, c.resource_id, c.meter))[:limit])


def spikes(meters: MeterSeries, today: dt.date) -> list[Anomaly]:
    """Days in the last month that cost `SPIKE_FACTOR` times their baseline (the median of the 14 days
    before), explained by resource and meter."""
    totals = _totals(meters)
    found = []
    for back in range(RECENT_DAYS):
        day = today - dt.timedelta(days=back)
        baseline = _baseline(totals, day)
        amount = totals.get(day, 0.0)
        if baseline > 0 and amount >= SPIKE_FACTOR * baseline and amount - baseline >= SPIKE_MINIMUM:
            rule = (
                f"{amount:.2f} is {amount / baseline:.1f}x the median of the {BASELINE_DAYS} days before "
                f"({baseline:.2f}); flagged at {SPIKE_FACTOR:g}x and +{SPIKE_MINIMUM:g}"
            )
            found.append(
                Anomaly("spike", "scope total", day, round(amount, 2), round(baseline, 2), rule, explain(meters, day))
            )
    return found


def started_and_stopped(meters: MeterSeries, today: dt.date) -> list[Anomaly]:
    """Resources whose cost began in the last month after two quiet weeks, or ended after two costly ones."""
    found = []
    for resource, series in sorted(_by_resource(meters).items()):
        costly = sorted(day for day, amount in series.items() if amount > 0)
        if not costly:
            continue
        first, last = costly[0], costly[-1]
        name = resource.rstrip("/").rsplit("/", 1)[-1]
        history_start = min(min(s) for s in meters.values() if s)
        if (
            (first - history_start).days >= BASELINE_DAYS
            and (today - first).days < RECENT_DAYS
            and (today - first).days + 1 >= QUIET_DAYS
        ):
            since = [series.get(first + dt.timedelta(days=n), 0.0) for n in range((today - first).days + 1)]
            daily = sum(since) / len(since)
            quiet_before = (first - history_start).days
            rule = f"no cost in the {quiet_before} days before {first.isoformat()}, {daily:.2f} a day since"
            found.append(Anomaly("new cost", name, first, round(daily, 2), 0.0, rule))
        quiet = (today - last).days
        if QUIET_DAYS <= quiet < RECENT_DAYS:
            before = [series.get(last - dt.timedelta(days=back), 0.0) for back in range(BASELINE_DAYS)]
            if sum(1 for amount in before if amount > 0) >= BASELINE_DAYS // 2:
                daily = sum(before) / len(before)
                rule = f"{daily:.2f} a day until {last.isoformat()}, nothing for the {quiet} days since"
                found.append(Anomaly("stopped cost", name, last + dt.timedelta(days=1), 0.0, round(daily, 2), rule))
    return found


def _weeks(series: Mapping[dt.date, float], today: dt.date) -> list[float]:
    """The last `GROWTH_WEEKS` seven-day sums, oldest first, a spike's day counted at its baseline."""
    sums = []
    for week in range(GROWTH_WEEKS - 1, -1, -1):
        total = 0.0
        for n in range(7):
            day = today - dt.timedelta(days=week * 7 + n)
            amount, baseline = series.get(day, 0.0), _baseline(series, day)
            total += baseline if baseline > 0 and amount >= SPIKE_FACTOR * baseline else amount
        sums.append(total)
    return sums


def growth(meters: MeterSeries, today: dt.date) -> list[Anomaly]:
    """Steady growth of the scope total: no week of the last four below the one before (1% tolerance), +3% in all."""
    totals = _totals(meters)
    weeks = _weeks(totals, today)
    if weeks[0] <= 0 or not all(b >= a * (1 - GROWTH_TOLERANCE) for a, b in itertools.pairwise(weeks)):
        return []
    rise = weeks[-1] / weeks[0] - 1
    if rise < GROWTH_MINIMUM:
        return []
    rule = (
        f"none of the last {GROWTH_WEEKS} weeks cost less than the one before "
        f"({', '.join(f'{w:.0f}' for w in weeks)}), +{100 * rise:.1f}% in all"
    )
    return [Anomaly("steady growth", "scope total", today, round(weeks[-1], 2), round(weeks[0], 2), rule)]


def anomalies(meters: MeterSeries, today: dt.date) -> list[Anomaly]:
    """Every rule over the daily cost by resource and meter, newest first."""
    found = [*spikes(meters, today), *started_and_stopped(meters, today), *growth(meters, today)]
    return sorted(found, key=lambda a: (-a.day.toordinal(), a.kind, a.subject))
