"""The `opsconsole` command: the console (default), headless commands, and the local Azure."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import shlex
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from console.durations import iso_utc
from console.errors import ErrorKind, OpsError
from console.exit_codes import INTERRUPTED, ExitCode, exit_code_for, help_table
from console.settings import Settings, load_settings

T = TypeVar("T")


class Session:
    """What a command needs: settings and, with --demo, the local Azure it runs against."""

    def __init__(self, settings: Settings, demo: bool, reset: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.reset = reset


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"opsconsole: {message}", err=True)
    sys.exit(code)


def _load(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(Path(config) if config else None, **overrides)
    except OpsError as error:
        _fail(str(error), ExitCode.USAGE)


@contextmanager
def services_for(
    session: Session, demo: bool = False, *, telemetry: bool = False, lookback: timedelta | None = None
) -> Iterator[Any]:
    """Build the services for a command, starting or reusing the local Azure under --demo (given to the
    command or to `opsconsole` itself).

    With `telemetry`, wait (bounded) until the local Azure's telemetry has all arrived (with `lookback`,
    until that much of the recent past has), so the command answers from complete data. Failing to start
    is one sentence and exit 3; Ctrl-C is exit 130, at once.
    """
    from console import local as local_azure
    from console.services import make_services

    # azure.identity logs DefaultAzureCredential's multi-line report to stderr before raising; the error
    # the command prints says the same in one sentence.
    azure_logger = logging.getLogger("azure")
    if not any(isinstance(handler, logging.NullHandler) for handler in azure_logger.handlers):
        azure_logger.addHandler(logging.NullHandler())
    local = None
    profile = None
    interrupted = False
    try:
        if session.demo or demo:
            try:
                local = local_azure.start_local_azure(
                    session.settings.data_dir / "local-azure",
                    reset=session.reset,
                    extra_args=session.settings.demo_arguments,
                )
                if telemetry:
                    _wait_for_telemetry(local, local_azure.TELEMETRY_WAIT_S, lookback)
            except OpsError as error:
                _fail(str(error), ExitCode.AZURE_ERROR)
            local.apply_environment()
            profile = local.profile
        try:
            services = make_services(session.settings, profile=profile)
        except OpsError as error:  # a setting such as an unknown cloud name
            _fail(str(error), ExitCode.USAGE)
        yield services
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if local is not None:
            local.stop(wait=local_azure.SHORT_STOP_WAIT_S if interrupted else local_azure.STOP_WAIT_S)
    if interrupted:
        _fail("interrupted.", INTERRUPTED)


def _wait_for_telemetry(local: Any, timeout: float, lookback: timedelta | None) -> None:
    from console.local import ProgressLine

    progress = ProgressLine(sys.stderr)
    try:
        status = local.wait_for_telemetry(timeout, progress, lookback)
    finally:
        progress.finish()
    if not status.covers(lookback):
        click.echo(
            f"opsconsole: warning: the local Azure's telemetry is still loading after {timeout:g} s "
            f"({int(status.progress * 100)}% so far); answering from what has arrived.",
            err=True,
        )


def _options(*options: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One decorator for several click options and arguments, applied in the order given."""

    def apply(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


_YES = click.option("--yes", is_flag=True, help="Do not ask (needed without a terminal).")
_DEMO = click.option("--demo", is_flag=True, help="Use the embedded local Azure.")


def run_async(factory: Callable[[], Awaitable[T]], services: Any) -> T:
    """Run one coroutine with the services, closing their clients afterwards."""

    async def main() -> T:
        try:
            return await factory()
        finally:
            await services.close()

    return asyncio.run(main())


def run_or_fail(factory: Callable[[], Awaitable[T]], services: Any) -> T:
    """`run_async`, where a failure ends the command: its sentence on stderr and its exit code."""
    try:
        return run_async(factory, services)
    except OpsError as error:
        _fail(str(error), exit_code_for(error))


def print_rows(rows: Sequence[dict[str, Any]], output: str, columns: Sequence[str]) -> None:
    """Print rows as an aligned table, JSON, or CSV; datetimes in one ISO 8601 UTC spelling everywhere.

    A table fits the terminal (long cells end in an ellipsis); piped, it is as wide as its widest rows.
    """
    if output == "json":
        click.echo(json.dumps(list(rows), indent=2, default=_json_value))
        return
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
        click.echo(buffer.getvalue(), nl=False)
        return
    texts = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [_is_numeric_column([row.get(c) for row in rows]) for c in columns]
    budget = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    widths = fit_widths(list(columns), texts, budget)
    header = "  ".join(c.ljust(w) if not n else c.rjust(w) for c, w, n in zip(columns, widths, numeric, strict=True))
    click.echo(click.style(header.rstrip(), bold=True) if budget else header.rstrip())
    for line in texts:
        cells = [
            _fit(text, w).rjust(w) if n else _fit(text, w).ljust(w)
            for text, w, n in zip(line, widths, numeric, strict=True)
        ]
        click.echo("  ".join(cells).rstrip())


def fit_widths(columns: list[str], texts: list[list[str]], budget: int | None) -> list[int]:
    """Column widths: each as wide as its widest cell; within `budget` the widest give way first, down
    to their header or 10 characters (beyond that the lines run longer than the terminal)."""
    widths = [max([len(c), *(len(line[i]) for line in texts)]) for i, c in enumerate(columns)]
    if budget is None:
        return widths
    floors = [min(w, max(len(c), 10)) for w, c in zip(widths, columns, strict=True)]
    excess = sum(widths) + 2 * (len(widths) - 1) - budget
    while excess > 0:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _is_numeric_column(values: list[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)


def _json_value(value: Any) -> Any:
    return iso_utc(value) if isinstance(value, datetime) else str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return json.dumps([iso_utc(v) if isinstance(v, datetime) else v for v in value], default=str)
    return str(value)


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\n" + help_table(),  # \b: click keeps the table's lines as they are
)
@click.option("--demo", is_flag=True, help="Run against the embedded local Azure (no account needed).")
@click.option("--reset", is_flag=True, help="With --demo: re-seed the local Azure before starting.")
@click.option("--read-only", is_flag=True, default=None, help="Refuse every mutating action.")
@click.option("--subscription", help="Subscription id or name to start in.")
@click.option("--config", type=click.Path(dir_okay=False), help="Config file (default: the user config dir).")
@click.pass_context
def main(
    ctx: click.Context, demo: bool, reset: bool, read_only: bool | None, subscription: str | None, config: str | None
) -> None:
    """A keyboard-driven console for operating Azure. With no command, opens the console."""
    settings = _load(config, read_only=read_only, subscription=subscription)
    ctx.obj = Session(settings, demo, reset)
    if ctx.invoked_subcommand is None:
        from console.tui import run_console

        code = run_console(settings, demo=demo, reset=reset)
        sys.exit(code)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True}, add_help_option=False)
@click.pass_context
def emulator(ctx: click.Context) -> None:
    """Run the local Azure: prints one JSON line when ready, serves until interrupted (--help for options)."""
    from console.emulator.__main__ import main as emulator_main

    session: Session = ctx.obj
    if ctx.args[:1] == ["env"]:
        emulator_env.main(ctx.args[1:], prog_name="opsconsole emulator env", obj=session)
    args = [arg for arg in ctx.args if arg != "--demo"]  # every command takes --demo; the local Azure is the demo
    argv = [*args, "--reset"] if session.reset else args
    default_data_dir = str(session.settings.data_dir / "local-azure")
    sys.exit(emulator_main(argv, prog="opsconsole emulator", default_data_dir=default_data_dir))


_SHELL_LINES = {
    "bash": "export {name}={value}",
    "zsh": "export {name}={value}",
    "fish": "set -gx {name} {value}",
    "powershell": "$env:{name} = {value}",
}


