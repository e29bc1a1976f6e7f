"""Prometheus, blackbox, Alertmanager and Grafana configuration, generated from the platform
document, so that adding an academy or a relay needs no hand-edited monitoring file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from infra.config import SERVING
from infra.platform import PlatformDocument
from monitoring import dashboards
from monitoring.rules import RUNBOOK_BASE_URL, rule_groups

EXPORTER_PORT = 9810  # cbsi exporter's default (README: "Monitoring")
BLACKBOX = "127.0.0.1:9115"
ALERTMANAGER = "127.0.0.1:9093"


def prometheus_config(
    doc: PlatformDocument,
    *,
    exporter: str = f"127.0.0.1:{EXPORTER_PORT}",
    blackbox: str = BLACKBOX,
    alertmanager: str = ALERTMANAGER,
    interval: str = "30s",
    rule_files: tuple[str, ...] = ("rules/*.yml",),
) -> dict[str, Any]:
    """Scrape cbsi exporter, probe every sub-site's login page, scrape the relays' node_exporter."""
    return {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": interval,
            "external_labels": {"stack": doc.stack, "environment": doc.environment},
        },
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "cbsi-exporter", "static_configs": [{"targets": [exporter]}]},
            {
                "job_name": "moodle-login",
                "metrics_path": "/probe",
                "params": {"module": ["moodle_login"]},
                "static_configs": [
                    {"targets": [f"{a.url}login/index.php"], "labels": {"academy": a.slug}}
                    for a in doc.academies
                    if a.status != "offboarded"
                ],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": blackbox},
                ],
            },
            {
                "job_name": "relay-node",
                "static_configs": [
                    {"targets": [f"{h.private_ip}:9100"], "labels": {"relay": h.name}}
                    for h in doc.relays.hosts
                ],
            },
        ],
    }


def blackbox_config() -> dict[str, Any]:
    """Moodle's login page over HTTPS: a 200 that is really Moodle's login form."""
    return {
        "modules": {
            "moodle_login": {
                "prober": "http",
                "timeout": "10s",
                "http": {
                    "method": "GET",
                    "valid_status_codes": [200],
                    "fail_if_not_ssl": True,
                    "preferred_ip_protocol": "ip4",
                    "fail_if_body_not_matches_regexp": ['name="logintoken"'],
                },
            }
        }
    }


def alertmanager_config(
    doc: PlatformDocument, smtp_smarthost: str = "email-smtp.us-east-1.amazonaws.com:587"
) -> dict[str, Any]:
    """Critical alerts page the platform on-call; an academy's warnings go to its admins; other
    warnings open a ticket with on-call. Grouped by alert and academy; a down site silences
    its slowness alert."""
    serving = SERVING[doc.phase]  # the one phase table trust policies also read
    oncall = [
        {"to": str(c.email), "send_resolved": True} for c in doc.oncall if c.organisation in serving
    ]
    receivers: list[dict[str, Any]] = [
        {"name": "platform-oncall", "email_configs": oncall},
        {
            "name": "platform-tickets",
            "email_configs": [dict(e, send_resolved=False) for e in oncall],
        },
    ]
    academy_routes = []
    for a in doc.academies:
        receivers.append(
            {
                "name": f"academy-{a.slug}",
                "email_configs": [{"to": str(c.email), "send_resolved": True} for c in a.admins],
            }
        )
        academy_routes.append(
            {
                "receiver": f"academy-{a.slug}",
                "matchers": [f'academy="{a.slug}"', 'severity="warning"'],
                # The platform also hears of it as a ticket.
                "continue": True,
            }
        )
    return {
        "global": {
            "smtp_smarthost": smtp_smarthost,
            "smtp_from": f"alerts@{doc.domain}",
            "smtp_require_tls": True,
        },
        "route": {
            "receiver": "platform-tickets",
            "group_by": ["alertname", "academy"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": "platform-oncall",
                    "matchers": ['severity="critical"'],
                    "repeat_interval": "1h",
                },
                *academy_routes,
                {"receiver": "platform-tickets", "matchers": ['severity=~"warning|info"']},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="SubSiteDown"'],
                "target_matchers": ['alertname="SubSiteSlow"'],
                "equal": ["academy"],
            },
            {
                "source_matchers": ['alertname="RelayFleetDegraded"'],
                "target_matchers": ['alertname="RelayAllocationFailing"'],
            },
        ],
        "receivers": receivers,
    }


def _yaml(document: Any) -> str:
    out = io.StringIO()
    emitter = YAML()
    emitter.width = 4096
    emitter.dump(document, out)
    return out.getvalue()


# What `render_files` produces; the Pulumi program publishes each one by name.
FILES = (
    "prometheus.yml",
    "rules/cbsi.yml",
    "blackbox.yml",
    "alertmanager.yml",
    "grafana/provisioning/datasources/prometheus.yml",
    "grafana/provisioning/dashboards/cbsi.yml",
    *(f"dashboards/{name}.json" for name in dashboards.DASHBOARDS),
)


def render_files(doc: PlatformDocument, runbook_base_url: str = RUNBOOK_BASE_URL) -> dict[str, str]:
    """Every monitoring file, by relative path."""
    files: dict[str, str] = {
        "prometheus.yml": _yaml(prometheus_config(doc)),
        "rules/cbsi.yml": _yaml(rule_groups(runbook_base_url)),
        "blackbox.yml": _yaml(blackbox_config()),
        "alertmanager.yml": _yaml(alertmanager_config(doc)),
        "grafana/provisioning/datasources/prometheus.yml": _yaml(
            {
                "apiVersion": 1,
                "datasources": [
                    {
                        "name": "Prometheus",
                        "uid": "prometheus",
                        "type": "prometheus",
                        "url": "http://127.0.0.1:9090",
                        "access": "proxy",
                        "isDefault": True,
                    }
                ],
            }
        ),
        "grafana/provisioning/dashboards/cbsi.yml": _yaml(
            {
                "apiVersion": 1,
                "providers": [
                    {
                        "name": "cbsi",
                        "folder": "CBSI-Connect",
                        "type": "file",
                        "options": {"path": "/etc/cbsi/monitoring/dashboards"},
                    }
                ],
            }
        ),
    }
    for name in dashboards.DASHBOARDS:
        files[f"dashboards/{name}.json"] = (
            json.dumps(dashboards.render(name), indent=2, sort_keys=True) + "\n"
        )
    if tuple(files) != FILES:
        raise RuntimeError("monitoring.generate.FILES is out of date")
    return files


def generate(
    doc: PlatformDocument, out: Path, runbook_base_url: str = RUNBOOK_BASE_URL
) -> list[Path]:
    """Write every file under `out`; returns what was written."""
    written = []
    for relative, text in sorted(render_files(doc, runbook_base_url).items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
