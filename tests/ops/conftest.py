"""Fixtures of the ops tests: a local sshd on several 127.x addresses, a coturn "relay" behind
it whose restart command is a script, and an inventory naming them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.coturn import CoturnServer
from tests.support.sshd import Sshd
from tests.support.tools import require, tcp_open, wait_for

ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd", ADDRESSES).start()
    yield server
    server.stop()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[CoturnServer]:
    """A coturn with the old secret, and a restart script as a relay's restart command."""
    server = CoturnServer(tmp_path / "relay", secret="old-secret-0123456789")
    server.directory.mkdir()
    server.write_config()
    binary = require("turnserver", "coturn")
    restart = server.directory / "restart-coturn"
    pidfile = server.directory / "turnserver.pid"
    restart.write_text(
        "#!/bin/sh\n"
        f'kill "$(cat {pidfile})" 2>/dev/null; sleep 0.3\n'
        f"setsid {binary} -c {server.config_file} --db {server.directory}/turndb "
        f">> {server.directory}/turnserver.log 2>&1 < /dev/null &\n"
    )
    restart.chmod(0o755)
    subprocess.run([str(restart)], check=True)
    wait_for(lambda: tcp_open(server.port), 10, "coturn")
    yield server
    if pidfile.exists():
        subprocess.run(["kill", pidfile.read_text().strip()], check=False)


def inventory(path: Path, sshd: Sshd, **vars: str) -> Path:
    lines = [f"user: {sshd.user}", f"port: {sshd.port}", f"key: {sshd.client_key}"]
    lines += [f"vars: {json.dumps(vars)}"]
    lines += ["roles:", "  relays:", "    hosts:"]
    lines += [f"      - {{name: relay-{i + 1}, address: {a}}}" for i, a in enumerate(ADDRESSES)]
    path.write_text("\n".join(lines) + "\n")
    return path


def audit_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]
