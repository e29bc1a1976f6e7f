"""A TURN relay conforms: coturn installed, running and listening, configured as our template
says (REST secret auth, private peers denied, no CLI), TLS files present, node_exporter up,
the clock synchronised."""

from __future__ import annotations

import os

PRIVATE_PEERS = [
    "10.0.0.0-10.255.255.255",
    "172.16.0.0-172.31.255.255",
    "192.168.0.0-192.168.255.255",
    "169.254.0.0-169.254.255.255",
    "127.0.0.0-127.255.255.255",
]


def test_coturn_is_installed(host) -> None:  # type: ignore[no-untyped-def]
    assert host.package("coturn").is_installed


def test_coturn_is_running(host) -> None:  # type: ignore[no-untyped-def]
    assert host.process.filter(comm="turnserver"), "no turnserver process"


def test_coturn_listens_on_its_ports(host, relay_config) -> None:  # type: ignore[no-untyped-def]
    address = relay_config.get("listening-ip", ["0.0.0.0"])[0]
    port = relay_config.get("listening-port", ["3478"])[0]
    tls = relay_config.get("tls-listening-port", ["5349"])[0]
    assert host.socket(f"udp://{address}:{port}").is_listening
    assert host.socket(f"tcp://{address}:{port}").is_listening
    assert host.socket(f"tcp://{address}:{tls}").is_listening


def test_config_uses_rest_secrets_and_no_cli(relay_config) -> None:  # type: ignore[no-untyped-def]
    assert "use-auth-secret" in relay_config
    assert relay_config.get("static-auth-secret", [""])[0], "no shared secret"
    assert "no-cli" in relay_config
    assert "user" not in relay_config  # no static long-term users


def test_config_denies_private_peers(relay_config) -> None:  # type: ignore[no-untyped-def]
    denied = relay_config.get("denied-peer-ip", [])
    assert all(block in denied for block in PRIVATE_PEERS), denied


def test_tls_files_are_present(host, relay_config) -> None:  # type: ignore[no-untyped-def]
    for option in ("cert", "pkey"):
        (path,) = relay_config[option]
        assert host.file(path).is_file, path
        assert host.file(path).size > 0, path


def test_node_exporter_is_up(host) -> None:  # type: ignore[no-untyped-def]
    port = os.environ.get("CBSI_NODE_EXPORTER_PORT", "9100")
    metrics = host.run(f"curl -sf http://127.0.0.1:{port}/metrics")
    assert metrics.rc == 0 and "node_cpu_seconds_total" in metrics.stdout


def test_time_is_synchronised(host) -> None:  # type: ignore[no-untyped-def]
    synced = host.run("timedatectl show -p NTPSynchronized --value")
    chrony = host.run("chronyc tracking")
    assert synced.stdout.strip() == "yes" or "Leap status     : Normal" in chrony.stdout
