"""Course media: a private, encrypted, versioned bucket behind CloudFront, with DR copies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.secure_bucket import SecureBucket, SecureBucketArgs
from infra.config import Academy, MediaConfig
from infra.iam import service_trust

# CloudFront's certificates and logging live in us-east-1 whatever the stack's region.
CLOUDFRONT_REGION = "us-east-1"
# AWS-managed policies: CachingOptimized, and CORS-S3Origin (forwards Origin for CORS replies).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CORS_S3_ORIGIN = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
# Edges in North America and Europe. Caribbean viewers are served from the US edges (Miami,
# Atlanta, Dallas), which this class includes; the dearer classes add South American and Asian
# edges that these viewers do not reach.
PRICE_CLASS = "PriceClass_100"


def academy_prefix(slug: str) -> str:
    """Where an academy's media lives in the bucket."""
    return f"academies/{slug}/"


def uploader_policy(bucket_arn: str, key_arn: str, slug: str) -> dict[str, Any]:
    """An academy's content contributors: read and write under its own prefix, nothing else."""
    prefix = academy_prefix(slug)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnPrefixObjects",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                "Resource": f"{bucket_arn}/{prefix}*",
            },
            {
                "Sid": "ListOwnPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            },
            {
                "Sid": "UseTheMediaKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": key_arn,
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            },
        ],
    }


