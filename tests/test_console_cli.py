"""Headless rough edges: --demo on every command, table output, one datetime spelling, completion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from conftest import EmulatorThread

from console.cli import iso_utc, main, print_rows
from console.emulator.server import write_record


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Config and data dirs of this test only; returns the data dir."""
    monkeypatch.setenv("OPSCONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("OPSCONSOLE_DATA_DIR", str(tmp_path / "data"))
    for name in ("OPSCONSOLE_CONFIG", "OPSCONSOLE_READ_ONLY", "OPSCONSOLE_SUBSCRIPTION"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def every_command(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(every_command(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


def test_every_subcommand_accepts_demo(isolated: Path) -> None:
    commands = every_command(main)
    assert ("runbook", "list") in commands and ("completion",) in commands
    for path in commands:
        command: click.Command = main
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        takes_demo = any("--demo" in getattr(p, "opts", ()) for p in command.params)
        forwards = bool(command.context_settings.get("ignore_unknown_options"))
        assert takes_demo or forwards, f"`opsconsole {' '.join(path)}` refuses --demo"


def test_runbook_list_and_completion_take_demo(isolated: Path) -> None:
    listed = invoke("runbook", "list", "--demo")
    assert listed.exit_code == 0, listed.output
    assert "slot-health" in listed.stdout
    script = invoke("completion", "--demo", "bash")
    assert script.exit_code == 0, script.output
    assert "_OPSCONSOLE_COMPLETE" in script.stdout


def test_help_shows_the_whole_completion_line(isolated: Path) -> None:
    result = invoke("--help")
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("completion"))
    assert line.rstrip().endswith("bash, zsh or fish.")


def test_runbook_run_completes_runbook_names(isolated: Path) -> None:
    env = {"_OPSCONSOLE_COMPLETE": "bash_complete", "COMP_WORDS": "opsconsole runbook run slot", "COMP_CWORD": "3"}
    result = CliRunner().invoke(main, [], env=env, prog_name="opsconsole")
    assert "plain,slot-health" in result.stdout.splitlines()


def test_table_is_not_squeezed_when_piped_and_numbers_align_right() -> None:
    long_name = "a-resource-name-well-past-thirty-six-characters-long"
    rows = [
        {"name": long_name, "count": 7, "when": datetime(2026, 12, 1, 20, 54, 12, tzinfo=UTC)},
        {"name": "b", "count": 12345, "when": datetime(2026, 12, 1, 21, 54, 12, 250000, tzinfo=UTC)},
    ]

    @click.command()
    def show() -> None:
        print_rows(rows, "table", ["name", "count", "when"])

    lines = CliRunner().invoke(show).stdout.splitlines()
    assert long_name in lines[1]
    assert "2026-12-01T20:54:12Z" in lines[1] and "2026-12-01T21:54:12.250Z" in lines[2]
    # Right-aligned: both counts end in the same column.
    assert lines[1].index("7 ") + 1 == lines[2].index("12345 ") + 5
    assert all(line == line.rstrip() for line in lines)


def test_one_iso_8601_utc_spelling_for_datetimes() -> None:
    assert iso_utc(datetime(2026, 12, 1, 22, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-12-01T20:00:00Z"
    assert iso_utc(datetime(2026, 12, 1, 20, 0)) == "2026-12-01T20:00:00Z"

    @click.command()
    @click.argument("output")
    def show(output: str) -> None:
        print_rows([{"when": datetime(2026, 12, 1, 20, 0, tzinfo=UTC)}], output, ["when"])

    assert json.loads(CliRunner().invoke(show, ["json"]).stdout) == [{"when": "2026-12-01T20:00:00Z"}]
    assert CliRunner().invoke(show, ["csv"]).stdout.splitlines()[1] == "2026-12-01T20:00:00Z"


@pytest.fixture
def demo_data_dir(isolated: Path, local_azure: EmulatorThread) -> Path:
    emulator_dir = isolated / "local-azure"
    emulator_dir.mkdir(parents=True)
    write_record(emulator_dir, local_azure.readiness)
    return isolated


def test_resources_list_names_the_subscription_of_each_row(demo_data_dir: Path) -> None:
    result = invoke("resources", "list", "--demo")
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    assert header == ["name", "type", "resource_group", "location", "subscription", "tags"]
    assert "Contoso Production" in result.stdout and "Contoso Non-Production" in result.stdout
    rows = json.loads(invoke("resources", "list", "--demo", "--output", "json").stdout)
    assert {row["subscription"] for row in rows} == {"Contoso Production", "Contoso Non-Production"}


def test_a_table_on_a_narrow_terminal_keeps_every_column_and_cuts_the_widest() -> None:
    from console.cli import fit_widths

    columns = ["name", "type", "resource_group", "location", "subscription", "tags"]
    texts = [["n" * 60, "t" * 45, "rg-dev-sandbox", "eastus", "Contoso Non-Production", "x" * 90]]
    widths = fit_widths(columns, texts, 120)
    assert sum(widths) + 2 * (len(widths) - 1) <= 120
    assert all(
        width >= min(len(texts[0][i]), max(len(c), 10))
        for i, (c, width) in enumerate(zip(columns, widths, strict=True))
    )
    assert widths[2] == len("rg-dev-sandbox") and widths[3] == len("location")
    assert fit_widths(columns, texts, None) == [60, 45, 14, 8, 22, 90]


def test_grid_csv_export_and_headless_spell_a_datetime_the_same_way() -> None:
    import pyarrow as pa

    from console.cli import _cell
    from console.export import text_cells
    from screens.widgets.result_grid import format_column

    moments = [datetime(2026, 12, 1, 20, 54, 12, tzinfo=UTC), datetime(2026, 12, 1, 20, 54, 12, 250000, tzinfo=UTC)]
    column = pa.array(moments, pa.timestamp("us", tz="UTC"))
    headless = [_cell(moment) for moment in moments]
    assert headless == ["2026-12-01T20:54:12Z", "2026-12-01T20:54:12.250Z"]
    assert format_column(column, "datetime") == headless
    assert text_cells(column) == headless
