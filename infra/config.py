"""The stack configuration: one typed model, validated once when it is loaded.

Stack files (`stacks/Pulumi.<stack>.yaml`) keep every setting under the `cbsi:` namespace in
Pulumi's own format, so `pulumi config set` and `pulumi up` read the same file. The model below
declares each setting once, with its type, its default and why; rules that span several keys (unique
slugs, hostnames under the domain, what prod demands) run right after parsing. Whatever is wrong is
reported as a `ConfigError` naming the file, the key path as Pulumi spells it
(`cbsi:academies[3].hostname`) and the fix. The rest of the code trusts the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from infra.errors import ConfigError, ConfigProblem
from infra.iso3166 import ALPHA2

NAMESPACE = "cbsi"
PROJECT = "cbsi-connect"

Environment = Literal["dev", "staging", "prod"]
Phase = Literal["inl", "joint", "impacs"]
Organisation = Literal["inl", "impacs"]
Tier = Literal["small", "medium", "large"]
Status = Literal["onboarding", "active", "offboarded"]
Language = Literal["en", "es", "fr", "nl"]
NatStrategy = Literal["single", "per-az"]

# Who acts in each stewardship phase. In `inl`, INL administers and IMPACS operates beside it; in
# `joint` both administer; in `impacs` INL has no role left. Trust policies, on-call routing and the
# handover checks all read these two tables.
SERVING: dict[str, frozenset[str]] = {
    "inl": frozenset({"inl", "impacs"}),
    "joint": frozenset({"inl", "impacs"}),
    "impacs": frozenset({"impacs"}),
}
ADMINISTERING: dict[str, frozenset[str]] = {
    "inl": frozenset({"inl"}),
    "joint": frozenset({"inl", "impacs"}),
    "impacs": frozenset({"impacs"}),
}

# Names the platform itself uses under the stack's domain; an academy cannot take them.
RESERVED_HOST_LABELS = frozenset({"www", "media", "turn", "monitoring", "grafana", "alerts", "api"})

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
     3288, 3653}
)  # fmt: skip

_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS label; use 1-63 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit (e.g. 'jamaica')"
        )
    return value


def _hostname(value: str) -> str:
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_DNS_LABEL.fullmatch(x) for x in labels):
        raise ValueError(
            f"{value!r} is not a lower-case DNS name; use labels of letters, digits and hyphens "
            "joined by dots (e.g. 'jamaica.cbsi-connect.org')"
        )
    return value


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ValueError(f"{value!r} is not an AWS region name; use one such as 'us-east-1'")
    return value


def _country(value: str) -> str:
    if value not in ALPHA2:
        raise ValueError(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code; use two capital letters "
            "such as 'JM', 'TT' or 'DO'"
        )
    return value


def _private_cidr(value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an IPv4 CIDR block ({exc}); use one like '10.20.0.0/16'"
        ) from None
    if not net.is_private or not 16 <= net.prefixlen <= 20:
        raise ValueError(
            f"{value!r} must be a private (RFC 1918) block from /16 to /20, "
            "so that each AZ gets public and private subnets; use one like '10.20.0.0/16'"
        )
    return net


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in sorted(LOG_RETENTION_DAYS))
        raise ValueError(f"{value} is not a CloudWatch Logs retention period; use one of {allowed}")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]
Region = Annotated[str, AfterValidator(_region)]
Country = Annotated[str, AfterValidator(_country)]
Cidr = Annotated[str, AfterValidator(_private_cidr)]
RetentionDays = Annotated[int, AfterValidator(_retention)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


# Stack files, the platform document and the handover records use Pulumi's camelCase keys; Python
# uses snake_case. Unknown keys are errors, so a misspelt setting is caught instead of silently
# falling back to a default.
CAMEL_STRICT = ConfigDict(
    extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
)


class _Model(BaseModel):
    model_config = CAMEL_STRICT


class Contact(_Model):
    """A person or mailbox that is told about something."""

    name: Text
    email: EmailStr
    # Phone numbers are optional: e-mail is the routing key, a phone is for the escalation runbook.
    phone: str | None = None


class OncallContact(Contact):
    """Who is paged for the platform; the organisation decides which phase they serve in."""

    organisation: Organisation


class NetworkConfig(_Model):
    """Environment sizing of the network."""

    cidr: Cidr
    # Two AZs are the floor for a load balancer and Multi-AZ databases; prod uses three.
    az_count: int = Field(ge=2, le=6)
    # `single` shares one NAT gateway (about $33/month each plus traffic) in dev and staging;
    # `per-az` keeps prod's private subnets online when one AZ fails.
    nat_gateways: NatStrategy
    # How long VPC flow logs are kept; a year by default, for incident investigation.
    flow_log_retention_days: RetentionDays = 365

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)


def _account_id(value: object) -> str:
    # YAML reads an unquoted 12-digit number as an int and would drop a leading zero.
    if not isinstance(value, str) or not re.fullmatch(r"\d{12}", value):
        raise ValueError(
            f"{value!r} is not an AWS account id; write its 12 digits in quotes "
            '(e.g. "111122223333")'
        )
    return value


AccountId = Annotated[str, BeforeValidator(_account_id)]


class StewardshipConfig(_Model):
    """Who runs the platform while it moves from INL to CARICOM IMPACS."""

    # inl: INL runs it, IMPACS operates; joint: both administer; impacs: IMPACS alone.
    phase: Phase
    # The organisation whose budget and people own platform-wide resources (the `steward` tag).
    platform_steward: Organisation
    # Each organisation's identity account: where its people sign in (IAM Identity Center) before
    # assuming the platform's roles. The phase decides which of them the trust policies name.
    accounts: dict[Organisation, AccountId]
    # The day stewardship passed to IMPACS; secrets must be rotated after it (handover checks).
    handover_date: date | None = None


class BudgetConfig(_Model):
    """Monthly AWS Budgets (USD). Alerts at 80% (forecast) and 100% (actual)."""

    platform_usd: float = Field(gt=0)
    # Per academy, by tier, filtered on its `academy` cost-allocation tag; the academy's admins and
    # the platform on-call are told.
    academy_usd: dict[Tier, float]
    # AWS activates a cost-allocation tag only once the key shows in billing data, up to a day
    # after resources carry it: leave this off for the first `pulumi up`, then set it (in the
    # payer account; in an AWS Organizations member account, activate them in the payer's).
    activate_cost_tags: bool = False


class Usage(_Model):
    """What one academy uses in a month: the cost model's assumptions (`cbsi cost`)."""

    media_gb: float = Field(ge=0)  # course media and recordings in S3
    moodledata_gb: float = Field(ge=0)  # uploads and Moodle's file store on EFS
    cdn_gb: float = Field(ge=0)  # media served through CloudFront
    cdn_requests_millions: float = Field(ge=0)
    relay_hours: float = Field(ge=0)  # participant-hours of classroom video relayed by TURN
    logs_gb: float = Field(ge=0)  # application logs ingested into CloudWatch


