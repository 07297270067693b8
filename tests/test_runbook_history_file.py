"""The runbook run history on disk: private to its owner and bounded in size."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.models import RunbookRun, StepRun
from console.services import make_services
from console.services import runbooks as runbooks_service
from console.settings import Settings


def _run(index: int) -> RunbookRun:
    step = StepRun(name="step", query="print 1", check="rows > 0", passed=True, observed=1)
    return RunbookRun(
        runbook=f"book-{index}",
        title="A runbook",
        started_at=datetime.now(UTC),
        workspace="w",
        parameters={"p": "x" * 200},
        steps=(step,),
    )


def test_the_run_history_is_private_and_compacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runbooks_service, "HISTORY_MAX_BYTES", 20_000)
    monkeypatch.setattr(runbooks_service, "HISTORY_LIMIT", 10)
    services = make_services(Settings(data_dir=tmp_path / "data"))
    for index in range(200):
        services.runbooks.record(_run(index))
    path = services.runbooks.history_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size <= 20_000 + 1_000
    newest = services.runbooks.history()
    assert newest[0]["runbook"] == "book-199"
    assert len(newest) <= 2 * 10 + 20
