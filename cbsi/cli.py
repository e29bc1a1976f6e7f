"""The `cbsi` command: one group per concern, and the one place where errors meet the user."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from cbsi.commands import academy as academy_commands
from cbsi.commands import cost as cost_command
from cbsi.commands import handover as handover_commands
from cbsi.commands import migrate as migrate_commands
from cbsi.commands import monitoring as monitoring_commands
from cbsi.commands import plan as plan_command
from cbsi.commands import run as run_command
from cbsi.commands import runbook as runbook_commands
from cbsi.commands import verify as verify_command
from cbsi.project import Project
from infra.errors import CbsiError

app = typer.Typer(
    name="cbsi",
    help="Operate CBSI-Connect: plan stacks, manage academies, run ops tasks, check the handover.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class State:
    """Shared by every command: where the project is."""

    project_dir: Path | None

    @property
    def project(self) -> Project:
        return Project.find(self.project_dir)


@app.callback()
def root(
    ctx: typer.Context,
    project_dir: Path | None = typer.Option(
        None,
        "--project-dir",
        help="The repository (default: the folder with Pulumi.yaml above . or $CBSI_PROJECT_DIR).",
        file_okay=False,
    ),
) -> None:
    """Operate CBSI-Connect."""
    ctx.obj = State(project_dir)


app.command("plan")(plan_command.plan)
app.command("cost")(cost_command.cost)
app.command("run")(run_command.run)
app.command("verify")(verify_command.verify)
app.add_typer(runbook_commands.app, name="runbook")
app.add_typer(academy_commands.app, name="academy")
app.add_typer(migrate_commands.app, name="migrate")
app.add_typer(handover_commands.app, name="handover")
app.add_typer(monitoring_commands.monitoring_app, name="monitoring")
app.add_typer(monitoring_commands.exporter_app, name="exporter")


def main() -> None:
    """Entry point: user errors print one `Error:` message and exit with their code (2 mostly).

    Typer itself answers argument errors (usage, exit 2); anything that is not a `CbsiError` is a
    bug and keeps its traceback.
    """
    try:
        app()
    except CbsiError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        err.print(f"[bold red]Error:[/] {lines[0]}", markup=True)
        for line in lines[1:]:
            err.print(f"  {line}", markup=False)
        if os.environ.get("CBSI_DEBUG") and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        sys.exit(exc.exit_code)