# Sized from the platform's first terms: a small academy runs a few hundred officers a year
# through mostly text and slide courses; large ones record classes and run regional sessions.
DEFAULT_USAGE: dict[Tier, Usage] = {
    "small": Usage(media_gb=20, moodledata_gb=5, cdn_gb=40, cdn_requests_millions=0.5,
                   relay_hours=20, logs_gb=1),
    "medium": Usage(media_gb=60, moodledata_gb=15, cdn_gb=150, cdn_requests_millions=2,
                    relay_hours=80, logs_gb=3),
    "large": Usage(media_gb=200, moodledata_gb=40, cdn_gb=500, cdn_requests_millions=6,
                   relay_hours=300, logs_gb=8),
}  # fmt: skip


class UsageConfig(_Model):
    """Usage assumptions of the cost estimate; an academy may declare its own (`usage:`)."""

    tiers: dict[Tier, Usage] = Field(default_factory=lambda: dict(DEFAULT_USAGE))
    # Video bitrate of one relayed participant; WebRTC classroom video at 720p is about 1.5 Mbit/s.
    relay_mbps: float = Field(default=1.5, gt=0)
    # Traffic through the NAT gateways (OS updates, image pulls, AWS APIs without an endpoint).
    nat_gb: float = Field(default=50, ge=0)
    # Load balancer capacity units used on average; one LCU is 25 new connections/s or 1 GB/h.
    alb_lcus: float = Field(default=1, ge=0)
    # Management events per month that GuardDuty analyses, and VPC flow log volume.
    cloudtrail_events_millions: float = Field(default=2, ge=0)
    flow_logs_gb: float = Field(default=10, ge=0)