@click.command()
@click.option("--shell", type=click.Choice(sorted(_SHELL_LINES)), default="bash", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="The local Azure's data dir.")
@click.option("--demo", is_flag=True, hidden=True)
@click.pass_obj
def emulator_env(session: Session, shell: str, data_dir: Path | None, demo: bool) -> None:
    """Print what a shell needs to point az (and SDK scripts) at the running local Azure of the data dir:
    `eval "$(opsconsole emulator env)"`, then `az login --identity`."""
    from console.local import LocalAzure, running_emulator

    data_dir = data_dir or session.settings.data_dir / "local-azure"
    readiness = running_emulator(data_dir)
    if readiness is None:
        _fail(
            f"no local Azure is serving {data_dir}; start one with `opsconsole emulator --data-dir {data_dir}` "
            "(or `opsconsole --demo`) first.",
            ExitCode.AZURE_ERROR,
        )
    quote = (lambda text: "'" + text.replace("'", "''") + "'") if shell == "powershell" else shlex.quote
    line = _SHELL_LINES[shell]
    for name, value in LocalAzure(readiness, None).client_environment(data_dir).items():
        click.echo(line.format(name=name, value=quote(value)))


@main.group()
def resources() -> None:
    """Subscriptions, resource groups and resources."""


@resources.command("list")
@_DEMO
@click.option("--subscription", "subscriptions", multiple=True, help="Subscription id or name (default: all).")
@click.option("--type", "resource_type", help="Only this resource type, e.g. Microsoft.Web/sites.")
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def resources_list(
    session: Session, demo: bool, subscriptions: tuple[str, ...], resource_type: str | None, output: str
) -> None:
    """List resources across subscriptions (fetched concurrently)."""
    subscription_names: dict[str, str] = {}
    with services_for(session, demo) as services:

        async def fetch() -> list[Any]:
            known = await services.resources.list_subscriptions()
            subscription_names.update({s.subscription_id.lower(): s.display_name for s in known})
            chosen = resolve_subscriptions(known, list(subscriptions))
            return list(
                await services.resources.list_all_resources(
                    [s.subscription_id for s in chosen], resource_type=resource_type
                )
            )

        found = run_or_fail(fetch, services)
    rows = [
        {
            "name": r.name,
            "type": r.type,
            "resource_group": r.resource_group,
            "location": r.location,
            "subscription": subscription_names.get(r.subscription_id.lower(), r.subscription_id),
            "subscription_id": r.subscription_id,
            "tags": r.tags,
            "id": r.resource_id,
        }
        for r in sorted(found, key=lambda r: r.resource_id.lower())
    ]
    if output == "table":
        print_rows(rows, output, ["name", "type", "resource_group", "location", "subscription", "tags"])
    else:
        columns = ["name", "type", "resource_group", "location", "tags", "subscription", "subscription_id", "id"]
        print_rows(rows, output, columns)


def resolve_subscriptions(known: Sequence[Any], wanted: Sequence[str]) -> list[Any]:
    """The subscriptions named by id or display name (all when none are named)."""
    if not wanted:
        return list(known)
    chosen = []
    for name in wanted:
        matches = [s for s in known if name.lower() in {s.subscription_id.lower(), s.display_name.lower()}]
        if not matches:
            names = ", ".join(f"{s.display_name} ({s.subscription_id})" for s in known)
            raise OpsError(ErrorKind.NOT_FOUND, f"No subscription is called {name!r}; known: {names}.")
        chosen.extend(matches)
    return chosen


@main.command()
@click.argument("kql")
@_DEMO
@click.option("--workspace", help="Workspace customer id, name or resource id (default: config, then the first).")
@click.option("--timespan", default="P1D", show_default=True, help="How far back: PT1H, P7D, 30m, 4h...")
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def query(session: Session, kql: str, demo: bool, workspace: str | None, timespan: str, output: str) -> None:
    """Run KQL against Log Analytics. Exit 0 on success, 2 on a usage error, 3 on a query error, 4 when the
    result is partial (data still arriving, capped, a partial error: the rows are printed, the reason on stderr)."""
    from console.durations import parse_timespan

    span = parse_timespan(timespan)
    if span is None or span.total_seconds() <= 0:
        raise click.BadParameter(
            f"{timespan!r} is not a duration; use e.g. PT1H, P7D, 30m, 4h, 2d or 01:30:00.", param_hint="--timespan"
        )
    with services_for(session, demo, telemetry=True, lookback=span) as services:

        async def run() -> Any:
            target = await services.logs.find_workspace(services.resources, workspace or session.settings.workspace)
            return await services.logs.query(target.customer_id, kql, span)

        try:
            result = run_async(run, services)
        except OpsError as error:
            _fail(_with_position(error), exit_code_for(error))
    print_rows(result.table.to_pylist(), output, result.table.column_names)
    if result.partial_error or result.truncated:
        reason = result.partial_error or "the result was truncated"
        _fail(f"the result is partial: {reason}", ExitCode.INCONCLUSIVE)


def _with_position(error: OpsError) -> str:
    if error.position is None or "line " in error.message:
        return str(error)
    line, column = error.position
    return f"{error} (line {line}, column {column})"


@main.group()
def runbook() -> None:
    """KQL runbooks: list them, run them headless (exit 0 pass, 1 check failed, 2 bad input, 3 query error,
    4 inconclusive)."""


def _runbook_parameters(runbook: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "type": p.type,
            "default": _show_default(p.default),
            "description": p.description,
        }
        for p in runbook.parameters
    ]


def _show_default(value: Any) -> Any:
    from datetime import datetime, timedelta

    from console.durations import format_duration

    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_show_default(v) for v in value]
    return value


