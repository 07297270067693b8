"""What the management SDKs' own samples do, through the real sync clients against the local Azure:
azure-mgmt-web's list and get of sites and slots (with their app settings), azure-mgmt-resource's
resource groups filtered by tag. The expected names come from the estate the local Azure seeds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.identity import DefaultAzureCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.web import WebSiteManagementClient
from conftest import EmulatorThread

from console.emulator import estate


@pytest.fixture(scope="module")
def credential(local_azure: EmulatorThread) -> Iterator[DefaultAzureCredential]:
    with DefaultAzureCredential(connection_verify=local_azure.readiness["ca_file"]) as made:
        yield made


def _web(local_azure: EmulatorThread, credential: DefaultAzureCredential, subscription: str) -> WebSiteManagementClient:
    readiness = local_azure.readiness
    return WebSiteManagementClient(
        credential, subscription, base_url=readiness["arm_endpoint"], connection_verify=readiness["ca_file"]
    )


def _apps_in(subscription: str, group: str | None = None) -> set[str]:
    return {
        app.name
        for app in estate.WEB_APPS
        if app.subscription_id == subscription and (group is None or app.resource_group == group)
    }


def test_web_apps_list_and_get(local_azure: EmulatorThread, credential: DefaultAzureCredential) -> None:
    with _web(local_azure, credential, estate.PROD_SUBSCRIPTION) as client:
        listed = {site.name for site in client.web_apps.list()}
        assert _apps_in(estate.PROD_SUBSCRIPTION) <= listed
        in_group = {site.name for site in client.web_apps.list_by_resource_group("rg-prod-web")}
        assert in_group == _apps_in(estate.PROD_SUBSCRIPTION, "rg-prod-web")
        site = client.web_apps.get("rg-prod-web", "app-checkout-prod")
        assert site.id is not None and site.id.lower() == estate.WEB_APPS[0].resource_id.lower()
        assert site.state == "Running" and site.default_host_name


def test_slots_list_get_and_settings(local_azure: EmulatorThread, credential: DefaultAzureCredential) -> None:
    app = estate.WEB_APPS[0]
    with _web(local_azure, credential, app.subscription_id) as client:
        slots = {slot.name.split("/")[-1] for slot in client.web_apps.list_slots(app.resource_group, app.name)}
        assert slots == set(app.builds_by_slot) - {"production"}
        staging = client.web_apps.get_slot(app.resource_group, app.name, "staging")
        assert staging.name is not None and staging.name.endswith("staging")
        settings = client.web_apps.list_application_settings(app.resource_group, app.name)
        assert isinstance(settings.properties, dict)


def test_resource_groups_filtered_by_tag(local_azure: EmulatorThread, credential: DefaultAzureCredential) -> None:
    readiness = local_azure.readiness
    with ResourceManagementClient(
        credential, estate.PROD_SUBSCRIPTION, base_url=readiness["arm_endpoint"], connection_verify=readiness["ca_file"]
    ) as client:
        owned = {g.name for g in client.resource_groups.list(filter="tagName eq 'owner' and tagValue eq 'sre'")}
        expected = {
            g.name
            for g in estate.RESOURCE_GROUPS
            if g.subscription_id == estate.PROD_SUBSCRIPTION and g.tags.get("owner") == "sre"
        }
        assert expected and owned == expected
        tagged = list(client.resource_groups.list(filter="tagName eq 'env'"))
        assert tagged and all(g.tags and "env" in g.tags for g in tagged)
