"""The cost area's rules on constructed series: trend forecast, breach date, worst-first order, break-down,
and each anomaly rule (spike with its explanation, new cost, stopped cost, steady growth) and its silence."""

from __future__ import annotations

import datetime as dt

from console.services.cost_analysis import (
    TREND,
    BudgetStatus,
    DailyCost,
    Threshold,
    anomalies,
    breach_date,
    breakdown,
    growth,
    spikes,
    started_and_stopped,
    trend_forecast,
    worst_first,
)

TODAY = dt.date(2026, 11, 20)


def day(back: int) -> dt.date:
    return TODAY - dt.timedelta(days=back)


def flat(amount: float, days: int = 90) -> dict[dt.date, float]:
    return {day(back): amount for back in range(days)}


def test_trend_forecast_follows_a_straight_line() -> None:
    history = [DailyCost(day(back), 100.0 - 2 * back) for back in range(28)]  # +2 a day, 100 today
    ahead = trend_forecast(history, [TODAY + dt.timedelta(days=n) for n in range(1, 4)], TODAY)
    assert ahead.source == TREND
    assert [d.amount for d in ahead.days] == [102.0, 104.0, 106.0]


def test_trend_forecast_never_goes_below_zero() -> None:
    history = [DailyCost(day(back), float(back)) for back in range(28)]  # falling to 0 today
    ahead = trend_forecast(history, [TODAY + dt.timedelta(days=5)], TODAY)
    assert ahead.days[0].amount == 0.0


def test_breach_date_is_the_first_day_the_running_total_passes_the_amount() -> None:
    actual = [DailyCost(dt.date(2026, 11, d), 10.0) for d in range(1, 21)]  # 200 by the 20th
    ahead = [DailyCost(dt.date(2026, 11, d), 10.0) for d in range(21, 31)]  # 300 by the 30th
    assert breach_date(250.0, actual, ahead) == dt.date(2026, 11, 26)
    assert breach_date(150.0, actual, ahead) == dt.date(2026, 11, 16)
    assert breach_date(300.0, actual, ahead) is None  # reaching the amount is not crossing it


def _budget(name: str, amount: float, forecast: float, breach: dt.date | None) -> BudgetStatus:
    return BudgetStatus(
        name,
        "/subscriptions/x",
        amount,
        "USD",
        "Monthly",
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 30),
        amount / 2,
        forecast,
        TREND,
        breach,
        (Threshold("a", 80, "Actual"), Threshold("f", 100, "Forecasted")),
    )


def test_worst_first_puts_the_soonest_breach_first_then_the_fullest() -> None:
    ordered = worst_first(
        [
            _budget("fine", 100, 50, None),
            _budget("late", 100, 120, dt.date(2026, 11, 28)),
            _budget("soon", 100, 150, dt.date(2026, 11, 22)),
            _budget("close", 100, 95, None),
        ]
    )
    assert [b.name for b in ordered] == ["soon", "late", "close", "fine"]
    assert ordered[0].crossed == ("Forecasted 100%",) and ordered[3].crossed == ()


def test_breakdown_compares_with_the_period_before() -> None:
    costs = {("a", day(0)): 10.0, ("a", day(3)): 5.0, ("a", day(4)): 7.0, ("b", day(5)): 1.0}
    rows = breakdown(costs, TODAY, 4)
    assert [(r.key, r.current, r.previous, r.change) for r in rows] == [("a", 15.0, 7.0, 8.0), ("b", 0.0, 1.0, -1.0)]
    assert rows[0].change_percent == 114.3 and breakdown({("c", day(0)): 1.0}, TODAY, 4)[0].change_percent is None


def test_a_spike_is_flagged_and_explained_largest_first() -> None:
    web = flat(50.0)
    logs = flat(10.0)
    disk = flat(5.0)
    logs[day(9)] = 90.0
    disk[day(9)] = 12.0
    meters = {("/r/app", "compute"): web, ("/r/law", "ingestion"): logs, ("/r/disk", "ops"): disk}
    found = spikes(meters, TODAY)
    assert [a.day for a in found] == [day(9)]
    assert [(c.resource_name, c.change) for c in found[0].contributors] == [("law", 80.0), ("disk", 7.0)]
    assert "1.5x" in found[0].rule and found[0].why.startswith("law ingestion +80.00")


def test_no_spike_for_a_weekly_rhythm_or_pennies() -> None:
    rhythm = {d: (70.0 if d.weekday() >= 5 else 100.0) for d in flat(0.0)}
    assert spikes({("/r/a", "m"): rhythm}, TODAY) == []
    pennies = flat(0.5)
    pennies[day(2)] = 2.0  # four times the baseline, but only 1.50 more
    assert spikes({("/r/a", "m"): pennies}, TODAY) == []


def test_new_and_stopped_costs() -> None:
    new = {d: (3.0 if d >= day(10) else 0.0) for d in flat(0.0)}
    stopped = {d: (2.0 if d <= day(20) else 0.0) for d in flat(0.0)}
    always = flat(4.0)
    found = started_and_stopped({("/r/new", "m"): new, ("/r/old", "m"): stopped, ("/r/on", "m"): always}, TODAY)
    assert [(a.kind, a.subject, a.day) for a in found] == [
        ("new cost", "new", day(10)),
        ("stopped cost", "old", day(19)),
    ]


def test_steady_growth_and_its_silence() -> None:
    rising = {day(back): 100.0 * 1.01 ** (-back) for back in range(90)}
    assert [a.kind for a in growth({("/r/a", "m"): rising}, TODAY)] == ["steady growth"]
    assert growth({("/r/a", "m"): flat(100.0)}, TODAY) == []
    dip = dict(rising)
    for back in range(7, 14):
        dip[day(back)] = 10.0  # one cheap week breaks "each week more than the one before"
    assert growth({("/r/a", "m"): dip}, TODAY) == []


def test_anomalies_are_newest_first() -> None:
    logs = flat(10.0)
    logs[day(3)] = 60.0
    new = {d: (3.0 if d >= day(10) else 0.0) for d in flat(0.0)}
    found = anomalies({("/r/law", "ingestion"): logs, ("/r/new", "m"): new}, TODAY)
    # the new cost also lifts the weekly totals: the growth rule sees it too (dated today, so first)
    assert [(a.kind, a.day) for a in found] == [("steady growth", TODAY), ("spike", day(3)), ("new cost", day(10))]