@runbook.command("list")
@click.option("--demo", is_flag=True, help="Accepted like everywhere; runbooks are local files.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def runbook_list(session: Session, demo: bool, output: str) -> None:
    """Every runbook with its title, tags and parameters."""
    from console.runbooks import RunbookError
    from console.services import make_services

    services = make_services(session.settings)
    try:
        found = services.runbooks.available()
    except RunbookError as error:
        _fail(str(error), ExitCode.USAGE)
    if output == "json":
        rows = [
            {"name": r.name, "title": r.title, "tags": list(r.tags), "parameters": _runbook_parameters(r)}
            for r in found
        ]
        print_rows(rows, "json", [])
        return
    table = [
        {
            "name": r.name,
            "title": r.title,
            "tags": ", ".join(r.tags),
            "parameters": ", ".join(
                f"{p['name']}:{p['type']}" + (f"={p['default']}" if p["default"] is not None else "")
                for p in _runbook_parameters(r)
            ),
        }
        for r in found
    ]
    print_rows(table, "table", ["name", "title", "tags", "parameters"])


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--param")
        values[name.strip()] = value
    return values


def _complete_runbook_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Runbook names for `runbook run <TAB>` (none when the runbooks cannot be read)."""
    from click.shell_completion import CompletionItem

    from console.runbooks import RunbookError
    from console.services import make_services

    try:
        found = make_services(load_settings(None)).runbooks.available()
    except (OpsError, RunbookError, OSError):
        return []
    return [CompletionItem(r.name, help=r.title) for r in found if r.name.startswith(incomplete)]


@runbook.command("run")
@click.argument("name", shell_complete=_complete_runbook_names)
@click.option("--param", "params", multiple=True, help="A parameter as name=value (repeatable).")
@_DEMO
@click.option("--workspace", help="Workspace customer id, name or resource id.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def runbook_run(
    session: Session, name: str, params: tuple[str, ...], demo: bool, workspace: str | None, output: str
) -> None:
    """Run every step of a runbook (by name or path) and judge its checks: a check on partial data is
    inconclusive (exit 4), never a pass."""
    from console.runbooks import RunbookError
    from console.services import make_services

    raw = _parse_params(params)
    try:  # bad names and values are told before any local Azure starts
        catalog = make_services(session.settings, connect_later=True).runbooks
        chosen = catalog.find(name)
        catalog.bind(chosen, raw)
    except RunbookError as error:
        _fail(str(error), ExitCode.USAGE)
    with services_for(session, demo, telemetry=True) as services:

        async def run() -> Any:
            target = await services.logs.find_workspace(
                services.resources, workspace or chosen.workspace or session.settings.workspace
            )
            return await services.runbooks.run(chosen, raw, target.customer_id)

        result = run_or_fail(run, services)
    _print_run(result, output)
    sys.exit(RUN_EXIT_CODES[result.status])


#: A runbook run's status as an exit code.
RUN_EXIT_CODES = {
    "pass": ExitCode.OK,
    "fail": ExitCode.CHECK_FAILED,
    "error": ExitCode.AZURE_ERROR,
    "inconclusive": ExitCode.INCONCLUSIVE,
}


def _print_run(run: Any, output: str) -> None:
    if output == "json":
        body = {
            "runbook": run.runbook,
            "title": run.title,
            "status": run.status,
            "workspace": run.workspace,
            "started_at": run.started_at.isoformat(),
            "parameters": run.parameters,
            "steps": [
                {
                    "name": step.name,
                    "status": step.status,
                    "query": step.query,
                    "rows": step.row_count,
                    "check": step.check,
                    "observed": step.observed,
                    "sentence": step.sentence,
                    "partial": step.result.partial_error if step.result is not None else None,
                    "error": step.error,
                }
                for step in run.steps
            ],
        }
        click.echo(json.dumps(body, indent=2, default=str))
        return
    marks = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "inconclusive": "INCONCLUSIVE", "info": ""}
    click.echo(f"{run.title} ({run.runbook}): {run.status.upper()}  [{run.summary()}]")
    for step in run.steps:
        detail = step.error or step.sentence or f"{step.row_count} rows"
        click.echo(f"  {marks[step.status]:12} {step.name}: {detail}")


@main.command(short_help="Print the shell completion script for bash, zsh or fish.")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.option("--demo", is_flag=True, help="Accepted like everywhere; completion needs no Azure.")
def completion(shell: str, demo: bool) -> None:
    """Print the shell completion script, e.g. `eval "$(opsconsole completion bash)"` in ~/.bashrc.

    It completes commands, options and, after `runbook run`, runbook names.
    """
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None
    click.echo(completion_class(main, {}, "opsconsole", "_OPSCONSOLE_COMPLETE").source())


@main.group()
def agent() -> None:
    """Keep the SDK loaded in the background, so that read-only commands (query, resources list, slots list,
    runbook run...) start several times faster. Each still runs as its own fresh process, with your
    environment and folder; commands that change something never go through the agent."""


@agent.command("start")
@click.option(
    "--idle", type=click.IntRange(min=1), default=900, show_default=True, help="Stop after this many quiet seconds."
)
@click.option("--demo", is_flag=True, hidden=True)
@click.pass_obj
def agent_start(session: Session, idle: int, demo: bool) -> None:
    """Start the agent in the background (nothing happens when one is running)."""
    import subprocess
    import time

    from console import agent as background

    status = background.ask({"status": True})
    if status is None:
        log = session.settings.data_dir / "agent.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as errors:
            process = subprocess.Popen(
                [sys.executable, "-m", "console", "agent", "serve", "--idle", str(idle)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
            )
        deadline = time.monotonic() + background.START_WAIT_S
        while status is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            status = background.ask({"status": True})
        if status is None:
            process.kill()
            _fail(f"the agent did not start; see {log}.", ExitCode.AZURE_ERROR)
    click.echo(
        f"agent running (pid {status['pid']}); it stops after {idle} s with nothing to do, or with "
        "`opsconsole agent stop`."
    )


@agent.command("stop")
@click.option("--demo", is_flag=True, hidden=True)
def agent_stop(demo: bool) -> None:
    """Stop the agent once the commands it is running end."""
    from console import agent as background

    status = background.ask({"stop": True})
    click.echo("no agent is running." if status is None else f"agent stopping (it ran {status['served']} commands).")


@agent.command("status")
@click.option("--demo", is_flag=True, hidden=True)
def agent_status(demo: bool) -> None:
    """Say whether the agent runs (exit 0) or not (exit 1)."""
    from console import agent as background

    status = background.ask({"status": True})
    if status is None:
        _fail("no agent is running.", ExitCode.CHECK_FAILED)
    click.echo(f"agent running (pid {status['pid']}, {status['served']} commands run).")


@agent.command("serve", hidden=True)
@click.option("--idle", type=click.IntRange(min=1), default=900)
@click.option("--demo", is_flag=True, hidden=True)
def agent_serve(idle: int, demo: bool) -> None:
    """The agent itself, in the foreground (what `agent start` runs)."""
    from console import agent as background

    def run(argv: list[str]) -> int:
        main.main(args=argv, prog_name="opsconsole")
        return 0

    try:
        code = background.serve(run, _preload_for_agent, idle_s=idle)
    except background.AgentStartError as error:
        _fail(f"the agent did not start: {error}.", ExitCode.REFUSED)
    sys.exit(code)


def _preload_for_agent() -> None:
    """Import what the read-only commands import on their way, once, for every command the agent runs."""
    import importlib

    for module in (
        "azure.identity.aio",
        "azure.core.pipeline.transport._aiohttp",
        "azure.monitor.query.aio",
        "azure.mgmt.resource.resources.aio",
        "azure.mgmt.resource.subscriptions.aio",
        "azure.mgmt.web.aio",
        "azure.mgmt.costmanagement.aio",
        "azure.mgmt.alertsmanagement.aio",
        "azure.mgmt.monitor.models",
        "azure.mgmt.recoveryservicesbackup.aio",
        "azure.mgmt.postgresqlflexibleservers.aio",
        "pyarrow",
        "console.local",
        "console.durations",
        "console.services",
        "console.services.alerts",
        "console.services.backups",
        "console.services.cost",
        "console.services.cost_analysis",
        "console.services.la_arrow",
        "console.services.logs",
        "console.services.resources",
        "console.services.runbooks",
        "console.services.slots",
        "console.runbooks",
        "console.history",
    ):
        importlib.import_module(module)


@main.group()
def slots() -> None:
    """Deployment slots of web apps: what runs where, diffs, swaps, guarded releases and rollback (exit 0
    promoted, 1 gate failed before the swap, 3 Azure error, 4 inconclusive, 5 refused, 6 rolled back)."""


_SLOT_OUTPUT = click.Choice(["table", "json", "csv"])


def _slot_rows(apps: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "app": slot.app,
            "slot": slot.name,
            "build": slot.build,
            "state": slot.state,
            "routing_percent": slot.routing_percent,
            "image": slot.image,
            "app_version": slot.app_version,
            "last_deployment": slot.last_deployment,
            "resource_group": slot.resource_group,
            "subscription_id": slot.subscription_id,
        }
        for app in apps
        for slot in app.slots
    ]


def _where_text(where: dict[str, str]) -> str:
    return ", ".join(f"{slot} {build}" for slot, build in where.items())


@slots.command("list")
@click.argument("app", required=False)
@_DEMO
@click.option("--subscription", help="Subscription id (default: the configured one, else all).")
@click.option("--output", type=_SLOT_OUTPUT, default="table", show_default=True)
@click.pass_obj
def slots_list(session: Session, app: str | None, demo: bool, subscription: str | None, output: str) -> None:
    """Web apps and their slots: build (image tag, else APP_VERSION), state, routing share, last deployment."""
    with services_for(session, demo) as services:

        async def fetch() -> list[Any]:
            if app is not None:
                return [await services.slots.find_app(app, subscription)]
            return list(await services.slots.list_apps(subscription))

        found = run_or_fail(fetch, services)
    rows = _slot_rows(found)
    if output == "table":
        print_rows(rows, output, ["app", "slot", "build", "state", "routing_percent", "last_deployment"])
    else:
        print_rows(rows, output, list(rows[0]) if rows else ["app", "slot", "build"])


@slots.command("diff")
@click.argument("app")
@click.option("--slot", required=True, help="The slot to compare (the source of a swap).")
@click.option("--target", default="production", show_default=True, help="The slot to compare it with.")
@click.option("--reveal", is_flag=True, help="Show the values (masked by default).")
@_DEMO
@click.option("--output", type=_SLOT_OUTPUT, default="table", show_default=True)
@click.pass_obj
def slots_diff(session: Session, app: str, slot: str, target: str, reveal: bool, demo: bool, output: str) -> None:
    """Settings, connection strings and image that differ between two slots; sticky ones stay on a swap."""
    with services_for(session, demo) as services:
        found = run_or_fail(lambda: services.slots.diff(app, slot, target, reveal=reveal), services)
    rows = [
        {"name": d.name, "kind": d.kind, "change": d.change, "sticky": d.sticky, slot: d.source, target: d.target}
        for d in found
    ]
    if not rows and output == "table":
        click.echo(f"{app}: {slot} and {target} hold the same settings.")
        return
    print_rows(rows, output, ["name", "kind", "change", "sticky", slot, target])


_change_options = _options(
    _YES, _DEMO, click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
)
"""--yes, --demo and --output text|json: what a command that changes one thing takes."""


def _confirm_mutation(yes: bool, what: str) -> None:
    """Go ahead with --yes; at a terminal, ask; with neither, refuse (exit 5)."""
    if yes:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _fail(f"refused to {what}: no terminal to confirm at; pass --yes.", ExitCode.REFUSED)
    if not click.confirm(f"{what[:1].upper()}{what[1:]}?", default=False):
        _fail(f"refused to {what}: not confirmed.", ExitCode.REFUSED)


def _gate_from(guard: str, check: str | None, params: tuple[str, ...], workspace: str | None) -> Any:
    """A Gate from --guard (a runbook name or path, else KQL with --check), checked before any Azure call."""
    from console.models import Gate
    from console.runbooks import Parameter, RunbookError, parse_check
    from console.services import make_services

    raw = _parse_params(params)
    catalog = make_services(_session_settings(), connect_later=True).runbooks
    try:
        runbook = catalog.find(guard)
    except RunbookError:
        runbook = None
    if runbook is not None:
        if check is not None:
            raise click.BadParameter("--check goes with a KQL guard, not a runbook.", param_hint="--check")
        unknown = [name for name in raw if runbook.parameter(name) is None]
        if unknown:
            known = ", ".join(p.name for p in runbook.parameters)
            raise click.BadParameter(f"{runbook.name} has no parameter {unknown[0]!r}; its parameters: {known}.")
        return Gate(runbook=guard, parameters=tuple(raw.items()), workspace=workspace)
    if check is None:
        names = ", ".join(r.name for r in catalog.available())
        raise click.BadParameter(
            f"{guard!r} is not a runbook ({names}); a KQL guard needs --check, e.g. --check 'value(failure_pct) <= 5'.",
            param_hint="--guard",
        )
    if raw:
        raise click.BadParameter("--param goes with a runbook guard; a KQL guard uses app, slot and since.")
    bound = (Parameter("app", "string", ""), Parameter("slot", "string", ""), Parameter("since", "datetime", None))
    try:
        parse_check(check, bound)
    except RunbookError as error:
        raise click.BadParameter(str(error), param_hint="--check") from None
    return Gate(kql=guard, check=check, workspace=workspace)


def _session_settings() -> Settings:
    """Settings enough to find runbooks (the user directory from the config) before any Azure call."""
    context = click.get_current_context()
    session: Session = context.find_object(Session)  # type: ignore[assignment]
    return session.settings


def _duration(text: str, option: str) -> timedelta:
    from console.durations import parse_timespan

    span = parse_timespan(text)
    if span is None or span.total_seconds() <= 0:
        raise click.BadParameter(f"{text!r} is not a duration; use e.g. 30s, 10m or PT5M.", param_hint=option)
    return span


def _moment(text: str) -> datetime:
    from datetime import UTC

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a moment; use e.g. 2026-12-01T22:30:00Z.", param_hint="--since"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _echo_reading(reading: Any) -> None:
    click.echo(f"{reading.at.strftime('%H:%M:%S')}  {reading.verdict.upper():12} {reading.sentence}")


def _release_exit(outcome: Any, output: str) -> NoReturn:
    if output == "json":
        body = {
            "decision": outcome.decision,
            "sentence": outcome.sentence,
            "where": outcome.where,
            "readings": [
                {"at": r.at, "verdict": r.verdict, "observed": r.observed, "sentence": r.sentence}
                for r in outcome.readings
            ],
        }
        click.echo(json.dumps(body, indent=2, default=_json_value))
    else:
        click.echo(f"{outcome.decision.upper()}: {outcome.sentence}")
        click.echo(f"where: {_where_text(outcome.where)}")
    sys.exit(_release_code(outcome))


def _release_code(outcome: Any) -> int:
    if outcome.decision == "promoted":
        return ExitCode.OK
    if outcome.decision in ("kept", "stopped"):
        return INTERRUPTED
    if outcome.decision == "rolled back":
        return ExitCode.ROLLED_BACK
    if outcome.decision == "inconclusive":
        return ExitCode.INCONCLUSIVE
    if any(r.verdict == "fail" for r in outcome.readings):
        return ExitCode.CHECK_FAILED
    return ExitCode.AZURE_ERROR


@contextmanager
def _stopped_by_signals(stop: Any) -> Iterator[None]:
    """While a release runs, Ctrl-C (or SIGTERM, as a pipeline cancels) stops it rather than killing it, so
    what it changed is kept or rolled back on purpose (`stop` says which, asking at a terminal)."""
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        if not stop.requested:
            click.echo("Stopping the release once the current step ends…", err=True)
        stop.request()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _release_stop() -> Any:
    """How a headless release stops: at a terminal the user chooses keep or roll back; without one, roll back."""
    from console.services.slots import ReleaseStop

    async def ask() -> bool:
        def prompt() -> str:
            try:
                return str(
                    click.prompt(
                        "Keep what the release changed, or roll it back?",
                        type=click.Choice(["keep", "roll back"]),
                        default="roll back",
                        err=True,
                    )
                )
            except click.Abort:
                return "roll back"

        return await asyncio.to_thread(prompt) != "keep"

    return ReleaseStop(ask if sys.stdin.isatty() else None)


def _progress_printer() -> Callable[[Any], None]:
    def report(progress: Any) -> None:
        if progress.done or (progress.status == "Running" and progress.elapsed_s < 0.5):
            click.echo(f"  {progress.action}: {progress.status} ({progress.elapsed_s:.1f} s)", err=True)

    return report


_guard_options = _options(
    click.option("--guard", help="Gate: a runbook name or path, or a KQL query (then --check)."),
    click.option("--check", help="With a KQL guard: the check, e.g. 'value(failure_pct) <= 5'."),
    click.option("--param", "params", multiple=True, help="A runbook guard's parameter as name=value (repeatable)."),
    click.option("--watch", "watch_text", default="10m", show_default=True, help="How long to watch after the swap."),
    click.option("--interval", "interval_text", default="30s", show_default=True, help="How often to read the gate."),
    click.option("--max-inconclusive", default=2, show_default=True, help="Inconclusive readings in a row tolerated."),
    click.option("--workspace", help="Log Analytics workspace the gate queries (default: config, then the first)."),
)


@slots.command("swap")
@click.argument("app")
@click.option("--slot", required=True, help="The slot whose build goes in (e.g. staging).")
@click.option("--target", default="production", show_default=True, help="The slot it goes into.")
@click.option("--preview", is_flag=True, help="Swap with preview: apply the target's settings to the slot first.")
@_guard_options
@_change_options
@click.pass_obj
def slots_swap(
    session: Session,
    app: str,
    slot: str,
    target: str,
    preview: bool,
    guard: str | None,
    check: str | None,
    params: tuple[str, ...],
    watch_text: str,
    interval_text: str,
    max_inconclusive: int,
    workspace: str | None,
    yes: bool,
    demo: bool,
    output: str,
) -> None:
    """Swap a slot into production (or --target). With --guard, a release that watches itself: the gate must
    pass on the slot first, then is read on the target every --interval for --watch; anything but a clean pass
    swaps back at once (exit 6). Ctrl-C stops the watch: at a terminal you choose to keep the swap (exit 130) or
    roll it back (exit 6); without one it rolls back."""
    gate = _gate_from(guard, check, params, workspace) if guard else None
    if gate is None and (check or params):
        raise click.BadParameter("--check and --param go with --guard.")
    watch, interval = _duration(watch_text, "--watch"), _duration(interval_text, "--interval")
    what = f"{'release' if gate else 'swap'} {app}/{slot} into {target}"
    _confirm_mutation(yes, what)
    with services_for(session, demo, telemetry=gate is not None) as services:

        async def run() -> Any:
            service = services.slots
            if gate is None:
                return await service.swap(
                    app, slot, target, preview=preview, confirmed=True, progress=_progress_printer()
                )
            click.echo(f"Releasing {app}/{slot} into {target}, gated by {gate.label}.")
            stop = _release_stop()
            with _stopped_by_signals(stop):
                return await service.guarded_swap(
                    app,
                    slot,
                    gate,
                    target=target,
                    preview=preview,
                    **_release_arguments(watch, interval, max_inconclusive, output, stop),
                )

        result = run_or_fail(run, services)
    if gate is not None:
        _release_exit(result, output)
    done = "Applied the settings of" if preview else "Swapped"
    _finish_swap(result, output, f"{done} {app}/{slot} with {target}")


def _release_arguments(
    watch: timedelta, interval: timedelta, max_inconclusive: int, output: str, stop: Any
) -> dict[str, Any]:
    """What a watched release (a guarded swap, a ramp) is given from the command line, confirmed already."""
    return {
        "watch": watch,
        "interval": interval,
        "max_inconclusive": max_inconclusive,
        "confirmed": True,
        "on_reading": _echo_reading if output == "text" else None,
        "progress": _progress_printer(),
        "stop": stop,
    }


def _finish_swap(app: Any, output: str, what: str) -> None:
    where = app.where
    if output == "json":
        click.echo(json.dumps({"app": app.name, "where": where}, indent=2))
    else:
        click.echo(f"{what}; now {_where_text(where)}.")


@slots.command("ramp")
@click.argument("app")
@click.option("--slot", required=True, help="The slot to route traffic to.")
@click.option("--steps", required=True, help="Shares of production traffic in turn, in percent, e.g. 5,25,50.")
@click.option("--hold", "hold_text", default="5m", show_default=True, help="How long each step is watched.")
@_guard_options
@_change_options
@click.pass_obj
def slots_ramp(
    session: Session,
    app: str,
    slot: str,
    steps: str,
    hold_text: str,
    guard: str | None,
    check: str | None,
    params: tuple[str, ...],
    watch_text: str,
    interval_text: str,
    max_inconclusive: int,
    workspace: str | None,
    yes: bool,
    demo: bool,
    output: str,
) -> None:
    """Route each share of production traffic to the slot in turn, judging the slot's traffic by the gate at
    every step, then a guarded swap; a breach sets routing back to 0 and stops (exit 6). Ctrl-C stops it: keep
    the routing as it is (exit 130) or send all traffic back to production (exit 6); without a terminal, back."""
    if not guard:
        raise click.BadParameter("a ramp needs a gate.", param_hint="--guard")
    from console.services.slots import read_ramp_steps

    try:
        shares = read_ramp_steps(steps)
    except OpsError as error:
        raise click.BadParameter(error.message, param_hint="--steps") from None
    gate = _gate_from(guard, check, params, workspace)
    hold, watch = _duration(hold_text, "--hold"), _duration(watch_text, "--watch")
    interval = _duration(interval_text, "--interval")
    _confirm_mutation(yes, f"ramp {app}/{slot} through {steps}% and swap it into production")
    with services_for(session, demo, telemetry=True) as services:

        async def run() -> Any:
            click.echo(f"Ramping {app}/{slot} through {steps}%, gated by {gate.label}.")
            stop = _release_stop()
            with _stopped_by_signals(stop):
                return await services.slots.ramp(
                    app, slot, shares, hold, gate, **_release_arguments(watch, interval, max_inconclusive, output, stop)
                )

        outcome = run_or_fail(run, services)
    _release_exit(outcome, output)


@slots.command("rollback")
@click.argument("app")
@click.option(
    "--since", "since_text", help="Only a swap made since this moment (ISO 8601, UTC), e.g. the pipeline's start."
)
@_change_options
@click.pass_obj
def slots_rollback(session: Session, app: str, since_text: str | None, yes: bool, demo: bool, output: str) -> None:
    """Swap back the app's last swap, as the journal recorded it; refuses (exit 5) when there is none, or when
    the slots have changed since."""
    since = _moment(since_text) if since_text else None
    _confirm_mutation(yes, f"roll back the last swap of {app}")
    with services_for(session, demo) as services:

        async def run() -> Any:
            return await services.slots.rollback(app, since=since, confirmed=True, progress=_progress_printer())

        result = run_or_fail(run, services)
    _finish_swap(result, output, f"Rolled back the last swap of {app}")


# cost ----


@main.group()
def cost() -> None:
    """Cost against budgets: budgets, daily cost, break-downs and anomalies (exit 1: a forecast crosses a budget)."""


_COST_OUTPUT = click.Choice(["table", "json", "csv"])
_COST_BY = "service, group, resource, meter or tag:NAME"


_cost_options = _options(
    click.option(
        "--scope", help="Subscription id or name, or /subscriptions/<id>/resourceGroups/<name> (default: configured)."
    ),
    _DEMO,
    click.option("--output", type=_COST_OUTPUT, default="table", show_default=True),
)


def _check_by(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--by` checked before anything starts: a bad grouping is a usage error (exit 2)."""
    from console.services.cost import grouping_of

    if value is not None:
        try:
            grouping_of(value)
        except OpsError as error:
            raise click.BadParameter(error.message) from None
    return value


async def _cost_scope(services: Any, text: str | None) -> Any:
    """The cost scope a command names: an ARM scope path, else a subscription by id or name (default: configured)."""
    from console.services.cost import CostScope

    if text and text.startswith("/"):
        return CostScope.parse(text)
    wanted = text or services.settings.subscription
    known = await services.resources.list_subscriptions()
    chosen = resolve_subscriptions(known, [wanted] if wanted else [])
    return CostScope(chosen[0].subscription_id)


def _run_cost(session: Session, demo: bool, work: Callable[[Any, Any], Awaitable[T]], scope: str | None) -> T:
    with services_for(session, demo) as services:

        async def run() -> T:
            return await work(services.cost, await _cost_scope(services, scope))

        return run_or_fail(run, services)


@cost.command("budgets")
@_cost_options
@click.pass_obj
def cost_budgets(session: Session, scope: str | None, demo: bool, output: str) -> None:
    """Budgets, worst first: amount, spend to date, forecast to the period's end, the date it crosses the amount."""
    budgets = _run_cost(session, demo, lambda service, where: service.budgets(where), scope)
    rows = [
        {
            "name": b.name,
            "amount": b.amount,
            "spent": b.spent,
            "forecast": b.forecast,
            "used_percent": b.percent_used,
            "forecast_percent": b.forecast_percent,
            "breach_date": b.breach_date.isoformat() if b.breach_date else "",
            "crossed": ", ".join(b.crossed),
            "forecast_from": b.forecast_source,
            "currency": b.currency,
            "period": f"{b.period_start.isoformat()}..{b.period_end.isoformat()}",
            "scope": b.scope,
        }
        for b in budgets
    ]
    print_rows(rows, output, ["name", "amount", "spent", "forecast", "used_percent", "breach_date", "crossed"])
    breaching = [b for b in budgets if b.breaches]
    for b in breaching:
        when = b.breach_date.isoformat() if b.breach_date else "before the period ends"
        click.echo(
            f"opsconsole: budget {b.name} ({b.amount:g} {b.currency}) is forecast to reach {b.forecast:.2f} by "
            f"{b.period_end.isoformat()}, crossing its amount on {when} (forecast from the {b.forecast_source}).",
            err=True,
        )
    if breaching:
        sys.exit(ExitCode.CHECK_FAILED)


@cost.command("daily")
@_cost_options
@click.option("--by", callback=_check_by, help=f"Split each day by {_COST_BY}.")
@click.option("--days", type=click.IntRange(1, 90), default=30, show_default=True)
@click.pass_obj
def cost_daily(session: Session, scope: str | None, demo: bool, output: str, by: str | None, days: int) -> None:
    """Cost per day (and accumulated), or per day and group with --by."""

    async def work(service: Any, where: Any) -> Any:
        return await service.daily_by(where, (by,) if by else (), days=days)

    found, _answer = _run_cost(session, demo, work, scope)
    rows: list[dict[str, Any]] = []
    total = 0.0
    for (group, day), amount in sorted(found.items(), key=lambda item: (item[0][1], item[0][0])):
        total += amount
        row: dict[str, Any] = {"date": day.isoformat(), "cost": round(amount, 2)}
        if by:
            row[by] = group[-1] if group else ""
        else:
            row["accumulated"] = round(total, 2)
        rows.append(row)
    print_rows(rows, output, ["date", by, "cost"] if by else ["date", "cost", "accumulated"])


@cost.command("breakdown")
@_cost_options
@click.option("--by", default="service", show_default=True, callback=_check_by, help=f"Group by {_COST_BY}.")
@click.option(
    "--days", type=click.IntRange(1, 45), default=30, show_default=True, help="The period (and the one before)."
)
@click.pass_obj
def cost_breakdown(session: Session, scope: str | None, demo: bool, output: str, by: str, days: int) -> None:
    """Cost by service, group, resource, meter or tag over the last N days, against the N days before."""
    found = _run_cost(session, demo, lambda service, where: service.breakdown(where, by, days=days), scope)
    rows = [
        {
            by: r.key,
            "cost": r.current,
            "previous": r.previous,
            "change": r.change,
            "change_percent": "" if r.change_percent is None else r.change_percent,
        }
        for r in found
    ]
    print_rows(rows, output, [by, "cost", "previous", "change", "change_percent"])


@cost.command("anomalies")
@_cost_options
@click.pass_obj
def cost_anomalies(session: Session, scope: str | None, demo: bool, output: str) -> None:
    """Spikes (with the resources and meters that moved them, largest first), new and stopped costs, growth."""
    found = _run_cost(session, demo, lambda service, where: service.anomalies(where), scope)
    rows = [
        {
            "kind": a.kind,
            "subject": a.subject,
            "date": a.day.isoformat(),
            "amount": a.amount,
            "baseline": a.baseline,
            "rule": a.rule,
            "why": a.why if a.contributors else "",
            "contributors": [
                {
                    "resource": c.resource_id,
                    "meter": c.meter,
                    "baseline": c.baseline,
                    "actual": c.actual,
                    "change": c.change,
                }
                for c in a.contributors
            ],
        }
        for a in found
    ]
    print_rows(rows, output, ["kind", "subject", "date", "amount", "baseline", "why", "rule"])


@cost.command("set-budget")
@click.argument("name")
@click.option("--amount", type=click.FloatRange(min=0.01), required=True, help="The budget per period.")
@click.option(
    "--threshold", "thresholds", multiple=True, help="PERCENT[:Actual|Forecasted], repeatable (replaces all)."
)
@_YES
@_cost_options
@click.pass_obj
def cost_set_budget(
    session: Session,
    name: str,
    amount: float,
    thresholds: tuple[str, ...],
    yes: bool,
    scope: str | None,
    demo: bool,
    output: str,
) -> None:
    """Create a monthly budget or change its amount (and thresholds); journaled like every change."""
    from console.services.cost_analysis import Threshold

    parsed: list[Threshold] = []
    for text in thresholds:
        percent, _, kind = text.partition(":")
        try:
            value = float(percent)
        except ValueError:
            _fail(f"--threshold {text!r} is not PERCENT[:Actual|Forecasted].", ExitCode.USAGE)
        kind = {"": "Actual", "actual": "Actual", "forecasted": "Forecasted", "forecast": "Forecasted"}.get(
            kind.lower(), ""
        )
        if not kind or not 0 < value <= 1000:
            _fail(f"--threshold {text!r} is not PERCENT[:Actual|Forecasted].", ExitCode.USAGE)
        parsed.append(Threshold("", value, kind))
    _confirm_mutation(yes, f"set budget {name} to {amount:g}")
    budget = _run_cost(
        session,
        demo,
        lambda service, where: service.set_budget(
            where, name, amount, parsed or None, confirmed=True, progress=_progress_printer()
        ),
        scope,
    )
    print_rows(
        [{"name": budget.name, "amount": budget.amount, "spent": budget.spent, "forecast": budget.forecast}],
        output,
        ["name", "amount", "spent", "forecast"],
    )


# alerts ----


@main.group()
def alerts() -> None:
    """Fired alerts and alert rules: list with filters, acknowledge or close in bulk with a comment, rules with
    enable/disable (exit 0 done, 2 usage or unknown id/rule, 3 Azure error or a change that failed, 5 refused)."""


_ALERT_COLUMNS = ["id", "severity", "state", "condition", "rule", "target", "started", "resolved"]


def _alert_rows(found: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": alert.short_id,
            "severity": alert.severity,
            "state": alert.state,
            "condition": alert.condition,
            "rule": alert.name,
            "target": alert.target_name,
            "started": alert.started,
            "resolved": alert.resolved,
            "resource_group": alert.target_group,
            "monitor_service": alert.monitor_service,
            "description": alert.description,
            "alert_id": alert.id,
        }
        for alert in found
    ]


