"""The local record of a media migration: which source objects are verified at the destination.

SQLite on local disk, one transaction per verified object, so a run killed at any instant (even
SIGKILL) leaves every committed row true and at most the objects in flight to redo. A rerun skips an
object whose row matches its listed size and ETag; a source object changed since is copied again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.errors import UsageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS run (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verified (
    key TEXT PRIMARY KEY,          -- source key
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,            -- the source ETag that was listed and copied
    dest_key TEXT NOT NULL,
    dest_etag TEXT NOT NULL,
    sha256 TEXT,                   -- the destination's SHA-256 as S3 reported it (base64)
    method TEXT NOT NULL,          -- how it was verified: md5, sha256, sha256-composite, present
    verified_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failed (
    key TEXT PRIMARY KEY, error TEXT NOT NULL, at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Verified:
    key: str
    size: int
    etag: str
    dest_key: str
    dest_etag: str
    sha256: str | None
    method: str


class Manifest:
    """Owned by the run's main thread: workers hand their results back, only it writes."""

    def __init__(self, path: Path, source: str, dest: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL sync: a committed row survives the process being killed; only a
            # power cut may lose the last few, and those objects are then simply copied again.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"--manifest {path}: not a migration manifest ({exc})") from None
        for name, value in (("source", source), ("dest", dest)):
            row = self._db.execute("SELECT value FROM run WHERE name = ?", (name,)).fetchone()
            if row is None:
                self._db.execute("INSERT INTO run VALUES (?, ?)", (name, value))
            elif row[0] != value:
                raise UsageError(
                    f"--manifest {path}: it records a migration with {name} {row[0]}, not "
                    f"{value}; pass a new --manifest path for this one"
                )

    @classmethod
    def peek(cls, path: Path, source: str, dest: str) -> dict[str, tuple[int, str]]:
        """What an existing manifest has verified, without creating one (dry runs, surveys)."""
        if not path.exists():
            return {}
        book = cls(path, source, dest)
        try:
            return book.verified()
        finally:
            book.close()

    def verified(self) -> dict[str, tuple[int, str]]:
        """source key -> (size, etag) of every verified object."""
        rows = self._db.execute("SELECT key, size, etag FROM verified")
        return {key: (size, etag) for key, size, etag in rows}

    def record(self, item: Verified) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item.key, item.size, item.etag, item.dest_key, item.dest_etag, item.sha256,
                 item.method, now),
            )  # fmt: skip
            self._db.execute("DELETE FROM failed WHERE key = ?", (item.key,))

    def fail(self, key: str, error: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._db.execute("INSERT OR REPLACE INTO failed VALUES (?, ?, ?)", (key, error, now))

    def close(self) -> None:
        self._db.close()
