"""`opsconsole cost ...` headless on a local Azure: budgets exit 1 naming the budget and date, daily, breakdown,
anomalies, csv and json output, usage errors, and a budget change refused without --yes and made with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EmulatorThread, invoke, isolated_home, module_azure, reuse

from console.emulator import estate, story
from console.emulator.areas.cost import RATE_VARIABLE

cost_azure = module_azure("cost-cli", seed_delay_s=3600, started_with={RATE_VARIABLE: "off"})


@pytest.fixture
def demo(tmp_path: Path, cost_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = isolated_home(tmp_path, monkeypatch)
    reuse(data, cost_azure, monkeypatch)
    return data


def test_budgets_exit_1_when_a_forecast_crosses_its_amount(demo: Path) -> None:
    result = invoke("cost", "budgets", "--demo", "--scope", "Contoso Production", "--output", "json")
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["name"] == story.COST_BREACH_BUDGET  # worst first
    assert rows[0]["forecast"] > rows[0]["amount"] and rows[0]["breach_date"]
    assert f"budget {story.COST_BREACH_BUDGET}" in result.stderr and rows[0]["breach_date"] in result.stderr


def test_budgets_that_hold_exit_0(demo: Path) -> None:
    result = invoke("cost", "budgets", "--demo", "--scope", estate.NONPROD_SUBSCRIPTION)
    assert result.exit_code == 0, result.output
    assert "budget-nonprod-monthly" in result.stdout


def test_daily_and_breakdown_agree(demo: Path) -> None:
    daily = json.loads(invoke("cost", "daily", "--demo", "--days", "30", "--output", "json").stdout)
    assert len(daily) == 30 and daily[-1]["accumulated"] == pytest.approx(sum(d["cost"] for d in daily), abs=0.01)
    rows = json.loads(invoke("cost", "breakdown", "--demo", "--by", "tag:owner", "--output", "json").stdout)
    assert sum(r["cost"] for r in rows) == pytest.approx(daily[-1]["accumulated"], abs=0.05)
    csv = invoke("cost", "breakdown", "--demo", "--by", "group", "--output", "csv").stdout
    assert csv.splitlines()[0] == "group,cost,previous,change,change_percent"


def test_anomalies_explain_the_spike(demo: Path) -> None:
    result = invoke("cost", "anomalies", "--demo", "--scope", "Contoso Production", "--output", "json")
    assert result.exit_code == 0, result.output
    spike = next(a for a in json.loads(result.stdout) if a["kind"] == "spike")
    assert spike["contributors"][0]["resource"].endswith("/" + story.COST_SPIKE_RESOURCE)
    assert spike["contributors"][0]["meter"] == story.COST_SPIKE_METER


def test_usage_errors_exit_2(demo: Path) -> None:
    assert invoke("cost", "breakdown", "--demo", "--by", "colour").exit_code == 2
    unknown = invoke("cost", "budgets", "--demo", "--scope", "Contoso Nowhere")
    assert unknown.exit_code == 2 and "Contoso Nowhere" in unknown.stderr


def test_set_budget_needs_yes_and_then_changes_it(demo: Path) -> None:
    refused = invoke("cost", "set-budget", "budget-nonprod-monthly", "--amount", "999", "--demo")
    assert refused.exit_code == 5
    done = invoke(
        "cost",
        "set-budget",
        "budget-nonprod-monthly",
        "--amount",
        "999",
        "--threshold",
        "75",
        "--scope",
        estate.NONPROD_SUBSCRIPTION,
        "--yes",
        "--demo",
        "--output",
        "json",
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)[0]["amount"] == 999
    listed = json.loads(
        invoke("cost", "budgets", "--demo", "--scope", estate.NONPROD_SUBSCRIPTION, "--output", "json").stdout
    )
    assert next(b for b in listed if b["name"] == "budget-nonprod-monthly")["amount"] == 999
