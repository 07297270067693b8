"""The exit codes of every headless command: one table, printed in `opsconsole --help`."""

from __future__ import annotations

import enum

from console.errors import ErrorKind, OpsError


class ExitCode(enum.IntEnum):
    """What a headless command's exit status means; a pipeline branches on these."""

    OK = 0
    """Done: ok, every check passed, promoted."""
    CHECK_FAILED = 1
    """A check failed: a runbook check, a budget forecast over its amount, backup freshness breached."""
    USAGE = 2
    """Usage: bad arguments, unknown names, bad parameter values."""
    AZURE_ERROR = 3
    """Azure or query error: a request failed after retries (the local Azure not starting included)."""
    INCONCLUSIVE = 4
    """Inconclusive: the answer came from partial data, or a gate could not decide."""
    REFUSED = 5
    """Refused: read-only, protected subscription, no terminal and no --yes."""
    ROLLED_BACK = 6
    """Rolled back: a guarded release breached its gate and was reversed."""

    @property
    def meaning(self) -> str:
        """The one-line meaning, as the help shows it."""
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "done: ok, every check passed",
    ExitCode.CHECK_FAILED: "a check failed",
    ExitCode.USAGE: "usage: bad arguments, unknown names, bad parameter values",
    ExitCode.AZURE_ERROR: "Azure or query error: a request failed after retries",
    ExitCode.INCONCLUSIVE: "inconclusive: partial data (still arriving, capped, a partial error)",
    ExitCode.REFUSED: "refused: read-only, protected subscription",
    ExitCode.ROLLED_BACK: "rolled back: a guarded release breached its gate",
}

#: Signal-style status for a command stopped with Ctrl-C (128 + SIGINT), outside the table.
INTERRUPTED = 130


def help_table() -> str:
    """The table as the group's help epilog prints it."""
    lines = ["Exit codes of the headless commands:"]
    lines += [f"  {code.value}  {code.meaning}" for code in ExitCode]
    return "\n".join(lines)


def exit_code_for(error: OpsError) -> ExitCode:
    """The exit code an OpsError ends a headless command with.

    A NOT_FOUND without a request id is a name the user gave that matched nothing (the services say so
    themselves, from lists they read): a usage error. One Azure answered with a 404 carries its request id.
    """
    if error.kind in (ErrorKind.READ_ONLY, ErrorKind.REFUSED):
        return ExitCode.REFUSED
    if error.kind is ErrorKind.NOT_FOUND and error.request_id is None:
        return ExitCode.USAGE
    return ExitCode.AZURE_ERROR
