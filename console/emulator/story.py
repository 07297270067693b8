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

# Cost. Ninety days of daily cost per resource (`areas/cost.py`), with four things in it:
# - the spike: nine days before the seed a verbose log level on the checkout app sent about nine times the
#   usual logs into the workspace, so its ingestion meter jumped for one day, and the diagnostics storage
#   account that archives the same logs wrote more too;
# - a stopped cost: the sandbox VM was deallocated twenty days before the seed (its disk still costs);
# - a new cost: the shop's Front Door profile started serving on the 15th of a month, at least a week ago;
# - the production budget: its amount sits below what the month will cost, so its forecast crosses it.
COST_SPIKE_DAYS_AGO = 9
COST_SPIKE_RESOURCE = estate.WORKSPACE_NAME
COST_SPIKE_METER = "Analytics Logs Data Ingestion"
COST_SPIKE_FACTOR = 9.0
COST_SPIKE_ECHO_RESOURCE = "stopsdiagprod"
"""The second, smaller contributor to the spike: the storage account the diagnostic settings archive to."""
COST_SPIKE_ECHO_METER = "Hot LRS Write Operations"
COST_SPIKE_ECHO_FACTOR = 20.0
COST_STOPPED_RESOURCE = "vm-sandbox-01"
COST_STOPPED_DAYS_AGO = 20
COST_NEW_RESOURCE = "afd-contoso-shop"
COST_NEW_DAY_OF_MONTH = 15
COST_BREACH_BUDGET = "budget-prod-monthly"
COST_BREACH_SHARE = 0.92
"""The breaching budget's amount, as a share of what its month is forecast to cost at seed time."""


def cost_new_since(today: dt.date) -> dt.date:
    """The day the new cost starts: the 15th of the latest month whose 15th is at least a week before `today`."""
    month = today.replace(day=COST_NEW_DAY_OF_MONTH)
    while (today - month).days < 7:
        previous = month.replace(day=1) - dt.timedelta(days=1)
        month = previous.replace(day=COST_NEW_DAY_OF_MONTH)
    return month


# Fired alerts. The incident fires the checkout rules (the log rule on failed requests, the 5xx, response time
# and availability metric rules, the dependency failures rule) a few minutes in; they resolve once the window
# after the restart is clean, and the on-call engineer acknowledged and closed them. The silent computer's
# missing heartbeat fired after its silence and is still Fired and New. The orders database's CPU rule flaps:
# it fires every night while the backup of the database runs and resolves when it ends. Service health
# notices (Sev4) come twice in the week.
ALERT_RULE_RUNBOOKS = {
    "sqr-checkout-failed-requests": ("app-failure-rate", INCIDENT_APP),
    "ma-checkout-http5xx": ("app-failure-rate", INCIDENT_APP),
    "ma-checkout-availability": ("app-failure-rate", INCIDENT_APP),
    "ma-checkout-response-time": ("slow-requests", INCIDENT_APP),
    "sqr-dependency-failures": ("dependency-failures", ""),
    "sqr-heartbeat-missing": ("missing-heartbeats", ""),
    "ma-psql-orders-cpu": ("noisy-alerts", ""),
}
"""The runbook that investigates each alert rule (its `runbook` tag) and the app it is about (`runbook-app`)."""
INCIDENT_ALERTS = (
    # (rule, minutes after the incident starts that it fired, minutes after the incident ends that it resolved)
    ("ma-checkout-availability", 22, 4),
    ("ma-checkout-http5xx", 3, 5),
    ("sqr-checkout-failed-requests", 5, 15),
    ("ma-checkout-response-time", 4, 5),
    ("sqr-dependency-failures", 12, 30),
)
FLAPPING_RULE = "ma-psql-orders-cpu"
HEARTBEAT_RULE = "sqr-heartbeat-missing"
SERVICE_HEALTH_RULE = "ala-service-health"

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


def incident_start(now: dt.datetime) -> dt.datetime:
    """When the incident began (naive UTC): 14:10 UTC three days before `now`."""
    moment = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo is not None else now
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=3) + dt.timedelta(hours=14, minutes=10)


def incident_app() -> estate.WebAppSpec:
    """The web app the incident happens to."""
    return next(app for app in estate.WEB_APPS if app.name == INCIDENT_APP)


@dataclass(frozen=True)
class AlertActivation:
    """One time an alert rule of the story fired (naive UTC), and when its condition stopped holding."""

    rule: str
    fired: dt.datetime
    resolved: dt.datetime | None


def alert_rule_id(rule: str) -> str:
    """The ARM id of one of the story's alert rules (all in the production subscription's rg-monitoring)."""
    kind = {"sqr": "scheduledQueryRules", "ma": "metricAlerts", "ala": "activityLogAlerts"}[rule.split("-", 1)[0]]
    group = f"/subscriptions/{estate.PROD_SUBSCRIPTION}/resourceGroups/rg-monitoring"
    return f"{group}/providers/Microsoft.Insights/{kind}/{rule}"


def alert_activations(now: dt.datetime) -> list[AlertActivation]:
    """Every alert the story fires in the week before `now` (naive UTC), oldest first: the incident's, the nightly
    CPU flaps while the database's backup runs, the service health notices, the silent computer's heartbeat."""
    moment = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo is not None else now
    found: list[AlertActivation] = []
    incident = incident_start(moment)
    ended = incident + dt.timedelta(minutes=INCIDENT_MINUTES)
    for rule, fired_after, resolved_after in INCIDENT_ALERTS:
        found.append(
            AlertActivation(
                rule, incident + dt.timedelta(minutes=fired_after), ended + dt.timedelta(minutes=resolved_after)
            )
        )
    database = next(item for item in BACKUP_ITEMS if item.kind != "VM")
    first_night = moment.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=6)
    for night in range(7):
        started = first_night + dt.timedelta(days=night, hours=1, minutes=30 + database.offset_minutes)
        fired = started + dt.timedelta(minutes=5)
        resolved = started + dt.timedelta(minutes=database.duration_minutes + 5)
        if fired < moment:
            found.append(AlertActivation(FLAPPING_RULE, fired, resolved if resolved < moment else None))
    for days_ago, hour in ((5, 10), (1, 8)):
        fired = moment.replace(hour=hour, minute=30, second=0, microsecond=0) - dt.timedelta(days=days_ago)
        found.append(AlertActivation(SERVICE_HEALTH_RULE, fired, fired + dt.timedelta(hours=2)))
    found.append(AlertActivation(HEARTBEAT_RULE, moment - SILENT_FOR + dt.timedelta(minutes=12), None))
    return sorted(found, key=lambda activation: activation.fired)
