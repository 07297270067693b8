"""The layering rules of pyproject's import-linter contracts hold (and a broken one would be caught)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, str(config), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_import_contract_is_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert len(contracts) >= 4
    result = lint(ROOT / "pyproject.toml")
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert f"Contracts: {len(contracts)} kept, 0 broken." in report
    for contract in contracts:
        assert f"{contract['name']} KEPT" in report


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """Guards against the check above passing vacuously: the console's entry point does reach textual."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["console", "screens"]\n'
        "include_external_packages = true\n\n"
        "[[tool.importlinter.contracts]]\n"
        'name = "The command line never reaches textual"\n'
        'type = "forbidden"\n'
        'source_modules = ["console.cli"]\n'
        'forbidden_modules = ["textual"]\n'
    )
    result = lint(config)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout + result.stderr
