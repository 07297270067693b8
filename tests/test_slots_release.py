"""Releases that watch themselves, on a local Azure with live traffic: a guarded swap promotes a good build and
swaps a bad one back, a ramp stops at the step that breaches, and routing shifts the live traffic.

The local Azure here is this module's own, with full-scale telemetry (about one request a second to the
checkout app) and live traffic every half second. The gate judges the mean request duration, which tells
the bad build (~640 ms median) from the good ones (~110 ms) within a few requests.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import EmulatorThread, demo_environment, invoke, module_azure, use_identity

from console.cloud import local_profile
from console.exit_codes import ExitCode
from console.local import telemetry_status
from console.models import Gate, GateReading
from console.services import Services, make_services
from console.services.slots import ReleaseStop
from console.settings import Settings

CHECKOUT, CATALOG = "app-checkout-prod", "app-catalog-prod"
BAD, GOOD = "2026.11.5-rc1", "2026.11.4"

SLOT_SPEED = """AppRequests
| where TimeGenerated > max_of(since, ago(10m)) and AppRoleName == app and tostring(Properties.slot) == {slot}
| summarize n = count(), avg_ms = avg(DurationMs)
| extend avg_ms = iff(n == 0, 0.0, round(avg_ms, 1))"""
SPEED_CHECK = "value(avg_ms) <= 400"
SLOT_GATE = Gate(kql=SLOT_SPEED.format(slot="slot"), check=SPEED_CHECK)
"""The slot's own traffic: before a swap the candidate's, after it production's."""
PRODUCTION_GATE = Gate(kql=SLOT_SPEED.format(slot="'production'"), check=SPEED_CHECK)
"""Production's traffic only (a gate may judge what it likes): the bad build passes its pre-flight."""


def telemetry_arrived(emulator: EmulatorThread) -> None:
    """Return once the local Azure's telemetry has all arrived."""
    for _ in range(600):  # bounded by attempts: the seed takes tens of seconds
        if telemetry_status(emulator.readiness).ready:
            return
        time.sleep(0.5)
    raise AssertionError("the local Azure's telemetry never arrived")


live_azure = module_azure(
    "slots-live",
    page_size=50,
    telemetry_scale=1.0,
    live_traffic=True,
    traffic_interval_s=0.5,
    seed_delay_s=0,
    then=telemetry_arrived,
)


@pytest.fixture
async def services(
    live_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Services]:
    use_identity(monkeypatch, live_azure)
    made = make_services(
        Settings(data_dir=tmp_path / "data", retry_total=1, refresh_seconds=0),
        profile=local_profile(live_azure.readiness),
    )
    yield made
    await made.close()


async def test_a_guarded_swap_promotes_the_good_build(services: Services) -> None:
    readings: list[GateReading] = []
    outcome = await services.slots.guarded_swap(
        CATALOG,
        "staging",
        SLOT_GATE,
        watch=timedelta(seconds=8),
        interval=timedelta(seconds=4),
        on_reading=readings.append,
    )
    assert outcome.decision == "promoted", outcome.sentence
    assert outcome.where == {"production": GOOD, "staging": "2026.11.3"}
    assert [r.verdict for r in readings] == ["pass"] * len(readings) and len(readings) >= 3
    assert outcome.readings == tuple(readings)


async def test_a_guarded_swap_swaps_the_bad_build_back_and_says_why(services: Services) -> None:
    readings: list[GateReading] = []
    outcome = await services.slots.guarded_swap(
        CHECKOUT,
        "staging",
        PRODUCTION_GATE,
        watch=timedelta(seconds=30),
        interval=timedelta(seconds=5),
        on_reading=readings.append,
    )
    assert outcome.decision == "rolled back", outcome.sentence
    assert outcome.where["production"] == GOOD and outcome.where["staging"] == BAD
    assert readings[0].verdict == "pass"  # the pre-flight: production before the swap
    assert readings[-1].verdict == "fail" and readings[-1].observed["gate"] > 400
    assert "was breached" in outcome.sentence and "avg_ms is" in outcome.sentence
    swaps = [e for e in services.context.journal.entries() if e["action"] == "swap slots" and e["phase"] == "intent"]
    assert [e["parameters"]["note"] for e in swaps] == [None, "guarded rollback"]
    rollback_done = [
        e for e in services.context.journal.entries() if e.get("operation_id") == swaps[-1]["operation_id"]
    ]
    assert rollback_done[-1]["result"] == "succeeded"


