"""The Network component under the SDK's mocks: AZs, subnet layout, NAT strategy, endpoint, logs."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from infra.components.network import subnet_layout

NETWORK = "urn:pulumi:{stack}::cbsi-connect::cbsi:network:Network::network"


def of_type(plan, kind: str) -> list:
    return [r for r in plan.resources if r.type == kind]


def by_name(plan) -> dict:
    return {r.name: r for r in plan.resources}


def test_subnet_layout_keeps_public_and_private_apart() -> None:
    public, private = subnet_layout(IPv4Network("10.20.0.0/16"), 3)
    assert public == ["10.20.0.0/20", "10.20.16.0/20", "10.20.32.0/20"]
    assert private == ["10.20.128.0/20", "10.20.144.0/20", "10.20.160.0/20"]
    # Adding an AZ appends subnets and renumbers none.
    assert subnet_layout(IPv4Network("10.20.0.0/16"), 4)[1][:3] == private


@pytest.mark.parametrize(
    ("stack", "azs", "nats", "cidr"),
    [
        ("dev", 2, 1, "10.10.0.0/16"),
        ("staging", 2, 1, "10.30.0.0/16"),
        ("prod", 3, 3, "10.20.0.0/16"),
    ],
)
def test_az_spread_and_nat_strategy(plan_of, stack: str, azs: int, nats: int, cidr: str) -> None:
    plan = plan_of(stack)
    subnets = of_type(plan, "aws:ec2/subnet:Subnet")
    public = [s for s in subnets if s.inputs["tags"]["tier"] == "public"]
    private = [s for s in subnets if s.inputs["tags"]["tier"] == "private"]
    assert len(public) == len(private) == azs
    zones = [f"us-east-1{x}" for x in "abcdef"[:azs]]
    assert sorted(s.inputs["availabilityZone"] for s in public) == zones
    assert sorted(s.inputs["availabilityZone"] for s in private) == zones
    vpc = of_type(plan, "aws:ec2/vpc:Vpc")
    assert [v.inputs["cidrBlock"] for v in vpc] == [cidr]
    assert all(IPv4Network(s.inputs["cidrBlock"]).subnet_of(IPv4Network(cidr)) for s in subnets)
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in subnets)

    assert len(of_type(plan, "aws:ec2/natGateway:NatGateway")) == nats
    network = NETWORK.format(stack=stack)
    assert len([e for e in of_type(plan, "aws:ec2/eip:Eip") if e.component == network]) == nats
    # Every private route table sends its default route to a NAT gateway: its own AZ's in prod,
    # the one shared gateway elsewhere.
    names = by_name(plan)
    nat_urns = {r.urn for r in of_type(plan, "aws:ec2/natGateway:NatGateway")}
    for zone in zones:
        route = names[f"network-private-{zone[-1]}-default"]
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        (nat,) = [d for d in route.depends_on if d in nat_urns]
        expected = f"network-nat-{zone[-1]}" if nats > 1 else "network-nat-a"
        assert nat.endswith(f"::{expected}")
    # Public subnets route to the internet gateway.
    public_default = names["network-public-default"]
    assert any(d.endswith("::network-igw") for d in public_default.depends_on)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_s3_endpoint_serves_every_route_table(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    (endpoint,) = of_type(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    tables = of_type(plan, "aws:ec2/routeTable:RouteTable")
    ids = endpoint.inputs["routeTableIds"]
    assert (
        len(ids)
        == len(set(ids))
        == len(tables)
        == 1 + plan_of(stack).counts["aws:ec2/subnet:Subnet"] // 2
    )
    assert {t.urn for t in tables} <= set(endpoint.depends_on)


@pytest.mark.parametrize(("stack", "days"), [("dev", 30), ("staging", 90), ("prod", 365)])
def test_flow_logs_capture_all_traffic_with_retention(plan_of, stack: str, days: int) -> None:
    plan = plan_of(stack)
    names = by_name(plan)
    assert names["network-flow-logs"].inputs["retentionInDays"] == days
    flow = names["network-flow-log"]
    assert flow.inputs["trafficType"] == "ALL"
    assert flow.inputs["logDestination"].startswith("arn:aws:logs:us-east-1:")
    role = names["network-flow-logs-role"]
    assert '"vpc-flow-logs.amazonaws.com"' in role.inputs["assumeRolePolicy"]
    policy = names["network-flow-logs-policy"].inputs["policy"]
    assert flow.inputs["logDestination"] in policy
    assert '"Resource": "*"' not in policy


def test_default_security_group_allows_nothing(plan_of) -> None:
    (sg,) = of_type(plan_of("prod"), "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not sg.inputs.get("ingress") and not sg.inputs.get("egress")


def test_network_children_are_parented_under_the_component(plan_of) -> None:
    plan = plan_of("prod")
    network = NETWORK.format(stack="prod")
    for resource in plan.resources:
        if resource.name.startswith("network-"):
            assert resource.component == network, resource.urn
    subnet = by_name(plan)["network-private-a"]
    assert subnet.urn == (
        "urn:pulumi:prod::cbsi-connect::cbsi:network:Network$aws:ec2/vpc:Vpc"
        "$aws:ec2/subnet:Subnet::network-private-a"
    )
