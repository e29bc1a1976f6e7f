"""Who may do what while stewardship passes from INL to IMPACS, and the account's audit trail.

The phase (`cbsi:stewardship.phase`) is the one value that decides every trust policy here: the
platform's human roles trust the identity accounts of the organisations that serve in that phase
(`infra.config.SERVING` and `ADMINISTERING`), always with MFA. Changing the phase changes only the
trust policies, which `cbsi plan --diff` shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.secure_bucket import SecureBucket, SecureBucketArgs
from infra.config import ADMINISTERING, SERVING, Academy, BudgetConfig, Organisation

MANAGED = "arn:aws:iam::aws:policy/"
# How long the audit trail's objects cannot be deleted or overwritten (Object Lock, governance).
TRAIL_LOCK_DAYS = 365
# AWS Budgets alerts: at 80% of the forecast and at 100% of the actual spend.
ALERT_PERCENT = (("FORECASTED", 80.0), ("ACTUAL", 100.0))


@dataclass(frozen=True)
class RoleSpec:
    """A platform role for people: which organisations' people, and what it may do."""

    description: str
    trusted_by: dict[str, frozenset[str]]  # phase -> organisations
    managed_policies: tuple[str, ...]
    max_session_hours: int
    boundary: bool = True


# The break-glass role is the one role without a permissions boundary and with full
# administrator rights (a documented policy exception); every use of it pages the on-call.
ROLES: dict[str, RoleSpec] = {
    "platform-admin": RoleSpec(
        "Deploys and administers the platform (pulumi up); IAM only within the boundary",
        ADMINISTERING,
        (f"{MANAGED}PowerUserAccess",),
        4,
    ),
    "operator": RoleSpec(
        "Runs the runbooks: services, relays, snapshots, secret rotation",
        SERVING,
        (f"{MANAGED}job-function/ViewOnlyAccess",),
        8,
    ),
    "oncall-readonly": RoleSpec(
        "On-call diagnosis: metrics, logs and configuration, no data and no changes",
        SERVING,
        (f"{MANAGED}job-function/ViewOnlyAccess", f"{MANAGED}CloudWatchReadOnlyAccess"),
        12,
    ),
    "break-glass": RoleSpec(
        "Emergency full access when the platform-admin role cannot help; every use pages on-call",
        ADMINISTERING,
        (f"{MANAGED}AdministratorAccess",),
        1,
        boundary=False,
    ),
}

# What the operator role adds to view-only access: the actions the runbooks take, on the
# platform's own resources (tagged project=cbsi-connect) wherever IAM can scope them so.
OPERATOR_ACTIONS = [
    "ecs:UpdateService",
    "ecs:ExecuteCommand",
    "ecs:StopTask",
    "ssm:StartSession",
    "ssm:TerminateSession",
    "ssm:SendCommand",
    "rds:CreateDBSnapshot",
    "rds:RebootDBInstance",
    "cloudfront:CreateInvalidation",
    "secretsmanager:PutSecretValue",
    "secretsmanager:GetSecretValue",
    "ec2:RebootInstances",
    "autoscaling:SetDesiredCapacity",
    "application-autoscaling:RegisterScalableTarget",
]


@dataclass(frozen=True)
class StewardshipArgs:
    environment: str
    region: str
    account_id: pulumi.Input[str]
    phase: str
    # Organisation -> its identity account id.
    accounts: dict[Organisation, str]
    oncall_emails: list[str]
    budgets: BudgetConfig | None
    # Server access logs of the trail bucket go here (the media log bucket).
    log_bucket: pulumi.Input[str]
    production: bool
    tags: dict[str, str]
    # PermissionsBoundary's ARN: every role here carries it but break-glass.
    permissions_boundary: pulumi.Input[str]


def trust_policy(accounts: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """People of these identity accounts may assume the role, only signed in with MFA."""
    condition: dict[str, Any] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}, **(extra or {})}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": condition,
            }
        ],
    }


