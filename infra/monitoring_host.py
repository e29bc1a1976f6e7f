"""cloud-init for the monitoring host: Prometheus, Alertmanager, blackbox (Debian), Grafana 11.6
(Grafana's apt repository) and cbsi exporter, configured from the ops bucket.

`pulumi up` renders the monitoring files from the platform document and publishes them to the
ops bucket; a timer on the host syncs them every five minutes, checks them with promtool and
amtool, and reloads what changed. Adding an academy therefore needs no hand edit on the host.
"""

from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

GRAFANA_VERSION = "11.6.*"  # the build grafana-foundation-sdk is pinned to

SYNC = r"""#!/bin/sh
# cbsi-monitoring-sync: fetch the monitoring files the stack published; reload what changed.
set -eu
. /etc/cbsi-monitoring.env
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
aws s3 sync --only-show-errors "s3://$CBSI_OPS_BUCKET/monitoring/" "$staging/"
aws s3 cp --only-show-errors "s3://$CBSI_OPS_BUCKET/platform.json" "$staging/platform.json"
promtool check config "$staging/prometheus.yml" >/dev/null
amtool check-config "$staging/alertmanager.yml" >/dev/null
if ! diff -qr "$staging" /etc/cbsi/monitoring >/dev/null 2>&1; then
  rsync -a --delete "$staging/" /etc/cbsi/monitoring/
  systemctl reload prometheus prometheus-alertmanager || true
  systemctl restart prometheus-blackbox-exporter grafana-server cbsi-exporter || true
fi
"""

INSTALL_CBSI = r"""#!/bin/sh
# cbsi-install: install the ops tooling (cbsi exporter) from the source the stack published.
set -eu
. /etc/cbsi-monitoring.env
aws s3 cp --only-show-errors "s3://$CBSI_OPS_BUCKET/cbsi-src.zip" /tmp/cbsi-src.zip
rm -rf /opt/cbsi/src && mkdir -p /opt/cbsi/src && unzip -q /tmp/cbsi-src.zip -d /opt/cbsi/src
python3 -m venv /opt/cbsi/venv
/opt/cbsi/venv/bin/pip install --quiet /opt/cbsi/src
"""

GRAFANA = r"""#!/bin/sh
# Grafana from Grafana's own apt repository (Debian does not package it), pinned to 11.6.
set -eu
install -d -m 0755 /etc/apt/keyrings
curl -fsSL https://apt.grafana.com/gpg.key | gpg --dearmor -o /etc/apt/keyrings/grafana.gpg
echo "deb [signed-by=/etc/apt/keyrings/grafana.gpg] https://apt.grafana.com stable main" \
  > /etc/apt/sources.list.d/grafana.list
apt-get update -q
apt-get install -y -q "grafana=$1"
ln -sfn /etc/cbsi/monitoring/grafana/provisioning/datasources/prometheus.yml /etc/grafana/provisioning/datasources/cbsi.yml
ln -sfn /etc/cbsi/monitoring/grafana/provisioning/dashboards/cbsi.yml /etc/grafana/provisioning/dashboards/cbsi.yml
"""

UNITS = {
    "/etc/systemd/system/cbsi-exporter.service": """[Unit]
Description=cbsi exporter (AWS, Moodle and TURN metrics for Prometheus)
After=network-online.target

[Service]
EnvironmentFile=/etc/cbsi-monitoring.env
ExecStart=/opt/cbsi/venv/bin/cbsi exporter serve --platform /etc/cbsi/monitoring/platform.json --port 9810
Restart=always
RestartSec=10
DynamicUser=yes
MemoryMax=300M

[Install]
WantedBy=multi-user.target
""",
    "/etc/systemd/system/cbsi-monitoring-sync.service": """[Unit]
Description=Fetch the monitoring configuration the stack published

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/cbsi-monitoring-sync
""",
    "/etc/systemd/system/cbsi-monitoring-sync.timer": """[Unit]
Description=Fetch the monitoring configuration every five minutes

[Timer]
OnBootSec=1min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
""",
    "/etc/default/prometheus": 'ARGS="--config.file=/etc/cbsi/monitoring/prometheus.yml --storage.tsdb.retention.time=30d"\n',
    "/etc/default/prometheus-alertmanager": 'ARGS="--config.file=/etc/cbsi/monitoring/alertmanager.yml"\n',
    "/etc/default/prometheus-blackbox-exporter": 'ARGS="--config.file=/etc/cbsi/monitoring/blackbox.yml --web.listen-address=127.0.0.1:9115"\n',
}


def render_user_data(*, ops_bucket: str, region: str) -> str:
    files = [
        {
            "path": "/etc/cbsi-monitoring.env",
            "permissions": "0644",
            "content": f'CBSI_OPS_BUCKET="{ops_bucket}"\nAWS_DEFAULT_REGION="{region}"\n',
        },
        {"path": "/usr/local/sbin/cbsi-monitoring-sync", "permissions": "0750", "content": SYNC},
        {"path": "/usr/local/sbin/cbsi-install", "permissions": "0750", "content": INSTALL_CBSI},
        {"path": "/usr/local/sbin/cbsi-install-grafana", "permissions": "0750", "content": GRAFANA},
        *(
            {"path": path, "permissions": "0644", "content": content}
            for path, content in UNITS.items()
        ),
    ]
    document = {
        "package_update": True,
        "package_upgrade": True,
        "packages": [
            "prometheus",
            "prometheus-alertmanager",
            "prometheus-blackbox-exporter",
            "prometheus-node-exporter",
            "awscli",
            "python3-venv",
            "unzip",
            "rsync",
            "curl",
            "gpg",
            "chrony",
        ],
        "write_files": [{**f, "content": LiteralScalarString(f["content"])} for f in files],
        "runcmd": [
            ["install", "-d", "-m", "0755", "/etc/cbsi/monitoring"],
            ["/usr/local/sbin/cbsi-install-grafana", GRAFANA_VERSION],
            ["/usr/local/sbin/cbsi-install"],
            ["/usr/local/sbin/cbsi-monitoring-sync"],
            ["systemctl", "daemon-reload"],
            [
                "systemctl",
                "enable",
                "--now",
                "cbsi-monitoring-sync.timer",
                "cbsi-exporter",
                "grafana-server",
                "prometheus",
                "prometheus-alertmanager",
                "prometheus-blackbox-exporter",
            ],
        ],
    }
    out = io.StringIO()
    emitter = YAML()
    emitter.width = 1000
    emitter.dump(document, out)
    return "#cloud-config\n" + out.getvalue()
