"""The permissions boundary every role the platform creates carries (break-glass excepted)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# The services the platform uses: the permissions boundary allows nothing else.
BOUNDARY_SERVICES = [
    "acm", "application-autoscaling", "autoscaling", "backup", "budgets", "ce", "cloudfront",
    "cloudtrail", "cloudwatch", "ec2", "ec2messages", "ecr", "ecs", "elasticache",
    "elasticfilesystem", "elasticloadbalancing", "events", "guardduty", "health", "iam", "kms",
    "logs", "rds", "route53", "s3", "secretsmanager", "sns", "ssm", "ssmmessages", "sts", "tag",
]  # fmt: skip


def boundary_document(environment: str, account_id: str) -> str:
    boundary_arn = f"arn:aws:iam::{account_id}:policy/cbsi-{environment}-boundary"
    trail_arn = f"arn:aws:cloudtrail:*:{account_id}:trail/cbsi-{environment}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PlatformServicesOnly",
                    "Effect": "Allow",
                    "Action": [f"{service}:*" for service in BOUNDARY_SERVICES],
                    "Resource": "*",
                },
                {
                    # Roles made by someone inside the boundary stay inside it.
                    "Sid": "NewRolesCarryTheBoundary",
                    "Effect": "Deny",
                    "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary_arn}},
                },
                {
                    "Sid": "BoundaryStays",
                    "Effect": "Deny",
                    "Action": [
                        "iam:DeleteRolePermissionsBoundary",
                        "iam:CreatePolicyVersion",
                        "iam:DeletePolicy",
                        "iam:DeletePolicyVersion",
                        "iam:SetDefaultPolicyVersion",
                    ],
                    "Resource": boundary_arn,
                },
                {
                    "Sid": "NoLongLivedCredentials",
                    "Effect": "Deny",
                    "Action": [
                        "iam:CreateUser",
                        "iam:CreateAccessKey",
                        "iam:CreateLoginProfile",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "AuditTrailStays",
                    "Effect": "Deny",
                    "Action": [
                        "cloudtrail:StopLogging",
                        "cloudtrail:DeleteTrail",
                        "cloudtrail:UpdateTrail",
                        "guardduty:DeleteDetector",
                        "guardduty:UpdateDetector",
                    ],
                    "Resource": [trail_arn, f"arn:aws:guardduty:*:{account_id}:detector/*"],
                },
            ],
        }
    )


@dataclass(frozen=True)
class PermissionsBoundaryArgs:
    environment: str
    account_id: pulumi.Input[str]
    tags: dict[str, str]


class PermissionsBoundary(pulumi.ComponentResource):
    """A managed policy used as the permissions boundary of every role the platform creates,
    service roles included: roles can use only the platform's services, and whoever works within
    it (platform-admin running `pulumi up`) can create roles only with the same boundary, cannot
    remove it, stop the audit trail or create IAM users and keys. Created first: every component
    that makes roles takes its ARN."""

    def __init__(
        self, name: str, args: PermissionsBoundaryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:stewardship:PermissionsBoundary", name, None, opts)
        policy = aws.iam.Policy(
            f"{name}-policy",
            name=f"cbsi-{args.environment}-boundary",
            description="CBSI-Connect permissions boundary of every role the platform creates",
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: boundary_document(args.environment, account)
            ),
            tags={**args.tags, "Name": f"{name}-policy"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = policy.arn
        self.register_outputs({"arn": self.arn})
