"""Every shipped runbook run against the local Azure, through the service and through `opsconsole runbook run`.

Expectations follow the seeded estate (console/emulator/telemetry.py): a build agent that went silent two
hours before the seed, failed and forbidden operations in the activity log, the bad 2026.11.5-rc1 build
in app-checkout-prod's staging slot and in app-checkout-stg's production slot, healthy builds elsewhere.
The session's local Azure has a telemetry scale of 0.01 and no live traffic, so windows are set wide
enough to hold a few dozen requests and thresholds far from the observed values: the outcomes do not
hinge on a handful of random rows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import EmulatorThread, identity_environment

from console.cli import main
from console.emulator import estate
from console.emulator.server import write_record
from console.emulator.telemetry import SILENT_COMPUTER
from console.models import RunbookRun
from console.runbooks import RunbookError, load_runbooks, shipped_runbooks_dir
from console.services import Services

WORKSPACE = estate.WORKSPACE_CUSTOMER_ID
LOGS_READY_TIMEOUT_S = 60.0
_logs_ready = False


async def wait_for_logs(services: Services) -> None:
    """Wait until the workspace answers whole results (seeding runs in the background at start-up)."""
    global _logs_ready
    if _logs_ready:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LOGS_READY_TIMEOUT_S
    while True:
        result = await services.logs.query(WORKSPACE, "AppRequests | count", None)
        if result.partial_error is None and result.row_count == 1:
            _logs_ready = True
            return
        if loop.time() > deadline:
            raise AssertionError(f"the workspace still answers partial results: {result.partial_error}")
        await asyncio.sleep(0.5)


async def run_runbook(services: Services, name: str, params: dict[str, str]) -> RunbookRun:
    await wait_for_logs(services)
    try:
        return await services.runbooks.run(services.runbooks.find(name), params, WORKSPACE)
    finally:
        await services.close()


def step(run: RunbookRun, name: str) -> Any:
    return next(s for s in run.steps if s.name == name)


# (runbook, parameters, expected status, the checked steps expected to fail)
CASES: list[tuple[str, dict[str, str], str, set[str]]] = [
    # 3% of administrative operations end in Conflict, and a contractor was refused on the key vault 26 h ago.
    ("activity-failures", {"window": "2d"}, "fail", {"failed operations", "authorization errors"}),
    ("activity-failures", {"resource_group": "rg-does-not-exist"}, "pass", set()),
    # Overall app-checkout-prod is fine, but its staging slot runs the bad 2026.11.5-rc1 build (~18% failures).
    ("app-failure-rate", {"window": "1d"}, "fail", {"failures by slot and build"}),
    ("app-failure-rate", {"app": "app-catalog-prod", "window": "1d"}, "pass", set()),
    ("app-failure-rate", {"app": "app-payments-prod", "window": "1d"}, "pass", set()),
    # app-checkout-stg serves the same build in production.
    (
        "app-failure-rate",
        {"app": "app-checkout-stg", "window": "1d"},
        "fail",
        {"failure rate", "failures by slot and build"},
    ),
    # Last night's backup of vm-build-agent-02 failed; three nights ago PostgreSQL only warned.
    ("backup-failures", {}, "fail", {"failed backup jobs"}),
    ("backup-failures", {"window": "5d"}, "fail", {"failed backup jobs"}),
    ("dependency-failures", {"window": "1d"}, "pass", set()),
    ("error-traces", {"window": "1d"}, "pass", set()),
    ("error-traces", {"window": "7d", "max_errors": "5"}, "fail", {"apps over the error limit"}),
    ("exception-spike", {}, "pass", set()),
    ("missing-heartbeats", {"silence": "1h"}, "fail", {"silent machines"}),
    ("noisy-alerts", {}, "pass", set()),
    ("noisy-alerts", {"max_fires_per_day": "0.1"}, "fail", {"noisy rules"}),
    ("requests-per-app-per-day", {}, "pass", set()),
    ("requests-per-app-per-day", {"max_daily_requests": "10"}, "fail", {"daily volume above limit"}),
    ("slot-health", {"window": "3h"}, "pass", set()),
    ("slot-health", {"slot": "staging", "window": "7d"}, "fail", {"failure rate", "p95 latency"}),
    ("slot-health", {"app": "app-checkout-stg", "window": "1d"}, "fail", {"failure rate", "p95 latency"}),
    ("slow-requests", {"window": "1d"}, "pass", set()),
    ("slow-requests", {"window": "1d", "p95_limit_ms": "50"}, "fail", {"p95 by operation"}),
]


def test_every_shipped_runbook_has_a_case() -> None:
    shipped = {runbook.name for runbook in load_runbooks(shipped_runbooks_dir())}
    assert shipped == {name for name, *_ in CASES}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("name", "params", "status", "failing"),
    CASES,
    ids=[f"{name}-{'-'.join(f'{k}={v}' for k, v in params.items()) or 'defaults'}" for name, params, *_ in CASES],
)
async def test_shipped_runbook_outcome(
    make_local_services: Callable[..., Services], name: str, params: dict[str, str], status: str, failing: set[str]
) -> None:
    services = make_local_services()
    run = await run_runbook(services, name, params)
    errors = {s.name: s.error for s in run.steps if s.error}
    assert not errors, errors
    assert {s.name for s in run.steps if s.status == "fail"} == failing, [s.sentence for s in run.steps]
    assert run.status == status
    for step_run in run.steps:
        assert step_run.result is not None and step_run.result.partial_error is None
        if step_run.check is not None:
            assert step_run.sentence.startswith(step_run.check)


@pytest.mark.asyncio
async def test_missing_heartbeats_names_the_silent_machine(make_local_services: Callable[..., Services]) -> None:
    run = await run_runbook(make_local_services(), "missing-heartbeats", {"silence": "1h"})
    silent = step(run, "silent machines")
    assert silent.result.table.column("Computer").to_pylist() == [SILENT_COMPUTER]
    assert silent.observed == 1
    reporting = step(run, "machines reporting").result.table.column("Computer").to_pylist()
    assert SILENT_COMPUTER in reporting and len(reporting) == len(estate.HEARTBEAT_COMPUTERS)


@pytest.mark.asyncio
@pytest.mark.parametrize(("app", "slot"), [("app-checkout-prod", "staging"), ("app-checkout-stg", "production")])
async def test_bad_build_tops_the_failure_breakdown(
    make_local_services: Callable[..., Services], app: str, slot: str
) -> None:
    run = await run_runbook(make_local_services(), "app-failure-rate", {"app": app, "window": "1d"})
    worst = step(run, "failures by slot and build").result.table.to_pylist()[0]
    assert (worst["slot"], worst["build"]) == (slot, "2026.11.5-rc1")
    assert step(run, "failures by slot and build").observed == worst["failure_pct"] > 5.0


@pytest.mark.asyncio
async def test_run_is_recorded_with_parameters_and_summary(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services()
    run = await run_runbook(services, "missing-heartbeats", {"silence": "1h"})
    entry = services.runbooks.history("missing-heartbeats")[0]
    assert entry["status"] == "fail" and entry["summary"] == run.summary()
    assert entry["parameters"]["silence"] == "1h"
    assert [s["name"] for s in entry["steps"]] == [s.name for s in run.steps]
    assert services.runbooks.last_runs()["missing-heartbeats"]["status"] == "fail"


@pytest.mark.asyncio
async def test_parameters_travel_as_a_prelude_not_in_the_text(make_local_services: Callable[..., Services]) -> None:
    hostile = 'app-checkout-prod" | take 1 //'
    run = await run_runbook(make_local_services(), "app-failure-rate", {"app": hostile, "window": "1d"})
    traffic = step(run, "traffic in window")
    assert traffic.query.startswith('let app = "app-checkout-prod\\" | take 1 //";\n')
    assert traffic.error is None and traffic.observed == 0 and traffic.status == "fail"


def test_bad_parameter_is_refused_before_any_query(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services()
    runbook = services.runbooks.find("slot-health")
    with pytest.raises(RunbookError, match="parameter 'window' must be a duration"):
        asyncio.run(services.runbooks.run(runbook, {"window": "notatime"}, WORKSPACE))
    assert services.runbooks.history() == []


# opsconsole runbook run ------------------------------------------------------------------------


@pytest.fixture
def demo_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_azure: EmulatorThread) -> Path:
    """Config and data dirs of this test, with an emulator record pointing at the session's local Azure."""
    monkeypatch.setenv("OPSCONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("OPSCONSOLE_DATA_DIR", str(tmp_path / "data"))
    for name in ("OPSCONSOLE_CONFIG", "OPSCONSOLE_WORKSPACE", "OPSCONSOLE_READ_ONLY", "OPSCONSOLE_SUBSCRIPTION"):
        monkeypatch.delenv(name, raising=False)
    emulator_dir = tmp_path / "data" / "local-azure"
    emulator_dir.mkdir(parents=True)
    write_record(emulator_dir, local_azure.readiness)
    return tmp_path / "data"


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["runbook", "run", *args, "--demo"], catch_exceptions=False)


