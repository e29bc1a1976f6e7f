"""A real coturn started from the repository's turnserver.conf template (loopback addresses and
test ports substituted) accepts time-limited REST credentials derived from the shared secret and
nothing else, and refuses to relay to private networks."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.relay_config import rest_credentials
from tests.support.coturn import CoturnServer
from tests.support.tools import require

SECRET = "test-shared-secret-7d3f"
PUBLIC_PEER = "203.0.113.7"  # TEST-NET-3: allowed by the deny list, never reached


def unique() -> str:
    """A fresh credential name: coturn's user-quota counts allocations per username."""
    return f"probe-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoturnServer]:
    server = CoturnServer(tmp_path_factory.mktemp("coturn"), SECRET).start()
    yield server
    server.stop()


def uclient(
    server: CoturnServer, user: str, password: str, peer: str
) -> subprocess.CompletedProcess[str]:
    """Debian's reference TURN client: allocate, then bind a channel to `peer`."""
    binary = require("turnutils_uclient", "coturn")
    return subprocess.run(
        [binary, "-p", str(server.port), "-u", user, "-w", password, "-n", "1", "-m", "1",
         "-e", peer, server.host],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_allocation_with_rest_credentials_succeeds(coturn: CoturnServer) -> None:
    user, password = rest_credentials(SECRET, unique(), int(time.time()) + 600)
    result = uclient(coturn, user, password, PUBLIC_PEER)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Cannot complete Allocation" not in result.stdout + result.stderr


def test_a_wrong_secret_is_refused(coturn: CoturnServer) -> None:
    user, password = rest_credentials("not-the-secret", unique(), int(time.time()) + 600)
    result = uclient(coturn, user, password, PUBLIC_PEER)
    assert result.returncode != 0
    assert "Cannot complete Allocation" in result.stdout + result.stderr


def test_expired_credentials_are_refused(coturn: CoturnServer) -> None:
    user, password = rest_credentials(SECRET, unique(), int(time.time()) - 60)
    result = uclient(coturn, user, password, PUBLIC_PEER)
    assert result.returncode != 0
    assert "Cannot complete Allocation" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "peer", ["10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1"]
)
def test_private_and_metadata_peers_are_denied(coturn: CoturnServer, peer: str) -> None:
    user, password = rest_credentials(SECRET, unique(), int(time.time()) + 600)
    result = uclient(coturn, user, password, peer)
    assert result.returncode != 0
    assert "403 (Forbidden IP)" in result.stdout + result.stderr
    assert f"A peer IP {peer} denied" in coturn.log()


def test_the_rendered_config_keeps_the_safety_settings(coturn: CoturnServer) -> None:
    conf = Path(coturn.config_file).read_text()
    for line in ("use-auth-secret", "no-cli", "fingerprint", "no-tlsv1", "no-tlsv1_1",
                 "denied-peer-ip=10.0.0.0-10.255.255.255"):  # fmt: skip
        assert line in conf.splitlines(), line
    assert "${" not in conf
