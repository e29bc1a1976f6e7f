"""The plan document (`cbsi plan --json` / `--save`) and the comparison of two plans.

URNs here are the engine's (`urn:pulumi:<stack>::<project>::<parent types $ type>::<name>`), not
the mock monitor's, so that a plan lines up with what `pulumi preview` shows.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cbsi.planner import STACK_TYPE, ProgramRun, Registration
from infra.errors import UsageError

PLAN_VERSION = 1
# Sections `cbsi plan --json` prints beside the plan; a plan read back ignores them.
REPORT_KEYS = ("diff", "policy", "cost")


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PlannedResource(_Doc):
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    component: str | None = Field(description="URN of the top-level component it belongs to")
    academy: str | None
    provider: str | None
    protect: bool
    retain_on_delete: bool = Field(alias="retainOnDelete")
    depends_on: list[str] = Field(alias="dependsOn")
    inputs: dict[str, Any]


class Plan(_Doc):
    version: Literal[1]
    project: str
    stack: str
    resources: list[PlannedResource]
    counts: dict[str, int]
    outputs: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> Plan:
        """A saved plan; a missing or foreign file is the user's to fix."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(document, dict):
                document = {k: v for k, v in document.items() if k not in REPORT_KEYS}
            return cls.model_validate(document)
        except FileNotFoundError:
            raise UsageError(
                f"--diff {path}: no such file; save a plan first with "
                "`cbsi plan --stack STACK --save FILE`"
            ) from None
        except (ValidationError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            first = str(exc).splitlines()[0]
            raise UsageError(
                f"--diff {path}: not a plan saved by `cbsi plan --save` ({first}); save it again"
            ) from None


class Change(_Doc):
    urn: str
    type: str
    properties: list[str]


class PlanDiff(_Doc):
    added: list[PlannedResource]
    removed: list[PlannedResource]
    changed: list[Change]
    outputs_changed: list[str] = Field(alias="outputsChanged")

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.outputs_changed)


def build_plan(run: ProgramRun) -> Plan:
    """Turn recorded registrations into the plan document, sorted by URN."""
    by_urn = {r.mock_urn: r for r in run.registrations}
    urns: dict[str, str] = {}

    def qualified(reg: Registration) -> str:
        parent = by_urn.get(reg.parent)
        if parent is None or parent.type == STACK_TYPE:
            return reg.type
        return f"{qualified(parent)}${reg.type}"

    for reg in run.registrations:
        urns[reg.mock_urn] = f"urn:pulumi:{run.stack}::{run.project}::{qualified(reg)}::{reg.name}"

    def top_component(reg: Registration) -> Registration | None:
        current, top = reg, None
        while current.parent in by_urn and by_urn[current.parent].type != STACK_TYPE:
            current = by_urn[current.parent]
            top = current
        return top if top is not None and not top.custom else None

    academies = _academies(run.registrations, by_urn)

    resources: list[PlannedResource] = []
    for reg in run.registrations:
        if reg.type == STACK_TYPE:
            continue
        top = top_component(reg)
        provider_urn = reg.provider.rsplit("::", 1)[0] if reg.provider else ""
        parent = by_urn.get(reg.parent)
        resources.append(
            PlannedResource(
                urn=urns[reg.mock_urn],
                type=reg.type,
                name=reg.name,
                custom=reg.custom,
                parent=urns[reg.parent] if parent and parent.type != STACK_TYPE else None,
                component=urns[top.mock_urn] if top else None,
                academy=academies[reg.mock_urn],
                provider=urns.get(provider_urn),
                protect=reg.protect,
                retain_on_delete=reg.retain_on_delete,
                depends_on=sorted(urns.get(d, d) for d in reg.dependencies),
                inputs=reg.inputs,
            )
        )
    resources.sort(key=lambda r: r.urn)
    counts = Counter(r.type for r in resources if r.custom and not r.type.startswith("pulumi:"))
    return Plan(
        version=PLAN_VERSION,
        project=run.project,
        stack=run.stack,
        resources=resources,
        counts=dict(sorted(counts.items())),
        outputs=dict(sorted(run.outputs.items())),
    )


def _academies(
    registrations: list[Registration], by_urn: dict[str, Registration]
) -> dict[str, str | None]:
    """Which academy each resource belongs to.

    A resource's own `academy` tag decides; a component belongs to an academy when every tagged
    resource below it names that one academy; anything else inherits from its parent.
    """
    own = {r.mock_urn: (r.inputs.get("tags") or {}).get("academy") for r in registrations}
    below: dict[str, set[str]] = defaultdict(set)
    for reg in registrations:
        tag = own[reg.mock_urn]
        if tag:
            parent = by_urn.get(reg.parent)
            while parent is not None:
                below[parent.mock_urn].add(tag)
                parent = by_urn.get(parent.parent)
    resolved: dict[str, str | None] = {}

    def resolve(reg: Registration) -> str | None:
        if reg.mock_urn not in resolved:
            found = own[reg.mock_urn]
            if found is None and not reg.custom and len(below[reg.mock_urn]) == 1:
                found = next(iter(below[reg.mock_urn]))
            if found is None and reg.parent in by_urn and by_urn[reg.parent].type != STACK_TYPE:
                found = resolve(by_urn[reg.parent])
            resolved[reg.mock_urn] = found
        return resolved[reg.mock_urn]

    return {r.mock_urn: resolve(r) for r in registrations}


def _changed_properties(old: PlannedResource, new: PlannedResource) -> list[str]:
    names = {
        k for k in old.inputs.keys() | new.inputs.keys() if old.inputs.get(k) != new.inputs.get(k)
    }
    # Options Pulumi itself reports as changes; dependsOn follows the inputs and is not one.
    for option in ("protect", "retain_on_delete", "provider", "parent"):
        if getattr(old, option) != getattr(new, option):
            names.add(PlannedResource.model_fields[option].alias or option)
    return sorted(names)


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    """Resources added, removed and changed (with the names of the changed properties)."""
    before = {r.urn: r for r in old.resources}
    after = {r.urn: r for r in new.resources}
    changed = [
        Change(urn=urn, type=after[urn].type, properties=props)
        for urn in sorted(before.keys() & after.keys())
        if (props := _changed_properties(before[urn], after[urn]))
    ]
    outputs_changed = sorted(
        k
        for k in old.outputs.keys() | new.outputs.keys()
        if old.outputs.get(k) != new.outputs.get(k)
    )
    return PlanDiff(
        added=[after[u] for u in sorted(after.keys() - before.keys())],
        removed=[before[u] for u in sorted(before.keys() - after.keys())],
        changed=changed,
        outputs_changed=outputs_changed,
    )
