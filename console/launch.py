"""The `opsconsole` program: a read-only command goes to a running agent when there is one (see
console.agent); everything else, and every command when no agent takes it, runs here."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the command line in `sys.argv`."""
    arguments = sys.argv[1:]
    if os.environ.get("OPSCONSOLE_NO_AGENT", "") in ("", "0"):
        from console.agent import agent_command, run_through_agent

        if agent_command(arguments):
            code = run_through_agent(arguments)
            if code is not None:
                sys.exit(code)
    from console.cli import main as run_here

    run_here(prog_name="opsconsole")
