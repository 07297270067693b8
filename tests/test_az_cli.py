"""The az CLI against the local Azure, as a user points it there: `eval "$(opsconsole emulator env)"`, then
`az login --identity` and the everyday commands. `.ci/run` installs az into a virtual environment of its own and
names it in OPSCONSOLE_AZ; without az this module skips and says why."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.emulator import estate

pytestmark = pytest.mark.slow

AZ = os.environ.get("OPSCONSOLE_AZ") or shutil.which("az")
OPSCONSOLE = str(Path(sys.executable).with_name("opsconsole"))
PROD = estate.PROD_SUBSCRIPTION


@pytest.fixture(scope="module")
def az_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A standalone local Azure, and the environment `opsconsole emulator env` prints for it."""
    if AZ is None:
        pytest.skip("the az CLI is not installed (set OPSCONSOLE_AZ, or let .ci/run install it)")
    data_dir = tmp_path_factory.mktemp("az") / "local-azure"
    server = subprocess.Popen(
        [OPSCONSOLE, "emulator", "--data-dir", str(data_dir), "--telemetry-scale", "0.01", "--no-traffic"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        readiness = json.loads(server.stdout.readline())
        printed = subprocess.run(
            [OPSCONSOLE, "emulator", "env", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
        )
        assert printed.returncode == 0, printed.stderr
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "ARM_"))}
        for line in printed.stdout.splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
        env["AZURE_CORE_ONLY_SHOW_ERRORS"] = "true"
        env["LOGS_ENDPOINT"] = readiness["logs_endpoint"]
        yield env
    finally:
        server.terminate()
        server.wait(30)


def az(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run([AZ or "az", *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"az {' '.join(args)}: {done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_az_signs_in_with_the_managed_identity_and_lists_the_subscriptions(az_env: dict[str, str]) -> None:
    accounts = az(az_env, "login", "--identity")
    assert {a["id"] for a in accounts} == {estate.PROD_SUBSCRIPTION, estate.NONPROD_SUBSCRIPTION}
    assert {a["tenantId"] for a in accounts} == {estate.TENANT_ID}
    listed = az(az_env, "account", "list")
    assert {a["name"] for a in listed} == {"Contoso Production", "Contoso Non-Production"}
    az(az_env, "account", "set", "--subscription", PROD)


def test_az_groups_resources_and_providers(az_env: dict[str, str]) -> None:
    groups = {g["name"] for g in az(az_env, "group", "list", "--subscription", PROD)}
    assert "rg-prod-web" in groups
    made = az(az_env, "group", "create", "-n", "rg-az-made", "-l", "westeurope", "--subscription", PROD)
    assert made["name"] == "rg-az-made" and made["properties"]["provisioningState"] == "Succeeded"
    az(az_env, "group", "delete", "-n", "rg-az-made", "--yes", "--subscription", PROD)
    assert "rg-az-made" not in {g["name"] for g in az(az_env, "group", "list", "--subscription", PROD)}
    resources = az(az_env, "resource", "list", "--subscription", PROD)
    vault = next(r for r in resources if r["type"] == "Microsoft.RecoveryServices/vaults")
    assert az(az_env, "resource", "show", "--ids", vault["id"])["name"] == vault["name"]
    web = az(az_env, "provider", "show", "-n", "Microsoft.Web", "--subscription", PROD)
    assert web["registrationState"] == "Registered" and any(t["resourceType"] == "sites" for t in web["resourceTypes"])
    workspaces = az(az_env, "monitor", "log-analytics", "workspace", "list", "--subscription", PROD)
    assert estate.WORKSPACE_CUSTOMER_ID in {w["customerId"] for w in workspaces}


def test_az_web_apps_their_settings_and_a_slot_swap_there_and_back(az_env: dict[str, str]) -> None:
    where = ("--subscription", PROD, "-g", "rg-prod-web")
    apps = az(az_env, "webapp", "list", "--subscription", PROD)
    assert {"app-checkout-prod", "app-catalog-prod"} <= {a["name"] for a in apps}
    shown = az(az_env, "webapp", "show", *where, "-n", "app-catalog-prod")
    assert shown["state"] == "Running" and shown["defaultHostName"] == "app-catalog-prod.azurewebsites.net"
    slots = az(az_env, "webapp", "deployment", "slot", "list", *where, "-n", "app-checkout-prod")
    assert {s["name"].split("/")[-1] for s in slots} == {"staging", "canary"}
    settings = az(az_env, "webapp", "config", "appsettings", "list", *where, "-n", "app-catalog-prod")
    assert "APP_VERSION" in {s["name"] for s in settings}

    def production_image() -> str:
        config = az(az_env, "webapp", "config", "show", *where, "-n", "app-catalog-prod")
        return str(config["linuxFxVersion"])

    before = production_image()
    swap = ("webapp", "deployment", "slot", "swap", *where, "-n", "app-catalog-prod", "--slot", "staging")
    az(az_env, *swap, "--target-slot", "production")
    assert production_image() != before
    az(az_env, *swap, "--target-slot", "production")
    assert production_image() == before


def test_az_rest_runs_a_log_analytics_query(az_env: dict[str, str]) -> None:
    url = f"{az_env['LOGS_ENDPOINT']}/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query"
    answer = az(
        az_env, "rest", "--method", "post", "--url", url, "--resource", "https://api.loganalytics.io",
        "--body", json.dumps({"query": "print answer = 42"}),
    )  # fmt: skip
    table = answer["tables"][0]
    assert table["columns"][0]["name"] == "answer" and table["rows"] == [[42]]
