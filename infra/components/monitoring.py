"""Monitoring for the stack: one host, the configuration it runs, and the alarms that page even
when that host is down."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.secure_bucket import AWS_MANAGED_KEY, SecureBucket, SecureBucketArgs
from infra.iam import service_trust
from infra.monitoring_host import render_user_data
from infra.platform import PlatformDocument

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_OWNER = "136693071363"
SSM_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
# What cbsi exporter reads; all read-only, except the secrets it needs to log in to probe.
EXPORTER_ACTIONS = [
    "cloudwatch:GetMetricData",
    "ecs:DescribeServices",
    "rds:DescribeDBInstances",
    "elasticfilesystem:DescribeFileSystems",
    "elasticache:DescribeReplicationGroups",
    "ec2:DescribeInstances",
    "backup:ListBackupJobs",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
]


@dataclass(frozen=True)
class MonitoringArgs:
    environment: str
    region: str
    account_id: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Output[str]]
    platform: pulumi.Output[dict[str, Any]]
    media_bucket_arn: pulumi.Output[str]
    secret_arns: list[pulumi.Output[str]]
    db_security_group_id: pulumi.Output[str]
    relay_security_group_id: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    db_instance: pulumi.Output[str]
    oncall_emails: list[str]
    # Server access logs of the ops bucket go here (the media log bucket).
    log_bucket: pulumi.Input[str]
    production: bool
    tags: dict[str, str]
    # The stewardship permissions boundary, carried by every role this component creates.
    permissions_boundary: pulumi.Input[str] | None = None


def _pick(relative: str, files: dict[str, str]) -> str:
    return files[relative]


class Monitoring(pulumi.ComponentResource):
    """One t4g.small Debian host in a private subnet (about $15/month with its disk) runs
    Prometheus, Alertmanager, blackbox, Grafana and cbsi exporter. That is the cheapest sound
    hosting for ~20 sites: Amazon Managed Prometheus and Grafana would cost more than the host
    for this volume, and Fargate would need EFS for Prometheus's data. Nothing reaches it from
    the internet; operators open Grafana through SSM port forwarding.

    The program renders the monitoring files from the platform document (the same generator as
    `cbsi monitoring generate`) and publishes them, the document and the ops tooling's source to
    an ops bucket; the host syncs them every five minutes. CloudWatch alarms on the AWS-native
    signals page through SNS even when the host is down.
    """

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:monitoring:Monitoring", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        ops = SecureBucket(
            f"{name}-ops",
            SecureBucketArgs(
                tags=args.tags,
                bucket_name=f"cbsi-connect-{args.environment}-ops-{args.account_id}",
                kms_key_arn=AWS_MANAGED_KEY,
                versioning=True,
                log_bucket=args.log_bucket,
                log_prefix="s3-access/ops/",
                lifecycle_rules=[
                    {
                        # Each publish rewrites the config; a month of old versions is rollback.
                        "id": "old-versions",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "noncurrent_version_expiration": {"noncurrent_days": 30},
                    }
                ],
            ),
            opts=child,
        )
        self._publish(ops)
        self.topic = aws.sns.Topic(
            f"{name}-alarms",
            name=f"cbsi-{args.environment}-alarms",
            kms_master_key_id="alias/aws/sns",
            tags=self._tagged("alarms"),
            opts=child,
        )
        for index, email in enumerate(args.oncall_emails):
            aws.sns.TopicSubscription(
                f"{name}-alarms-{index}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=pulumi.ResourceOptions(parent=self.topic),
            )
        host = self._host(ops)
        self._alarms(host)
        self.ops_bucket = ops.name
        self.instance_id = host.id
        self.private_ip = host.private_ip
        self.register_outputs(
            {
                "opsBucket": self.ops_bucket,
                "instanceId": self.instance_id,
                "privateIp": self.private_ip,
                "alarmTopicArn": self.topic.arn,
            }
        )

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _publish(self, ops: SecureBucket) -> None:
        """The platform document, the rendered monitoring files and the ops tooling's source."""
        from monitoring.generate import FILES, render_files

        name = self._name
        parent = pulumi.ResourceOptions(parent=ops)
        document = self._args.platform.apply(lambda doc: json.dumps(doc, indent=2, sort_keys=True))
        files = self._args.platform.apply(
            lambda doc: render_files(PlatformDocument.model_validate(doc))
        )
        aws.s3.BucketObjectv2(
            f"{name}-platform-json",
            bucket=ops.name,
            key="platform.json",
            content=document,
            content_type="application/json",
            tags=self._tagged("platform-json"),
            opts=parent,
        )
        for relative in FILES:
            aws.s3.BucketObjectv2(
                f"{name}-file-{relative.replace('/', '-').replace('.', '-')}",
                bucket=ops.name,
                key=f"monitoring/{relative}",
                content=files.apply(partial(_pick, relative)),
                tags=self._tagged("monitoring-file"),
                opts=parent,
            )
        aws.s3.BucketObjectv2(
            f"{name}-cbsi-src",
            bucket=ops.name,
            key="cbsi-src.zip",
            source=pulumi.AssetArchive(
                {
                    "pyproject.toml": pulumi.FileAsset(str(ROOT / "pyproject.toml")),
                    "infra": pulumi.FileArchive(str(ROOT / "infra")),
                    "cbsi": pulumi.FileArchive(str(ROOT / "cbsi")),
                    "monitoring": pulumi.FileArchive(str(ROOT / "monitoring")),
                }
            ),
            tags=self._tagged("cbsi-src"),
            opts=parent,
        )

    def _host(self, ops: SecureBucket) -> aws.ec2.Instance:
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="CBSI-Connect monitoring host: no inbound; probes out",
            tags=self._tagged("sg"),
            opts=child,
        )
        egress: list[tuple[str, str, int, int, dict[str, Any]]] = [
            ("https", "tcp", 443, 443, {"cidr_ipv4": "0.0.0.0/0"}),  # AWS APIs, probes, apt
            ("turn", "udp", 3478, 3478, {"cidr_ipv4": "0.0.0.0/0"}),  # TURN probes (public IPs)
            ("db", "tcp", 5432, 5432, {"referenced_security_group_id": args.db_security_group_id}),
            (
                "node",
                "tcp",
                9100,
                9100,
                {"referenced_security_group_id": args.relay_security_group_id},
            ),
        ]
        for suffix, protocol, low, high, target in egress:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-{suffix}",
                security_group_id=group.id,
                ip_protocol=protocol,
                from_port=low,
                to_port=high,
                tags=self._tagged(f"out-{suffix}"),
                opts=pulumi.ResourceOptions(parent=group),
                **target,
            )
        # The other side of those rules: PostgreSQL and the relays' node_exporter admit the host.
        for suffix, sg, port in (
            ("db", args.db_security_group_id, 5432),
            ("relay-node", args.relay_security_group_id, 9100),
        ):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{suffix}-from-monitoring",
                security_group_id=sg,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=group.id,
                tags=self._tagged(f"{suffix}-from-monitoring"),
                opts=pulumi.ResourceOptions(parent=group),
            )
        role = aws.iam.Role(
            f"{name}-role",
            permissions_boundary=self._args.permissions_boundary,
            assume_role_policy=service_trust("ec2.amazonaws.com"),
            tags=self._tagged("role"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm",
            role=role.name,
            policy_arn=SSM_POLICY,
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.iam.RolePolicy(
            f"{name}-exporter",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": EXPORTER_ACTIONS, "Resource": "*"},
                        {
                            "Effect": "Allow",
                            "Action": "s3:ListBucket",
                            "Resource": args.media_bucket_arn,
                        },
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:ListBucket"],
                            "Resource": [ops.arn, pulumi.Output.concat(ops.arn, "/*")],
                        },
                        {
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": args.secret_arns,
                        },
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-profile",
            role=role.name,
            tags=self._tagged("profile"),
            opts=pulumi.ResourceOptions(parent=role),
        )
        ami = aws.ec2.get_ami(
            most_recent=True,
            owners=[DEBIAN_OWNER],
            filters=[
                {"name": "name", "values": ["debian-12-arm64-*"]},
                {"name": "architecture", "values": ["arm64"]},
            ],
            opts=pulumi.InvokeOptions(parent=self),
        )
        return aws.ec2.Instance(
            f"{name}-host",
            ami=ami.id,
            instance_type="t4g.small",
            subnet_id=args.private_subnet_ids[0],
            vpc_security_group_ids=[group.id],
            iam_instance_profile=profile.name,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
            },
            root_block_device={"encrypted": True, "volume_type": "gp3", "volume_size": 30},
            user_data=ops.name.apply(
                lambda bucket: render_user_data(ops_bucket=bucket, region=args.region)
            ),
            user_data_replace_on_change=True,
            tags={**self._tagged("host"), "role": "monitoring"},
            opts=child,
        )

    def _alarms(self, host: aws.ec2.Instance) -> None:
        """AWS-native signals that must page even if the monitoring host is down."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        region = args.region
        alarms: list[tuple[str, str, str, dict[str, Any], str, float, str, int]] = [
            # suffix, namespace, metric, dimensions, statistic, threshold, comparison, periods
            (
                "host-down",
                "AWS/EC2",
                "StatusCheckFailed",
                {"InstanceId": host.id},
                "Maximum",
                1,
                "GreaterThanOrEqualToThreshold",
                3,
            ),
            (
                "alb-5xx",
                "AWS/ApplicationELB",
                "HTTPCode_ELB_5XX_Count",
                {"LoadBalancer": args.alb_arn_suffix},
                "Sum",
                50,
                "GreaterThanThreshold",
                5,
            ),
            (
                "db-storage",
                "AWS/RDS",
                "FreeStorageSpace",
                {"DBInstanceIdentifier": args.db_instance},
                "Minimum",
                5 * 2**30,
                "LessThanThreshold",
                3,
            ),
            (
                "db-cpu",
                "AWS/RDS",
                "CPUUtilization",
                {"DBInstanceIdentifier": args.db_instance},
                "Average",
                90,
                "GreaterThanThreshold",
                10,
            ),
        ]
        for (
            suffix,
            namespace,
            metric,
            dimensions,
            statistic,
            threshold,
            comparison,
            periods,
        ) in alarms:
            actions: list[pulumi.Input[str]] = [self.topic.arn]
            if suffix == "host-down":
                actions.append(f"arn:aws:automate:{region}:ec2:recover")  # restart on new hardware
            aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=f"cbsi-{args.environment}-{suffix}",
                alarm_description=(
                    f"CBSI-Connect {args.environment}: {metric} ({namespace}); see runbooks"
                ),
                namespace=namespace,
                metric_name=metric,
                dimensions=dimensions,
                statistic=statistic,
                period=60,
                evaluation_periods=periods,
                threshold=threshold,
                comparison_operator=comparison,
                treat_missing_data="breaching" if suffix == "host-down" else "notBreaching",
                alarm_actions=actions,
                ok_actions=[self.topic.arn],
                tags=self._tagged(suffix),
                opts=child,
            )
