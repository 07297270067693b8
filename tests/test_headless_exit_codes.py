"""The exit-code table: shown in `opsconsole --help`, and every code in it reached by a real command.

Commands run in-process through click's runner against a real local Azure: the session's (reused through
its record, as `--demo` does), or one whose telemetry never arrives, for the inconclusive verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from conftest import EmulatorThread, invoke, isolated_home, module_azure, reuse

from console import local
from console.errors import ErrorKind, OpsError
from console.exit_codes import ExitCode, exit_code_for, help_table

ONE_ROW_RUNBOOK = """---
title: One row
parameters:
  - name: wanted
    type: int
    default: 0
---
A step whose check holds only when the query returns `wanted` rows (one, once telemetry is there).

```kql name="rows" check="rows == wanted"
AppRequests | take 1
```
"""


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Config and data dirs of this test only; returns the data dir."""
    return isolated_home(tmp_path, monkeypatch)


@pytest.fixture
def demo(isolated: Path, local_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> Path:
    reuse(isolated, local_azure, monkeypatch)
    return isolated


arriving = module_azure("arriving", seed_delay_s=3600)
"""A local Azure whose telemetry is still arriving for the whole module (its seed waits an hour)."""


@pytest.fixture
def runbook_file(tmp_path: Path) -> Path:
    path = tmp_path / "one-row.md"
    path.write_text(ONE_ROW_RUNBOOK, encoding="utf-8")
    return path


def test_help_prints_the_whole_table(isolated: Path) -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for code in ExitCode:
        assert f"  {code.value}  {code.meaning}" in result.stdout
    assert help_table().splitlines()[0] in result.stdout


# one real command per code ----------------------------------------------------------------------


def reach_ok(data_dir: Path, runbook: Path) -> Result:
    return invoke("query", "print n = 1", "--demo", "--output", "json")


def reach_check_failed(data_dir: Path, runbook: Path) -> Result:
    return invoke("runbook", "run", str(runbook), "--demo")


def reach_usage(data_dir: Path, runbook: Path) -> Result:
    return invoke("query", "print n = 1", "--demo", "--workspace", "law-nowhere")


def reach_azure_error(data_dir: Path, runbook: Path) -> Result:
    return invoke("query", "Heartbeat | wherex Computer", "--demo")


REACH: dict[ExitCode, Callable[[Path, Path], Result]] = {
    ExitCode.OK: reach_ok,
    ExitCode.CHECK_FAILED: reach_check_failed,
    ExitCode.USAGE: reach_usage,
    ExitCode.AZURE_ERROR: reach_azure_error,
}
# Reached in their own tests below (they need another local Azure or another command).
ELSEWHERE = {
    ExitCode.INCONCLUSIVE: "test_a_runbook_on_telemetry_still_arriving_is_inconclusive_and_exits_4",
    ExitCode.REFUSED: "test_slots_release.py::test_headless_list_diff_and_a_guarded_swap_that_rolls_back_exits_6",
    ExitCode.ROLLED_BACK: "test_slots_release.py::test_headless_list_diff_and_a_guarded_swap_that_rolls_back_exits_6",
}


def test_every_code_in_the_table_has_a_way_to_reach_it() -> None:
    assert set(REACH) | set(ELSEWHERE) == set(ExitCode)


@pytest.mark.parametrize("code", list(REACH), ids=[code.name for code in REACH])
def test_code_is_reachable(code: ExitCode, demo: Path, runbook_file: Path) -> None:
    result = REACH[code](demo, runbook_file)
    assert result.exit_code == code, result.output
    if code is not ExitCode.OK:
        assert result.stderr.startswith("opsconsole: ") or "FAIL" in result.stdout
    assert "Traceback" not in result.output


def test_a_runbook_on_telemetry_still_arriving_is_inconclusive_and_exits_4(
    isolated: Path, arriving: EmulatorThread, runbook_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waiting for telemetry is bounded; past the bound the command answers, and a check on what it got
    decides nothing."""
    reuse(isolated, arriving, monkeypatch)
    monkeypatch.setattr(local, "TELEMETRY_WAIT_S", 0.5)
    result = invoke("runbook", "run", str(runbook_file), "--demo", "--param", "wanted=1", "--output", "json")
    assert result.exit_code == ExitCode.INCONCLUSIVE, result.output
    body = json.loads(result.stdout)
    step = body["steps"][0]
    assert body["status"] == "inconclusive" and step["status"] == "inconclusive"
    assert "Inconclusive, the result is partial" in step["sentence"]
    assert step["partial"]
    assert "still loading after 0.5 s" in result.stderr


def test_runbook_table_output_marks_the_inconclusive_step(
    isolated: Path, arriving: EmulatorThread, runbook_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reuse(isolated, arriving, monkeypatch)
    monkeypatch.setattr(local, "TELEMETRY_WAIT_S", 0.5)
    result = invoke("runbook", "run", str(runbook_file), "--demo")
    assert result.exit_code == ExitCode.INCONCLUSIVE, result.output
    assert "One row (one-row): INCONCLUSIVE  [1 inconclusive]" in result.stdout
    assert "  INCONCLUSIVE rows: Inconclusive, the result is partial" in result.stdout


def test_a_query_on_partial_data_prints_its_rows_and_exits_4(
    isolated: Path, arriving: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    reuse(isolated, arriving, monkeypatch)
    monkeypatch.setattr(local, "TELEMETRY_WAIT_S", 0.5)
    result = invoke("query", "AppRequests | count", "--demo", "--output", "json")
    assert result.exit_code == ExitCode.INCONCLUSIVE, result.output
    assert json.loads(result.stdout) == [{"Count": 0}]
    assert result.stderr.splitlines()[-1].startswith("opsconsole: the result is partial: ")


def test_a_failed_check_on_complete_data_exits_1_and_a_bad_parameter_2(demo: Path, runbook_file: Path) -> None:
    failed = invoke("runbook", "run", str(runbook_file), "--demo", "--output", "json")
    assert failed.exit_code == ExitCode.CHECK_FAILED
    assert json.loads(failed.stdout)["steps"][0]["status"] == "fail"
    held = invoke("runbook", "run", str(runbook_file), "--demo", "--param", "wanted=1")
    assert held.exit_code == ExitCode.OK, held.output
    bad = invoke("runbook", "run", str(runbook_file), "--demo", "--param", "wanted=many")
    assert bad.exit_code == ExitCode.USAGE and "wanted" in bad.stderr


def test_how_errors_map_to_codes() -> None:
    assert exit_code_for(OpsError(ErrorKind.READ_ONLY, "Refused.")) is ExitCode.REFUSED
    assert exit_code_for(OpsError(ErrorKind.NOT_FOUND, "No workspace is called 'x'.")) is ExitCode.USAGE
    assert exit_code_for(OpsError(ErrorKind.NOT_FOUND, "Not found.", request_id="r-1")) is ExitCode.AZURE_ERROR
    assert exit_code_for(OpsError(ErrorKind.AUTH, "Could not sign in.")) is ExitCode.AZURE_ERROR


def test_demo_commands_reach_the_local_azure_past_a_configured_proxy(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy for the outside world (here one that answers nothing) is not used for the loopback local Azure."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "example.invalid")  # restored after the test, with what --demo adds to it
    result = invoke("query", "print n = 1", "--demo", "--output", "json")
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.stdout) == [{"n": 1}]


def test_an_unknown_cloud_setting_is_a_usage_error_not_a_traceback(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSCONSOLE_CLOUD", "AzureMoon")
    result = invoke("query", "print n = 1")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip().splitlines() == [
        "opsconsole: Unknown cloud 'AzureMoon'; expected one of AzureCloud, AzureUSGovernment, AzureChinaCloud."
    ]
