"""The one shape every rule of the pack has, so that the real CLI and `cbsi plan` run the same code.

A rule is a plain function over one resource's inputs (or over the whole stack) that yields what is
wrong. `resource_rule` and `stack_rule` wrap it into a `pulumi_policy` policy whose description
cites the AWS Foundational Security Best Practices (FSBP) or CIS AWS Foundations v3.0.0 control and
the matching checkov id (a cross-reference: checkov cannot scan Pulumi programs).

Inputs use the engine's camelCase names, as the analyzer sees them. A missing property is the
provider's default, so each rule says what it takes a missing value to mean. A value unknown
during `pulumi preview` raises `pulumi_policy`'s `UnknownValueError` as soon as a rule reads it;
the analyzer (and `cbsi.policy`) then reports "cannot be checked during preview", never a pass.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

Props = Mapping[str, Any]
Params = Mapping[str, Any]
ResourceCheck = Callable[[Props, "Context"], Iterable[str]]
StackCheck = Callable[[list[PolicyResource], Params], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Controls:
    """What a rule implements: FSBP and CIS control ids, and the checkov ids that match."""

    checkov: tuple[str, ...] = ()
    fsbp: tuple[str, ...] = ()
    cis: tuple[str, ...] = ()

    def cite(self) -> str:
        if not (self.checkov or self.fsbp or self.cis):
            return "a platform control: no FSBP, CIS or checkov equivalent"
        parts = []
        if self.fsbp:
            parts.append("AWS FSBP " + ", ".join(self.fsbp))
        if self.cis:
            parts.append("CIS AWS Foundations v3.0.0 " + ", ".join(self.cis))
        parts.append("checkov " + ", ".join(self.checkov) if self.checkov else "no checkov check")
        return "; ".join(parts)


@dataclass(frozen=True)
class Context:
    """What a resource rule knows besides the inputs: its name, its parameters."""

    name: str
    urn: str
    params: Params


def environment(props: Props) -> str | None:
    """The stack's environment, from the resource's `environment` tag (every resource has it)."""
    tags = props.get("tags") or {}
    value = tags.get("environment")
    return str(value) if value is not None else None


def is_prod(props: Props) -> bool:
    return environment(props) == "prod"


def document(value: Any) -> Mapping[str, Any]:
    """An IAM-style policy document, given as a JSON string or already parsed."""
    if isinstance(value, str):
        parsed = json.loads(value) if value.strip() else {}
        return parsed if isinstance(parsed, dict) else {}
    return value if isinstance(value, Mapping) else {}


def statements(value: Any) -> list[Mapping[str, Any]]:
    return [s for s in as_list(document(value).get("Statement")) if isinstance(s, Mapping)]


def as_list(value: Any) -> list[Any]:
    """A list of `value`'s items (the analyzer's proxies are Sequences, not lists)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return [value]


def public_principal(statement: Mapping[str, Any]) -> bool:
    """Whether a statement names everyone (`*` or `{"AWS": "*"}`) as its principal."""
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS"))


def sid(statement: Mapping[str, Any]) -> str:
    """How a violation names a statement."""
    return repr(statement.get("Sid", "(no Sid)"))


def open_to_everyone(policy: Any) -> list[Mapping[str, Any]]:
    """Allow statements of a resource policy that name everyone and have no condition."""
    return [
        s
        for s in statements(policy)
        if s.get("Effect") == "Allow" and public_principal(s) and not s.get("Condition")
    ]


def matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def names(description: str, *default: str) -> dict[str, Any]:
    """A rule parameter that lists names (patterns): the schema, with the documented default."""
    return {
        "type": "array",
        "items": {"type": "string"},
        "default": list(default),
        "description": description,
    }


def _params(schema: dict[str, Any] | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's parameters: what the pack's config gives, else each property's default."""
    defaults = {k: v.get("default") for k, v in (schema or {}).items()}
    return {**defaults, **{k: v for k, v in given.items() if k in defaults}}


@dataclass(frozen=True)
class Rule:
    """A rule and its metadata; `policy` is what the pack and `cbsi plan` run."""

    name: str
    description: str
    controls: Controls
    level: EnforcementLevel
    policy: ResourceValidationPolicy | StackValidationPolicy


RULES: list[Rule] = []


def _register_policy(
    kind: type[ResourceValidationPolicy] | type[StackValidationPolicy],
    name: str,
    description: str,
    controls: Controls,
    level: EnforcementLevel,
    params: dict[str, Any] | None,
    validate: Callable[..., None],
) -> None:
    if any(r.name == name for r in RULES):
        raise ValueError(f"policy {name} is defined twice")
    full = f"{description} ({controls.cite()})"
    policy = kind(
        name=name,
        description=full,
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=params) if params else None,
    )
    RULES.append(Rule(name, full, controls, level, policy))


def resource_rule(
    name: str,
    types: tuple[str, ...],
    description: str,
    controls: Controls,
    level: EnforcementLevel = MANDATORY,
    params: dict[str, Any] | None = None,
) -> Callable[[ResourceCheck], ResourceCheck]:
    """Register `check` as a policy on resources of `types`; each string it yields is a violation.

    `params` is a JSON schema of properties, each with its `default`: the documented exceptions
    live there, so the real CLI applies them without a config file and `--policy-pack-config`
    can still override them.
    """

    def wrap(check: ResourceCheck) -> ResourceCheck:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type not in types:
                return
            context = Context(args.name, args.urn, _params(params, args.get_config()))
            for message in check(args.props, context):
                report(message, None)

        _register_policy(ResourceValidationPolicy, name, description, controls, level, params,
                         validate)  # fmt: skip
        return check

    return wrap


def stack_rule(
    name: str,
    description: str,
    controls: Controls,
    level: EnforcementLevel = MANDATORY,
    params: dict[str, Any] | None = None,
) -> Callable[[StackCheck], StackCheck]:
    """Register `check` over the whole stack; it yields (message, urn) pairs."""

    def wrap(check: StackCheck) -> StackCheck:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            for message, urn in check(list(args.resources), _params(params, args.get_config())):
                report(message, urn)

        _register_policy(StackValidationPolicy, name, description, controls, level, params,
                         validate)  # fmt: skip
        return check

    return wrap


def of_type(resources: Iterable[PolicyResource], *types: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type in types]


def depending_on(
    resources: Iterable[PolicyResource], target: PolicyResource, *types: str
) -> list[PolicyResource]:
    """Resources of `types` that depend on `target` (a bucket's policy, a VPC's flow log).

    Dependencies, unlike ids, are known during preview, so companions are found before they exist.
    """
    return [
        r
        for r in of_type(resources, *types)
        if any(d.urn == target.urn for d in r.dependencies)
        or any(d.urn == target.urn for deps in r.property_dependencies.values() for d in deps)
    ]
