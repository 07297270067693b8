"""The demo story: what goes wrong in the estate, told once.

The ARM seed (`seed.py`) and the telemetry (`telemetry.py`) both read it, so the app with the
incident, the build that hurts, the machine that goes quiet and the backup that fails are the same
everywhere. The names are the estate's (`estate.py` owns them); tests check that each one is there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from console.emulator import estate

# The incident: three days before the seed, at 14:10 UTC, the production slot of the checkout app
# fails and slows down for forty minutes (an on-call engineer restarts it 22 minutes in).
INCIDENT_APP = "app-checkout-prod"
INCIDENT_MINUTES = 40
INCIDENT_FAILURE_RATE = 0.38
INCIDENT_LATENCY_FACTOR = 6.0
INCIDENT_RESTART_AFTER = dt.timedelta(minutes=22)

# The bad build: a release candidate waiting in the checkout app's staging slot. It fails ~18% of
# requests (its profile is in `estate.BUILDS`), so swapping it into production visibly hurts.
BAD_BUILD = "2026.11.5-rc1"
BAD_BUILD_SLOT = (INCIDENT_APP, "staging")

# The good build: the catalog app's staging slot holds the next release, which behaves as well as
# production does, so a guarded swap of it promotes. What runs in a slot is its content (the image
# tag in `siteConfig.linuxFxVersion` and the `APP_VERSION` app setting), which a swap moves.
GOOD_BUILD = "2026.11.4"
GOOD_BUILD_SLOT = ("app-catalog-prod", "staging")

# The silent computer: it stopped sending heartbeats two hours before the seed's `now`.
SILENT_COMPUTER = "vm-build-agent-02"
SILENT_FOR = dt.timedelta(hours=2)


@dataclass(frozen=True)
class BackupItem:
    """An item the Recovery Services vault backs up every night from 01:30 UTC."""

    name: str
    kind: str
    offset_minutes: int
    """When its job starts, in minutes after 01:30 UTC (after each interval's start, for an hourly policy)."""
    duration_minutes: int
    every_hours: int = 24
    """How often its policy backs it up: 24 for the nightly policies, 4 for the hourly file share policy."""


BACKUP_ITEMS = (
    BackupItem("vm-jump-prod-01", "VM", 0, 14),
    BackupItem("vm-build-agent-01", "VM", 5, 22),
    BackupItem(SILENT_COMPUTER, "VM", 10, 21),
    BackupItem("psql-orders-prod", "AzureDatabaseForPostgreSQLFlexibleServer", 20, 35),
)

# The failed backups: last night's backup of the silent computer failed (its guest agent stopped
# answering), and three nights ago every item that is not a VM completed with warnings.
FAILED_BACKUP_ITEM = SILENT_COMPUTER
FAILED_BACKUP_ERROR = "UserErrorGuestAgentStatusUnavailable"
FAILED_BACKUP_REASON = "the VM agent is unable to communicate with Azure Backup."
WARNING_BACKUP_NIGHT = 3
"""Nights before last night on which the items that are not VMs completed with warnings."""

# The second vault, in the non-production subscription (it sends no diagnostics to the production
# workspace, so only ARM tells its jobs). Four nights ago a network security group rule started blocking
# the sandbox VM's outbound traffic during the nightly maintenance window: its scheduled backups have
# failed since (a backup taken by hand, outside the window, succeeds), so its last good backup is older
# than its policy allows.
NONPROD_BACKUP_ITEMS = (
    BackupItem("vm-sandbox-01", "VM", 15, 18),
    BackupItem("psql-orders-stg", "AzureDatabaseForPostgreSQLFlexibleServer", 25, 12),
    BackupItem("catalog-media", "AzureFileShare", 0, 4, every_hours=4),
)
STALE_BACKUP_ITEM = "vm-sandbox-01"
STALE_BACKUP_ERROR = "ExtensionSnapshotFailedNoNetwork"
STALE_BACKUP_NIGHTS = 4
"""Nights (last night included) on which the stale item's backup failed."""
OLDER_BACKUP_FAILURES = {
    ("vm-jump-prod-01", 12): "UserErrorRequestDisallowedByPolicy",
    ("psql-orders-prod", 19): "UserErrorMaxConcurrentOperationLimitReached",
    ("vm-sandbox-01", 23): "UserErrorGuestAgentStatusUnavailable",
    ("catalog-media", 9): "FileshareBackupFailedWithAzureRpRequestThrottling",
}
"""Failures older than the telemetry's week: (item, nights before last night) -> error code."""
BACKUP_HISTORY_DAYS = 30


def last_backup_night(now: dt.datetime) -> dt.datetime:
    """01:30 UTC of the newest night whose story has played out (naive UTC): the failed backup of the
    silent computer has finished by `now`, so that failure is always within the last day."""
    moment = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo is not None else now
    night = moment.replace(hour=1, minute=30, second=0, microsecond=0)
    if night + dt.timedelta(minutes=31) > moment:
        night -= dt.timedelta(days=1)
    return night


def backup_outcome(item: BackupItem, night: int) -> tuple[str, str | None]:
    """How the scheduled backup of `item` ended `night` nights before the last one (negative: nights
    after the seed): its job status and, when it failed, the error code."""
    if item.name == FAILED_BACKUP_ITEM and night <= 0:
        return "Failed", FAILED_BACKUP_ERROR  # the silent computer's agent stays silent
    if item.name == STALE_BACKUP_ITEM and night < STALE_BACKUP_NIGHTS:
        return "Failed", STALE_BACKUP_ERROR
    code = OLDER_BACKUP_FAILURES.get((item.name, night))
    if code is not None:
        return "Failed", code
    if night == WARNING_BACKUP_NIGHT and item.kind != "VM":
        return "CompletedWithWarnings", None
    return "Completed", None


# Fired alerts and a cost anomaly are not part of the story yet: the alerts and cost areas add them here.


def incident_start(now: dt.datetime) -> dt.datetime:
    """When the incident began (naive UTC): 14:10 UTC three days before `now`."""
    moment = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo is not None else now
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=3) + dt.timedelta(hours=14, minutes=10)


def incident_app() -> estate.WebAppSpec:
    """The web app the incident happens to."""
    return next(app for app in estate.WEB_APPS if app.name == INCIDENT_APP)
