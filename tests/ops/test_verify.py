"""`cbsi verify --role relays`: the testinfra relay spec over SSH, on a host that conforms
and, once its coturn is stopped, on one that does not.

The time-sync check needs an NTP client that systemd or chrony runs, which this sandbox has
not: it is left out here with `--except` (operators run it on real relays).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cbsi
from tests.ops.conftest import inventory
from tests.support.coturn import CoturnServer
from tests.support.sshd import Sshd
from tests.support.tools import free_port, require, stop_process, tcp_open, wait_for


@pytest.fixture
def node_exporter(tmp_path: Path) -> Iterator[int]:
    binary = require("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: tcp_open(port), 10, "node_exporter")
    yield port
    stop_process(process)


def test_verify_passes_on_a_conforming_relay_and_fails_without_coturn(
    sshd: Sshd, relay: CoturnServer, node_exporter: int, tmp_path: Path
) -> None:
    inv = inventory(tmp_path / "inv.yaml", sshd, config=str(relay.config_file),
                    node_exporter_port=str(node_exporter))  # fmt: skip
    args = ("verify", "--role", "relays", "--hosts", "relay-1,relay-2", "--inventory", str(inv),
            "--except", "time_is_synchronised")  # fmt: skip

    passing = run_cbsi(*args, timeout=300)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "14 passed, 2 deselected" in passing.stdout  # 7 checks on each of 2 hosts

    pid = (relay.directory / "turnserver.pid").read_text().strip()
    subprocess.run(["kill", pid], check=True)
    wait_for(lambda: not tcp_open(relay.port), 10, "coturn to stop")
    failing = run_cbsi(*args, timeout=300)
    assert failing.returncode == 1, failing.stdout
    assert "4 failed, 10 passed" in failing.stdout  # running and listening, on both hosts
    assert "test_coturn_is_running" in failing.stdout
    assert "test_coturn_listens_on_its_ports" in failing.stdout
