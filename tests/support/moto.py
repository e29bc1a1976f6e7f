"""moto's server on 127.0.0.1: real boto3 over HTTP against an emulated AWS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from tests.support.tools import free_port

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def client(endpoint: str, service: str, region: str = "us-east-1", **extra: Any) -> Any:
    return boto3.client(
        service, region_name=region, endpoint_url=endpoint, **{**CREDENTIALS, **extra}
    )
