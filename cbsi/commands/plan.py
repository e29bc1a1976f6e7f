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

from infra.config import parse_config, read_stack_file, split_namespaces

if TYPE_CHECKING:
    from cbsi.planfile import Plan, PlanDiff, PlannedResource


def plan(
    ctx: typer.Context,
    stack: str = typer.Option(..., "--stack", "-s", help="Stack to plan: dev, staging or prod."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    save: Path | None = typer.Option(None, "--save", help="Also write the JSON plan to FILE.",
                                     dir_okay=False),
    diff: Path | None = typer.Option(None, "--diff", help="Compare with a plan saved by --save.",
                                     dir_okay=False),
) -> None:  # fmt: skip
    """Run the real Pulumi program under the SDK's mocks and show what it would create.

    Exit codes: 0 planned, 2 the config or an argument is wrong, 1 the program failed.
    """
    project = ctx.obj.project
    stack_file = project.stack_file(stack)
    source = project.relative(stack_file)
    raw = read_stack_file(stack_file, source)
    cfg = parse_config(split_namespaces(raw, source), source)

    # Imported here so that config errors answer before pulumi is loaded.
    from cbsi.planfile import Plan, build_plan, diff_plans
    from cbsi.planner import run_program

    baseline = Plan.load(diff) if diff else None
    result = build_plan(run_program(project.program, stack, raw, cfg.region))
    changes = diff_plans(baseline, result) if baseline else None
    document = result.model_dump(mode="json", by_alias=True)
    if save:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    if as_json:
        if changes is not None:
            document["diff"] = changes.model_dump(mode="json", by_alias=True)
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return

    out = Console(highlight=False)
    if changes is not None:
        _print_diff(out, changes, diff)
        return
    _print_plan(out, result)
    if save:
        out.print(f"Saved to {save}. Review a change later with: "
                  f"cbsi plan --stack {stack} --diff {save}")  # fmt: skip


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
