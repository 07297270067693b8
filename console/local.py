"""Starting or reusing the local Azure as a child process, and pointing the SDK at it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from console.cloud import CloudProfile, local_profile, parse_readiness_line
from console.errors import ErrorKind, OpsError

RECORD_FILE = "emulator.json"
START_TIMEOUT_S = 30.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accepts(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 443), timeout=0.5):
            return True
    except OSError:
        return False


def running_emulator(data_dir: Path) -> dict[str, Any] | None:
    """The readiness data of a local Azure already serving this data dir, if there is one."""
    try:
        readiness = json.loads((data_dir / RECORD_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    pid = readiness.get("pid")
    if isinstance(pid, int) and _alive(pid) and _accepts(str(readiness.get("arm_endpoint", ""))):
        return dict(readiness)
    return None


class LocalAzure:
    """A local Azure this process started (and will stop) or found already running (and leaves alone)."""

    def __init__(self, readiness: dict[str, Any], process: subprocess.Popen[str] | None) -> None:
        self.readiness = readiness
        self.process = process

    @property
    def profile(self) -> CloudProfile:
        return local_profile(self.readiness)

    def environment(self) -> dict[str, str]:
        """The variables that make DefaultAzureCredential use the local managed-identity endpoint."""
        return {
            "IDENTITY_ENDPOINT": str(self.readiness["identity_endpoint"]),
            "IDENTITY_HEADER": str(self.readiness["identity_header"]),
            "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
        }

    def apply_environment(self) -> None:
        os.environ.update(self.environment())
        for stale in ("MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
            os.environ.pop(stale, None)

    def stop(self) -> None:
        """Stop the child we started (SIGTERM, then wait); a reused emulator keeps running."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PendingLocalAzure:
    """A local Azure being started as a child process; `wait()` returns it once it is ready."""

    def __init__(self, process: subprocess.Popen[str], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def stop(self) -> None:
        """Stop the child before it was ever waited for."""
        self.process.terminate()

    def wait(self, timeout: float = START_TIMEOUT_S) -> LocalAzure:
        """Read the readiness line; a child that dies or stays silent becomes an OpsError with its log."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.strip() or self.process.poll() is not None:
                break
        if not line.strip():
            self.process.kill()
            tail = self.log_path.read_text(errors="replace")[-600:] if self.log_path.exists() else ""
            raise OpsError(ErrorKind.CONFIG, f"The local Azure did not start; its log ends with: {tail.strip()}")
        return LocalAzure(parse_readiness_line(line), self.process)


def spawn_local_azure(data_dir: Path, *, reset: bool = False, extra_args: list[str] | None = None) -> PendingLocalAzure:
    """Start a local Azure child for `data_dir` without waiting for it."""
    command = [
        sys.executable,
        "-m",
        "console.emulator",
        "--data-dir",
        str(data_dir),
        "--parent-pid",
        str(os.getpid()),
        *(extra_args or []),
    ]
    if reset:
        command.append("--reset")
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "emulator.log"
    with open(log_path, "a", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, start_new_session=True
        )
    return PendingLocalAzure(process, log_path)


def open_local_azure(
    data_dir: Path, *, reset: bool = False, extra_args: list[str] | None = None
) -> LocalAzure | PendingLocalAzure:
    """The local Azure already serving `data_dir` (reused), or a child just started for it (not waited for)."""
    if not reset:
        readiness = running_emulator(data_dir)
        if readiness is not None:
            return LocalAzure(readiness, None)
    return spawn_local_azure(data_dir, reset=reset, extra_args=extra_args)


def start_local_azure(data_dir: Path, *, reset: bool = False, extra_args: list[str] | None = None) -> LocalAzure:
    """Reuse the local Azure serving `data_dir`, or start one as a child and wait until it is ready."""
    opened = open_local_azure(data_dir, reset=reset, extra_args=extra_args)
    return opened if isinstance(opened, LocalAzure) else opened.wait()
