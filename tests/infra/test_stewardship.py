"""Stewardship under the SDK's mocks: the phase decides every trust policy; roles for people need
MFA and carry the boundary; the audit trail, GuardDuty, the alarms and the budgets."""

from __future__ import annotations

import json
import re

from infra.platform import PlatformDocument
from tests.conftest import plan_config, stack_config

INL, IMPACS = "111122223333", "444455556666"


def trust_accounts(plan) -> dict[str, set[str]]:
    """Role name -> the accounts its trust policy names."""
    found = {}
    for r in plan.resources:
        if r.type == "aws:iam/role:Role":
            found[r.name] = set(
                re.findall(r"arn:aws:iam::(\d{12}):root", r.inputs["assumeRolePolicy"])
            )
    return found


def in_phase(stack: str, phase: str) -> dict:
    config = stack_config(stack)
    config["cbsi:stewardship"]["phase"] = phase
    if phase == "impacs":
        config["cbsi:stewardship"]["platformSteward"] = "impacs"
        for academy in config["cbsi:academies"]:
            academy["steward"] = "impacs"
        config["cbsi:oncall"] = [c for c in config["cbsi:oncall"] if c["organisation"] == "impacs"]
    return config


def test_phases_decide_who_is_trusted(plan_of) -> None:
    roles = trust_accounts(plan_of("prod"))
    assert roles["stewardship-platform-admin"] == {INL}  # INL administers in phase inl
    assert roles["stewardship-break-glass"] == {INL}
    assert roles["stewardship-operator"] == {INL, IMPACS}  # IMPACS operates beside it
    assert roles["stewardship-oncall-readonly"] == {INL, IMPACS}
    # A site admin of an IMPACS-stewarded academy signs in through IMPACS, one of INL's through INL.
    assert roles["academy-impacs-access-site-admin"] == {IMPACS}
    assert roles["academy-jamaica-access-site-admin"] == {INL}

    joint = trust_accounts(plan_config(in_phase("prod", "joint"), "prod"))
    assert joint["stewardship-platform-admin"] == {INL, IMPACS}


def test_inl_to_impacs_removes_every_inl_principal_and_adds_none(plan_of) -> None:
    before = trust_accounts(plan_of("prod"))
    after = trust_accounts(plan_config(in_phase("prod", "impacs"), "prod"))
    assert after.keys() == before.keys()  # no role appears or disappears
    assert all(INL not in accounts for accounts in after.values())
    assert all(after[name] <= before[name] | {IMPACS} for name in after)
    # Nothing new beyond IMPACS, and only where people are trusted at all.
    assert {name for name, accounts in after.items() if accounts} == {
        name for name, accounts in before.items() if accounts
    }
    assert not any("111122223333" in json.dumps(r.inputs) for r in
                   plan_config(in_phase("prod", "impacs"), "prod").resources
                   if r.type == "aws:iam/role:Role")  # fmt: skip


def test_roles_for_people_need_mfa_and_every_role_carries_the_boundary(plan_of) -> None:
    plan = plan_of("prod")
    (boundary,) = [r for r in plan.resources if r.type == "aws:iam/policy:Policy"]
    roles = [r for r in plan.resources if r.type == "aws:iam/role:Role"]
    people = [r for r in roles if '"AWS"' in r.inputs["assumeRolePolicy"]]
    assert len(people) == 4 + 2 * 19  # platform roles, and per academy an uploader and site admin
    for role in people:
        trust = json.loads(role.inputs["assumeRolePolicy"])
        for statement in trust["Statement"]:
            assert statement["Condition"]["Bool"]["aws:MultiFactorAuthPresent"] == "true"
    assert len(roles) > len(people) + 2 * 19  # service roles too: execution, task, instances...
    for role in roles:
        if role.name == "stewardship-break-glass":
            assert "permissionsBoundary" not in role.inputs
        else:
            assert (
                role.inputs["permissionsBoundary"]
                == f"arn:aws:iam::123456789012:policy/{boundary.inputs['name']}"
            )
    document = json.loads(boundary.inputs["policy"])
    denied = {a for s in document["Statement"] if s["Effect"] == "Deny" for a in s["Action"]}
    assert {
        "cloudtrail:StopLogging",
        "iam:CreateUser",
        "iam:DeleteRolePermissionsBoundary",
    } <= denied


def test_audit_trail_guardduty_and_the_break_glass_alarm(plan_of) -> None:
    plan = plan_of("prod")
    by_name = {r.name: r for r in plan.resources if r.custom}
    (trail,) = [r for r in plan.resources if r.type == "aws:cloudtrail/trail:Trail"]
    assert trail.inputs["isMultiRegionTrail"] and trail.inputs["enableLogFileValidation"]
    bucket = next(
        r
        for r in plan.resources
        if r.type == "aws:s3/bucket:Bucket" and r.name == "stewardship-trail"
    )
    assert bucket.inputs["objectLockEnabled"] is True
    assert by_name["stewardship-trail-object-lock"].inputs["rule"]["defaultRetention"] == {
        "mode": "GOVERNANCE",
        "days": 365,
    }
    assert by_name["stewardship-guardduty"].inputs["enable"] is True
    pattern = json.loads(by_name["stewardship-break-glass-alarm"].inputs["eventPattern"])
    assert pattern["detail"]["requestParameters"]["roleArn"] == [
        "arn:aws:iam::123456789012:role/cbsi-prod-break-glass"
    ]
    doc = PlatformDocument.model_validate(plan.outputs["platform"])
    assert doc.stewardship is not None
    assert doc.stewardship.roles["break-glass"].endswith(":role/cbsi-prod-break-glass")
    assert doc.stewardship.trail_name == "cbsi-prod"


def test_every_prod_academy_has_a_budget_on_its_tag(plan_of) -> None:
    plan = plan_of("prod")
    config = stack_config("prod")
    limits = config["cbsi:budgets"]["academyUsd"]
    budgets = {r.academy: r for r in plan.resources if r.type == "aws:budgets/budget:Budget"}
    assert budgets.pop(None).inputs["limitAmount"] == f"{config['cbsi:budgets']['platformUsd']:.2f}"
    assert len(budgets) == len(config["cbsi:academies"])
    for academy in config["cbsi:academies"]:
        budget = budgets[academy["slug"]]
        assert budget.inputs["costFilters"] == [
            {"name": "TagKeyValue", "values": [f"user:academy${academy['slug']}"]}
        ]
        assert budget.inputs["limitAmount"] == f"{limits[academy['tier']]:.2f}"
        emails = budget.inputs["notifications"][0]["subscriberEmailAddresses"]
        assert {a["email"] for a in academy["admins"]} <= set(emails)
    assert not any(r.type == "aws:budgets/budget:Budget" for r in plan_of("dev").resources)
