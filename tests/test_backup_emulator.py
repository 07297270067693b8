"""The local Azure's backup area on its own: Azure-shaped refusals of hostile or wrong requests (never a 500),
answers the SDK reads as Azure's, and the scheduled backups that came due after the seed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.rest import HttpRequest
from conftest import EmulatorThread

from console.emulator import estate, story
from console.emulator.areas import AREAS
from console.emulator.areas.backup import KIND, top_up, vault_items
from console.emulator.kql_engine import KqlEngine
from console.emulator.store import Store
from console.emulator.telemetry import create_tables, fill_gap, kept_telemetry, seed_telemetry

VAULT = estate.RECOVERY_VAULT_RESOURCE_ID
VERSION = "api-version=2026-10-01"
ITEM = next(i for i in vault_items()[VAULT.lower()] if i.spec.name == "vm-jump-prod-01")


@pytest.fixture
async def client(local_azure: EmulatorThread) -> AsyncIterator[Any]:
    from azure.identity.aio import DefaultAzureCredential
    from azure.mgmt.recoveryservicesbackup.aio import RecoveryServicesBackupClient

    readiness = local_azure.readiness
    credential = DefaultAzureCredential()
    made = RecoveryServicesBackupClient(
        credential, estate.PROD_SUBSCRIPTION, base_url=readiness["arm_endpoint"], connection_verify=readiness["ca_file"]
    )
    yield made
    await made.close()
    await credential.close()


async def send(client: Any, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"} if content is not None else {}
    response = await client.send_request(HttpRequest(method, path, content=content, headers=headers))
    await response.read()
    text = response.text()
    return response.status_code, json.loads(text) if text else None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", f"{VAULT}/backupJobs?{VERSION}&$filter=status%20gt%20'x'", None, 400, "BMSUserErrorInvalidFilter"),
        ("GET", f"{VAULT}/backupJobs?{VERSION}&$filter=color%20eq%20'red'", None, 400, "BMSUserErrorInvalidFilter"),
        (
            "GET",
            f"{VAULT}/backupJobs?{VERSION}&$filter=startTime%20eq%20'soon'",
            None,
            400,
            "BMSUserErrorInvalidFilter",
        ),
        ("GET", f"{VAULT}/backupJobs?{VERSION}&$filter=" + "x" * 2000, None, 400, "BMSUserErrorInvalidFilter"),
        ("GET", f"{VAULT}/backupJobs/not-a-job!?{VERSION}", None, 404, "BMSUserErrorJobNotFound"),
        ("GET", f"{VAULT}/backupJobs/{'a' * 300}?{VERSION}", None, 404, "BMSUserErrorJobNotFound"),
        ("GET", f"{VAULT}/backupJobs?api-version=2019-01-01", None, 400, "NoRegisteredProviderFound"),
        ("GET", f"{VAULT.replace('rsv-prod-backup', 'rsv-nope')}/backupJobs?{VERSION}", None, 404, "ResourceNotFound"),
        ("GET", f"{VAULT}/backupOperations/nope?{VERSION}", None, 404, "BMSUserErrorOperationNotFound"),
        ("POST", f"{ITEM.resource_id}/backup?{VERSION}", {"properties": {}}, 400, "BMSUserErrorInvalidInput"),
        ("POST", f"{ITEM.resource_id}/backup?{VERSION}", [1, 2], 400, "InvalidRequestContent"),
        (
            "POST",
            f"{ITEM.resource_id}/backup?{VERSION}",
            {"properties": {"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": "later"}},
            400,
            "BMSUserErrorInvalidInput",
        ),
        (
            "POST",
            f"{ITEM.resource_id.replace('vm-jump-prod-01', 'vm-nope')}/backup?{VERSION}",
            {"properties": {"objectType": "IaasVMBackupRequest"}},
            404,
            "BMSUserErrorItemNotFound",
        ),
        (
            "POST",
            f"{ITEM.resource_id}/recoveryPoints/123/restore?{VERSION}",
            {"properties": {"objectType": "IaasVMRestoreRequest", "recoveryType": "OriginalLocation"}},
            404,
            "BMSUserErrorRecoveryPointNotFound",
        ),
    ],
)
async def test_wrong_requests_are_refused_in_azures_shape(
    client: Any, method: str, path: str, body: Any, status: int, code: str
) -> None:
    answered, found = await send(client, method, path, body)
    assert answered == status, found
    assert found["error"]["code"] == code and found["error"]["message"]


@pytest.mark.asyncio
async def test_a_restore_needs_a_target_for_an_alternate_location_and_a_finished_job_is_not_cancellable(
    client: Any,
) -> None:
    points = [
        p async for p in client.recovery_points.list("rsv-prod-backup", "rg-backup", "Azure", ITEM.container, ITEM.name)
    ]
    path = f"{ITEM.resource_id}/recoveryPoints/{points[0].name}/restore?{VERSION}"
    bad = {"properties": {"objectType": "IaasVMRestoreRequest", "recoveryType": "AlternateLocation"}}
    status, found = await send(client, "POST", path, bad)
    assert status == 400 and "target" in found["error"]["message"]
    wrong = {"properties": {"objectType": "AzureFileShareRestoreRequest", "recoveryType": "OriginalLocation"}}
    status, found = await send(client, "POST", path, wrong)
    assert status == 400 and "IaasVMRestoreRequest" in found["error"]["message"]
    done = [j async for j in client.backup_jobs.list("rsv-prod-backup", "rg-backup", filter="status eq 'Completed'")]
    status, found = await send(client, "POST", f"{done[0].id}/cancel?{VERSION}")
    assert status == 400 and found["error"]["code"] == "BMSUserErrorJobNotCancellable"


@pytest.mark.asyncio
async def test_the_sdk_reads_jobs_items_and_policies_as_azures(client: Any) -> None:
    jobs = [j async for j in client.backup_jobs.list("rsv-prod-backup", "rg-backup", filter="operation eq 'Backup'")]
    assert {type(j.properties).__name__ for j in jobs} == {"AzureIaaSVMJob", "AzureWorkloadJob"}
    failed = next(j for j in jobs if j.properties.status == "Failed")
    assert failed.properties.error_details[0].error_code and failed.properties.error_details[0].recommendations
    policies = {p.name: p async for p in client.backup_policies.list("rsv-prod-backup", "rg-backup")}
    assert set(policies) == {"DailyVM", "DailyDatabase"}
    assert type(policies["DailyVM"].properties).__name__ == "AzureIaaSVMProtectionPolicy"


def test_scheduled_backups_that_came_due_after_the_seed_are_added(tmp_path: Path) -> None:
    seeded = datetime.now(UTC) - timedelta(days=2)

    def seed(moment: datetime) -> list[Any]:
        return [d for area in AREAS if area.seed is not None and area.name == "backup" for d in area.seed(moment)]

    store = Store(tmp_path / "store.duckdb", seed=seed, now=seeded)
    try:
        before = {k: len(store.get(KIND, k)["jobs"]) for k in vault_items()}  # type: ignore[index]
        top_up(store, datetime.now(UTC))
        after = {k: store.get(KIND, k)["jobs"] for k in vault_items()}  # type: ignore[index]
        prod = list(after[VAULT.lower()].values())
        started = sorted(j["properties"]["startTime"] for j in prod)
        since_seed = [s for s in started if s > seeded.strftime("%Y-%m-%dT%H:%M:%S")]
        assert len(since_seed) >= len(story.BACKUP_ITEMS)  # at least the night after the seed, every item
        oldest = datetime.now(UTC) - timedelta(days=story.BACKUP_HISTORY_DAYS + 1)
        assert started[0] >= oldest.strftime("%Y-%m-%dT%H:%M:%S")  # older than the retention: gone
        newest = max(
            (j for j in prod if j["properties"]["entityFriendlyName"] == story.FAILED_BACKUP_ITEM),
            key=lambda j: j["properties"]["startTime"],
        )
        assert newest["properties"]["status"] == "Failed"  # its agent is still silent
        assert (
            len(after[estate.NONPROD_RECOVERY_VAULT_RESOURCE_ID.lower()])
            > before[estate.NONPROD_RECOVERY_VAULT_RESOURCE_ID.lower()]
        )
        top_up(store, datetime.now(UTC))  # nothing new: nothing added twice
        again = store.get(KIND, VAULT)
        assert again is not None and len(again["jobs"]) == len(prod)
    finally:
        store.close()


@pytest.mark.parametrize("seeded_at", ["01:40", "02:10", "15:00"])
def test_logs_and_arm_tell_the_same_backup_story_after_the_seed(tmp_path: Path, seeded_at: str) -> None:
    """Seeded inside the nightly window or outside it, then run again days later (the vault topping up
    its jobs, the telemetry writing the gap): every nightly job is in both, with the same outcome."""
    hour, minute = (int(part) for part in seeded_at.split(":"))
    seeded = datetime(2026, 11, 20, hour, minute, 30, tzinfo=UTC)
    later = seeded + timedelta(days=3, hours=5)

    def seed(moment: datetime) -> list[Any]:
        return [d for area in AREAS if area.seed is not None and area.name == "backup" for d in area.seed(moment)]

    store = Store(tmp_path / "store.duckdb", seed=seed, now=seeded)
    try:
        top_up(store, later)
        vault = store.get(KIND, VAULT)
        assert vault is not None
        in_arm = {
            (j["properties"]["entityFriendlyName"], j["properties"]["status"], j["properties"]["endTime"][:19])
            for j in vault["jobs"].values()
            if j["properties"]["operation"] == "Backup"
        }
    finally:
        store.close()

    path = tmp_path / "telemetry.duckdb"
    engine = KqlEngine(path)
    seed_telemetry(engine, seeded, scale=0.001)
    engine.close()
    engine = KqlEngine(path)
    try:
        create_tables(engine.connection)
        kept = kept_telemetry(engine, later, 0.001)
        assert kept is not None
        fill_gap(engine, kept, later, 0.001)
        logged = engine.connection.execute(
            "SELECT split_part(ResultDescription, ':', 2), ResultType, strftime(TimeGenerated, '%Y-%m-%dT%H:%M:%S') "
            "FROM AzureDiagnostics WHERE Category = 'AddonAzureBackupJobs'"
        ).fetchall()
    finally:
        engine.close()
    in_logs = {(str(item), str(status), str(ended)) for item, status, ended in logged}
    week = (later - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S")
    assert {job for job in in_arm if job[2] >= week} == {row for row in in_logs if row[2] >= week}
    after_seed = {row for row in in_logs if row[2] > seeded.strftime("%Y-%m-%dT%H:%M:%S")}
    assert len(after_seed) >= 3 * len(story.BACKUP_ITEMS)
    assert (story.FAILED_BACKUP_ITEM, "Failed") in {(item, status) for item, status, _ in after_seed}