@pytest.fixture
def logs_ready(make_local_services: Callable[..., Services]) -> None:
    async def check() -> None:
        services = make_local_services()
        try:
            await wait_for_logs(services)
        finally:
            await services.close()

    asyncio.run(check())


def test_cli_passing_runbook_exits_0(demo_data_dir: Path, logs_ready: None) -> None:
    result = run_cli("noisy-alerts")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Top noisy alerts (noisy-alerts): PASS")


def test_cli_failing_check_exits_1_with_json(demo_data_dir: Path, logs_ready: None) -> None:
    result = run_cli("missing-heartbeats", "--param", "silence=1h", "--output", "json")
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "fail" and body["workspace"] == WORKSPACE
    assert body["parameters"] == {"silence": "1h", "lookback": "1d"}
    steps = {s["name"]: s for s in body["steps"]}
    silent = steps["silent machines"]
    assert silent["query"].startswith("let silence = timespan(01:00:00);\nlet lookback = timespan(1.00:00:00);\n")
    assert silent["query"].endswith("| order by silent_minutes desc")
    assert silent["check"] == "rows == 0" and silent["rows"] == 1 and silent["observed"] == 1
    assert silent["status"] == "fail" and "returned 1 row" in silent["sentence"]
    assert steps["machines reporting"]["check"] is None and steps["machines reporting"]["rows"] == 4
    # The run is in the history of the data dir the command used.
    history = (demo_data_dir / "runbook-runs.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["status"] == "fail"


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        (["--param", "window=notatime"], "parameter 'window' must be a duration"),
        (["--param", "colour=blue"], "has no parameter 'colour'"),
        (["--param", "nonsense"], "is not name=value"),
    ],
)
def test_cli_bad_parameter_exits_2(demo_data_dir: Path, params: list[str], sentence: str) -> None:
    result = run_cli("slot-health", *params)
    assert result.exit_code == 2
    assert sentence in result.output
    assert "Traceback" not in result.output
    assert not (demo_data_dir / "runbook-runs.jsonl").exists()


