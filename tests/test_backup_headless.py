"""`opsconsole backups ...` headless, with `--demo` pointed at this module's local Azure: jobs with filters,
freshness exiting 1 on the seeded breach, backup now with --wait printing its restore point, a failed job
exiting 3, restore refused without a terminal (5) and done with --yes, and a drill's verdicts as exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EmulatorThread, control, demo_environment, invoke, module_azure

from console.emulator import story
from console.exit_codes import ExitCode

headless_azure = module_azure("backup-headless", page_size=25, seed_delay_s=0)


@pytest.fixture
def demo_home(headless_azure: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return demo_environment(headless_azure, tmp_path, monkeypatch)


def test_jobs_with_filters_and_failed_detail(demo_home: dict[str, str]) -> None:
    done = invoke("backups", "jobs", "--status", "Failed", "--since", "2d", "--demo", "--output", "json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    assert rows and all(r["status"] == "Failed" for r in rows)
    mine = next(r for r in rows if r["item"] == story.FAILED_BACKUP_ITEM)
    assert mine["error"] == story.FAILED_BACKUP_ERROR and mine["recommendation"] and mine["message"]
    table = invoke("backups", "jobs", "--type", "FileShare", "--demo")
    assert table.exit_code == 0 and "catalog-media" in table.stdout and "vm-jump" not in table.stdout
    bad = invoke("backups", "jobs", "--since", "yesterday-ish", "--demo")
    assert bad.exit_code == ExitCode.USAGE


def test_freshness_exits_1_on_the_seeded_breach(demo_home: dict[str, str]) -> None:
    done = invoke("backups", "freshness", "--demo", "--output", "json")
    assert done.exit_code == ExitCode.CHECK_FAILED
    rows = json.loads(done.stdout)
    assert rows[0]["state"] == "BREACH"
    stale = next(r for r in rows if r["item"] == story.STALE_BACKUP_ITEM)
    assert stale["state"] == "BREACH" and stale["late_h"] > 48
    assert story.STALE_BACKUP_ITEM in done.stderr


def test_run_wait_prints_the_restore_point_and_restore_uses_it(demo_home: dict[str, str]) -> None:
    refused = invoke("backups", "run", "psql-orders-prod", "--demo")  # no terminal, no --yes
    assert refused.exit_code == ExitCode.REFUSED
    done = invoke("backups", "run", "psql-orders-prod", "--wait", "--yes", "--demo", "--output", "json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["status"] == "Completed" and body["restore_point"]
    point = body["restore_point"]
    unconfirmed = invoke("backups", "restore", "psql-orders-prod", "--point", point, "--demo")
    assert unconfirmed.exit_code == ExitCode.REFUSED
    restored = invoke(
        "backups", "restore", "psql-orders-prod", "--point", point, "--target", "psql-orders-premigration",
        "--yes", "--demo", "--output", "json",
    )  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["status"] == "Completed"
    unknown = invoke("backups", "restore", "no-such-item", "--point", "latest", "--yes", "--demo")
    assert unknown.exit_code == ExitCode.USAGE


def test_a_failed_backup_exits_3_with_its_code(demo_home: dict[str, str], headless_azure: EmulatorThread) -> None:
    control(headless_azure.readiness, "PUT", [{"path": "/backup$", "method": "POST", "lro_fail": True}])
    try:
        done = invoke("backups", "run", "catalog-media", "--wait", "--yes", "--demo")
    finally:
        control(headless_azure.readiness, "DELETE")
    assert done.exit_code == ExitCode.AZURE_ERROR
    assert "FileshareBackupFailedWithAzureRpRequestThrottling" in done.stderr and "Recommended" in done.stderr


def test_read_only_refuses_a_restore_with_5(demo_home: dict[str, str]) -> None:
    done = invoke("--read-only", "backups", "restore", "vm-jump-prod-01", "--point", "latest", "--yes", "--demo")
    assert done.exit_code == ExitCode.REFUSED and "read-only" in done.stderr


def test_a_drill_passes_or_fails_by_its_verification(demo_home: dict[str, str]) -> None:
    passing = "AzureDiagnostics | where Category == 'AddonAzureBackupJobs' and ResultDescription endswith item"
    done = invoke("backups", "drill", "vm-jump-prod-01", "--verify", passing, "--yes", "--demo", "--output", "json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["verdict"] == "pass" and body["rto_s"] > 0 and body["point"]
    failing = invoke(
        "backups", "drill", "vm-jump-prod-01", "--verify", "Heartbeat | where Computer == target", "--yes", "--demo"
    )
    assert failing.exit_code == ExitCode.CHECK_FAILED and "FAIL" in failing.stdout


def test_the_release_example_backs_up_before_the_migration_and_can_restore_that_point(
    demo_home: dict[str, str], tmp_path: Path
) -> None:
    import os
    import subprocess

    import yaml
    from test_slots_release import WORKFLOW, _substitute, run_workflow

    steps = {
        "Back up the database before the migration",
        "Migrate the database",
        "Restore the database if the migration failed",
    }
    codes = run_workflow(demo_home, tmp_path, {"database": "psql-orders-prod"}, only=steps)
    assert codes["Back up the database before the migration"] == 0
    assert codes["Migrate the database"] == 0
    assert codes["Restore the database if the migration failed"] is None  # the migration did not fail

    # As the restore step runs after a failed migration, with the point the backup step printed.
    taken = invoke("backups", "run", "psql-orders-prod", "--wait", "--yes", "--demo", "--output", "json")
    point = json.loads(taken.stdout)["restore_point"]
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    restore = next(s for s in workflow["jobs"]["release"]["steps"] if s.get("name") in steps and "if" in s)
    script = _substitute(restore["run"], {}, {"backup": {"point": point}})
    env = {**os.environ, **demo_home, "DATABASE": "psql-orders-prod"}
    env["PATH"] = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Restore of psql-orders-prod: Completed" in done.stdout


def test_app_backups_headless(demo_home: dict[str, str]) -> None:
    listed = invoke("backups", "app-list", "app-payments-prod", "--demo", "--output", "json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert len(rows) >= 7 and any(r["status"] == "Failed" and "403" in r["log"] for r in rows)
    refused = invoke("backups", "app-run", "app-catalog-prod", "--demo")
    assert refused.exit_code == ExitCode.REFUSED
    made = invoke("backups", "app-run", "app-catalog-prod", "--yes", "--demo", "--output", "json")
    assert made.exit_code == 0, made.output
    backup = json.loads(made.stdout)[0]
    assert backup["status"] == "Succeeded"
    unconfirmed = invoke("backups", "app-restore", "app-catalog-prod", "--backup", backup["id"], "--demo")
    assert unconfirmed.exit_code == ExitCode.REFUSED
    restored = invoke("backups", "app-restore", "app-catalog-prod", "--backup", backup["id"], "--yes", "--demo")
    assert restored.exit_code == 0 and f"from backup {backup['id']}" in restored.stdout
    unknown = invoke("backups", "app-list", "app-nowhere", "--demo")
    assert unknown.exit_code == ExitCode.USAGE


def test_database_backups_headless(demo_home: dict[str, str]) -> None:
    listed = invoke("backups", "db-list", "psql-orders-prod", "--demo", "--output", "json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)) >= 7
    refused = invoke("backups", "db-run", "psql-orders-prod", "--demo")
    assert refused.exit_code == ExitCode.REFUSED
    made = invoke("backups", "db-run", "psql-orders-prod", "--name", "pre-release", "--yes", "--demo", "--output=json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)[0]["source"] == "Customer"
    bad = invoke("backups", "db-run", "psql-orders-prod", "--name", "no spaces!", "--yes", "--demo")
    assert bad.exit_code == ExitCode.AZURE_ERROR and "backup name" in bad.stderr
