"""One Moodle sub-site per registry entry."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.config import Academy


@dataclass(frozen=True)
class AcademySiteArgs:
    """The registry entry and what the platform decides for it."""

    academy: Academy
    environment: str
    log_retention_days: int
    tags: dict[str, str]


class AcademySite(pulumi.ComponentResource):
    """Everything one academy owns, tagged `academy=<slug>` so its cost and its data are its own.

    The site's application logs land in their own log group, so that an academy's admins can be
    given read access to their logs and nobody else's.
    """

    log_group_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: AcademySiteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:lms:AcademySite", name, None, opts)
        slug = args.academy.slug
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/cbsi/{args.environment}/academies/{slug}",
            retention_in_days=args.log_retention_days,
            tags={**args.tags, "Name": f"{name}-logs"},
            # Logs are evidence: a registry change never deletes them.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.log_group_name = log_group.name
        self.register_outputs({"logGroupName": self.log_group_name})
