"""Course media from one account's bucket to another's, verified object by object.

Two modes. `copy` is server-side: one set of credentials reads the source (through INL's
cross-account bucket policy) and writes the destination, and no byte passes through this machine.
`stream` reads with the source account's credentials and writes with the destination's, for when no
single identity may do both.

Verification costs no extra request where S3 already answers with proof. A server-side copy's
response carries the new object's ETag: equal to the listed source ETag, it proves the content
identical (both are S3's MD5 of the bytes, or of the same parts). A streamed put carries the SHA-256
S3 computed on receipt, compared with the one computed here while reading the source. Where neither
holds (SSE-KMS ETags are not MD5s), the source is read back and hashed. Objects above the multipart
threshold go through boto3's transfer manager, with the source's part size kept, and one HeadObject
on the destination reads its checksum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from typing import Any, Literal

from cbsi.migrate.manifest import Manifest, Verified
from cbsi.migrate.objects import HashingReader, Listed, S3Location, b64, bare, list_objects

Mode = Literal["copy", "stream"]
MiB = 1024 * 1024
# Attributes a streamed copy carries over; a server-side copy keeps them all by itself.
CARRIED = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
           "ContentType", "Metadata", "WebsiteRedirectLocation")  # fmt: skip


class Mismatch(Exception):
    """The destination does not hold the source's bytes."""


@dataclass
class Outcome:
    """What a run did; `failed` maps a source key to why."""

    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    present: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False


@dataclass(frozen=True)
class Work:
    """The difference between the source and what is already verified."""

    todo: list[Listed]
    skipped: list[Listed]
    present: list[tuple[Listed, str]]  # identical at the destination already, with its key

    @property
    def todo_bytes(self) -> int:
        return sum(o.size for o in self.todo)