async def test_a_ramp_stops_at_the_step_that_breaches_and_routes_everything_back(services: Services) -> None:
    steps: list[float] = [20, 60]
    outcome = await services.slots.ramp(
        CHECKOUT, "staging", steps, timedelta(seconds=15), SLOT_GATE, interval=timedelta(seconds=5)
    )
    assert outcome.decision == "rolled back", outcome.sentence
    app = await services.slots.find_app(CHECKOUT)
    assert all(slot.routing_percent == 0 for slot in app.slots)
    assert app.where["production"] == GOOD  # never swapped
    assert any(f"Stopped at {step:g}%" in outcome.sentence for step in steps)
    verdicts = [r.verdict for r in outcome.readings]
    assert verdicts[-1] == "fail" and set(verdicts[:-1]) <= {"pass"}  # it stopped at the first breach


async def test_too_little_traffic_in_a_step_waits_for_the_hold_and_never_promotes(services: Services) -> None:
    thin = Gate(runbook="slot-health", parameters=(("min_requests", "100000000"),))
    outcome = await services.slots.ramp(
        CATALOG, "staging", [20], timedelta(seconds=7), thin, interval=timedelta(seconds=2)
    )
    assert outcome.decision == "inconclusive", outcome.sentence
    assert "the watch ended without a clean pass" in outcome.sentence
    assert len(outcome.readings) >= 4 and all(r.too_little for r in outcome.readings)  # not stopped at 3 misses
    app = await services.slots.find_app(CATALOG)
    assert all(slot.routing_percent == 0 for slot in app.slots)


async def test_routing_shifts_the_live_traffic_to_the_slot(services: Services) -> None:
    slots = services.slots
    await slots.set_routing(CATALOG, "staging", 50)
    since = datetime.now(UTC)
    workspace = await services.logs.find_workspace(services.resources, None)
    query = (
        f"AppRequests | where TimeGenerated > datetime({since.isoformat().replace('+00:00', 'Z')}) "
        f"and AppRoleName == '{CATALOG}' "
        "| summarize n = count(), routed = countif(tostring(Properties.slot) == 'staging')"
    )
    try:
        for _ in range(60):
            await asyncio.sleep(0.5)
            row = (await services.logs.query(workspace.customer_id, query, None)).table.to_pylist()[0]
            if row["n"] >= 12:
                break
        assert row["n"] >= 12
        assert row["routed"] / row["n"] > 0.2  # ~53% expected (50% routed, plus staging's own 6%)
    finally:
        await slots.set_routing(CATALOG, "staging", 0)


class StopWhen:
    """Stops a release (keeping or rolling back) after `readings` gate readings, or once traffic is routed."""

    def __init__(self, roll_back: bool, readings: int = 0) -> None:
        self.stop = ReleaseStop()
        self.roll_back, self.after = roll_back, readings
        self.readings: list[GateReading] = []
        self.shares: list[float] = []

    def reading(self, reading: GateReading) -> None:
        self.readings.append(reading)
        if len(self.readings) == self.after:
            self.stop.request(self.roll_back)

    def share(self, share: float) -> None:
        self.shares.append(share)
        if share:
            self.stop.request(self.roll_back)


async def test_a_release_stopped_after_the_swap_keeps_or_rolls_back_as_told(services: Services) -> None:
    before = (await services.slots.find_app(CATALOG)).where
    swapped = {"production": before["staging"], "staging": before["production"]}
    for roll_back, decision, where in ((True, "rolled back", before), (False, "kept", swapped)):
        when = StopWhen(roll_back, readings=2)  # the pre-flight reading, then the first on production
        outcome = await services.slots.guarded_swap(
            CATALOG,
            "staging",
            SLOT_GATE,
            watch=timedelta(minutes=5),
            interval=timedelta(seconds=2),
            on_reading=when.reading,
            stop=when.stop,
        )
        assert outcome.decision == decision, outcome.sentence
        assert len(outcome.readings) == 2 and "stopped by the user" in outcome.sentence
        assert outcome.where == where and (await services.slots.find_app(CATALOG)).where == where
    await services.slots.swap(CATALOG, "staging", confirmed=True)  # as the module found it
    assert (await services.slots.find_app(CATALOG)).where == before


