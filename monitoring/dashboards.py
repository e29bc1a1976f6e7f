"""Grafana dashboards as code (Grafana Foundation SDK, pinned to the Grafana 11.6 build we run).

Platform overview (a row per academy), academy detail (templated by academy), relays, and data
and backups. Every query is PromQL over what `cbsi exporter`, blackbox and node_exporter export.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, DataTransformerConfig

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")


def _query(
    expr: str, legend: str = "", ref: str = "A", *, instant: bool = False
) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    if instant:
        query = query.instant().format("table")
    return query


def _series(title: str, unit: str, *queries: tuple[str, str]) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(12)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def overview() -> dashboard.Dashboard:
    """One row per academy: up, login latency, active users (1 h), cron age."""
    columns = [
        ('max by (academy) (probe_success{job="moodle-login"})', "Up"),
        ("academy:probe_duration_seconds:avg10m", "Login latency"),
        ('cbsi_moodle_active_users{window="1h"}', "Active users (1 h)"),
        ("academy:moodle_cron_age:seconds", "Cron age"),
    ]
    sites = table.Panel().title("Academies").datasource(DATASOURCE).height(20).span(24)
    for index, (expr, _) in enumerate(columns):
        sites = sites.with_target(_query(expr, ref=chr(ord("A") + index), instant=True))
    sites = sites.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    return (
        dashboard.Dashboard("CBSI-Connect: platform overview")
        .uid("cbsi-overview")
        .tags(["cbsi"])
        .refresh("1m")
        .time("now-6h", "now")
        .with_panel(
            stat.Panel().title("Sites up").datasource(DATASOURCE).height(4).span(6)
            .with_target(_query('sum(max by (academy) (probe_success{job="moodle-login"}))'))
        )
        .with_panel(
            stat.Panel().title("Relays accepting allocations").datasource(DATASOURCE).height(4).span(6)
            .with_target(_query("platform:turn_relays_healthy:sum"))
        )
        .with_panel(
            stat.Panel().title("Active users (5 min)").datasource(DATASOURCE).height(4).span(6)
            .with_target(_query('sum(cbsi_moodle_active_users{window="5m"})'))
        )
        .with_panel(
            stat.Panel().title("Firing alerts").datasource(DATASOURCE).height(4).span(6)
            .with_target(_query('count(ALERTS{alertstate="firing"}) or vector(0)'))
        )
        .with_panel(sites)
    )  # fmt: skip


def academy() -> dashboard.Dashboard:
    """Everything about one academy; pick it from the variable at the top."""
    variable = (
        dashboard.QueryVariable("academy")
        .label("Academy")
        .datasource(DATASOURCE)
        .query("label_values(cbsi_moodle_up, academy)")
        .refresh(1)
    )
    a = '{academy="$academy"}'
    return (
        dashboard.Dashboard("CBSI-Connect: academy")
        .uid("cbsi-academy")
        .tags(["cbsi"])
        .refresh("1m")
        .time("now-24h", "now")
        .with_variable(variable)
        .with_panel(_series("Login page", "s",
                            ('probe_duration_seconds{job="moodle-login",academy="$academy"}', "duration"),
                            ('probe_success{job="moodle-login",academy="$academy"}', "up")))
        .with_panel(_series("Moodle tasks", "short",
                            (f"cbsi_academy_tasks_running{a}", "running"),
                            (f"cbsi_academy_tasks_desired{a}", "desired"),
                            (f"cbsi_academy_healthy_targets{a}", "healthy targets")))
        .with_panel(_series("Active users", "short", (f"cbsi_moodle_active_users{a}", "{{window}}")))
        .with_panel(_series("Cron age", "s", (f"academy:moodle_cron_age:seconds{a}", "cron age")))
        .with_panel(_series("Background tasks", "short",
                            (f"cbsi_moodle_adhoc_tasks{a}", "ad-hoc queued"),
                            (f"cbsi_moodle_scheduled_tasks_failing{a}", "scheduled failing")))
        .with_panel(_series("Sign-ins and completions", "short",
                            (f"cbsi_moodle_failed_logins_1h{a}", "failed logins (1 h)"),
                            (f"cbsi_moodle_course_completions_24h{a}", "completions (24 h)")))
        .with_panel(_series("Media", "bytes", (f"cbsi_academy_media_bytes{a}", "bytes")))
    )  # fmt: skip


def relays() -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("CBSI-Connect: relays")
        .uid("cbsi-relays")
        .tags(["cbsi"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_panel(_series("Allocation", "short",
                            ("cbsi_turn_allocation_success", "{{relay}}"),
                            ("cbsi_turn_stun_success", "{{relay}} STUN")))
        .with_panel(_series("Allocation time", "s", ("cbsi_turn_allocation_duration_seconds", "{{relay}}")))
        .with_panel(_series("Relay traffic", "Bps",
                            ('sum by (relay) (rate(node_network_transmit_bytes_total{job="relay-node",device!="lo"}[5m]))', "{{relay}} out"),
                            ('sum by (relay) (rate(node_network_receive_bytes_total{job="relay-node",device!="lo"}[5m]))', "{{relay}} in")))
        .with_panel(_series("Relay CPU", "percentunit",
                            ('1 - avg by (relay) (rate(node_cpu_seconds_total{job="relay-node",mode="idle"}[5m]))', "{{relay}}")))
    )  # fmt: skip


def data() -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("CBSI-Connect: data and backups")
        .uid("cbsi-data")
        .tags(["cbsi"])
        .refresh("5m")
        .time("now-7d", "now")
        .with_panel(_series("Database storage free", "percentunit",
                            ("cbsi_rds_free_storage_bytes / cbsi_rds_allocated_storage_bytes", "free")))
        .with_panel(_series("Database connections", "short", ("cbsi_rds_connections", "connections")))
        .with_panel(_series("Hours since last backup", "h", ("cbsi_backup_last_success_age_hours", "{{resource}}")))
        .with_panel(_series("Certificate days left", "d", ("cbsi_certificate_expiry_days", "{{domain}}")))
        .with_panel(_series("Media 5xx rate", "percent", ("cbsi_cloudfront_5xx_error_rate", "5xx")))
        .with_panel(_series("Collectors", "short", ("cbsi_exporter_collector_success", "{{collector}}")))
    )  # fmt: skip


DASHBOARDS = {"overview": overview, "academy": academy, "relays": relays, "data": data}


def render(name: str) -> dict[str, Any]:
    """A dashboard as the JSON Grafana provisions."""
    built = DASHBOARDS[name]().build()
    return json.loads(json.dumps(built, cls=JSONEncoder))


def queries(model: dict[str, Any]) -> list[str]:
    """Every PromQL expression in a rendered dashboard (for checking against Prometheus)."""
    return [
        t["expr"] for p in model.get("panels", []) for t in p.get("targets", []) if t.get("expr")
    ]
