"""Headless commands as a user runs them: `opsconsole ... --demo` in a subprocess, starting its own local Azure.

Cold starts use a fresh data dir and a small telemetry scale; nothing here asserts on time.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EmulatorThread

from console.emulator.server import EmulatorConfig
from console.errors import OpsError
from console.local import RECORD_FILE, PendingLocalAzure, ProgressLine, start_failure_sentence, telemetry_status

OPSCONSOLE = [str(Path(sys.executable).with_name("opsconsole"))]
# Telemetry small enough that a cold start takes seconds, large enough that slot-health sees requests.
SCALE = "0.05"


def environment(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment with the console's config and data dirs under `home`, and no sign-in."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "IDENTITY_", "MSI_", "AZURE_", "IMDS_"))
    }
    env.update(
        OPSCONSOLE_DATA_DIR=str(home / "data"),
        OPSCONSOLE_CONFIG_DIR=str(home / "config"),
        OPSCONSOLE_DEMO_TELEMETRY_SCALE=SCALE,
        HOME=str(home),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OPSCONSOLE, *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_cold_demo_query_waits_for_the_telemetry_and_answers_from_all_of_it(tmp_path: Path) -> None:
    """No local Azure running: the query starts one, waits until the telemetry its timespan covers has
    arrived (the newest first), exits 0 with a whole answer."""
    env = environment(tmp_path)
    master, slave = pty.openpty()  # stderr on a terminal: the wait shows its progress there
    process = subprocess.Popen(
        [*OPSCONSOLE, "query", "AppRequests | count", "--demo", "--output", "json"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    try:
        stdout, _ = process.communicate(timeout=180)
        stderr = _drain(master)
    finally:
        os.close(master)
    assert process.returncode == 0, stderr
    assert json.loads(stdout)[0]["Count"] > 0
    assert "partial" not in stderr and "still being loaded" not in stderr
    assert "loading the local Azure's telemetry" in stderr, stderr


def test_cold_demo_runbook_judges_complete_data_and_is_quiet_when_not_on_a_terminal(tmp_path: Path) -> None:
    result = run(["runbook", "run", "slot-health", "--demo", "--output", "json"], environment(tmp_path))
    body = json.loads(result.stdout)
    assert result.returncode in (0, 1), result.stderr
    assert body["status"] in ("pass", "fail")
    assert all(step["status"] != "inconclusive" and step["partial"] is None for step in body["steps"]), body
    assert body["steps"][0]["observed"] > 0, body["steps"][0]
    assert result.stderr == ""  # stderr is a pipe: no progress line


def test_progress_line_draws_only_on_a_terminal(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    with open(slave, "w", encoding="utf-8", closefd=True) as terminal, open(tmp_path / "log", "w") as file:
        on_terminal, on_file = ProgressLine(terminal), ProgressLine(file)
        for progress in (0.25, 1.0):
            on_terminal(progress)
            on_file(progress)
        on_terminal.finish()
        on_file.finish()
    text = _drain(master)
    os.close(master)
    assert " 25%" in text and "100%" in text and text.endswith("\n")
    assert (tmp_path / "log").read_text() == ""


def test_ctrl_c_during_a_long_query_ends_the_command_at_once_with_130(tmp_path: Path) -> None:
    """Interrupted mid-query, the command stops its local Azure without waiting for the query to end."""
    env = environment(tmp_path)
    slow = (
        "range x from 1 to 200000 step 1 | extend k = 1"
        " | join kind=inner (range y from 1 to 200000 step 1 | extend k = 1) on k | count"
    )
    process = subprocess.Popen(
        [*OPSCONSOLE, "query", slow, "--demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    readiness: dict[str, object] = {}
    try:
        record = tmp_path / "data" / "local-azure" / RECORD_FILE
        _wait_until(record.exists, process, what="the local Azure's record")
        readiness = json.loads(record.read_text())
        _wait_until(lambda: _ready(readiness), process, what="telemetry")
        time.sleep(1.0)  # the command sends its query now; an earlier Ctrl-C must end the same way
        interrupted_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        took = time.monotonic() - interrupted_at
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        # The local Azure it started finishes its query and stops on its own; this test does not wait for that.
        with contextlib.suppress(ProcessLookupError, KeyError, TypeError):
            os.kill(int(str(readiness["pid"])), signal.SIGKILL)
    print(f"Ctrl-C to exit: {took:.2f} s")
    assert process.returncode == 130, stderr
    assert stderr.strip() == "opsconsole: interrupted."
    assert stdout == ""


def test_a_held_data_dir_without_a_record_is_one_sentence_and_exit_3(tmp_path: Path) -> None:
    """Another process holds the local Azure's store but left no record: the child cannot start."""
    holder = EmulatorThread(
        EmulatorConfig(data_dir=tmp_path / "data" / "local-azure", telemetry_scale=0.01, live_traffic=False)
    )
    holder.start()
    try:
        assert not (tmp_path / "data" / "local-azure" / RECORD_FILE).exists()
        result = run(["query", "print 1", "--demo"], environment(tmp_path), timeout=60)
    finally:
        holder.stop()
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is in use by another process" in lines[0] and "OPSCONSOLE_DATA_DIR" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_data_dir_held_for_a_moment_is_waited_for(tmp_path: Path) -> None:
    """A local Azure still stopping (its console just quit) holds the store a moment: a new start waits for it."""
    store = tmp_path / "data" / "local-azure" / "local-azure.duckdb"
    store.parent.mkdir(parents=True)
    hold = "import duckdb, sys, time; duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(3)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(store)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run(["query", "print answer = 42", "--demo", "--output", "json"], environment(tmp_path))
    finally:
        holder.wait(30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"answer": 42}]


