"""An academy's Moodle database from INL's instance to IMPACS's: pg_dump, pg_restore, then every
table's row count compared. Run it inside the maintenance window (runbooks/migrate-data.md), from a
host that reaches both instances (an ECS Exec shell of a site's task, or the monitoring host)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from infra.errors import CbsiError, UsageError

TABLES = (
    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
    "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY 1"
)


class CopyFailed(CbsiError):
    exit_code = 1


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        raise UsageError(f"{name} is missing; install the Debian package postgresql-client")
    return str(found)


def _psql(dsn: str, sql: str) -> list[str]:
    done = subprocess.run([_tool("psql"), "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql, dsn],
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    if done.returncode != 0:
        raise UsageError(f"cannot query {_safe(dsn)}: {done.stderr.strip()[:300]}")
    return [line for line in done.stdout.splitlines() if line]


def _safe(dsn: str) -> str:
    """A DSN without its password, for messages."""
    dsn = re.sub(r"password=\S+", "password=***", dsn)
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)


def counts(dsn: str) -> dict[str, int]:
    """table -> rows, for every table of the database."""
    tables = _psql(dsn, TABLES)
    if not tables:
        return {}
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
    return {name: int(n) for name, n in (line.split("|") for line in _psql(dsn, query))}


def copy_database(source: str, dest: str, jobs: int = 2) -> dict[str, int]:
    """Dumps `source` and restores it into the empty `dest`; returns the verified row counts."""
    if counts(dest):
        raise UsageError(
            f"--dest {_safe(dest)} already has tables; restore only into an empty database "
            "(drop and recreate it, runbooks/migrate-data.md step 4)"
        )
    with tempfile.TemporaryDirectory(prefix="cbsi-dump-") as tmp:
        dump = Path(tmp) / "moodle.dump"
        for argv in (
            [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl", f"--file={dump}",
             source],
            [_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", f"--jobs={jobs}",
             f"--dbname={dest}", str(dump)],
        ):  # fmt: skip
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=6 * 3600, check=False
            )
            if done.returncode != 0:
                raise CopyFailed(f"{Path(argv[0]).name} failed: {done.stderr.strip()[:500]}")
    before, after = counts(source), counts(dest)
    if before != after:
        wrong = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
        raise CopyFailed(
            f"row counts differ in {len(wrong)} tables: "
            + ", ".join(f"{t} {before.get(t)} -> {after.get(t)}" for t in wrong[:10])
        )
    return after
