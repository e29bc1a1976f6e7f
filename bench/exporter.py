"""Benchmark cbsi exporter: scrape latency with 200 academies, AWS calls per refresh, memory.

Everything runs on 127.0.0.1: moto's server (AWS), a real PostgreSQL loaded with Moodle's
schema (every academy's site points at one seeded database, so the SQL load is real), and a
real coturn. The exporter runs in its own process (`python bench/exporter.py --child ...`).
AWS Backup's `list_backup_jobs` is not in moto's server; the child answers it with an empty list.
Prints a table; it is not a test.

    .venv/bin/python bench/exporter.py [--scrapes 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SCHEMA = ROOT.parent / "shared" / "data" / "moodle-schema.sql"
FILE_SYSTEM: list[str] = []  # filled by seed_aws


def platform(academies: int, relay_port_host: str) -> dict[str, Any]:
    from cbsi.planfile import build_plan
    from cbsi.planner import run_program
    from infra.config import read_stack_file

    raw = read_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml")
    doc = build_plan(run_program(ROOT / "infra" / "__main__.py", "prod", raw, "us-east-1")).outputs[
        "platform"
    ]
    template = doc["academies"][1]
    doc["academies"] = [
        {**template, "slug": f"academy-{i:03d}", "serviceName": f"svc-{i:03d}",
         "mediaPrefix": f"academies/academy-{i:03d}/", "targetGroupArnSuffix": f"targetgroup/tg-{i:03d}/x"}
        for i in range(academies)
    ]  # fmt: skip
    doc["lms"].update(
        clusterName="lms-ecs",
        dbInstance="lms-db",
        redisGroupId="lms-redis",
        fileSystemId=FILE_SYSTEM[0],
    )
    for host in doc["relays"]["hosts"]:
        host["publicIp"] = relay_port_host
    return doc


def child(args: argparse.Namespace) -> None:
    """The exporter process: real sources, backup answered empty, served until killed."""
    from prometheus_client import CollectorRegistry, start_http_server

    from cbsi.aws import boto3_clients
    from infra.platform import PlatformDocument
    from monitoring.exporter import SourceCollector
    from monitoring.sources.aws import AwsSource
    from monitoring.sources.moodle import MoodleSite, MoodleSource
    from monitoring.sources.turn import Relay, TurnSource

    doc = PlatformDocument.model_validate(json.loads(Path(args.platform).read_text()))
    moto = boto3_clients(args.endpoint)

    class NoBackupJobs:
        def list_backup_jobs(self, **_: Any) -> dict[str, Any]:
            return {"BackupJobs": []}

    def clients(service: str, region: str) -> Any:
        return NoBackupJobs() if service == "backup" else moto(service, region)

    sources = [
        AwsSource(doc, clients, interval=5),
        MoodleSource([MoodleSite(a.slug, args.dsn) for a in doc.academies], interval=5),
        TurnSource(
            [Relay(h.name, h.public_ip, args.turn_port) for h in doc.relays.hosts],
            lambda: "bench",
            interval=5,
        ),
    ]
    registry = CollectorRegistry()
    collector = SourceCollector(sources)
    registry.register(collector)
    start_http_server(args.port, addr="127.0.0.1", registry=registry)
    collector.start()
    while True:
        time.sleep(3600)


def seed_aws(endpoint: str) -> None:
    from tests.support.moto import client

    client(endpoint, "s3").create_bucket(Bucket="cbsi-connect-prod-media-123456789012")
    s3 = client(endpoint, "s3")
    for i in range(0, 200, 4):
        s3.put_object(
            Bucket="cbsi-connect-prod-media-123456789012",
            Key=f"academies/academy-{i:03d}/v.mp4",
            Body=b"x" * 100,
        )
    client(endpoint, "ecs").create_cluster(clusterName="lms-ecs")
    FILE_SYSTEM.append(
        client(endpoint, "efs").create_file_system(CreationToken="moodledata")["FileSystemId"]
    )
    client(endpoint, "rds").create_db_instance(
        DBInstanceIdentifier="lms-db",
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="u",
        MasterUserPassword="password-123",
    )
    client(endpoint, "elasticache").create_replication_group(
        ReplicationGroupId="lms-redis",
        ReplicationGroupDescription="c",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        NumCacheClusters=1,
    )


def scrape(port: int) -> tuple[float, str]:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    return time.perf_counter() - started, body


def calls(body: str) -> int:
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
                   if line.startswith("cbsi_exporter_aws_api_calls{")))  # fmt: skip


def rss_mib(pid: int) -> tuple[float, float]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def run_exporter(
    work: Path, doc: dict[str, Any], endpoint: str, dsn: str, turn_port: int, scrapes: int
) -> dict[str, Any]:
    from tests.support.tools import free_port, tcp_open, wait_for

    path = work / f"platform-{len(doc['academies'])}.json"
    path.write_text(json.dumps(doc))
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            "--platform",
            str(path),
            "--endpoint",
            endpoint,
            "--dsn",
            dsn,
            "--turn-port",
            str(turn_port),
            "--port",
            str(port),
        ],
        env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    try:
        wait_for(lambda: tcp_open(port), 60, "exporter")
        wait_for(
            lambda: (
                'cbsi_exporter_collector_success{collector="aws"} 1.0' in scrape(port)[1]
                and 'cbsi_exporter_collector_success{collector="moodle"} 1.0' in scrape(port)[1]
            ),
            120,
            "first refresh",
        )
        times = []
        body = ""
        for _ in range(scrapes):
            took, body = scrape(port)
            times.append(took)
        times.sort()
        rss, peak = rss_mib(process.pid)
        return {
            "academies": len(doc["academies"]),
            "p50": statistics.median(times),
            "p99": times[int(0.99 * len(times)) - 1],
            "max": times[-1],
            "calls": calls(body),
            "rss": rss,
            "peak": peak,
            "bytes": len(body),
            "scrapes": scrapes,
        }
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=1000)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--platform")
    parser.add_argument("--endpoint")
    parser.add_argument("--dsn")
    parser.add_argument("--turn-port", type=int)
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from tests.support.coturn import CoturnServer
    from tests.support.moto import moto_server
    from tests.support.postgres import PostgresServer

    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        work = Path(tmp)
        seed_aws(endpoint)
        pg = PostgresServer().start()
        (work / "coturn").mkdir()
        coturn = CoturnServer(work / "coturn", "bench").start()
        try:
            pg.psql("-c", "CREATE DATABASE moodle")
            pg.psql("-q", "-f", str(SCHEMA), db="moodle")
            dsn = (
                f"host=127.0.0.1 port={pg.port} dbname=moodle user=postgres password=postgres-test"
            )
            rows = [
                run_exporter(
                    work, platform(n, "127.0.0.1"), endpoint, dsn, coturn.port, args.scrapes
                )
                for n in (19, 200)
            ]
        finally:
            coturn.stop()
            pg.stop()
    print(
        f"{'academies':>9} {'scrapes':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'body KB':>8} {'AWS calls/refresh':>18} {'RSS MiB':>8} {'peak MiB':>9}"
    )
    for r in rows:
        print(
            f"{r['academies']:>9} {r['scrapes']:>7} {r['p50'] * 1000:7.2f} {r['p99'] * 1000:7.2f} {r['max'] * 1000:7.2f} "
            f"{r['bytes'] / 1024:8.1f} {r['calls']:>18} {r['rss']:8.1f} {r['peak']:9.1f}"
        )
    print(
        "targets: p99 < 50 ms at 200 academies; AWS calls not one per academy per metric; RSS < 150 MiB"
    )


if __name__ == "__main__":
    main()
