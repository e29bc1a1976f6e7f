"""boto3 at the edge: sessions from a profile, clients with standard retries, and the user's
mistakes (an unknown profile, no credentials) reported as such."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.errors import UsageError

ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client


def session(profile: str | None = None, option: str = "--profile") -> Any:
    """A boto3 session; an unknown profile is a usage error naming the option."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.session.Session(profile_name=profile)
    except ProfileNotFound:
        raise UsageError(
            f"{option} {profile}: no such profile in ~/.aws/config or ~/.aws/credentials; "
            "list them with `aws configure list-profiles`"
        ) from None


def client_config(pool: int = 10) -> Any:
    """Standard retries (throttling and 5xx back off), bounded timeouts, `pool` connections."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=pool,
    )


def boto3_clients(
    endpoint_url: str | None = None, profile: str | None = None, pool: int = 10
) -> ClientFactory:
    """One client per (service, region), cached; `endpoint_url` points them at an emulator."""
    chosen = session(profile)
    config = client_config(pool)
    cache: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = chosen.client(
                service, region_name=region, endpoint_url=endpoint_url, config=config
            )
        return cache[(service, region)]

    return client