class Academy(_Model):
    """One academy in the registry, and so one Moodle sub-site."""

    # At most 40 characters: the slug also names the academy's database, role and log group.
    slug: Annotated[DnsLabel, Field(max_length=40)]
    name: Text
    country: Country
    # The first language is the site's default.
    languages: list[Language] = Field(min_length=1)
    hostname: Hostname
    tier: Tier
    admins: list[Contact] = Field(min_length=1)
    steward: Organisation
    status: Status
    # What the academy declares it uses; the tier's assumptions otherwise (cbsi:usage.tiers).
    usage: Usage | None = None

    @property
    def default_language(self) -> str:
        return self.languages[0]


@dataclass(frozen=True)
class TierSize:
    """What a tier buys an academy's site: Fargate task size and autoscaling bounds."""

    cpu: int  # Fargate CPU units (1024 = 1 vCPU), shared by the web and cron containers
    memory: int  # MiB
    min_tasks: int
    max_tasks: int


# Sized for Moodle 4.5 on PHP 8.3 behind Apache: a small academy (under ~1,000 officers) fits in
# one 0.5 vCPU task; large academies (Jamaica, Trinidad and Tobago, Dominican Republic) keep two
# tasks for availability and scale out during intakes. Dev and staging run one task of any tier.
TIER_SIZES: dict[str, TierSize] = {
    "small": TierSize(cpu=512, memory=1024, min_tasks=1, max_tasks=2),
    "medium": TierSize(cpu=1024, memory=2048, min_tasks=1, max_tasks=4),
    "large": TierSize(cpu=2048, memory=4096, min_tasks=2, max_tasks=8),
}


def listener_priorities(slugs: list[str]) -> dict[str, int]:
    """Load balancer rule priorities (1-49999), one per slug.

    Each slug hashes to its own priority, so adding, removing or reordering academies leaves the
    others' rules alone; the rare collision moves the later academy (in registry order) to the
    next free priority, so appending an academy never renumbers an existing one.
    """
    taken: dict[int, str] = {}
    for slug in slugs:
        priority = 1 + int(hashlib.sha256(slug.encode()).hexdigest(), 16) % 49_999
        while priority in taken:
            priority = priority % 49_999 + 1
        taken[priority] = slug
    return {slug: priority for priority, slug in taken.items()}


