"""`cbsi migrate media` between two moto-backed accounts: everything copied and verified, metadata
kept, resumable after SIGKILL and Ctrl-C without copying a verified object twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CBSI, ROOT
from tests.migrate.conftest import Accounts, contents, seed

SRC, DST = "inl-cbsi-media", "impacs-cbsi-media"


def migrate(accounts: Accounts, manifest: Path, *extra: str) -> list[str]:
    return [*CBSI, "migrate", "media", "--source", f"s3://{SRC}/media", "--dest",
            f"s3://{DST}/imported", "--endpoint-url", accounts.endpoint, "--manifest",
            str(manifest), "--multipart-threshold", "8", "--part-size", "5", "--json", *extra]  # fmt: skip


STREAM = ("--source-profile", "inl", "--dest-profile", "impacs")


def run(accounts: Accounts, manifest: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(migrate(accounts, manifest, *extra), capture_output=True, text=True,
                          env={**os.environ, **accounts.env}, cwd=ROOT, timeout=300, check=False)  # fmt: skip
    report = json.loads(done.stdout) if done.stdout.startswith("{") else {}
    return done.returncode, report, done.stderr + done.stdout


def rows(manifest: Path) -> dict[str, str]:
    """source key -> when it was verified; read-only, safe beside a running migration."""
    if not manifest.exists():
        return {}
    db = sqlite3.connect(f"file:{manifest}?mode=ro", uri=True, timeout=5)
    try:
        return dict(db.execute("SELECT key, verified_at FROM verified"))
    except sqlite3.OperationalError:  # the schema is not written yet
        return {}
    finally:
        db.close()


def last_modified(s3: Any, keys: list[str]) -> dict[str, object]:
    return {k: s3.head_object(Bucket=DST, Key=k)["LastModified"] for k in keys}


def dest_key(source_key: str) -> str:
    return "imported/" + source_key.removeprefix("media/")


def test_streams_between_accounts_with_distinct_credentials(
    accounts: Accounts, tmp_path: Path
) -> None:
    objects = seed(accounts.inl, SRC, small=60, large=2)
    accounts.impacs.create_bucket(Bucket=DST)
    code, report, stderr = run(accounts, tmp_path / "m.sqlite", *STREAM)
    assert code == 0, stderr
    assert "(stream)" in stderr
    assert report["copied"] == len(objects) == 62
    assert report["copiedBytes"] == sum(len(b) for b in objects.values())
    assert report["failed"] == {}
    assert contents(accounts.impacs, DST, "imported/") == contents(accounts.inl, SRC, "media/")
    db = sqlite3.connect(tmp_path / "m.sqlite")
    methods = dict(db.execute("SELECT method, count(*) FROM verified GROUP BY method"))
    assert methods == {"sha256": 60, "sha256-composite": 2}
    # The INL credentials cannot see IMPACS's bucket in the emulator: two accounts, really.
    assert DST not in {b["Name"] for b in accounts.inl.list_buckets()["Buckets"]}


def test_server_side_copy_verifies_by_the_copy_response(accounts: Accounts, tmp_path: Path) -> None:
    objects = seed(accounts.inl, SRC, small=40, large=1)
    accounts.inl.create_bucket(Bucket=DST)
    code, report, stderr = run(accounts, tmp_path / "m.sqlite", "--profile", "inl")
    assert code == 0, stderr
    assert "(copy)" in stderr
    assert report["copied"] == len(objects)
    assert contents(accounts.inl, DST, "imported/") == contents(accounts.inl, SRC, "media/")
    db = sqlite3.connect(tmp_path / "m.sqlite")
    assert dict(db.execute("SELECT method, count(*) FROM verified GROUP BY method")) == {"md5": 41}
    # A rerun finds nothing to do and copies nothing.
    code, again, _ = run(accounts, tmp_path / "m.sqlite", "--profile", "inl")
    assert (code, again["copied"], again["skipped"]) == (0, 0, len(objects))


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.75])
def test_sigkill_then_rerun_loses_nothing_and_copies_nothing_twice(
    accounts: Accounts, tmp_path: Path, fraction: float
) -> None:
    """Killed with SIGKILL before any object is verified, a third of the way and three quarters
    of the way through, the rerun completes the copy exactly."""
    objects = seed(accounts.inl, SRC, small=400, large=3)
    accounts.impacs.create_bucket(Bucket=DST)
    manifest = tmp_path / "m.sqlite"
    cmd = migrate(accounts, manifest, *STREAM, "--workers", "4")
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **accounts.env}, cwd=ROOT)  # fmt: skip
    target = int(fraction * len(objects))
    deadline = time.monotonic() + 120
    while len(rows(manifest)) < max(target, 1 if fraction else 0) or not manifest.exists():
        assert process.poll() is None, "the migration ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    before = rows(manifest)
    assert len(before) < len(objects)
    stamps = last_modified(accounts.impacs, [dest_key(k) for k in before])

    code, report, stderr = run(accounts, manifest, *STREAM)
    assert code == 0, stderr
    assert report["skipped"] == len(before)
    assert report["copied"] + report["present"] + report["skipped"] == len(objects)
    assert contents(accounts.impacs, DST, "imported/") == contents(accounts.inl, SRC, "media/")
    after = rows(manifest)
    assert set(after) == set(objects)
    assert {k: after[k] for k in before} == before  # verified once, never again
    assert last_modified(accounts.impacs, [dest_key(k) for k in before]) == stamps


@pytest.mark.slow
def test_ctrl_c_leaves_the_manifest_consistent(accounts: Accounts, tmp_path: Path) -> None:
    objects = seed(accounts.inl, SRC, small=300, large=0)
    accounts.impacs.create_bucket(Bucket=DST)
    manifest = tmp_path / "m.sqlite"
    process = subprocess.Popen(migrate(accounts, manifest, *STREAM, "--workers", "4"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **accounts.env}, cwd=ROOT)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(rows(manifest)) < 50:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "rerun the same command to resume" in err
    report = json.loads(out)
    assert report["interrupted"] is True
    db = sqlite3.connect(manifest)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    recorded = dict(db.execute("SELECT dest_key, dest_etag FROM verified"))
    db.close()
    assert len(recorded) == report["copied"] < len(objects)
    for key, etag in recorded.items():  # every row is true of the destination
        assert accounts.impacs.head_object(Bucket=DST, Key=key)["ETag"] == etag
    code, again, stderr = run(accounts, manifest, *STREAM)
    assert (code, again["skipped"]) == (0, len(recorded)), stderr
    assert contents(accounts.impacs, DST, "imported/") == contents(accounts.inl, SRC, "media/")


def test_identical_objects_at_the_destination_are_recorded_and_others_replaced(
    accounts: Accounts, tmp_path: Path
) -> None:
    objects = seed(accounts.inl, SRC, small=10, large=0)
    accounts.impacs.create_bucket(Bucket=DST)
    same, changed = sorted(objects)[:2]
    accounts.impacs.put_object(Bucket=DST, Key=dest_key(same), Body=objects[same])
    accounts.impacs.put_object(Bucket=DST, Key=dest_key(changed), Body=b"corrupted")
    code, report, stderr = run(accounts, tmp_path / "m.sqlite", *STREAM)
    assert code == 0, stderr
    assert (report["present"], report["copied"]) == (1, 9)
    got = accounts.impacs.get_object(Bucket=DST, Key=dest_key(changed))["Body"].read()
    assert got == objects[changed]


def test_a_source_object_changed_after_verification_is_copied_again(
    accounts: Accounts, tmp_path: Path
) -> None:
    objects = seed(accounts.inl, SRC, small=5, large=0)
    accounts.impacs.create_bucket(Bucket=DST)
    assert run(accounts, tmp_path / "m.sqlite", *STREAM)[0] == 0
    key = sorted(objects)[0]
    accounts.inl.put_object(Bucket=SRC, Key=key, Body=b"a corrected handout")
    code, report, _ = run(accounts, tmp_path / "m.sqlite", *STREAM)
    assert (code, report["copied"], report["skipped"]) == (0, 1, 4)
    assert (
        accounts.impacs.get_object(Bucket=DST, Key=dest_key(key))["Body"].read()
        == b"a corrected handout"
    )


def test_dry_run_changes_nothing(accounts: Accounts, tmp_path: Path) -> None:
    seed(accounts.inl, SRC, small=3, large=0)
    accounts.impacs.create_bucket(Bucket=DST)
    done = subprocess.run([*migrate(accounts, tmp_path / "m.sqlite", *STREAM), "--dry-run"],
                          capture_output=True, text=True, env={**os.environ, **accounts.env},
                          cwd=ROOT, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\ncopy ") + done.stdout.startswith("copy ") == 3
    assert "3 to copy" in done.stderr
    assert "Contents" not in accounts.impacs.list_objects_v2(Bucket=DST)
    assert not (tmp_path / "m.sqlite").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--source", "inl-media"), "--source 'inl-media': not an S3 location"),
        (("--dest", "s3://a"), "--dest 's3://a': not an S3 location"),
        (
            ("--source-profile", "nobody", "--dest-profile", "impacs"),
            "--source-profile nobody: no such profile",
        ),
        (("--mode", "teleport"), "--mode 'teleport': choose copy, stream or auto"),
        (("--mode", "copy", *STREAM), "--mode copy uses one identity for both sides"),
        (("--dest", f"s3://{SRC}/media/inner", "--profile", "inl"), "overlaps --source"),
        (
            ("--dest", "s3://no-such-bucket-here", *STREAM),
            "--dest s3://no-such-bucket-here: no such bucket",
        ),
    ],
)
def test_user_errors_exit_2_and_touch_nothing(
    accounts: Accounts, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    seed(accounts.inl, SRC, small=2, large=0)
    accounts.impacs.create_bucket(Bucket=DST)
    base = ["--source", f"s3://{SRC}/media", "--dest", f"s3://{DST}/imported",
            "--endpoint-url", accounts.endpoint, "--manifest", str(tmp_path / "m.sqlite")]  # fmt: skip
    done = subprocess.run([*CBSI, "migrate", "media", *base, *args], capture_output=True,
                          text=True, env={**os.environ, **accounts.env, "COLUMNS": "300"},
                          cwd=ROOT, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "Contents" not in accounts.impacs.list_objects_v2(Bucket=DST)
    assert not (tmp_path / "m.sqlite").exists()


def test_a_manifest_of_another_migration_is_refused(accounts: Accounts, tmp_path: Path) -> None:
    seed(accounts.inl, SRC, small=2, large=0)
    accounts.impacs.create_bucket(Bucket=DST)
    assert run(accounts, tmp_path / "m.sqlite", *STREAM)[0] == 0
    done = subprocess.run([*CBSI, "migrate", "media", "--source", f"s3://{SRC}/other", "--dest",
                           f"s3://{DST}/imported", "--endpoint-url", accounts.endpoint,
                           "--manifest", str(tmp_path / "m.sqlite"), *STREAM],
                          capture_output=True, text=True, env={**os.environ, **accounts.env},
                          cwd=ROOT, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2
    assert f"it records a migration with source s3://{SRC}/media/" in done.stderr
