"""Each headless opsconsole command against its az CLI equivalent, on the same local Azure, in the same run.

    python bench/vs_az.py [--runs 5] [--az PATH]

Starts a local Azure (small telemetry, no live traffic) with `opsconsole emulator`, points az at it the way the
README says (`opsconsole emulator env`, `az login --identity`), then times each pair as a process start to
exit, median of `--runs` (after one warm-up run each; the commands of a pair run in turn): opsconsole as a
fresh process, opsconsole with its agent running (`opsconsole agent start`: the SDK already imported), and az.
Prints the medians and opsconsole's speed-up; the goal is at least 2x for every command. az comes from --az,
OPSCONSOLE_AZ or PATH (.ci/run installs one).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.emulator import estate

OPSCONSOLE = str(Path(sys.executable).with_name("opsconsole"))
PROD = estate.PROD_SUBSCRIPTION


def once(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run of `command`; a failure is printed and ends the bench."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}): {done.stderr.strip()[:400]}")
    return time.perf_counter() - started


def timed(commands: list[tuple[list[str], dict[str, str]]], runs: int) -> list[float]:
    """Median wall times of each command over `runs`, after a warm-up each, run in turn so that load from
    elsewhere on the machine falls on all alike."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs + 1):
        for (command, env), taken in zip(commands, times, strict=True):
            taken.append(once(command, env))
    return [statistics.median(taken[1:]) for taken in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--az", default=os.environ.get("OPSCONSOLE_AZ") or shutil.which("az"))
    args = parser.parse_args()
    if not args.az:
        raise SystemExit("no az CLI: pass --az PATH or set OPSCONSOLE_AZ (.ci/run installs one in the user cache)")
    with tempfile.TemporaryDirectory() as temp:
        home = Path(temp)
        data = home / "data"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "AZURE_", "IDENTITY_"))}
        # Both run as installed, with their bytecode cached (pip compiles az's at install; the warm-up run
        # writes ours): a shell that sets PYTHONDONTWRITEBYTECODE would otherwise recompile opsconsole's
        # own modules from source on every run (~60 ms) and not az's.
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        # XDG_RUNTIME_DIR: an agent of the bench's own, never one the user runs.
        ours = {
            **base,
            "OPSCONSOLE_DATA_DIR": str(data),
            "OPSCONSOLE_CONFIG_DIR": str(home / "config"),
            "XDG_RUNTIME_DIR": str(home / "run"),
        }
        without_agent = {**ours, "OPSCONSOLE_NO_AGENT": "1"}
        server = subprocess.Popen(
            [OPSCONSOLE, "emulator", "--telemetry-scale", "0.05", "--no-traffic"],
            env=ours,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            readiness = json.loads(server.stdout.readline())
            printed = subprocess.run(
                [OPSCONSOLE, "emulator", "env"], env=ours, capture_output=True, text=True, check=True
            ).stdout
            theirs = dict(base, AZURE_CORE_ONLY_SHOW_ERRORS="true")
            for line in printed.splitlines():
                name, _, value = line.removeprefix("export ").partition("=")
                theirs[name] = shlex.split(value)[0]
            subprocess.run([args.az, "login", "--identity", "-o", "none"], env=theirs, check=True)
            subprocess.run([args.az, "account", "set", "-s", PROD], env=theirs, check=True)
            query_url = f"{readiness['logs_endpoint']}/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query"
            pairs = [
                (
                    "resources of a subscription",
                    [OPSCONSOLE, "resources", "list", "--demo", "--subscription", PROD, "--output", "json"],
                    [args.az, "resource", "list", "-o", "json"],
                ),
                (
                    "a Log Analytics query",
                    # az rest is given the workspace id, so opsconsole is too (without it, it finds the workspace
                    # through ARM first: three more calls).
                    [
                        OPSCONSOLE, "query", "AppRequests | count", "--demo", "--timespan", "PT1H", "--output", "json",
                        "--workspace", estate.WORKSPACE_CUSTOMER_ID,
                    ],
                    [
                        args.az, "rest", "--method", "post", "--url", query_url,
                        "--resource", "https://api.loganalytics.io",
                        "--body", json.dumps({"query": "AppRequests | count", "timespan": "PT1H"}),
                    ],
                ),
                (
                    "an app's deployment slots",
                    [OPSCONSOLE, "slots", "list", "app-checkout-prod", "--demo", "--output", "json"],
                    [args.az, "webapp", "deployment", "slot", "list", "-g", "rg-prod-web", "-n", "app-checkout-prod"],
                ),
            ]  # fmt: skip
            print(
                f"median of {args.runs} runs each, after a warm-up, the two in turn; the same local Azure for both"
                f" (load average {os.getloadavg()[0]:.2f})"
            )
            subprocess.run([OPSCONSOLE, "agent", "start"], env=ours, check=True, capture_output=True)
            for what, mine, az in pairs:
                fresh_s, agent_s, az_s = timed([(mine, without_agent), (mine, ours), (az, theirs)], args.runs)
                print(
                    f"  {what:30} az {az_s:5.2f} s   opsconsole {fresh_s:5.2f} s ({az_s / fresh_s:4.1f}x)"
                    f"   with its agent {agent_s:5.2f} s ({az_s / agent_s:4.1f}x; goal >= 2x)"
                )
        finally:
            subprocess.run([OPSCONSOLE, "agent", "stop"], env=ours, capture_output=True)
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
