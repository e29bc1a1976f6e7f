"""The Moodle cluster and the academy sub-sites under the SDK's mocks."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from cbsi.planfile import diff_plans
from infra.config import TIER_SIZES, listener_priorities, load_stack_file
from infra.platform import PlatformDocument
from tests.conftest import ROOT, plan_config, stack_config

PER_ACADEMY = {
    "aws:lb/listenerRule:ListenerRule": 1,
    "aws:ecs/service:Service": 1,
    "aws:lb/targetGroup:TargetGroup": 1,
    "aws:route53/record:Record": 1,
    "aws:efs/accessPoint:AccessPoint": 1,
    "aws:ecs/taskDefinition:TaskDefinition": 1,
    "aws:cloudwatch/logGroup:LogGroup": 1,
    "aws:secretsmanager/secret:Secret": 2,  # database login; admin password and upgrade key
}


def owned(plan) -> dict[str, dict[str, list]]:
    by_academy: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in plan.resources:
        if r.academy:
            by_academy[r.academy][r.type].append(r)
    return by_academy


def containers(task) -> list[dict]:
    return json.loads(task.inputs["containerDefinitions"])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_academy_gets_exactly_its_own_site(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    cfg = load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml")
    sites = owned(plan)
    priorities = listener_priorities([a.slug for a in cfg.academies])
    assert set(sites) == {a.slug for a in cfg.academies}
    for academy in cfg.academies:
        mine = sites[academy.slug]
        for kind, count in PER_ACADEMY.items():
            assert len(mine[kind]) == count, (academy.slug, kind)
        (rule,) = mine["aws:lb/listenerRule:ListenerRule"]
        assert rule.inputs["conditions"] == [{"hostHeader": {"values": [academy.hostname]}}]
        assert rule.inputs["priority"] == priorities[academy.slug]
        (record,) = mine["aws:route53/record:Record"]
        assert record.inputs["name"] == academy.hostname and record.inputs["type"] == "A"
        (ap,) = mine["aws:efs/accessPoint:AccessPoint"]
        assert ap.inputs["rootDirectory"]["path"] == f"/academies/{academy.slug}"
        (task,) = mine["aws:ecs/taskDefinition:TaskDefinition"]
        env = {e["name"]: e["value"] for e in containers(task)[1]["environment"]}
        assert env["MOODLE_WWWROOT"] == f"https://{academy.hostname}"
        assert env["MOODLE_LANG"] == academy.languages[0]
        assert env["MOODLE_SITE_NAME"] == academy.name
        assert env["MOODLE_DB_NAME"] == f"moodle_{academy.slug.replace('-', '_')}"


def test_tiers_map_to_the_documented_sizes_in_prod(plan_of) -> None:
    cfg = load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml")
    sites = owned(plan_of("prod"))
    assert {a.tier for a in cfg.academies} == {"small", "medium", "large"}
    for academy in cfg.academies:
        size = TIER_SIZES[academy.tier]
        (task,) = sites[academy.slug]["aws:ecs/taskDefinition:TaskDefinition"]
        assert (task.inputs["cpu"], task.inputs["memory"]) == (str(size.cpu), str(size.memory))
        (scaling,) = sites[academy.slug]["aws:appautoscaling/target:Target"]
        expected = (0, 0) if academy.status == "offboarded" else (size.min_tasks, size.max_tasks)
        assert (scaling.inputs["minCapacity"], scaling.inputs["maxCapacity"]) == expected


def test_dev_runs_every_academy_small(plan_of) -> None:
    small = TIER_SIZES["small"]
    for task in (r for r in plan_of("dev").resources if r.type.endswith("TaskDefinition")):
        assert (task.inputs["cpu"], task.inputs["memory"]) == (str(small.cpu), str(small.memory))


def one(plan, kind: str):  # type: ignore[no-untyped-def]
    (resource,) = [r for r in plan.resources if r.type == kind]
    return resource


def test_prod_is_highly_available_and_protected(plan_of) -> None:
    plan = plan_of("prod")
    db = one(plan, "aws:rds/instance:Instance")
    assert db.inputs["multiAz"] is True and db.inputs["deletionProtection"] is True
    assert db.inputs["storageEncrypted"] is True and db.inputs["publiclyAccessible"] is False
    assert db.inputs["backupRetentionPeriod"] == 14 and db.inputs["skipFinalSnapshot"] is False
    assert db.inputs["manageMasterUserPassword"] is True and "password" not in db.inputs
    assert one(plan, "aws:lb/loadBalancer:LoadBalancer").inputs["enableDeletionProtection"] is True
    redis = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert redis.inputs["numCacheClusters"] == 2 and redis.inputs["automaticFailoverEnabled"]
    assert redis.inputs["transitEncryptionEnabled"] and redis.inputs["atRestEncryptionEnabled"]
    assert redis.inputs["authToken"] == "[secret]"
    stateful = {"aws:rds/instance:Instance", "aws:efs/fileSystem:FileSystem",
                "aws:efs/accessPoint:AccessPoint", "aws:route53/zone:Zone"}  # fmt: skip
    for resource in plan.resources:
        if resource.type in stateful:
            assert resource.protect, resource.urn
    kept = {"aws:efs/accessPoint:AccessPoint", "aws:secretsmanager/secret:Secret"}
    for resource in plan.resources:
        if resource.type in kept and resource.academy:
            assert resource.retain_on_delete, resource.urn


def test_dev_takes_the_cheap_settings(plan_of) -> None:
    plan = plan_of("dev")
    db = one(plan, "aws:rds/instance:Instance")
    assert db.inputs["multiAz"] is False and db.inputs["deletionProtection"] is False
    assert db.inputs["instanceClass"] == "db.t4g.micro"
    assert db.inputs["skipFinalSnapshot"] is True
    assert not db.protect
    redis = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert redis.inputs["numCacheClusters"] == 1 and not redis.inputs["automaticFailoverEnabled"]
    assert one(plan, "aws:lb/loadBalancer:LoadBalancer").inputs["enableDeletionProtection"] is False


def test_load_balancer_terminates_modern_tls_and_redirects_http(plan_of) -> None:
    plan = plan_of("prod")
    listeners = {
        r.inputs["port"]: r for r in plan.resources if r.type == "aws:lb/listener:Listener"
    }
    assert listeners[443].inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[443].inputs["protocol"] == "HTTPS"
    redirect = listeners[80].inputs["defaultActions"][0]
    assert redirect["type"] == "redirect" and redirect["redirect"]["protocol"] == "HTTPS"
    alb = one(plan, "aws:lb/loadBalancer:LoadBalancer")
    assert alb.inputs["dropInvalidHeaderFields"] is True
    assert alb.inputs["accessLogs"]["enabled"] is True
    (cert,) = [r for r in plan.resources if r.name == "dns-wildcard-cert"]
    assert cert.inputs["domainName"] == "*.cbsi-connect.org"
    assert cert.inputs["subjectAlternativeNames"] == ["cbsi-connect.org"]
    assert listeners[443].inputs["certificateArn"] == cert.inputs.get(
        "arn", listeners[443].inputs["certificateArn"]
    )
    assert cert.inputs["validationMethod"] == "DNS"


def test_only_the_load_balancer_and_turn_ports_are_open_to_the_internet(plan_of) -> None:
    plan = plan_of("prod")
    open_rules = [
        r for r in plan.resources
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        and r.inputs.get("cidrIpv4") == "0.0.0.0/0"
    ]  # fmt: skip
    opened = sorted(
        (r.name, r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"])
        for r in open_rules
    )
    assert opened == [
        ("lms-alb-in-443", "tcp", 443, 443),
        ("lms-alb-in-80", "tcp", 80, 80),
        ("relays-in-relay-udp", "udp", 49152, 65535),
        ("relays-in-stun-tcp", "tcp", 3478, 3478),
        ("relays-in-stun-udp", "udp", 3478, 3478),
        ("relays-in-turns-tcp", "tcp", 5349, 5349),
    ]
    names = {r.name: r for r in plan.resources}
    for tier, port in (("db", 5432), ("efs", 2049), ("redis", 6379)):
        rule = names[f"lms-{tier}-from-app"]
        assert rule.inputs["fromPort"] == port
        assert any(d.endswith("::lms-app-sg") for d in rule.depends_on)


def test_no_secret_value_reaches_task_definitions_outputs_or_the_plan(plan_of) -> None:
    plan = plan_of("prod")
    text = json.dumps(plan.model_dump(mode="json", by_alias=True))
    # The mocks give every generated password a recognisable value: none may surface.
    assert "mock-password" not in text
    for task in (r for r in plan.resources if r.type.endswith("TaskDefinition")):
        for container in containers(task):
            for variable in container["environment"]:
                assert not any(w in variable["name"] for w in ("PASSWORD", "AUTH", "KEY")), variable
            for secret in container.get("secrets", []):
                assert secret["valueFrom"].startswith("arn:aws:secretsmanager:")
    versions = [r for r in plan.resources if r.type.endswith("SecretVersion")]
    assert versions and all(v.inputs["secretString"] == "[secret]" for v in versions)


def test_no_two_sites_share_storage_sessions_or_cache(plan_of) -> None:
    doc = PlatformDocument.model_validate(plan_of("prod").outputs["platform"])
    for field in ("database", "access_point_id", "service_name", "session_prefix", "cache_prefix"):
        values = [getattr(a, field) for a in doc.academies]
        assert len(set(values)) == len(values), field
    prefixes = [a.session_prefix for a in doc.academies] + [a.cache_prefix for a in doc.academies]
    for a in prefixes:
        for b in prefixes:
            assert a == b or not b.startswith(a), (a, b)


def test_platform_document_lists_each_sites_resources(plan_of) -> None:
    plan = plan_of("dev")
    doc = PlatformDocument.model_validate(plan.outputs["platform"])
    jamaica = doc.academy("jamaica")
    assert jamaica.database == "moodle_jamaica"
    assert jamaica.access_point_id.startswith("fsap-")
    assert jamaica.status == "onboarding"
    assert doc.lms.db_master_secret_arn.startswith("arn:aws:secretsmanager:")
    assert doc.lms.image.endswith(":4.5.0-1")


def test_offboarding_changes_only_that_academys_routing_and_scale(plan_of) -> None:
    before = plan_of("dev")
    config = stack_config("dev")
    config["cbsi:academies"][1]["status"] = "offboarded"
    changes = diff_plans(before, plan_config(config))
    assert changes.added == [] and changes.removed == []
    changed = {c.urn.rsplit("::", 1)[1]: c.properties for c in changes.changed}
    assert changed == {
        "academy-jamaica-rule": ["actions"],
        "academy-jamaica-scaling": ["maxCapacity", "minCapacity"],
        "academy-jamaica-service": ["desiredCount"],
        # The published platform document, and the probe list (an offboarded site is not probed).
        "monitoring-platform-json": ["content"],
        "monitoring-file-prometheus-yml": ["content"],
    }
    after = {r.name: r for r in plan_config(config).resources}
    action = after["academy-jamaica-rule"].inputs["actions"][0]
    assert action["type"] == "fixed-response"
    assert "Jamaica Police Academy" in action["fixedResponse"]["messageBody"]
    assert len(action["fixedResponse"]["messageBody"]) <= 1024  # the ALB's limit


def test_adding_an_academy_touches_nothing_of_another_academy(plan_of) -> None:
    before = plan_of("dev")
    config = stack_config("dev")
    entry = dict(config["cbsi:academies"][1], slug="belize", hostname="belize.dev.cbsi-connect.org")
    config["cbsi:academies"].append(entry)
    changes = diff_plans(before, plan_config(config))
    assert changes.removed == []
    # What lists every academy follows the registry: the media bucket's CORS origins and
    # recordings rules, the published platform document and monitoring files (probes, routes),
    # and the exporter's permission to read each site's database secret. Nothing else changes.
    assert sorted((c.urn.rsplit("::", 1)[1], c.properties) for c in changes.changed) == [
        ("media-bucket-cors", ["corsRules"]),
        ("media-bucket-lifecycle", ["rules"]),
        ("monitoring-exporter", ["policy"]),
        ("monitoring-file-alertmanager-yml", ["content"]),
        ("monitoring-file-prometheus-yml", ["content"]),
        ("monitoring-platform-json", ["content"]),
    ]
    assert {r.academy for r in changes.added} == {"belize"}
    assert len(changes.added) == len([r for r in before.resources if r.academy == "jamaica"])


def test_rule_priorities_do_not_depend_on_registry_order(plan_of) -> None:
    config = stack_config("staging")
    config["cbsi:academies"].reverse()
    reordered = {r.name: r.inputs["priority"] for r in plan_config(config, "staging").resources
                 if r.type.endswith("ListenerRule")}  # fmt: skip
    original = {r.name: r.inputs["priority"] for r in plan_of("staging").resources
                if r.type.endswith("ListenerRule")}  # fmt: skip
    assert reordered == original and len(set(original.values())) == len(original)


def test_priorities_are_unique_and_appending_never_renumbers() -> None:
    slugs = [f"academy-{i:03d}" for i in range(400)]  # collisions are certain at this size
    first = listener_priorities(slugs[:399])
    both = listener_priorities(slugs)
    assert len(set(both.values())) == 400 and all(1 <= p <= 49_999 for p in both.values())
    assert {s: both[s] for s in first} == first
