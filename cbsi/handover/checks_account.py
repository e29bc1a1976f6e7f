"""Checks of the AWS account itself: who it belongs to, who may act in it, and who hears of it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from cbsi.handover.model import Context, Finding, check, failed, passed

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _document(value: Any) -> dict[str, Any]:
    return json.loads(unquote(value)) if isinstance(value, str) else dict(value)


def _principals(document: dict[str, Any]) -> list[str]:
    found: list[str] = []
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal", {})
        values = principal.values() if isinstance(principal, dict) else [principal]
        for value in values:
            found.extend(value if isinstance(value, list) else [value])
    return [str(p) for p in found]


def _roles(ctx: Context) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        pages = ctx.aws("iam").get_paginator("list_roles").paginate()
        return [role for page in pages for role in page["Roles"]]

    return ctx.once("roles", read)


def _summary(ctx: Context) -> dict[str, Any]:
    """IAM's account summary: the root user's MFA and access keys."""
    return ctx.once("summary", lambda: ctx.aws("iam").get_account_summary()["SummaryMap"])


def _short(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@check(
    "HO-01",
    "account",
    "The platform runs in IMPACS's AWS account",
    "Run the check with IMPACS's credentials (--profile); deploy the stack into IMPACS's "
    "account, not INL's; cbsi:stewardship.accounts.impacs names it",
)
def account_is_impacs(ctx: Context) -> Finding:
    accounts = ctx.cfg.stewardship.accounts
    if ctx.account == accounts.get("impacs"):
        return passed(f"account {ctx.account} is cbsi:stewardship.accounts.impacs")
    owner = "INL's" if ctx.account == accounts.get("inl") else "not IMPACS's"
    return failed(f"account {ctx.account} is {owner} ({accounts.get('impacs')} is IMPACS's)")


@check(
    "HO-02",
    "account",
    "Stewardship is in phase impacs and IMPACS owns the platform",
    "Set cbsi:stewardship.phase: impacs and platformSteward: impacs, review `cbsi plan "
    "--diff`, then `pulumi up` (runbooks/handover.md step 4)",
)
def phase_is_impacs(ctx: Context) -> Finding:
    s = ctx.cfg.stewardship
    evidence = (
        f"config phase {s.phase}, platformSteward {s.platform_steward}; "
        f"deployed phase {ctx.doc.phase}"
    )
    ok = s.phase == s.platform_steward == ctx.doc.phase == "impacs"
    return passed(evidence) if ok else failed(evidence)


@check(
    "HO-03",
    "account",
    "Every resource of the stack is tagged steward=impacs",
    "Set every academy's steward: impacs in the registry and platformSteward: impacs; "
    "`pulumi up` retags everything",
)
def tagged_impacs(ctx: Context) -> Finding:
    pages = (
        ctx.aws("resourcegroupstaggingapi")
        .get_paginator("get_resources")
        .paginate(
            TagFilters=[
                {"Key": "project", "Values": [ctx.doc.project]},
                {"Key": "environment", "Values": [ctx.doc.environment]},
            ]
        )
    )
    resources = [r for page in pages for r in page["ResourceTagMappingList"]]
    wrong = [
        r["ResourceARN"]
        for r in resources
        if {t["Key"]: t["Value"] for t in r["Tags"]}.get("steward") != "impacs"
    ]
    if not resources:
        return failed(
            f"no resource tagged project={ctx.doc.project}, "
            f"environment={ctx.doc.environment} in account {ctx.account}"
        )
    if wrong:
        return failed(
            f"{len(wrong)} of {len(resources)} resources not steward=impacs: {_short(wrong)}"
        )
    return passed(f"all {len(resources)} tagged resources carry steward=impacs")


@check(
    "HO-04",
    "identity",
    "No trust policy names INL's account",
    "Set phase impacs and `pulumi up` (the stack's roles); delete or fix any other role "
    "whose trust policy names INL's account",
)
def no_inl_trust(ctx: Context) -> Finding:
    inl = ctx.cfg.stewardship.accounts.get("inl")
    if not inl:
        return failed("cbsi:stewardship.accounts.inl is not set, so INL cannot be recognised")
    trusting = [
        role["RoleName"]
        for role in _roles(ctx)
        if any(inl in p for p in _principals(_document(role["AssumeRolePolicyDocument"])))
    ]
    if trusting:
        return failed(f"roles trusting INL's account {inl}: {_short(trusting)}")
    return passed(f"{len(_roles(ctx))} roles, none trusts INL's account {inl}")


@check(
    "HO-05",
    "identity",
    "Administrator rights only through platform-admin and break-glass",
    "Detach AdministratorAccess from other users, groups and roles; people assume "
    "platform-admin (MFA) instead",
)
def admins_are_the_platform_roles(ctx: Context) -> Finding:
    if ctx.doc.stewardship is None:
        return failed("the platform document has no stewardship entry")
    allowed = {
        _role_name(ctx.doc.stewardship.roles[r])
        for r in ("platform-admin", "break-glass")
        if r in ctx.doc.stewardship.roles
    }
    pages = (
        ctx.aws("iam").get_paginator("list_entities_for_policy").paginate(PolicyArn=ADMIN_POLICY)
    )
    users, groups, roles = [], [], []
    for page in pages:
        users += [u["UserName"] for u in page.get("PolicyUsers", [])]
        groups += [g["GroupName"] for g in page.get("PolicyGroups", [])]
        roles += [r["RoleName"] for r in page.get("PolicyRoles", [])]
    others = ([f"user {u}" for u in users] + [f"group {g}" for g in groups]
              + [f"role {r}" for r in roles if r not in allowed])  # fmt: skip
    if others:
        return failed(f"AdministratorAccess also held by {_short(others)}")
    if not roles:
        return passed("nobody holds AdministratorAccess")
    return passed(f"AdministratorAccess held only by {', '.join(sorted(roles))}")


@check(
    "HO-06",
    "identity",
    "The root user has MFA",
    "Sign in as root with IMPACS's root mailbox and assign a hardware MFA device",
)
def root_mfa(ctx: Context) -> Finding:
    summary = _summary(ctx)
    if summary.get("AccountMFAEnabled") == 1:
        return passed("AccountMFAEnabled = 1")
    return failed(f"AccountMFAEnabled = {summary.get('AccountMFAEnabled')}")


@check(
    "HO-07",
    "identity",
    "The root user has no access keys",
    "Sign in as root and delete its access keys (Security credentials)",
)
def root_keys(ctx: Context) -> Finding:
    summary = _summary(ctx)
    if summary.get("AccountAccessKeysPresent") == 0:
        return passed("AccountAccessKeysPresent = 0")
    return failed(f"AccountAccessKeysPresent = {summary.get('AccountAccessKeysPresent')}")


@check(
    "HO-08",
    "identity",
    "A break-glass role exists, needs MFA, and its use raises an alarm",
    "`pulumi up` the Stewardship component (role and EventBridge rule); do not delete "
    "either by hand",
)
def break_glass(ctx: Context) -> Finding:
    s = ctx.doc.stewardship
    if s is None or "break-glass" not in s.roles:
        return failed("the platform document names no break-glass role")
    name = _role_name(s.roles["break-glass"])
    role = next((r for r in _roles(ctx) if r["RoleName"] == name), None)
    if role is None:
        return failed(f"role {name} does not exist")
    if "aws:MultiFactorAuthPresent" not in json.dumps(_document(role["AssumeRolePolicyDocument"])):
        return failed(f"role {name} can be assumed without MFA")
    events = ctx.aws("events")
    for rule in events.list_rules()["Rules"]:
        if name in rule.get("EventPattern", "") and "AssumeRole" in rule.get("EventPattern", ""):
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            if any(t["Arn"] == s.security_topic_arn for t in targets):
                return passed(f"role {name} (MFA); rule {rule['Name']} -> security topic")
            return failed(f"rule {rule['Name']} does not notify {s.security_topic_arn}")
    return failed(f"role {name} exists but no EventBridge rule watches its AssumeRole")


@check(
    "HO-09",
    "identity",
    "Security alarms reach IMPACS",
    "Subscribe IMPACS's security mailbox to the security topic (sns subscribe, protocol "
    "email) and confirm it",
)
def security_topic(ctx: Context) -> Finding:
    if ctx.doc.stewardship is None:
        return failed("the platform document has no stewardship entry")
    arn = ctx.doc.stewardship.security_topic_arn
    subs = ctx.aws("sns").list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    impacs = [
        s["Endpoint"]
        for s in subs
        if s["Protocol"] == "email"
        and ctx.is_impacs(s["Endpoint"])
        and s["SubscriptionArn"] != "PendingConfirmation"
    ]
    if impacs:
        return passed(f"{arn.rsplit(':', 1)[-1]} -> {', '.join(impacs)}")
    return failed(f"no confirmed IMPACS e-mail subscription on {arn} ({len(subs)} subscription(s))")


@check(
    "HO-10",
    "detection",
    "CloudTrail logs every region, with log file validation",
    "`pulumi up` the Stewardship component; if the trail was changed by hand, "
    "`aws cloudtrail start-logging --name TRAIL`",
)
def cloudtrail(ctx: Context) -> Finding:
    client = ctx.aws("cloudtrail")
    trails = client.describe_trails()["trailList"]
    problems = []
    for trail in trails:
        if trail.get("IsMultiRegionTrail") and trail.get("LogFileValidationEnabled"):
            if client.get_trail_status(Name=trail["TrailARN"]).get("IsLogging"):
                return passed(f"trail {trail['Name']}: all regions, validation, logging")
            problems.append(f"{trail['Name']} is not logging")
        else:
            problems.append(f"{trail['Name']} lacks multi-region or validation")
    return failed("; ".join(problems) or "no trail in the account")


@check(
    "HO-11",
    "detection",
    "GuardDuty is enabled",
    "`pulumi up` the Stewardship component, or enable the detector in the console",
)
def guardduty(ctx: Context) -> Finding:
    client = ctx.aws("guardduty")
    ids = client.list_detectors()["DetectorIds"]
    for detector in ids:
        if client.get_detector(DetectorId=detector)["Status"] == "ENABLED":
            return passed(f"detector {detector} ENABLED")
    return failed(f"{len(ids)} detector(s), none enabled")


def _contact(kind: str, label: str) -> None:
    @check(
        f"HO-{ {'SECURITY': 27, 'BILLING': 28, 'OPERATIONS': 29}[kind] }",
        "contacts",
        f"The account's {label} contact is IMPACS's",
        f"aws account put-alternate-contact --alternate-contact-type {kind} with IMPACS's "
        f"{label} mailbox (on an IMPACS domain)",
    )
    def contact(ctx: Context) -> Finding:
        from botocore.exceptions import ClientError

        try:
            found = ctx.aws("account").get_alternate_contact(AlternateContactType=kind)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return failed(f"no {label} contact is set")
            raise
        email = found["AlternateContact"]["EmailAddress"]
        domains = ", ".join(sorted(ctx.impacs_domains))
        if ctx.is_impacs(email):
            return passed(f"{label} contact {email}")
        return failed(f"{label} contact {email} is not on an IMPACS domain ({domains})")
