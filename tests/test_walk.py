"""A walk through the console in a real terminal (tmux 200x50), the way a new user moves: every area by `:`,
two runbooks in a row, a query per chart kind, a subscription switch, and quitting with exit 0."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EmulatorThread

from console.areas import AREAS
from console.emulator.server import write_record
from console.history import QueryHistory
from screens.widgets.chart import CHART_KINDS

pytestmark = pytest.mark.slow

CHART_QUERIES = {
    "timechart": "AppRequests | summarize n = count() by bin(TimeGenerated, 1h) | render timechart",
    "linechart": "AppRequests | summarize n = count() by bin(TimeGenerated, 1h) | render linechart",
    "areachart": "AppRequests | summarize n = count() by bin(TimeGenerated, 1h) | render areachart",
    "scatterchart": "AppRequests | summarize n = count() by bin(TimeGenerated, 1h) | render scatterchart",
    "barchart": "AppRequests | summarize n = count() by AppRoleName | render barchart",
    "columnchart": "AppRequests | summarize n = count() by AppRoleName | render columnchart",
    "piechart": "AppRequests | summarize n = count() by AppRoleName | render piechart",
}


class Tmux:
    """One tmux session, on a tmux server of its own, running a command; keys in, screen text out."""

    def __init__(self, name: str, command: str) -> None:
        self.name = name
        self.tmux = ["tmux", "-L", name, "-f", "/dev/null"]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", name, "-x", "200", "-y", "50", command], check=True)
        found = subprocess.run([*self.tmux, "display", "-p", "#{socket_path}"], capture_output=True, text=True)
        self.socket = Path(found.stdout.strip()) if found.stdout.strip() else None

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.tmux, "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, "-l", text], check=True)
        time.sleep(0.15)

    def screen(self) -> str:
        done = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return done.stdout

    def wait_for(self, text: str, what: str, limit_s: float = 20.0) -> str:
        deadline = time.monotonic() + limit_s
        while True:
            shown = self.screen()
            assert "Traceback" not in shown, f"a traceback while waiting for {what}:\n{shown}"
            assert "WALK-EXIT" not in shown or "WALK-EXIT" in text, f"the console ended before {what}:\n{shown}"
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what} ({text!r}); the screen:\n{shown}")
            time.sleep(0.1)

    def wait_gone(self, text: str, what: str, limit_s: float = 20.0) -> None:
        deadline = time.monotonic() + limit_s
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}; the screen:\n{self.screen()}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
        if self.socket is not None:
            self.socket.unlink(missing_ok=True)


@pytest.fixture
def console_home(tmp_path: Path, local_azure: EmulatorThread) -> Iterator[Path]:
    """Config and data dirs whose local Azure record points at the session's, so `--demo` reuses it."""
    data = tmp_path / "data"
    (data / "local-azure").mkdir(parents=True)
    write_record(data / "local-azure", local_azure.readiness)
    history = QueryHistory(data / "query-history.jsonl")
    for kql in CHART_QUERIES.values():
        history.add(kql, workspace="law-ops-prod", timespan="last 24h")
    yield tmp_path


