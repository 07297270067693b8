"""Starting or reusing the local Azure as a child process, and pointing the SDK at it."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlparse

from console.cloud import LOCAL_AZURE_RECORD, CloudProfile, local_profile, parse_readiness_line
from console.errors import ErrorKind, OpsError

if TYPE_CHECKING:
    import urllib.request

RECORD_FILE = LOCAL_AZURE_RECORD
START_TIMEOUT_S = 30.0
TELEMETRY_WAIT_S = 120.0
STOP_WAIT_S = 10.0
SHORT_STOP_WAIT_S = 0.5
"""How long an interrupted command, or a console the user quit, waits for its local Azure: the rest of the stop
(finishing a query, writing its store to disk) happens after the prompt is back."""
BUSY_WAIT_S = 10.0
"""How long a start waits for another process holding the data dir (a local Azure stopping, or starting)."""
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


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


@dataclass(frozen=True)
class TelemetryStatus:
    """Whether a local Azure's telemetry has all arrived, and how much of it has (0.0 to 1.0)."""

    ready: bool
    progress: float
    complete_from: datetime | None = None
    """While loading: telemetry from this instant (UTC) on is already complete."""

    def covers(self, lookback: timedelta | None) -> bool:
        """Whether a query looking back `lookback` from now would see only complete data."""
        if self.ready:
            return True
        if lookback is None or self.complete_from is None:
            return False
        return self.complete_from <= datetime.now(UTC) - lookback


def _opener(readiness: dict[str, Any]) -> urllib.request.OpenerDirector:
    """HTTPS trusting the local Azure's CA, straight to loopback (never through a configured proxy)."""
    import urllib.request  # not on the console's start path: only asking about telemetry needs it

    context = ssl.create_default_context(cafile=str(readiness["ca_file"]))
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))


def telemetry_status(readiness: dict[str, Any], timeout: float = 5.0) -> TelemetryStatus:
    """Ask the local Azure whether its telemetry has all arrived (`GET /_emulator/status`).

    Standard library only, so a headless command's start stays cheap; raises OpsError when it cannot tell.
    """
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{readiness['arm_endpoint']}/_emulator/status",
        headers={"X-IDENTITY-HEADER": str(readiness["identity_header"])},
    )
    try:
        with _opener(readiness).open(request, timeout=timeout) as response:
            telemetry = json.loads(response.read())["telemetry"]
        complete_from = telemetry.get("complete_from")
        return TelemetryStatus(
            bool(telemetry["ready"]),
            float(telemetry.get("progress", 0.0)),
            datetime.fromisoformat(complete_from.replace("Z", "+00:00")) if complete_from else None,
        )
    except urllib.error.HTTPError as error:
        error.close()
        refused = _unreachable(readiness, error)
        refused.code = "StatusRefused"  # an answer, not a server still starting: asking again will not help
        raise refused from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _unreachable(readiness, error) from None


def _unreachable(readiness: dict[str, Any], error: BaseException) -> OpsError:
    reason = str(getattr(error, "reason", None) or error).strip().splitlines()
    return OpsError(
        ErrorKind.CONFIG,
        f"The local Azure at {readiness.get('arm_endpoint')} did not say whether its telemetry is ready: "
        f"{reason[0] if reason else type(error).__name__}.",
    )