def test_a_data_dir_that_cannot_be_made_is_one_sentence_and_exit_3(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data dir should be")
    result = run(["query", "print 1", "--demo"], environment(tmp_path), timeout=60)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not be started in" in lines[0] and "OPSCONSOLE_DATA_DIR" in lines[0]


def test_a_crash_at_start_is_told_by_the_last_line_of_its_traceback(tmp_path: Path) -> None:
    log = (
        "Traceback (most recent call last):\n"
        '  File "server.py", line 273, in start_emulator\n'
        "    router = ArmRouter(store)\n"
        "AttributeError: 'ArmRouter' object has no attribute '_group_exists'\n"
    )
    sentence = start_failure_sentence(log, tmp_path / "emulator.log")
    assert sentence == (
        "The local Azure did not start: AttributeError: 'ArmRouter' object has no attribute '_group_exists' "
        f"(its log: {tmp_path / 'emulator.log'})."
    )
    said = start_failure_sentence("local Azure: could not start: port 80 is taken.\n", tmp_path / "x.log")
    assert said.startswith("The local Azure did not start: port 80 is taken (its log")


def test_a_child_that_never_says_it_is_ready_is_given_up_on(tmp_path: Path) -> None:
    """Waiting for the readiness line is bounded even when the child neither prints nor exits."""
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    with pytest.raises(OpsError) as raised:
        PendingLocalAzure(silent, tmp_path / "emulator.log").wait(timeout=1)
    assert silent.poll() is not None  # and it was stopped
    assert str(raised.value).startswith("The local Azure did not say it was ready within 1 s")


def test_no_sign_in_is_one_sentence_saying_what_to_do(tmp_path: Path) -> None:
    """DefaultAzureCredential finds nothing (developer credentials only, so no network is tried)."""
    result = run(["query", "print 1"], environment(tmp_path, AZURE_TOKEN_CREDENTIALS="dev"), timeout=60)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Could not sign in to Azure" in lines[0]
    assert "`az login`" in lines[0] and "--demo" in lines[0]


# helpers ---------------------------------------------------------------------------------------


def _drain(master: int) -> str:
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        output += chunk
    return output.decode("utf-8", errors="replace")


def _ready(readiness: dict[str, object]) -> bool:
    with contextlib.suppress(Exception):
        return telemetry_status(readiness).ready
    return False


def _wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[str], *, what: str, limit_s: float = 120
) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the command ended before {what} was there: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come within {limit_s} s")
        time.sleep(0.1)
