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

from infra.components.academy_site import AcademySite, AcademySiteArgs
from infra.components.network import Network, NetworkArgs
from infra.config import load_from_pulumi
from infra.errors import ConfigError
from infra.platform import platform_document
from infra.tags import academy_tags, platform_tags

try:
    cfg = load_from_pulumi()
except ConfigError as exc:
    raise pulumi.RunError(str(exc)) from None

# One explicit provider: the region comes from the typed config, and every resource below
# inherits it through its parent component.
provider = aws.Provider("aws", region=cfg.region)
platform = pulumi.ResourceOptions(provider=provider)

network = Network(
    "network",
    NetworkArgs(
        region=cfg.region,
        cidr=cfg.network.network,
        az_count=cfg.network.az_count,
        nat_gateways=cfg.network.nat_gateways,
        flow_log_retention_days=cfg.network.flow_log_retention_days,
        tags=platform_tags(cfg),
    ),
    opts=platform,
)

sites = {
    academy.slug: AcademySite(
        f"academy-{academy.slug}",
        AcademySiteArgs(
            academy=academy,
            environment=cfg.environment,
            log_retention_days=cfg.log_retention_days,
            tags=academy_tags(cfg, academy),
        ),
        opts=platform,
    )
    for academy in cfg.academies
}

pulumi.export("vpcId", network.vpc_id)
pulumi.export(
    "platform",
    platform_document(
        cfg,
        pulumi.get_stack(),
        network={
            "vpcId": network.vpc_id,
            "availabilityZones": network.availability_zones,
            "publicSubnetIds": network.public_subnet_ids,
            "privateSubnetIds": network.private_subnet_ids,
        },
        academy_log_groups={slug: site.log_group_name for slug, site in sites.items()},
    ),
)