@alerts.command("list")
@click.option("--severity", "severities", multiple=True, help="0-4 or Sev0-Sev4; repeat or comma-separate.")
@click.option("--state", "alert_states", multiple=True, help="New, Acknowledged or Closed; repeatable.")
@click.option("--condition", "conditions", multiple=True, help="Fired or Resolved; repeatable.")
@click.option("--resource-group", default="", help="Only alerts about resources in this group.")
@click.option("--service", default="", help="Only alerts from this monitor service (e.g. Platform).")
@click.option("--since", default="24h", show_default=True, help="1h, 24h (1d), 7d or 30d.")
@click.option("--subscription", help="Subscription id (default: the configured one, else all).")
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def alerts_list(
    session: Session,
    severities: tuple[str, ...],
    alert_states: tuple[str, ...],
    conditions: tuple[str, ...],
    resource_group: str,
    service: str,
    since: str,
    subscription: str | None,
    demo: bool,
    output: str,
) -> None:
    """Fired alerts, most severe first, then newest first."""
    from console.models import AlertFilter
    from console.services import alerts as alerts_service

    def split(values: tuple[str, ...]) -> list[str]:
        return [part for value in values for part in value.split(",") if part.strip()]

    try:
        wanted = AlertFilter(
            severities=tuple(alerts_service.severity_names(split(severities))),
            states=tuple(alerts_service.states(split(alert_states))),
            conditions=tuple(alerts_service.known_values(split(conditions), alerts_service.CONDITIONS, "condition")),
            resource_group=resource_group,
            monitor_service=service,
            time_range=alerts_service.time_range(since),
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    with services_for(session, demo) as services:
        found = run_or_fail(lambda: services.alerts.list_alerts(wanted, subscription), services)
    rows = _alert_rows(found)
    print_rows(rows, output, _ALERT_COLUMNS if output == "table" else list(rows[0]) if rows else _ALERT_COLUMNS)


def _change_alerts(session: Session, ids: tuple[str, ...], state: str, comment: str, yes: bool, demo: bool) -> None:
    verb = {"Acknowledged": "acknowledge", "Closed": "close"}[state]
    _confirm_mutation(yes, f"{verb} {len(ids)} alert{'s' if len(ids) != 1 else ''}")
    with services_for(session, demo) as services:

        async def run() -> Any:
            chosen = [await services.alerts.get_alert(alert_id) for alert_id in ids]

            def told(done: int, total: int, alert: Any, error: str | None) -> None:
                said = f"failed: {error}" if error else "done"
                which = f"{alert.short_id} ({alert.severity} {alert.name})"
                click.echo(f"  [{done}/{total}] {verb} {which}: {said}", err=True)

            return await services.alerts.change_state(chosen, state, comment, confirmed=True, progress=told)

        outcome = run_or_fail(run, services)
    click.echo(f"{outcome.text[:1].upper()}{outcome.text[1:]}.")
    if outcome.failed:
        _fail(f"{len(outcome.failed)} of {len(ids)} alerts were not changed.", ExitCode.AZURE_ERROR)


_alert_change_options = _options(
    click.argument("ids", nargs=-1, required=True),
    click.option("--comment", default="", help="Why (kept in the alert's history)."),
    _YES,
    _DEMO,
)


@alerts.command("ack")
@_alert_change_options
@click.pass_obj
def alerts_ack(session: Session, ids: tuple[str, ...], comment: str, yes: bool, demo: bool) -> None:
    """Acknowledge alerts by id (the GUID `alerts list` shows, or the full id)."""
    _change_alerts(session, ids, "Acknowledged", comment, yes, demo)


@alerts.command("close")
@_alert_change_options
@click.pass_obj
def alerts_close(session: Session, ids: tuple[str, ...], comment: str, yes: bool, demo: bool) -> None:
    """Close alerts by id (the GUID `alerts list` shows, or the full id)."""
    _change_alerts(session, ids, "Closed", comment, yes, demo)


def _rule_rows(rules: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": rule.name,
            "kind": rule.kind,
            "enabled": rule.enabled,
            "severity": f"Sev{rule.severity}" if rule.severity is not None else "",
            "frequency": rule.frequency,
            "window": rule.window,
            "condition": rule.condition,
            "firing": rule.firing,
            "last_fired": rule.last_fired,
            "runbook": rule.tag("runbook"),
            "resource_group": rule.resource_group,
            "id": rule.id,
        }
        for rule in rules
    ]


