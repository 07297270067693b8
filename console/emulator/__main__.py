"""`python -m console.emulator`: the local Azure alone, without the console's command-line layer."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from console.emulator.faults import FaultSpecError, parse_fault_spec
from console.emulator.server import EmulatorConfig, NotLoopbackError, require_loopback, serve


def main(argv: list[str] | None = None) -> int:
    """Parse the same options as `opsconsole emulator` and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m console.emulator", description="Run the local Azure.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--reset", action="store_true")
    parser.add_argument("--faults", default="")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--telemetry-scale", type=float, default=1.0)
    parser.add_argument("--no-traffic", action="store_true")
    parser.add_argument("--parent-pid", type=int, help="Stop when this process (the console) has gone.")
    args = parser.parse_args(argv)
    try:
        require_loopback(args.host)
        rules = parse_fault_spec(args.faults)
    except (NotLoopbackError, FaultSpecError) as error:
        print(f"local Azure: {error}", file=sys.stderr)
        return 2
    config = EmulatorConfig(
        data_dir=Path(args.data_dir),
        host=args.host,
        port=args.port,
        reset=args.reset,
        faults=rules,
        page_size=args.page_size,
        telemetry_scale=args.telemetry_scale,
        live_traffic=not args.no_traffic,
        parent_pid=args.parent_pid,
    )

    def announce(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        asyncio.run(serve(config, announce))
    except OSError as error:
        print(f"local Azure: could not start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
