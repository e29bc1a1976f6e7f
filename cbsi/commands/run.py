"""`cbsi run TASK --role ROLE`: an ops task on a role's hosts, in parallel, audited."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from infra.errors import UsageError

if TYPE_CHECKING:
    from cbsi.ops.inventory import Inventory
    from cbsi.ops.runner import HostResult


def inventory_of(
    ctx: typer.Context, inventory: Path | None, platform: Path | None, stack: str | None
) -> Inventory:
    from cbsi.ops import inventory as inv

    if inventory is not None:
        return inv.from_file(inventory)
    if platform is not None:
        from cbsi.platform_source import outputs_file

        return inv.from_platform(*outputs_file(platform))
    if stack is not None:
        from cbsi.commands.plan import load_stack, plan_stack
        from infra.platform import PlatformDocument

        project = ctx.obj.project
        cfg, raw = load_stack(project, stack)
        outputs = plan_stack(project, stack, cfg, raw).outputs
        return inv.from_platform(PlatformDocument.model_validate(outputs["platform"]), outputs)
    raise UsageError(
        "say where the hosts are: --platform FILE (`pulumi stack output --json`), "
        "--inventory FILE, or --stack STACK (planned offline: placeholder addresses)"
    )


def _print_results(out: Console, title: str, results: list[HostResult]) -> None:
    table = Table(title=title)
    for column in ("host", "address", "result", "changed", "seconds", "summary"):
        table.add_column(column, overflow="fold")
    for r in results:
        ok = "[green]ok[/]" if r.ok else "[red]FAILED[/]"
        changed = "yes" if r.changed else ""
        table.add_row(r.host, r.address, ok, changed, f"{r.seconds:.1f}", Text(r.summary))
    out.print(table)


def _args(pairs: list[str]) -> dict[str, str]:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--arg {pair}: write it as KEY=VALUE")
        args[key] = value
    return args


def run(
    ctx: typer.Context,
    task: str = typer.Argument(
        ..., help="status, disk, restart, rotate-turn-secret, diagnostics or security-updates"
    ),
    role: str = typer.Option(..., "--role", "-r", help="relays or monitoring"),
    hosts: str | None = typer.Option(None, "--hosts", "-H", help="H,... (names or addresses)"),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Apply a changing task (default: dry run)."
    ),
    inventory: Path | None = typer.Option(None, "--inventory", help="An inventory YAML file."),
    platform: Path | None = typer.Option(None, "--platform", help="`pulumi stack output --json`."),
    stack: str | None = typer.Option(None, "--stack", "-s", help="Plan the stack for its hosts."),
    user: str | None = typer.Option(None, "--user", help="SSH login (default admin)."),
    port: int | None = typer.Option(None, "--port", help="SSH port.", min=1, max=65535),
    key: Path | None = typer.Option(None, "--key", help="SSH private key.", dir_okay=False),
    parallel: int = typer.Option(20, "--parallel", help="Hosts at once.", min=1, max=200),
    timeout: float = typer.Option(
        30.0, "--timeout", help="Seconds per connection and command.", min=1
    ),
    arg: list[str] = typer.Option([], "--arg", help="KEY=VALUE for the task (repeatable)."),
    out: Path = typer.Option(Path("diagnostics"), "--out", help="Where diagnostics go."),
    audit_log: Path | None = typer.Option(
        None, "--audit-log", help="Default $CBSI_AUDIT_LOG or ~/.local/state/cbsi/audit.jsonl."
    ),
) -> None:
    """Run TASK on the role's hosts: a bounded pool, a timeout per host, a results table.

    Changing tasks (restart, rotate-turn-secret, security-updates) are a dry run unless --yes
    (or, at a terminal, a confirmation). Every run is appended to the audit log. Exit 0 when
    every host succeeded, 1 when any failed, 2 for a wrong argument.
    """
    from cbsi.ops.runner import DEFAULT_AUDIT_LOG, audit, run_task
    from cbsi.ops.tasks import TASKS, Context

    if task not in TASKS:
        raise UsageError(f"no task {task!r}; use one of {', '.join(TASKS)}")
    chosen = TASKS[task]
    if role not in chosen.roles:
        raise UsageError(f"{task} runs on {' or '.join(chosen.roles)}, not --role {role}")
    args = _args(arg)
    if chosen.check_args:
        chosen.check_args(args)
    found = inventory_of(ctx, inventory, platform, stack)
    targets = [
        replace(h, port=port or h.port, user=user or h.user, key=str(key) if key else h.key)
        for h in found.select(role, hosts)
    ]
    log = audit_log or Path(os.environ.get("CBSI_AUDIT_LOG") or DEFAULT_AUDIT_LOG)
    out_console = Console(highlight=False)
    apply = yes
    if chosen.changes and not yes and sys.stdin.isatty():
        apply = typer.confirm(f"Apply {task} to {len(targets)} host(s) of {role}?", default=False)
    context = Context(apply=apply, args=args, timeout=timeout, out_dir=out)

    if chosen.preflight and apply:
        # Nothing is changed unless every host is reachable and ready: a relay left behind with
        # the old secret would refuse every credential Moodle issues with the new one.
        check = replace(chosen, run=chosen.preflight)
        results = run_task(check, targets, context, parallel=parallel)
        if not all(r.ok for r in results):
            audit(log, chosen, role, context, results, "aborted: preflight failed, nothing changed")
            _print_results(out_console, f"{task} on {role}: preflight", results)
            out_console.print("Preflight failed: nothing changed. Fix the hosts above and rerun.")
            raise typer.Exit(1)
    note = chosen.prepare(context, found.platform) if chosen.prepare else None
    if note:
        out_console.print(note)
    results = run_task(chosen, targets, context, parallel=parallel)
    if chosen.complete and all(r.ok for r in results):
        note = chosen.complete(context, found.platform) or note
    audit(log, chosen, role, context, results, note)

    dry = chosen.changes and not apply
    _print_results(out_console, f"{task} on {role}" + (" (dry run)" if dry else ""), results)
    if note and not dry:
        out_console.print(note)
    failed = [r.host for r in results if not r.ok]
    if dry:
        out_console.print("Dry run: nothing changed. Apply with --yes.")
    out_console.print(f"{len(results) - len(failed)} of {len(results)} hosts ok; audit: {log}")
    if failed:
        raise typer.Exit(1)
