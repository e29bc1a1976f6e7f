"""`cbsi migrate database` between two real PostgreSQL databases holding Moodle's schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import run_cbsi
from tests.support.postgres import PostgresServer
from tests.support.tools import shared_file


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


def dsn(pg: PostgresServer, db: str) -> str:
    return f"postgresql://postgres:postgres-test@127.0.0.1:{pg.port}/{db}"


def test_copies_a_moodle_database_and_verifies_every_table(pg: PostgresServer) -> None:
    pg.psql("-c", "CREATE DATABASE inl_jamaica")
    pg.psql("-c", "CREATE DATABASE impacs_jamaica")
    pg.psql("-f", str(shared_file("data/moodle-schema.sql")), db="inl_jamaica")
    pg.psql("-c", "INSERT INTO mdl_user (username, firstname, lastname, email) "
                  "SELECT 'officer' || n, 'Ófficer', 'Núñez ' || n, 'o' || n || '@jcf.gov.jm' "
                  "FROM generate_series(1, 500) n", db="inl_jamaica")  # fmt: skip
    tables = int(pg.psql("-c", "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
                         db="inl_jamaica").stdout)  # fmt: skip
    done = run_cbsi("migrate", "database", "--source-dsn", dsn(pg, "inl_jamaica"),
                    "--dest-dsn", dsn(pg, "impacs_jamaica"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"restored and verified {tables} tables, 500 rows" in done.stdout
    row = pg.psql(
        "-c",
        "SELECT lastname, email FROM mdl_user WHERE username = 'officer7'",
        db="impacs_jamaica",
    )
    assert row.stdout.strip() == "Núñez 7|o7@jcf.gov.jm"


def test_refuses_a_destination_that_is_not_empty(pg: PostgresServer) -> None:
    pg.psql("-c", "CREATE DATABASE src_full")
    pg.psql("-c", "CREATE DATABASE dst_full")
    pg.psql(
        "-c", "CREATE TABLE mdl_config (id int); INSERT INTO mdl_config VALUES (1)", db="src_full"
    )
    pg.psql("-c", "CREATE TABLE mdl_keep (id int); INSERT INTO mdl_keep VALUES (42)", db="dst_full")
    done = run_cbsi(
        "migrate",
        "database",
        "--source-dsn",
        dsn(pg, "src_full"),
        "--dest-dsn",
        dsn(pg, "dst_full"),
    )
    assert done.returncode == 2
    assert "already has tables; restore only into an empty database" in done.stderr
    assert "postgres-test" not in done.stderr  # the password is masked
    assert pg.psql("-c", "SELECT id FROM mdl_keep", db="dst_full").stdout.strip() == "42"
