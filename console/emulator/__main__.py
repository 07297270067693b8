"""`python -m console.emulator`: the local Azure alone, without the console's command-line layer."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from console.emulator.faults import FaultSpecError, parse_fault_spec
from console.emulator.server import EmulatorConfig, NotLoopbackError, require_loopback, serve
from console.exit_codes import ExitCode


def main(
    argv: list[str] | None = None, prog: str = "python -m console.emulator", default_data_dir: str | None = None
) -> int:
    """The options of `opsconsole emulator` (defined here only): serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run the local Azure: prints one JSON line when ready, serves until interrupted.",
        allow_abbrev=False,
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port for ARM and Log Analytics (0: any free port)")
    parser.add_argument(
        "--data-dir",
        required=default_data_dir is None,
        default=default_data_dir,
        help="where state, certificates and the record live" + (" (default: %(default)s)" if default_data_dir else ""),
    )
    parser.add_argument("--reset", action="store_true", help="re-seed the demo estate")
    parser.add_argument("--faults", default="", help="fault rules, e.g. 'path=/resources,status=503,rate=0.2'")
    parser.add_argument("--page-size", type=int, default=100, help="items per page in ARM lists (default: 100)")
    parser.add_argument("--telemetry-scale", type=float, default=1.0, help="telemetry volume (1.0: ~4M rows)")
    parser.add_argument("--no-traffic", action="store_true", help="do not generate live telemetry")
    parser.add_argument("--parent-pid", type=int, help="stop when this process (the console) has gone")
    parser.add_argument(
        "--seed-delay", type=float, default=EmulatorConfig.seed_delay_s, help="seconds before seeding telemetry"
    )
    args = parser.parse_args(argv)
    if not 0 < args.telemetry_scale <= 10 or not 1 <= args.page_size <= 1000 or not 0 <= args.seed_delay <= 60:
        print("local Azure: --telemetry-scale takes (0, 10], --page-size 1-1000, --seed-delay 0-60.", file=sys.stderr)
        return int(ExitCode.USAGE)
    try:
        require_loopback(args.host)
        rules = parse_fault_spec(args.faults)
    except (NotLoopbackError, FaultSpecError) as error:
        print(f"local Azure: {error}", file=sys.stderr)
        return int(ExitCode.USAGE)
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
        seed_delay_s=args.seed_delay,
    )

    def announce(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        asyncio.run(serve(config, announce))
    except OSError as error:
        print(f"local Azure: could not start: {error}", file=sys.stderr)
        return int(ExitCode.AZURE_ERROR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