class Stewardship(pulumi.ComponentResource):
    """The platform's human roles for the current phase (within the permissions boundary,
    break-glass excepted), a multi-region CloudTrail into a locked bucket, GuardDuty,
    a security topic that the break-glass alarm and high GuardDuty findings page, the platform's
    AWS Budget and the cost-allocation tags. Each academy's own role and budget are its
    `AcademyAccess`, built from `academy_trust` here."""

    def __init__(
        self, name: str, args: StewardshipArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:stewardship:Stewardship", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)

        self.roles: dict[str, pulumi.Output[str]] = {}
        for role, spec in ROLES.items():
            self.roles[role] = self._role(role, spec).arn

        key = self._audit_key()
        self.topic = aws.sns.Topic(
            f"{name}-security",
            name=f"cbsi-{args.environment}-security",
            kms_master_key_id=key.arn,
            tags=self._tagged("security"),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-security-policy",
            arn=self.topic.arn,
            policy=self.topic.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "EventBridgePublishes",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self.topic),
        )
        for index, email in enumerate(args.oncall_emails):
            aws.sns.TopicSubscription(
                f"{name}-security-{index}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=pulumi.ResourceOptions(parent=self.topic),
            )
        self.trail_bucket, self.trail = self._trail(key)
        self.detector = aws.guardduty.Detector(
            f"{name}-guardduty",
            enable=True,
            finding_publishing_frequency="FIFTEEN_MINUTES",
            tags=self._tagged("guardduty"),
            opts=child,
        )
        self._alarm(
            "break-glass",
            "Someone assumed the break-glass role",
            self.roles["break-glass"].apply(
                lambda arn: {
                    "source": ["aws.sts"],
                    "detail-type": ["AWS API Call via CloudTrail"],
                    "detail": {
                        "eventName": ["AssumeRole"],
                        "requestParameters": {"roleArn": [arn]},
                    },
                }
            ),
        )
        self._alarm(
            "guardduty",
            "GuardDuty found something of high severity",
            {
                "source": ["aws.guardduty"],
                "detail-type": ["GuardDuty Finding"],
                "detail": {"severity": [{"numeric": [">=", 7]}]},
            },
        )
        self.budget_names = self._budgets()
        self.register_outputs(
            {
                "boundaryArn": args.permissions_boundary,
                "roles": self.roles,
                "securityTopicArn": self.topic.arn,
                "trailName": self.trail.name,
                "trailBucket": self.trail_bucket.name,
                "detectorId": self.detector.id,
                "budgets": self.budget_names,
            }
        )

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _accounts(self, organisations: frozenset[str]) -> list[str]:
        return sorted(
            account for org, account in self._args.accounts.items() if org in organisations
        )

    def _role(self, role: str, spec: RoleSpec) -> aws.iam.Role:
        name, args = self._name, self._args
        resource = aws.iam.Role(
            f"{name}-{role}",
            name=f"cbsi-{args.environment}-{role}",
            description=spec.description,
            assume_role_policy=json.dumps(
                trust_policy(self._accounts(spec.trusted_by[args.phase]))
            ),
            max_session_duration=spec.max_session_hours * 3600,
            permissions_boundary=args.permissions_boundary if spec.boundary else None,
            tags=self._tagged(role),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for policy_arn in spec.managed_policies:
            aws.iam.RolePolicyAttachment(
                f"{name}-{role}-{policy_arn.rsplit('/', 1)[1]}",
                role=resource.name,
                policy_arn=policy_arn,
                opts=pulumi.ResourceOptions(parent=resource),
            )
        if role == "operator":
            aws.iam.RolePolicy(
                f"{name}-{role}-runbooks",
                role=resource.id,
                policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": OPERATOR_ACTIONS,
                                "Resource": "*",
                                "Condition": {
                                    "StringEquals": {"aws:ResourceTag/project": "cbsi-connect"}
                                },
                            }
                        ],
                    }
                ),
                opts=pulumi.ResourceOptions(parent=resource),
            )
        if role == "platform-admin":
            # PowerUserAccess leaves out IAM; this adds role management, within the boundary.
            aws.iam.RolePolicy(
                f"{name}-{role}-iam",
                role=resource.id,
                policy=pulumi.Output.from_input(args.permissions_boundary).apply(
                    lambda boundary: json.dumps(
                        {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "iam:CreateRole",
                                        "iam:PutRolePermissionsBoundary",
                                    ],
                                    "Resource": "*",
                                    "Condition": {
                                        "StringEquals": {"iam:PermissionsBoundary": boundary}
                                    },
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "iam:Get*",
                                        "iam:List*",
                                        "iam:PassRole",
                                        "iam:TagRole",
                                        "iam:UntagRole",
                                        "iam:UpdateRole",
                                        "iam:UpdateAssumeRolePolicy",
                                        "iam:DeleteRole",
                                        "iam:PutRolePolicy",
                                        "iam:DeleteRolePolicy",
                                        "iam:AttachRolePolicy",
                                        "iam:DetachRolePolicy",
                                        "iam:CreateInstanceProfile",
                                        "iam:DeleteInstanceProfile",
                                        "iam:AddRoleToInstanceProfile",
                                        "iam:RemoveRoleFromInstanceProfile",
                                        "iam:CreateServiceLinkedRole",
                                    ],
                                    "Resource": "*",
                                },
                            ],
                        }
                    )
                ),
                opts=pulumi.ResourceOptions(parent=resource),
            )
        return resource

    def _audit_key(self) -> aws.kms.Key:
        """One customer-managed key for the trail and the security topic (a key is $1/month)."""
        name, args = self._name, self._args
        key = aws.kms.Key(
            f"{name}-audit-key",
            description=f"CBSI-Connect {args.environment} audit trail and security alerts",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=self._tagged("audit-key"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        aws.kms.KeyPolicy(
            f"{name}-audit-key-policy",
            key_id=key.id,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "AccountAdministers",
                                "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                "Action": "kms:*",
                                "Resource": "*",
                            },
                            {
                                "Sid": "CloudTrailEncrypts",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"],
                                "Resource": "*",
                                "Condition": {
                                    "StringLike": {
                                        "kms:EncryptionContext:aws:cloudtrail:arn": (
                                            f"arn:aws:cloudtrail:*:{account}:trail/*"
                                        )
                                    }
                                },
                            },
                            {
                                "Sid": "EventBridgePublishesEncrypted",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                                "Resource": "*",
                            },
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=key),
        )
        return key

    def _trail(self, key: aws.kms.Key) -> tuple[SecureBucket, aws.cloudtrail.Trail]:
        name, args = self._name, self._args
        trail_name = f"cbsi-{args.environment}"

        def cloudtrail_statements(bucket_arn: str) -> list[Any]:
            trail_arn = pulumi.Output.concat(
                "arn:aws:cloudtrail:", args.region, ":", args.account_id, ":trail/", trail_name
            )
            return [
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": bucket_arn,
                    "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
                },
                {
                    "Sid": "CloudTrailWrites",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": pulumi.Output.concat(
                        bucket_arn, "/AWSLogs/", args.account_id, "/*"
                    ),
                    "Condition": {
                        "StringEquals": {
                            "s3:x-amz-acl": "bucket-owner-full-control",
                            "aws:SourceArn": trail_arn,
                        }
                    },
                },
            ]

        bucket = SecureBucket(
            f"{name}-trail",
            SecureBucketArgs(
                tags=self._tagged("trail"),
                kms_key_arn=key.arn,
                versioning=True,
                object_lock_days=TRAIL_LOCK_DAYS,
                log_bucket=args.log_bucket,
                log_prefix="s3-access/cloudtrail/",
                lifecycle_rules=[
                    aws.s3.BucketLifecycleConfigurationRuleArgs(
                        id="archive",
                        status="Enabled",
                        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                        transitions=[
                            aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                                days=90, storage_class="GLACIER_IR"
                            )
                        ],
                        # Seven years: the longest retention the academies' records rules ask.
                        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=2557),
                        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=TRAIL_LOCK_DAYS
                        ),
                    )
                ],
                extra_statements=cloudtrail_statements,
                protect=args.production,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=bucket.name,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=key.arn,
            tags=self._tagged("trail"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket]),
        )
        return bucket, trail

    def _alarm(self, suffix: str, description: str, pattern: pulumi.Input[Any]) -> None:
        name = self._name
        rule = aws.cloudwatch.EventRule(
            f"{name}-{suffix}-alarm",
            description=f"CBSI-Connect security: {description}",
            event_pattern=pulumi.Output.from_input(pattern).apply(json.dumps),
            tags=self._tagged(f"{suffix}-alarm"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{name}-{suffix}-alarm",
            rule=rule.name,
            arn=self.topic.arn,
            opts=pulumi.ResourceOptions(parent=rule),
        )

    def _budgets(self) -> dict[str, str]:
        """The platform budget (everything tagged project=cbsi-connect); each academy's own is
        in its AcademyAccess."""
        name, args = self._name, self._args
        if args.budgets is None:
            return {}
        budget = f"cbsi-{args.environment}-platform"
        aws.budgets.Budget(
            f"{name}-budget-platform",
            name=budget,
            budget_type="COST",
            limit_amount=f"{args.budgets.platform_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=[{"name": "TagKeyValue", "values": ["user:project$cbsi-connect"]}],
            notifications=budget_notifications(args.oncall_emails),
            tags=self._tagged("budget-platform"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.budgets.activate_cost_tags:
            for tag in ("academy", "steward", "environment", "project"):
                aws.costexplorer.CostAllocationTag(
                    f"{name}-cost-tag-{tag}",
                    tag_key=tag,
                    status="Active",
                    opts=pulumi.ResourceOptions(parent=self),
                )
        return {"platform": budget}

    def academy_trust(self, academy: Academy) -> str:
        """The trust policy of an academy's site-admin role: the people of its steward
        organisation (while it serves) who carry the academy's tag, with MFA."""
        organisations = frozenset({academy.steward}) & SERVING[self._args.phase]
        return json.dumps(
            trust_policy(
                self._accounts(organisations),
                {"StringEquals": {"aws:PrincipalTag/academy": academy.slug}},
            )
        )


def budget_notifications(emails: list[str]) -> list[dict[str, Any]]:
    """AWS Budgets alerts by e-mail: at 80% of the forecast and at 100% of the actual spend."""
    return [
        {
            "comparison_operator": "GREATER_THAN",
            "threshold": percent,
            "threshold_type": "PERCENTAGE",
            "notification_type": kind,
            "subscriber_email_addresses": emails,
        }
        for kind, percent in ALERT_PERCENT
    ]