class LmsConfig(_Model):
    """The shared Moodle cluster."""

    # Tag of our Moodle image (docker/moodle) in the stack's ECR repository.
    image_tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    # RDS PostgreSQL rather than Aurora: for ~19 small sites one db.t4g instance is about half the
    # cost of Aurora's smallest provisioned or serverless floor, with the same engine.
    db_instance_class: Annotated[str, Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")]
    db_allocated_storage_gb: int = Field(ge=20, le=16384)
    # Storage autoscaling ceiling: the disk grows on its own up to here.
    db_max_allocated_storage_gb: int = Field(ge=20, le=16384)
    db_backup_retention_days: int = Field(ge=1, le=35)
    # A standby in a second AZ; prod requires it.
    db_multi_az: bool
    redis_node_type: Annotated[str, Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")]
    # Read replicas behind the primary; with at least one, failover is automatic.
    redis_replicas: int = Field(ge=0, le=5)


class MediaConfig(_Model):
    """Course media storage."""

    # Old versions of changed or deleted objects are kept this long, so mistakes can be undone.
    noncurrent_version_days: int = Field(ge=1, le=3650)
    # A second region holding a replica of the bucket, for disaster recovery; prod requires it.
    replica_region: Region | None = None
    # AWS Backup of the bucket, daily, kept this many days; prod requires it.
    backup_retention_days: int | None = Field(default=None, ge=7, le=3650)


_GRAVITON = re.compile(r"[a-z]+\d+g")


class RelayConfig(_Model):
    """The coturn TURN relay fleet for classroom video."""

    count: int = Field(ge=1, le=20)
    # Graviton (t4g, c7g...) is the cheapest per Mbit; the AMI follows the architecture.
    instance_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
    # UDP ports relays allocate from (coturn's defaults); the security group opens exactly these.
    min_port: int = Field(default=49152, ge=1024, le=65535)
    max_port: int = Field(default=65535, ge=1024, le=65535)

    @property
    def architecture(self) -> Literal["arm64", "x86_64"]:
        return "arm64" if _GRAVITON.match(self.instance_type) else "x86_64"


class Objective(_Model):
    """How much data a component may lose (RPO) and how long it may be down (RTO), in hours."""

    rpo_hours: float = Field(gt=0)
    rto_hours: float = Field(gt=0)


class RecoveryConfig(_Model):
    """Recovery objectives of every stateful component, declared so that backups, restore tests
    and the handover checks are held to them."""

    database: Objective
    file_system: Objective  # moodledata on EFS
    media: Objective


class StackConfig(_Model):
    """Everything a stack file says under `cbsi:`."""

    environment: Environment
    region: Region
    # Root DNS domain of the stack; every academy hostname lives under it.
    domain: Hostname
    network: NetworkConfig
    lms: LmsConfig
    media: MediaConfig
    relays: RelayConfig
    # Application and audit log retention: three months covers incident review at low cost.
    log_retention_days: RetentionDays = 90
    stewardship: StewardshipConfig
    oncall: list[OncallContact] = Field(min_length=1)
    # AWS Budgets; prod requires them (dev and staging may go without).
    budgets: BudgetConfig | None = None
    usage: UsageConfig = Field(default_factory=UsageConfig)
    recovery: RecoveryConfig | None = None
    academies: list[Academy] = Field(min_length=1)

    @property
    def serving_oncall(self) -> list[OncallContact]:
        """The on-call contacts paged in the current phase."""
        return [c for c in self.oncall if c.organisation in SERVING[self.stewardship.phase]]

    def usage_of(self, academy: Academy) -> Usage:
        return academy.usage or self.usage.tiers.get(academy.tier) or DEFAULT_USAGE[academy.tier]

    def academy(self, slug: str) -> Academy:
        for academy in self.academies:
            if academy.slug == slug:
                return academy
        raise KeyError(slug)


def _rules(cfg: StackConfig) -> list[ConfigProblem]:
    """Rules spanning several keys; each names the key to change and how."""
    problems: list[ConfigProblem] = []
    key = f"{NAMESPACE}:academies"
    seen_slugs: dict[str, int] = {}
    seen_hosts: dict[str, int] = {}
    for i, academy in enumerate(cfg.academies):
        if academy.slug in seen_slugs:
            problems.append(ConfigProblem(
                f"{key}[{i}].slug",
                f"slug {academy.slug!r} is already used by {key}[{seen_slugs[academy.slug]}]; "
                "give each academy its own slug",
            ))  # fmt: skip
        seen_slugs.setdefault(academy.slug, i)
        host = academy.hostname
        if host in seen_hosts:
            problems.append(ConfigProblem(
                f"{key}[{i}].hostname",
                f"hostname {host!r} is already used by {key}[{seen_hosts[host]}]; "
                "give each academy its own hostname",
            ))  # fmt: skip
        seen_hosts.setdefault(host, i)
        label, _, parent = host.partition(".")
        if parent != cfg.domain:
            problems.append(ConfigProblem(
                f"{key}[{i}].hostname",
                f"{host!r} is not directly under the stack's domain {cfg.domain!r} (one label, "
                f"so the platform's wildcard certificate covers it); "
                f"use a name such as '{academy.slug}.{cfg.domain}'",
            ))  # fmt: skip
        elif label in RESERVED_HOST_LABELS:
            problems.append(ConfigProblem(
                f"{key}[{i}].hostname",
                f"{host!r} is reserved for the platform itself; use '{academy.slug}.{cfg.domain}'",
            ))  # fmt: skip
        if len(set(academy.languages)) != len(academy.languages):
            problems.append(ConfigProblem(
                f"{key}[{i}].languages", "a language is listed twice; list each language once"
            ))  # fmt: skip
        if cfg.stewardship.phase == "impacs" and academy.steward == "inl":
            problems.append(ConfigProblem(
                f"{key}[{i}].steward",
                "phase 'impacs' leaves INL no role; set the steward to 'impacs'",
            ))  # fmt: skip
    if cfg.environment == "prod":
        if not any(a.status == "active" for a in cfg.academies):
            problems.append(ConfigProblem(
                key, "prod needs at least one academy with status 'active'"
            ))  # fmt: skip
        if cfg.network.az_count < 3:
            problems.append(ConfigProblem(
                f"{NAMESPACE}:network.azCount", "prod spans at least 3 AZs; set it to 3"
            ))  # fmt: skip
        if cfg.network.nat_gateways != "per-az":
            problems.append(ConfigProblem(
                f"{NAMESPACE}:network.natGateways",
                "prod keeps one NAT gateway per AZ so an AZ outage cannot cut the others off; "
                "set it to 'per-az'",
            ))  # fmt: skip
    lms_key = f"{NAMESPACE}:lms"
    if cfg.lms.db_max_allocated_storage_gb < cfg.lms.db_allocated_storage_gb:
        problems.append(ConfigProblem(
            f"{lms_key}.dbMaxAllocatedStorageGb",
            "is below dbAllocatedStorageGb; set it at least as high",
        ))  # fmt: skip
    if cfg.environment == "prod":
        if not cfg.lms.db_multi_az:
            problems.append(ConfigProblem(
                f"{lms_key}.dbMultiAz",
                "prod keeps a standby database in a second AZ; set it to true",
            ))  # fmt: skip
        if cfg.lms.db_backup_retention_days < 7:
            problems.append(ConfigProblem(
                f"{lms_key}.dbBackupRetentionDays", "prod keeps at least 7 days of backups"
            ))  # fmt: skip
        if cfg.lms.redis_replicas < 1:
            problems.append(ConfigProblem(
                f"{lms_key}.redisReplicas",
                "prod keeps a Redis replica for automatic failover; set it to 1",
            ))  # fmt: skip
    if cfg.relays.min_port >= cfg.relays.max_port:
        problems.append(ConfigProblem(
            f"{NAMESPACE}:relays.minPort", "must be below relays.maxPort; widen the range"
        ))  # fmt: skip
    if cfg.media.replica_region == cfg.region:
        problems.append(ConfigProblem(
            f"{NAMESPACE}:media.replicaRegion",
            f"is the stack's own region {cfg.region!r}; choose another region (e.g. us-west-2)",
        ))  # fmt: skip
    if cfg.environment == "prod":
        if cfg.media.replica_region is None:
            problems.append(ConfigProblem(
                f"{NAMESPACE}:media.replicaRegion",
                "prod replicates media to a second region; set one such as 'us-west-2'",
            ))  # fmt: skip
        if cfg.media.backup_retention_days is None:
            problems.append(ConfigProblem(
                f"{NAMESPACE}:media.backupRetentionDays",
                "prod backs media up with AWS Backup; set the retention (e.g. 35)",
            ))  # fmt: skip
        if cfg.relays.count < 2:
            problems.append(ConfigProblem(
                f"{NAMESPACE}:relays.count", "prod runs at least 2 relays in different AZs"
            ))  # fmt: skip
    missing = SERVING[cfg.stewardship.phase] - cfg.stewardship.accounts.keys()
    if missing:
        problems.append(ConfigProblem(
            f"{NAMESPACE}:stewardship.accounts",
            f"phase {cfg.stewardship.phase!r} needs the identity account of "
            f"{' and '.join(sorted(missing))}; add it (12 digits, quoted)",
        ))  # fmt: skip
    if cfg.environment == "prod" and cfg.budgets is None:
        problems.append(ConfigProblem(
            f"{NAMESPACE}:budgets",
            "prod keeps AWS Budgets per academy; set platformUsd and academyUsd "
            "(see stacks/Pulumi.prod.yaml)",
        ))  # fmt: skip
    if cfg.budgets is not None:
        for tier in sorted({a.tier for a in cfg.academies} - cfg.budgets.academy_usd.keys()):
            problems.append(ConfigProblem(
                f"{NAMESPACE}:budgets.academyUsd",
                f"has no budget for tier {tier!r}, which an academy uses; add '{tier}: <USD>'",
            ))  # fmt: skip
    phase, steward = cfg.stewardship.phase, cfg.stewardship.platform_steward
    if phase != "joint" and steward != phase:
        problems.append(ConfigProblem(
            f"{NAMESPACE}:stewardship.platformSteward",
            f"in phase {phase!r} the platform steward is {phase!r}; set it to {phase!r}",
        ))  # fmt: skip
    serving = SERVING[phase]
    if not any(c.organisation in serving for c in cfg.oncall):
        problems.append(ConfigProblem(
            f"{NAMESPACE}:oncall",
            f"no on-call contact serves in phase {phase!r}; add one from "
            f"{' or '.join(sorted(serving))}",
        ))  # fmt: skip
    return problems


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = f"{NAMESPACE}:{loc[0]}" if loc else f"{NAMESPACE}:"
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required but missing; add it (see stacks/Pulumi.dev.yaml for an example)"
    if kind == "extra_forbidden":
        return "is not a known setting; remove it or fix its spelling"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        return f"{error['input']!r} is not allowed: {message}"
    return message


def parse_config(values: Mapping[str, Any], source: str) -> StackConfig:
    """Validate the `cbsi:` settings (keys without the namespace) or raise `ConfigError`."""
    try:
        cfg = StackConfig.model_validate(dict(values))
    except ValidationError as exc:
        problems = [
            ConfigProblem(_key_path(tuple(e["loc"])), _describe(e))
            for e in exc.errors(include_url=False)
        ]
        raise ConfigError(source, problems) from None
    problems = _rules(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def split_namespaces(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Take the `cbsi:` settings out of a Pulumi config map; check the other namespaces we know."""
    values: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if not name:
            raise ConfigError(source, [ConfigProblem(
                str(key), f"config keys are namespaced; write it as '{NAMESPACE}:{key}'"
            )])  # fmt: skip
        if namespace == NAMESPACE:
            values[name] = value
    region = config.get("aws:region")
    if region is not None and region != values.get("region"):
        raise ConfigError(source, [ConfigProblem(
            "aws:region",
            f"{region!r} differs from {NAMESPACE}:region {values.get('region')!r}; the program "
            f"deploys to {NAMESPACE}:region, so remove aws:region",
        )])  # fmt: skip
    return values


def read_stack_file(path: Path, source: str | None = None) -> dict[str, Any]:
    """The raw `config:` map of a stack file (all namespaces), or `ConfigError`.

    `source` is how messages name the file (the path relative to the project by default).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    source = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigProblem(
            "file", "not found; create it (copy stacks/Pulumi.dev.yaml) or pick another --stack"
        )]) from None  # fmt: skip
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        where = f"line {exc.problem_mark.line + 1}" if exc.problem_mark else "an unknown line"
        raise ConfigError(source, [ConfigProblem(
            "yaml", f"not valid YAML at {where}: {exc.problem}; fix the syntax there"
        )]) from None  # fmt: skip
    except YAMLError as exc:
        raise ConfigError(source, [ConfigProblem("yaml", f"not valid YAML: {exc}")]) from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise ConfigError(source, [ConfigProblem(
            "config", "the file needs a top-level 'config:' map of namespaced settings"
        )])  # fmt: skip
    return dict(document["config"])


def load_stack_file(path: Path, source: str | None = None) -> StackConfig:
    """Load and validate a stack file."""
    source = source or str(path)
    return parse_config(split_namespaces(read_stack_file(path, source), source), source)


def to_pulumi_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Render a config map the way the engine hands it to a program: structured values as JSON."""
    return {
        key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()
    }


def load_from_pulumi() -> StackConfig:
    """Load the configuration inside a running Pulumi program (real engine or mocks)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    values: dict[str, Any] = {}
    for key, value in merged.items():
        if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        values[key] = value
    return parse_config(split_namespaces(values, source), source)