class MediaMigration:
    def __init__(
        self,
        source: S3Location,
        dest: S3Location,
        source_client: Any,
        dest_client: Any,
        mode: Mode,
        workers: int = 64,
        threshold: int = 64 * MiB,
        part_size: int = 16 * MiB,
    ) -> None:
        self.source, self.dest = source, dest
        self.src, self.dst = source_client, dest_client
        self.mode = mode
        self.workers = workers
        self.threshold = threshold
        self.part_size = part_size
        self._managers: dict[int, Any] = {}

    def dest_key(self, obj: Listed) -> str:
        return self.dest.key_for(obj.key[len(self.source.prefix) :])

    def survey(self, verified: dict[str, tuple[int, str]]) -> Work:
        """Lists both sides once. An object already verified is skipped; one whose destination
        copy has the same size and ETag is identical and only needs recording."""
        at_dest = {o.key: o for o in list_objects(self.dst, self.dest)}
        todo, skipped, present = [], [], []
        for obj in list_objects(self.src, self.source):
            there = at_dest.get(self.dest_key(obj))
            if verified.get(obj.key) == (obj.size, obj.etag):
                skipped.append(obj)
            elif there is not None and (there.size, there.etag) == (obj.size, obj.etag):
                present.append((obj, there.etag))
            else:
                todo.append(obj)
        return Work(todo, skipped, present)

    def run(
        self, work: Work, manifest: Manifest, progress: Callable[[Listed], None] = lambda _: None
    ) -> Outcome:
        """Copies `work.todo` in parallel; only this thread writes the manifest, one commit per
        verified object. Ctrl-C stops new copies, lets those in flight finish and records them."""
        skipped_bytes = sum(o.size for o in work.skipped)
        outcome = Outcome(skipped=len(work.skipped), skipped_bytes=skipped_bytes)
        for obj, etag in work.present:
            manifest.record(Verified(obj.key, obj.size, obj.etag, self.dest_key(obj), etag,
                                     None, "present"))  # fmt: skip
            outcome.present += 1
        settled: set[Future[Verified]] = set()

        def settle(future: Future[Verified], obj: Listed) -> None:
            if future in settled:
                return
            settled.add(future)
            try:
                manifest.record(future.result())
            except Exception as exc:  # a failed object is reported, the run goes on
                outcome.failed[obj.key] = _reason(exc)
                manifest.fail(obj.key, outcome.failed[obj.key])
            else:
                outcome.copied += 1
                outcome.copied_bytes += obj.size
            progress(obj)

        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="migrate")
        futures: dict[Future[Verified], Listed] = {}
        try:
            futures = {pool.submit(self.transfer, obj): obj for obj in work.todo}
            # as_completed waits on every future once; wait() in a loop would re-arm all of
            # them on each call, quadratic in the number of objects.
            for future in as_completed(futures):
                settle(future, futures[future])
        except KeyboardInterrupt:
            outcome.interrupted = True
            for future in futures:
                future.cancel()
            running = [f for f in futures if not f.cancelled() and f not in settled]
            finished, _ = wait(running, timeout=120)
            for future in finished:
                settle(future, futures[future])
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            for manager in self._managers.values():
                manager.shutdown()
        return outcome

    # One object, in a worker thread.

    def transfer(self, obj: Listed) -> Verified:
        if obj.size > self.threshold:
            return self._large(obj)
        return self._copy(obj) if self.mode == "copy" else self._stream(obj)

    def _copy(self, obj: Listed) -> Verified:
        result = self.src.copy_object(
            Bucket=self.dest.bucket,
            Key=self.dest_key(obj),
            CopySource={"Bucket": self.source.bucket, "Key": obj.key},
            CopySourceIfMatch=obj.etag,
            ChecksumAlgorithm="SHA256",
            MetadataDirective="COPY",
        )["CopyObjectResult"]
        sha = result.get("ChecksumSHA256")
        if result["ETag"] == obj.etag:
            return self._verified(obj, result["ETag"], sha, "md5")
        return self._verified(obj, result["ETag"], self._read_back(obj, sha), "sha256-read")

    def _stream(self, obj: Listed) -> Verified:
        got = self.src.get_object(
            Bucket=self.source.bucket, Key=obj.key, IfMatch=obj.etag, ChecksumMode="ENABLED"
        )
        data = got["Body"].read()
        if len(data) != obj.size:
            raise Mismatch(f"read {len(data)} bytes of {obj.size}")
        sha = b64(hashlib.sha256(data).digest())
        put = self.dst.put_object(
            Bucket=self.dest.bucket, Key=self.dest_key(obj), Body=data,
            ChecksumAlgorithm="SHA256", ChecksumSHA256=sha,
            **{k: got[k] for k in CARRIED if got.get(k) is not None},
        )  # fmt: skip
        if put.get("ChecksumSHA256") != sha:
            raise Mismatch(f"destination SHA-256 {put.get('ChecksumSHA256')} != source {sha}")
        return self._verified(obj, put["ETag"], sha, "sha256")

    def _large(self, obj: Listed) -> Verified:
        part_size = self._part_size_of(obj)
        manager = self._manager(part_size)
        dest_key = self.dest_key(obj)
        if self.mode == "copy":
            manager.copy(
                {"Bucket": self.source.bucket, "Key": obj.key}, self.dest.bucket, dest_key,
                extra_args={"ChecksumAlgorithm": "SHA256", "CopySourceIfMatch": obj.etag},
            ).result()  # fmt: skip
            head = self._head_dest(dest_key)
            if head["ETag"] == obj.etag:
                return self._verified(obj, head["ETag"], head.get("ChecksumSHA256"), "md5")
            sha = self._read_back(obj, head.get("ChecksumSHA256"), part_size)
            return self._verified(obj, head["ETag"], sha, "sha256-read")
        got = self.src.get_object(Bucket=self.source.bucket, Key=obj.key, IfMatch=obj.etag)
        reader = HashingReader(got["Body"], part_size)
        extra = {k: got[k] for k in CARRIED if got.get(k) is not None}
        manager.upload(reader, self.dest.bucket, dest_key,
                       extra_args={**extra, "ChecksumAlgorithm": "SHA256"}).result()  # fmt: skip
        head = self._head_dest(dest_key)
        theirs = bare(head.get("ChecksumSHA256"))
        if reader.size != obj.size or theirs not in (reader.composite(), reader.sha256()):
            raise Mismatch(f"destination SHA-256 {theirs} != source {reader.composite()}")
        return self._verified(obj, head["ETag"], head.get("ChecksumSHA256"), "sha256-composite")

    def _part_size_of(self, obj: Listed) -> int:
        """The source's own part size for a multipart object, so the copy's parts (and so its
        ETag and composite checksum) match; ours for a single-part one."""
        if "-" not in obj.etag:
            return self.part_size
        head = self.src.head_object(Bucket=self.source.bucket, Key=obj.key, PartNumber=1)
        return max(int(head["ContentLength"]), 5 * MiB)

    def _manager(self, part_size: int) -> Any:
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        if part_size not in self._managers:
            config = TransferConfig(
                multipart_threshold=self.threshold,
                multipart_chunksize=part_size,
                max_concurrency=min(self.workers, 16),  # parts of one large object
            )
            client = self.src if self.mode == "copy" else self.dst
            self._managers[part_size] = create_transfer_manager(client, config)
        return self._managers[part_size]

    def _head_dest(self, key: str) -> Any:
        return self.dst.head_object(Bucket=self.dest.bucket, Key=key, ChecksumMode="ENABLED")

    def _read_back(self, obj: Listed, theirs: str | None, part_size: int | None = None) -> str:
        """The slow proof: hash the source and compare with the destination's SHA-256."""
        got = self.src.get_object(Bucket=self.source.bucket, Key=obj.key, IfMatch=obj.etag)
        reader = HashingReader(got["Body"], part_size or max(obj.size, 1))
        reader.drain()
        if bare(theirs) not in (reader.sha256(), reader.composite()):
            raise Mismatch(f"destination SHA-256 {theirs} != source {reader.sha256()}")
        return theirs or reader.sha256()

    def _verified(self, obj: Listed, etag: str, sha: str | None, method: str) -> Verified:
        return Verified(obj.key, obj.size, obj.etag, self.dest_key(obj), etag, sha, method)


def _reason(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("PreconditionFailed", "412"):
            return "the source changed after it was listed; rerun to copy its new version"
        return f"{code}: {exc.response.get('Error', {}).get('Message', exc)}"
    return f"{type(exc).__name__}: {exc}"