@alerts.command("rules")
@click.option("--subscription", help="Subscription id (default: the configured one, else all).")
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def alerts_rules(session: Session, subscription: str | None, demo: bool, output: str) -> None:
    """Alert rules (log, metric, activity log): enabled, frequency and window, condition, firing, last fired."""
    with services_for(session, demo) as services:
        found = run_or_fail(lambda: services.alerts.list_rules(subscription), services)
    rows = _rule_rows(found)
    columns = ["name", "kind", "enabled", "severity", "frequency", "window", "firing", "last_fired", "runbook"]
    print_rows(rows, output, columns if output == "table" else list(rows[0]) if rows else columns)


@alerts.group("rule")
def alerts_rule() -> None:
    """Enable or disable one alert rule."""


def _set_rule(session: Session, name: str, enabled: bool, yes: bool, demo: bool) -> None:
    verb = "enable" if enabled else "disable"
    _confirm_mutation(yes, f"{verb} the alert rule {name}")
    with services_for(session, demo) as services:
        rule = run_or_fail(
            lambda: services.alerts.set_rule_enabled(name, enabled, confirmed=True, progress=_progress_printer()),
            services,
        )
    click.echo(f"{rule.name} is {'enabled' if rule.enabled else 'disabled'}.")


@alerts_rule.command("enable")
@click.argument("name")
@_YES
@_DEMO
@click.pass_obj
def alerts_rule_enable(session: Session, name: str, yes: bool, demo: bool) -> None:
    """Enable an alert rule by name."""
    _set_rule(session, name, True, yes, demo)


