"""The platform document: the contract between the infrastructure and every ops tool.

The stack exports it as the output `platform`. Exporters, runbook automation and the handover checks
read it instead of asking AWS or the stack files, so it carries everything they need by name. The
`version` changes whenever a field is removed or changes meaning; adding a field does not.
"""

from __future__ import annotations

from typing import Any, Literal

import pulumi
from pydantic import BaseModel, EmailStr, Field

from infra.config import (
    CAMEL_STRICT,
    Environment,
    Language,
    Organisation,
    Phase,
    StackConfig,
    Status,
    Tier,
)

VERSION = 1


class _Doc(BaseModel):
    model_config = CAMEL_STRICT


class ContactEntry(_Doc):
    name: str
    email: EmailStr
    organisation: Organisation | None = None


class NetworkEntry(_Doc):
    vpc_id: str
    availability_zones: list[str] = Field(min_length=2)
    public_subnet_ids: list[str]
    private_subnet_ids: list[str]


class LmsEntry(_Doc):
    cluster_name: str
    alb_dns_name: str
    alb_arn_suffix: str
    repository_url: str
    image: str
    db_instance: str
    db_instance_arn: str
    db_address: str
    db_master_secret_arn: str
    file_system_id: str
    file_system_arn: str
    redis_group_id: str
    redis_host: str
    redis_auth_secret_arn: str


class MediaEntry(_Doc):
    bucket: str
    kms_key_arn: str
    hostname: str
    cloudfront_domain: str
    distribution_id: str
    log_bucket: str
    replica_bucket: str | None = None
    backup_vault: str | None = None


class RelayHost(_Doc):
    name: str
    hostname: str
    availability_zone: str
    instance_id: str
    public_ip: str
    private_ip: str


class RelaysEntry(_Doc):
    hostname: str
    secret_arn: str = Field(description="Secrets Manager ARN of the TURN REST shared secret")
    min_port: int
    max_port: int
    hosts: list[RelayHost]


class AcademyEntry(_Doc):
    slug: str
    name: str
    country: str
    url: str
    hostname: str
    languages: list[Language]
    default_language: Language
    tier: Tier
    status: Status
    steward: Organisation
    admins: list[ContactEntry]
    log_group: str
    access_point_id: str
    service_name: str
    target_group_arn_suffix: str
    database: str
    db_secret_arn: str
    session_prefix: str
    cache_prefix: str
    media_prefix: str
    uploader_role_arn: str
    site_admin_role_arn: str | None = None
    budget: str | None = None


class StewardshipEntry(_Doc):
    roles: dict[str, str] = Field(description="platform role name -> role ARN")
    boundary_arn: str
    accounts: dict[Organisation, str] = Field(description="organisation -> identity account")
    handover_date: str | None = None
    security_topic_arn: str
    trail_name: str
    trail_bucket: str
    guard_duty_detector_id: str
    platform_budget: str | None = None


class PlatformDocument(_Doc):
    version: Literal[1]
    project: str
    stack: str
    environment: Environment
    region: str
    domain: str
    phase: Phase
    oncall: list[ContactEntry]
    network: NetworkEntry
    lms: LmsEntry
    media: MediaEntry
    relays: RelaysEntry
    stewardship: StewardshipEntry | None = None
    academies: list[AcademyEntry]

    def academy(self, slug: str) -> AcademyEntry:
        for entry in self.academies:
            if entry.slug == slug:
                return entry
        raise KeyError(slug)


def platform_document(
    cfg: StackConfig,
    stack: str,
    network: dict[str, Any],
    lms: dict[str, Any],
    media: dict[str, Any],
    relays: dict[str, Any],
    academies: dict[str, dict[str, Any]],
    stewardship: dict[str, Any],
) -> pulumi.Output[dict[str, Any]]:
    """Build the document from the config and the components' outputs, validated by the model."""

    def build(resolved: dict[str, Any]) -> dict[str, Any]:
        doc = PlatformDocument(
            version=VERSION,
            project="cbsi-connect",
            stack=stack,
            environment=cfg.environment,
            region=cfg.region,
            domain=cfg.domain,
            phase=cfg.stewardship.phase,
            oncall=[
                ContactEntry(name=c.name, email=c.email, organisation=c.organisation)
                for c in cfg.oncall
            ],
            network=NetworkEntry.model_validate(resolved["network"]),
            lms=LmsEntry.model_validate(resolved["lms"]),
            media=MediaEntry.model_validate(resolved["media"]),
            relays=RelaysEntry.model_validate(resolved["relays"]),
            stewardship=StewardshipEntry.model_validate(resolved["stewardship"]),
            academies=[
                AcademyEntry(
                    slug=a.slug,
                    name=a.name,
                    country=a.country,
                    url=f"https://{a.hostname}/",
                    hostname=a.hostname,
                    languages=a.languages,
                    default_language=a.default_language,
                    tier=a.tier,
                    status=a.status,
                    steward=a.steward,
                    admins=[ContactEntry(name=c.name, email=c.email) for c in a.admins],
                    **resolved["academies"][a.slug],
                )
                for a in cfg.academies
            ],
        )
        return doc.model_dump(mode="json", by_alias=True, exclude_none=True)

    parts = {
        "network": network,
        "lms": lms,
        "media": media,
        "relays": relays,
        "stewardship": {
            **stewardship,
            "handoverDate": str(stewardship["handoverDate"])
            if stewardship.get("handoverDate")
            else None,
        },
    }
    return pulumi.Output.from_input({**parts, "academies": academies}).apply(build)
