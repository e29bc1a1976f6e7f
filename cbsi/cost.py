"""A monthly cost estimate of a plan: per component and per academy, from `pricing.yaml`.

What is priced comes from the plan (the resources the program would create and their sizes);
how much is used comes from the stack's usage assumptions (`cbsi:usage`, or an academy's own
`usage:`). A resource tagged with an academy is that academy's direct cost, and so is the usage it
declares (its media, files, CDN traffic, relayed video, logs). Everything else is shared and
apportioned by tier weight: an academy's Fargate CPU share (small 1, medium 2, large 4), zero for
an offboarded academy, whose site no longer runs. The academies' totals add up to the total.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from cbsi.planfile import Plan, PlannedResource
from infra.config import TIER_SIZES, StackConfig
from infra.errors import UsageError

PRICING = Path(__file__).with_name("pricing.yaml")
DAYS_PER_MONTH = 30.42
FREE_BUDGETS = 2


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Price(_Model):
    usd: float = Field(ge=0)
    unit: str
    region: str
    as_of: str
    source: str


class Pricing(_Model):
    hours_per_month: float
    prices: dict[str, Price]

    def usd(self, key: str) -> float:
        try:
            return self.prices[key].usd
        except KeyError:
            raise UsageError(
                f"{PRICING.name}: no price '{key}'; add it with its unit, region, asOf and source"
            ) from None

    @classmethod
    def load(cls, path: Path = PRICING) -> Pricing:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        try:
            return cls.model_validate(YAML(typ="safe", pure=True).load(path.read_text("utf-8")))
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in error["loc"])
            raise UsageError(f"{path}: {where}: {error['msg']}; fix the pricing table") from None
        except (OSError, YAMLError) as exc:
            raise UsageError(f"{path}: not a pricing table ({exc}); fix it") from None


class CostLine(_Model):
    component: str
    academy: str | None
    item: str
    quantity: float
    unit: str
    unit_usd: float
    monthly_usd: float


class AcademyCost(_Model):
    slug: str
    tier: str
    status: str
    weight: float
    direct_usd: float
    shared_usd: float
    total_usd: float


class CostReport(_Model):
    stack: str
    rule: str
    lines: list[CostLine]
    components: dict[str, float]
    academies: list[AcademyCost]
    shared_usd: float
    total_usd: float

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True)


RULE = (
    "Resources tagged with an academy and the usage it declares are its own; shared resources "
    "are split by tier weight (small 1, medium 2, large 4; offboarded 0)."
)


class _Lines:
    """Collects priced lines."""

    def __init__(self, pricing: Pricing) -> None:
        self.pricing = pricing
        self.lines: list[CostLine] = []

    def add(
        self,
        component: str,
        academy: str | None,
        item: str,
        quantity: float,
        price: str,
        factor: float = 1.0,
    ) -> None:
        """`quantity` units of `price`, times `factor` (hours per month, a Multi-AZ standby)."""
        entry = self.pricing.prices.get(price)
        unit_usd = self.pricing.usd(price) * factor
        self.lines.append(
            CostLine(
                component=component,
                academy=academy,
                item=item,
                quantity=quantity,
                unit=entry.unit if entry else price,
                unit_usd=unit_usd,
                monthly_usd=quantity * unit_usd,
            )
        )


def _component(resource: PlannedResource) -> str:
    urn = resource.component or resource.urn
    return urn.rsplit("::", 1)[-1]


def _plan_lines(plan: Plan, lines: _Lines) -> None:
    """What the planned resources cost by the hour or month, whatever they are used for."""
    hours = lines.pricing.hours_per_month
    by_type: dict[str, list[PlannedResource]] = defaultdict(list)
    for r in plan.resources:
        if r.custom:
            by_type[r.type].append(r)
    tasks = {r.academy: r for r in by_type["aws:ecs/taskDefinition:TaskDefinition"]}

    for r in by_type["aws:ec2/natGateway:NatGateway"]:
        lines.add(_component(r), r.academy, f"NAT gateway {r.name}", 1, "nat-gateway-hour", hours)
    for r in by_type["aws:ec2/eip:Eip"]:
        lines.add(_component(r), r.academy, f"public IPv4 {r.name}", 1, "public-ipv4-hour", hours)
    for r in by_type["aws:lb/loadBalancer:LoadBalancer"]:
        lines.add(_component(r), r.academy, f"load balancer {r.name}", 1, "alb-hour", hours)
    for r in by_type["aws:ecs/service:Service"]:
        task = tasks.get(r.academy)
        count = float(r.inputs.get("desiredCount", 1))
        if task is None or count == 0:
            continue
        arch = (
            "arm"
            if (task.inputs.get("runtimePlatform") or {}).get("cpuArchitecture") == "ARM64"
            else "x86"
        )
        vcpu = float(task.inputs.get("cpu", 256)) / 1024
        memory = float(task.inputs.get("memory", 512)) / 1024
        component = _component(r)
        lines.add(component, r.academy, f"Fargate vCPU x{count:g} tasks", count * vcpu,
                  f"fargate-{arch}-vcpu-hour", hours)  # fmt: skip
        lines.add(component, r.academy, f"Fargate memory x{count:g} tasks", count * memory,
                  f"fargate-{arch}-gb-hour", hours)  # fmt: skip
    for r in by_type["aws:rds/instance:Instance"]:
        copies = 2 if r.inputs.get("multiAz") else 1
        label = f"{r.inputs.get('instanceClass')}{' Multi-AZ' if copies == 2 else ''}"
        lines.add(_component(r), r.academy, f"PostgreSQL {label}", copies,
                  f"rds-postgres-{r.inputs.get('instanceClass')}-hour", hours)  # fmt: skip
        storage = copies * float(r.inputs.get("allocatedStorage", 20))
        lines.add(_component(r), r.academy, "PostgreSQL storage", storage, "rds-gp3-gb-month")
    for r in by_type["aws:elasticache/replicationGroup:ReplicationGroup"]:
        nodes = float(r.inputs.get("numCacheClusters", 1))
        lines.add(_component(r), r.academy, f"Redis {r.inputs.get('nodeType')} x{nodes:g}", nodes,
                  f"elasticache-{r.inputs.get('nodeType')}-hour", hours)  # fmt: skip
    for r in by_type["aws:ec2/instance:Instance"]:
        kind = r.inputs.get("instanceType")
        lines.add(_component(r), r.academy, f"EC2 {kind} {r.name}", 1, f"ec2-{kind}-hour", hours)
        disk = float((r.inputs.get("rootBlockDevice") or {}).get("volumeSize", 8))
        lines.add(_component(r), r.academy, f"EBS root {r.name}", disk, "ebs-gp3-gb-month")
    flat = (
        ("aws:route53/zone:Zone", "hosted zone", "route53-zone-month"),
        ("aws:route53/healthCheck:HealthCheck", "health check", "route53-health-check-month"),
        ("aws:secretsmanager/secret:Secret", "secret", "secret-month"),
        ("aws:kms/key:Key", "KMS key", "kms-key-month"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "CloudWatch alarm", "alarm-month"),
    )
    for kind, item, price in flat:
        counts: dict[tuple[str, str | None], int] = defaultdict(int)
        for r in by_type[kind]:
            counts[(_component(r), r.academy)] += 1
        for (component, academy), count in sorted(counts.items(), key=str):
            lines.add(component, academy, f"{item} x{count}", count, price)
    budgets = by_type["aws:budgets/budget:Budget"]
    if budgets:
        # The free budgets go to the platform's own; the rest are charged where they belong.
        for r in sorted(budgets, key=lambda b: (b.academy is not None, b.urn))[FREE_BUDGETS:]:
            lines.add(_component(r), r.academy, f"budget {r.name}", DAYS_PER_MONTH, "budget-day")


def _usage_lines(plan: Plan, cfg: StackConfig, lines: _Lines) -> None:
    """What the stack's usage assumptions cost: per academy where the use is its own."""
    types = {r.type for r in plan.resources}
    replicated = "aws:s3/bucketReplicationConfig:BucketReplicationConfig" in types
    backed_up = "aws:backup/selection:Selection" in types
    usage = cfg.usage
    for academy in cfg.academies:
        use, slug = cfg.usage_of(academy), academy.slug
        lines.add(
            "media", slug, "media storage (S3 Standard)", use.media_gb, "s3-standard-gb-month"
        )
        if replicated:
            lines.add("media", slug, "media replica (S3 Standard-IA)", use.media_gb,
                      "s3-standard-ia-gb-month")  # fmt: skip
        if backed_up:
            lines.add("media", slug, "media backup", use.media_gb, "backup-s3-gb-month")
        lines.add("media", slug, "CDN transfer", use.cdn_gb, "cloudfront-gb")
        lines.add(
            "media", slug, "CDN requests", use.cdn_requests_millions, "cloudfront-https-million"
        )
        lines.add(
            "lms", slug, "moodledata (EFS Standard)", use.moodledata_gb, "efs-standard-gb-month"
        )
        lines.add("lms", slug, "moodledata backup", use.moodledata_gb, "backup-efs-gb-month")
        relay_gb = use.relay_hours * usage.relay_mbps * 3600 / 8 / 1000
        lines.add("relays", slug, f"relayed video ({use.relay_hours:g} participant-hours)",
                  relay_gb, "internet-egress-gb")  # fmt: skip
        lines.add(f"academy-{slug}", slug, "application logs", use.logs_gb, "logs-ingest-gb")
    hours = lines.pricing.hours_per_month
    if "aws:lb/loadBalancer:LoadBalancer" in types:
        lines.add(
            "lms", None, "load balancer capacity units", usage.alb_lcus, "alb-lcu-hour", hours
        )
    if "aws:ec2/natGateway:NatGateway" in types:
        lines.add("network", None, "NAT traffic", usage.nat_gb, "nat-gateway-gb")
    if "aws:ec2/flowLog:FlowLog" in types:
        lines.add("network", None, "flow logs", usage.flow_logs_gb, "logs-ingest-gb")
    if "aws:guardduty/detector:Detector" in types:
        lines.add("stewardship", None, "GuardDuty: management events",
                  usage.cloudtrail_events_millions, "guardduty-events-million")  # fmt: skip
        lines.add("stewardship", None, "GuardDuty: flow logs", usage.flow_logs_gb,
                  "guardduty-flow-logs-gb")  # fmt: skip