@alerts_rule.command("disable")
@click.argument("name")
@_YES
@_DEMO
@click.pass_obj
def alerts_rule_disable(session: Session, name: str, yes: bool, demo: bool) -> None:
    """Disable an alert rule by name."""
    _set_rule(session, name, False, yes, demo)


# backups ----------------------------------------------------------------------------------------------------


@main.group()
def backups() -> None:
    """Backup runs in Recovery Services vaults (jobs, freshness against each policy, back up now, restore,
    restore drills), App Service backups and PostgreSQL flexible server backups."""


def _job_row(job: Any) -> dict[str, Any]:
    error = job.errors[0] if job.errors else None
    return {
        "start": job.start,
        "item": job.item,
        "type": job.item_type,
        "operation": job.operation,
        "status": job.status,
        "duration": str(job.duration).split(".")[0] if job.duration is not None else "",
        "data": job.data_transferred or "",
        "vault": job.vault,
        "error": error.code if error else "",
        "message": error.message if error else "",
        "recommendation": " ".join(error.recommendations) if error else "",
        "id": job.job_id,
    }


def _since(text: str | None) -> datetime | None:
    """--since as a moment (ISO 8601) or a span back from now (2d, 12h, P7D)."""
    if text is None:
        return None
    from datetime import UTC

    from console.durations import parse_timespan

    span = parse_timespan(text)
    if span is not None and span.total_seconds() > 0:
        return datetime.now(UTC) - span
    return _moment(text)


