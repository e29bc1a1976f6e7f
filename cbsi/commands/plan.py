"""`cbsi plan`: what a stack would stand up, without AWS credentials or the Pulumi CLI."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from cbsi.project import Project
from infra.config import StackConfig, parse_config, read_stack_file, split_namespaces
from infra.errors import PolicyViolation, UsageError

if TYPE_CHECKING:
    from cbsi.cost import CostReport
    from cbsi.planfile import Plan, PlanDiff, PlannedResource
    from cbsi.policy import PolicyReport


def load_stack(project: Project, stack: str) -> tuple[StackConfig, dict[str, Any]]:
    """The validated config and the raw `config:` map of a stack, or `ConfigError`."""
    stack_file = project.stack_file(stack)
    source = project.relative(stack_file)
    raw = read_stack_file(stack_file, source)
    return parse_config(split_namespaces(raw, source), source), raw


def plan_stack(project: Project, stack: str, cfg: StackConfig, raw: dict[str, Any]) -> Plan:
    """Run the program for `stack` under the SDK's mocks; the plan document."""
    from cbsi.planfile import build_plan
    from cbsi.planner import run_program

    return build_plan(run_program(project.program, stack, raw, cfg.region))


def plan(
    ctx: typer.Context,
    stack: str = typer.Option(..., "--stack", "-s", help="Stack to plan: dev, staging or prod."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    save: Path | None = typer.Option(None, "--save", help="Also write the JSON plan to FILE.",
                                     dir_okay=False),
    diff: Path | None = typer.Option(None, "--diff", help="Compare with a plan saved by --save.",
                                     dir_okay=False),
) -> None:  # fmt: skip
    """Run the real Pulumi program under the SDK's mocks, check it against the security baseline
    (infra/policy) and show what it would create.

    Exit codes: 0 planned, 2 the config or an argument is wrong, 1 the program failed or a
    mandatory policy is violated (advisories are listed and do not fail).
    """
    project = ctx.obj.project
    cfg, raw = load_stack(project, stack)

    # Imported here so that config errors answer before pulumi is loaded.
    from cbsi.cost import estimate, summary
    from cbsi.planfile import Plan, diff_plans
    from cbsi.policy import evaluate

    baseline = Plan.load(diff) if diff else None
    result = plan_stack(project, stack, cfg, raw)
    changes = diff_plans(baseline, result) if baseline else None
    report = evaluate(result)
    try:
        cost: CostReport | None = estimate(result, cfg)
        cost_note = ""
    except UsageError as exc:  # a price missing from the table must not stop a plan
        cost, cost_note = None, str(exc)
    document = result.model_dump(mode="json", by_alias=True)
    if save:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    if as_json:
        if changes is not None:
            document["diff"] = changes.model_dump(mode="json", by_alias=True)
        document["policy"] = report.model_dump(mode="json")
        document["cost"] = summary(cost) if cost else {"error": cost_note}
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        out = Console(highlight=False)
        if changes is not None:
            _print_diff(out, changes, diff)
        else:
            _print_plan(out, result)
            if save:
                out.print(f"Saved to {save}. Review a change later with: "
                          f"cbsi plan --stack {stack} --diff {save}")  # fmt: skip
        _print_policy(out, report)
        # A review of changes shows what changed and whether the baseline holds; no totals.
        if changes is None and cost is not None:
            out.print(f"Estimated cost: ${cost.total_usd:,.2f} a month "
                      f"(cbsi cost --stack {stack} for each component and academy).")  # fmt: skip
        elif changes is None:
            out.print(f"Cost not estimated: {cost_note}")
    if report.mandatory:
        raise PolicyViolation(
            f"{len(report.mandatory)} mandatory policy violation(s) in stack {stack}: "
            + "; ".join(f"{v.policy} on {v.urn.rsplit('::', 1)[-1]}" for v in report.mandatory[:5])
            + ("; ..." if len(report.mandatory) > 5 else "")
            + ". Fix the resources (or, for a documented exception, the rule's parameter in "
            "infra/policy) and plan again"
        )


def _label(resource: PlannedResource) -> str:
    options = (("protect", resource.protect), ("retain", resource.retain_on_delete))
    flags = [flag for flag, on in options if on]
    suffix = f" [dim]({', '.join(flags)})[/]" if flags else ""
    return f"{escape(resource.name)} [dim]{resource.type}[/]{suffix}"


def _print_plan(out: Console, result: Plan) -> None:
    children: dict[str | None, list[PlannedResource]] = defaultdict(list)
    for resource in result.resources:
        children[resource.parent].append(resource)
    tree = Tree(f"[bold]{result.project}[/] stack [bold]{result.stack}[/]")
    platform = tree.add("[bold]platform[/]")
    academies: dict[str, Tree] = {}

    def add(node: Tree, resource: PlannedResource) -> None:
        branch = node.add(_label(resource))
        for child in children.get(resource.urn, []):
            add(branch, child)

    for resource in children[None]:
        if resource.type.startswith("pulumi:providers:"):
            continue
        if resource.academy:
            if resource.academy not in academies:
                academies[resource.academy] = tree.add(f"[bold]academy {resource.academy}[/]")
            add(academies[resource.academy], resource)
        else:
            add(platform, resource)
    out.print(tree)

    counts = Table(title="Resources by AWS type", show_footer=True)
    counts.add_column("type", footer="total")
    counts.add_column("count", justify="right", footer=str(sum(result.counts.values())))
    for kind, count in result.counts.items():
        counts.add_row(kind, str(count))
    out.print(counts)

    outputs = Table(title="Stack outputs")
    outputs.add_column("name")
    outputs.add_column("value", overflow="fold")
    for key, value in result.outputs.items():
        outputs.add_row(key, Text(_summary(key, value)))
    out.print(outputs)
    platform_doc = result.outputs.get("platform")
    if isinstance(platform_doc, dict):
        sites = Table(title="Academies (platform document)")
        for column in ("slug", "url", "tier", "status", "steward", "languages"):
            sites.add_column(column, overflow="fold")
        for a in platform_doc.get("academies", []):
            cells = (
                a["slug"],
                a["url"],
                a["tier"],
                a["status"],
                a["steward"],
                " ".join(a["languages"]),
            )
            sites.add_row(*(Text(c) for c in cells))
        out.print(sites)


def _summary(key: str, value: Any) -> str:
    """One line per output; the whole document is in `--json`."""
    if key == "platform" and isinstance(value, dict):
        return (
            f"platform document v{value.get('version')}: {len(value.get('academies', []))} "
            f"academies, VPC {value.get('network', {}).get('vpcId')} (full document: --json)"
        )
    return value if isinstance(value, str) else json.dumps(value)


def _print_policy(out: Console, report: PolicyReport) -> None:
    """The violations (mandatory first), or one line saying the baseline holds."""
    if not report.violations:
        out.print(
            f"Policy: {report.policies} rules on {report.resources} resources, no violations."
        )
    else:
        table = Table(title="Policy violations (infra/policy)")
        table.add_column("level")
        table.add_column("rule")
        table.add_column("resource", overflow="fold")
        table.add_column("what is wrong", overflow="fold")
        for v in report.violations:
            colour = "red" if v.level == "mandatory" else "yellow"
            resource = v.urn.rsplit("::", 1)[-1] if v.urn else "(stack)"
            table.add_row(f"[{colour}]{v.level}[/]", v.policy, Text(resource), Text(v.message))
        out.print(table)
    if report.unknown:
        out.print(f"{len(report.unknown)} check(s) need values known only after deployment; "
                  "`pulumi preview --policy-pack infra/policy` reports them.")  # fmt: skip


def _print_diff(out: Console, changes: PlanDiff, baseline: Path | None) -> None:
    if changes.empty:
        out.print(f"No changes against {baseline}.")
        return
    table = Table(title=f"Changes against {baseline}")
    table.add_column("change")
    table.add_column("resource", overflow="fold")
    table.add_column("properties", overflow="fold")
    for resource in changes.added:
        table.add_row("[green]+ add[/]", Text(resource.urn), "")
    for resource in changes.removed:
        table.add_row("[red]- delete[/]", Text(resource.urn), "")
    for change in changes.changed:
        table.add_row("[yellow]~ update[/]", Text(change.urn), Text(", ".join(change.properties)))
    out.print(table)
    if changes.outputs_changed:
        out.print(f"Outputs changed: {', '.join(changes.outputs_changed)}")
    out.print(f"{len(changes.added)} to add, {len(changes.changed)} to change, "
              f"{len(changes.removed)} to delete.")  # fmt: skip
