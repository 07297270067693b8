"""The layering rules of pyproject's import-linter contracts hold (and a broken one would be caught)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


def _layered(module: str, layers: list[str]) -> bool:
    named = {part.strip() for layer in layers for part in layer.replace("|", ":").split(":")}
    return any(module == name or module.startswith(name + ".") for name in named)


def test_every_module_of_the_console_is_in_a_layer() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for package in ("console", "screens")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" or path.parent != ROOT / package
    ]
    assert "console.history" in modules and "screens.shell" in modules
    outside = sorted(m.removesuffix(".__init__") for m in modules if not _layered(m.removesuffix(".__init__"), layers))
    assert not outside, f"modules in no layer of the import contract: {outside}"


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("console/history.py", "import textual.widgets", "The core below the screens never imports textual"),
        ("console/app.py", "import console.emulator.estate", "Layers"),
        ("screens/runbooks.py", "import screens.resources", "Area screens never import each other"),
    ],
)
def test_the_contracts_bite(tmp_path: Path, module: str, line: str, contract: str) -> None:
    """A copy of the tree with one forbidden import added breaks the contract that forbids it."""
    for package in ("console", "screens"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # added by the test\n")
    result = subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = result.stdout + result.stderr
    assert result.returncode != 0, report
    broken = [text for text in report.splitlines() if text.endswith(" BROKEN")]
    assert any(text.startswith(contract) for text in broken), report
