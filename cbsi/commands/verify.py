"""`cbsi verify --role ROLE`: the host conformance specs (tests/hosts) on a role's hosts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from cbsi.commands.run import inventory_of
from infra.errors import UsageError

SPECS = {"relays": "test_relay.py", "monitoring": "test_monitoring_host.py"}


def verify(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role", "-r", help="relays or monitoring"),
    hosts: str | None = typer.Option(None, "--hosts", "-H", help="H,... (names or addresses)"),
    inventory: Path | None = typer.Option(None, "--inventory", help="An inventory YAML file."),
    platform: Path | None = typer.Option(None, "--platform", help="`pulumi stack output --json`."),
    stack: str | None = typer.Option(None, "--stack", "-s", help="Plan the stack for its hosts."),
    except_: list[str] = typer.Option(
        [], "--except", help="Leave out checks whose name has this (repeatable)."
    ),
) -> None:
    """Run pytest-testinfra's specs for the role on each of its hosts over SSH (sudo unless the
    login is root); exit 0 when every check passes on every host."""
    if role not in SPECS:
        raise UsageError(f"--role {role}: no such role; use one of {', '.join(SPECS)}")
    found = inventory_of(ctx, inventory, platform, stack)
    targets = found.select(role, hosts)
    spec = Path(__file__).resolve().parents[2] / "tests" / "hosts" / SPECS[role]
    if not spec.is_file():
        raise UsageError(f"{spec} is missing: run cbsi verify from a checkout of the repository")
    urls = ",".join(f"paramiko://{h.user}@{h.address}:{h.port}" for h in targets)
    argv = [sys.executable, "-m", "pytest", str(spec), f"--hosts={urls}", "-p", "no:cacheprovider",
            "-q", "-W", "ignore::UserWarning"]  # fmt: skip
    keys = {h.key for h in targets if h.key}
    if keys:
        argv.append(f"--ssh-identity-file={keys.pop()}")
    if any(h.user != "root" for h in targets):
        argv.append("--sudo")
    if except_:
        argv += ["-k", " and ".join(f"not {name}" for name in except_)]
    vars = targets[0].vars
    env = {**os.environ, "CBSI_RELAY_CONFIG": vars.get("config", "/etc/turnserver.conf"),
           "CBSI_NODE_EXPORTER_PORT": vars.get("node_exporter_port", "9100")}  # fmt: skip
    raise typer.Exit(subprocess.run(argv, env=env, check=False).returncode)
