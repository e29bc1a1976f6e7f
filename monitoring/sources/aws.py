"""The platform as AWS sees it, per academy and platform-wide.

API calls stay flat as academies are added: CloudWatch metrics come from batched GetMetricData
(up to 500 queries a call), ECS services are described ten at a time, media is listed once over
the `academies/` prefix and split by academy. The last refresh's calls are exported by operation.
"""

from __future__ import annotations

import datetime
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from cbsi.aws import ClientFactory
from infra.platform import PlatformDocument

MAX_QUERIES = 500  # GetMetricData's limit per call
ECS_BATCH = 10  # DescribeServices' limit per call


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class AwsSource:
    """Target health, tasks, media per academy; database, files, cache, CDN, relays, backups
    and certificates for the platform."""

    name = "aws"

    def __init__(
        self,
        platform: PlatformDocument,
        clients: ClientFactory,
        interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.platform = platform
        self._clients = clients
        self.interval = interval
        self._clock = clock
        self.calls: Counter[str] = Counter()  # the last refresh's API calls, by operation

    def _call(self, service: str, region: str, operation: str, **kwargs: Any) -> Any:
        self.calls[f"{service}:{operation}"] += 1
        return getattr(self._clients(service, region), operation)(**kwargs)

    def _pages(
        self, service: str, region: str, operation: str, key: str, **kwargs: Any
    ) -> Iterable[Any]:
        token_in, token_out = {
            "list_objects_v2": ("ContinuationToken", "NextContinuationToken")
        }.get(operation, ("NextToken", "NextToken"))
        for _ in range(10_000):  # bounded: 10,000 pages
            page = self._call(service, region, operation, **kwargs)
            yield from page.get(key, [])
            token = page.get(token_out)
            if not token:
                return
            kwargs[token_in] = token

    def collect(self) -> list[Metric]:
        self.calls = Counter()
        families = [
            *self._cloudwatch(),
            *self._ecs(),
            *self._media(),
            *self._data_stores(),
            *self._relays(),
            *self._backups(),
            *self._certificates(),
        ]
        calls = _gauge(
            "cbsi_exporter_aws_api_calls", "AWS API calls made by the last refresh.", ["operation"]
        )
        for operation, count in sorted(self.calls.items()):
            calls.add_metric([operation], float(count))
        return [*families, calls]

    # CloudWatch --------------------------------------------------------------------------
    def _cloudwatch(self) -> list[Metric]:
        doc = self.platform
        queries: list[tuple[str, tuple[str, ...], str, dict[str, Any]]] = []
        for a in doc.academies:
            dims = [
                {"Name": "LoadBalancer", "Value": doc.lms.alb_arn_suffix},
                {"Name": "TargetGroup", "Value": a.target_group_arn_suffix},
            ]
            for metric, family in (
                ("HealthyHostCount", "healthy"),
                ("UnHealthyHostCount", "unhealthy"),
            ):
                queries.append(
                    (
                        family,
                        (a.slug,),
                        doc.region,
                        _stat(
                            "AWS/ApplicationELB",
                            metric,
                            dims,
                            "Minimum" if family == "healthy" else "Maximum",
                        ),
                    )
                )
        db = [{"Name": "DBInstanceIdentifier", "Value": doc.lms.db_instance}]
        queries.append(
            ("free_storage", (), doc.region, _stat("AWS/RDS", "FreeStorageSpace", db, "Minimum"))
        )
        queries.append(
            ("connections", (), doc.region, _stat("AWS/RDS", "DatabaseConnections", db, "Maximum"))
        )
        cdn = [
            {"Name": "DistributionId", "Value": doc.media.distribution_id},
            {"Name": "Region", "Value": "Global"},
        ]
        queries.append(
            ("cdn_5xx", (), "us-east-1", _stat("AWS/CloudFront", "5xxErrorRate", cdn, "Average"))
        )

        values = self._metric_data(queries)
        healthy = _gauge(
            "cbsi_academy_healthy_targets",
            "Healthy Moodle tasks behind the load balancer.",
            ["academy"],
        )
        unhealthy = _gauge(
            "cbsi_academy_unhealthy_targets",
            "Unhealthy Moodle tasks behind the load balancer.",
            ["academy"],
        )
        free = _gauge("cbsi_rds_free_storage_bytes", "Free storage of the shared PostgreSQL.")
        conns = _gauge("cbsi_rds_connections", "Connections to the shared PostgreSQL.")
        cdn_5xx = _gauge(
            "cbsi_cloudfront_5xx_error_rate", "Share of media requests answered 5xx (percent)."
        )
        by_family = {
            "healthy": healthy,
            "unhealthy": unhealthy,
            "free_storage": free,
            "connections": conns,
            "cdn_5xx": cdn_5xx,
        }
        for (family, labels, _, _), value in zip(queries, values, strict=True):
            if value is not None:
                by_family[family].add_metric(list(labels), value)
        return [healthy, unhealthy, free, conns, cdn_5xx]

    def _metric_data(
        self, queries: list[tuple[str, tuple[str, ...], str, dict[str, Any]]]
    ) -> list[float | None]:
        """The latest datapoint of each query, fetched in batches of 500 per region."""
        end = datetime.datetime.fromtimestamp(self._clock(), datetime.UTC)
        start = end - datetime.timedelta(minutes=15)
        results: list[float | None] = [None] * len(queries)
        by_region: dict[str, list[int]] = {}
        for index, (_, _, region, _) in enumerate(queries):
            by_region.setdefault(region, []).append(index)
        for region, indexes in by_region.items():
            for offset in range(0, len(indexes), MAX_QUERIES):
                batch = indexes[offset : offset + MAX_QUERIES]
                request = [{"Id": f"q{i}", **queries[i][3]} for i in batch]
                for item in self._pages(
                    "cloudwatch",
                    region,
                    "get_metric_data",
                    "MetricDataResults",
                    MetricDataQueries=request,
                    StartTime=start,
                    EndTime=end,
                    ScanBy="TimestampDescending",
                ):
                    if item.get("Values"):
                        results[int(item["Id"][1:])] = float(item["Values"][0])
        return results

    # ECS ---------------------------------------------------------------------------------
    def _ecs(self) -> list[Metric]:
        doc = self.platform
        running = _gauge("cbsi_academy_tasks_running", "Moodle tasks running.", ["academy"])
        desired = _gauge("cbsi_academy_tasks_desired", "Moodle tasks wanted.", ["academy"])
        by_service = {a.service_name: a.slug for a in doc.academies}
        names = list(by_service)
        for offset in range(0, len(names), ECS_BATCH):
            answer = self._call(
                "ecs",
                doc.region,
                "describe_services",
                cluster=doc.lms.cluster_name,
                services=names[offset : offset + ECS_BATCH],
            )
            for service in answer.get("services", []):
                slug = by_service.get(service["serviceName"])
                if slug:
                    running.add_metric([slug], float(service.get("runningCount", 0)))
                    desired.add_metric([slug], float(service.get("desiredCount", 0)))
        return [running, desired]

    # Media ---------------------------------------------------------------------------------
    def _media(self) -> list[Metric]:
        doc = self.platform
        size: Counter[str] = Counter()
        count: Counter[str] = Counter()
        prefixes = {a.media_prefix: a.slug for a in doc.academies}
        for item in self._pages(
            "s3",
            doc.region,
            "list_objects_v2",
            "Contents",
            Bucket=doc.media.bucket,
            Prefix="academies/",
        ):
            prefix = "/".join(item["Key"].split("/", 2)[:2]) + "/"
            slug = prefixes.get(prefix)
            if slug:
                size[slug] += item["Size"]
                count[slug] += 1
        media_bytes = _gauge(
            "cbsi_academy_media_bytes", "Bytes of media under the academy's prefix.", ["academy"]
        )
        media_objects = _gauge(
            "cbsi_academy_media_objects", "Objects under the academy's prefix.", ["academy"]
        )
        for a in doc.academies:
            media_bytes.add_metric([a.slug], float(size[a.slug]))
            media_objects.add_metric([a.slug], float(count[a.slug]))
        return [media_bytes, media_objects]

    # Data stores ---------------------------------------------------------------------------
    def _data_stores(self) -> list[Metric]:
        """Each store's state; one that AWS reports as not found reads as not available."""
        doc = self.platform
        db = self._describe(
            "rds", "describe_db_instances", "DBInstances", DBInstanceIdentifier=doc.lms.db_instance
        )
        efs = self._describe(
            "efs", "describe_file_systems", "FileSystems", FileSystemId=doc.lms.file_system_id
        )
        cache = self._describe(
            "elasticache",
            "describe_replication_groups",
            "ReplicationGroups",
            ReplicationGroupId=doc.lms.redis_group_id,
        )
        families: list[Metric] = []
        for name, doc_text, item, key in (
            (
                "cbsi_rds_available",
                "Whether the shared PostgreSQL is 'available'.",
                db,
                "DBInstanceStatus",
            ),
            (
                "cbsi_efs_available",
                "Whether moodledata's file system is 'available'.",
                efs,
                "LifeCycleState",
            ),
            (
                "cbsi_redis_available",
                "Whether the Redis replication group is 'available'.",
                cache,
                "Status",
            ),
        ):
            family = _gauge(name, doc_text)
            family.add_metric([], 1.0 if item and item.get(key) == "available" else 0.0)
            families.append(family)
        if db:
            allocated = _gauge(
                "cbsi_rds_allocated_storage_bytes", "Storage allocated to the shared PostgreSQL."
            )
            allocated.add_metric([], float(db["AllocatedStorage"]) * 2**30)
            families.append(allocated)
        return families

    def _describe(
        self, service: str, operation: str, key: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            items = self._call(service, self.platform.region, operation, **kwargs).get(key, [])
        except ClientError as exc:
            if "NotFound" in exc.response.get("Error", {}).get("Code", ""):
                return None
            raise
        return items[0] if items else None

    # Relays --------------------------------------------------------------------------------
    def _relays(self) -> list[Metric]:
        doc = self.platform
        running = _gauge(
            "cbsi_relay_instance_running", "Whether the relay's instance is running.", ["relay"]
        )
        ids = {h.instance_id: h.name for h in doc.relays.hosts}
        states: dict[str, str] = {}
        if ids:
            for reservation in self._pages(
                "ec2",
                doc.region,
                "describe_instances",
                "Reservations",
                Filters=[{"Name": "instance-id", "Values": sorted(ids)}],
            ):
                for instance in reservation["Instances"]:
                    states[instance["InstanceId"]] = instance["State"]["Name"]
        for instance_id, name in sorted(ids.items(), key=lambda kv: kv[1]):
            running.add_metric([name], 1.0 if states.get(instance_id) == "running" else 0.0)
        return [running]

    # Backups -------------------------------------------------------------------------------
    def _backups(self) -> list[Metric]:
        doc = self.platform
        protected = [
            doc.lms.db_instance_arn,
            doc.lms.file_system_arn,
            f"arn:aws:s3:::{doc.media.bucket}",
        ]
        now = self._clock()
        since = datetime.datetime.fromtimestamp(now - 14 * 86400, datetime.UTC)
        latest: dict[str, float] = {}
        for job in self._pages(
            "backup",
            doc.region,
            "list_backup_jobs",
            "BackupJobs",
            ByState="COMPLETED",
            ByCreatedAfter=since,
        ):
            done = job.get("CompletionDate")
            arn = job.get("ResourceArn")
            if done is not None and arn in protected:
                latest[arn] = max(latest.get(arn, 0.0), done.timestamp())
        age = _gauge(
            "cbsi_backup_last_success_age_hours",
            "Hours since the resource's last completed AWS Backup job (14 days if none).",
            ["resource"],
        )
        for arn in protected:
            age.add_metric([arn], (now - latest[arn]) / 3600 if arn in latest else 14 * 24.0)
        return [age]

    # Certificates --------------------------------------------------------------------------
    def _certificates(self) -> list[Metric]:
        doc = self.platform
        days = _gauge(
            "cbsi_certificate_expiry_days", "Days until the ACM certificate expires.", ["domain"]
        )
        now = self._clock()
        for region in sorted({doc.region, "us-east-1"}):
            for summary in self._pages(
                "acm", region, "list_certificates", "CertificateSummaryList"
            ):
                detail = self._call(
                    "acm", region, "describe_certificate", CertificateArn=summary["CertificateArn"]
                )["Certificate"]
                not_after = detail.get("NotAfter")
                if not_after is not None:
                    days.add_metric([detail["DomainName"]], (not_after.timestamp() - now) / 86400)
        return [days]


def _stat(
    namespace: str, metric: str, dimensions: list[dict[str, str]], stat: str
) -> dict[str, Any]:
    return {
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": 60,
            "Stat": stat,
        },
        "ReturnData": True,
    }
