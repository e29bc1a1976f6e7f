"""S3 locations, listings and the digests a migration verifies objects with."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra.errors import UsageError

_BUCKET_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-")


@dataclass(frozen=True)
class S3Location:
    """`s3://BUCKET[/PREFIX]`; a prefix names a folder, so it always ends with `/`."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, value: str, option: str) -> S3Location:
        rest = value.removeprefix("s3://")
        bucket, _, prefix = rest.partition("/")
        if (
            not value.startswith("s3://")
            or not 3 <= len(bucket) <= 63
            or not set(bucket) <= _BUCKET_CHARS
        ):
            raise UsageError(
                f"{option} {value!r}: not an S3 location; write it as s3://BUCKET or "
                "s3://BUCKET/PREFIX (e.g. s3://cbsi-connect-prod-media/academies/jamaica)"
            )
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(bucket, prefix)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key_for(self, relative: str) -> str:
        return self.prefix + relative


@dataclass(frozen=True)
class Listed:
    """An object as ListObjectsV2 shows it: enough to skip it or to prove a copy identical."""

    key: str
    size: int
    etag: str


def list_objects(client: Any, location: S3Location) -> Iterator[Listed]:
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=location.prefix
    ):
        for item in page.get("Contents", []):
            yield Listed(item["Key"], item["Size"], item["ETag"])


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def bare(checksum: str | None) -> str | None:
    """A checksum without S3's `-N` part count (base64 never contains `-`)."""
    return checksum.split("-")[0] if checksum else None


class HashingReader:
    """A file-like view of a stream that hashes what passes through: the whole object's SHA-256
    and S3's composite of per-part SHA-256s at `part_size`, so a multipart upload of it can be
    verified against the checksum S3 computes, without reading the object twice."""

    def __init__(self, stream: Any, part_size: int) -> None:
        self._stream = stream
        self._part_size = part_size
        self._whole = hashlib.sha256()
        self._part = hashlib.sha256()
        self._in_part = 0
        self._parts: list[bytes] = []
        self.size = 0

    def read(self, amount: int = -1) -> bytes:
        data: bytes = self._stream.read(amount) if amount >= 0 else self._stream.read()
        self._whole.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            take = min(len(view), self._part_size - self._in_part)
            self._part.update(view[:take])
            self._in_part += take
            view = view[take:]
            if self._in_part == self._part_size:
                self._parts.append(self._part.digest())
                self._part, self._in_part = hashlib.sha256(), 0
        return data

    def sha256(self) -> str:
        return b64(self._whole.digest())

    def composite(self) -> str:
        parts = [*self._parts, self._part.digest()] if self._in_part else list(self._parts)
        return b64(hashlib.sha256(b"".join(parts)).digest())

    def drain(self, chunk: int = 1 << 20) -> None:
        while self.read(chunk):
            pass
