"""The coturn TURN relays that carry classroom video through police network firewalls."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.config import RelayConfig
from infra.iam import service_trust
from infra.relay_config import STUN_PORT, TLS_PORT, render_user_data

DEBIAN_OWNER = "136693071363"  # Debian's official AWS account for its cloud images
SSM_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@dataclass(frozen=True)
class RelayFleetArgs:
    environment: str
    region: str
    domain: str
    zone_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Output[str]]
    availability_zones: list[str]
    relays: RelayConfig
    cert_email: str
    tags: dict[str, str]
    # The stewardship permissions boundary, carried by every role this component creates.
    permissions_boundary: pulumi.Input[str] | None = None


class RelayFleet(pulumi.ComponentResource):
    """N coturn relays spread over the AZs, each with an Elastic IP and `turn-<n>.<domain>`, and
    `turn.<domain>` answering with every healthy relay (Route 53 multivalue with health checks).

    Open to the internet: STUN/TURN on 3478 (UDP and TCP), TURN over TLS on 5349 and the relay
    port range over UDP; nothing else (no SSH: operators use SSM Session Manager). The TURN REST
    shared secret is generated here, kept in Secrets Manager, and fetched by each relay at boot.
    """

    def __init__(
        self, name: str, args: RelayFleetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:relays:RelayFleet", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        self.hostname = f"turn.{args.domain}"

        secret_value = random.RandomPassword(f"{name}-secret", length=48, special=False, opts=child)
        secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=f"cbsi/{args.environment}/turn-shared-secret",
            description="TURN REST API shared secret of the CBSI-Connect relays",
            recovery_window_in_days=7,
            tags=self._tagged("secret"),
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-secret",
            secret_id=secret.id,
            secret_string=secret_value.result,
            # Rotation (`cbsi run rotate-turn-secret`) writes new versions outside Pulumi.
            opts=pulumi.ResourceOptions(parent=secret, ignore_changes=["secretString"]),
        )
        self.secret_arn = secret.arn
        self.security_group = self._security_group()
        profile = self._instance_profile(secret.arn)
        ami = aws.ec2.get_ami(
            most_recent=True,
            owners=[DEBIAN_OWNER],
            filters=[
                {
                    "name": "name",
                    "values": [
                        f"debian-12-{args.relays.architecture.replace('x86_64', 'amd64')}-*"
                    ],
                },
                {"name": "architecture", "values": [args.relays.architecture]},
            ],
            opts=pulumi.InvokeOptions(parent=self),
        )

        self.relays: list[dict[str, pulumi.Output[str] | str]] = []
        for index in range(args.relays.count):
            self._relay(index + 1, ami.id, profile)
        self.register_outputs(
            {
                "hostname": self.hostname,
                "secretArn": self.secret_arn,
                "securityGroupId": self.security_group.id,
                "relays": self.relays,
            }
        )

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._args.tags, "Name": f"{self._name}-{suffix}"}

    def _security_group(self) -> aws.ec2.SecurityGroup:
        name, args = self._name, self._args
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="CBSI-Connect TURN relays: TURN ports from anywhere, no SSH",
            tags=self._tagged("sg"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The documented exception to "nothing open to 0.0.0.0/0": a relay exists to be reached
        # from any police network, and the relay range is where media flows.
        rules = [
            ("stun-udp", "udp", STUN_PORT, STUN_PORT),
            ("stun-tcp", "tcp", STUN_PORT, STUN_PORT),
            ("turns-tcp", "tcp", TLS_PORT, TLS_PORT),
            ("relay-udp", "udp", args.relays.min_port, args.relays.max_port),
        ]
        for suffix, protocol, low, high in rules:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{suffix}",
                security_group_id=group.id,
                ip_protocol=protocol,
                from_port=low,
                to_port=high,
                cidr_ipv4="0.0.0.0/0",
                tags=self._tagged(f"in-{suffix}"),
                opts=pulumi.ResourceOptions(parent=group),
            )
        # Relays talk to peers anywhere on the internet (the deny list in turnserver.conf keeps
        # them off private ranges), and to AWS APIs and Debian's mirrors.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-out-all",
            security_group_id=group.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            tags=self._tagged("out-all"),
            opts=pulumi.ResourceOptions(parent=group),
        )
        return group

    def _instance_profile(self, secret_arn: pulumi.Output[str]) -> aws.iam.InstanceProfile:
        """SSM Session Manager instead of SSH; read the TURN secret; answer certbot's DNS-01
        challenge in the stack's zone."""
        name, args = self._name, self._args
        role = aws.iam.Role(
            f"{name}-role",
            permissions_boundary=self._args.permissions_boundary,
            assume_role_policy=service_trust("ec2.amazonaws.com"),
            tags=self._tagged("role"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm",
            role=role.name,
            policy_arn=SSM_POLICY,
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.iam.RolePolicy(
            f"{name}-relay",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": secret_arn,
                        },
                        {
                            "Effect": "Allow",
                            "Action": "route53:ChangeResourceRecordSets",
                            "Resource": pulumi.Output.concat(
                                "arn:aws:route53:::hostedzone/", args.zone_id
                            ),
                        },
                        {
                            # certbot-dns-route53 finds the zone and waits for the change.
                            "Effect": "Allow",
                            "Action": ["route53:ListHostedZones", "route53:GetChange"],
                            "Resource": "*",
                        },
                    ],
                }
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        return aws.iam.InstanceProfile(
            f"{name}-profile",
            role=role.name,
            tags=self._tagged("profile"),
            opts=pulumi.ResourceOptions(parent=role),
        )

    def _relay(self, number: int, ami_id: str, profile: aws.iam.InstanceProfile) -> None:
        name, args = self._name, self._args
        relay = f"turn-{number}"
        hostname = f"{relay}.{args.domain}"
        zone_index = (number - 1) % len(args.availability_zones)
        user_data = self._user_data(hostname)
        instance = aws.ec2.Instance(
            f"{name}-{relay}",
            ami=ami_id,
            instance_type=args.relays.instance_type,
            subnet_id=args.public_subnet_ids[zone_index],
            vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=profile.name,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only
                "http_put_response_hop_limit": 1,
            },
            root_block_device={"encrypted": True, "volume_type": "gp3", "volume_size": 10},
            user_data=user_data,
            user_data_replace_on_change=True,
            tags={**self._tagged(relay), "role": "relay", "hostname": hostname},
            opts=pulumi.ResourceOptions(parent=self),
        )
        eip = aws.ec2.Eip(
            f"{name}-{relay}-eip",
            domain="vpc",
            instance=instance.id,
            tags=self._tagged(f"{relay}-eip"),
            opts=pulumi.ResourceOptions(parent=instance),
        )
        aws.route53.Record(
            f"{name}-{relay}-dns",
            zone_id=args.zone_id,
            name=hostname,
            type="A",
            ttl=300,
            records=[eip.public_ip],
            opts=pulumi.ResourceOptions(parent=instance),
        )
        health = aws.route53.HealthCheck(
            f"{name}-{relay}-health",
            type="TCP",
            ip_address=eip.public_ip,
            port=STUN_PORT,
            request_interval=30,
            failure_threshold=3,
            tags=self._tagged(f"{relay}-health"),
            opts=pulumi.ResourceOptions(parent=instance),
        )
        # `turn.<domain>` answers with up to eight healthy relays; clients try them in turn.
        aws.route53.Record(
            f"{name}-{relay}-pool",
            zone_id=args.zone_id,
            name=self.hostname,
            type="A",
            ttl=60,
            set_identifier=relay,
            multivalue_answer_routing_policy=True,
            health_check_id=health.id,
            records=[eip.public_ip],
            opts=pulumi.ResourceOptions(parent=instance),
        )
        self.relays.append(
            {
                "name": relay,
                "hostname": hostname,
                "availabilityZone": args.availability_zones[zone_index],
                "instanceId": instance.id,
                "publicIp": eip.public_ip,
                "privateIp": instance.private_ip,
            }
        )

    def _user_data(self, hostname: str) -> pulumi.Output[str]:
        args = self._args
        return self.secret_arn.apply(
            lambda arn: render_user_data(
                hostname=hostname,
                realm=args.domain,
                region=args.region,
                secret_arn=arn,
                cert_email=args.cert_email,
                min_port=args.relays.min_port,
                max_port=args.relays.max_port,
            )
        )