class ProgressLine:
    """Progress of waiting for telemetry on a terminal, redrawn in place; silent when not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.drawn = False

    def __call__(self, progress: float) -> None:
        if not self.enabled or (progress >= 1.0 and not self.drawn):
            return
        self.stream.write(f"\ropsconsole: loading the local Azure's telemetry: {int(progress * 100):3d}%")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        """End the progress line, if one was drawn."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


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

    def client_environment(self, data_dir: Path) -> dict[str, str]:
        """What a shell needs to point the az CLI and SDK scripts at this local Azure: a private az config dir,
        one CA bundle (the system roots and the local CA), the cloud's metadata URL and the identity variables.
        Writes the bundle and makes the config dir, both private, under `data_dir`."""
        import ssl

        roots = ssl.get_default_verify_paths().cafile
        if not roots or not Path(roots).is_file():
            import certifi

            roots = certifi.where()
        bundle = data_dir / "tls" / "bundle-with-system-roots.pem"
        local_ca = Path(str(self.readiness["ca_file"])).read_text(encoding="utf-8")
        bundle.write_text(Path(roots).read_text(encoding="utf-8") + "\n" + local_ca, encoding="utf-8")
        bundle.chmod(0o600)
        config_dir = data_dir / "az-config"
        config_dir.mkdir(mode=0o700, exist_ok=True)
        return {
            "AZURE_CONFIG_DIR": str(config_dir),
            "REQUESTS_CA_BUNDLE": str(bundle),
            "SSL_CERT_FILE": str(bundle),
            "ARM_CLOUD_METADATA_URL": f"{self.readiness['arm_endpoint']}/metadata/endpoints?api-version=2022-09-01",
            "AZURE_CORE_COLLECT_TELEMETRY": "false",
            **self.environment(),
        }

    def apply_environment(self) -> None:
        """Set `environment()` in this process; the local Azure is on loopback, so no proxy may stand between."""
        os.environ.update(self.environment())
        for stale in ("MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
            os.environ.pop(stale, None)
        for name in ("NO_PROXY", "no_proxy"):
            present = [entry.strip() for entry in os.environ.get(name, "").split(",") if entry.strip()]
            missing = [host for host in _LOOPBACK_NAMES if host not in present]
            if missing and (present or any(os.environ.get(v) for v in _PROXY_VARIABLES)):
                os.environ[name] = ",".join([*present, *missing])

    def stop(self, wait: float = STOP_WAIT_S) -> None:
        """Stop the child we started (SIGTERM, then up to `wait` seconds); a reused emulator keeps running.

        With a short `wait` (an interrupted command, a console quit), a child still finishing a query or writing
        its store is left to stop on its own: it already has SIGTERM (and has dropped its record, so a new start
        waits for it), and it also stops when this process is gone. Killing it could cut a write short.
        """
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            if wait >= STOP_WAIT_S:
                self.process.kill()
                self.process.wait()

    def telemetry_status(self) -> TelemetryStatus:
        """Whether the local Azure's telemetry has all arrived (raises OpsError when it cannot be asked)."""
        return telemetry_status(self.readiness)

    def wait_for_telemetry(
        self,
        timeout: float = TELEMETRY_WAIT_S,
        on_progress: Callable[[float], None] | None = None,
        lookback: timedelta | None = None,
    ) -> TelemetryStatus:
        """Wait until the telemetry has all arrived (or, with `lookback`, all of that recent past has)
        or `timeout` passes; returns the last status seen."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise OpsError(
                    ErrorKind.CONFIG,
                    f"The local Azure stopped while loading its telemetry (exit status {self.process.returncode}); "
                    f"see {Path(str(self.readiness.get('data_dir', '.'))) / 'emulator.log'}.",
                )
            try:
                status = self.telemetry_status()
            except OpsError as error:
                if error.code == "StatusRefused" or time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)
                continue
            if on_progress is not None:
                on_progress(status.progress)
            if status.covers(lookback) or time.monotonic() >= deadline:
                return status
            time.sleep(0.25)


class PendingLocalAzure:
    """A local Azure being started as a child process; `wait()` returns it once it is ready."""

    def __init__(self, process: subprocess.Popen[str], log_path: Path, log_offset: int = 0) -> None:
        self.process = process
        self.log_path = log_path
        self.log_offset = log_offset

    def stop(self) -> None:
        """Stop the child before it was ever waited for."""
        self.process.terminate()

    def wait(self, timeout: float = START_TIMEOUT_S) -> LocalAzure:
        """Read the readiness line; a child that dies or stays silent becomes an OpsError of one sentence."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while (remaining := deadline - time.monotonic()) > 0:
            # Wait for output without blocking past the deadline: a child that hangs silently must not hang us.
            readable, _, _ = select.select([self.process.stdout], [], [], min(remaining, 0.5))
            if readable:
                line = self.process.stdout.readline()
            if line.strip() or self.process.poll() is not None:
                break
        if not line.strip():
            silent = self.process.poll() is None
            self.process.kill()
            self.process.wait()
            if silent:
                raise OpsError(
                    ErrorKind.CONFIG,
                    f"The local Azure did not say it was ready within {timeout:g} s (its log: {self.log_path}).",
                )
            written = self._written()
            holder = _lock_holder(written)
            sentence = start_failure_sentence(written, self.log_path)
            raise DataDirBusyError(sentence, holder) if holder is not None else OpsError(ErrorKind.CONFIG, sentence)
        return LocalAzure(parse_readiness_line(line), self.process)

    def recorded(self, data_dir: Path, timeout: float = START_TIMEOUT_S) -> LocalAzure:
        """This local Azure once its record in `data_dir` says it serves, for a process that must leave the
        readiness line to the one that started it (a forked copy of the console, say)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(self.process.pid):
            readiness = running_emulator(data_dir)
            if readiness is not None and readiness.get("pid") == self.process.pid:
                return LocalAzure(readiness, None)
            time.sleep(0.02)
        raise OpsError(ErrorKind.CONFIG, f"The local Azure did not get ready within {timeout:g} s.")

    def _written(self) -> str:
        """What the child wrote to its log since it was started."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                log.seek(self.log_offset)
                return log.read()
        except OSError:
            return ""


_LOCK_HELD = re.compile(r"Could not set lock on file \"(?P<file>[^\"]+)\".*?\(PID (?P<pid>\d+)\)", re.DOTALL)


def _lock_holder(log_text: str) -> int | None:
    found = _LOCK_HELD.search(log_text)
    return int(found.group("pid")) if found is not None else None


class DataDirBusyError(OpsError):
    """The data dir's store is locked by another process (`pid`) that left no record of a local Azure."""

    def __init__(self, message: str, pid: int) -> None:
        super().__init__(ErrorKind.CONFIG, message)
        self.pid = pid


def start_failure_sentence(log_text: str, log_path: Path) -> str:
    """Why a local Azure did not start, as one sentence, from the log lines it wrote while trying."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    lock = _LOCK_HELD.search(log_text)
    if lock is not None:
        store = Path(lock.group("file"))
        return (
            f"The local Azure's data dir {store.parent} is in use by another process (PID {lock.group('pid')}) "
            "that left no record of a running local Azure; stop that process, or set OPSCONSOLE_DATA_DIR "
            "to another folder."
        )
    said = [line.removeprefix("local Azure:").strip() for line in lines if line.startswith("local Azure:")]
    reason = said[-1] if said else lines[-1] if lines else ""
    if not reason:
        return f"The local Azure exited before it was ready and wrote nothing to its log ({log_path})."
    reason = reason.removeprefix("could not start:").strip().rstrip(".")
    return f"The local Azure did not start: {reason[:300]} (its log: {log_path})."


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
    log_path = data_dir / "emulator.log"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            offset = log.tell()
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, start_new_session=True
            )
    except OSError as error:
        raise OpsError(
            ErrorKind.CONFIG,
            f"The local Azure could not be started in {data_dir}: {error.strerror or error}; "
            "set OPSCONSOLE_DATA_DIR to a folder you can write.",
        ) from None
    return PendingLocalAzure(process, log_path, offset)


def open_local_azure(
    data_dir: Path, *, reset: bool = False, extra_args: list[str] | None = None
) -> LocalAzure | PendingLocalAzure:
    """The local Azure already serving `data_dir` (reused), or a child just started for it (not waited for)."""
    if not reset:
        readiness = running_emulator(data_dir)
        if readiness is not None:
            return LocalAzure(readiness, None)
    return spawn_local_azure(data_dir, reset=reset, extra_args=extra_args)


def ready_local_azure(
    opened: LocalAzure | PendingLocalAzure, data_dir: Path, *, reset: bool = False, extra_args: list[str] | None = None
) -> LocalAzure:
    """Wait for `opened` to be ready. When another process held the data dir (a local Azure still stopping
    after its console quit, or one starting for another console), wait up to `BUSY_WAIT_S` for it to go or
    to leave its record, then open once more."""
    if isinstance(opened, LocalAzure):
        return opened
    try:
        return opened.wait()
    except DataDirBusyError as busy:
        deadline = time.monotonic() + BUSY_WAIT_S
        while _alive(busy.pid) and running_emulator(data_dir) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        again = open_local_azure(data_dir, reset=reset, extra_args=extra_args)
        return again if isinstance(again, LocalAzure) else again.wait()


def start_local_azure(data_dir: Path, *, reset: bool = False, extra_args: list[str] | None = None) -> LocalAzure:
    """Reuse the local Azure serving `data_dir`, or start one as a child and wait until it is ready."""
    opened = open_local_azure(data_dir, reset=reset, extra_args=extra_args)
    return ready_local_azure(opened, data_dir, reset=reset, extra_args=extra_args)
