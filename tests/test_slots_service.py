"""SlotsService against a real local Azure through azure-mgmt-web: what runs where, diffs, swaps, preview,
failures read back, routing, start/stop, rollback from the journal, refusals before any request.

The local Azure here is this module's own (its swaps would disturb other tests), with its telemetry never
arriving (the seed waits an hour): every gate reading on it is inconclusive.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorThread, fault_rules, module_azure, request_counts, services_on

from console.errors import ErrorKind, OpsError
from console.models import Gate, WebApp
from console.services import Services
from console.services.slots import SlotsService

CHECKOUT = "app-checkout-prod"
BAD, GOOD = "2026.11.5-rc1", "2026.11.4"
GATE = Gate(kql="AppRequests | where AppRoleName == app | summarize n = count()", check="value(n) >= 0")


quiet_azure = module_azure("slots-azure", page_size=50, seed_delay_s=3600)


@pytest.fixture
async def services(
    quiet_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Callable[..., Services]]:
    async with services_on(quiet_azure, monkeypatch, tmp_path) as build:
        yield build


@pytest.fixture
async def slots(services: Callable[..., Services]) -> AsyncIterator[SlotsService]:
    service = services().slots
    yield service
    # Every test leaves the app as seeded: production the good build, staging the bad one.
    app = await service.find_app(CHECKOUT)
    holding = next((slot for slot, build in app.where.items() if build == BAD), "staging")
    if holding != "staging":
        app = (
            await service.swap(app, holding, "staging")
            if holding != "production"
            else await service.swap(app, "staging")
        )
    for slot in app.slots:
        if slot.state != "Running":
            await service.start(app, slot.name)
        if slot.routing_percent:
            await service.set_routing(app, slot.name, 0)


@pytest.fixture
def faults(quiet_azure: EmulatorThread) -> Iterator[Callable[[list[dict[str, Any]]], Any]]:
    with fault_rules(quiet_azure) as install:
        yield install


async def settings_of(slots: SlotsService, app: WebApp, slot: str) -> dict[str, str]:
    web = slots._client(app.subscription_id).web_apps
    if slot == "production":
        found = await web.list_application_settings(app.resource_group, app.name)
    else:
        found = await web.list_application_settings_slot(app.resource_group, app.name, slot)
    return dict(found.properties or {})


async def test_apps_list_with_their_slots_and_the_build_each_runs(slots: SlotsService) -> None:
    apps = await slots.list_apps()
    assert len(apps) >= 3
    checkout = next(app for app in apps if app.name == CHECKOUT)
    assert checkout.slots[0].name == "production"
    assert {"staging", "canary"} <= {slot.name for slot in checkout.slots}
    staging = checkout.slot("staging")
    assert staging is not None and staging.build == BAD and staging.app_version == BAD
    assert staging.image is not None and staging.image.endswith(f":{BAD}")
    assert checkout.where["production"] == GOOD
    assert all(slot.state == "Running" and slot.routing_percent == 0 for slot in checkout.slots)
    assert staging.last_deployment and BAD in staging.last_deployment
    with pytest.raises(OpsError, match=r"No web app is called 'app-nowhere'; known: .*app-checkout-prod"):
        await slots.find_app("app-nowhere")
    with pytest.raises(OpsError, match="has no slot called 'blue'; its slots: production, canary, staging"):
        await slots.diff(CHECKOUT, "blue")


async def test_diff_marks_sticky_settings_and_masks_values_unless_revealed(slots: SlotsService) -> None:
    masked = {d.name: d for d in await slots.diff(CHECKOUT, "staging")}
    assert masked["APP_VERSION"].change == "changed" and not masked["APP_VERSION"].sticky
    assert masked["APP_VERSION"].source == masked["APP_VERSION"].target == "••••••"
    assert any(d.sticky for d in masked.values())
    assert any(d.kind == "connection string" for d in masked.values())
    assert masked["linuxFxVersion"].kind == "config" and BAD in str(masked["linuxFxVersion"].source)
    shown = {d.name: d for d in await slots.diff(CHECKOUT, "staging", reveal=True)}
    assert (shown["APP_VERSION"].source, shown["APP_VERSION"].target) == (BAD, GOOD)


async def test_a_swap_moves_the_content_and_non_sticky_settings_and_sticky_ones_stay(slots: SlotsService) -> None:
    app = await slots.find_app(CHECKOUT)
    sticky = {d.name for d in await slots.diff(app, "staging") if d.sticky and d.kind == "app setting"}
    before = {slot: await settings_of(slots, app, slot) for slot in ("production", "staging")}
    swapped = await slots.swap(app, "staging")
    assert swapped.where["production"] == BAD and swapped.where["staging"] == GOOD
    after = {slot: await settings_of(slots, swapped, slot) for slot in ("production", "staging")}
    for name in sticky:
        assert after["production"].get(name) == before["production"].get(name)
        assert after["staging"].get(name) == before["staging"].get(name)
    assert after["production"]["APP_VERSION"] == BAD and after["staging"]["APP_VERSION"] == GOOD
    moved = set(before["staging"]) - sticky
    assert all(after["production"].get(name) == before["staging"][name] for name in moved)
    journal = slots.context.journal.entries()
    intent = next(e for e in reversed(journal) if e["phase"] == "intent" and e["action"] == "swap slots")
    assert intent["parameters"]["before"]["production"] == GOOD
    assert any(e["phase"] == "outcome" and e["operation_id"] == intent["operation_id"] for e in journal)


async def test_a_second_swap_while_one_runs_is_refused_with_409_and_read_back(slots: SlotsService) -> None:
    app = await slots.find_app(CHECKOUT)
    results = await asyncio.gather(
        slots.swap(app, "staging"), slots.swap(app, "canary", "staging"), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, OpsError)]
    assert len(failures) == 1, results
    assert failures[0].kind is ErrorKind.CONFLICT
    assert "another operation is in progress" in failures[0].message
    assert "now: production" in failures[0].message  # the re-read says which build is where


async def test_a_failed_swap_is_read_back_and_nothing_moved(slots: SlotsService, faults: Any) -> None:
    faults([{"path": "slotsswap$", "lro_fail": True, "count": 1}])
    with pytest.raises(OpsError) as failed:
        await slots.swap(CHECKOUT, "staging")
    assert f"now: production {GOOD}" in failed.value.message and f"staging {BAD}" in failed.value.message
    assert (await slots.find_app(CHECKOUT)).where["production"] == GOOD
    outcome = slots.context.journal.entries()[-1]
    assert outcome["result"] == "failed" and f"production {GOOD}" in outcome["state"]


async def test_a_half_failed_swap_is_read_back_with_the_images_moved_and_the_settings_not(
    slots: SlotsService, faults: Any
) -> None:
    faults([{"path": "/slotsswap/settings", "method": "POST", "lro_fail": True, "count": 1}])
    with pytest.raises(OpsError, match="after the images moved") as failed:
        await slots.swap(CHECKOUT, "staging")
    app = await slots.find_app(CHECKOUT)
    production = app.slot("production")
    assert production is not None and production.build == BAD and production.app_version == GOOD
    assert f"now: production {BAD}" in failed.value.message
    # Put the images back the way they were for the next tests.
    web = slots._client(app.subscription_id).web_apps
    staging = app.slot("staging")
    assert staging is not None and staging.image and production.image
    await web.update_configuration(app.resource_group, app.name, {"properties": {"linuxFxVersion": staging.image}})
    await web.update_configuration_slot(
        app.resource_group, app.name, "staging", {"properties": {"linuxFxVersion": production.image}}
    )
    assert (await slots.find_app(CHECKOUT)).where["production"] == GOOD


async def test_preview_then_cancel_restores_both_slots(slots: SlotsService) -> None:
    app = await slots.find_app(CHECKOUT)
    before = {slot: await settings_of(slots, app, slot) for slot in ("production", "staging")}
    previewed = await slots.swap(app, "staging", preview=True)
    assert previewed.where == app.where  # nothing swapped yet
    changed = await settings_of(slots, app, "staging")
    assert changed != before["staging"]  # the staging slot runs with production's sticky settings
    await slots.cancel_preview(app, "staging")
    assert {slot: await settings_of(slots, app, slot) for slot in ("production", "staging")} == before


async def test_preview_then_complete_is_the_swap(slots: SlotsService) -> None:
    app = await slots.find_app(CHECKOUT)
    await slots.swap(app, "staging", preview=True)
    done = await slots.complete_preview(app, "staging")
    assert done.where["production"] == BAD and done.where["staging"] == GOOD


async def test_stop_start_restart_and_a_guarded_release_refuses_a_stopped_slot(slots: SlotsService) -> None:
    stopped = await slots.stop(CHECKOUT, "staging")
    assert stopped.slot("staging") is not None and stopped.slot("staging").state == "Stopped"  # type: ignore[union-attr]
    with pytest.raises(OpsError, match="app-checkout-prod/staging is Stopped, not Running"):
        await slots.guarded_swap(CHECKOUT, "staging", GATE, watch=timedelta(seconds=1))
    started = await slots.start(CHECKOUT, "staging")
    assert started.slot("staging").state == "Running"  # type: ignore[union-attr]
    restarted = await slots.restart(CHECKOUT, "production")
    assert restarted.slot("production").state == "Running"  # type: ignore[union-attr]


async def test_routing_sets_and_clears_a_share(slots: SlotsService) -> None:
    routed = await slots.set_routing(CHECKOUT, "staging", 20)
    assert routed.slot("staging").routing_percent == 20  # type: ignore[union-attr]
    assert routed.slot("canary").routing_percent == 0  # type: ignore[union-attr]
    cleared = await slots.set_routing(CHECKOUT, "staging", 0)
    assert all(slot.routing_percent == 0 for slot in cleared.slots)
    with pytest.raises(OpsError, match="between 0 and 100"):
        await slots.set_routing(CHECKOUT, "staging", 120)


async def test_rollback_swaps_back_the_last_swap_and_says_when_there_is_none_or_the_slots_changed(
    slots: SlotsService,
) -> None:
    with pytest.raises(OpsError, match="Nothing to roll back: the journal has no finished swap of app-checkout-prod"):
        await slots.rollback(CHECKOUT)
    started = datetime.now(UTC)
    await slots.swap(CHECKOUT, "staging")
    back = await slots.rollback(CHECKOUT, since=started)
    assert back.where["production"] == GOOD and back.where["staging"] == BAD
    later = datetime.now(UTC) + timedelta(seconds=1)
    with pytest.raises(OpsError, match="no finished swap of app-checkout-prod since"):
        await slots.rollback(CHECKOUT, since=later)
    # The last swap (the rollback) left production GOOD, staging BAD; a swap of canary since changes that.
    await slots.swap(CHECKOUT, "staging", "canary")
    await slots.swap(CHECKOUT, "canary", "staging")  # back as it was: the last swap is now this one
    app = await slots.find_app(CHECKOUT)
    await slots._client(app.subscription_id).web_apps.update_configuration_slot(
        app.resource_group, app.name, "canary", {"properties": {"linuxFxVersion": "DOCKER|contoso/checkout:2026.11.2"}}
    )
    with pytest.raises(OpsError, match="changed since its last swap") as refused:
        await slots.rollback(CHECKOUT)
    assert refused.value.kind is ErrorKind.REFUSED and "Nothing was swapped back" in refused.value.message
    await slots._client(app.subscription_id).web_apps.update_configuration_slot(
        app.resource_group, app.name, "canary", {"properties": {"linuxFxVersion": f"DOCKER|contoso/checkout:{GOOD}"}}
    )


async def test_an_inconclusive_gate_never_promotes(slots: SlotsService) -> None:
    """Telemetry still arriving: every reading is inconclusive; nothing is swapped, and a ramp routes back."""
    readings: list[Any] = []
    outcome = await slots.guarded_swap(CHECKOUT, "staging", GATE, interval=timedelta(0), on_reading=readings.append)
    assert outcome.decision == "inconclusive" and outcome.where["production"] == GOOD
    assert [r.verdict for r in readings] == ["inconclusive"]
    ramp = await slots.ramp(
        CHECKOUT, "staging", [10], timedelta(seconds=30), GATE, interval=timedelta(0), max_inconclusive=2
    )
    assert ramp.decision == "inconclusive" and "Stopped at 10%" in ramp.sentence
    assert [r.verdict for r in ramp.readings] == ["inconclusive"] * 3  # more than 2 in a row
    app = await slots.find_app(CHECKOUT)
    assert all(slot.routing_percent == 0 for slot in app.slots) and app.where["production"] == GOOD


async def test_read_only_refuses_every_mutating_method_before_any_request(
    services: Callable[..., Services], quiet_azure: EmulatorThread
) -> None:
    app = await services().slots.find_app(CHECKOUT)
    console_wide = services(read_only=True).slots
    per_subscription = services(read_only_subscriptions=(app.subscription_id,)).slots

    def calls(slots: SlotsService, target: WebApp | str) -> list[Any]:
        return [
            lambda: slots.swap(target, "staging"),
            lambda: slots.swap(target, "staging", preview=True),
            lambda: slots.complete_preview(target, "staging"),
            lambda: slots.cancel_preview(target, "staging"),
            lambda: slots.start(target, "staging"),
            lambda: slots.stop(target, "staging"),
            lambda: slots.restart(target, "staging"),
            lambda: slots.set_routing(target, "staging", 10),
            lambda: slots.rollback(target),
            lambda: slots.guarded_swap(target, "staging", GATE),
            lambda: slots.ramp(target, "staging", [5], timedelta(seconds=1), GATE),
        ]

    await console_wide.context.connected()
    await console_wide.context.principal()
    await per_subscription.context.principal()
    before = request_counts(quiet_azure.readiness)
    for slots, target in ((console_wide, CHECKOUT), (console_wide, app), (per_subscription, app)):
        for call in calls(slots, target):
            with pytest.raises(OpsError, match="read-only") as refused:
                await call()
            assert refused.value.kind is ErrorKind.READ_ONLY
    assert request_counts(quiet_azure.readiness) == before
    assert not os.environ.get("OPSCONSOLE_READ_ONLY")


async def test_an_interrupted_swap_leaves_an_intent_the_next_start_reports_with_the_builds_read_back(
    slots: SlotsService,
) -> None:
    from console.services.operations import review_unfinished

    journal = slots.context.journal
    task = asyncio.ensure_future(slots.swap(CHECKOUT, "staging"))
    for _ in range(500):  # until the intent is written and the swap is running
        await asyncio.sleep(0.01)
        if any(e["phase"] == "intent" and e["action"] == "swap slots" for e in journal.entries()):
            break
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the swap goes on in Azure: wait (bounded) for it to end
        await asyncio.sleep(0.1)
        production = (await slots.find_app(CHECKOUT)).slot("production")
        if production is not None and production.build == production.app_version == BAD:
            break
    found = await review_unfinished(journal, [slots])
    assert len(found) == 1 and found[0].action == "swap slots"
    assert found[0].state is not None and f"production {BAD}" in found[0].state
    assert f"now: production {BAD}" in found[0].sentence
    assert await review_unfinished(journal, [slots]) == []  # reported once