def demo_command(console_home: Path) -> str:
    """`opsconsole --demo` in `console_home`, then its exit code on screen."""
    executable = Path(sys.executable).parent / "opsconsole"
    env = {
        "OPSCONSOLE_DATA_DIR": str(console_home / "data"),
        "OPSCONSOLE_CONFIG_DIR": str(console_home / "config"),
        "TERM": "xterm-256color",
    }
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    return f"env -u OPSCONSOLE_CONFIG -u COLUMNS -u LINES {exports} {executable} --demo; echo WALK-EXIT=$?; sleep 60"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="the walk needs tmux")
def test_walk_every_area_two_runbooks_every_chart_a_subscription_switch_and_quit(console_home: Path) -> None:
    assert set(CHART_QUERIES) == CHART_KINDS
    tmux = Tmux(f"walk{os.getpid()}", demo_command(console_home))
    try:
        tmux.wait_for("Microsoft.", "the first resources", limit_s=60)
        for area, entry in AREAS.items():
            title = entry.title
            tmux.keys("Escape", ":")
            tmux.type(area)
            tmux.keys("Enter")
            tmux.wait_for(f" {title} ", f"the {area} area")
        # Two runbooks in a row, then the first one again.
        tmux.keys("Escape", ":")
        tmux.type("runbooks")
        tmux.keys("Enter")
        tmux.wait_for("enter opens", "the runbook list")
        tmux.keys("Enter")
        tmux.wait_for("backup-failures   tags", "the first runbook")
        tmux.keys("Escape")
        tmux.wait_for("enter opens", "the list again")
        tmux.keys("Down", "Enter")
        tmux.wait_for("dependency-failures   tags", "the second runbook")
        tmux.keys("Escape")
        tmux.wait_for("enter opens", "the list again")
        tmux.keys("Up", "Enter")
        tmux.wait_for("backup-failures   tags", "the first runbook again")
        tmux.keys("Escape")
        tmux.wait_for("enter opens", "the list again")
        # A query per chart kind, each picked from the history and run.
        tmux.keys(":")
        tmux.type("logs")
        tmux.keys("Enter")
        tmux.wait_for("workspace law-ops-prod", "the logs workspace")
        for kind in CHART_QUERIES:
            tmux.keys("C-r")
            tmux.wait_for("Query history", "the history")
            tmux.type(f"render {kind}")
            tmux.keys("Enter")
            tmux.wait_gone("Query history", "the history to close")
            tmux.keys("F5")
            shown = tmux.wait_for(f"render {kind} (ctrl+t", f"the {kind} result")
            assert "needs a" not in shown, shown
        # Switch subscriptions with ctrl+s.
        tmux.keys("F3", ":")
        tmux.type("resources")
        tmux.keys("Enter")
        tmux.wait_for("Microsoft.", "resources again")
        tmux.keys("C-s")
        tmux.wait_for("(current)", "the subscription switcher")
        tmux.type("Non-Production")
        tmux.keys("Enter")
        tmux.wait_for("Subscription: Contoso Non-Production", "the switch")
        # q asks, a second q quits.
        tmux.keys("q")
        tmux.wait_for("Press q again", "the quit question")
        tmux.keys("q")
        shown = tmux.wait_for("WALK-EXIT", "the console to quit")
        assert "WALK-EXIT=0" in shown, shown
    finally:
        tmux.close()


def table_lines(screen: str) -> list[str]:
    """The scope tree and the resource rows: the screen without its header, crumbs and footer."""
    return screen.splitlines()[2:-1]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="the walk needs tmux")
def test_a_warm_start_paints_the_cached_list_in_its_first_frame(console_home: Path) -> None:
    cold = Tmux(f"cold{os.getpid()}", demo_command(console_home))
    try:
        first = cold.wait_for("Microsoft.", "the first resources", limit_s=60)
        assert "cached, as of" not in first, "nothing was cached before the first start"
        fresh = cold.wait_for(" resources)", "the fresh list")
        cold.keys("q", "q")
        cold.wait_for("WALK-EXIT=0", "the first start to quit")
    finally:
        cold.close()
    warm = Tmux(f"warm{os.getpid()}", demo_command(console_home))
    try:
        for _ in range(3000):
            shown = warm.screen()
            if "local Azure" in shown:
                break
        # The terminal may be caught drawing that frame: read it again until two reads agree.
        while (again := warm.screen()) != shown:
            shown = again
        # The first frame (the shell's header) already has the rows: the cache, stamped, laid out as the list
        # then shows it.
        assert "Microsoft." in shown and "cached, as of" in shown, shown
        assert table_lines(shown) == table_lines(fresh), shown
        settled = warm.wait_for("read-write", "the header")
        warm.wait_for("Microsoft.", "the list")
        warm.keys("q", "q")
        warm.wait_for("WALK-EXIT=0", "the warm start to quit")
        assert "Traceback" not in settled
    finally:
        warm.close()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _descendants(pid: int) -> list[int]:
    return [pid, *(grandchild for child in _children(pid) for grandchild in _descendants(child))]


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.skipif(shutil.which("tmux") is None or not Path("/proc").is_dir(), reason="needs tmux and /proc")
def test_the_copy_that_makes_the_first_listing_is_gone_once_the_rows_show(console_home: Path) -> None:
    tmux = Tmux(f"copy{os.getpid()}", demo_command(console_home))
    try:
        tmux.wait_for(" resources)", "the fresh list", limit_s=60)
        found = subprocess.run([*tmux.tmux, "display", "-p", "#{pane_pid}"], capture_output=True, text=True)
        consoles = [
            pid for pid in _descendants(int(found.stdout.strip())) if _command_line(pid).startswith(sys.executable)
        ]
        # The console, and no copy of it: not running, not left unreaped.
        assert len(consoles) == 1, [_command_line(pid) for pid in consoles]
        assert _children(consoles[0]) == [], [_command_line(pid) for pid in _children(consoles[0])]
        tmux.keys("q", "q")
        tmux.wait_for("WALK-EXIT=0", "the console to quit")
    finally:
        tmux.close()
