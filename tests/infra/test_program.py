"""The whole program under the SDK's mocks: tags, parenting, providers, the platform document."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pulumi
import pytest

from infra.config import load_from_pulumi, load_stack_file, read_stack_file, to_pulumi_config
from infra.platform import PlatformDocument
from tests.conftest import ROOT

STACKS = ["dev", "staging", "prod"]
REQUIRED_TAGS = {"project", "environment", "steward"}


def takes_tags(token: str) -> bool:
    """Whether the pulumi-aws resource behind a type token accepts `tags`."""
    _, module_path, name = token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    return "tags" in inspect.signature(getattr(module, name)._internal_init).parameters


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_carries_the_required_tags(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    cfg = load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml")
    stewards = {a.slug: a.steward for a in cfg.academies}
    checked = 0
    for resource in plan.resources:
        if not resource.type.startswith("aws:") or not takes_tags(resource.type):
            continue
        tags = resource.inputs.get("tags") or {}
        assert tags.keys() >= REQUIRED_TAGS, resource.urn
        assert tags["project"] == "cbsi-connect"
        assert tags["environment"] == cfg.environment
        if resource.academy:
            assert tags["academy"] == resource.academy, resource.urn
            assert tags["steward"] == stewards[resource.academy], resource.urn
        else:
            assert "academy" not in tags, resource.urn
            assert tags["steward"] == cfg.stewardship.platform_steward, resource.urn
        checked += 1
    assert checked >= 15  # not vacuous: the network alone has more


@pytest.mark.parametrize("stack", STACKS)
def test_urns_are_unique_and_everything_sits_in_a_component(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    urns = [r.urn for r in plan.resources]
    assert len(urns) == len(set(urns))
    (provider,) = [r for r in plan.resources if r.type == "pulumi:providers:aws"]
    assert provider.inputs["region"] == "us-east-1"
    for resource in plan.resources:
        if resource.custom and resource is not provider:
            # No resource hangs off the stack directly, and no AWS resource uses the default
            # provider (whose region would come from the machine, not the stack).
            assert resource.component is not None, resource.urn
            if resource.type.startswith("aws:"):
                assert resource.provider == provider.urn, resource.urn


@pytest.mark.parametrize("stack", STACKS)
def test_each_academy_owns_exactly_its_own_resources(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    cfg = load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml")
    for academy in cfg.academies:
        component = (
            f"urn:pulumi:{stack}::cbsi-connect::cbsi:lms:AcademySite::academy-{academy.slug}"
        )
        owned = [r for r in plan.resources if r.academy == academy.slug]
        assert owned, academy.slug
        assert {r.component or r.urn for r in owned} == {component}
        (logs,) = [r for r in owned if r.type == "aws:cloudwatch/logGroup:LogGroup"]
        assert logs.inputs["name"] == f"/cbsi/{stack}/academies/{academy.slug}"
        assert logs.retain_on_delete  # a registry change never deletes an academy's logs


@pytest.mark.parametrize("stack", STACKS)
def test_platform_document_matches_the_registry(plan_of, stack: str) -> None:
    plan = plan_of(stack)
    cfg = load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml")
    doc = PlatformDocument.model_validate(plan.outputs["platform"])
    assert doc.version == 1 and doc.stack == stack and doc.environment == cfg.environment
    assert [a.slug for a in doc.academies] == [a.slug for a in cfg.academies]
    for entry, academy in zip(doc.academies, cfg.academies, strict=True):
        assert entry.url == f"https://{academy.hostname}/"
        assert entry.default_language == academy.languages[0]
        assert entry.log_group == f"/cbsi/{stack}/academies/{academy.slug}"
    assert doc.network.vpc_id == plan.outputs["vpcId"]
    assert len(doc.network.availability_zones) == cfg.network.az_count
    assert len(doc.network.private_subnet_ids) == cfg.network.az_count


def test_prod_registry_covers_caricom_and_the_dominican_republic() -> None:
    cfg = load_stack_file(ROOT / "stacks" / "Pulumi.prod.yaml")
    countries = {a.country for a in cfg.academies}
    caricom = {
        "AG",
        "BS",
        "BB",
        "BZ",
        "DM",
        "GD",
        "GY",
        "HT",
        "JM",
        "MS",
        "KN",
        "LC",
        "VC",
        "SR",
        "TT",
    }
    assert caricom | {"DO"} <= countries
    assert cfg.academies[0].slug == "impacs"
    assert 17 <= len(cfg.academies) <= 25
    assert len(load_stack_file(ROOT / "stacks" / "Pulumi.dev.yaml").academies) == 2


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_reads_the_same_config_as_the_stack_file(stack: str, monkeypatch) -> None:
    """`pulumi up` hands config over in PULUMI_CONFIG (structured values as JSON strings); the
    program must validate it to exactly what `cbsi plan` validates from the file."""
    path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(to_pulumi_config(read_stack_file(path))))
    pulumi.runtime.set_all_config({})
    pulumi.runtime.reset_options(project="cbsi-connect", stack=stack)
    assert load_from_pulumi() == load_stack_file(path)


def test_a_bad_config_stops_the_real_program_with_the_message(monkeypatch) -> None:
    from infra.errors import ConfigError

    broken = Path(__file__).parents[1] / "config" / "broken" / "tier-unknown.yaml"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(to_pulumi_config(read_stack_file(broken))))
    pulumi.runtime.set_all_config({})
    pulumi.runtime.reset_options(project="cbsi-connect", stack="dev")
    with pytest.raises(ConfigError, match=r"stacks/Pulumi.dev.yaml: cbsi:academies\[1\].tier"):
        load_from_pulumi()
