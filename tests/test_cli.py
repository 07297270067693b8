"""The `opsconsole` command: headless resources list, shell completion, and the demo console in a terminal."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import EmulatorThread

from console.cli import main
from console.emulator import estate
from console.emulator.server import write_record


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Config and data dirs of this test only; returns the data dir."""
    monkeypatch.setenv("OPSCONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("OPSCONSOLE_DATA_DIR", str(tmp_path / "data"))
    for name in ("OPSCONSOLE_CONFIG", "OPSCONSOLE_READ_ONLY", "OPSCONSOLE_SUBSCRIPTION"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


@pytest.fixture
def demo_data_dir(isolated: Path, local_azure: EmulatorThread) -> Path:
    """A data dir whose emulator record points at the session's local Azure, so `--demo` reuses it."""
    emulator_dir = isolated / "local-azure"
    emulator_dir.mkdir(parents=True)
    write_record(emulator_dir, local_azure.readiness)
    return isolated


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# headless resources list ----------------------------------------------------------------------


def test_resources_list_json_covers_every_subscription(demo_data_dir: Path, local_azure: EmulatorThread) -> None:
    result = invoke("resources", "list", "--demo", "--output", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    store = local_azure.running.store  # type: ignore[union-attr]
    expected = store.resources(estate.PROD_SUBSCRIPTION) + store.resources(estate.NONPROD_SUBSCRIPTION)
    assert sorted(r["id"].lower() for r in rows) == sorted(r["id"].lower() for r in expected)
    assert {"name", "type", "resource_group", "location", "tags", "subscription_id", "id"} <= set(rows[0])


def test_resources_list_filters_by_type_and_subscription_name(demo_data_dir: Path) -> None:
    result = invoke(
        "--demo",
        "resources",
        "list",
        "--type",
        "Microsoft.Web/sites",
        "--subscription",
        "contoso production",
        "--output",
        "csv",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("name,type,resource_group,location,tags")
    names = [line.split(",")[0] for line in lines[1:]]
    assert sorted(names) == ["app-catalog-prod", "app-checkout-prod", "app-payments-prod"]


def test_resources_list_table(demo_data_dir: Path) -> None:
    result = invoke("resources", "list", "--demo", "--subscription", estate.NONPROD_SUBSCRIPTION)
    assert result.exit_code == 0, result.output
    assert "psql-orders-stg" in result.stdout
    assert "psql-orders-prod" not in result.stdout


def test_unknown_subscription_is_a_sentence_and_exit_2(demo_data_dir: Path) -> None:
    result = invoke("resources", "list", "--demo", "--subscription", "Fabrikam")
    assert result.exit_code == 2
    assert "No subscription is called 'Fabrikam'" in result.stderr
    assert "Contoso Production" in result.stderr
    assert "Traceback" not in result.output


def test_broken_config_is_a_sentence_and_exit_2(isolated: Path) -> None:
    config = isolated.parent / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("read_only = maybe\n")
    result = invoke("resources", "list")
    assert result.exit_code == 2
    assert str(config) in result.stderr and "line 1" in result.stderr
    assert "Traceback" not in result.output


# completion ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef opsconsole"),
        ("fish", "complete --no-files --command opsconsole"),
    ],
)
def test_completion_script_prints(isolated: Path, shell: str, marker: str) -> None:
    result = invoke("completion", shell)
    assert result.exit_code == 0
    assert "_OPSCONSOLE_COMPLETE" in result.stdout
    assert marker in result.stdout


def test_completion_refuses_an_unknown_shell(isolated: Path) -> None:
    result = CliRunner().invoke(main, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert "tcsh" in result.stderr


# the console in a real terminal ---------------------------------------------------------------

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Terminal:
    """A process on a pseudo-terminal of a fixed size, with everything it has printed so far."""

    def __init__(self, command: list[str], env: dict[str, str], size: tuple[int, int] = (200, 50)) -> None:
        self.master, slave = pty.openpty()
        columns, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.process = subprocess.Popen(
            command, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True
        )
        os.close(slave)
        self.output = b""

    def read(self, seconds: float) -> None:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            with contextlib.suppress(OSError):  # the other side closed
                self.output += os.read(self.master, 65536)

    def text(self) -> str:
        return ANSI.sub(b"", self.output).decode("utf-8", errors="replace")

    def wait_for(self, needle: str, limit_s: float) -> bool:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and self.process.poll() is None:
            self.read(0.2)
            if needle in self.text():
                return True
        return needle in self.text()

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_exit(self, limit_s: float) -> int | None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            self.read(0.1)
            if self.process.poll() is not None:
                return self.process.returncode
        return None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


def test_demo_console_starts_shows_resources_and_quits_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "IDENTITY_", "MSI_", "AZURE_"))}
    env.update(
        OPSCONSOLE_DATA_DIR=str(data_dir),
        OPSCONSOLE_CONFIG_DIR=str(tmp_path / "config"),
        OPSCONSOLE_DEMO_TELEMETRY_SCALE="0.02",
        TERM="xterm-256color",
        COLUMNS="200",
        LINES="50",
    )
    terminal = Terminal([str(Path(sys.executable).parent / "opsconsole"), "--demo"], env)
    try:
        shown = terminal.wait_for("psql-orders-prod", limit_s=90)
        assert shown, f"the console never showed resources; it printed:\n{terminal.text()[-2000:]}"
        record = data_dir / "local-azure" / "emulator.json"
        emulator_pid = int(json.loads(record.read_text())["pid"])
        assert emulator_pid != terminal.process.pid and _alive(emulator_pid)

        terminal.send(b"\x11")  # ctrl+q
        code = terminal.wait_exit(limit_s=30)
        assert code == 0, f"exit code {code}; it printed:\n{terminal.text()[-2000:]}"
        assert "Traceback" not in terminal.text()
        for _ in range(100):
            if not _alive(emulator_pid):
                break
            time.sleep(0.1)
        assert not _alive(emulator_pid), "the local Azure child outlived the console"
        assert not record.exists()
    finally:
        terminal.close()


# headless query ------------------------------------------------------------------------------


def test_query_prints_rows_and_exits_0(demo_data_dir: Path) -> None:
    result = invoke(
        "query",
        "datatable(app: string, n: long)['checkout', 3, 'catalog', 5] | order by n desc",
        "--demo",
        "--output",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"app": "catalog", "n": 5}, {"app": "checkout", "n": 3}]


def test_query_reads_the_seeded_workspace_by_name(demo_data_dir: Path) -> None:
    result = invoke(
        "query",
        "Heartbeat | distinct Computer | order by Computer asc",
        "--demo",
        "--workspace",
        "law-ops-prod",
        "--timespan",
        "P7D",
        "--output",
        "csv",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Computer"
    assert "vm-jump-prod-01" in result.stdout


def test_query_error_exits_3_with_the_position_on_stderr(demo_data_dir: Path) -> None:
    result = invoke("query", "Heartbeat | wherex Computer", "--demo")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "line 1" in result.stderr and "Traceback" not in result.stderr


def test_query_unknown_workspace_exits_2_naming_the_known_ones(demo_data_dir: Path) -> None:
    result = invoke("query", "Heartbeat | count", "--demo", "--workspace", "law-nowhere")
    assert result.exit_code == 2
    assert "law-ops-prod" in result.stderr


def test_query_usage_error_exits_2(demo_data_dir: Path) -> None:
    result = invoke("query", "Heartbeat | count", "--demo", "--timespan", "yesterday")
    assert result.exit_code == 2
    assert "PT1H" in result.stderr
