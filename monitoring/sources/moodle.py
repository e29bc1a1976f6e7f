"""Moodle's own health, read from each sub-site's database (read-only, no personal data).

Table and column names are Moodle's (lib/db/install.xml, prefix `mdl_`). Only counts and
timestamps leave the database: no names, e-mails or usernames in any label or value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

# Moodle records the start of every cron run as config_plugins(plugin='tool_task',
# name='lastcronstart'), which is what its own cron check (tool_task) reads.
QUERIES = {
    "cron": (
        "SELECT CAST(value AS BIGINT) FROM {p}config_plugins "
        "WHERE plugin = 'tool_task' AND name = 'lastcronstart'"
    ),
    "failing": "SELECT count(*) FROM {p}task_scheduled WHERE faildelay > 0",
    "adhoc": "SELECT count(*), min(timecreated) FROM {p}task_adhoc",
    "active": (
        "SELECT count(*) FILTER (WHERE lastaccess >= %(now)s - 300), "
        "count(*) FILTER (WHERE lastaccess >= %(now)s - 3600), "
        "count(*) FILTER (WHERE lastaccess >= %(now)s - 86400) "
        "FROM {p}user WHERE deleted = 0"
    ),
    "failed_logins": (
        "SELECT count(*) FROM {p}logstore_standard_log "
        "WHERE eventname = '\\core\\event\\user_login_failed' AND timecreated >= %(now)s - 3600"
    ),
    "completions": (
        "SELECT count(*) FROM {p}course_completions WHERE timecompleted >= %(now)s - 86400"
    ),
}


@dataclass(frozen=True)
class MoodleSite:
    """Where one sub-site's database is; `dsn` is a libpq connection string."""

    academy: str
    dsn: str
    prefix: str = "mdl_"


class MoodleSource:
    """Cron freshness, failing and queued tasks, active users, failed logins, completions."""

    name = "moodle"

    def __init__(
        self,
        sites: Sequence[MoodleSite],
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        connect_timeout: int = 5,
    ) -> None:
        self.sites = list(sites)
        self.interval = interval
        self._clock = clock
        self._timeout = connect_timeout

    def collect(self) -> list[Metric]:
        import psycopg  # loaded only where the Moodle source is used

        up = GaugeMetricFamily(
            "cbsi_moodle_up", "Whether the site's database answered.", labels=["academy"]
        )
        cron = GaugeMetricFamily(
            "cbsi_moodle_cron_last_start_timestamp_seconds",
            "When Moodle's cron last started (tool_task lastcronstart).",
            labels=["academy"],
        )
        failing = GaugeMetricFamily(
            "cbsi_moodle_scheduled_tasks_failing",
            "Scheduled tasks whose last run failed (task_scheduled.faildelay > 0).",
            labels=["academy"],
        )
        queued = GaugeMetricFamily(
            "cbsi_moodle_adhoc_tasks", "Ad-hoc tasks queued.", labels=["academy"]
        )
        oldest = GaugeMetricFamily(
            "cbsi_moodle_adhoc_oldest_created_timestamp_seconds",
            "When the oldest queued ad-hoc task was created (absent when the queue is empty).",
            labels=["academy"],
        )
        active = GaugeMetricFamily(
            "cbsi_moodle_active_users",
            "Users seen within the window (user.lastaccess).",
            labels=["academy", "window"],
        )
        failed = GaugeMetricFamily(
            "cbsi_moodle_failed_logins_1h", "Failed logins in the last hour.", labels=["academy"]
        )
        completions = GaugeMetricFamily(
            "cbsi_moodle_course_completions_24h",
            "Course completions in the last 24 hours.",
            labels=["academy"],
        )
        now = int(self._clock())
        for site in self.sites:
            try:
                rows = self._read(psycopg, site, now)
            except psycopg.Error:
                up.add_metric([site.academy], 0.0)
                continue
            up.add_metric([site.academy], 1.0)
            if rows["cron"] and rows["cron"][0] is not None:
                cron.add_metric([site.academy], float(rows["cron"][0]))
            failing.add_metric([site.academy], float(rows["failing"][0]))
            queued.add_metric([site.academy], float(rows["adhoc"][0]))
            if rows["adhoc"][1] is not None:
                oldest.add_metric([site.academy], float(rows["adhoc"][1]))
            for window, count in zip(("5m", "1h", "24h"), rows["active"], strict=True):
                active.add_metric([site.academy, window], float(count))
            failed.add_metric([site.academy], float(rows["failed_logins"][0]))
            completions.add_metric([site.academy], float(rows["completions"][0]))
        return [up, cron, failing, queued, oldest, active, failed, completions]

    def _read(self, psycopg: Any, site: MoodleSite, now: int) -> dict[str, tuple[Any, ...]]:
        """Every query for one site, in one read-only transaction (one consistent snapshot)."""
        rows: dict[str, tuple[Any, ...]] = {}
        with psycopg.connect(site.dsn, connect_timeout=self._timeout) as conn:
            conn.read_only = True
            for key, sql in QUERIES.items():
                row = conn.execute(sql.format(p=site.prefix), {"now": now}).fetchone()
                rows[key] = tuple(row) if row else ()
        return rows
