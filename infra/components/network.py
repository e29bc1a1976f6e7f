"""The VPC every other component lives in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_aws as aws

from infra.config import NatStrategy
from infra.iam import service_trust


@dataclass(frozen=True)
class NetworkArgs:
    """What the network needs to know; all of it comes from the typed stack config."""

    region: str
    cidr: IPv4Network
    az_count: int
    nat_gateways: NatStrategy
    flow_log_retention_days: int
    tags: dict[str, str]
    # The stewardship permissions boundary, carried by every role this component creates.
    permissions_boundary: pulumi.Input[str] | None = None


def subnet_layout(cidr: IPv4Network, az_count: int) -> tuple[list[str], list[str]]:
    """Public and private subnet CIDRs, one of each per AZ.

    The VPC is cut into 16 equal blocks: public subnets take the first ones and private subnets
    start half-way, so adding an AZ later never renumbers an existing subnet.
    """
    blocks = list(cidr.subnets(new_prefix=cidr.prefixlen + 4))
    public = [str(b) for b in blocks[:az_count]]
    private = [str(b) for b in blocks[8 : 8 + az_count]]
    return public, private


class Network(pulumi.ComponentResource):
    """A VPC over several AZs: public subnets for load balancers, NAT and relays; private subnets
    for the app tier and data stores; an S3 gateway endpoint; and flow logs to CloudWatch."""

    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    availability_zones: list[str]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cbsi:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name, self._tags = name, args.tags
        self._boundary = args.permissions_boundary
        tagged = self._tagged

        # Real AZ names come from the account (us-east-1a is not the same data centre everywhere);
        # the first N available ones are used in order, so the choice is stable between runs.
        zones = aws.get_availability_zones(
            state="available", opts=pulumi.InvokeOptions(parent=self)
        )
        if len(zones.names) < args.az_count:
            raise pulumi.RunError(
                f"the region has {len(zones.names)} available AZs; cbsi:network.azCount asks "
                f"for {args.az_count}"
            )
        self.availability_zones = list(zones.names[: args.az_count])

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,  # EFS and interface endpoints resolve by name
            enable_dns_support=True,
            tags=tagged("vpc"),
            opts=child,
        )
        vpc_child = pulumi.ResourceOptions(parent=vpc)
        self.vpc_id = vpc.id

        # The default security group is never used; CIS 5.4 asks that it allow nothing.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, tags=tagged("default-sg"), opts=vpc_child
        )

        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=tagged("igw"), opts=vpc_child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, tags=tagged("public-rt"), opts=vpc_child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=pulumi.ResourceOptions(parent=public_rt),
        )

        public_cidrs, private_cidrs = subnet_layout(args.cidr, args.az_count)
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        private_rts: list[aws.ec2.RouteTable] = []
        for az, public_cidr, private_cidr in zip(
            self.availability_zones, public_cidrs, private_cidrs, strict=True
        ):
            suffix = az[-1]  # the AZ letter keeps names short and stable
            public = aws.ec2.Subnet(
                f"{name}-public-{suffix}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=az,
                # Nothing gets a public address by accident; relays attach Elastic IPs.
                map_public_ip_on_launch=False,
                tags={**tagged(f"public-{suffix}"), "tier": "public"},
                opts=vpc_child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{suffix}-rta",
                subnet_id=public.id,
                route_table_id=public_rt.id,
                opts=pulumi.ResourceOptions(parent=public),
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{suffix}",
                vpc_id=vpc.id,
                cidr_block=private_cidr,
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags={**tagged(f"private-{suffix}"), "tier": "private"},
                opts=vpc_child,
            )
            # One private route table per AZ in both NAT strategies, so moving from `single` to
            # `per-az` changes routes only, never subnet associations.
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{suffix}-rt",
                vpc_id=vpc.id,
                tags=tagged(f"private-{suffix}-rt"),
                opts=vpc_child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}-rta",
                subnet_id=private.id,
                route_table_id=private_rt.id,
                opts=pulumi.ResourceOptions(parent=private),
            )
            public_subnets.append(public)
            private_subnets.append(private)
            private_rts.append(private_rt)

        nat_count = args.az_count if args.nat_gateways == "per-az" else 1
        nats: list[aws.ec2.NatGateway] = []
        for subnet, az in zip(public_subnets[:nat_count], self.availability_zones, strict=False):
            suffix = az[-1]
            eip = aws.ec2.Eip(
                f"{name}-nat-{suffix}-eip", domain="vpc", tags=tagged(f"nat-{suffix}"), opts=child
            )
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{suffix}",
                    allocation_id=eip.id,
                    subnet_id=subnet.id,
                    tags=tagged(f"nat-{suffix}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        for i, (rt, az) in enumerate(zip(private_rts, self.availability_zones, strict=True)):
            aws.ec2.Route(
                f"{name}-private-{az[-1]}-default",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[i if args.nat_gateways == "per-az" else 0].id,
                opts=pulumi.ResourceOptions(parent=rt),
            )

        # S3 traffic (media, backups, logs) bypasses the NAT gateways: free instead of $0.045/GB.
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[public_rt.id, *[rt.id for rt in private_rts]],
            tags=tagged("s3-endpoint"),
            opts=vpc_child,
        )

        self._flow_logs(vpc, args.flow_log_retention_days)

        self.public_subnet_ids = [s.id for s in public_subnets]
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "availabilityZones": self.availability_zones,
                "natGatewayIds": [n.id for n in nats],
            }
        )

    def _tagged(self, suffix: str) -> dict[str, str]:
        return {**self._tags, "Name": f"{self._name}-{suffix}"}

    def _flow_logs(self, vpc: aws.ec2.Vpc, retention_days: int) -> None:
        """All traffic, accepted and rejected, to a CloudWatch log group with a set retention."""
        name, tagged = self._name, self._tagged
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=retention_days,
            tags=tagged("flow-logs"),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com"),
            permissions_boundary=self._boundary,
            tags=tagged("flow-logs-role"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            # Write to this one log group only.
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=role),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tagged("flow-log"),
            opts=child,
        )