@backups.command("jobs")
@click.option("--status", help="Only jobs in this status: InProgress, Completed, CompletedWithWarnings, Failed...")
@click.option("--operation", help="Only this operation: Backup, Restore, ConfigureBackup...")
@click.option("--type", "item_type", help="Only this item type: VM, FileShare, Database.")
@click.option("--item", help="Only the jobs of this protected item.")
@click.option("--since", "since_text", help="Only jobs started since: a span back (2d, 12h) or a moment (ISO 8601).")
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def backups_jobs(
    session: Session,
    status: str | None,
    operation: str | None,
    item_type: str | None,
    item: str | None,
    since_text: str | None,
    demo: bool,
    output: str,
) -> None:
    """Backup jobs of every vault in every subscription, newest first (failed ones with code, message and
    what Azure recommends)."""
    since = _since(since_text)
    with services_for(session, demo) as services:
        jobs = run_or_fail(
            lambda: services.backup.list_jobs(
                status=status, operation=operation, item_type=item_type, since=since, item=item
            ),
            services,
        )
    columns = ["start", "item", "type", "operation", "status", "duration", "data", "vault", "error"]
    if output != "table":
        columns += ["message", "recommendation", "id"]
    print_rows([_job_row(j) for j in jobs], output, columns)


def _freshness_row(found: Any) -> dict[str, Any]:
    def hours(span: Any) -> float | None:
        return round(span.total_seconds() / 3600, 1) if span is not None else None

    return {
        "item": found.item.name,
        "type": found.item.item_type,
        "vault": found.item.vault,
        "policy": found.item.policy,
        "rpo_h": hours(found.item.rpo),
        "last_good": found.item.last_recovery_point,
        "age_h": hours(found.age),
        "late_h": hours(found.late),
        "state": "BREACH" if found.breached else "ok",
        "last_status": found.item.last_backup_status,
    }


@backups.command("freshness")
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def backups_freshness(session: Session, demo: bool, output: str) -> None:
    """Each protected item's last good backup against what its policy promises (its RPO), breaches first.
    Exits 1 when any item is past its RPO."""
    with services_for(session, demo) as services:
        found = run_or_fail(services.backup.freshness, services)
    columns = ["item", "type", "vault", "policy", "rpo_h", "last_good", "age_h", "late_h", "state", "last_status"]
    print_rows([_freshness_row(f) for f in found], output, columns)
    late = [f.item.name for f in found if f.breached]
    if late:
        click.echo(f"opsconsole: {len(late)} item(s) past their RPO: {', '.join(late)}.", err=True)
        sys.exit(ExitCode.CHECK_FAILED)


def _echo_job(job: Any, output: str, extra: dict[str, Any] | None = None) -> None:
    row = {**_job_row(job), **(extra or {})}
    if output == "json":
        click.echo(json.dumps(row, indent=2, default=_json_value))
        return
    click.echo(f"{job.operation} of {job.item}: {job.status} (job {job.name}, {row['duration'] or '0:00:00'})")
    for key, value in job.details:
        click.echo(f"  {key}: {value}")
    for key, value in (extra or {}).items():
        click.echo(f"  {key}: {_json_value(value)}")


@backups.command("run")
@click.argument("item")
@click.option("--wait", is_flag=True, help="Return only when the job has ended; print its restore point.")
@click.option("--retain-days", default=30, show_default=True, help="How long the recovery point is kept.")
@_change_options
@click.pass_obj
def backups_run(session: Session, item: str, wait: bool, retain_days: int, yes: bool, demo: bool, output: str) -> None:
    """Back ITEM up now. With --wait, the command ends only when the job has completed and prints the
    restore point (`restore_point`), so a pipeline can take a fresh backup before a migration and restore
    it (`backups restore ITEM --point P`) if the migration fails. A failed job exits 3 with its code."""
    if retain_days < 1 or retain_days > 9999:
        raise click.BadParameter("--retain-days is 1 to 9999.", param_hint="--retain-days")
    _confirm_mutation(yes, f"back up {item} now")
    with services_for(session, demo) as services:

        async def run() -> tuple[Any, Any]:
            service = services.backup
            found = await service.find_item(item)
            job = await service.backup_now(
                found, wait=wait, retain_days=retain_days, confirmed=True, progress=_progress_printer()
            )
            point = None
            if wait:
                points = await service.recovery_points(found)
                point = next((p for p in points if job.start is None or p.time >= job.start), None)
            return job, point

        job, point = run_or_fail(run, services)
    extra = {"restore_point": point.name, "restore_point_time": point.time} if point is not None else None
    _echo_job(job, output, extra)
    if wait and point is None:
        _fail(f"the backup of {item} completed but its restore point is not listed yet.", ExitCode.AZURE_ERROR)


