"""What runs: EC2 instances, RDS, ECR and ECS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from infra.policy.base import ADVISORY, Context, Controls, Props, as_list, is_prod, resource_rule

INSTANCE = ("aws:ec2/instance:Instance",)
DATABASE = ("aws:rds/instance:Instance",)
TASK = ("aws:ecs/taskDefinition:TaskDefinition",)

# What a credential in user data or a container's environment looks like.
_SECRET_TEXT = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|aws_secret_access_key\s*=|"
    r"static-auth-secret=(?!\$|@|%)\S{8,}"
)
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|AUTH$|_KEY$")
# Names that mention a secret without holding it: where to find it, not what it is.
_REFERENCE_NAME = re.compile(r"_(ARN|ID|NAME|FILE|PATH|PREFIX|HOST|PORT|URL)$")


@resource_rule(
    "ec2-imdsv2",
    INSTANCE,
    "Instances require IMDSv2 session tokens",
    Controls(("CKV_AWS_79",), ("EC2.8",), ("5.6",)),
)
def _imdsv2(props: Props, ctx: Context) -> Iterable[str]:
    options = props.get("metadataOptions") or {}
    if options.get("httpTokens") != "required":
        yield "metadataOptions.httpTokens must be 'required' (missing means IMDSv1 allowed)"


@resource_rule(
    "ec2-root-encrypted",
    INSTANCE,
    "Instance root volumes are encrypted",
    Controls(("CKV_AWS_8",), ("EC2.3",)),
)
def _root_encrypted(props: Props, ctx: Context) -> Iterable[str]:
    if (props.get("rootBlockDevice") or {}).get("encrypted") is not True:
        yield "rootBlockDevice.encrypted must be true (missing means the account default)"
    for device in as_list(props.get("ebsBlockDevices")):
        if device.get("encrypted") is not True:
            yield f"EBS volume {device.get('deviceName')} is not encrypted"


@resource_rule(
    "ec2-no-secrets-in-user-data",
    INSTANCE,
    "User data carries no credentials (instances fetch them from Secrets Manager)",
    Controls(("CKV_AWS_46",)),
)
def _user_data(props: Props, ctx: Context) -> Iterable[str]:
    found = _SECRET_TEXT.search(str(props.get("userData") or ""))
    if found:
        yield f"user data contains a credential ({found.group(0)[:24]}...)"


@resource_rule(
    "ec2-instance-profile",
    INSTANCE,
    "Instances get AWS access through an instance profile, never stored keys",
    Controls(("CKV2_AWS_41",)),
    level=ADVISORY,
)
def _profile(props: Props, ctx: Context) -> Iterable[str]:
    if not props.get("iamInstanceProfile"):
        yield "iamInstanceProfile is missing"


@resource_rule(
    "rds-encrypted",
    DATABASE,
    "Databases are encrypted at rest",
    Controls(("CKV_AWS_16",), ("RDS.3",), ("2.3.1",)),
)
def _rds_encrypted(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("storageEncrypted") is not True:
        yield "storageEncrypted must be true (missing means false)"


@resource_rule(
    "rds-not-public",
    DATABASE,
    "Databases are not publicly accessible",
    Controls(("CKV_AWS_17",), ("RDS.2",), ("2.3.3",)),
)
def _rds_public(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("publiclyAccessible") is True:  # the provider's default is false
        yield "publiclyAccessible is true"


@resource_rule(
    "rds-backups",
    DATABASE,
    "Databases keep automated backups: at least 1 day, 7 in prod",
    Controls(("CKV_AWS_133",), ("RDS.11",)),
)
def _rds_backups(props: Props, ctx: Context) -> Iterable[str]:
    days = props.get("backupRetentionPeriod", 0)  # missing means 0 for engine-created instances
    floor = 7 if is_prod(props) else 1
    if days < floor:
        yield f"backupRetentionPeriod is {days:g}; keep at least {floor} days"


@resource_rule(
    "rds-multi-az-prod",
    DATABASE,
    "In prod, databases keep a standby in a second AZ",
    Controls(("CKV_AWS_157",), ("RDS.5",)),
)
def _rds_multi_az(props: Props, ctx: Context) -> Iterable[str]:
    if is_prod(props) and props.get("multiAz") is not True:
        yield "multiAz must be true in prod"


@resource_rule(
    "rds-deletion-protection-prod",
    DATABASE,
    "In prod, databases have deletion protection",
    Controls(("CKV_AWS_293",), ("RDS.8",)),
)
def _rds_deletion(props: Props, ctx: Context) -> Iterable[str]:
    if is_prod(props) and props.get("deletionProtection") is not True:
        yield "deletionProtection must be true in prod"


@resource_rule(
    "rds-minor-upgrades",
    DATABASE,
    "Databases take minor engine upgrades automatically",
    Controls(("CKV_AWS_226",), ("RDS.13",), ("2.3.2",)),
)
def _rds_minor(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("autoMinorVersionUpgrade") is False:  # the provider's default is true
        yield "autoMinorVersionUpgrade is false"


@resource_rule(
    "rds-managed-password",
    DATABASE,
    "The master password is generated and kept by RDS in Secrets Manager, never in the stack",
    Controls(()),
)
def _rds_password(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("password") or props.get("passwordWo"):
        yield "a master password is set in the program; use manageMasterUserPassword"
    elif props.get("manageMasterUserPassword") is not True and not props.get("replicateSourceDb"):
        yield "manageMasterUserPassword must be true"


@resource_rule(
    "rds-logs-exported",
    DATABASE,
    "PostgreSQL logs go to CloudWatch Logs",
    Controls(("CKV_AWS_129",), ("RDS.9",)),
    level=ADVISORY,
)
def _rds_logs(props: Props, ctx: Context) -> Iterable[str]:
    if "postgresql" not in as_list(props.get("enabledCloudwatchLogsExports")):
        yield "enabledCloudwatchLogsExports lacks 'postgresql'"


@resource_rule(
    "rds-copy-tags",
    DATABASE,
    "Snapshots carry the database's tags (cost allocation, handover checks)",
    Controls(("CKV2_AWS_60",), ("RDS.17",)),
    level=ADVISORY,
)
def _rds_tags(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("copyTagsToSnapshot") is not True:
        yield "copyTagsToSnapshot must be true"


@resource_rule(
    "rds-force-ssl",
    ("aws:rds/parameterGroup:ParameterGroup",),
    "PostgreSQL parameter groups refuse connections without TLS",
    Controls(("CKV2_AWS_69",)),
)
def _rds_ssl(props: Props, ctx: Context) -> Iterable[str]:
    if not str(props.get("family", "")).startswith("postgres"):
        return
    values = {p.get("name"): str(p.get("value")) for p in as_list(props.get("parameters"))}
    if values.get("rds.force_ssl") != "1":
        yield "rds.force_ssl must be 1"


@resource_rule(
    "ecr-immutable-tags",
    ("aws:ecr/repository:Repository",),
    "Image tags are immutable, so a deployed tag always means the same image",
    Controls(("CKV_AWS_51",), ("ECR.2",)),
)
def _ecr_immutable(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("imageTagMutability") not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
        yield "imageTagMutability must be IMMUTABLE (missing means MUTABLE)"


@resource_rule(
    "ecr-scan-on-push",
    ("aws:ecr/repository:Repository",),
    "Images are scanned for vulnerabilities when pushed",
    Controls(("CKV_AWS_163",), ("ECR.1",)),
)
def _ecr_scan(props: Props, ctx: Context) -> Iterable[str]:
    if (props.get("imageScanningConfiguration") or {}).get("scanOnPush") is not True:
        yield "imageScanningConfiguration.scanOnPush must be true"


@resource_rule(
    "ecs-no-public-ip",
    ("aws:ecs/service:Service",),
    "Services run in private subnets without public IPs",
    Controls(("CKV_AWS_333",), ("ECS.2",)),
)
def _ecs_public(props: Props, ctx: Context) -> Iterable[str]:
    if (props.get("networkConfiguration") or {}).get("assignPublicIp") is True:
        yield "networkConfiguration.assignPublicIp is true"


@resource_rule(
    "ecs-container-insights",
    ("aws:ecs/cluster:Cluster",),
    "Clusters collect Container Insights metrics",
    Controls(("CKV_AWS_65",), ("ECS.12",)),
    level=ADVISORY,
)
def _insights(props: Props, ctx: Context) -> Iterable[str]:
    settings = {s.get("name"): s.get("value") for s in as_list(props.get("settings"))}
    if settings.get("containerInsights") not in ("enabled", "enhanced"):
        yield "setting containerInsights must be 'enabled'"


def _containers(props: Props) -> list[dict[str, object]]:
    value = props.get("containerDefinitions") or "[]"
    parsed = json.loads(value) if isinstance(value, str) else value
    return [c for c in as_list(parsed) if isinstance(c, dict)]


@resource_rule(
    "ecs-non-privileged",
    TASK,
    "Containers are not privileged",
    Controls(("CKV_AWS_334",), ("ECS.4",)),
)
def _privileged(props: Props, ctx: Context) -> Iterable[str]:
    for container in _containers(props):
        if container.get("privileged") is True:
            yield f"container {container.get('name')} is privileged"


@resource_rule(
    "ecs-efs-transit-encryption",
    TASK,
    "EFS volumes of tasks are mounted with TLS",
    Controls(("CKV_AWS_97",)),
)
def _efs_tls(props: Props, ctx: Context) -> Iterable[str]:
    for volume in as_list(props.get("volumes")):
        efs = volume.get("efsVolumeConfiguration")
        if efs and efs.get("transitEncryption") != "ENABLED":
            yield f"volume {volume.get('name')} mounts EFS without transitEncryption ENABLED"


@resource_rule(
    "ecs-no-secrets-in-environment",
    TASK,
    "Secrets reach containers through `secrets` (Secrets Manager), never plain `environment`",
    Controls((), ("ECS.8",)),
)
def _plain_secrets(props: Props, ctx: Context) -> Iterable[str]:
    for container in _containers(props):
        for variable in as_list(container.get("environment")):
            name = str(variable.get("name", "")).upper()
            if _SECRET_NAME.search(name) and not _REFERENCE_NAME.search(name):
                yield f"container {container.get('name')} has {name} in plain environment"
            elif _SECRET_TEXT.search(str(variable.get("value", ""))):
                yield f"container {container.get('name')} has a credential in {name}"


@resource_rule(
    "ecs-distinct-roles",
    TASK,
    "A task's execution role (pulls images, reads secrets) is not its task role",
    Controls(("CKV_AWS_249",)),
    level=ADVISORY,
)
def _roles(props: Props, ctx: Context) -> Iterable[str]:
    execution, task = props.get("executionRoleArn"), props.get("taskRoleArn")
    if execution and execution == task:
        yield "executionRoleArn and taskRoleArn are the same role"
