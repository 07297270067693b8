"""The agent: a process that has already imported the SDK, so a read-only headless command need not.

`opsconsole agent start` leaves it running in the background (it stops itself after a quiet spell). While it
runs, `opsconsole query`, `resources list` and the other read-only commands hand their arguments, their
environment, their working directory and their standard streams to it over a socket only this user can open;
it forks, and the fork runs the command exactly as a fresh process would (settings read afresh, its own
sign-in and clients), writing straight to the caller's terminal or pipes. The caller forwards Ctrl-C and
other signals to the fork and exits with its exit code. Commands that change something or ask a question
never go through it, and a caller finds no agent, an agent of other code, or a broken one, runs the command
itself.

Nothing here imports the rest of the console: the command runner and the modules to preload are given.
Standard library only, so a caller's start stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IDLE_EXIT_S = 900.0
"""An agent with nothing to do for this long stops (`agent start --idle` changes it)."""
START_WAIT_S = 30.0
START_REPLY_S = 10.0
"""How long a caller waits for the agent to say it started the command."""
_BYPASS = "set OPSCONSOLE_NO_AGENT=1 to run commands without it, or `opsconsole agent stop`."
UNKNOWN_OUTCOME = 4
"""The exit code when the agent went away mid-command: inconclusive (the exit-code table's 4)."""
_REQUEST_LIMIT = 1 << 20
_LENGTH = struct.Struct("!I")

READ_ONLY_COMMANDS = {
    ("query",),
    ("resources", "list"),
    ("runbook", "list"),
    ("runbook", "run"),
    ("slots", "list"),
    ("slots", "diff"),
    ("cost", "budgets"),
    ("cost", "daily"),
    ("cost", "breakdown"),
    ("cost", "anomalies"),
    ("alerts", "list"),
    ("alerts", "rules"),
    ("backups", "jobs"),
    ("backups", "freshness"),
    ("backups", "app-list"),
    ("backups", "db-list"),
}
"""What an agent runs: commands that read and never ask (a question needs the terminal's foreground)."""
_GLOBAL_FLAGS = {"--demo", "--read-only"}
_GLOBAL_VALUES = {"--subscription", "--config"}


def agent_command(argv: Sequence[str]) -> bool:
    """Whether `argv` (without the program name) is a command an agent may run: one of READ_ONLY_COMMANDS
    after the global options, and not `--reset` (which re-seeds the local Azure)."""
    words = list(argv)
    index = 0
    while index < len(words) and words[index].startswith("-"):
        option = words[index].split("=", 1)[0]
        if option in _GLOBAL_FLAGS:
            index += 1
        elif option in _GLOBAL_VALUES:
            index += 1 if "=" in words[index] else 2
        else:
            return False
    rest = words[index:]
    return tuple(rest[:1]) in READ_ONLY_COMMANDS or tuple(rest[:2]) in READ_ONLY_COMMANDS


def code_fingerprint() -> str:
    """What the console's code and installed packages are: an agent of other code is never used."""
    package = Path(__file__).resolve().parent
    parts = [sys.executable, str(package)]
    for folder in (package, package / "services"):
        for path in sorted(folder.glob("*.py")):
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_mtime_ns}:{stat.st_size}")
    for entry in sys.path:
        if entry.endswith("site-packages"):
            with contextlib.suppress(OSError):
                parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def socket_path() -> Path:
    """This user's agent socket for this installation, in a folder only the user can enter."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/opsconsole-{os.getuid()}"
    installation = hashlib.sha256(f"{sys.executable}|{Path(__file__).resolve().parent}".encode()).hexdigest()[:16]
    return Path(runtime) / "opsconsole" / f"agent-{installation}.sock"


class AgentStartError(Exception):
    """Why an agent cannot run here (a folder others may enter, a system without what it needs)."""


def _private_folder(folder: Path) -> None:
    """Make `folder` (0700) or check that it is this user's alone."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        stat = folder.lstat()
    except OSError as error:
        raise AgentStartError(f"cannot make {folder}: {error.strerror or error}") from None
    if stat.st_uid != os.getuid() or stat.st_mode & 0o077 or not folder.is_dir() or folder.is_symlink():
        raise AgentStartError(f"{folder} is not private to this user")


# the wire: a length-prefixed JSON request (with the caller's stdin, stdout and stderr), then JSON lines back


