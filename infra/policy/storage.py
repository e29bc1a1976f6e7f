"""Where data rests: S3, EFS, ElastiCache, Secrets Manager, KMS, AWS Backup, SNS."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import PolicyResource

from infra.policy.base import (
    ADVISORY,
    Context,
    Controls,
    Params,
    Props,
    as_list,
    depending_on,
    is_prod,
    matches,
    names,
    of_type,
    open_to_everyone,
    resource_rule,
    sid,
    stack_rule,
    statements,
)

S3 = "aws:s3/"
BUCKET = f"{S3}bucket:Bucket"
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}

# Buckets that only receive logs: they expire their objects by lifecycle, are written once by AWS
# log delivery, and cannot log into themselves. Exempt from versioning and access logging, and
# allowed SSE-S3 (ALB access log delivery accepts no other encryption).
LOG_BUCKETS = names(
    "Log-only buckets (resource name patterns)", "lms-alb-logs", "media-logs", "media-replica-logs"
)
# Buckets whose loss would lose training records: prod keeps a copy in a second region.
REPLICATED = names("Buckets replicated to the DR region in prod (name patterns)", "media-bucket*")
# Secrets rotated by a runbook procedure (`cbsi run rotate-*`) rather than a rotation Lambda:
# rotating them needs coordinated restarts (relays, Moodle tasks) a Lambda cannot do safely.
RUNBOOK_ROTATED = names(
    "Secrets rotated by a runbook procedure (resource name patterns)",
    *("relays-secret", "lms-redis-auth", "academy-*-db", "academy-*-admin"),
)


def _buckets(resources: list[PolicyResource]) -> list[PolicyResource]:
    return of_type(resources, BUCKET)


@resource_rule(
    "s3-public-access-block-all",
    (f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock",),
    "A bucket's public access block sets all four blocks",
    Controls(("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"), ("S3.8",), ("2.1.4",)),
)
def _pab_all(props: Props, ctx: Context) -> Iterable[str]:
    for key in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        if props.get(key) is not True:
            yield f"{key} must be true (missing means false)"


@stack_rule(
    "s3-bucket-public-access-block",
    "Every bucket has a public access block",
    Controls(("CKV2_AWS_6",), ("S3.8",), ("2.1.4",)),
)
def _pab_exists(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for bucket in _buckets(resources):
        if not depending_on(
            resources, bucket, f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock"
        ):
            yield f"bucket {bucket.name} has no BucketPublicAccessBlock", bucket.urn


@stack_rule(
    "s3-bucket-encryption",
    "Every bucket has default server-side encryption",
    Controls(("CKV_AWS_19",), ("S3.17",)),
)
def _sse_exists(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    kind = f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    for bucket in _buckets(resources):
        if not depending_on(resources, bucket, kind):
            yield f"bucket {bucket.name} has no server-side encryption configuration", bucket.urn


@resource_rule(
    "s3-encryption-kms",
    (f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",),
    "Buckets encrypt with a KMS key; log-only buckets may use SSE-S3",
    Controls(("CKV_AWS_145",), ("S3.17",)),
    params={"logBuckets": LOG_BUCKETS},
)
def _sse_kms(props: Props, ctx: Context) -> Iterable[str]:
    rules = as_list(props.get("rules"))
    algorithms = {
        (r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for r in rules
    }
    allowed = {"aws:kms", "aws:kms:dsse"}
    if matches(ctx.name.removesuffix("-encryption"), ctx.params["logBuckets"]):
        allowed.add("AES256")
    if not algorithms or not algorithms <= allowed:
        found = sorted(a or "none" for a in algorithms)
        yield f"encryption {found} is not one of {sorted(allowed)}"


@stack_rule(
    "s3-tls-only",
    "Every bucket policy denies requests without TLS",
    Controls(("CKV_AWS_379",), ("S3.5",), ("2.1.1",)),
)
def _tls_only(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for bucket in _buckets(resources):
        policies = depending_on(resources, bucket, f"{S3}bucketPolicy:BucketPolicy")
        denies = any(
            s.get("Effect") == "Deny"
            and (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for p in policies
            for s in statements(p.props.get("policy"))
        )
        if not denies:
            yield (
                f"bucket {bucket.name} has no policy denying aws:SecureTransport false",
                bucket.urn,
            )


@stack_rule(
    "s3-versioning",
    "Buckets keep object versions (log-only buckets excepted)",
    Controls(("CKV_AWS_21",), ("S3.14",)),
    params={"logBuckets": LOG_BUCKETS},
)
def _versioning(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for bucket in _buckets(resources):
        if matches(bucket.name, params["logBuckets"]):
            continue
        enabled = any(
            (v.props.get("versioningConfiguration") or {}).get("status") == "Enabled"
            for v in depending_on(resources, bucket, f"{S3}bucketVersioning:BucketVersioning")
        )
        if not enabled:
            yield f"bucket {bucket.name} has no enabled BucketVersioning", bucket.urn


@stack_rule(
    "s3-access-logging",
    "Buckets log server access (log-only buckets excepted)",
    Controls(("CKV_AWS_18",), ("S3.9", "CloudTrail.7"), ("3.4",)),
    params={"logBuckets": LOG_BUCKETS},
)
def _access_logging(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for bucket in _buckets(resources):
        if matches(bucket.name, params["logBuckets"]):
            continue
        if not depending_on(resources, bucket, f"{S3}bucketLogging:BucketLogging"):
            yield f"bucket {bucket.name} has no BucketLogging", bucket.urn


@stack_rule(
    "s3-lifecycle",
    "Versioned buckets age old versions out with a lifecycle configuration",
    Controls(("CKV2_AWS_61",), ("S3.10", "S3.13")),
    level=ADVISORY,
)
def _lifecycle(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for bucket in _buckets(resources):
        versioned = depending_on(resources, bucket, f"{S3}bucketVersioning:BucketVersioning")
        kind = f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        if versioned and not depending_on(resources, bucket, kind):
            yield f"versioned bucket {bucket.name} has no lifecycle configuration", bucket.urn


@stack_rule(
    "s3-replication-prod",
    "In prod, buckets holding training records replicate to a second region",
    Controls(("CKV_AWS_144",), ("S3.7",)),
    params={"replicated": REPLICATED},
)
def _replication(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    configs = of_type(resources, f"{S3}bucketReplicationConfig:BucketReplicationConfig")
    for bucket in _buckets(resources):
        if not is_prod(bucket.props) or not matches(bucket.name, params["replicated"]):
            continue
        if not any(bucket.urn in {d.urn for d in c.dependencies} for c in configs):
            yield f"prod bucket {bucket.name} has no replication configuration", bucket.urn


@resource_rule(
    "s3-acls-disabled",
    (f"{S3}bucketOwnershipControls:BucketOwnershipControls",),
    "Bucket ACLs are disabled (object ownership BucketOwnerEnforced)",
    Controls(("CKV2_AWS_65",), ("S3.12",)),
)
def _ownership(props: Props, ctx: Context) -> Iterable[str]:
    ownership = (props.get("rule") or {}).get("objectOwnership")
    if ownership != "BucketOwnerEnforced":
        yield f"objectOwnership is {ownership!r}, not 'BucketOwnerEnforced'"


@resource_rule(
    "s3-no-public-acl",
    (BUCKET, f"{S3}bucketAcl:BucketAcl"),
    "No bucket grants public read or write through a canned ACL",
    Controls(("CKV_AWS_20", "CKV_AWS_57"), ("S3.2", "S3.3")),
)
def _public_acl(props: Props, ctx: Context) -> Iterable[str]:
    acl = props.get("acl")
    if acl in PUBLIC_ACLS:
        yield f"canned ACL {acl!r} makes objects public"


@resource_rule(
    "s3-policy-not-public",
    (f"{S3}bucketPolicy:BucketPolicy",),
    "No bucket policy allows anyone (`*`) without a condition",
    Controls(("CKV_AWS_70",), ("S3.2", "S3.3")),
)
def _policy_public(props: Props, ctx: Context) -> Iterable[str]:
    for statement in open_to_everyone(props.get("policy")):
        yield f"statement {sid(statement)} allows everyone"


@stack_rule(
    "s3-audit-object-lock",
    "The CloudTrail bucket has S3 Object Lock, so the audit trail cannot be rewritten",
    Controls(("CKV_AWS_143",), ("S3.15",)),
)
def _object_lock(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for trail in of_type(resources, "aws:cloudtrail/trail:Trail"):
        for bucket in trail.dependencies:
            if bucket.resource_type != BUCKET:
                continue
            if bucket.props.get("objectLockEnabled") is not True:
                yield f"trail bucket {bucket.name} has no Object Lock", bucket.urn


@resource_rule(
    "efs-encrypted",
    ("aws:efs/fileSystem:FileSystem",),
    "EFS file systems are encrypted at rest",
    Controls(("CKV_AWS_42",), ("EFS.1",), ("2.4.1",)),
)
def _efs_encrypted(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("encrypted") is not True:
        yield "encrypted must be true (missing means false)"


@stack_rule(
    "efs-backup",
    "EFS file systems have AWS Backup enabled",
    Controls(("CKV2_AWS_18",), ("EFS.2",)),
)
def _efs_backup(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for fs in of_type(resources, "aws:efs/fileSystem:FileSystem"):
        policies = depending_on(resources, fs, "aws:efs/backupPolicy:BackupPolicy")
        if not any(
            (p.props.get("backupPolicy") or {}).get("status") == "ENABLED" for p in policies
        ):
            yield f"file system {fs.name} has no enabled BackupPolicy", fs.urn


@resource_rule(
    "efs-access-point-root",
    ("aws:efs/accessPoint:AccessPoint",),
    "EFS access points confine their clients to a directory of their own",
    Controls(("CKV_AWS_329",), ("EFS.3",)),
)
def _ap_root(props: Props, ctx: Context) -> Iterable[str]:
    path = (props.get("rootDirectory") or {}).get("path")
    if not path or path == "/":
        yield f"rootDirectory.path is {path!r}: the access point exposes the whole file system"


@resource_rule(
    "efs-access-point-user",
    ("aws:efs/accessPoint:AccessPoint",),
    "EFS access points enforce a POSIX user",
    Controls(("CKV_AWS_330",), ("EFS.4",)),
)
def _ap_user(props: Props, ctx: Context) -> Iterable[str]:
    if not props.get("posixUser"):
        yield "posixUser is missing: clients choose their own identity"


REDIS = ("aws:elasticache/replicationGroup:ReplicationGroup",)


@resource_rule(
    "elasticache-at-rest",
    REDIS,
    "Redis is encrypted at rest",
    Controls(("CKV_AWS_29",), ("ElastiCache.4",)),
)
def _redis_rest(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("atRestEncryptionEnabled") is not True:
        yield "atRestEncryptionEnabled must be true (missing means false)"


@resource_rule(
    "elasticache-in-transit",
    REDIS,
    "Redis is encrypted in transit and asks for an AUTH token",
    Controls(("CKV_AWS_30", "CKV_AWS_31"), ("ElastiCache.5", "ElastiCache.6")),
)
def _redis_transit(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("transitEncryptionEnabled") is not True:
        yield "transitEncryptionEnabled must be true (missing means false)"
    if not props.get("authToken"):
        yield "authToken is missing: any client in the VPC could read sessions"


@resource_rule(
    "elasticache-failover-prod",
    REDIS,
    "In prod, Redis fails over automatically to a replica in another AZ",
    Controls(("CKV2_AWS_50",), ("ElastiCache.3",)),
)
def _redis_failover(props: Props, ctx: Context) -> Iterable[str]:
    if is_prod(props) and props.get("automaticFailoverEnabled") is not True:
        yield "automaticFailoverEnabled must be true in prod"


@stack_rule(
    "secrets-rotation",
    "Secrets rotate automatically, or by a documented runbook procedure",
    Controls(("CKV2_AWS_57",), ("SecretsManager.1",)),
    level=ADVISORY,
    params={"runbookRotated": RUNBOOK_ROTATED},
)
def _secret_rotation(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for secret in of_type(resources, "aws:secretsmanager/secret:Secret"):
        if matches(secret.name, params["runbookRotated"]):
            continue
        if not depending_on(resources, secret, "aws:secretsmanager/secretRotation:SecretRotation"):
            yield f"secret {secret.name} has no rotation and no rotation runbook", secret.urn


@resource_rule(
    "secrets-recoverable",
    ("aws:secretsmanager/secret:Secret",),
    "A deleted secret can be recovered for at least 7 days",
    Controls((), ("SecretsManager.3",)),
)
def _secret_recovery(props: Props, ctx: Context) -> Iterable[str]:
    days = props.get("recoveryWindowInDays", 30)  # the provider's default is 30
    if days is not None and days < 7:
        yield f"recoveryWindowInDays is {days:g}; a mistaken delete would be final"


@resource_rule(
    "kms-rotation",
    ("aws:kms/key:Key",),
    "Customer-managed KMS keys rotate yearly",
    Controls(("CKV_AWS_7",), ("KMS.4",), ("3.6",)),
)
def _kms_rotation(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("enableKeyRotation") is not True:
        yield "enableKeyRotation must be true (missing means false)"


@resource_rule(
    "kms-deletion-window",
    ("aws:kms/key:Key",),
    "KMS keys wait at least 7 days (30 in prod) before deletion",
    Controls(("CKV_AWS_227",), ("KMS.3",)),
)
def _kms_window(props: Props, ctx: Context) -> Iterable[str]:
    days = props.get("deletionWindowInDays", 30)  # AWS's default is 30
    floor = 30 if is_prod(props) else 7
    if days < floor:
        yield f"deletionWindowInDays is {days:g}; use at least {floor}"
    if props.get("isEnabled") is False:
        yield "isEnabled is false: everything encrypted with it is unreadable"


@resource_rule(
    "kms-policy-no-wildcard",
    ("aws:kms/keyPolicy:KeyPolicy", "aws:kms/key:Key"),
    "No KMS key policy allows everyone (`*`) without a condition",
    Controls(("CKV_AWS_33",)),
)
def _kms_policy(props: Props, ctx: Context) -> Iterable[str]:
    for statement in open_to_everyone(props.get("policy")):
        yield f"statement {sid(statement)} allows everyone to use the key"


@resource_rule(
    "backup-vault-kms",
    ("aws:backup/vault:Vault",),
    "Backup vaults encrypt recovery points with a customer-managed key",
    Controls(("CKV_AWS_166",), ("Backup.1",)),
)
def _vault(props: Props, ctx: Context) -> Iterable[str]:
    if not props.get("kmsKeyArn"):
        yield "kmsKeyArn is missing"


@resource_rule(
    "sns-encrypted",
    ("aws:sns/topic:Topic",),
    "SNS topics are encrypted at rest",
    Controls(("CKV_AWS_26",), ("SNS.1",)),
)
def _sns(props: Props, ctx: Context) -> Iterable[str]:
    if not props.get("kmsMasterKeyId"):
        yield "kmsMasterKeyId is missing"
