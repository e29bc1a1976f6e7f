"""The Monitoring component under the SDK's mocks: the host, what it is allowed, what the program
publishes for it, and the alarms that page without it."""

from __future__ import annotations

import json

from infra.platform import PlatformDocument
from monitoring.generate import FILES, render_files


def custom(plan) -> dict:
    return {r.name: r for r in plan.resources if r.custom}


def test_host_is_private_hardened_and_unreachable_from_outside(plan_of) -> None:
    res = custom(plan_of("prod"))
    host = res["monitoring-host"].inputs
    assert host["metadataOptions"]["httpTokens"] == "required"
    assert host["rootBlockDevice"]["encrypted"] is True
    assert host["instanceType"] == "t4g.small"
    private = {
        r.urn
        for r in plan_of("prod").resources
        if r.name.startswith("network-private-") and r.type.endswith("Subnet")
    }
    assert any(d in private for d in res["monitoring-host"].depends_on)
    (group_id,) = host["vpcSecurityGroupIds"]
    ingress = [r for r in plan_of("prod").resources if r.type.endswith("SecurityGroupIngressRule")]
    assert [
        r.name for r in ingress if r.inputs["securityGroupId"] == group_id
    ] == []  # admits nothing
    from_host = sorted(
        r.name for r in ingress if r.inputs.get("referencedSecurityGroupId") == group_id
    )
    assert from_host == ["monitoring-db-from-monitoring", "monitoring-relay-node-from-monitoring"]


def test_exporter_reads_only(plan_of) -> None:
    policy = json.loads(custom(plan_of("prod"))["monitoring-exporter"].inputs["policy"])
    actions = [
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert all(a.split(":")[1].startswith(("Describe", "List", "Get")) for a in actions), actions
    (secrets,) = [s for s in policy["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"]
    assert len(secrets["Resource"]) == 1 + 19  # the TURN secret and each site's database login


def test_program_publishes_exactly_what_the_generator_renders(plan_of) -> None:
    plan = plan_of("dev")
    res = custom(plan)
    doc = PlatformDocument.model_validate(plan.outputs["platform"])
    rendered = render_files(doc)
    for relative in FILES:
        obj = res[f"monitoring-file-{relative.replace('/', '-').replace('.', '-')}"].inputs
        assert obj["key"] == f"monitoring/{relative}"
        assert obj["content"] == rendered[relative]
    published = json.loads(res["monitoring-platform-json"].inputs["content"])
    assert PlatformDocument.model_validate(published) == doc
    assert res["monitoring-cbsi-src"].inputs["source"] == {
        "archive": {
            "cbsi": {"file": "cbsi"},
            "infra": {"file": "infra"},
            "monitoring": {"file": "monitoring"},
            "pyproject.toml": {"file": "pyproject.toml"},
        }
    }


def test_alarms_page_through_sns_without_the_host(plan_of) -> None:
    res = custom(plan_of("prod"))
    alarms = {r.name: r.inputs for r in plan_of("prod").resources if r.type.endswith("MetricAlarm")}
    assert sorted(alarms) == [
        "monitoring-alb-5xx",
        "monitoring-db-cpu",
        "monitoring-db-storage",
        "monitoring-host-down",
    ]
    topic = res["monitoring-alarms"]
    for alarm in alarms.values():
        assert len(alarm["alarmActions"]) >= 1
    assert (
        alarms["monitoring-host-down"]["alarmActions"][1]
        == "arn:aws:automate:us-east-1:ec2:recover"
    )
    assert alarms["monitoring-host-down"]["treatMissingData"] == "breaching"
    subscriptions = sorted(
        r.inputs["endpoint"]
        for r in plan_of("prod").resources
        if r.type.endswith("TopicSubscription") and r.name.startswith("monitoring-")
    )
    assert subscriptions == ["oncall@cbsi-connect.org", "ops@impacs.cbsi-connect.org"]
    assert topic.inputs["kmsMasterKeyId"] == "alias/aws/sns"
