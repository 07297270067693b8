"""Headless alerts commands on a local Azure of this module's own: list with filters and outputs, ack and close by id
with a comment (refused without --yes and no terminal, exit 5; unknown id exit 2; a failed change exit 3), rules
and rule enable/disable (read-only exit 5)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import EmulatorThread, control, demo_environment, invoke, module_azure

alerts_azure = module_azure("alerts-cli-azure", seed_delay_s=3600)


@pytest.fixture
def demo_home(alerts_azure: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--demo` pointed at the module's local Azure through its record."""
    demo_environment(alerts_azure, tmp_path, monkeypatch)


def listed(*args: str) -> list[dict[str, str]]:
    result = invoke("alerts", "list", "--demo", "--output", "json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, str]] = json.loads(result.stdout)
    return rows


def test_list_filters_and_outputs(demo_home: None) -> None:
    week = listed("--since", "7d")
    assert {r["severity"] for r in week} == {"Sev0", "Sev1", "Sev2", "Sev3", "Sev4"}
    assert listed("--since", "7d", "--severity", "0,1") == [r for r in week if r["severity"] in ("Sev0", "Sev1")]
    new_ones = listed("--since", "7d", "--state", "new", "--condition", "fired")
    assert new_ones == [r for r in week if r["state"] == "New" and r["condition"] == "Fired"] and new_ones
    web = listed("--since", "7d", "--resource-group", "rg-prod-web", "--service", "Platform")
    assert web == [r for r in week if r["resource_group"] == "rg-prod-web" and r["monitor_service"] == "Platform"]
    assert web
    day = listed()
    assert {r["id"] for r in day} <= {r["id"] for r in week} and len(day) < len(week)
    table = invoke("alerts", "list", "--demo", "--since", "7d")
    assert table.exit_code == 0 and "sqr-heartbeat-missing" in table.stdout and "severity" in table.stdout
    as_csv = invoke("alerts", "list", "--demo", "--since", "7d", "--output", "csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv.stdout)))) == len(week)
    bad = invoke("alerts", "list", "--demo", "--severity", "9")
    assert bad.exit_code == 2 and "0-4" in bad.output
    bad = invoke("alerts", "list", "--demo", "--since", "2w")
    assert bad.exit_code == 2


def test_ack_and_close_by_id(demo_home: None, alerts_azure: EmulatorThread) -> None:
    new_ones = [r for r in listed("--since", "7d", "--state", "new")]
    first, second = new_ones[0]["id"], new_ones[1]["id"]
    refused = invoke("alerts", "ack", first, "--demo")  # no terminal, no --yes
    assert refused.exit_code == 5 and "--yes" in refused.output
    done = invoke("alerts", "ack", first, second, "--comment", "on it", "--yes", "--demo")
    assert done.exit_code == 0, done.output
    assert "2 acknowledged" in done.stdout
    states = {r["id"]: r["state"] for r in listed("--since", "7d")}
    assert states[first] == states[second] == "Acknowledged"
    unknown = invoke("alerts", "close", "00000000-0000-0000-0000-000000000000", "--yes", "--demo")
    assert unknown.exit_code == 2 and "No fired alert" in unknown.output
    control(alerts_azure.readiness, "PUT", [{"path": f"/alerts/{second}/changestate", "status": 500}])
    try:
        half = invoke("alerts", "close", first, second, "--comment", "fixed", "--yes", "--demo")
    finally:
        control(alerts_azure.readiness, "DELETE")
    assert half.exit_code == 3, half.output
    assert "1 closed, 1 failed" in half.stdout and "1 of 2 alerts were not changed" in half.output
    states = {r["id"]: r["state"] for r in listed("--since", "7d")}
    assert (states[first], states[second]) == ("Closed", "Acknowledged")


def test_rules_and_enable_disable(demo_home: None, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = invoke("alerts", "rules", "--demo", "--output", "json")
    assert rules.exit_code == 0, rules.output
    by_name = {r["name"]: r for r in json.loads(rules.stdout)}
    assert by_name["sqr-checkout-failed-requests"]["runbook"] == "app-failure-rate"
    assert by_name["sqr-heartbeat-missing"]["firing"] is True
    assert {r["kind"] for r in by_name.values()} == {"log", "metric", "activity log"}
    off = invoke("alerts", "rule", "disable", "sqr-dependency-failures", "--yes", "--demo")
    assert off.exit_code == 0 and "sqr-dependency-failures is disabled." in off.stdout
    on = invoke("alerts", "rule", "enable", "sqr-dependency-failures", "--yes", "--demo")
    assert on.exit_code == 0 and "is enabled" in on.stdout
    unknown = invoke("alerts", "rule", "enable", "no-such-rule", "--yes", "--demo")
    assert unknown.exit_code == 2 and "known:" in unknown.output
    monkeypatch.setenv("OPSCONSOLE_READ_ONLY", "true")
    refused = invoke("alerts", "rule", "disable", "sqr-dependency-failures", "--yes", "--demo")
    assert refused.exit_code == 5 and "read-only" in refused.output