def _confirm_typed(yes: bool, name: str, what: str) -> None:
    """Go ahead with --yes; at a terminal, the user types `name`; with neither, refuse (exit 5)."""
    if yes:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _fail(f"refused to {what}: no terminal to confirm at; pass --yes.", ExitCode.REFUSED)
    typed = click.prompt(f"{what[:1].upper()}{what[1:]}: type {name!r} to go ahead", default="", show_default=False)
    if typed.strip() != name:
        _fail(f"refused to {what}: not confirmed.", ExitCode.REFUSED)


@backups.command("restore")
@click.argument("item")
@click.option("--point", required=True, help="The recovery point's name (see `backups run --wait`), or 'latest'.")
@click.option("--target", help="Restore elsewhere: a resource group id (VM), account/share, or a server name.")
@click.option("--no-wait", is_flag=True, help="Return once the restore job has started.")
@_change_options
@click.pass_obj
def backups_restore(
    session: Session,
    item: str,
    point: str,
    target: str | None,
    no_wait: bool,
    yes: bool,
    demo: bool,
    output: str,
) -> None:
    """Restore ITEM from a recovery point, to its original location or to --target; waits for the job.
    At a terminal the item's name must be typed; without one, --yes is needed (else exit 5)."""
    where = target or "its original location"
    _confirm_typed(yes, item, f"restore {item} from {point} to {where}")
    with services_for(session, demo) as services:

        async def run() -> Any:
            return await services.backup.restore(
                item, point, target=target, wait=not no_wait, confirmed=True, progress=_progress_printer()
            )

        job = run_or_fail(run, services)
    _echo_job(job, output)


@backups.command("drill")
@click.argument("item")
@click.option("--verify", required=True, help="A runbook's name, or a KQL query that must return rows.")
@click.option("--target", help="Where to restore (default: a drill copy beside the original).")
@click.option("--point", default="latest", show_default=True, help="The recovery point to restore.")
@_change_options
@click.pass_obj
def backups_drill(
    session: Session,
    item: str,
    verify: str,
    target: str | None,
    point: str,
    yes: bool,
    demo: bool,
    output: str,
) -> None:
    """A restore drill: restore ITEM to an alternate target, verify it (runbook or KQL), measure the time to
    restore (RTO) and keep the evidence in the journal. Exits 1 when the verification fails, 4 when it is
    inconclusive."""
    _confirm_typed(yes, item, f"run a restore drill of {item}")
    with services_for(session, demo, telemetry=True) as services:

        async def run() -> Any:
            return await services.backup.drill(
                item, verify, target=target, point=point, confirmed=True, progress=_progress_printer()
            )

        result = run_or_fail(run, services)
    body = {
        "item": result.item,
        "point": result.point,
        "point_time": result.point_time,
        "target": result.target,
        "started": result.started,
        "restored": result.restored,
        "rto_s": round(result.rto.total_seconds(), 3),
        "verify": result.verify,
        "verdict": result.verdict,
        "sentence": result.sentence,
        "job": result.job.job_id,
    }
    if output == "json":
        click.echo(json.dumps(body, indent=2, default=_json_value))
    else:
        click.echo(
            f"Drill of {result.item}: restored {result.point} to {result.target} in "
            f"{body['rto_s']:.1f} s; verification {result.verdict.upper()}: {result.sentence}"
        )
    codes = {"pass": ExitCode.OK, "fail": ExitCode.CHECK_FAILED, "inconclusive": ExitCode.INCONCLUSIVE}
    sys.exit(codes.get(result.verdict, ExitCode.AZURE_ERROR))


def _app_backup_row(backup: Any) -> dict[str, Any]:
    return {
        "id": backup.backup_id,
        "created": backup.created,
        "app": backup.app,
        "slot": backup.slot,
        "name": backup.name,
        "status": backup.status,
        "size": backup.size_text,
        "scheduled": backup.scheduled,
        "finished": backup.finished,
        "last_restore": backup.last_restore,
        "log": backup.log or "",
    }


_APP_BACKUP_COLUMNS = ["id", "created", "app", "slot", "name", "status", "size", "scheduled", "log"]


@backups.command("app-list")
@click.argument("app")
@click.option("--slot", default="production", show_default=True, help="A slot of the app.")
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def backups_app_list(session: Session, app: str, slot: str, demo: bool, output: str) -> None:
    """The App Service backups of APP (or --slot), newest first."""
    with services_for(session, demo) as services:
        found = run_or_fail(lambda: services.backup.list_app_backups(app, slot), services)
    print_rows([_app_backup_row(b) for b in found], output, _APP_BACKUP_COLUMNS)


@backups.command("app-run")
@click.argument("app")
@click.option("--slot", default="production", show_default=True, help="A slot of the app.")
@click.option("--no-wait", is_flag=True, help="Return once the backup has started.")
@_YES
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def backups_app_run(session: Session, app: str, slot: str, no_wait: bool, yes: bool, demo: bool, output: str) -> None:
    """Back APP (or --slot) up now to the storage its backup configuration names; waits for the backup to end
    (a failed one exits 3 with App Service's log)."""
    _confirm_mutation(yes, f"back up {app} ({slot}) now")
    with services_for(session, demo) as services:
        made = run_or_fail(
            lambda: services.backup.backup_app(
                app, slot, wait=not no_wait, confirmed=True, progress=_progress_printer()
            ),
            services,
        )
    print_rows([_app_backup_row(made)], output, _APP_BACKUP_COLUMNS)


@backups.command("app-restore")
@click.argument("app")
@click.option("--backup", "backup_id", required=True, help="The backup's id (see `backups app-list`).")
@click.option("--slot", default="production", show_default=True, help="A slot of the app.")
@_YES
@_DEMO
@click.pass_obj
def backups_app_restore(session: Session, app: str, backup_id: str, slot: str, yes: bool, demo: bool) -> None:
    """Restore APP (or --slot) from one of its backups, over its content. At a terminal the app's name must be
    typed; without one, --yes is needed (else exit 5)."""
    _confirm_typed(yes, app, f"restore {app} ({slot}) from backup {backup_id}")
    with services_for(session, demo) as services:
        restored = run_or_fail(
            lambda: services.backup.restore_app(app, backup_id, slot, confirmed=True, progress=_progress_printer()),
            services,
        )
    click.echo(f"Restored {app} ({slot}) from backup {restored.backup_id} ({restored.name}).")


def _database_backup_row(backup: Any) -> dict[str, Any]:
    return {
        "server": backup.server,
        "name": backup.name,
        "type": backup.backup_type,
        "source": backup.source,
        "completed": backup.completed,
    }


@backups.command("db-list")
@click.argument("server")
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def backups_db_list(session: Session, server: str, demo: bool, output: str) -> None:
    """The backups of a PostgreSQL flexible server (automatic and on demand), newest first."""
    with services_for(session, demo) as services:
        found = run_or_fail(lambda: services.backup.list_database_backups(server), services)
    print_rows([_database_backup_row(b) for b in found], output, ["server", "name", "type", "source", "completed"])


@backups.command("db-run")
@click.argument("server")
@click.option("--name", help="The backup's name (default: ondemand-<time>).")
@_YES
@_DEMO
@click.option("--output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_obj
def backups_db_run(session: Session, server: str, name: str | None, yes: bool, demo: bool, output: str) -> None:
    """Take an on-demand backup of a PostgreSQL flexible server; waits until it is done."""
    _confirm_mutation(yes, f"back up {server} now")
    with services_for(session, demo) as services:
        made = run_or_fail(
            lambda: services.backup.backup_database(server, name, confirmed=True, progress=_progress_printer()),
            services,
        )
    print_rows([_database_backup_row(made)], output, ["server", "name", "type", "source", "completed"])
