"""What the services own now that screens no longer do: workspace choice, the query history, step sessions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from console.emulator import estate
from console.history import QueryHistory
from console.models import StepRun
from console.runbooks import load_runbooks, shipped_runbooks_dir
from console.services import Services


@pytest.mark.asyncio
async def test_workspace_choice_ignores_case_and_is_the_same_for_every_caller(
    make_local_services: Callable[..., Services],
) -> None:
    services = make_local_services()
    try:
        logs = services.logs
        by_name = await logs.find_workspace(services.resources, estate.WORKSPACE_NAME.upper())
        assert by_name.customer_id == estate.WORKSPACE_CUSTOMER_ID
        by_id = await logs.find_workspace(services.resources, estate.WORKSPACE_RESOURCE_ID.lower())
        assert by_id == by_name
        guid = estate.WORKSPACE_CUSTOMER_ID.upper()
        assert logs.is_workspace_id(guid) and not logs.is_workspace_id(estate.WORKSPACE_NAME)
        assert (await logs.find_workspace(services.resources, guid)).customer_id == guid
        first = await logs.find_workspace(services.resources, None)
        assert await logs.find_workspace(services.resources, "  ") is first  # blank is "none named"
        with pytest.raises(Exception, match="No workspace is called 'nope'"):
            await logs.find_workspace(services.resources, "nope")
    finally:
        await services.close()


def test_the_query_history_takes_runs_from_several_threads_at_once(tmp_path: Path) -> None:
    history = QueryHistory(tmp_path / "history.jsonl", limit=500)
    start = threading.Barrier(8)

    def run(worker: int) -> None:
        start.wait()
        for n in range(100):
            history.add(f"T{worker} | take {n}", workspace="w")
            history.entries()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = history.entries()
    assert len(kept) == 800  # below twice the limit: nothing compacted, nothing lost
    reread = QueryHistory(tmp_path / "history.jsonl", limit=500).entries()
    assert [e.kql for e in reread] == [e.kql for e in kept][-500:]  # a new reader keeps the newest `limit`


@pytest.mark.asyncio
async def test_a_step_session_is_recorded_once_and_a_new_one_starts_on_new_values(
    make_local_services: Callable[..., Services],
) -> None:
    services = make_local_services()
    service = services.runbooks
    runbook = next(r for r in load_runbooks(shipped_runbooks_dir()) if len(r.steps) > 1)
    first = await service.open_session(runbook, {"a": 1}, "ws")
    assert await service.open_session(runbook, {"a": 1}, "ws") is first
    assert await service.finish_session() is None  # nothing ran: nothing to record
    first.results[0] = StepRun(runbook.steps[0].name, "q", None)
    assert not first.complete
    second = await service.open_session(runbook, {"a": 2}, "ws")  # new values: the first is recorded
    assert second is not first and first.recorded
    assert len(service.history(runbook.name)) == 1
    second.results[1] = StepRun(runbook.steps[1].name, "q", None)
    assert service.close_session() is not None and service.session is None
    assert service.close_session() is None
    assert len(service.history(runbook.name)) == 2
    await services.close()
