"""Host conformance specs (pytest-testinfra), run against real hosts:

    pytest tests/hosts/test_relay.py --hosts=ssh://admin@turn-1 --sudo
    cbsi verify --role relays --platform outputs.json

Where a host keeps things elsewhere than our images do, the environment says so:
CBSI_RELAY_CONFIG (coturn's config file) and CBSI_NODE_EXPORTER_PORT.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest


@pytest.fixture
def relay_config(host) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """coturn's config on the host: each option with its values, in order."""
    path = os.environ.get("CBSI_RELAY_CONFIG", "/etc/turnserver.conf")
    text = host.file(path).content_string
    options: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            options[key.strip()].append(value.strip())
    return options
