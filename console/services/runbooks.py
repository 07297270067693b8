"""Running runbooks: bind parameters, run each step through the logs service, judge checks, keep history."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.durations import timespan_text
from console.errors import OpsError
from console.models import RunbookRun, StepRun
from console.runbooks import (
    Runbook,
    RunbookError,
    Step,
    bind_parameters,
    bound_query,
    load_runbooks,
    render_prelude,
    shipped_runbooks_dir,
)
from console.services.base import Service, ServiceContext
from console.services.logs import LogsService

HISTORY_LIMIT = 2000
HISTORY_MAX_BYTES = 4 * 1024 * 1024
"""Past this size the run history is compacted to its newest HISTORY_LIMIT runs."""


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a bound parameter value."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return timespan_text(value)
    if isinstance(value, int | float | bool | str) or value is None:
        return value
    return str(value)


@dataclass
class StepSession:
    """Steps of one runbook run one at a time, with one set of parameters on one workspace.

    Recorded once, as one run: when every step has run, when the user leaves the runbook, or at close.
    """

    runbook: Runbook
    values: dict[str, Any]
    workspace: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    results: dict[int, StepRun] = field(default_factory=dict)
    recorded: bool = False

    @property
    def complete(self) -> bool:
        """Whether every step of the runbook has a result."""
        return len(self.results) == len(self.runbook.steps)

    def matches(self, runbook: Runbook, values: Mapping[str, Any], workspace_id: str) -> bool:
        """Whether a run with these parameters on this workspace continues this session."""
        return (
            not self.recorded
            and self.runbook.name == runbook.name
            and self.values == dict(values)
            and self.workspace == workspace_id
        )


class RunbookService(Service):
    """Runbooks shipped with the product plus the user's own (`runbooks/` in the config dir).

    Also owns the open step session (steps run one by one in the console) and the run history file.
    """

    def __init__(self, context: ServiceContext, logs: LogsService, user_dir: Path | None = None) -> None:
        super().__init__(context)
        self.logs = logs
        self.user_dir = user_dir
        self.session: StepSession | None = None
        """The step session the console has open, if any."""
        self._history_lock = threading.Lock()

    @property
    def history_path(self) -> Path:
        return self.context.settings.data_dir / "runbook-runs.jsonl"

    def available(self) -> list[Runbook]:
        """Every runbook by name; a user runbook replaces a shipped one of the same name."""
        found = {r.name: r for r in load_runbooks(shipped_runbooks_dir())}
        if self.user_dir is not None and self.user_dir.is_dir():
            found.update({r.name: r for r in load_runbooks(self.user_dir)})
        return sorted(found.values(), key=lambda r: r.title.lower())

    def find(self, name_or_path: str) -> Runbook:
        """A runbook by name, or parsed from a file path."""
        path = Path(name_or_path)
        if path.suffix == ".md" and path.exists():
            from console.runbooks import parse_runbook

            return parse_runbook(path.read_text(encoding="utf-8"), path.stem, path)
        for runbook in self.available():
            if runbook.name == name_or_path:
                return runbook
        names = ", ".join(r.name for r in self.available())
        raise RunbookError(f"No runbook is called {name_or_path!r}; known runbooks: {names}.")

    def bind(self, runbook: Runbook, raw: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        """Typed parameter values and the `let` prelude that carries them (RunbookError when invalid)."""
        values = bind_parameters(runbook, raw)
        return values, render_prelude(runbook.parameters, values)

    async def run_step(self, step: Step, values: Mapping[str, Any], prelude: str, workspace_id: str) -> StepRun:
        """Run one step; a query failure is recorded on the step, not raised."""
        query = bound_query(step, prelude)
        check = step.check.source if step.check else None
        try:
            result = await self.logs.query(workspace_id, query, None)
        except OpsError as error:
            return StepRun(step.name, query, check, error=str(error))
        if step.check is None:
            warning = f"Log Analytics warned: {result.partial_error}" if result.partial_error else ""
            return StepRun(step.name, query, None, sentence=warning, result=result)
        # On a partial result (capped, or telemetry still arriving) the check is inconclusive, never a pass.
        outcome = step.check.evaluate(result, values)
        if step.enough and outcome.verdict == "fail":
            return StepRun(
                step.name,
                query,
                check,
                False,
                outcome.observed,
                f"Too little data to judge: {outcome.sentence}",
                result=result,
                inconclusive=True,
                too_little=True,
            )
        return StepRun(
            step.name,
            query,
            check,
            outcome.passed,
            outcome.observed,
            outcome.sentence,
            result=result,
            inconclusive=outcome.inconclusive,
        )

    async def run(self, runbook: Runbook, raw: Mapping[str, str], workspace_id: str) -> RunbookRun:
        """Run every step in order and record the run in the history."""
        values, prelude = self.bind(runbook, raw)
        started = datetime.now(UTC)
        steps = [await self.run_step(step, values, prelude, workspace_id) for step in runbook.steps]
        run = self.make_run(runbook, values, steps, workspace_id, started)
        self.record(run)
        return run

    async def open_session(
        self, runbook: Runbook, values: Mapping[str, Any], workspace_id: str, *, whole: bool = False
    ) -> StepSession:
        """The session the next steps belong to: the open one when it is the same runbook, parameters and
        workspace; otherwise (or for a whole run) the open one is recorded and a new one starts."""
        session = self.session
        if whole or session is None or not session.matches(runbook, values, workspace_id):
            await self.finish_session()
            session = StepSession(runbook, dict(values), workspace_id)
            self.session = session
        return session

    async def run_session_step(self, session: StepSession, index: int, prelude: str) -> StepRun:
        """Run step `index` of the session's runbook and keep its result in the session."""
        step = session.runbook.steps[index]
        result = await self.run_step(step, session.values, prelude, session.workspace)
        session.results[index] = result
        return result

    async def finish_session(self, session: StepSession | None = None) -> RunbookRun | None:
        """Record `session` (default: the open one) once, if any step ran; the run recorded, or None."""
        session = session if session is not None else self.session
        run = self._claim(session)
        if run is not None:
            await asyncio.to_thread(self.record, run)
        return run

    def close_session(self) -> RunbookRun | None:
        """Record the open session now and forget it (the console is closing: no loop to wait on)."""
        run = self._claim(self.session)
        self.session = None
        if run is not None:
            self.record(run)
        return run

    def forget_session(self) -> None:
        """Stop adding to the open session (it is recorded only if already being recorded)."""
        self.session = None

    def _claim(self, session: StepSession | None) -> RunbookRun | None:
        if session is None or session.recorded or not session.results:
            return None
        session.recorded = True
        steps = [session.results[i] for i in sorted(session.results)]
        return self.make_run(session.runbook, session.values, steps, session.workspace, session.started_at)

    @staticmethod
    def make_run(
        runbook: Runbook,
        values: Mapping[str, Any],
        steps: Sequence[StepRun],
        workspace_id: str,
        started_at: datetime,
    ) -> RunbookRun:
        """A run from steps run one at a time (the console's step-by-step runs), ready to `record`."""
        return RunbookRun(
            runbook.name,
            runbook.title,
            started_at,
            workspace_id,
            {k: _plain(v) for k, v in values.items()},
            tuple(steps),
        )

    def record(self, run: RunbookRun) -> None:
        """Append a run summary (never results themselves) to the local run history."""
        entry = {
            "runbook": run.runbook,
            "title": run.title,
            "at": run.started_at.isoformat(),
            "workspace": run.workspace,
            "parameters": run.parameters,
            "status": run.status,
            "summary": run.summary(),
            "steps": [
                {"name": s.name, "status": s.status, "rows": s.row_count, "observed": _plain(s.observed)}
                for s in run.steps
            ],
        }
        path = self.history_path
        with self._history_lock:  # a record on a worker thread and one at close never interleave
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, default=str) + "\n")
                size = handle.tell()
            if size > HISTORY_MAX_BYTES:
                self._compact(path)

    def _compact(self, path: Path) -> None:
        """Keep the newest HISTORY_LIMIT runs: the file never grows without bound."""
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-HISTORY_LIMIT:]
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
        os.replace(temporary, path)

    def history(self, runbook: str | None = None) -> list[dict[str, Any]]:
        """Recorded runs, newest first, optionally of one runbook."""
        if not self.history_path.exists():
            return []
        entries = []
        for line in self.history_path.read_text(encoding="utf-8").splitlines()[-HISTORY_LIMIT:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if runbook is None or entry.get("runbook") == runbook:
                entries.append(entry)
        return entries[::-1]

    def last_runs(self) -> dict[str, dict[str, Any]]:
        """The newest recorded run of each runbook."""
        latest: dict[str, dict[str, Any]] = {}
        for entry in self.history():
            latest.setdefault(str(entry.get("runbook")), entry)
        return latest
