"""The AWS collector against moto's server, seeded with buckets, objects, services, instances,
a database, a file system, a cache and a certificate. AWS Backup is stubbed: moto's server has
no backup jobs, so `list_backup_jobs` answers come from botocore's Stubber, which checks them
against the service model; everything else is moto."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString as go

from infra.platform import PlatformDocument
from monitoring.exporter import SourceCollector
from monitoring.sources.aws import AwsSource
from tests.support.certs import self_signed
from tests.support.moto import client, moto_server

NOW = 1_796_000_000.0
REGION = "us-east-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def certificate(days: int) -> tuple[bytes, bytes]:
    return self_signed(
        "media.dev.cbsi-connect.org", datetime.datetime.fromtimestamp(NOW, datetime.UTC), days
    )


@pytest.fixture(scope="module")
def platform(endpoint: str, plan_of) -> PlatformDocument:  # type: ignore[no-untyped-def]
    """The dev stack's platform document, pointed at resources seeded into moto."""
    doc = PlatformDocument.model_validate(plan_of("dev").outputs["platform"])
    s3 = client(endpoint, "s3")
    bucket = "cbsi-connect-dev-media-123456789012"
    s3.create_bucket(Bucket=bucket)
    for key, size in (
        ("academies/jamaica/a.mp4", 1000),
        ("academies/jamaica/b/c.pdf", 24),
        ("academies/impacs/x.mp4", 500),
        ("academies/unknown/y", 7),
        ("other/z", 9),
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    ecs = client(endpoint, "ecs")
    ecs.create_cluster(clusterName="lms-ecs")
    for a, count in zip(doc.academies, (2, 1), strict=True):
        ecs.create_service(cluster="lms-ecs", serviceName=a.service_name, desiredCount=count)
    rds = client(endpoint, "rds")
    rds.create_db_instance(
        DBInstanceIdentifier="lms-db",
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="cbsi_admin",
        MasterUserPassword="not-a-secret-123",
    )
    fs = client(endpoint, "efs").create_file_system(CreationToken="moodledata")
    client(endpoint, "elasticache").create_replication_group(
        ReplicationGroupId="lms-redis",
        ReplicationGroupDescription="cache",
        Engine="redis",
        CacheNodeType="cache.t4g.micro",
        NumCacheClusters=1,
    )
    ec2 = client(endpoint, "ec2")
    images = ec2.describe_images()["Images"]
    (instance,) = ec2.run_instances(ImageId=images[0]["ImageId"], MinCount=1, MaxCount=1)[
        "Instances"
    ]
    cert, key = certificate(days=10)
    client(endpoint, "acm").import_certificate(Certificate=cert, PrivateKey=key)
    cloudwatch = client(endpoint, "cloudwatch")
    when = datetime.datetime.fromtimestamp(NOW - 120, datetime.UTC)
    for a, healthy, unhealthy in zip(doc.academies, (2, 0), (0, 1), strict=True):
        dims = [
            {"Name": "LoadBalancer", "Value": doc.lms.alb_arn_suffix},
            {"Name": "TargetGroup", "Value": a.target_group_arn_suffix},
        ]
        cloudwatch.put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {
                    "MetricName": "HealthyHostCount",
                    "Dimensions": dims,
                    "Value": healthy,
                    "Timestamp": when,
                },
                {
                    "MetricName": "UnHealthyHostCount",
                    "Dimensions": dims,
                    "Value": unhealthy,
                    "Timestamp": when,
                },
            ],
        )
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "FreeStorageSpace",
                "Value": 5e9,
                "Timestamp": when,
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "lms-db"}],
            }
        ],
    )
    hosts = [doc.relays.hosts[0].model_copy(update={"instance_id": instance["InstanceId"]})]
    return doc.model_copy(
        update={
            "media": doc.media.model_copy(update={"bucket": bucket}),
            "lms": doc.lms.model_copy(
                update={
                    "cluster_name": "lms-ecs",
                    "db_instance": "lms-db",
                    "file_system_id": fs["FileSystemId"],
                    "redis_group_id": "lms-redis",
                }
            ),
            "relays": doc.relays.model_copy(update={"hosts": hosts}),
        }
    )


def backup_jobs(doc: PlatformDocument) -> list[dict[str, Any]]:
    done = lambda hours: datetime.datetime.fromtimestamp(NOW - hours * 3600, datetime.UTC)  # noqa: E731
    return [
        {
            "BackupJobId": "1",
            "ResourceArn": doc.lms.db_instance_arn,
            "CompletionDate": done(30),
            "State": "COMPLETED",
        },
        {
            "BackupJobId": "2",
            "ResourceArn": doc.lms.db_instance_arn,
            "CompletionDate": done(5),
            "State": "COMPLETED",
        },
        {
            "BackupJobId": "3",
            "ResourceArn": f"arn:aws:s3:::{doc.media.bucket}",
            "CompletionDate": done(2),
            "State": "COMPLETED",
        },
    ]


