"""`cbsi academy`: the academy registry in a stack file (list, show, add, set-status)."""

from __future__ import annotations

from typing import get_args

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cbsi.registry import StackFile, flow_list
from infra.config import Language, Organisation, Status, Tier
from infra.errors import UsageError

app = typer.Typer(help="List and change the academy registry of a stack.", no_args_is_help=True)
out = Console(highlight=False)

STACK = typer.Option(..., "--stack", "-s", help="Stack whose registry to read or change.")


def _open(ctx: typer.Context, stack: str) -> StackFile:
    project = ctx.obj.project
    path = project.stack_file(stack)
    return StackFile(path, project.relative(path))


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise UsageError(f"{option} {value!r} is not one of: {', '.join(allowed)}")
    return value


def _review(stack: str) -> None:
    out.print(
        "Validated and saved. Review the change before `pulumi up`:\n"
        f"  cbsi plan --stack {stack} --diff plans/{stack}.json"
    )


@app.command("list")
def list_academies(ctx: typer.Context, stack: str = STACK) -> None:
    """One line per academy."""
    cfg = _open(ctx, stack).validate()
    table = Table(title=f"Academies of {stack}")
    for column in ("slug", "name", "country", "hostname", "tier", "status", "steward"):
        table.add_column(column, overflow="fold")
    for a in cfg.academies:
        cells = (a.slug, a.name, a.country, a.hostname, a.tier, a.status, a.steward)
        table.add_row(*(Text(c) for c in cells))
    out.print(table)


@app.command()
def show(ctx: typer.Context, slug: str, stack: str = STACK) -> None:
    """Everything the registry says about one academy."""
    stack_file = _open(ctx, stack)
    cfg = stack_file.validate()
    stack_file.index(slug)  # a helpful error for an unknown slug
    academy = cfg.academy(slug)
    table = Table(show_header=False, title=f"{academy.name} ({stack})")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    rows = {
        "slug": academy.slug,
        "name": academy.name,
        "country": academy.country,
        "languages": ", ".join(academy.languages),
        "hostname": academy.hostname,
        "url": f"https://{academy.hostname}/",
        "tier": academy.tier,
        "status": academy.status,
        "steward": academy.steward,
        "admins": "; ".join(f"{c.name} <{c.email}>" for c in academy.admins),
    }
    for key, value in rows.items():
        table.add_row(key, Text(value))
    out.print(table)


@app.command()
def add(
    ctx: typer.Context,
    stack: str = STACK,
    slug: str = typer.Option(..., help="DNS label, e.g. 'belize'."),
    name: str = typer.Option(..., help="Display name."),
    country: str = typer.Option(..., help="ISO 3166 alpha-2 code, e.g. BZ."),
    languages: str = typer.Option("en", help="Comma-separated, default first: en,es,fr,nl."),
    tier: str = typer.Option("small", help="small, medium or large."),
    admin_name: str = typer.Option(..., help="The academy's LMS administrator."),
    admin_email: str = typer.Option(..., help="Their e-mail."),
    steward: str = typer.Option("inl", help="inl or impacs."),
    status: str = typer.Option("onboarding", help="onboarding, active or offboarded."),
    hostname: str | None = typer.Option(None, help="Default: <slug>.<cbsi:domain>."),
) -> None:
    """Add an academy to the registry (validated before the file is written)."""
    stack_file = _open(ctx, stack)
    chosen = [x.strip() for x in languages.split(",") if x.strip()]
    for language in chosen:
        _choice(language, get_args(Language), "--languages")
    entry = {
        "slug": slug,
        "name": name,
        "country": country,
        "languages": flow_list(chosen),
        "hostname": hostname or f"{slug}.{stack_file.config.get('cbsi:domain')}",
        "tier": _choice(tier, get_args(Tier), "--tier"),
        "admins": [{"name": admin_name, "email": admin_email}],
        "steward": _choice(steward, get_args(Organisation), "--steward"),
        "status": _choice(status, get_args(Status), "--status"),
    }
    stack_file.academies.append(entry)
    stack_file.save()
    out.print(f"Added {slug} to {stack_file.source}.")
    _review(stack)


@app.command("set-status")
def set_status(ctx: typer.Context, slug: str, status: str, stack: str = STACK) -> None:
    """Change an academy's status: onboarding, active or offboarded (data is always kept)."""
    stack_file = _open(ctx, stack)
    _choice(status, get_args(Status), "STATUS")
    index = stack_file.index(slug)
    previous = stack_file.academies[index]["status"]
    stack_file.academies[index]["status"] = status
    stack_file.save()
    out.print(f"{slug}: {previous} -> {status} in {stack_file.source}.")
    _review(stack)
