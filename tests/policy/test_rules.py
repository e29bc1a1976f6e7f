"""Every rule of the policy pack against its fixture, the way checkov tests its checks: several
resources and the exact names that pass, that fail and that cannot be checked during preview.

Cases live in `cases/<module>.yaml`: per rule, `resources` (name, type, props, dependsOn), and
`fail` and `unknown` (names; the rest must pass). `<unknown>` stands for a value unknown during
`pulumi preview`; a stack-wide violation is named `(stack)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
from ruamel.yaml import YAML

from cbsi.planfile import Plan, PlannedResource
from cbsi.policy import evaluate
from infra.policy.pack import RULES, rule

CASES = Path(__file__).parent / "cases"


def load_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for path in sorted(CASES.glob("*.yaml")):
        data = YAML(typ="safe", pure=True).load(path.read_text())
        types = data.pop("types")
        for name, case in data.items():
            assert name not in cases, f"{name} has cases in two files"
            for resource in case["resources"]:
                resource["type"] = types.get(resource["type"], resource["type"])
            cases[name] = case
    return cases


CASE_DATA = load_cases()


def unknowns(value: Any) -> Any:
    if value == "<unknown>":
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {k: unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unknowns(v) for v in value]
    return value


def urn(resource: dict[str, Any]) -> str:
    return f"urn:pulumi:test::cbsi-connect::{resource['type']}::{resource['name']}"


def plan_of(case: dict[str, Any]) -> Plan:
    by_name = {r["name"]: r for r in case["resources"]}
    return Plan(
        version=1,
        project="cbsi-connect",
        stack="test",
        counts={},
        outputs={},
        resources=[
            PlannedResource(
                urn=urn(r),
                type=r["type"],
                name=r["name"],
                custom=True,
                parent=None,
                component=None,
                academy=None,
                provider=None,
                protect=False,
                retainOnDelete=False,
                dependsOn=[urn(by_name[d]) for d in r.get("dependsOn", [])],
                inputs=unknowns(r.get("props", {})),
            )
            for r in case["resources"]
        ],
    )


def test_the_pack_has_forty_rules_each_citing_its_controls() -> None:
    cited = [r for r in RULES if r.controls.fsbp or r.controls.cis]
    assert len(cited) >= 40
    for r in RULES:
        citation = r.description.rsplit(" (", 1)[1]
        if r.controls.checkov:
            assert all(f"{c}" in citation for c in r.controls.checkov), r.name
        elif r.controls.fsbp or r.controls.cis:
            assert "no checkov check" in citation, r.name
        else:
            assert "platform control" in citation, r.name
        assert all(f in citation for f in r.controls.fsbp) and all(
            c in citation for c in r.controls.cis
        )


def test_every_rule_has_cases_and_every_case_a_rule() -> None:
    assert set(CASE_DATA) == {r.name for r in RULES}


@pytest.mark.parametrize("name", sorted(CASE_DATA))
def test_rule(name: str) -> None:
    case = CASE_DATA[name]
    report = evaluate(plan_of(case), policies=[rule(name).policy])
    names = {r["name"] for r in case["resources"]}
    by_urn = {urn(r): r["name"] for r in case["resources"]}

    failed = {by_urn.get(v.urn, "(stack)") for v in report.violations}
    unknown = {by_urn.get(v.urn, "(stack)") for v in report.unknown}

    assert failed == set(case.get("fail", [])), [v.message for v in report.violations]
    assert unknown == set(case.get("unknown", []))
    assert names - failed - unknown, "a fixture needs at least one passing resource"
    assert all(v.policy == name for v in report.violations)
    assert {v.level for v in report.violations} <= {rule(name).level.name.lower()}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_stacks_have_no_violations(plan_of, stack: str) -> None:
    report = evaluate(plan_of(stack))
    assert report.policies == len(RULES)
    assert report.resources > 200
    assert report.violations == []
    assert report.unknown == []
