"""The Moodle collector against a real PostgreSQL with Moodle's tables, one database per
sub-site, seeded with known rows: exact values, and no personal data in the output."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString as go

from monitoring.exporter import SourceCollector
from monitoring.sources.moodle import MoodleSite, MoodleSource
from tests.support.postgres import PostgresServer
from tests.support.tools import shared_file

NOW = 1_796_000_000

SEED = {
    # jamaica: cron started 2 minutes ago, 2 failing tasks, 3 ad-hoc tasks (oldest 2 h old),
    # users seen 1 min / 30 min / 5 h / 3 days ago (one deleted), 4 failed logins in the last
    # hour (one older), 2 completions today (one older).
    "jamaica": f"""
        INSERT INTO mdl_config_plugins (plugin, name, value) VALUES
            ('tool_task', 'lastcronstart', '{NOW - 120}'), ('tool_task', 'other', '1');
        INSERT INTO mdl_task_scheduled (component, classname, faildelay) VALUES
            ('core', '\\core\\task\\a', 60), ('core', '\\core\\task\\b', 120), ('core', '\\core\\task\\c', 0);
        INSERT INTO mdl_task_adhoc (component, classname, nextruntime, timecreated) VALUES
            ('core', 'x', {NOW}, {NOW - 7200}), ('core', 'y', {NOW}, {NOW - 60}), ('core', 'z', {NOW}, {NOW - 10});
        INSERT INTO mdl_user (username, firstname, lastname, email, lastaccess, deleted) VALUES
            ('officer.a', 'Ann', 'A', 'a@jcf.example', {NOW - 60}, 0),
            ('officer.b', 'Bob', 'B', 'b@jcf.example', {NOW - 1800}, 0),
            ('officer.c', 'Cy', 'C', 'c@jcf.example', {NOW - 18000}, 0),
            ('officer.d', 'Di', 'D', 'd@jcf.example', {NOW - 259200}, 0),
            ('officer.e', 'Ed', 'E', 'e@jcf.example', {NOW - 30}, 1);
        INSERT INTO mdl_logstore_standard_log (eventname, component, action, target, crud, edulevel,
                                               contextid, contextlevel, contextinstanceid, userid, timecreated)
        SELECT '\\core\\event\\user_login_failed', 'core', 'failed', 'user_login', 'r', 0, 1, 10, 0, 0, t
          FROM unnest(ARRAY[{NOW - 10}, {NOW - 100}, {NOW - 1000}, {NOW - 3000}, {NOW - 4000}]) AS t;
        INSERT INTO mdl_course_completions (userid, course, timecompleted) VALUES
            (1, 1, {NOW - 3600}), (2, 1, {NOW - 7200}), (3, 1, {NOW - 90000}), (4, 1, NULL);
    """,
    # haiti: a fresh install: no cron run yet, nothing queued, no users.
    "haiti": "",
}


@pytest.fixture(scope="module")
def sites() -> Iterator[list[MoodleSite]]:
    pg = PostgresServer().start()
    try:
        found = []
        for slug, seed in SEED.items():
            db = f"moodle_{slug}"
            pg.psql("-c", f"CREATE DATABASE {db}")
            pg.psql(
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                str(shared_file("data/moodle-schema.sql")),
                db=db,
            )
            if seed:
                result = pg.psql("-q", "-v", "ON_ERROR_STOP=1", "-c", seed, db=db, check=False)
                assert result.returncode == 0, result.stderr
            dsn = f"host=127.0.0.1 port={pg.port} dbname={db} user=postgres password=postgres-test"
            found.append(MoodleSite(slug, dsn))
        found.append(
            MoodleSite(
                "atlantis",
                f"host=127.0.0.1 port={pg.port} dbname=missing user=postgres password=postgres-test",
            )
        )
        yield found
    finally:
        pg.stop()


def exposition(sites: list[MoodleSite]) -> str:
    registry = CollectorRegistry()
    source = MoodleSource(sites, clock=lambda: NOW)
    collector = SourceCollector([source], clock=lambda: NOW)
    registry.register(collector)
    assert collector.refresh(source)
    return generate_latest(registry).decode()


def samples(text: str) -> set[str]:
    return {line for line in text.splitlines() if line.startswith("cbsi_moodle_")}


def test_exact_values_per_site(sites: list[MoodleSite]) -> None:
    got = samples(exposition(sites))
    expected = {
        'cbsi_moodle_up{academy="jamaica"} 1.0',
        'cbsi_moodle_up{academy="haiti"} 1.0',
        'cbsi_moodle_up{academy="atlantis"} 0.0',
        f'cbsi_moodle_cron_last_start_timestamp_seconds{{academy="jamaica"}} {go(NOW - 120)}',
        'cbsi_moodle_scheduled_tasks_failing{academy="jamaica"} 2.0',
        'cbsi_moodle_scheduled_tasks_failing{academy="haiti"} 0.0',
        'cbsi_moodle_adhoc_tasks{academy="jamaica"} 3.0',
        'cbsi_moodle_adhoc_tasks{academy="haiti"} 0.0',
        f'cbsi_moodle_adhoc_oldest_created_timestamp_seconds{{academy="jamaica"}} {go(NOW - 7200)}',
        'cbsi_moodle_active_users{academy="jamaica",window="5m"} 1.0',
        'cbsi_moodle_active_users{academy="jamaica",window="1h"} 2.0',
        'cbsi_moodle_active_users{academy="jamaica",window="24h"} 3.0',
        'cbsi_moodle_active_users{academy="haiti",window="5m"} 0.0',
        'cbsi_moodle_active_users{academy="haiti",window="1h"} 0.0',
        'cbsi_moodle_active_users{academy="haiti",window="24h"} 0.0',
        'cbsi_moodle_failed_logins_1h{academy="jamaica"} 4.0',
        'cbsi_moodle_failed_logins_1h{academy="haiti"} 0.0',
        'cbsi_moodle_course_completions_24h{academy="jamaica"} 2.0',
        'cbsi_moodle_course_completions_24h{academy="haiti"} 0.0',
    }
    assert got == expected


def test_no_personal_data_leaves_the_database(sites: list[MoodleSite]) -> None:
    text = exposition(sites)
    for personal in ("officer.", "Ann", "Bob", "jcf.example", "@"):
        assert personal not in text


def test_a_failing_source_keeps_the_exporter_serving(sites: list[MoodleSite]) -> None:
    class Broken:
        name, interval = "broken", 60.0

        def collect(self) -> list:
            raise RuntimeError("boom")

    registry = CollectorRegistry()
    moodle = MoodleSource(sites[:1], clock=lambda: NOW)
    collector = SourceCollector([moodle, Broken()], clock=lambda: NOW)
    registry.register(collector)
    assert collector.refresh(moodle) and not collector.refresh(Broken())
    text = generate_latest(registry).decode()
    assert 'cbsi_exporter_collector_success{collector="broken"} 0.0' in text
    assert 'cbsi_exporter_collector_success{collector="moodle"} 1.0' in text
    assert (
        f'cbsi_exporter_collector_last_success_timestamp_seconds{{collector="moodle"}} {go(NOW)}'
        in text
    )
    assert 'cbsi_exporter_collector_last_success_timestamp_seconds{collector="broken"} 0.0' in text
    assert 'cbsi_moodle_up{academy="jamaica"} 1.0' in text
