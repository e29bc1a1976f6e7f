"""An S3 bucket hardened the same way everywhere: no public access, encrypted, TLS only."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

# Statement builder: given the bucket's ARN, extra policy statements (log delivery, CloudFront...);
# values inside may be Outputs (another resource's ARN).
StatementsFn = Callable[[str], list[Any]]

# `kms_key_arn` value meaning SSE-KMS with the account's AWS-managed `aws/s3` key: encrypted with
# KMS, no key policy to keep, and any principal allowed to use the bucket can read it.
AWS_MANAGED_KEY = "aws/s3"


@dataclass(frozen=True)
class SecureBucketArgs:
    """How the bucket is encrypted, versioned, logged and aged."""

    tags: dict[str, str]
    # A customer-managed KMS key ARN, or None for SSE-S3 (AES-256). Some AWS log deliveries (ALB
    # access logs) accept SSE-S3 only.
    kms_key_arn: pulumi.Input[str] | None = None
    versioning: bool = False
    # Server access logs go to this bucket (name) under `log_prefix`.
    log_bucket: pulumi.Input[str] | None = None
    log_prefix: str = ""
    lifecycle_rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs] = ()
    extra_statements: StatementsFn | None = None
    cors_rules: Sequence[aws.s3.BucketCorsConfigurationCorsRuleArgs] = ()
    # Stateful buckets are protected in prod: `pulumi destroy` cannot take them.
    protect: bool = False
    # A fixed name where other tools refer to the bucket by name (media); auto-named otherwise.
    bucket_name: pulumi.Input[str] | None = None
    # Another region than the provider's (the media replica); pulumi-aws 7 takes it per resource.
    region: str | None = None
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    # S3 Object Lock (governance mode) for this many days: an audit log nobody, the platform's own
    # admins included, can quietly delete or overwrite. Needs versioning.
    object_lock_days: int | None = None

    def __post_init__(self) -> None:
        if self.object_lock_days is not None and not self.versioning:
            raise ValueError("S3 Object Lock needs versioning; set versioning=True")


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny every request that does not use TLS (FSBP S3.5, CIS 2.1.1)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


class SecureBucket(pulumi.ComponentResource):
    """A private bucket: public access blocked, owner-enforced objects, default encryption,
    a TLS-only policy, and optionally versioning, access logging, lifecycle rules and CORS."""

    bucket: aws.s3.Bucket
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name,
            bucket=args.bucket_name,
            region=args.region,
            # Object Lock can only be switched on when the bucket is created.
            object_lock_enabled=True if args.object_lock_days is not None else None,
            tags={**args.tags, "Name": name},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        bucket = self.bucket
        if args.object_lock_days is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket.id,
                region=args.region,
                rule={"default_retention": {"mode": "GOVERNANCE", "days": args.object_lock_days}},
                opts=child,
            )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            region=args.region,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            region=args.region,
            rule={"object_ownership": "BucketOwnerEnforced"},  # ACLs off
            opts=child,
        )
        default: dict[str, pulumi.Input[str]]
        if args.kms_key_arn == AWS_MANAGED_KEY:
            default = {"sse_algorithm": "aws:kms"}
        elif args.kms_key_arn is not None:
            default = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        else:
            default = {"sse_algorithm": "AES256"}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            region=args.region,
            rules=[
                {
                    "apply_server_side_encryption_by_default": default,
                    # S3 Bucket Keys cut KMS request costs by ~99% for busy buckets.
                    "bucket_key_enabled": args.kms_key_arn is not None,
                }
            ],
            opts=child,
        )
        if args.versioning:
            aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket.id,
                region=args.region,
                versioning_configuration={"status": "Enabled"},
                opts=child,
            )
        if args.log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=bucket.id,
                region=args.region,
                target_bucket=args.log_bucket,
                target_prefix=args.log_prefix,
                opts=child,
            )
        if args.lifecycle_rules:
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-lifecycle",
                bucket=bucket.id,
                region=args.region,
                rules=list(args.lifecycle_rules),
                opts=child,
            )
        if args.cors_rules:
            aws.s3.BucketCorsConfiguration(
                f"{name}-cors",
                bucket=bucket.id,
                region=args.region,
                cors_rules=list(args.cors_rules),
                opts=child,
            )
        extra = args.extra_statements

        def policy(arn: str) -> pulumi.Output[str]:
            statements = [tls_only_statement(arn), *(extra(arn) if extra else [])]
            return pulumi.Output.from_input(statements).apply(
                lambda resolved: json.dumps({"Version": "2012-10-17", "Statement": resolved})
            )

        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            region=args.region,
            policy=bucket.arn.apply(policy),
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        self.name = bucket.bucket
        self.arn = bucket.arn
        self.versioned = args.versioning
        self.register_outputs({"name": self.name, "arn": self.arn})