def estimate(plan: Plan, cfg: StackConfig, pricing: Pricing | None = None) -> CostReport:
    """The monthly estimate of `plan` (planned from `cfg`)."""
    lines = _Lines(pricing or Pricing.load())
    _plan_lines(plan, lines)
    _usage_lines(plan, cfg, lines)

    components: dict[str, float] = defaultdict(float)
    direct: dict[str, float] = defaultdict(float)
    shared = 0.0
    for line in lines.lines:
        components[line.component] += line.monthly_usd
        if line.academy is None:
            shared += line.monthly_usd
        else:
            direct[line.academy] += line.monthly_usd
    weights = {
        a.slug: 0.0
        if a.status == "offboarded"
        else TIER_SIZES[a.tier].cpu / TIER_SIZES["small"].cpu
        for a in cfg.academies
    }
    total_weight = sum(weights.values())
    academies = []
    for a in cfg.academies:
        share = weights[a.slug] / total_weight if total_weight else 1 / len(cfg.academies)
        academies.append(
            AcademyCost(
                slug=a.slug,
                tier=a.tier,
                status=a.status,
                weight=weights[a.slug],
                direct_usd=direct[a.slug],
                shared_usd=shared * share,
                total_usd=direct[a.slug] + shared * share,
            )
        )
    return CostReport(
        stack=plan.stack,
        rule=RULE,
        lines=lines.lines,
        components=dict(sorted(components.items())),
        academies=academies,
        shared_usd=shared,
        total_usd=sum(line.monthly_usd for line in lines.lines),
    )


def summary(report: CostReport) -> dict[str, Any]:
    """The few figures `cbsi plan` shows."""
    return {
        "totalUsd": round(report.total_usd, 2),
        "sharedUsd": round(report.shared_usd, 2),
        "components": {k: round(v, 2) for k, v in report.components.items()},
    }
