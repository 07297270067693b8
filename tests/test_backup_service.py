"""BackupService against a real local Azure through azure-mgmt-recoveryservicesbackup: jobs across vaults and
subscriptions (paged), filters, failed-job detail, freshness against the policies, backup now (completing,
and failing on an injected fault), cancel, restore (refused before any request; to an alternate target),
restore drills with their evidence, and the Logs tables telling the same story as ARM.

The local Azure here is this module's own (its backups and restores would disturb other tests), with small
pages so every listing crosses pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import EmulatorThread, control, module_azure, services_on

from console.audit import Journal
from console.emulator import estate, story
from console.emulator.areas.backup import KIND
from console.errors import ErrorKind, OpsError
from console.services import Services
from console.services.backups import BackupService
from console.services.base import ServiceContext
from console.settings import Settings

READY = "vm-jump-prod-01"


backup_azure = module_azure("backup-azure", page_size=7, seed_delay_s=0)


@pytest.fixture
async def services(
    backup_azure: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Callable[..., Services]]:
    async with services_on(backup_azure, monkeypatch, tmp_path) as build:
        yield build


@pytest.fixture
def backup(services: Callable[..., Services]) -> BackupService:
    return services().backup


def _seeded_job_count(emulator: EmulatorThread) -> int:
    store = emulator.running.store  # type: ignore[union-attr]
    vaults = (estate.RECOVERY_VAULT_RESOURCE_ID, estate.NONPROD_RECOVERY_VAULT_RESOURCE_ID)
    return sum(len(store.get(KIND, vault)["jobs"]) for vault in vaults)  # type: ignore[index]


@pytest.mark.asyncio
async def test_the_logs_tables_tell_the_same_backup_story_as_arm(services: Callable[..., Services]) -> None:
    made = services()
    for _ in range(300):  # the local Azure writes its telemetry in the background, the backup jobs first
        result = await made.logs.query(
            estate.WORKSPACE_CUSTOMER_ID,
            "AzureDiagnostics | where Category == 'AddonAzureBackupJobs' "
            "| project item = tostring(split(ResultDescription, ':')[1]), ResultType, TimeGenerated",
            timedelta(days=8),
        )
        if result.row_count and not result.partial_error:
            break
        await asyncio.sleep(0.1)
    rows = result.table.to_pylist()
    logged = {(r["item"], r["ResultType"], r["TimeGenerated"].replace(tzinfo=UTC, microsecond=0)) for r in rows}
    assert logged
    window = min(t for _, _, t in logged) - timedelta(minutes=1)
    prod_items = {i.name for i in story.BACKUP_ITEMS}
    scheduled = {
        (j.item, j.status, j.end.replace(microsecond=0))
        for j in await made.backup.list_jobs(operation="Backup")
        if j.item in prod_items and j.end and j.start and j.end >= window and j.start.second == 0
    }
    # Runs that ended in the last minutes may be in one and not yet in the other: ARM's scheduled runs are
    # topped up every few minutes, the telemetry's when it is written (the nightly window, 01:30-02:30 UTC).
    settled = datetime.now(UTC) - timedelta(minutes=15)
    assert {job for job in scheduled if job[2] < settled} == {row for row in logged if row[2] < settled}


@pytest.mark.asyncio
async def test_jobs_are_read_across_vaults_and_subscriptions_page_by_page(
    backup: BackupService, backup_azure: EmulatorThread
) -> None:
    jobs = await backup.list_jobs()
    assert len(jobs) >= _seeded_job_count(backup_azure) > 7 * 2  # many pages of 7
    assert {j.vault for j in jobs} == {estate.RECOVERY_VAULT_NAME, estate.NONPROD_RECOVERY_VAULT_NAME}
    assert {j.subscription_id for j in jobs} == {estate.PROD_SUBSCRIPTION, estate.NONPROD_SUBSCRIPTION}
    starts = [j.start for j in jobs if j.start]
    assert starts == sorted(starts, reverse=True)
    oldest = min(starts)
    assert datetime.now(UTC) - oldest > timedelta(days=28)  # 30 days of history
    done = [j for j in jobs if j.status == "Completed" and j.operation == "Backup"]
    assert all(j.duration and j.duration > timedelta(0) for j in done)
    assert all(j.data_transferred and j.data_transferred.endswith(" MB") for j in done)


@pytest.mark.asyncio
async def test_filters_and_the_failed_job_detail(backup: BackupService) -> None:
    failed = await backup.list_jobs(status="Failed")
    assert failed and all(j.status == "Failed" for j in failed)
    story_failure = next(j for j in failed if j.item == story.FAILED_BACKUP_ITEM)
    detail = await backup.read_job(story_failure)
    assert detail.errors[0].code == story.FAILED_BACKUP_ERROR
    assert detail.errors[0].message and detail.errors[0].recommendations
    stale = [j for j in failed if j.item == story.STALE_BACKUP_ITEM]
    assert {j.errors[0].code for j in stale} >= {story.STALE_BACKUP_ERROR}
    shares = await backup.list_jobs(item_type="FileShare")
    assert shares and {j.item for j in shares} == {"catalog-media"}
    since = datetime.now(UTC) - timedelta(days=2)
    recent = await backup.list_jobs(since=since)
    assert recent and all(j.start and j.start >= since - timedelta(seconds=1) for j in recent)
    assert len(recent) < len(await backup.list_jobs())


@pytest.mark.asyncio
async def test_freshness_finds_the_seeded_breach_first(backup: BackupService) -> None:
    found = await backup.freshness()
    assert len(found) >= 6
    flags = [f.breached for f in found]
    assert flags == sorted(flags, reverse=True)  # breaches first
    stale = next(f for f in found if f.item.name == story.STALE_BACKUP_ITEM)
    assert stale.breached and stale.late is not None and stale.late > timedelta(days=2)
    fine = next(f for f in found if f.item.name == READY)
    assert not fine.breached
    hourly = next(f for f in found if f.item.name == "catalog-media")
    assert hourly.item.rpo == timedelta(hours=4)


@pytest.mark.asyncio
async def test_backup_now_creates_a_job_that_completes_with_a_new_recovery_point(
    services: Callable[..., Services],
) -> None:
    made = services()
    seen: list[str] = []
    item = await made.backup.find_item(story.STALE_BACKUP_ITEM)
    job = await made.backup.backup_now(item, wait=True, progress=lambda p: seen.append(p.status))
    assert job.status == "Completed" and job.operation == "Backup" and job.data_transferred
    assert any(s.startswith("InProgress") for s in seen)
    points = await made.backup.recovery_points(item)
    assert job.end is not None and abs(points[0].time - job.end) < timedelta(seconds=1)
    after = next(f for f in await made.backup.freshness() if f.item.name == story.STALE_BACKUP_ITEM)
    assert not after.breached  # a fresh backup ends the breach
    journal = [e for e in made.context.journal.entries() if e.get("action") == "back up"]
    assert [e["phase"] for e in journal] == ["intent", "outcome"] and journal[1]["result"] == "succeeded"


@pytest.mark.asyncio
async def test_backup_now_fails_on_an_injected_fault_with_its_detail(
    backup: BackupService, backup_azure: EmulatorThread
) -> None:
    control(backup_azure.readiness, "PUT", [{"path": "/backup$", "method": "POST", "lro_fail": True}])
    try:
        with pytest.raises(OpsError) as caught:
            await backup.backup_now("vm-build-agent-01", wait=True)
    finally:
        control(backup_azure.readiness, "DELETE")
    error = caught.value
    assert error.kind is ErrorKind.FAILED and error.code == "ExtensionSnapshotFailedNoNetwork"
    assert "Recommended:" in error.message
    newest = (await backup.list_jobs(item="vm-build-agent-01"))[0]
    assert newest.status == "Failed" and newest.errors[0].recommendations


@pytest.mark.asyncio
async def test_a_running_job_is_cancelled(backup: BackupService) -> None:
    job = await backup.backup_now("psql-orders-stg")
    assert job.running and job.cancellable
    cancelled = await backup.cancel(job)
    assert cancelled.status in ("Cancelling", "Cancelled")
    for _ in range(50):
        cancelled = await backup.read_job(job)
        if cancelled.status == "Cancelled":
            break
        await asyncio.sleep(0.2)
    assert cancelled.status == "Cancelled"
    with pytest.raises(OpsError) as caught:
        await backup.cancel(cancelled)
    assert caught.value.kind is ErrorKind.BAD_REQUEST


@pytest.mark.asyncio
async def test_restore_is_refused_unconfirmed_and_read_only_before_any_request(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    for settings, confirmed, kind in (
        (Settings(data_dir=tmp_path), False, ErrorKind.REFUSED),
        (Settings(data_dir=tmp_path, read_only=True), True, ErrorKind.READ_ONLY),
    ):
        # Never connected: any request would wait for a connection that never comes.
        service = BackupService(ServiceContext(settings, None, None, journal), None, None)
        with pytest.raises(OpsError) as caught:
            await asyncio.wait_for(service.restore(READY, "latest", confirmed=confirmed), 30)
        assert caught.value.kind is kind
    assert journal.entries() == []


@pytest.mark.asyncio
async def test_restore_to_an_alternate_target_completes_and_is_journalled(backup: BackupService) -> None:
    item = await backup.find_item("psql-orders-prod")
    point = (await backup.recovery_points(item))[0]
    job = await backup.restore(item, point.name, target="psql-orders-restore", confirmed=True)
    assert job.operation == "Restore" and job.status == "Completed"
    assert job.detail("Target") == "psql-orders-restore" and job.detail("Recovery point") == point.name
    outcome = [e for e in backup.context.journal.entries() if e.get("action") == "restore"][-1]
    assert outcome["phase"] == "outcome" and outcome["result"] == "succeeded"
    with pytest.raises(OpsError) as caught:
        await backup.restore(item, "no-such-point", confirmed=True)
    assert caught.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.asyncio
async def test_a_drill_restores_verifies_and_records_its_rto(backup: BackupService) -> None:
    kql = "AzureDiagnostics | where Category == 'AddonAzureBackupJobs' and ResultDescription endswith item"
    result = await backup.drill("vm-build-agent-01", kql, confirmed=True)
    assert result.verdict == "pass", result.sentence
    assert result.rto > timedelta(0) and result.job.status == "Completed"
    assert "rg-restore-drills" in result.target
    failing = await backup.drill("vm-build-agent-01", "Heartbeat | where Computer == target", confirmed=True)
    assert failing.verdict == "fail"
    evidence = backup.drills("vm-build-agent-01")
    assert [e["verdict"] for e in evidence[:2]] == ["fail", "pass"]
    assert evidence[1]["rto_s"] > 0 and evidence[1]["point"] == result.point


# App Service backups -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_app_backups_are_listed_with_the_seeded_failure(backup: BackupService) -> None:
    found = await backup.list_app_backups("app-payments-prod")
    assert len(found) >= 7
    created = [b.created for b in found if b.created]
    assert created == sorted(created, reverse=True)
    failed = [b for b in found if b.status == "Failed"]
    assert len(failed) == 1 and failed[0].log and "403" in failed[0].log
    assert all(b.size_bytes > 0 for b in found if b.status == "Succeeded")
    assert await backup.list_app_backups("app-checkout-prod", "staging") == []
    with pytest.raises(OpsError) as caught:
        await backup.list_app_backups("app-nowhere")
    assert caught.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.asyncio
async def test_an_app_backup_now_completes_and_restores(backup: BackupService) -> None:
    made = await backup.backup_app("app-catalog-prod")
    assert made.status == "Succeeded" and not made.scheduled and made.size_bytes > 0
    with pytest.raises(OpsError) as caught:
        await backup.restore_app("app-catalog-prod", made.backup_id)
    assert caught.value.kind is ErrorKind.REFUSED
    restored = await backup.restore_app("app-catalog-prod", made.backup_id, confirmed=True)
    assert restored.last_restore is not None
    actions = [e["action"] for e in backup.context.journal.entries() if e["phase"] == "outcome"]
    assert actions[-2:] == ["back up", "restore"]


@pytest.mark.asyncio
async def test_an_app_backup_fails_on_an_injected_fault_with_its_log(
    backup: BackupService, backup_azure: EmulatorThread
) -> None:
    control(backup_azure.readiness, "PUT", [{"path": "/sites/app-payments-prod/backup$", "lro_fail": True}])
    try:
        with pytest.raises(OpsError) as caught:
            await backup.backup_app("app-payments-prod")
    finally:
        control(backup_azure.readiness, "DELETE")
    assert caught.value.kind is ErrorKind.FAILED and "403" in caught.value.message
    with pytest.raises(OpsError) as refused:
        await backup.backup_app("app-checkout-prod", "staging")  # no backup storage configured for the slot
    assert refused.value.kind is ErrorKind.NOT_FOUND


# PostgreSQL flexible server backups ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_database_backups_are_listed_and_taken_on_demand(
    backup: BackupService, backup_azure: EmulatorThread
) -> None:
    found = await backup.list_database_backups("psql-orders-prod")
    assert len(found) >= 7 and all(b.source == "Automatic" for b in found)
    made = await backup.backup_database("psql-orders-stg", "before-migration")
    assert made.name == "before-migration" and made.source == "Customer" and made.completed is not None
    assert (await backup.list_database_backups("psql-orders-stg"))[0].name == "before-migration"
    with pytest.raises(OpsError) as caught:
        await backup.backup_database("psql-orders-stg", "before-migration")  # the name is taken
    assert caught.value.kind is ErrorKind.CONFLICT
    control(backup_azure.readiness, "PUT", [{"path": "/backups/failing$", "method": "PUT", "lro_fail": True}])
    try:
        with pytest.raises(OpsError) as failed:
            await backup.backup_database("psql-orders-stg", "failing")
    finally:
        control(backup_azure.readiness, "DELETE")
    assert failed.value.kind is ErrorKind.FAILED
    with pytest.raises(OpsError) as unknown:
        await backup.list_database_backups("psql-nowhere")
    assert unknown.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.asyncio
async def test_a_drill_verified_by_a_runbook_takes_its_verdict(backup: BackupService) -> None:
    # backup-failures checks that no backup job failed in the last day: last night's failure fails it.
    result = await backup.drill("psql-orders-prod", "backup-failures", confirmed=True)
    assert result.job.status == "Completed" and result.verdict == "fail"
    assert "failed backup jobs" in result.sentence
    assert backup.drills("psql-orders-prod")[0]["verify"] == "backup-failures"