def reader_policy(bucket_arn: str, key_arn: str, slug: str) -> dict[str, Any]:
    """An academy's Moodle tasks: read its own media."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOwnPrefix",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{academy_prefix(slug)}*",
            },
            {
                "Sid": "DecryptThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
            },
        ],
    }


@dataclass(frozen=True)
class MediaStoreArgs:
    environment: str
    region: str
    domain: str
    zone_id: pulumi.Input[str]
    account_id: str
    academies: list[Academy]
    media: MediaConfig
    log_retention_days: int
    production: bool
    tags: dict[str, str]
    # The stewardship permissions boundary, carried by every role this component creates.
    permissions_boundary: pulumi.Input[str] | None = None


class MediaStore(pulumi.ComponentResource):
    """The media bucket (SSE-KMS with a rotating customer key, versioned, TLS only, access logs,
    lifecycle to cheaper storage), served through CloudFront with origin access control at
    `media.<domain>`. In prod a replica in a second region and an AWS Backup plan."""

    def __init__(
        self, name: str, args: MediaStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:media:MediaStore", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        self.hostname = f"media.{args.domain}"
        bucket_name = f"cbsi-connect-{args.environment}-media-{args.account_id}"

        key = aws.kms.Key(
            f"{name}-key",
            description=f"CBSI-Connect {args.environment} course media",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self._tagged("key"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/cbsi-{args.environment}-media",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=key),
        )
        logs = self._log_bucket()
        distribution = self._distribution(bucket_name, logs)
        media = SecureBucket(
            f"{name}-bucket",
            SecureBucketArgs(
                tags=args.tags,
                bucket_name=bucket_name,
                kms_key_arn=key.arn,
                versioning=True,
                log_bucket=logs.name,
                log_prefix="s3-access/",
                lifecycle_rules=self._lifecycle(),
                cors_rules=[
                    {
                        "allowed_methods": ["GET", "HEAD"],
                        "allowed_origins": [f"https://{a.hostname}" for a in args.academies],
                        "allowed_headers": ["*"],
                        "max_age_seconds": 3600,
                    }
                ],
                extra_statements=lambda arn: [
                    {
                        "Sid": "CloudFrontReads",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": f"{arn}/*",
                        "Condition": {"StringEquals": {"AWS:SourceArn": distribution.arn}},
                    }
                ],
                protect=args.production,
            ),
            opts=child,
        )
        aws.kms.KeyPolicy(
            f"{name}-key-policy",
            key_id=key.key_id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministers",
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{args.account_id}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "CloudFrontDecryptsMedia",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "kms:Decrypt",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"AWS:SourceArn": distribution.arn}},
                        },
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=key),
        )
        self.replica_bucket: pulumi.Output[str] | None = None
        if args.media.replica_region:
            self._replication(media, key, args.media.replica_region)
        self.backup_vault: pulumi.Output[str] | None = None
        if args.media.backup_retention_days:
            self._backup(media, key, args.media.backup_retention_days)

        self.bucket_name = media.name
        self.bucket_arn = media.arn
        self.key_arn = key.arn
        self.log_bucket_name = logs.name
        self.distribution_domain = distribution.domain_name
        self.distribution_id = distribution.id
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "keyArn": self.key_arn,
                "distributionDomain": self.distribution_domain,
                "distributionId": self.distribution_id,
                "hostname": self.hostname,
            }
        )

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _lifecycle(self) -> list[Any]:
        """Recordings age to Standard-IA after 30 days and Glacier Instant Retrieval after 180;
        old versions expire after the configured days; stalled uploads are cleaned up."""
        rules: list[Any] = [
            {
                "id": f"recordings-{a.slug}",
                "status": "Enabled",
                "filter": {"prefix": f"{academy_prefix(a.slug)}recordings/"},
                "transitions": [
                    {"days": 30, "storage_class": "STANDARD_IA"},
                    {"days": 180, "storage_class": "GLACIER_IR"},
                ],
            }
            for a in self._args.academies
        ]
        rules.append(
            {
                "id": "old-versions-and-stalled-uploads",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {
                    "noncurrent_days": self._args.media.noncurrent_version_days
                },
                "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            }
        )
        return rules

    def _log_bucket(self, suffix: str = "logs", region: str | None = None) -> SecureBucket:
        """Access logs of the buckets in a region and of CloudFront (SSE-S3: S3 log delivery
        needs it). S3 delivers access logs only to a bucket in the same region."""
        args = self._args
        return SecureBucket(
            f"{self._name}-{suffix}",
            SecureBucketArgs(
                tags=args.tags,
                region=region,
                lifecycle_rules=[
                    {
                        "id": "expire",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "expiration": {"days": max(args.log_retention_days, 365)},
                    }
                ],
                extra_statements=lambda arn: [
                    {
                        "Sid": "S3ServerAccessLogs",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/s3-access/*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                    },
                    {
                        "Sid": "CloudFrontAccessLogs",
                        "Effect": "Allow",
                        "Principal": {"Service": "delivery.logs.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/cloudfront/*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                    },
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _distribution(self, bucket_name: str, logs: SecureBucket) -> aws.cloudfront.Distribution:
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            region=CLOUDFRONT_REGION,
            domain_name=self.hostname,
            validation_method="DNS",
            tags=self._tagged("cert"),
            opts=child,
        )
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=args.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=certificate),
        )
        validated = aws.acm.CertificateValidation(
            f"{name}-cert-validated",
            region=CLOUDFRONT_REGION,
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=pulumi.ResourceOptions(parent=certificate),
        )
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            description="CBSI-Connect media: CloudFront signs every request to S3",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        origin_id = "media-bucket"
        distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"CBSI-Connect {args.environment} course media",
            aliases=[self.hostname],
            origins=[
                {
                    "origin_id": origin_id,
                    "domain_name": f"{bucket_name}.s3.{args.region}.amazonaws.com",
                    "origin_access_control_id": oac.id,
                }
            ],
            default_cache_behavior={
                "target_origin_id": origin_id,
                "viewer_protocol_policy": "https-only",
                "allowed_methods": ["GET", "HEAD", "OPTIONS"],
                "cached_methods": ["GET", "HEAD"],
                "compress": True,
                "cache_policy_id": CACHING_OPTIMIZED,
                "origin_request_policy_id": CORS_S3_ORIGIN,
            },
            viewer_certificate={
                "acm_certificate_arn": validated.certificate_arn,
                "ssl_support_method": "sni-only",
                "minimum_protocol_version": "TLSv1.2_2021",
            },
            price_class=PRICE_CLASS,
            http_version="http2and3",
            is_ipv6_enabled=True,
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            tags=self._tagged("cdn"),
            opts=child,
        )
        self._cdn_logs(distribution, logs)
        aws.route53.Record(
            f"{name}-dns",
            zone_id=args.zone_id,
            name=self.hostname,
            type="A",
            aliases=[
                {
                    "name": distribution.domain_name,
                    "zone_id": distribution.hosted_zone_id,
                    "evaluate_target_health": False,
                }
            ],
            opts=pulumi.ResourceOptions(parent=distribution),
        )
        return distribution

    def _cdn_logs(self, distribution: aws.cloudfront.Distribution, logs: SecureBucket) -> None:
        """CloudFront standard logging (v2) into the log bucket; no ACLs needed."""
        name = self._name
        parent = pulumi.ResourceOptions(parent=distribution)
        source = aws.cloudwatch.LogDeliverySource(
            f"{name}-cdn-log-source",
            region=CLOUDFRONT_REGION,
            name=f"cbsi-{self._args.environment}-media-cdn",
            log_type="ACCESS_LOGS",
            resource_arn=distribution.arn,
            tags=self._tagged("cdn-log-source"),
            opts=parent,
        )
        destination = aws.cloudwatch.LogDeliveryDestination(
            f"{name}-cdn-log-destination",
            region=CLOUDFRONT_REGION,
            name=f"cbsi-{self._args.environment}-media-cdn-logs",
            output_format="parquet",
            delivery_destination_configuration={
                "destination_resource_arn": logs.arn.apply(lambda arn: f"{arn}/cloudfront")
            },
            tags=self._tagged("cdn-log-destination"),
            opts=parent,
        )
        aws.cloudwatch.LogDelivery(
            f"{name}-cdn-log-delivery",
            region=CLOUDFRONT_REGION,
            delivery_source_name=source.name,
            delivery_destination_arn=destination.arn,
            tags=self._tagged("cdn-log-delivery"),
            opts=parent,
        )

    def _replication(self, media: SecureBucket, key: aws.kms.Key, region: str) -> None:
        """Every object, version and delete marker copied to a bucket in a second region,
        re-encrypted there with that region's own key."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        replica_key = aws.kms.Key(
            f"{name}-replica-key",
            region=region,
            description=f"CBSI-Connect {args.environment} course media replica",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self._tagged("replica-key"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        replica = SecureBucket(
            f"{name}-replica",
            SecureBucketArgs(
                tags=args.tags,
                region=region,
                bucket_name=f"cbsi-connect-{args.environment}-media-replica-{args.account_id}",
                kms_key_arn=replica_key.arn,
                versioning=True,
                log_bucket=self._log_bucket("replica-logs", region).name,
                log_prefix="s3-access/",
                lifecycle_rules=[
                    {
                        "id": "old-versions",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "noncurrent_version_expiration": {
                            "noncurrent_days": args.media.noncurrent_version_days
                        },
                    }
                ],
                protect=args.production,
            ),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-replication",
            permissions_boundary=args.permissions_boundary,
            assume_role_policy=service_trust("s3.amazonaws.com"),
            tags=self._tagged("replication"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-replication",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                            "Resource": media.arn,
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "s3:GetObjectVersionForReplication",
                                "s3:GetObjectVersionAcl",
                                "s3:GetObjectVersionTagging",
                            ],
                            "Resource": pulumi.Output.concat(media.arn, "/*"),
                        },
                        {
                            "Effect": "Allow",
                            "Action": [
                                "s3:ReplicateObject",
                                "s3:ReplicateDelete",
                                "s3:ReplicateTags",
                            ],
                            "Resource": pulumi.Output.concat(replica.arn, "/*"),
                        },
                        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key.arn},
                        {
                            "Effect": "Allow",
                            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                            "Resource": replica_key.arn,
                        },
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=media.name,
            role=role.arn,
            rules=[
                {
                    "id": "everything",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "delete_marker_replication": {"status": "Enabled"},
                    "source_selection_criteria": {
                        "sse_kms_encrypted_objects": {"status": "Enabled"}
                    },
                    "destination": {
                        "bucket": replica.arn,
                        "storage_class": "STANDARD_IA",
                        "encryption_configuration": {"replica_kms_key_id": replica_key.arn},
                    },
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[media, replica]),
        )
        self.replica_bucket = replica.name

    def _backup(self, media: SecureBucket, key: aws.kms.Key, retention_days: int) -> None:
        """A daily AWS Backup of the bucket (continuous for point-in-time restores within 35
        days where the retention allows), in a vault encrypted with the media key."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        vault = aws.backup.Vault(
            f"{name}-vault",
            name=f"cbsi-{args.environment}-media",
            kms_key_arn=key.arn,
            tags=self._tagged("vault"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        plan = aws.backup.Plan(
            f"{name}-backup-plan",
            name=f"cbsi-{args.environment}-media",
            rules=[
                {
                    "rule_name": "daily",
                    "target_vault_name": vault.name,
                    "schedule": "cron(0 5 * * ? *)",  # 01:00 in the eastern Caribbean
                    "start_window": 60,
                    "completion_window": 600,
                    "enable_continuous_backup": retention_days <= 35,
                    "lifecycle": {"delete_after": retention_days},
                }
            ],
            tags=self._tagged("backup-plan"),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-backup",
            permissions_boundary=args.permissions_boundary,
            assume_role_policy=service_trust("backup.amazonaws.com"),
            tags=self._tagged("backup"),
            opts=child,
        )
        for suffix, policy in (
            ("s3-backup", "AWSBackupServiceRolePolicyForS3Backup"),
            ("s3-restore", "AWSBackupServiceRolePolicyForS3Restore"),
        ):
            aws.iam.RolePolicyAttachment(
                f"{name}-backup-{suffix}",
                role=role.name,
                policy_arn=f"arn:aws:iam::aws:policy/service-role/{policy}",
                opts=pulumi.ResourceOptions(parent=role),
            )
        aws.backup.Selection(
            f"{name}-backup-selection",
            name=f"cbsi-{args.environment}-media",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            resources=[media.arn],
            opts=pulumi.ResourceOptions(parent=plan),
        )
        self.backup_vault = vault.name
