"""What an academy's own people may do, and what the academy may spend."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components.stewardship import budget_notifications


@dataclass(frozen=True)
class AcademyAccessArgs:
    slug: str
    academy_name: str
    environment: str
    region: str
    account_id: pulumi.Input[str]
    # From Stewardship.academy_trust: who, in this phase, may act as the academy's site admin.
    trust_policy: str
    permissions_boundary: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    # The academy's monthly AWS Budget (USD) on its `academy` cost-allocation tag; None: no budget.
    budget_usd: float | None
    budget_emails: list[str]
    tags: dict[str, str]


class AcademyAccess(pulumi.ComponentResource):
    """An academy's site-admin role (its own logs and the platform's metrics, within the
    permissions boundary, MFA required) and its AWS Budget, alerting its admins and the on-call.
    A child of the academy's site, so its resources carry and follow the academy."""

    def __init__(
        self, name: str, args: AcademyAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:stewardship:AcademyAccess", name, None, opts)
        role = aws.iam.Role(
            f"{name}-site-admin",
            name=f"cbsi-{args.environment}-site-admin-{args.slug}",
            description=f"Site admins of {args.academy_name}: its own logs and metrics",
            assume_role_policy=args.trust_policy,
            max_session_duration=8 * 3600,
            permissions_boundary=args.permissions_boundary,
            tags={**args.tags, "Name": f"{name}-site-admin"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-site-admin",
            role=role.id,
            policy=pulumi.Output.all(args.account_id, args.log_group_name).apply(
                lambda v: json.dumps(self._policy(args.region, v[0], v[1]))
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        self.site_admin_role_arn = role.arn
        self.budget_name: str | None = None
        if args.budget_usd is not None:
            self.budget_name = f"cbsi-{args.environment}-academy-{args.slug}"
            aws.budgets.Budget(
                f"{name}-budget",
                name=self.budget_name,
                budget_type="COST",
                limit_amount=f"{args.budget_usd:.2f}",
                limit_unit="USD",
                time_unit="MONTHLY",
                cost_filters=[{"name": "TagKeyValue", "values": [f"user:academy${args.slug}"]}],
                notifications=budget_notifications(args.budget_emails),
                tags={**args.tags, "Name": f"{name}-budget"},
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs(
            {"siteAdminRoleArn": self.site_admin_role_arn, "budget": self.budget_name}
        )

    @staticmethod
    def _policy(region: str, account: str, log_group: str) -> dict[str, object]:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OwnLogs",
                    "Effect": "Allow",
                    "Action": [
                        "logs:DescribeLogStreams",
                        "logs:GetLogEvents",
                        "logs:FilterLogEvents",
                        "logs:StartQuery",
                    ],
                    "Resource": f"arn:aws:logs:{region}:{account}:log-group:{log_group}:*",
                },
                {
                    # CloudWatch metric reads cannot be scoped to resources.
                    "Sid": "Metrics",
                    "Effect": "Allow",
                    "Action": [
                        "cloudwatch:GetMetricData",
                        "cloudwatch:ListMetrics",
                        "logs:GetQueryResults",
                    ],
                    "Resource": "*",
                },
            ],
        }
