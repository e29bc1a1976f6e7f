"""A throwaway PostgreSQL (Debian's) on 127.0.0.1, for tests that need a real database."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tools import free_port, stop_process, tcp_open, wait_for


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    message = f"PostgreSQL's {name} is missing; install the Debian package postgresql (make deps)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; tests here often are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class PostgresServer:
    """Its own folder under /tmp: the postgres user cannot enter pytest's root-only folders."""

    port: int = 0
    superuser: str = "postgres"

    def start(self) -> PostgresServer:
        initdb, postgres = _bin("initdb"), _bin("postgres")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="cbsi-pg-"))
        data = self.directory / "data"
        data.mkdir()
        password_file = self.directory / "pw"
        password_file.write_text("postgres-test\n")
        if os.geteuid() == 0:
            for path in (self.directory, data, password_file):
                shutil.chown(path, "postgres")
        subprocess.run(
            _as_postgres([initdb, "-D", str(data), "-U", self.superuser, "-A", "scram-sha-256",
                          f"--pwfile={password_file}", "-E", "UTF8", "--no-sync"]),
            check=True, capture_output=True,
        )  # fmt: skip
        log = (self.directory / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            _as_postgres([postgres, "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
                          "-k", str(self.directory), "-c", "fsync=off"]),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(lambda: tcp_open(self.port), 30, "PostgreSQL")
        return self

    def env(
        self, user: str | None = None, password: str = "postgres-test", db: str = "postgres"
    ) -> dict[str, str]:
        return {
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": user or self.superuser,
            "PGPASSWORD": password,
            "PGDATABASE": db,
        }

    def psql(
        self,
        *args: str,
        user: str | None = None,
        password: str = "postgres-test",
        db: str = "postgres",
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_bin("psql"), "-X", "-tA", *args],
            env=self.env(user, password, db), capture_output=True, text=True, timeout=60,
            check=check,
        )  # fmt: skip

    def stop(self) -> None:
        stop_process(getattr(self, "process", None), grace=20)
        shutil.rmtree(self.directory, ignore_errors=True)
