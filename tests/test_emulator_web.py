"""The local Azure's Microsoft.Web area through the real azure-mgmt-web async client: sites and slots,
their content, swaps (plain, with preview, failed, half-failed, concurrent) and traffic routing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.web.aio import WebSiteManagementClient
from azure.mgmt.web.models import CsmSlotEntity, StringDictionary
from conftest import EmulatorThread, fault_rules, module_azure, use_identity

from console.emulator import estate, story
from console.emulator.kql_engine import KqlEngine
from console.emulator.telemetry import TrafficGenerator, create_tables

PROD = estate.PROD_SUBSCRIPTION
GROUP = "rg-prod-web"
CHECKOUT = story.INCIDENT_APP


web_azure = module_azure("web-azure", page_size=3, telemetry_scale=0.001, seed_delay_s=60)
"""A local Azure of its own: these tests swap slots, the session's keeps the seeded builds."""


@pytest.fixture
async def web(web_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WebSiteManagementClient]:
    """The real async SDK client, signed in with the local Azure's managed identity."""
    readiness = web_azure.readiness
    use_identity(monkeypatch, web_azure)
    credential = DefaultAzureCredential()
    client = WebSiteManagementClient(
        credential,
        PROD,
        base_url=readiness["arm_endpoint"],
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=readiness["ca_file"],
        polling_interval=0.1,
    )
    yield client
    await client.close()
    await credential.close()


@pytest.fixture
def web_faults(web_azure: EmulatorThread) -> Iterator[Callable[[list[dict[str, Any]]], Any]]:
    with fault_rules(web_azure) as install:
        yield install


async def _state(client: WebSiteManagementClient, app: str, slot: str) -> dict[str, Any]:
    """What a slot holds, read back through the SDK: image, app settings, connection strings."""
    if slot == "production":
        config = await client.web_apps.get_configuration(GROUP, app)
        settings = await client.web_apps.list_application_settings(GROUP, app)
        strings = await client.web_apps.list_connection_strings(GROUP, app)
    else:
        config = await client.web_apps.get_configuration_slot(GROUP, app, slot)
        settings = await client.web_apps.list_application_settings_slot(GROUP, app, slot)
        strings = await client.web_apps.list_connection_strings_slot(GROUP, app, slot)
    return {
        "image": config.linux_fx_version,
        "settings": dict(settings.properties or {}),
        "strings": {k: v.value for k, v in (strings.properties or {}).items()},
    }


def _builds(azure: EmulatorThread) -> dict[tuple[str, str], str]:
    assert azure.running is not None
    return azure.running.store.builds_by_slot()


# sites and slots -------------------------------------------------------------------------------


async def test_every_seeded_site_and_slot_answers(web: WebSiteManagementClient) -> None:
    sites = {s.name: s async for s in web.web_apps.list()}
    expected = {app.name for app in estate.WEB_APPS if app.subscription_id == PROD}
    assert set(sites) == expected
    grouped = {s.name async for s in web.web_apps.list_by_resource_group(GROUP)}
    assert grouped == expected
    for app in estate.WEB_APPS:
        if app.subscription_id != PROD:
            continue
        site = await web.web_apps.get(app.resource_group, app.name)
        assert site.state == "Running" and site.default_host_name == f"{app.name}.azurewebsites.net"
        assert "build" not in (site.tags or {})
        slots = {s.name: s async for s in web.web_apps.list_slots(app.resource_group, app.name)}
        assert set(slots) == {f"{app.name}/{slot}" for slot in app.builds_by_slot if slot != "production"}
        for slot, build in app.builds_by_slot.items():
            if slot != "production":
                got = await web.web_apps.get_slot(app.resource_group, app.name, slot)
                assert got.default_host_name == f"{app.name}-{slot}.azurewebsites.net"
            state = await _state(web, app.name, slot)
            assert state["image"] == app.linux_fx_version(build)
            assert state["settings"]["APP_VERSION"] == build
            deployments = (
                [d async for d in web.web_apps.list_deployments(app.resource_group, app.name)]
                if slot == "production"
                else [d async for d in web.web_apps.list_deployments_slot(app.resource_group, app.name, slot)]
            )
            assert deployments and deployments[0].active and build in (deployments[0].message or "")
    names = await web.web_apps.list_slot_configuration_names(GROUP, CHECKOUT)
    assert "ENVIRONMENT_NAME" in (names.app_setting_names or [])
    assert "OrdersDb" in (names.connection_string_names or [])


