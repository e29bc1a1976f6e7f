"""The stack's public DNS zone and its wildcard certificate."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class DnsZoneArgs:
    domain: str
    tags: dict[str, str]
    # The zone is handed to IMPACS with the platform; never deleted by accident in prod.
    protect: bool


class DnsZone(pulumi.ComponentResource):
    """The Route 53 zone for the stack's domain, and one DNS-validated certificate for
    `*.<domain>` and `<domain>` that serves every academy sub-site (one label under the domain,
    which the config enforces) and the platform's own names. ACM renews it automatically while
    the validation record stays in the zone."""

    zone_id: pulumi.Output[str]
    name_servers: pulumi.Output[list[str]]
    certificate_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DnsZoneArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:dns:DnsZone", name, None, opts)
        zone = aws.route53.Zone(
            f"{name}-zone",
            name=args.domain,
            comment=f"CBSI-Connect {args.domain}",
            tags={**args.tags, "Name": args.domain},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        certificate = aws.acm.Certificate(
            f"{name}-wildcard-cert",
            domain_name=f"*.{args.domain}",
            subject_alternative_names=[args.domain],
            validation_method="DNS",
            tags={**args.tags, "Name": f"*.{args.domain}"},
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
        )
        # The wildcard and the apex share one validation record, so one record validates both.
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=zone.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=certificate),
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=pulumi.ResourceOptions(parent=certificate),
        )
        self.zone_id = zone.zone_id
        self.name_servers = zone.name_servers
        self.certificate_arn = validation.certificate_arn
        self.register_outputs(
            {
                "zoneId": self.zone_id,
                "nameServers": self.name_servers,
                "certificateArn": self.certificate_arn,
            }
        )
