"""`cbsi monitoring generate` and `cbsi exporter serve`."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from cbsi.platform_source import load_platform
from infra.errors import UsageError
from infra.platform import PlatformDocument
from monitoring.sources.moodle import MoodleSite

monitoring_app = typer.Typer(help="Generate the monitoring configuration.", no_args_is_help=True)
exporter_app = typer.Typer(help="Run cbsi exporter (Prometheus metrics).", no_args_is_help=True)
out = Console(highlight=False)

PLATFORM = typer.Option(
    None,
    "--platform",
    help="Platform document (pulumi stack output platform --json).",
    dir_okay=False,
)
STACK = typer.Option(None, "--stack", "-s", help="Or plan this stack offline for its document.")


@monitoring_app.command()
def generate(
    ctx: typer.Context,
    stack: str | None = STACK,
    platform: Path | None = PLATFORM,
    out_dir: Path | None = typer.Option(
        None, "--out", help="Default: monitoring/generated/<stack>.", file_okay=False
    ),
) -> None:
    """Write prometheus.yml, rules, blackbox.yml, alertmanager.yml and dashboards."""
    from monitoring.generate import generate as write

    project = ctx.obj.project if stack else None
    doc = load_platform(project, platform, stack)
    target = out_dir or ctx.obj.project.root / "monitoring" / "generated" / doc.stack
    written = write(doc, target)
    out.print(f"Wrote {len(written)} files to {target}.")


@exporter_app.command()
def serve(
    ctx: typer.Context,
    stack: str | None = STACK,
    platform: Path | None = PLATFORM,
    port: int = typer.Option(9810, help="Port to serve /metrics on."),
    address: str = typer.Option(
        "127.0.0.1", help="Address to bind (Prometheus runs on the same host)."
    ),
    sources: str = typer.Option("aws,moodle,turn", help="Which collectors to run."),
    aws_endpoint_url: str | None = typer.Option(None, help="Another AWS endpoint (an emulator)."),
    aws_profile: str | None = typer.Option(None, help="AWS profile."),
    moodle_dsn: list[str] = typer.Option([], help="SLUG=DSN for a sub-site's database (repeat)."),
    turn_secret_file: Path | None = typer.Option(
        None,
        help="File holding the TURN shared secret (default: read it from Secrets Manager).",
        dir_okay=False,
    ),
    turn_port: int = typer.Option(3478, help="Port the relays answer STUN/TURN on."),
    interval_scale: float = typer.Option(
        1.0, help="Multiply every refresh interval (tests use small values)."
    ),
) -> None:
    """Serve metrics from AWS, each sub-site's database and the TURN relays (default port 9810).

    A scrape is answered from the last refresh of each collector; it never waits on a source.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    from cbsi.aws import boto3_clients
    from monitoring.exporter import Source, SourceCollector
    from monitoring.sources.aws import AwsSource
    from monitoring.sources.moodle import MoodleSource
    from monitoring.sources.turn import Relay, TurnSource

    chosen = {s.strip() for s in sources.split(",") if s.strip()}
    unknown = chosen - {"aws", "moodle", "turn"}
    if unknown:
        raise UsageError(
            f"--sources: unknown {', '.join(sorted(unknown))}; choose from aws, moodle, turn"
        )
    doc = load_platform(ctx.obj.project if stack else None, platform, stack)
    clients = boto3_clients(aws_endpoint_url, aws_profile)
    built: list[Source] = []
    if "aws" in chosen:
        built.append(AwsSource(doc, clients, interval=60 * interval_scale))
    if "moodle" in chosen:
        sites = []
        for item in moodle_dsn:
            slug, sep, dsn = item.partition("=")
            if not sep or not dsn:
                raise UsageError(f"--moodle-dsn {item!r}: write it as SLUG=DSN")
            sites.append(MoodleSite(slug, dsn))
        if not moodle_dsn:  # on the monitoring host: every site, logins from Secrets Manager
            sites = sites_from_secrets(doc, clients)
        built.append(MoodleSource(sites, interval=60 * interval_scale))
    if "turn" in chosen:
        if turn_secret_file is not None:
            path = turn_secret_file

            def secret() -> str:
                return path.read_text(encoding="utf-8").strip()
        else:

            def secret() -> str:
                answer = clients("secretsmanager", doc.region).get_secret_value(
                    SecretId=doc.relays.secret_arn
                )
                return str(answer["SecretString"])

        relays = [Relay(h.name, h.public_ip, turn_port) for h in doc.relays.hosts]
        built.append(TurnSource(relays, secret, interval=30 * interval_scale))

    registry = CollectorRegistry()
    collector = SourceCollector(built)
    registry.register(collector)
    server, _ = start_http_server(port, addr=address, registry=registry)
    collector.start()
    out.print(f"cbsi exporter on http://{address}:{port}/metrics ({', '.join(sorted(chosen))})")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        collector.stop()
        server.shutdown()


def sites_from_secrets(
    doc: PlatformDocument, clients: Callable[[str, str], Any]
) -> list[MoodleSite]:
    """Each serving site's database, with the login kept in its Secrets Manager secret."""
    from psycopg.conninfo import make_conninfo

    sites = []
    secrets = clients("secretsmanager", doc.region)
    for academy in doc.academies:
        if academy.status == "offboarded":
            continue
        login = json.loads(secrets.get_secret_value(SecretId=academy.db_secret_arn)["SecretString"])
        dsn = make_conninfo(
            host=doc.lms.db_address,
            port=5432,
            dbname=login["dbname"],
            user=login["username"],
            password=login["password"],
            sslmode="require",
        )
        sites.append(MoodleSite(academy.slug, dsn))
    return sites
