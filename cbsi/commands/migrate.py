"""`cbsi migrate`: the platform's data from INL's account to IMPACS's (runbooks/migrate-data.md)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from infra.errors import UsageError

app = typer.Typer(help="Move media and the Moodle database between AWS accounts.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
MiB = 1024 * 1024


def default_manifest(source: str, dest: str) -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(f"{source}\n{dest}".encode()).hexdigest()[:16]
    return state / "cbsi" / f"migrate-media-{digest}.sqlite"


@app.command("media")
def media(
    source: str = typer.Option(..., "--source", help="s3://BUCKET or s3://BUCKET/PREFIX (INL's)."),
    dest: str = typer.Option(..., "--dest", help="s3://BUCKET or s3://BUCKET/PREFIX (IMPACS's)."),
    mode: str = typer.Option(
        "auto",
        "--mode",
        help="copy: server-side, one identity reads source and writes dest (a cross-account "
        "bucket policy); stream: through this machine with each side's credentials; auto: stream "
        "when --source-profile and --dest-profile differ, copy otherwise.",
    ),
    profile: str | None = typer.Option(None, "--profile", help="Profile for both sides."),
    source_profile: str | None = typer.Option(None, "--source-profile"),
    dest_profile: str | None = typer.Option(None, "--dest-profile"),
    endpoint_url: str | None = typer.Option(None, "--endpoint-url", help="S3 endpoint (tests)."),
    region: str = typer.Option("us-east-1", "--region"),
    manifest: Path | None = typer.Option(
        None, "--manifest", help="Local record of verified objects (default under ~/.local/state)."
    ),
    # S3 serves many small requests best in parallel: 64 in flight kept pace with s5cmd's 256
    # in bench/migrate.py, where 16 was 20% slower.
    workers: int = typer.Option(64, "--workers", min=1, max=256),
    threshold_mib: int = typer.Option(64, "--multipart-threshold", min=5, help="MiB."),
    part_mib: int = typer.Option(16, "--part-size", min=5, max=5120, help="MiB."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be copied."),
    as_json: bool = typer.Option(False, "--json", help="Print the final report as JSON."),
) -> None:
    """Copy every object under --source to --dest, verify each by checksum, and record it in a
    local manifest so that an interrupted or killed run resumes where it stopped.

    Exit 0 when every object is verified at the destination, 1 if any failed, 130 if interrupted.
    """
    from cbsi.aws import client_config, session
    from cbsi.migrate.manifest import Manifest
    from cbsi.migrate.media import MediaMigration, Mode
    from cbsi.migrate.objects import S3Location

    src_loc = S3Location.parse(source, "--source")
    dst_loc = S3Location.parse(dest, "--dest")
    if src_loc.bucket == dst_loc.bucket and (
        src_loc.prefix.startswith(dst_loc.prefix) or dst_loc.prefix.startswith(src_loc.prefix)
    ):
        raise UsageError(f"--dest {dst_loc}: overlaps --source {src_loc}; choose a separate place")
    if mode not in ("auto", "copy", "stream"):
        raise UsageError(f"--mode {mode!r}: choose copy, stream or auto")
    src_profile, dst_profile = source_profile or profile, dest_profile or profile
    chosen: Mode = (
        ("stream" if src_profile != dst_profile else "copy") if mode == "auto" else mode  # type: ignore[assignment]
    )
    if chosen == "copy" and src_profile != dst_profile:
        raise UsageError(
            "--mode copy uses one identity for both sides; drop --source-profile/--dest-profile "
            "(or give --profile), or use --mode stream"
        )
    config = client_config(pool=workers * 2)
    src_client = session(src_profile, "--source-profile").client(
        "s3", region_name=region, endpoint_url=endpoint_url, config=config
    )
    dst_client = (
        src_client
        if chosen == "copy"
        else session(dst_profile, "--dest-profile").client(
            "s3", region_name=region, endpoint_url=endpoint_url, config=config
        )
    )
    migration = MediaMigration(src_loc, dst_loc, src_client, dst_client, chosen,
                               workers, threshold_mib * MiB, part_mib * MiB)  # fmt: skip
    path = manifest or default_manifest(str(src_loc), str(dst_loc))
    # Read what is verified, list both sides, and only then create the manifest: a mistyped
    # bucket or missing credentials leave nothing behind.
    work = _survey(migration, Manifest.peek(path, str(src_loc), str(dst_loc)))
    err.print(
        f"{src_loc} -> {dst_loc} ({chosen}): {len(work.todo)} to copy "
        f"({work.todo_bytes / MiB:,.1f} MiB), {len(work.skipped)} verified earlier, "
        f"{len(work.present)} already identical; manifest {path}"
    )
    if dry_run:
        for obj in work.todo:
            sys.stdout.write(f"copy {obj.key} -> {migration.dest_key(obj)} ({obj.size} bytes)\n")
        return
    book = Manifest(path, str(src_loc), str(dst_loc))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        outcome = _run(migration, work, book)
    finally:
        signal.signal(signal.SIGTERM, previous)
        book.close()
    _report(outcome, as_json, path)
    if outcome.interrupted:
        err.print("Interrupted: the manifest is consistent; rerun the same command to resume.")
        raise typer.Exit(130)
    if outcome.failed:
        raise typer.Exit(1)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _survey(migration: Any, verified: dict[str, tuple[int, str]]) -> Any:
    from botocore.exceptions import ClientError, NoCredentialsError

    try:
        return migration.survey(verified)
    except NoCredentialsError:
        raise UsageError(
            "no AWS credentials; pass --profile (or --source-profile and --dest-profile)"
        ) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        bucket = exc.response.get("Error", {}).get("BucketName", "")
        option = "--dest" if bucket == migration.dest.bucket else "--source"
        if code == "NoSuchBucket":
            raise UsageError(f"{option} s3://{bucket}: no such bucket") from None
        if code in ("AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId"):
            raise UsageError(
                f"{code} listing the buckets: the identity needs s3:ListBucket on both "
                "(runbooks/migrate-data.md shows INL's cross-account bucket policy)"
            ) from None
        raise


def _run(migration: Any, work: Any, book: Any) -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TextColumn("{task.fields[done]}/{task.fields[objects]} objects"),
               TransferSpeedColumn(), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("copying", total=work.todo_bytes, done=0, objects=len(work.todo))
        done = 0

        def advance(obj: Any) -> None:
            nonlocal done
            done += 1
            progress.update(task, advance=obj.size, done=done)

        return migration.run(work, book, advance)


def _report(outcome: Any, as_json: bool, path: Path) -> None:
    if as_json:
        sys.stdout.write(json.dumps({
            "copied": outcome.copied, "copiedBytes": outcome.copied_bytes,
            "skipped": outcome.skipped, "skippedBytes": outcome.skipped_bytes,
            "present": outcome.present, "failed": outcome.failed,
            "interrupted": outcome.interrupted, "manifest": str(path),
        }, indent=2) + "\n")  # fmt: skip
        return
    table = Table(title="Media migration")
    for column in ("result", "objects", "MiB"):
        table.add_column(column, justify="left" if column == "result" else "right")
    table.add_row("copied and verified", str(outcome.copied), f"{outcome.copied_bytes / MiB:,.1f}")
    table.add_row("verified earlier (skipped)", str(outcome.skipped),
                  f"{outcome.skipped_bytes / MiB:,.1f}")  # fmt: skip
    table.add_row("already identical (recorded)", str(outcome.present), "")
    table.add_row("failed", str(len(outcome.failed)), "")
    Console(highlight=False).print(table)
    for key, why in list(outcome.failed.items())[:20]:
        err.print(f"failed: {key}: {why}", markup=False)


@app.command("database")
def database(
    source_dsn: str = typer.Option(
        ..., "--source-dsn", help="libpq DSN of the academy's database in INL's instance."
    ),
    dest_dsn: str = typer.Option(
        ..., "--dest-dsn", help="libpq DSN of its empty database in IMPACS's."
    ),
    jobs: int = typer.Option(2, "--jobs", min=1, max=16, help="pg_restore parallel jobs."),
) -> None:
    """Dump one Moodle database and restore it into an empty one, then compare every table's
    row count. Run it with the site in maintenance mode (runbooks/migrate-data.md)."""
    from cbsi.migrate.database import copy_database

    verified = copy_database(source_dsn, dest_dsn, jobs)
    rows = sum(verified.values())
    Console(highlight=False).print(f"restored and verified {len(verified)} tables, {rows:,} rows")