def collect(endpoint: str, doc: PlatformDocument) -> tuple[str, AwsSource]:
    backup = client(endpoint, "backup")
    stub = Stubber(backup)
    stub.add_response("list_backup_jobs", {"BackupJobs": backup_jobs(doc)})
    stub.activate()

    def clients(service: str, region: str) -> Any:
        return backup if service == "backup" else client(endpoint, service, region)

    source = AwsSource(doc, clients, clock=lambda: NOW)
    registry = CollectorRegistry()
    collector = SourceCollector([source], clock=lambda: NOW)
    registry.register(collector)
    assert collector.refresh(source)
    stub.assert_no_pending_responses()
    return generate_latest(registry).decode(), source


def test_per_academy_and_platform_metrics(endpoint: str, platform: PlatformDocument) -> None:
    text, _ = collect(endpoint, platform)
    lines = set(text.splitlines())
    expected = [
        'cbsi_academy_healthy_targets{academy="impacs"} 2.0',
        'cbsi_academy_healthy_targets{academy="jamaica"} 0.0',
        'cbsi_academy_unhealthy_targets{academy="jamaica"} 1.0',
        'cbsi_academy_tasks_desired{academy="impacs"} 2.0',
        'cbsi_academy_tasks_desired{academy="jamaica"} 1.0',
        'cbsi_academy_media_bytes{academy="jamaica"} 1024.0',
        'cbsi_academy_media_objects{academy="jamaica"} 2.0',
        'cbsi_academy_media_bytes{academy="impacs"} 500.0',
        'cbsi_academy_media_objects{academy="impacs"} 1.0',
        f"cbsi_rds_free_storage_bytes {go(5e9)}",
        "cbsi_rds_available 1.0",
        f"cbsi_rds_allocated_storage_bytes {go(20 * 2**30)}",
        "cbsi_efs_available 1.0",
        "cbsi_redis_available 1.0",
        'cbsi_relay_instance_running{relay="turn-1"} 1.0',
        f'cbsi_backup_last_success_age_hours{{resource="{platform.lms.db_instance_arn}"}} 5.0',
        f'cbsi_backup_last_success_age_hours{{resource="arn:aws:s3:::{platform.media.bucket}"}} 2.0',
        f'cbsi_backup_last_success_age_hours{{resource="{platform.lms.file_system_arn}"}} 336.0',
        'cbsi_certificate_expiry_days{domain="media.dev.cbsi-connect.org"} 10.0',
    ]
    missing = [line for line in expected if line not in lines]
    assert missing == []
    assert 'cbsi_exporter_collector_success{collector="aws"} 1.0' in lines


def test_api_calls_do_not_grow_with_academies(endpoint: str, platform: PlatformDocument) -> None:
    _, small = collect(endpoint, platform)
    many = [
        platform.academies[0].model_copy(
            update={"slug": f"a{i}", "service_name": f"s{i}", "media_prefix": f"academies/a{i}/"}
        )
        for i in range(60)
    ]
    _, large = collect(endpoint, platform.model_copy(update={"academies": many}))
    assert (
        small.calls["cloudwatch:get_metric_data"] == large.calls["cloudwatch:get_metric_data"] == 1
    )
    assert small.calls["s3:list_objects_v2"] == large.calls["s3:list_objects_v2"] == 1
    assert large.calls["ecs:describe_services"] == 6  # ten services a call
    assert sum(large.calls.values()) - sum(small.calls.values()) == 5


def test_a_vanished_resource_reads_as_unavailable_not_as_a_failed_collector(
    endpoint: str, platform: PlatformDocument
) -> None:
    gone = platform.model_copy(
        update={
            "lms": platform.lms.model_copy(
                update={"file_system_id": "fs-0000000000000000", "db_instance": "no-such-db"}
            ),
            "relays": platform.relays.model_copy(
                update={
                    "hosts": [
                        platform.relays.hosts[0].model_copy(
                            update={"instance_id": "i-0123456789abcdef0"}
                        )
                    ]
                }
            ),
        }
    )
    text, _ = collect(endpoint, gone)
    lines = set(text.splitlines())
    assert {
        "cbsi_efs_available 0.0",
        "cbsi_rds_available 0.0",
        'cbsi_relay_instance_running{relay="turn-1"} 0.0',
        'cbsi_exporter_collector_success{collector="aws"} 1.0',
        "cbsi_redis_available 1.0",
    } <= lines
    assert not any(line.startswith("cbsi_rds_allocated_storage_bytes ") for line in lines)


def test_site_logins_come_from_secrets_manager(endpoint: str, platform: PlatformDocument) -> None:
    import json

    from cbsi.commands.monitoring import sites_from_secrets

    secrets = client(endpoint, "secretsmanager")
    academies = []
    for a in platform.academies:
        arn = secrets.create_secret(
            Name=f"db-{a.slug}",
            SecretString=json.dumps(
                {"dbname": f"moodle_{a.slug}", "username": f"moodle_{a.slug}", "password": "p w'd"}
            ),
        )["ARN"]
        academies.append(a.model_copy(update={"db_secret_arn": arn}))
    academies[1] = academies[1].model_copy(update={"status": "offboarded"})
    sites = sites_from_secrets(
        platform.model_copy(update={"academies": academies}), lambda s, r: client(endpoint, s, r)
    )
    assert [s.academy for s in sites] == ["impacs"]
    assert sites[0].dsn == (
        f"host={platform.lms.db_address} port=5432 dbname=moodle_impacs "
        "user=moodle_impacs password='p w\\'d' sslmode=require"
    )
