"""Who may act and what is recorded: IAM, CloudTrail, GuardDuty, logs, tags, certificates."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from infra.policy.base import (
    ADVISORY,
    Context,
    Controls,
    Params,
    Props,
    as_list,
    is_prod,
    matches,
    names,
    of_type,
    resource_rule,
    sid,
    stack_rule,
    statements,
)

POLICIES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
ROLE = ("aws:iam/role:Role",)
ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"
REQUIRED_TAGS = ("project", "environment", "steward")
TAG_VALUES = {"environment": {"dev", "staging", "prod"}, "steward": {"inl", "impacs"}}

# The one role allowed administrator rights and no permissions boundary: break-glass, which pages
# the on-call whenever it is assumed (Stewardship's EventBridge alarm).
BREAK_GLASS = names("Break-glass role names (patterns)", "cbsi-*-break-glass")
# Log groups that are the audit record (flow logs): kept a year in prod.
AUDIT_LOG_GROUPS = names("Audit log groups (resource name patterns)", "network-flow-logs*")


def _grants_all(statement: Mapping[str, Any]) -> tuple[bool, bool]:
    """(all actions, on all resources) for an Allow statement."""
    if statement.get("Effect") != "Allow":
        return False, False
    actions = as_list(statement.get("Action"))
    return "*" in actions or "*:*" in actions, "*" in as_list(statement.get("Resource"))


@resource_rule(
    "iam-no-full-admin-policy",
    POLICIES,
    'No policy grants "*" on "*" (administrator rights come only from break-glass)',
    Controls(("CKV_AWS_62", "CKV_AWS_1"), ("IAM.1",), ("1.16",)),
)
def _full_admin(props: Props, ctx: Context) -> Iterable[str]:
    for statement in statements(props.get("policy")):
        if _grants_all(statement) == (True, True):
            yield f"statement {sid(statement)} allows every action everywhere"


@resource_rule(
    "iam-no-star-action",
    POLICIES,
    'No policy allows the action "*"; name the service actions',
    Controls(("CKV_AWS_63",)),
)
def _star_action(props: Props, ctx: Context) -> Iterable[str]:
    for statement in statements(props.get("policy")):
        all_actions, _ = _grants_all(statement)
        if all_actions:
            yield f"statement {sid(statement)} allows the action '*'"


@resource_rule(
    "iam-admin-only-break-glass",
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",),
    "AdministratorAccess is attached to the break-glass role and nothing else",
    Controls(("CKV_AWS_274",), ("IAM.1",), ("1.16",)),
    params={"breakGlass": BREAK_GLASS},
)
def _admin_attachment(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("policyArn") == ADMINISTRATOR and not matches(
        str(props.get("role")), ctx.params["breakGlass"]
    ):
        yield f"AdministratorAccess attached to {props.get('role')}, which is not break-glass"


def _trust_statements(props: Props) -> list[Mapping[str, Any]]:
    return [s for s in statements(props.get("assumeRolePolicy")) if s.get("Effect") == "Allow"]


def _people(statement: Mapping[str, Any]) -> list[str]:
    """The AWS (account or user) principals of a trust statement: people, not services."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    return [str(p) for p in as_list((principal or {}).get("AWS"))]


@resource_rule(
    "iam-trust-no-wildcard",
    ROLE,
    "Roles trust named principals, never everyone",
    Controls(("CKV_AWS_60", "CKV_AWS_61")),
)
def _trust_wildcard(props: Props, ctx: Context) -> Iterable[str]:
    for statement in _trust_statements(props):
        if "*" in _people(statement):
            yield "the trust policy lets anyone assume the role"


@resource_rule(
    "iam-human-roles-mfa",
    ROLE,
    "Roles for people can only be assumed with MFA",
    Controls((), ("IAM.5",), ("1.10",)),
)
def _trust_mfa(props: Props, ctx: Context) -> Iterable[str]:
    for statement in _trust_statements(props):
        if not _people(statement):
            continue
        mfa = (statement.get("Condition") or {}).get("Bool", {}).get("aws:MultiFactorAuthPresent")
        if mfa != "true":
            yield f"principals {_people(statement)} may assume it without MFA"


@resource_rule(
    "iam-roles-boundary",
    ROLE,
    "Every role carries the platform's permissions boundary (break-glass excepted), so nobody "
    "working within it can create a role that escapes it",
    Controls(()),
    params={"breakGlass": BREAK_GLASS},
)
def _boundary(props: Props, ctx: Context) -> Iterable[str]:
    if matches(str(props.get("name", ctx.name)), ctx.params["breakGlass"]):
        return
    if not props.get("permissionsBoundary"):
        yield "permissionsBoundary is missing"


@resource_rule(
    "iam-no-users",
    ("aws:iam/user:User", "aws:iam/accessKey:AccessKey", "aws:iam/userPolicy:UserPolicy"),
    "No IAM users or access keys: people sign in through their identity account and roles",
    Controls(("CKV_AWS_273", "CKV_AWS_40"), ("IAM.2",), ("1.15",)),
)
def _users(props: Props, ctx: Context) -> Iterable[str]:
    yield "IAM users and long-lived access keys are not allowed; use a role"


TRAIL = ("aws:cloudtrail/trail:Trail",)