async def test_a_missing_site_or_slot_is_a_404(web: WebSiteManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        await web.web_apps.get(GROUP, "app-nowhere")
    with pytest.raises(ResourceNotFoundError):
        await web.web_apps.get_slot(GROUP, CHECKOUT, "nowhere")


# swaps ---------------------------------------------------------------------------------------------


async def test_a_swap_moves_content_and_non_sticky_settings_and_keeps_sticky_ones(
    web: WebSiteManagementClient, web_azure: EmulatorThread
) -> None:
    app = "app-payments-prod"
    await web.web_apps.update_application_settings_slot(
        GROUP,
        app,
        "staging",
        StringDictionary(
            properties={
                **(await _state(web, app, "staging"))["settings"],
                "APP_VERSION": "2026.11.4",
                "ONLY_IN_STAGING": "yes",
            }
        ),
    )
    before = {slot: await _state(web, app, slot) for slot in ("production", "staging")}
    site_tags = (await web.web_apps.get(GROUP, app)).tags
    poller = await web.web_apps.begin_swap_slot_with_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    await poller.result()
    after = {slot: await _state(web, app, slot) for slot in ("production", "staging")}
    assert after["production"]["image"] == before["staging"]["image"]
    assert after["staging"]["image"] == before["production"]["image"]
    assert after["production"]["settings"]["APP_VERSION"] == "2026.11.4"
    assert after["production"]["settings"]["ONLY_IN_STAGING"] == "yes"
    assert "ONLY_IN_STAGING" not in after["staging"]["settings"]
    for slot in ("production", "staging"):
        assert after[slot]["settings"]["ENVIRONMENT_NAME"] == slot  # sticky stays
        assert after[slot]["strings"]["OrdersDb"] == before[slot]["strings"]["OrdersDb"]
    assert after["production"]["settings"]["FEATURE_FLAGS"] == before["staging"]["settings"]["FEATURE_FLAGS"]
    assert (await web.web_apps.get(GROUP, app)).tags == site_tags  # tags never move
    status = (await web.web_apps.get(GROUP, app)).slot_swap_status
    assert status is not None and status.source_slot_name == "staging"
    assert _builds(web_azure)[(app, "production")] == "2026.11.3"  # the image tag decides
    # Swapping back restores both slots.
    poller = await web.web_apps.begin_swap_slot(GROUP, app, "staging", CsmSlotEntity(target_slot="production"))
    await poller.result()
    assert {slot: await _state(web, app, slot) for slot in ("production", "staging")} == before


async def test_a_second_swap_while_one_runs_is_a_409(web: WebSiteManagementClient) -> None:
    app = "app-catalog-prod"
    first = await web.web_apps.begin_swap_slot_with_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    with pytest.raises(HttpResponseError) as refused:
        await web.web_apps.begin_swap_slot_with_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    assert refused.value.status_code == 409 and refused.value.error is not None
    assert refused.value.error.code == "Conflict"
    with pytest.raises(HttpResponseError) as also:
        await web.web_apps.update_application_settings(GROUP, app, StringDictionary(properties={"A": "b"}))
    assert also.value.status_code == 409
    await first.result()
    assert (await _state(web, app, "production"))["settings"]["APP_VERSION"] == "2026.11.4"
    second = await web.web_apps.begin_swap_slot_with_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    await second.result()  # the site is free again
    assert (await _state(web, app, "production"))["settings"]["APP_VERSION"] == "2026.11.3"


async def test_preview_applies_production_sticky_settings_then_cancel_restores_both_slots(
    web: WebSiteManagementClient,
) -> None:
    app = CHECKOUT
    before = {slot: await _state(web, app, slot) for slot in ("production", "staging")}
    await web.web_apps.apply_slot_config_to_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    previewed = await _state(web, app, "staging")
    assert previewed["settings"]["ENVIRONMENT_NAME"] == "production"
    assert previewed["strings"]["OrdersDb"] == before["production"]["strings"]["OrdersDb"]
    assert previewed["image"] == before["staging"]["image"]  # nothing swapped yet
    assert (await web.web_apps.get_slot(GROUP, app, "staging")).target_swap_slot == "production"
    with pytest.raises(HttpResponseError) as other:
        await web.web_apps.apply_slot_config_to_production(GROUP, app, CsmSlotEntity(target_slot="canary"))
    assert other.value.status_code == 409
    await web.web_apps.reset_production_slot_config(GROUP, app)
    await web.web_apps.reset_slot_configuration_slot(GROUP, app, "staging")
    assert {slot: await _state(web, app, slot) for slot in ("production", "staging")} == before


async def test_preview_then_complete_swaps_with_each_slot_keeping_its_own_sticky_settings(
    web: WebSiteManagementClient,
) -> None:
    app = CHECKOUT
    before = {slot: await _state(web, app, slot) for slot in ("production", "canary")}
    await web.web_apps.apply_slot_configuration_slot(GROUP, app, "canary", CsmSlotEntity(target_slot="production"))
    poller = await web.web_apps.begin_swap_slot(GROUP, app, "canary", CsmSlotEntity(target_slot="production"))
    await poller.result()
    after = {slot: await _state(web, app, slot) for slot in ("production", "canary")}
    assert after["canary"]["settings"]["ENVIRONMENT_NAME"] == "canary"
    assert after["canary"]["strings"]["OrdersDb"] == before["canary"]["strings"]["OrdersDb"]
    assert after["production"]["settings"]["ENVIRONMENT_NAME"] == "production"
    assert after["canary"]["settings"]["FEATURE_FLAGS"] == before["production"]["settings"]["FEATURE_FLAGS"]
    assert (await web.web_apps.get_slot(GROUP, app, "canary")).target_swap_slot is None
    poller = await web.web_apps.begin_swap_slot(GROUP, app, "canary", CsmSlotEntity(target_slot="production"))
    await poller.result()
    assert {slot: await _state(web, app, slot) for slot in ("production", "canary")} == before


async def test_slot_differences_mark_sticky_settings(web: WebSiteManagementClient) -> None:
    found = {
        d.setting_name: d
        async for d in web.web_apps.list_slot_differences_from_production(
            GROUP, CHECKOUT, CsmSlotEntity(target_slot="staging")
        )
    }
    assert found["APP_VERSION"].value_in_target_slot == story.BAD_BUILD
    assert found["APP_VERSION"].level == "Information"
    assert found["ENVIRONMENT_NAME"].level == "Warning"
    assert found["OrdersDb"].setting_type == "ConnectionString"
    assert story.BAD_BUILD in (found["linuxFxVersion"].value_in_target_slot or "")
    assert "WEBSITES_PORT" not in found  # equal values are no difference
    same = [
        d
        async for d in web.web_apps.list_slot_differences_slot(
            GROUP, CHECKOUT, "canary", CsmSlotEntity(target_slot="production")
        )
    ]
    assert {d.setting_name for d in same} >= {"ENVIRONMENT_NAME", "FEATURE_FLAGS"}


async def test_a_failed_swap_moves_nothing(
    web: WebSiteManagementClient, web_faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    app = "app-payments-prod"
    before = {slot: await _state(web, app, slot) for slot in ("production", "staging")}
    web_faults([{"path": "/slotsswap$", "method": "POST", "lro_fail": True, "count": 1}])
    poller = await web.web_apps.begin_swap_slot_with_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    with pytest.raises(HttpResponseError, match="nothing was moved"):
        await poller.result()
    assert {slot: await _state(web, app, slot) for slot in ("production", "staging")} == before


async def test_a_half_failed_swap_moves_the_images_and_not_the_settings(
    web: WebSiteManagementClient, web_azure: EmulatorThread, web_faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    app = CHECKOUT
    before = {slot: await _state(web, app, slot) for slot in ("production", "staging")}
    web_faults([{"path": "/slotsswap/settings$", "lro_fail": True, "count": 1}])
    poller = await web.web_apps.begin_swap_slot_with_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    with pytest.raises(HttpResponseError, match="before the settings did"):
        await poller.result()
    after = {slot: await _state(web, app, slot) for slot in ("production", "staging")}
    assert after["production"]["image"] == before["staging"]["image"]
    assert after["production"]["settings"] == before["production"]["settings"]
    assert after["staging"]["settings"]["APP_VERSION"] == story.BAD_BUILD
    assert _builds(web_azure)[(app, "production")] == story.BAD_BUILD  # the image is what runs
    # Another swap that fails half-way puts the images back; the settings never moved.
    web_faults([{"path": "/slotsswap/settings$", "lro_fail": True, "count": 1}])
    poller = await web.web_apps.begin_swap_slot_with_production(GROUP, app, CsmSlotEntity(target_slot="staging"))
    with pytest.raises(HttpResponseError):
        await poller.result()
    assert {slot: await _state(web, app, slot) for slot in ("production", "staging")} == before


# settings, state, routing ------------------------------------------------------------------------


async def test_settings_connection_strings_and_sticky_names_update(web: WebSiteManagementClient) -> None:
    app = "app-catalog-prod"
    strings = await web.web_apps.list_connection_strings_slot(GROUP, app, "staging")
    properties = {k: {"value": v.value, "type": v.type} for k, v in (strings.properties or {}).items()}
    properties["Search"] = {"value": "Endpoint=https://search", "type": "Custom"}
    from azure.mgmt.web.models import ConnectionStringDictionary, ConnStringValueTypePair, SlotConfigNamesResource

    await web.web_apps.update_connection_strings_slot(
        GROUP,
        app,
        "staging",
        ConnectionStringDictionary(
            properties={k: ConnStringValueTypePair(value=v["value"], type=v["type"]) for k, v in properties.items()}
        ),
    )
    assert (await _state(web, app, "staging"))["strings"]["Search"] == "Endpoint=https://search"
    names = await web.web_apps.list_slot_configuration_names(GROUP, app)
    await web.web_apps.update_slot_configuration_names(
        GROUP,
        app,
        SlotConfigNamesResource(
            app_setting_names=[*(names.app_setting_names or []), "FEATURE_FLAGS"],
            connection_string_names=names.connection_string_names,
        ),
    )
    again = await web.web_apps.list_slot_configuration_names(GROUP, app)
    assert "FEATURE_FLAGS" in (again.app_setting_names or [])
    await web.web_apps.update_slot_configuration_names(GROUP, app, names)


async def test_stop_start_and_restart(web: WebSiteManagementClient) -> None:
    app = "app-catalog-prod"
    await web.web_apps.stop_slot(GROUP, app, "staging")
    assert (await web.web_apps.get_slot(GROUP, app, "staging")).state == "Stopped"
    assert (await web.web_apps.get(GROUP, app)).state == "Running"
    await web.web_apps.restart_slot(GROUP, app, "staging")
    assert (await web.web_apps.get_slot(GROUP, app, "staging")).state == "Stopped"
    await web.web_apps.start_slot(GROUP, app, "staging")
    await web.web_apps.restart(GROUP, app)
    assert (await web.web_apps.get_slot(GROUP, app, "staging")).state == "Running"


async def _route(web: WebSiteManagementClient, app: str, shares: dict[str, float]) -> None:
    from azure.mgmt.web.models import Experiments, RampUpRule, SiteConfigResource

    rules = [RampUpRule(name=slot, reroute_percentage=percent) for slot, percent in shares.items()]
    await web.web_apps.update_configuration(
        GROUP, app, SiteConfigResource(experiments=Experiments(ramp_up_rules=rules))
    )


async def test_routing_rules_are_checked_and_read_back(web: WebSiteManagementClient, web_azure: EmulatorThread) -> None:
    await _route(web, CHECKOUT, {"staging": 20, "canary": 5})
    config = await web.web_apps.get_configuration(GROUP, CHECKOUT)
    rules = {r.name: r for r in (config.experiments.ramp_up_rules or [])} if config.experiments else {}
    assert rules["staging"].reroute_percentage == 20
    assert rules["staging"].action_host_name == f"{CHECKOUT}-staging.azurewebsites.net"
    assert web_azure.running is not None
    assert web_azure.running.store.routing_by_slot() == {(CHECKOUT, "staging"): 20.0, (CHECKOUT, "canary"): 5.0}
    for bad in ({"staging": 120.0}, {"nowhere": 5.0}, {"staging": 60.0, "canary": 50.0}):
        with pytest.raises(HttpResponseError) as refused:
            await _route(web, CHECKOUT, bad)
        assert refused.value.status_code == 400
    await _route(web, CHECKOUT, {})
    assert web_azure.running.store.routing_by_slot() == {}
    from azure.mgmt.web.models import Experiments, RampUpRule, SiteConfigResource

    by_host = RampUpRule(action_host_name=f"{CHECKOUT}-canary.azurewebsites.net", reroute_percentage=10)
    await web.web_apps.update_configuration(
        GROUP, CHECKOUT, SiteConfigResource(experiments=Experiments(ramp_up_rules=[by_host]))
    )
    assert web_azure.running.store.routing_by_slot() == {(CHECKOUT, "canary"): 10.0}
    await _route(web, CHECKOUT, {})


def test_routing_shares_shift_the_live_traffic() -> None:
    """The generator's rows by slot follow the routing share, and the routed rows carry the slot's build."""
    engine = KqlEngine()
    create_tables(engine.connection)
    engine.refresh_schema()
    start = dt.datetime(2026, 11, 20, 10, 0, 0)
    generator = TrafficGenerator(engine, start, scale=4.0, seed_now=start + dt.timedelta(days=1))
    builds = {(app.name, slot): b for app in estate.WEB_APPS for slot, b in app.builds_by_slot.items()}
    generator.tick(start + dt.timedelta(minutes=10), builds)
    generator.tick(start + dt.timedelta(minutes=20), builds, {(CHECKOUT, "staging"): 50.0})

    def rows(first: int, last: int) -> dict[str, tuple[int, float]]:
        found = (
            engine.connection.cursor()
            .execute(
                "SELECT json_extract_string(Properties, '$.slot') AS slot, count(*), "
                "avg(CASE WHEN Success THEN 0 ELSE 1 END) FROM AppRequests WHERE AppRoleName = $app "
                "AND TimeGenerated >= $a AND TimeGenerated < $b GROUP BY slot",
                {
                    "app": CHECKOUT,
                    "a": start + dt.timedelta(minutes=first),
                    "b": start + dt.timedelta(minutes=last),
                },
            )
            .fetchall()
        )
        return {str(slot): (int(count), float(rate)) for slot, count, rate in found}

    plain, routed = rows(0, 10), rows(10, 20)
    plain_share = plain["staging"][0] / sum(count for count, _ in plain.values())
    routed_share = routed["staging"][0] / sum(count for count, _ in routed.values())
    assert plain_share < 0.1 and 0.35 < routed_share < 0.65
    overall = sum(c * r for c, r in routed.values()) / sum(c for c, _ in routed.values())
    assert overall > 0.06  # half the production traffic now meets the bad build
    versions = {
        row[0]
        for row in engine.connection.cursor()
        .execute(
            "SELECT DISTINCT AppVersion FROM AppRequests WHERE AppRoleName = $app "
            "AND json_extract_string(Properties, '$.slot') = 'staging'",
            {"app": CHECKOUT},
        )
        .fetchall()
    }
    assert versions == {story.BAD_BUILD}
    hosts = {
        str(row[0]).split("/")[2]
        for row in engine.connection.cursor()
        .execute(
            "SELECT Url FROM AppRequests WHERE AppRoleName = $app AND json_extract_string(Properties, '$.slot') = "
            "'staging' AND TimeGenerated >= $a",
            {"app": CHECKOUT, "a": start + dt.timedelta(minutes=10)},
        )
        .fetchall()
    }
    # Routed requests came to production's host name; the slot's own host name still gets its direct traffic.
    assert hosts == {f"{CHECKOUT}.azurewebsites.net", f"{CHECKOUT}-staging.azurewebsites.net"}


async def test_bad_input_gets_a_sentence(web_azure: EmulatorThread, web: WebSiteManagementClient) -> None:
    with pytest.raises(HttpResponseError) as refused:
        await web.web_apps.begin_swap_slot_with_production(GROUP, CHECKOUT, CsmSlotEntity(target_slot="nowhere"))
    assert refused.value.status_code == 404 and "no slot named" in str(refused.value)
    with pytest.raises(HttpResponseError) as itself:
        await web.web_apps.begin_swap_slot(GROUP, CHECKOUT, "staging", CsmSlotEntity(target_slot="staging"))
    assert itself.value.status_code == 400
    before = await _state(web, CHECKOUT, "production")
    assert before["settings"]["APP_VERSION"] == "2026.11.4"  # every earlier test left checkout as seeded
    with pytest.raises(HttpResponseError) as numbers:
        await web.web_apps.update_application_settings(GROUP, CHECKOUT, StringDictionary(properties={"A": 1}))  # type: ignore[dict-item]
    assert numbers.value.status_code == 400 and "text values" in str(numbers.value)
    from azure.mgmt.web.models import ConnectionStringDictionary, ConnStringValueTypePair

    with pytest.raises(HttpResponseError) as kind:
        await web.web_apps.update_connection_strings(
            GROUP,
            CHECKOUT,
            ConnectionStringDictionary(properties={"X": ConnStringValueTypePair(value="v", type="Oracle")}),  # type: ignore[arg-type]
        )
    assert kind.value.status_code == 400 and "is not one of" in str(kind.value)
    assert await _state(web, CHECKOUT, "production") == before  # untouched
    await asyncio.sleep(0)


def test_the_story_has_a_bad_and_a_good_build_waiting_in_staging() -> None:
    apps = {app.name: app for app in estate.WEB_APPS}
    bad_app, bad_slot = story.BAD_BUILD_SLOT
    good_app, good_slot = story.GOOD_BUILD_SLOT
    assert apps[bad_app].builds_by_slot[bad_slot] == story.BAD_BUILD
    assert apps[good_app].builds_by_slot[good_slot] == story.GOOD_BUILD
    good, bad = estate.BUILDS[story.GOOD_BUILD], estate.BUILDS[story.BAD_BUILD]
    production = estate.BUILDS[apps[good_app].builds_by_slot["production"]]
    assert good.failure_rate <= production.failure_rate < bad.failure_rate / 10
    assert any("canary" in app.builds_by_slot for app in estate.WEB_APPS)
    assert sum("staging" in app.builds_by_slot for app in estate.WEB_APPS) >= 3


async def test_the_other_subscription_answers_and_an_unknown_api_version_is_refused(
    web_azure: EmulatorThread, web: WebSiteManagementClient
) -> None:
    readiness = web_azure.readiness
    credential = DefaultAzureCredential()
    other = WebSiteManagementClient(
        credential,
        estate.NONPROD_SUBSCRIPTION,
        base_url=readiness["arm_endpoint"],
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=readiness["ca_file"],
    )
    old = WebSiteManagementClient(
        credential,
        PROD,
        base_url=readiness["arm_endpoint"],
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=readiness["ca_file"],
        api_version="2019-01-01",
    )
    try:
        for app in estate.WEB_APPS:
            if app.subscription_id != estate.NONPROD_SUBSCRIPTION:
                continue
            for slot, build in app.builds_by_slot.items():
                if slot == "production":
                    config = await other.web_apps.get_configuration(app.resource_group, app.name)
                else:
                    config = await other.web_apps.get_configuration_slot(app.resource_group, app.name, slot)
                assert config.linux_fx_version == app.linux_fx_version(build)
        with pytest.raises(HttpResponseError) as refused:
            await old.web_apps.get(GROUP, CHECKOUT)
        assert refused.value.status_code == 400 and "api-version" in str(refused.value).lower()
    finally:
        await other.close()
        await old.close()
        await credential.close()
