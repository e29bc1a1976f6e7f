"""The Pulumi program: load the stack config once, then compose the components.

`pulumi up` runs this file; `cbsi plan` runs the same file under the SDK's mocks.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `pulumi up` puts infra/ itself on sys.path; make the `infra` package importable even when the
# project is not installed into the virtualenv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi
import pulumi_aws as aws

from infra.components.academy_site import AcademySite, AcademySiteArgs, MediaAccess
from infra.components.boundary import PermissionsBoundary, PermissionsBoundaryArgs
from infra.components.dns_zone import DnsZone, DnsZoneArgs
from infra.components.lms_cluster import LmsCluster, LmsClusterArgs
from infra.components.media_store import MediaStore, MediaStoreArgs, academy_prefix
from infra.components.monitoring import Monitoring, MonitoringArgs
from infra.components.network import Network, NetworkArgs
from infra.components.relay_fleet import RelayFleet, RelayFleetArgs
from infra.components.stewardship import Stewardship, StewardshipArgs
from infra.config import TIER_SIZES, listener_priorities, load_from_pulumi
from infra.errors import ConfigError
from infra.platform import platform_document
from infra.tags import academy_tags, platform_tags

try:
    cfg = load_from_pulumi()
except ConfigError as exc:
    raise pulumi.RunError(str(exc)) from None

production = cfg.environment == "prod"
# One explicit provider: the region comes from the typed config, and every resource below
# inherits it through its parent component.
provider = aws.Provider("aws", region=cfg.region)
platform = pulumi.ResourceOptions(provider=provider)
account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider)).account_id
# First: every role the components below create carries this boundary.
boundary = PermissionsBoundary(
    "boundary",
    PermissionsBoundaryArgs(
        environment=cfg.environment, account_id=account_id, tags=platform_tags(cfg)
    ),
    opts=platform,
)

network = Network(
    "network",
    NetworkArgs(
        region=cfg.region,
        cidr=cfg.network.network,
        az_count=cfg.network.az_count,
        nat_gateways=cfg.network.nat_gateways,
        flow_log_retention_days=cfg.network.flow_log_retention_days,
        tags=platform_tags(cfg),
        permissions_boundary=boundary.arn,
    ),
    opts=platform,
)

dns = DnsZone(
    "dns",
    DnsZoneArgs(domain=cfg.domain, tags=platform_tags(cfg), protect=production),
    opts=platform,
)

lms = LmsCluster(
    "lms",
    LmsClusterArgs(
        environment=cfg.environment,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids,
        private_subnet_ids=network.private_subnet_ids,
        certificate_arn=dns.certificate_arn,
        lms=cfg.lms,
        log_retention_days=cfg.log_retention_days,
        production=production,
        tags=platform_tags(cfg),
    ),
    opts=platform,
)

media = MediaStore(
    "media",
    MediaStoreArgs(
        environment=cfg.environment,
        region=cfg.region,
        domain=cfg.domain,
        zone_id=dns.zone_id,
        account_id=account_id,
        academies=cfg.academies,
        media=cfg.media,
        log_retention_days=cfg.log_retention_days,
        production=production,
        tags=platform_tags(cfg),
        permissions_boundary=boundary.arn,
    ),
    opts=platform,
)

relays = RelayFleet(
    "relays",
    RelayFleetArgs(
        environment=cfg.environment,
        region=cfg.region,
        domain=cfg.domain,
        zone_id=dns.zone_id,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids,
        availability_zones=network.availability_zones,
        relays=cfg.relays,
        cert_email=str(cfg.oncall[0].email),
        tags=platform_tags(cfg),
        permissions_boundary=boundary.arn,
    ),
    opts=platform,
)

stewardship = Stewardship(
    "stewardship",
    StewardshipArgs(
        environment=cfg.environment,
        region=cfg.region,
        account_id=account_id,
        phase=cfg.stewardship.phase,
        accounts=dict(cfg.stewardship.accounts),
        oncall_emails=[str(c.email) for c in cfg.serving_oncall],
        budgets=cfg.budgets,
        log_bucket=media.log_bucket_name,
        production=production,
        tags=platform_tags(cfg),
        permissions_boundary=boundary.arn,
    ),
    opts=platform,
)

image = pulumi.Output.concat(lms.repository_url, ":", cfg.lms.image_tag)
priorities = listener_priorities([academy.slug for academy in cfg.academies])
media_access = MediaAccess(
    bucket_arn=media.bucket_arn, key_arn=media.key_arn, account_id=account_id
)
sites = {
    academy.slug: AcademySite(
        f"academy-{academy.slug}",
        AcademySiteArgs(
            academy=academy,
            environment=cfg.environment,
            region=cfg.region,
            # Dev and staging run every academy at the small size; prod sizes by tier.
            size=TIER_SIZES[academy.tier if production else "small"],
            cluster=lms,
            zone_id=dns.zone_id,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            image=image,
            media=media_access,
            listener_priority=priorities[academy.slug],
            log_retention_days=cfg.log_retention_days,
            production=production,
            tags=academy_tags(cfg, academy),
            permissions_boundary=boundary.arn,
            admin_trust_policy=stewardship.academy_trust(academy),
            budget_usd=cfg.budgets.academy_usd[academy.tier] if cfg.budgets else None,
            budget_emails=sorted(
                {str(a.email) for a in academy.admins} | {str(c.email) for c in cfg.serving_oncall}
            ),
        ),
        opts=platform,
    )
    for academy in cfg.academies
}

platform_doc = platform_document(
    cfg,
    pulumi.get_stack(),
    network={
        "vpcId": network.vpc_id,
        "availabilityZones": network.availability_zones,
        "publicSubnetIds": network.public_subnet_ids,
        "privateSubnetIds": network.private_subnet_ids,
    },
    lms={
        "clusterName": lms.cluster_name,
        "albDnsName": lms.alb_dns_name,
        "albArnSuffix": lms.alb_arn_suffix,
        "repositoryUrl": lms.repository_url,
        "image": image,
        "dbInstance": lms.db_identifier,
        "dbInstanceArn": lms.db_arn,
        "dbAddress": lms.db_address,
        "dbMasterSecretArn": lms.db_master_secret_arn,
        "fileSystemId": lms.file_system_id,
        "fileSystemArn": lms.file_system_arn,
        "redisGroupId": lms.redis_group_id,
        "redisHost": lms.redis_host,
        "redisAuthSecretArn": lms.redis_auth_secret_arn,
    },
    media={
        "bucket": media.bucket_name,
        "kmsKeyArn": media.key_arn,
        "hostname": media.hostname,
        "cloudfrontDomain": media.distribution_domain,
        "distributionId": media.distribution_id,
        "logBucket": media.log_bucket_name,
        "replicaBucket": media.replica_bucket,
        "backupVault": media.backup_vault,
    },
    relays={
        "hostname": relays.hostname,
        "secretArn": relays.secret_arn,
        "minPort": cfg.relays.min_port,
        "maxPort": cfg.relays.max_port,
        "hosts": relays.relays,
    },
    academies={
        slug: {
            "logGroup": site.log_group_name,
            "accessPointId": site.access_point_id,
            "serviceName": site.service_name,
            "targetGroupArnSuffix": site.target_group_arn_suffix,
            "database": site.settings.database,
            "dbSecretArn": site.db_secret_arn,
            "sessionPrefix": site.settings.session_prefix,
            "cachePrefix": site.settings.cache_prefix,
            "mediaPrefix": academy_prefix(slug),
            "uploaderRoleArn": site.uploader_role_arn,
            "siteAdminRoleArn": site.site_admin_role_arn,
            "budget": site.budget_name,
        }
        for slug, site in sites.items()
    },
    stewardship={
        "roles": stewardship.roles,
        "boundaryArn": boundary.arn,
        "accounts": dict(cfg.stewardship.accounts),
        "handoverDate": cfg.stewardship.handover_date,
        "securityTopicArn": stewardship.topic.arn,
        "trailName": stewardship.trail.name,
        "trailBucket": stewardship.trail_bucket.name,
        "guardDutyDetectorId": stewardship.detector.id,
        "platformBudget": stewardship.budget_names.get("platform"),
    },
)

monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        environment=cfg.environment,
        region=cfg.region,
        account_id=account_id,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        platform=platform_doc,
        media_bucket_arn=media.bucket_arn,
        secret_arns=[relays.secret_arn, *(site.db_secret_arn for site in sites.values())],
        db_security_group_id=lms.db_sg.id,
        relay_security_group_id=relays.security_group.id,
        alb_arn_suffix=lms.alb_arn_suffix,
        db_instance=lms.db_identifier,
        oncall_emails=[str(c.email) for c in cfg.serving_oncall],
        log_bucket=media.log_bucket_name,
        production=production,
        tags=platform_tags(cfg),
        permissions_boundary=boundary.arn,
    ),
    opts=platform,
)

pulumi.export("vpcId", network.vpc_id)
pulumi.export("nameServers", dns.name_servers)
pulumi.export("opsBucket", monitoring.ops_bucket)
# The monitoring host for `cbsi run --role monitoring` (the platform document cannot name it: it
# is the monitoring component's input).
pulumi.export(
    "monitoringHost", {"instanceId": monitoring.instance_id, "privateIp": monitoring.private_ip}
)
pulumi.export("platform", platform_doc)