@resource_rule(
    "cloudtrail-multi-region",
    TRAIL,
    "The trail records every region and global services",
    Controls(("CKV_AWS_67",), ("CloudTrail.1",), ("3.1",)),
)
def _trail_regions(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("isMultiRegionTrail") is not True:
        yield "isMultiRegionTrail must be true"
    if props.get("includeGlobalServiceEvents") is False:
        yield "includeGlobalServiceEvents is false: IAM and STS events would be missed"


@resource_rule(
    "cloudtrail-log-validation",
    TRAIL,
    "The trail signs its log files, so tampering is detectable",
    Controls(("CKV_AWS_36",), ("CloudTrail.4",), ("3.2",)),
)
def _trail_validation(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("enableLogFileValidation") is not True:
        yield "enableLogFileValidation must be true"


@resource_rule(
    "cloudtrail-kms",
    TRAIL,
    "The trail is encrypted with a customer-managed KMS key",
    Controls(("CKV_AWS_35",), ("CloudTrail.2",), ("3.5",)),
)
def _trail_kms(props: Props, ctx: Context) -> Iterable[str]:
    if not props.get("kmsKeyId"):
        yield "kmsKeyId is missing"


@resource_rule(
    "cloudtrail-logging-on",
    TRAIL,
    "The trail is logging",
    Controls(("CKV_AWS_251",)),
)
def _trail_on(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("enableLogging") is False:  # the provider's default is true
        yield "enableLogging is false"


@stack_rule(
    "cloudtrail-present",
    "The stack runs a multi-region CloudTrail",
    Controls((), ("CloudTrail.1",), ("3.1",)),
)
def _trail_present(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    if not any(t.props.get("isMultiRegionTrail") is True for t in of_type(resources, *TRAIL)):
        yield "no multi-region CloudTrail in the stack", ""


@stack_rule(
    "guardduty-present",
    "The stack enables GuardDuty",
    Controls(("CKV2_AWS_3",), ("GuardDuty.1",)),
)
def _guardduty_present(
    resources: list[PolicyResource], params: Params
) -> Iterable[tuple[str, str]]:
    if not of_type(resources, "aws:guardduty/detector:Detector"):
        yield "no GuardDuty detector in the stack", ""


@resource_rule(
    "guardduty-enabled",
    ("aws:guardduty/detector:Detector",),
    "GuardDuty detectors are enabled",
    Controls(("CKV_AWS_238",), ("GuardDuty.1",)),
)
def _guardduty(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("enable") is False:  # the provider's default is true
        yield "enable is false"


LOG_GROUP = ("aws:cloudwatch/logGroup:LogGroup",)


@resource_rule(
    "log-retention-set",
    LOG_GROUP,
    "Log groups expire their logs (never-expire grows the bill forever)",
    Controls(("CKV_AWS_66",)),
)
def _retention(props: Props, ctx: Context) -> Iterable[str]:
    if not props.get("retentionInDays"):
        yield "retentionInDays is missing: logs would be kept forever"


@resource_rule(
    "log-retention-audit",
    LOG_GROUP,
    "In prod, audit log groups (flow logs) are kept at least a year",
    Controls(("CKV_AWS_338",), ("CloudWatch.16",)),
    params={"auditLogGroups": AUDIT_LOG_GROUPS},
)
def _audit_retention(props: Props, ctx: Context) -> Iterable[str]:
    if is_prod(props) and matches(ctx.name, ctx.params["auditLogGroups"]):
        days = props.get("retentionInDays") or 0
        if days < 365:
            yield f"retentionInDays is {days:g}; keep audit logs at least 365 days"


@functools.cache
def takes_tags(token: str) -> bool:
    """Whether the pulumi-aws resource behind a type token accepts `tags`."""
    try:
        _, module_path, name = token.split(":")
        module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
        init = getattr(module, name)._internal_init
    except (ValueError, ImportError, AttributeError):
        return False
    return "tags" in inspect.signature(init).parameters


class _TaggedTypes(tuple[str, ...]):
    """Every pulumi-aws type that takes tags, known only by asking: `in` answers lazily."""

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and token.startswith("aws:") and takes_tags(token)


@resource_rule(
    "tags-required",
    _TaggedTypes(),
    "Every taggable resource carries project, environment and steward (cost and handover)",
    Controls(()),
)
def _tags(props: Props, ctx: Context) -> Iterable[str]:
    tags = props.get("tags") or {}
    missing = [t for t in REQUIRED_TAGS if t not in tags]
    if missing:
        yield f"missing tags {missing}"
    for key, allowed in TAG_VALUES.items():
        if key in tags and tags[key] not in allowed:
            yield f"tag {key}={tags[key]!r} is not one of {sorted(allowed)}"


@resource_rule(
    "acm-dns-validation",
    ("aws:acm/certificate:Certificate",),
    "Certificates validate by DNS, so ACM renews them without anyone acting",
    Controls((), ("ACM.1",)),
)
def _acm(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("validationMethod", "DNS") != "DNS" and not props.get("certificateBody"):
        yield f"validationMethod {props.get('validationMethod')!r} needs a person at every renewal"


@stack_rule(
    "budgets-per-academy-prod",
    "In prod, every academy has an AWS Budget on its cost-allocation tag",
    Controls(()),
    level=ADVISORY,
)
def _budgets(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    academies = {
        str((r.props.get("tags") or {}).get("academy"))
        for r in of_type(resources, "aws:ecs/service:Service")
        if is_prod(r.props) and (r.props.get("tags") or {}).get("academy")
    }
    budgeted = {
        str(f.get("values", [""])[0]).removeprefix("user:academy$")
        for b in of_type(resources, "aws:budgets/budget:Budget")
        for f in as_list(b.props.get("costFilters"))
        if f.get("name") == "TagKeyValue"
    }
    for slug in sorted(academies - budgeted):
        yield f"academy {slug} has no budget", ""
