"""The agent: read-only commands run in a fork of a process that has the SDK imported, with the same output and
exit codes as a fresh process; changing commands never go through it; an agent of other code is never used;
Ctrl-C reaches the command; its socket is the user's alone. Real subprocesses against the session's local Azure."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EmulatorThread, wait_for_telemetry

from console import agent
from console.emulator import estate
from console.emulator.server import write_record

OPSCONSOLE = str(Path(sys.executable).with_name("opsconsole"))


@pytest.fixture
def home(tmp_path: Path, local_azure: EmulatorThread) -> Iterator[dict[str, str]]:
    """An environment whose `--demo` reuses the session's local Azure, and whose agent is its own (stopped at
    the end)."""
    wait_for_telemetry(local_azure.readiness)  # a query run twice, once still loading, could answer differently
    data = tmp_path / "data"
    (data / "local-azure").mkdir(parents=True)
    write_record(data / "local-azure", local_azure.readiness)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "IDENTITY_", "AZURE_", "MSI_"))}
    env.update(
        OPSCONSOLE_DATA_DIR=str(data),
        OPSCONSOLE_CONFIG_DIR=str(tmp_path / "config"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        HOME=str(tmp_path),
    )
    yield env
    subprocess.run([OPSCONSOLE, "agent", "stop"], env=env, capture_output=True, timeout=60)
    until(lambda: status(env) is None, "the agent to stop")


def run(args: list[str], env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPSCONSOLE, *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def status(env: dict[str, str]) -> dict[str, Any] | None:
    done = run(["agent", "status"], env)
    if done.returncode == 1:
        return None
    assert done.returncode == 0, done.stderr
    found = re.search(r"pid (\d+), (\d+) commands run", done.stdout)
    assert found, done.stdout
    return {"pid": int(found[1]), "served": int(found[2])}


def until(condition: Callable[[], bool], what: str, attempts: int = 600) -> None:
    """Poll `condition` (bounded by attempts, never asserting on time)."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def start(env: dict[str, str], *args: str) -> dict[str, Any]:
    started = run(["agent", "start", *args], env)
    assert started.returncode == 0, started.stderr
    assert "agent running" in started.stdout
    found = status(env)
    assert found is not None
    return found


def without_request_ids(text: str) -> str:
    return re.sub(r"request id [0-9a-f-]+", "request id", text)


def test_read_only_commands_answer_through_the_agent_as_a_fresh_process_does(home: dict[str, str]) -> None:
    commands = [
        # The local Azure's live traffic adds rows between two runs: compare what it does not change.
        ["query", "AppRequests | distinct AppRoleName | order by AppRoleName", "--demo", "--timespan", "P7D",
         "--output", "csv"],
        ["query", "AppRequests | where", "--demo"],  # a syntax error: exit 3 and its sentence
        ["query", "AppRequests | take 1", "--demo", "--timespan", "nonsense"],  # a usage error: exit 2
        ["resources", "list", "--demo", "--subscription", estate.PROD_SUBSCRIPTION, "--output", "json"],
        ["--demo", "slots", "list", "app-checkout-prod", "--output", "json"],
        ["runbook", "list", "--demo", "--output", "json"],
    ]  # fmt: skip
    before = start(home)["served"]
    for command in commands:
        fresh = run(command, home, OPSCONSOLE_NO_AGENT="1")
        through_agent = run(command, home)
        assert through_agent.returncode == fresh.returncode, (command, through_agent.stderr)
        assert through_agent.stdout == fresh.stdout, command
        assert without_request_ids(through_agent.stderr) == without_request_ids(fresh.stderr), command
    assert [run(c, home).returncode for c in commands[1:3]] == [3, 2]
    after = status(home)
    assert after is not None and after["served"] == before + len(commands) + 2


def test_commands_that_change_something_or_ask_never_go_through_the_agent(home: dict[str, str]) -> None:
    before = start(home)["served"]
    refused = run(["slots", "swap", "app-checkout-prod", "--slot", "staging", "--demo"], home)
    assert refused.returncode == 5, refused.stderr  # no terminal to confirm at: refused, run here
    listed = run(["runbook", "list", "--demo", "--output", "json"], home, OPSCONSOLE_NO_AGENT="1")
    assert listed.returncode == 0, listed.stderr  # the switch that keeps any command out of the agent
    after = status(home)
    assert after is not None and after["served"] == before


@pytest.mark.parametrize(
    ("argv", "taken"),
    [
        (["query", "T | take 1"], True),
        (["--demo", "--subscription", "Contoso Production", "resources", "list"], True),
        (["--config=/tmp/c.toml", "slots", "diff", "app", "staging"], True),
        (["runbook", "run", "slot-health"], True),
        (["slots", "swap", "app"], False),
        (["alerts", "ack", "id"], False),
        (["cost", "set-budget"], False),
        (["--reset", "query", "T"], False),
        (["--unknown", "query", "T"], False),
        (["agent", "stop"], False),
        ([], False),
        (["emulator"], False),
    ],
)
def test_which_commands_an_agent_may_run(argv: list[str], taken: bool) -> None:
    assert agent.agent_command(argv) is taken


def test_an_agent_of_other_code_is_never_used_and_makes_way(home: dict[str, str]) -> None:
    start(home)
    saved = dict(os.environ)
    os.environ["XDG_RUNTIME_DIR"] = home["XDG_RUNTIME_DIR"]
    try:
        assert agent.run_through_agent(["query", "print 1", "--demo"], fingerprint="other code") is None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    until(lambda: status(home) is None, "the agent of other code to stop")
    answered = run(["query", "print n = 1", "--demo", "--output", "csv"], home)  # no agent: runs here
    assert answered.returncode == 0 and answered.stdout.split() == ["n", "1"], answered.stderr


def test_ctrl_c_reaches_the_command_the_agent_runs(
    home: dict[str, str], faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    before = start(home)["served"]
    faults([{"path": "/query", "latency_ms": 60_000}])
    process = subprocess.Popen(
        [OPSCONSOLE, "query", "AppRequests | take 1", "--demo"],
        env=home,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        until(lambda: (status(home) or {}).get("served") == before + 1, "the agent to take the query")
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr


def test_the_agent_is_the_users_alone_and_stops_when_idle(home: dict[str, str], tmp_path: Path) -> None:
    start(home, "--idle", "1")
    saved = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = home["XDG_RUNTIME_DIR"]
    try:
        path = agent.socket_path()
    finally:
        os.environ.pop("XDG_RUNTIME_DIR")
        if saved is not None:
            os.environ["XDG_RUNTIME_DIR"] = saved
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    until(lambda: status(home) is None, "the idle agent to stop")
    assert not path.exists()
    # A folder others may enter is refused: the agent does not start, and says where to look.
    shared = tmp_path / "shared-run"
    (shared / "opsconsole").mkdir(parents=True, mode=0o777)
    (shared / "opsconsole").chmod(0o777)
    refused = run(["agent", "start"], home, XDG_RUNTIME_DIR=str(shared))
    assert refused.returncode == 3, refused.stdout
    assert "did not start" in refused.stderr
    assert "not private" in (Path(home["OPSCONSOLE_DATA_DIR"]) / "agent.log").read_text()