async def test_a_ramp_stopped_mid_step_keeps_its_routing_or_sends_traffic_back(services: Services) -> None:
    for roll_back, decision, share in ((False, "kept", 30.0), (True, "rolled back", 0.0)):
        when = StopWhen(roll_back)
        outcome = await services.slots.ramp(
            CATALOG,
            "staging",
            [30, 60],
            timedelta(minutes=5),
            SLOT_GATE,
            interval=timedelta(seconds=2),
            stop=when.stop,
            on_share=when.share,
        )
        assert outcome.decision == decision, outcome.sentence
        assert "Stopped at 30%" in outcome.sentence
        app = await services.slots.find_app(CATALOG)
        assert next(slot.routing_percent for slot in app.slots if slot.name == "staging") == share
        assert when.shares == ([30.0, 0.0] if roll_back else [30.0])
    await services.slots.set_routing(CATALOG, "staging", 0, confirmed=True)


# headless: `opsconsole slots ...` and the pipeline example, on the same local Azure --------------------

WORKFLOW = Path(__file__).resolve().parent.parent / "examples" / "github-actions" / "release.yml"
OPSCONSOLE = Path(sys.executable).with_name("opsconsole")


@pytest.fixture
def demo_home(live_azure: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Config and data dirs of this test, with `--demo` pointed at the module's local Azure through its record."""
    return demo_environment(live_azure, tmp_path, monkeypatch)


def test_headless_list_diff_and_a_guarded_swap_that_rolls_back_exits_6(demo_home: dict[str, str]) -> None:
    listed = invoke("slots", "list", "--demo", "--output", "json")
    assert listed.exit_code == 0, listed.output
    rows = {(row["app"], row["slot"]): row for row in json.loads(listed.stdout)}
    assert rows[(CHECKOUT, "staging")]["build"] == BAD and rows[(CHECKOUT, "production")]["build"] == GOOD
    diff = invoke("slots", "diff", CHECKOUT, "--slot", "staging", "--demo")
    version = next(line for line in diff.stdout.splitlines() if line.startswith("APP_VERSION"))
    assert diff.exit_code == 0 and "••••••" in version and BAD not in version  # values masked; the image is shown
    refused = invoke("slots", "swap", CHECKOUT, "--slot", "staging", "--demo")  # no terminal, no --yes
    assert refused.exit_code == ExitCode.REFUSED and "pass --yes" in refused.stderr
    released = invoke(
        "slots", "swap", CHECKOUT, "--slot", "staging", "--demo", "--yes",
        "--guard", PRODUCTION_GATE.kql or "", "--check", SPEED_CHECK, "--watch", "30s", "--interval", "5s",
    )  # fmt: skip
    assert released.exit_code == ExitCode.ROLLED_BACK, released.output
    assert "ROLLED BACK:" in released.stdout and f"where: production {GOOD}" in released.stdout
    assert "FAIL" in released.stdout and "Traceback" not in released.output


def test_ctrl_c_during_a_headless_release_without_a_terminal_rolls_back_and_exits_6(
    demo_home: dict[str, str],
) -> None:
    before = json.loads(invoke("slots", "list", CATALOG, "--demo", "--output", "json").stdout)
    command = [
        str(OPSCONSOLE), "slots", "swap", CATALOG, "--slot", "staging", "--demo", "--yes",
        "--guard", SLOT_GATE.kql or "", "--check", SPEED_CHECK, "--watch", "5m", "--interval", "2s",
    ]  # fmt: skip
    env = {**os.environ, **demo_home}
    release = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert release.stdout is not None
    readings = 0
    for line in release.stdout:  # ends when the process does: the test cannot hang here
        readings += " PASS " in line
        if readings == 2:  # the pre-flight reading, then the first on production
            release.send_signal(signal.SIGINT)
            break
    rest, errors = release.communicate(timeout=120)
    assert release.returncode == ExitCode.ROLLED_BACK, rest + errors
    assert "Stopping the release" in errors and "Traceback" not in errors
    assert "ROLLED BACK:" in rest and "stopped by the user" in rest
    after = json.loads(invoke("slots", "list", CATALOG, "--demo", "--output", "json").stdout)
    assert after == before


def _expression(text: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    """The value of a `${{ }}` expression of the kinds the example uses: `a || 'literal'`, inputs, step outputs."""
    for operand in text.split("||"):
        operand = operand.strip()
        if operand.startswith("'"):
            return operand.strip("'")
        if operand.startswith("inputs."):
            value = inputs.get(operand.removeprefix("inputs."), "")
        elif operand.startswith("steps."):
            _, step, _, key = operand.split(".")
            value = outputs.get(step, {}).get(key, "")
        elif operand.startswith("secrets."):
            value = ""
        else:
            raise AssertionError(f"the test does not know the expression {operand!r}")
        if value:
            return value
    return ""


def _substitute(text: str, inputs: dict[str, str], outputs: dict[str, dict[str, str]]) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _expression(m.group(1), inputs, outputs), text)


def _condition(text: str | None, failed: bool, outputs: dict[str, dict[str, str]]) -> bool:
    """GitHub's `if:` for the forms the example uses (no `if` is success())."""
    if text is None:
        return not failed

    def output(match: re.Match[str]) -> str:
        return repr(outputs.get(match.group(1), {}).get(match.group(2), ""))

    python = re.sub(r"steps\.([\w-]+)\.outputs\.(\w+)", output, text)
    python = python.replace("&&", " and ").replace("||", " or ")
    python = python.replace("failure()", str(failed)).replace("always()", "True").replace("success()", str(not failed))
    return bool(eval(python, {"__builtins__": {}}, {}))  # the example's own conditions, nothing else


def run_workflow(
    env: dict[str, str], tmp_path: Path, inputs: dict[str, str], only: set[str] | None = None
) -> dict[str, int | None]:
    """Run the example's steps as a runner would (shell steps in bash -eo pipefail, `if:` honoured, outputs
    passed on), with `opsconsole` meaning `opsconsole --demo`. Returns each step's exit status (None: skipped)."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    (shim / "opsconsole").write_text(f'#!/bin/sh\nexec "{OPSCONSOLE}" --demo "$@"\n', encoding="utf-8")
    (shim / "opsconsole").chmod(0o755)
    outputs: dict[str, dict[str, str]] = {}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "IDENTITY_", "MSI_", "AZURE_"))}
    base.update(env, PATH=f"{shim}:{os.environ['PATH']}", HOME=str(tmp_path))
    base.update({k: _substitute(str(v), inputs, outputs) for k, v in workflow["env"].items()})
    failed, codes = False, {}
    for step in workflow["jobs"]["release"]["steps"]:
        name = step.get("name") or step.get("uses")
        if "run" not in step or "pip install" in step["run"]:
            continue
        if (only is not None and name not in only) or not _condition(step.get("if"), failed, outputs):
            codes[name] = None
            continue
        output_file = tmp_path / "github-output"
        output_file.write_text("", encoding="utf-8")
        script = _substitute(step["run"], inputs, outputs)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            env={**base, "GITHUB_OUTPUT": str(output_file)},
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode != ExitCode.USAGE, f"{name}: {done.stderr}"  # the example must not rot
        codes[name] = done.returncode
        if "id" in step:
            lines = output_file.read_text(encoding="utf-8").splitlines()
            outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
        failed = failed or done.returncode != 0
    return codes


def test_the_pipeline_example_signs_in_with_oidc_and_each_opsconsole_step_runs(
    demo_home: dict[str, str], tmp_path: Path
) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert workflow["permissions"]["id-token"] == "write"
    steps = workflow["jobs"]["release"]["steps"]
    login = next(step for step in steps if str(step.get("uses", "")).startswith("azure/login@"))
    assert set(login["with"]) >= {"client-id", "tenant-id", "subscription-id"} and "creds" not in login["with"]
    commands = [step["name"] for step in steps if "opsconsole " in step.get("run", "") and "pip" not in step["run"]]
    assert len(commands) >= 5

    # As a runner runs it, for the app whose staging slot holds the bad build: the pre-check stops it.
    codes = run_workflow(demo_home, tmp_path, {"app": CHECKOUT, "slot": "staging"})
    assert codes["What will change"] == 0
    assert codes["Pre-check the staging slot"] == ExitCode.CHECK_FAILED
    assert codes["Guarded swap into production"] is None  # skipped after the failure
    assert codes["Where each build runs now"] == 0  # always()
    assert codes["Roll back on failure"] is None  # nothing of this run's to swap back

    # The release steps on their own (as if the pre-check had passed): the gate's pre-flight on the staging
    # slot refuses the bad build (exit 1, nothing swapped), and a rollback finds no swap of this run.
    release = {"Note when the release starts", "Guarded swap into production", "Roll back on failure"}
    codes = run_workflow(demo_home, tmp_path, {"app": CHECKOUT, "slot": "staging"}, only=release)
    assert codes["Guarded swap into production"] == ExitCode.CHECK_FAILED
    assert codes["Roll back on failure"] is None  # code 1: the condition holds back the rollback
    rollback = next(step["run"] for step in steps if step.get("name") == "Roll back on failure")
    script = _substitute(rollback, {}, {"start": {"at": "2026-01-01T00:00:00Z"}})
    env = {**os.environ, **demo_home, "APP": CHECKOUT, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == ExitCode.REFUSED and "Nothing to roll back" in done.stderr, done.stderr
