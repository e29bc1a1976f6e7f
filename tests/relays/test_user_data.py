"""The relay's cloud-init user data passes Debian's `cloud-init schema` and carries no secret."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from infra.relay_config import SECRET_PLACEHOLDER, render_user_data
from tests.support.tools import require

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cbsi/dev/turn-shared-secret-AbCdEf"


def render() -> str:
    return render_user_data(
        hostname="turn-2.dev.cbsi-connect.org",
        realm="dev.cbsi-connect.org",
        region="us-east-1",
        secret_arn=ARN,
        cert_email="oncall@cbsi-connect.org",
        min_port=49152,
        max_port=65535,
    )


def schema(path: Path) -> subprocess.CompletedProcess[str]:
    binary = require("cloud-init", "cloud-init")
    return subprocess.run(
        [binary, "schema", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_user_data_passes_cloud_init_schema(tmp_path: Path) -> None:
    path = tmp_path / "user-data"
    path.write_text(render())
    result = schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_the_schema_check_would_catch_a_broken_document(tmp_path: Path) -> None:
    path = tmp_path / "user-data"
    path.write_text(render().replace("package_update: true", "package_update: sometimes"))
    result = schema(path)
    assert result.returncode != 0
    assert "package_update" in result.stdout + result.stderr


def test_user_data_installs_coturn_and_node_exporter_and_keeps_the_secret_out() -> None:
    text = render()
    document = YAML(typ="safe").load(text)
    assert {"coturn", "prometheus-node-exporter"} <= set(document["packages"])
    files = {f["path"]: f["content"] for f in document["write_files"]}
    conf = files["/etc/cbsi/turnserver.conf.template"]
    assert f"static-auth-secret={SECRET_PLACEHOLDER}" in conf.splitlines()
    assert "server-name=turn-2.dev.cbsi-connect.org" in conf.splitlines()
    assert "min-port=49152" in conf.splitlines() and "max-port=65535" in conf.splitlines()
    assert f'CBSI_TURN_SECRET_ARN="{ARN}"' in files["/etc/cbsi-relay.env"]
    assert "aws secretsmanager get-secret-value" in files["/usr/local/sbin/cbsi-relay-setup"]
    assert document["runcmd"] == [["/usr/local/sbin/cbsi-relay-setup"]]