def _send(connection: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    body = json.dumps(message).encode()
    data = _LENGTH.pack(len(body)) + body
    sent = socket.send_fds(connection, [data], list(fds)) if fds else connection.send(data)
    if sent < len(data):  # (an empty send to an agent that has answered and closed would fail)
        connection.sendall(data[sent:])


def _receive(connection: socket.socket, max_fds: int) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _address = socket.recv_fds(connection, 65536, max_fds)
    if len(data) < _LENGTH.size:
        raise ConnectionError("a short message")
    (length,) = _LENGTH.unpack_from(data)
    if length > _REQUEST_LIMIT:
        raise ConnectionError("a message too long")
    body = data[_LENGTH.size :]
    while len(body) < length:
        more = connection.recv(length - len(body))
        if not more:
            raise ConnectionError("the message was cut short")
        body += more
    message = json.loads(body[:length])
    if not isinstance(message, dict):
        raise ConnectionError("not a message")
    return message, list(fds)


def _read_line(connection: socket.socket, pending: bytearray) -> dict[str, Any] | None:
    while b"\n" not in pending:
        chunk = connection.recv(4096)
        if not chunk:
            return None
        pending.extend(chunk)
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    message = json.loads(line)
    return message if isinstance(message, dict) else None


# the caller's side


def _connect(path: Path, timeout: float = 2.0) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        return None
    return connection


def run_through_agent(argv: Sequence[str], fingerprint: str | None = None) -> int | None:
    """Run `argv` in a running agent of this code: its exit code, or None when no agent took it (none
    running, another code's, or it refused before starting the command); the caller then runs it itself."""
    path = socket_path()
    if not path.exists():
        return None
    connection = _connect(path)
    if connection is None:
        return None
    with connection:
        try:
            _send(
                connection,
                {
                    "run": list(argv),
                    "fingerprint": fingerprint or code_fingerprint(),
                    "env": dict(os.environ),
                    "cwd": os.getcwd(),
                    "umask": _umask(),
                },
                fds=(0, 1, 2),
            )
        except OSError:
            return None  # nothing was started
        pending = bytearray()
        try:
            connection.settimeout(START_REPLY_S)
            started = _read_line(connection, pending)
        except TimeoutError:
            # It may have started the command: running it here too could print everything twice.
            print(f"opsconsole: the agent did not answer within {START_REPLY_S:g} s; {_BYPASS}", file=sys.stderr)
            return UNKNOWN_OUTCOME
        except (OSError, ValueError):
            return None
        if not started or not isinstance(started.get("pid"), int):
            return None  # refused (another code's agent, stopping) or closed before starting anything
        return _wait_for(connection, pending, started["pid"])


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _wait_for(connection: socket.socket, pending: bytearray, pid: int) -> int:
    """Forward the signals a terminal or a pipeline sends to the command's process; its exit code."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)
    connection.settimeout(None)
    while True:
        try:
            ended = _read_line(connection, pending)
        except InterruptedError:
            continue
        except (OSError, ValueError):
            ended = None
        if ended is None:
            print(
                f"opsconsole: the agent stopped before the command ended; its outcome is unknown ({_BYPASS})",
                file=sys.stderr,
            )
            return UNKNOWN_OUTCOME
        if isinstance(ended.get("exit"), int):
            return int(ended["exit"])


def ask(message: dict[str, Any]) -> dict[str, Any] | None:
    """Send a control message (status, stop) to the running agent; its answer, or None when none runs."""
    connection = _connect(socket_path())
    if connection is None:
        return None
    with connection:
        try:
            _send(connection, message)
            return _read_line(connection, bytearray())
        except (OSError, ValueError):
            return None


# the agent's side


@dataclass
class _Running:
    pid: int
    connection: socket.socket
    watched: bool = True
    """Whether the caller's connection is still watched for the caller going away."""


@dataclass
class Agent:
    """The serving loop: one fork per command; stops after `idle_s` with nothing running, or when asked."""

    run_command: Callable[[list[str]], int]
    idle_s: float = IDLE_EXIT_S
    fingerprint: str = field(default_factory=code_fingerprint)
    served: int = 0
    _running: dict[int, _Running] = field(default_factory=dict)
    _stopping: bool = False
    _last_command: float = 0.0

    def serve(self, listener: socket.socket) -> None:
        """Serve until stopped (commands still running finish first) or idle; a signal ends it at once,
        and the commands it was running with it."""
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ, "accept")
        self._last_command = time.monotonic()
        try:
            while self._running or not self._stopping:
                timeout = None if self._running else self._last_command + self.idle_s - time.monotonic()
                if timeout is not None and timeout <= 0:
                    break
                for key, _events in selector.select(timeout):
                    if key.data == "accept":
                        self._accept(listener, selector)
                    elif isinstance(key.data, int):
                        self._ended(key.data, selector)
                    else:
                        self._client_gone(key.data, selector)
        except KeyboardInterrupt:
            pass
        finally:
            for running in self._running.values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(running.pid, signal.SIGTERM)
            selector.close()

    def _accept(self, listener: socket.socket, selector: selectors.BaseSelector) -> None:
        connection, _address = listener.accept()
        connection.settimeout(2.0)
        fds: list[int] = []
        try:
            uid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            if uid != os.getuid():
                raise PermissionError("another user")
            message, fds = _receive(connection, max_fds=3)
            if "run" in message:
                self._start(connection, message, fds, selector)
                return
            if message.get("stop"):
                self._stopping = True
            connection.sendall(json.dumps({"pid": os.getpid(), "served": self.served}).encode() + b"\n")
        except (OSError, ValueError):
            pass  # a caller that went away, or sent what no caller sends: it gets no answer
        for fd in fds:
            os.close(fd)
        connection.close()

    def _start(
        self, connection: socket.socket, message: dict[str, Any], fds: list[int], selector: selectors.BaseSelector
    ) -> None:
        argv = message.get("run")
        if (
            self._stopping
            or message.get("fingerprint") != self.fingerprint
            or len(fds) != 3
            or not isinstance(argv, list)
            or not agent_command([str(a) for a in argv])
        ):
            if message.get("fingerprint") != self.fingerprint:
                self._stopping = True  # the code changed under it: make way for an agent of the new code
            connection.sendall(b'{"refused": true}\n')
            for fd in fds:
                os.close(fd)
            connection.close()
            return
        pid = os.fork()
        if pid == 0:
            self._child([str(a) for a in argv], message, fds)
        for fd in fds:
            os.close(fd)
        self.served += 1
        pidfd = os.pidfd_open(pid)
        running = _Running(pid, connection)
        self._running[pidfd] = running
        selector.register(pidfd, selectors.EVENT_READ, pidfd)
        selector.register(connection, selectors.EVENT_READ, running)
        with contextlib.suppress(OSError):
            connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")

    def _child(self, argv: list[str], message: dict[str, Any], fds: list[int]) -> None:
        """In the fork: become the caller's process (streams, environment, folder, umask), run, exit."""
        code = 1
        try:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            # The agent's socket, its callers' connections and the descriptors just copied are not the command's.
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            _fresh_streams()
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in dict(message.get("env") or {}).items()})
            os.chdir(str(message.get("cwd") or "/"))
            os.umask(int(message.get("umask", 0o022)))
            sys.argv = ["opsconsole", *argv]
            code = self.run_command(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # the fork must end here, never return into the agent's loop
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _ended(self, pidfd: int, selector: selectors.BaseSelector) -> None:
        self._last_command = time.monotonic()  # asking its status does not keep an agent alive; commands do
        running = self._running.pop(pidfd)
        selector.unregister(pidfd)
        if running.watched:
            selector.unregister(running.connection)
        _pid, status = os.waitpid(running.pid, 0)
        os.close(pidfd)
        with contextlib.suppress(OSError):
            running.connection.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
        running.connection.close()

    def _client_gone(self, running: _Running, selector: selectors.BaseSelector) -> None:
        """The caller's connection has something to read, which it never sends: it went away (killed, say),
        and its command goes too."""
        selector.unregister(running.connection)
        running.watched = False
        with contextlib.suppress(ProcessLookupError):
            os.kill(running.pid, signal.SIGTERM)


def _fresh_streams() -> None:
    """Text streams over the caller's descriptors, buffered as Python buffers them for a terminal or a pipe."""
    import io

    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        old = getattr(sys, name)
        raw = io.FileIO(fd, mode, closefd=False)
        interactive = raw.isatty()
        buffered: Any = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(
            buffered,
            encoding=getattr(old, "encoding", None) or "utf-8",
            errors=getattr(old, "errors", None) or "strict",
            line_buffering=interactive or name == "stderr",
            write_through=name == "stderr",
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def serve(run_command: Callable[[list[str]], int], preload: Callable[[], None], idle_s: float = IDLE_EXIT_S) -> int:
    """Run the agent in this process until it is stopped, idle for `idle_s`, or signalled (exit 0); raises
    AgentStartError when it cannot."""
    if not hasattr(os, "pidfd_open") or not hasattr(socket, "send_fds"):
        raise AgentStartError("it needs Linux 5.3 or later")
    path = socket_path()
    _private_folder(path.parent)
    if ask({"status": True}) is not None:
        return 0  # one already serves this installation
    preload()
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_mask)
    bound = path.stat().st_ino
    listener.listen(16)
    os.chdir("/")  # hold no folder of the caller's busy; each command runs in its caller's folder

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        Agent(run_command, idle_s).serve(listener)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            if path.stat().st_ino == bound:  # not an agent started since, in its place
                path.unlink()
    return 0
