"""`cbsi cost`: what a stack costs a month, per component and per academy."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from cbsi.commands.plan import load_stack, plan_stack


def cost(
    ctx: typer.Context,
    stack: str = typer.Option(..., "--stack", "-s", help="Stack to price: dev, staging or prod."),
    as_json: bool = typer.Option(False, "--json", help="Print every priced line as JSON."),
) -> None:
    """Estimate the stack's monthly AWS bill from its plan, cbsi/pricing.yaml and cbsi:usage.

    Shared resources are apportioned to academies by tier weight; see docs/architecture.md.
    """
    project = ctx.obj.project
    cfg, raw = load_stack(project, stack)
    from cbsi.cost import estimate

    report = estimate(plan_stack(project, stack, cfg, raw), cfg)
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
        return
    out = Console(highlight=False)
    components = Table(title=f"Monthly cost of {stack} by component (USD)", show_footer=True)
    components.add_column("component", footer="total")
    components.add_column("USD", justify="right", footer=f"{report.total_usd:,.2f}")
    for name, usd in sorted(report.components.items(), key=lambda kv: -kv[1]):
        components.add_row(name, f"{usd:,.2f}")
    out.print(components)
    academies = Table(title="Per academy (USD)", show_footer=True)
    for column, footer in (("academy", "total"), ("tier", ""), ("status", ""), ("weight", "")):
        academies.add_column(column, footer=footer)
    direct = sum(a.direct_usd for a in report.academies)
    shared = sum(a.shared_usd for a in report.academies)
    academies.add_column("own", justify="right", footer=f"{direct:,.2f}")
    academies.add_column("share", justify="right", footer=f"{shared:,.2f}")
    academies.add_column("total", justify="right", footer=f"{direct + shared:,.2f}")
    for a in sorted(report.academies, key=lambda a: -a.total_usd):
        academies.add_row(a.slug, a.tier, a.status, f"{a.weight:g}", f"{a.direct_usd:,.2f}",
                          f"{a.shared_usd:,.2f}", f"{a.total_usd:,.2f}")  # fmt: skip
    out.print(academies)
    out.print(report.rule)
    out.print("Prices: cbsi/pricing.yaml (each with its source and date); usage: cbsi:usage.")
