"""The monitoring host conforms: Prometheus, Alertmanager, the blackbox exporter, Grafana and
the cbsi exporter running and answering, Prometheus's config valid, the clock synchronised."""

from __future__ import annotations

import pytest

SERVICES = {
    "prometheus": 9090,
    "prometheus-alertmanager": 9093,
    "prometheus-blackbox-exporter": 9115,
    "grafana-server": 3000,
    "cbsi-exporter": 9810,
}


@pytest.mark.parametrize(("service", "port"), sorted(SERVICES.items()))
def test_service_runs_and_listens(host, service: str, port: int) -> None:  # type: ignore[no-untyped-def]
    assert host.service(service).is_running, service
    assert (
        host.socket(f"tcp://127.0.0.1:{port}").is_listening
        or host.socket(f"tcp://0.0.0.0:{port}").is_listening
    )


def test_prometheus_config_is_valid(host) -> None:  # type: ignore[no-untyped-def]
    assert host.run("promtool check config /etc/prometheus/prometheus.yml").rc == 0


def test_prometheus_is_ready(host) -> None:  # type: ignore[no-untyped-def]
    assert host.run("curl -sf http://127.0.0.1:9090/-/ready").rc == 0


def test_time_is_synchronised(host) -> None:  # type: ignore[no-untyped-def]
    synced = host.run("timedatectl show -p NTPSynchronized --value")
    chrony = host.run("chronyc tracking")
    assert synced.stdout.strip() == "yes" or "Leap status     : Normal" in chrony.stdout
