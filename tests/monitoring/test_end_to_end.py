"""End to end on 127.0.0.1: a real coturn, `cbsi exporter serve` probing it, and a real
Prometheus (1 s intervals, the generated rules with `for` scaled down) scraping the exporter.
Stopping coturn makes RelayAllocationFailing fire, read from Prometheus's alerts API; and every
dashboard query is accepted by that Prometheus."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from ruamel.yaml import YAML

from infra.platform import PlatformDocument
from monitoring import dashboards
from monitoring.generate import prometheus_config
from monitoring.rules import rule_groups
from tests.conftest import ROOT
from tests.support.coturn import CoturnServer
from tests.support.tools import free_port, require, tcp_open, wait_for

SECRET = "e2e-shared-secret"


def api(port: int, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}{query}", timeout=5) as response:
        return json.load(response)


def value(port: int, expr: str) -> float | None:
    result = api(port, "/api/v1/query", query=expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def stack(plan_of, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    prometheus_bin = require("prometheus", "prometheus")
    work = tmp_path_factory.mktemp("e2e")
    coturn = CoturnServer(work / "coturn", SECRET)
    coturn.directory.mkdir()
    coturn.start()
    doc = PlatformDocument.model_validate(plan_of("dev").outputs["platform"])
    relay = doc.relays.hosts[0].model_copy(update={"public_ip": "127.0.0.1"})
    doc = doc.model_copy(update={"relays": doc.relays.model_copy(update={"hosts": [relay]})})
    (work / "platform.json").write_text(doc.model_dump_json(by_alias=True))
    (work / "secret").write_text(SECRET + "\n")

    exporter_port = free_port()
    exporter = subprocess.Popen(
        [sys.executable, "-m", "cbsi", "exporter", "serve", "--platform", str(work / "platform.json"),
         "--sources", "turn", "--turn-secret-file", str(work / "secret"), "--turn-port", str(coturn.port),
         "--port", str(exporter_port), "--interval-scale", "0.03"],
        cwd=ROOT, stdout=(work / "exporter.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    prom_port = free_port()
    yaml = YAML()
    yaml.dump(rule_groups(for_scale=0.01), work / "rules.yml")
    yaml.dump(
        prometheus_config(doc, exporter=f"127.0.0.1:{exporter_port}", interval="1s",
                          rule_files=(str(work / "rules.yml"),), alertmanager="127.0.0.1:9"),
        work / "prometheus.yml",
    )  # fmt: skip
    prometheus = subprocess.Popen(
        [prometheus_bin, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=(work / "prometheus.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: tcp_open(exporter_port), 30, "cbsi exporter")
        wait_for(lambda: tcp_open(prom_port), 30, "Prometheus")
        yield {"coturn": coturn, "prometheus": prom_port, "exporter": exporter_port, "work": work}
    finally:
        stop(prometheus)
        stop(exporter)
        coturn.stop()


def alert_states(port: int, name: str) -> list[str]:
    return [
        a["state"]
        for a in api(port, "/api/v1/alerts")["data"]["alerts"]
        if a["labels"]["alertname"] == name
    ]


def test_stopping_coturn_makes_relay_allocation_failing_fire(stack: dict[str, Any]) -> None:
    port = stack["prometheus"]
    wait_for(lambda: value(port, 'cbsi_turn_allocation_success{relay="turn-1"}') == 1.0, 60,
             "a successful allocation scraped by Prometheus")  # fmt: skip
    assert alert_states(port, "RelayAllocationFailing") == []
    stack["coturn"].stop()
    wait_for(lambda: alert_states(port, "RelayAllocationFailing") == ["firing"], 60,
             "RelayAllocationFailing firing")  # fmt: skip
    (alert,) = [a for a in api(port, "/api/v1/alerts")["data"]["alerts"]
                if a["labels"]["alertname"] == "RelayAllocationFailing"]  # fmt: skip
    assert alert["labels"]["relay"] == "turn-1" and alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["runbook_url"].endswith("/RelayAllocationFailing.md")
    # The one-relay dev fleet is degraded too.
    wait_for(
        lambda: alert_states(port, "RelayFleetDegraded") == ["firing"], 60, "RelayFleetDegraded"
    )


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS))
def test_every_dashboard_query_is_accepted_by_prometheus(stack: dict[str, Any], name: str) -> None:
    port = stack["prometheus"]
    model = dashboards.render(name)
    exprs = dashboards.queries(model)
    assert exprs, name
    for expr in exprs:
        answer = api(port, "/api/v1/query", query=expr.replace("$academy", "impacs"))
        assert answer["status"] == "success", (expr, answer)


def test_scrapes_are_served_from_the_cache(stack: dict[str, Any]) -> None:
    """A scrape never waits on a probe: even with coturn gone (probes now time out), /metrics
    answers quickly."""
    started = time.perf_counter()
    with urllib.request.urlopen(
        f"http://127.0.0.1:{stack['exporter']}/metrics", timeout=5
    ) as response:
        body = response.read().decode()
    assert time.perf_counter() - started < 0.5
    assert 'cbsi_exporter_collector_success{collector="turn"}' in body
