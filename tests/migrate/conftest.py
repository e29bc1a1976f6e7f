"""Two AWS "accounts" on one moto server: INL's (the default account, static keys) and IMPACS's
(keys from assuming a role there), each as a named profile, as an operator would have them."""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from tests.support.moto import CREDENTIALS, client, moto_server

MiB = 1024 * 1024
IMPACS_ACCOUNT = "444455556666"
# Names an academy's media really has: accents, Spanish and French titles, spaces, CJK, emoji.
NAMES = ["clase 1 - introducción.mp4", "évaluation finale.pdf", "Módulo 3/ñandú.png",
         "训练 视频.webm", "report #7 (final).docx", "emoji 🚓.txt", "plain.txt"]  # fmt: skip


@dataclass
class Accounts:
    endpoint: str
    env: dict[str, str]  # AWS_CONFIG_FILE and friends for a `cbsi` subprocess
    inl: Any  # an S3 client in INL's account
    impacs: Any  # an S3 client in IMPACS's account


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def accounts(endpoint: str, tmp_path: Path) -> Iterator[Accounts]:
    sts = client(endpoint, "sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{IMPACS_ACCOUNT}:role/cbsi-migration", RoleSessionName="test"
    )["Credentials"]
    impacs = {"aws_access_key_id": creds["AccessKeyId"],
              "aws_secret_access_key": creds["SecretAccessKey"],
              "aws_session_token": creds["SessionToken"]}  # fmt: skip
    credentials = tmp_path / "aws-credentials"
    credentials.write_text(
        "[inl]\n" + "".join(f"{k} = {v}\n" for k, v in CREDENTIALS.items())
        + "[impacs]\n" + "".join(f"{k} = {v}\n" for k, v in impacs.items())
    )  # fmt: skip
    config = tmp_path / "aws-config"
    config.write_text("[profile inl]\nregion = us-east-1\n[profile impacs]\nregion = us-east-1\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config),
           "XDG_STATE_HOME": str(tmp_path / "state"), "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    try:
        yield Accounts(endpoint, env, client(endpoint, "s3"), client(endpoint, "s3", **impacs))
    finally:
        reset(endpoint)


def reset(endpoint: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))


def seed(s3: Any, bucket: str, small: int, large: int, prefix: str = "media/") -> dict[str, bytes]:
    """`small` objects of 1-8 KiB (unicode names among them) and `large` multipart ones of 11 MiB
    in 5 MiB parts, with SHA-256 checksums, content types and metadata; returns key -> bytes."""
    rng = random.Random(f"{bucket}-{small}-{large}")
    s3.create_bucket(Bucket=bucket)
    objects: dict[str, bytes] = {}
    for n in range(small):
        name = NAMES[n % len(NAMES)] if n < 3 * len(NAMES) else f"file-{n:05d}.bin"
        key = f"{prefix}academy-{n % 5}/{n:05d} {name}"
        data = rng.randbytes(rng.randint(1024, 8192))
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type(key),
                      Metadata={"academy": f"academy-{n % 5}", "n": str(n)},
                      ChecksumAlgorithm="SHA256")  # fmt: skip
        objects[key] = data
    parts = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    for n in range(large):
        key = f"{prefix}recordings/clase grabada {n} – sesión.mp4"  # noqa: RUF001
        data = rng.randbytes(11 * MiB)
        s3.upload_fileobj(io.BytesIO(data), bucket, key, Config=parts,
                          ExtraArgs={"ContentType": "video/mp4", "ChecksumAlgorithm": "SHA256",
                                     "Metadata": {"recorded": "2026-11-0" + str(n + 1)}})  # fmt: skip
        objects[key] = data
    return objects


def content_type(key: str) -> str:
    ext = key.rsplit(".", 1)[-1]
    return {"mp4": "video/mp4", "pdf": "application/pdf", "png": "image/png",
            "webm": "video/webm", "txt": "text/plain; charset=utf-8"}.get(ext, "application/octet-stream")  # fmt: skip


def contents(s3: Any, bucket: str, prefix: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    """relative key -> (sha256 of the bytes, content type, metadata), read back from S3."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=item["Key"])
            digest = hashlib.sha256(got["Body"].read()).hexdigest()
            found[item["Key"][len(prefix) :]] = (digest, got["ContentType"], got["Metadata"])
    return found