def test_cli_unknown_runbook_exits_2(demo_data_dir: Path) -> None:
    result = run_cli("no-such-runbook")
    assert result.exit_code == 2
    assert "No runbook is called 'no-such-runbook'" in result.output


def test_cli_query_error_exits_3(demo_data_dir: Path, tmp_path: Path, logs_ready: None) -> None:
    path = tmp_path / "broken.md"
    path.write_text(
        "---\ntitle: Broken\n---\nA step that reads a table the workspace does not have.\n\n"
        '```kql name="ghost" check="rows == 0"\nNoSuchTable | take 5\n```\n',
        encoding="utf-8",
    )
    result = run_cli(str(path), "--output", "json")
    assert result.exit_code == 3, result.output
    body = json.loads(result.stdout)
    ghost = body["steps"][0]
    assert body["status"] == "error" and ghost["status"] == "error"
    assert "NoSuchTable" in ghost["error"] and ghost["rows"] is None


def test_a_step_run_while_telemetry_is_still_arriving_says_so(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check over a partial result must not look like a clean pass: the step carries the warning."""
    from console.cloud import local_profile
    from console.emulator.server import EmulatorConfig
    from console.services import make_services

    emulator = EmulatorThread(
        EmulatorConfig(data_dir=tmp_path / "azure", telemetry_scale=0.01, live_traffic=False, seed_delay_s=60)
    )
    readiness = emulator.start()
    for name, value in identity_environment(readiness).items():
        monkeypatch.setenv(name, value)

    async def check() -> RunbookRun:
        services = make_services(settings, profile=local_profile(readiness))
        try:
            return await services.runbooks.run(services.runbooks.find("missing-heartbeats"), {}, WORKSPACE)
        finally:
            await services.close()

    try:
        run = asyncio.run(check())
    finally:
        emulator.stop()
    assert all("Telemetry is still being loaded" in step.sentence for step in run.steps), run.steps
