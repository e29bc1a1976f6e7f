"""`cbsi handover check`: is IMPACS ready to run the platform alone? (runbooks/handover.md)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

from cbsi.aws import ClientFactory, boto3_clients
from cbsi.handover.model import Context
from infra.errors import UsageError

app = typer.Typer(help="The handover from INL to IMPACS: readiness evidence.", no_args_is_help=True)
FORMATS = ("table", "md", "json")


def make_clients(endpoint_url: str | None, profile: str | None) -> ClientFactory:
    """The boundary tests replace: boto3 clients for the account being checked."""
    return boto3_clients(endpoint_url, profile)


@app.command("check")
def check(
    ctx: typer.Context,
    stack: str = typer.Option(..., "--stack", "-s", help="The stack to check (prod)."),
    platform: Path | None = typer.Option(
        None, "--platform", help="`pulumi stack output --json` of the stack (default: run it)."
    ),
    records: Path | None = typer.Option(
        None, "--records", help="Restore tests, access reviews, sign-offs (runbooks/records.yaml)."
    ),
    profile: str | None = typer.Option(None, "--profile", help="AWS profile of IMPACS's account."),
    endpoint_url: str | None = typer.Option(None, "--endpoint-url", help="AWS endpoint (tests)."),
    output: str = typer.Option("table", "--format", "-f", help="table, md or json."),
    only: str | None = typer.Option(None, "--only", help="Comma-separated check ids."),
) -> None:
    """Run every readiness check against the live account, the repository and the stack's
    config. Exit 1 if a blocking check fails, 0 otherwise (manual items never block)."""
    from cbsi.commands.plan import load_stack
    from cbsi.handover.model import CHECKS, run_checks
    from cbsi.handover.records import Records
    from cbsi.handover.report import as_json, as_markdown, print_table
    from cbsi.platform_source import outputs_file

    if output not in FORMATS:
        raise UsageError(f"--format {output!r}: choose one of {', '.join(FORMATS)}")
    project = ctx.obj.project
    cfg, _ = load_stack(project, stack)
    if records is not None and not records.is_file():
        raise UsageError(f"--records {records}: no such file; runbooks/records.yaml shows its form")
    book = Records.load(records or project.root / "runbooks" / "records.yaml")
    doc = outputs_file(platform or _stack_outputs(project.root, stack))[0]
    if doc.stack != stack:
        raise UsageError(f"--platform {platform}: it is stack {doc.stack}'s output, not {stack}'s")
    wanted = {i.strip() for i in only.split(",")} if only else None
    from cbsi.handover import checks  # noqa: F401

    unknown = (wanted or set()) - {c.id for c in CHECKS}
    if unknown:
        raise UsageError(f"--only: no check {', '.join(sorted(unknown))}; ids are HO-01 and up")
    context = Context(
        stack, cfg, doc, project, book, make_clients(endpoint_url, profile), datetime.now(UTC)
    )
    account = _account(context)
    results = run_checks(context, wanted)
    if output == "json":
        sys.stdout.write(as_json(stack, account, context.now, results))
    elif output == "md":
        sys.stdout.write(as_markdown(stack, account, context.now, results))
    else:
        print_table(Console(highlight=False), stack, account, results)
    if any(r.finding.status == "fail" and r.check.blocking for r in results):
        raise typer.Exit(1)


def _account(context: Context) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return context.account
    except NoCredentialsError:
        raise UsageError("no AWS credentials; pass --profile with IMPACS's account") from None
    except (ClientError, BotoCoreError) as exc:
        raise UsageError(f"cannot reach AWS to identify the account: {exc}") from None


def _stack_outputs(root: Path, stack: str) -> Path:
    """`pulumi stack output --json`, written to a temporary file, where the CLI is installed."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise UsageError(
            "no Pulumi CLI here to read the stack's outputs; run `pulumi stack output --json "
            f"--stack {stack} > outputs.json` where it is, and pass --platform outputs.json"
        )
    done = subprocess.run(
        [pulumi, "stack", "output", "--json", "--stack", stack],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise UsageError(f"pulumi stack output --stack {stack} failed: {done.stderr.strip()[:300]}")
    path = Path(tempfile.mkstemp(prefix="cbsi-outputs-", suffix=".json")[1])
    path.write_text(json.dumps(json.loads(done.stdout)))
    return path
