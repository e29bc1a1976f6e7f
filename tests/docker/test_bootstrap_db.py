"""The Moodle image's database bootstrap (docker/moodle/bin/cbsi-bootstrap-db.sql) on a real
PostgreSQL, run as an RDS-like master (CREATEROLE, CREATEDB, not a superuser)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.support.postgres import PostgresServer

SQL = ROOT / "docker" / "moodle" / "bin" / "cbsi-bootstrap-db.sql"
MASTER, MASTER_PASSWORD = "cbsi_admin", "master-pw"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    pg = PostgresServer().start()
    pg.psql("-c", f"CREATE ROLE {MASTER} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PASSWORD}'")
    yield pg
    pg.stop()


def bootstrap(server: PostgresServer, role: str, db: str, password: str):  # type: ignore[no-untyped-def]
    variables = [f"role={role}", f"db={db}", f"pass={password}"]
    return server.psql(
        "-q", *(x for v in variables for x in ("-v", v)), "-f", str(SQL),
        user=MASTER, password=MASTER_PASSWORD, check=False,
    )  # fmt: skip


def test_creates_each_sites_role_and_database_idempotently(server: PostgresServer) -> None:
    for _ in range(2):  # every task start runs it again
        for slug in ("jamaica", "haiti"):
            result = bootstrap(server, f"moodle_{slug}", f"moodle_{slug}", f"pw-{slug}")
            assert result.returncode == 0, result.stderr
    owners = server.psql("-c", "SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database "
                         "WHERE datname LIKE 'moodle_%' ORDER BY 1").stdout.split()  # fmt: skip
    assert owners == ["moodle_haiti=moodle_haiti", "moodle_jamaica=moodle_jamaica"]
    me = server.psql(
        "-c",
        "SELECT current_user",
        user="moodle_jamaica",
        password="pw-jamaica",
        db="moodle_jamaica",
    )
    assert me.stdout.strip() == "moodle_jamaica"


def test_a_site_cannot_reach_another_sites_database(server: PostgresServer) -> None:
    bootstrap(server, "moodle_guyana", "moodle_guyana", "pw-guyana")
    bootstrap(server, "moodle_belize", "moodle_belize", "pw-belize")
    denied = server.psql(
        "-c",
        "SELECT 1",
        user="moodle_guyana",
        password="pw-guyana",
        db="moodle_belize",
        check=False,
    )
    assert denied.returncode != 0
    assert 'permission denied for database "moodle_belize"' in denied.stderr


def test_a_rotated_password_takes_effect_on_the_next_start(server: PostgresServer) -> None:
    bootstrap(server, "moodle_grenada", "moodle_grenada", "old-pw")
    assert bootstrap(server, "moodle_grenada", "moodle_grenada", "new-pw").returncode == 0
    old = server.psql(
        "-c", "SELECT 1", user="moodle_grenada", password="old-pw", db="moodle_grenada", check=False
    )
    new = server.psql(
        "-c", "SELECT 1", user="moodle_grenada", password="new-pw", db="moodle_grenada"
    )
    assert old.returncode != 0 and new.stdout.strip() == "1"


def test_names_with_quotes_cannot_inject_sql(server: PostgresServer) -> None:
    result = bootstrap(server, 'moodle_x"; DROP ROLE cbsi_admin; --', "moodle_x", "pw")
    assert result.returncode == 0, result.stderr  # created, quoted as an identifier
    still = server.psql("-c", f"SELECT count(*) FROM pg_roles WHERE rolname = '{MASTER}'")
    assert still.stdout.strip() == "1"
