"""Evaluate the policy pack (`infra/policy`) on a plan, with the pack's own policy objects.

The analyzer the Pulumi CLI starts calls each policy's `validate` with `ResourceValidationArgs`
and `StackValidationArgs`; here the same arguments are built from the planned resources, so the
rules are one copy. As in the analyzer, inputs are wrapped by `unknown_checking_proxy`: a rule that
reads a value unknown during preview is reported as not checkable, never as passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from pydantic import BaseModel, ConfigDict

from cbsi.planfile import Plan, PlannedResource
from infra.policy.pack import POLICIES

Level = Literal["mandatory", "advisory"]


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy: str
    level: Level
    urn: str
    message: str


class PolicyReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    policies: int
    resources: int
    violations: list[Finding]
    # Rules that could not run on a resource because a value is unknown until deployment.
    unknown: list[Finding]

    @property
    def mandatory(self) -> list[Finding]:
        return [v for v in self.violations if v.level == "mandatory"]

    @property
    def advisory(self) -> list[Finding]:
        return [v for v in self.violations if v.level == "advisory"]


def _level(policy: ResourceValidationPolicy | StackValidationPolicy) -> Level:
    advisory = policy.enforcement_level == EnforcementLevel.ADVISORY
    return "advisory" if advisory else "mandatory"


def _options(resource: PlannedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def stack_resources(
    resources: list[PlannedResource], props: Mapping[str, Mapping[str, Any]]
) -> list[PolicyResource]:
    """The resources as `StackValidationArgs` carries them: parents and dependencies linked."""
    built = {
        r.urn: PolicyResource(
            r.type,
            props[r.urn],
            r.urn,
            r.name,
            _options(r),
            None,
            None,
            [],
            {},
        )
        for r in resources
    }
    for r in resources:
        built[r.urn].parent = built.get(r.parent) if r.parent else None
        built[r.urn].dependencies = [built[d] for d in r.depends_on if d in built]
    return list(built.values())


def evaluate(
    plan: Plan,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    policies: list[ResourceValidationPolicy | StackValidationPolicy] | None = None,
) -> PolicyReport:
    """Run every policy on the plan's resources. `config` is per policy, as `--policy-pack-config`
    gives it; a policy without one uses its parameters' defaults (the documented exceptions)."""
    config = config or {}
    policies = POLICIES if policies is None else policies
    resources = [r for r in plan.resources if r.custom and not r.type.startswith("pulumi:")]
    violations: list[Finding] = []
    unknown: list[Finding] = []
    # Built once and shared by every policy: the proxies, options and the linked stack view.
    props = {r.urn: unknown_checking_proxy(dict(r.inputs)) for r in resources}
    options = {r.urn: _options(r) for r in resources}
    stack_view: list[PolicyResource] | None = None

    for policy in policies:
        level = _level(policy)
        settings = dict(config.get(policy.name, {}))

        def report(
            message: str, urn: str | None = None, name: str = policy.name, level: Level = level
        ) -> None:
            violations.append(Finding(policy=name, level=level, urn=urn or "", message=message))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                args = ResourceValidationArgs(
                    resource.type,
                    props[resource.urn],
                    resource.urn,
                    resource.name,
                    options[resource.urn],
                    None,
                    settings,
                )
                try:
                    # A resource policy's report names no URN: the resource's own is meant.
                    policy.validate(args, lambda m, _u=None, at=resource.urn: report(m, at))
                except UnknownValueError as exc:
                    unknown.append(
                        Finding(
                            policy=policy.name, level=level, urn=resource.urn, message=exc.message
                        )
                    )
                except _NotApplicableError:
                    pass
        else:
            stack_view = stack_view or stack_resources(resources, props)
            try:
                policy.validate(StackValidationArgs(stack_view, settings), report)
            except UnknownValueError as exc:
                unknown.append(
                    Finding(policy=policy.name, level=level, urn="", message=exc.message)
                )
    order = {"mandatory": 0, "advisory": 1}
    violations.sort(key=lambda v: (order[v.level], v.policy, v.urn, v.message))
    return PolicyReport(
        policies=len(policies), resources=len(resources), violations=violations, unknown=unknown
    )
