"""The monitoring host's cloud-init passes Debian's `cloud-init schema`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from infra.monitoring_host import GRAFANA_VERSION, render_user_data
from tests.support.tools import require


def test_user_data_is_valid_and_wires_the_sync(tmp_path: Path) -> None:
    text = render_user_data(ops_bucket="cbsi-connect-dev-ops-123456789012", region="us-east-1")
    path = tmp_path / "user-data"
    path.write_text(text)
    result = subprocess.run(
        [require("cloud-init", "cloud-init"), "schema", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document = YAML(typ="safe").load(text)
    assert {"prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter"} <= set(
        document["packages"]
    )
    files = {f["path"]: f["content"] for f in document["write_files"]}
    assert (
        'CBSI_OPS_BUCKET="cbsi-connect-dev-ops-123456789012"' in files["/etc/cbsi-monitoring.env"]
    )
    sync = files["/usr/local/sbin/cbsi-monitoring-sync"]
    assert "promtool check config" in sync and "amtool check-config" in sync
    assert ["/usr/local/sbin/cbsi-install-grafana", GRAFANA_VERSION] in document["runcmd"]
    assert "cbsi exporter serve" in files["/etc/systemd/system/cbsi-exporter.service"]
