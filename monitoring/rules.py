"""Alert and recording rules, as data: one definition per alert, rendered to Prometheus YAML.

Conventions of the monitoring mixins: CamelCase names; `severity` critical (pages), warning
(a ticket for working hours) or info; the `academy` label wherever an alert concerns one
academy; a `summary` a tired person understands, a templated `description`, and a `runbook_url`
pointing at runbooks/<AlertName>.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

RUNBOOK_BASE_URL = (
    "https://git.cbsi-connect.org/platform/cbsi-connect-platform/-/blob/main/runbooks"
)

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_seconds: int
    severity: Severity
    summary: str
    description: str
    per_academy: bool = False


ALERTS: tuple[Alert, ...] = (
    Alert(
        "SubSiteDown",
        'max by (academy) (probe_success{job="moodle-login"}) == 0',
        180,
        "critical",
        "The {{ $labels.academy }} Moodle site is down.",
        "Its login page has failed every HTTPS probe for 3 minutes. Officers of "
        "{{ $labels.academy }} cannot sign in.",
        per_academy=True,
    ),
    Alert(
        "SubSiteSlow",
        "academy:probe_duration_seconds:avg10m > 3",
        600,
        "warning",
        "The {{ $labels.academy }} Moodle site is slow.",
        "Its login page took {{ $value | humanizeDuration }} on average over 10 minutes "
        "(more than 3 s).",
        per_academy=True,
    ),
    Alert(
        "MoodleCronStale",
        "academy:moodle_cron_age:seconds > 900",
        300,
        "warning",
        "Moodle's cron has stopped at {{ $labels.academy }}.",
        "Cron last started {{ $value | humanizeDuration }} ago; scheduled tasks, messages and "
        "completions are not being processed.",
        per_academy=True,
    ),
    Alert(
        "AdhocQueueBacklog",
        "cbsi_moodle_adhoc_tasks > 500 or academy:moodle_adhoc_oldest_age:seconds > 3600",
        900,
        "warning",
        "Background tasks are piling up at {{ $labels.academy }}.",
        "The ad-hoc task queue holds {{ $value }} (tasks, or seconds of age of the oldest). "
        "Course backups, restores and notifications are delayed.",
        per_academy=True,
    ),
    Alert(
        "LoginFailureSpike",
        "cbsi_moodle_failed_logins_1h > 100",
        300,
        "warning",
        "Many failed logins at {{ $labels.academy }}.",
        "{{ $value }} failed logins in the last hour: a password-guessing attempt, or a broken "
        "sign-on.",
        per_academy=True,
    ),
    Alert(
        "RelayAllocationFailing",
        "cbsi_turn_allocation_success == 0",
        120,
        "warning",
        "TURN relay {{ $labels.relay }} refuses allocations.",
        "A TURN Allocate with fresh credentials has failed for 2 minutes; classroom calls fall "
        "back to the other relays.",
    ),
    Alert(
        "RelayFleetDegraded",
        "platform:turn_relays_healthy:sum < platform:turn_relays_needed:min",
        120,
        "critical",
        "Too few TURN relays are working.",
        "Only {{ $value }} relays accept allocations; classroom video between academies "
        "is failing.",
    ),
    Alert(
        "DatabaseStorageLow",
        "cbsi_rds_free_storage_bytes / cbsi_rds_allocated_storage_bytes < 0.10",
        900,
        "critical",
        "The Moodle database is running out of disk.",
        "Less than 10% of its storage is free ({{ $value | humanizePercentage }}). Every "
        "academy's site stops when it is full.",
    ),
    Alert(
        "BackupMissing",
        "cbsi_backup_last_success_age_hours > 26",
        1800,
        "critical",
        "No recent backup of {{ $labels.resource }}.",
        "Its last successful AWS Backup job finished {{ $value | humanize }} hours ago (the "
        "plan runs daily).",
    ),
    Alert(
        "CertificateExpiringSoon",
        "cbsi_certificate_expiry_days < 21",
        3600,
        "warning",
        "The certificate for {{ $labels.domain }} expires soon.",
        "It expires in {{ $value | humanize }} days; ACM renews at 60 days, so renewal is failing.",
    ),
    Alert(
        "MediaErrorsHigh",
        "cbsi_cloudfront_5xx_error_rate > 5",
        900,
        "warning",
        "Course media is failing to load.",
        "{{ $value | humanize }}% of media requests get a server error from CloudFront.",
    ),
    Alert(
        "ExporterCollectorFailing",
        "cbsi_exporter_collector_success == 0",
        900,
        "warning",
        "Monitoring cannot read {{ $labels.collector }}.",
        "The {{ $labels.collector }} collector of cbsi exporter has failed for 15 minutes; its "
        "alerts are blind until it recovers.",
    ),
)

RECORDING_RULES: tuple[tuple[str, str], ...] = (
    ("academy:probe_duration_seconds:avg10m",
     'avg by (academy) (avg_over_time(probe_duration_seconds{job="moodle-login"}[10m]))'),
    ("academy:moodle_cron_age:seconds",
     "time() - cbsi_moodle_cron_last_start_timestamp_seconds"),
    ("academy:moodle_adhoc_oldest_age:seconds",
     "time() - cbsi_moodle_adhoc_oldest_created_timestamp_seconds"),
    ("platform:turn_relays_healthy:sum", "sum(cbsi_turn_allocation_success)"),
    # Two working relays are needed for resilience, or every relay where fewer exist.
    ("platform:turn_relays_needed:min", "clamp_max(count(cbsi_turn_allocation_success), 2)"),
)  # fmt: skip


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def rule_groups(runbook_base_url: str = RUNBOOK_BASE_URL, for_scale: float = 1.0) -> dict[str, Any]:
    """The rules file. `for_scale` shortens every `for` (end-to-end tests use 0.01)."""
    alerts = []
    for alert in ALERTS:
        labels = {"severity": alert.severity}
        alerts.append(
            {
                "alert": alert.name,
                "expr": alert.expr,
                "for": _duration(max(1, round(alert.for_seconds * for_scale))),
                "labels": labels,
                "annotations": {
                    "summary": alert.summary,
                    "description": alert.description,
                    "runbook_url": f"{runbook_base_url}/{alert.name}.md",
                },
            }
        )
    # One group: its rules run in order, so every alert reads this evaluation's recordings.
    # Two groups run independently, and an alert could read a recording one cycle old.
    recordings = [{"record": r, "expr": e} for r, e in RECORDING_RULES]
    return {"groups": [{"name": "cbsi", "rules": [*recordings, *alerts]}]}
