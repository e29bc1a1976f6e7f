"""The relay fleet under the SDK's mocks: count, AZ spread, ports, IMDSv2, DNS, the secret."""

from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from infra.platform import PlatformDocument


def instances(plan) -> list:
    return sorted(
        (
            r
            for r in plan.resources
            if r.type == "aws:ec2/instance:Instance" and r.name.startswith("relays-")
        ),
        key=lambda r: r.name,
    )


@pytest.mark.parametrize(("stack", "count", "azs"), [("dev", 1, 1), ("prod", 3, 3)])
def test_relay_count_and_az_spread(plan_of, stack: str, count: int, azs: int) -> None:
    plan = plan_of(stack)
    relays = instances(plan)
    assert [r.name for r in relays] == [f"relays-turn-{n}" for n in range(1, count + 1)]
    subnets = {r.inputs["subnetId"] for r in relays}
    assert len(subnets) == azs
    doc = PlatformDocument.model_validate(plan.outputs["platform"])
    assert len({h.availability_zone for h in doc.relays.hosts}) == azs
    assert [h.hostname for h in doc.relays.hosts] == [
        f"turn-{n}.{doc.domain}" for n in range(1, count + 1)
    ]


def test_relays_require_imdsv2_encrypted_disks_and_no_ssh(plan_of) -> None:
    plan = plan_of("prod")
    for relay in instances(plan):
        assert relay.inputs["metadataOptions"]["httpTokens"] == "required"
        assert relay.inputs["rootBlockDevice"]["encrypted"] is True
        assert relay.inputs["instanceType"] == "t4g.medium"
        assert "keyName" not in relay.inputs  # no SSH key pair at all
    rules = [
        r
        for r in plan.resources
        if r.type.endswith("SecurityGroupIngressRule") and r.name.startswith("relays-")
    ]
    ports = sorted(
        (r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules
    )
    assert ports == [
        ("tcp", 3478, 3478),
        ("tcp", 5349, 5349),
        ("udp", 3478, 3478),
        ("udp", 49152, 65535),
    ]
    assert not any(r.inputs["fromPort"] <= 22 <= r.inputs["toPort"] for r in rules)
    names = {r.name: r for r in plan.resources if r.custom}
    assert names["relays-ssm"].inputs["policyArn"].endswith("AmazonSSMManagedInstanceCore")


def test_each_relay_has_an_address_a_name_and_joins_the_pool(plan_of) -> None:
    plan = plan_of("prod")
    names = {r.name: r for r in plan.resources}
    for n in (1, 2, 3):
        assert names[f"relays-turn-{n}-eip"].inputs["domain"] == "vpc"
        assert names[f"relays-turn-{n}-dns"].inputs["name"] == f"turn-{n}.cbsi-connect.org"
        pool = names[f"relays-turn-{n}-pool"].inputs
        assert pool["name"] == "turn.cbsi-connect.org" and pool["multivalueAnswerRoutingPolicy"]
        assert pool["setIdentifier"] == f"turn-{n}" and pool["healthCheckId"]
        assert names[f"relays-turn-{n}-health"].inputs["port"] == 3478


def test_the_secret_is_generated_stored_and_only_referenced(plan_of) -> None:
    plan = plan_of("prod")
    names = {r.name: r for r in plan.resources}
    versions = [
        r for r in plan.resources if r.type.endswith("SecretVersion") and r.name == "relays-secret"
    ]
    assert [v.inputs["secretString"] for v in versions] == ["[secret]"]
    doc = PlatformDocument.model_validate(plan.outputs["platform"])
    assert doc.relays.secret_arn.startswith("arn:aws:secretsmanager:us-east-1:")
    for relay in instances(plan):
        data = YAML(typ="safe").load(relay.inputs["userData"])
        env = {f["path"]: f["content"] for f in data["write_files"]}["/etc/cbsi-relay.env"]
        assert f'CBSI_TURN_SECRET_ARN="{doc.relays.secret_arn}"' in env
        assert "mock-password" not in relay.inputs["userData"]
    policy = json.loads(names["relays-relay"].inputs["policy"])
    assert policy["Statement"][0] == {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": doc.relays.secret_arn,
    }
