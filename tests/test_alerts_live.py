"""Alert rules really evaluate, on a local Azure with live traffic: with a short frequency and window, the checkout
failed-requests rule fires once the bad build is swapped into production and resolves once it is swapped back
out, as a stateful log alert does; a disabled copy of the same rule fires nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

# The local Azure with live traffic at full scale, and services on it, as the release tests use them.
from test_slots_release import live_azure, services  # noqa: F401

from console.emulator import estate, story
from console.models import Alert, AlertFilter
from console.services import Services

RULE = "sqr-checkout-failed-requests"
DISABLED = "sqr-checkout-failed-requests-disabled"
METRIC_RULE = "ma-checkout-http5xx"
GROUP = "rg-monitoring"


async def rule_alerts(made: Services, name: str) -> list[Alert]:
    found = await made.alerts.list_alerts(AlertFilter(time_range="1h"), estate.PROD_SUBSCRIPTION)
    return [a for a in found if a.name == name]


async def wait_for(made: Services, what: str, condition: object, attempts: int = 240, rule: str = RULE) -> list[Alert]:
    """Poll the rule's alerts (one a second, a bounded number of times) until `condition` holds."""
    for _ in range(attempts):
        found = await rule_alerts(made, rule)
        if callable(condition) and condition(found):
            return found
        await asyncio.sleep(1)
    raise AssertionError(f"gave up waiting for {what}")


async def test_a_rule_fires_on_the_bad_build_and_resolves_after_it_leaves(services: Services) -> None:  # noqa: F811
    from azure.mgmt.monitor.models import MetricAlertResourcePatch, ScheduledQueryRuleResource

    monitor = services.alerts._monitor_client(estate.PROD_SUBSCRIPTION).scheduled_query_rules
    seeded = await monitor.get(GROUP, RULE)
    criterion = seeded.criteria.all_of[0]
    criterion.threshold = 3.0
    fast = {"evaluation_frequency": "PT2S", "window_size": "PT1M", "criteria": seeded.criteria}
    for name, enabled in ((RULE, True), (DISABLED, False)):
        rule = ScheduledQueryRuleResource(
            location=seeded.location,
            kind="LogAlert",
            tags=seeded.tags,
            severity=seeded.severity,
            enabled=enabled,
            scopes=seeded.scopes,
            auto_mitigate=True,
            description=f"{seeded.description} (evaluated every 2 s over 1 min)",
            **fast,
        )
        stored = await monitor.create_or_update(GROUP, name, rule)
        assert stored.enabled is enabled
    # The 5xx metric rule too, every 2 s over a minute.
    metrics = services.alerts._monitor_client(estate.PROD_SUBSCRIPTION).metric_alerts
    http5xx = await metrics.get(GROUP, METRIC_RULE)
    http5xx.criteria.all_of[0].threshold = 3.0
    patch = MetricAlertResourcePatch(
        evaluation_frequency=timedelta(seconds=2), window_size=timedelta(minutes=1), criteria=http5xx.criteria
    )
    assert (await metrics.update(GROUP, METRIC_RULE, patch)).window_size == timedelta(minutes=1)
    # Production runs the good build: nothing fires.
    await asyncio.sleep(5)
    assert not [a for a in await rule_alerts(services, RULE) if a.condition == "Fired"]

    checkout, slot = story.BAD_BUILD_SLOT
    app = await services.slots.swap(checkout, slot, confirmed=True)
    assert app.where["production"] == story.BAD_BUILD
    try:
        fired = await wait_for(services, "the rule to fire", lambda found: any(a.condition == "Fired" for a in found))
        alert = await services.alerts.get_alert(next(a for a in fired if a.condition == "Fired"))
        assert (alert.state, alert.severity) == ("New", "Sev1")
        assert alert.detail.observed is not None and alert.detail.observed > 3
        # Stateful: it keeps holding, and no second alert fires meanwhile.
        await asyncio.sleep(5)
        assert len([a for a in await rule_alerts(services, RULE) if a.condition == "Fired"]) == 1
        # The activity log records the activation, the rule as its resource.
        recorded = await services.logs.query(
            estate.WORKSPACE_CUSTOMER_ID,
            f'AzureActivity | where CategoryValue == "Alert" and _ResourceId endswith "/{RULE.lower()}"',
            timedelta(minutes=30),
        )
        assert recorded.row_count == 1
        metric = await wait_for(
            services, "the 5xx rule to fire", lambda found: any(a.condition == "Fired" for a in found), rule=METRIC_RULE
        )
        metric_alert = next(a for a in metric if a.condition == "Fired")
        assert (metric_alert.signal_type, metric_alert.target_name) == ("Metric", checkout)
    finally:
        app = await services.slots.swap(checkout, slot, confirmed=True)
    assert app.where[slot] == story.BAD_BUILD
    resolved = await wait_for(
        services,
        "the rule to resolve",
        lambda found: any(a.id == alert.id and a.condition == "Resolved" for a in found),
    )
    again = next(a for a in resolved if a.id == alert.id)
    assert again.resolved is not None and again.resolved > again.started
    history = await services.alerts.history(again)
    assert history[0].event == "MonitorConditionChange" and history[0].new == "Resolved"
    assert not await rule_alerts(services, DISABLED)
    await wait_for(
        services,
        "the 5xx rule to resolve",
        lambda found: any(a.id == metric_alert.id and a.condition == "Resolved" for a in found),
        rule=METRIC_RULE,
    )
