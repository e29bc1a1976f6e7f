"""What `cbsi run` can do on a host: one function a task, over a Fabric connection.

Each task reads the host's state first and, when it changes something, acts only on a difference,
so a rerun is safe. A changing task does nothing unless `apply` is set: it says what it would do.
Secrets reach hosts on standard input, never in a command line (process lists, audit log).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import shlex
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.errors import UsageError

if TYPE_CHECKING:
    from fabric import Connection

    from cbsi.ops.inventory import Host

# Words that make a key name a secret's, in config lines and in task arguments.
SECRET_WORDS = re.compile(r"secret|password|passwd|token|private[_-]?key|auth", re.IGNORECASE)
# `key = value` or `key: value` lines whose key names a secret; their values never leave a host.
SECRET_LINE = re.compile(rf"(?im)^(\s*[\w.-]*(?:{SECRET_WORDS.pattern})[\w.-]*\s*[=:]\s*)\S.*$")
MASK = "***"


def mask(text: str) -> str:
    return SECRET_LINE.sub(lambda m: m.group(1) + MASK, text)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    summary: str
    changed: bool = False


@dataclass
class Context:
    """What a run shares between hosts: apply or not, the arguments, prepared state."""

    apply: bool
    args: Mapping[str, str]
    timeout: float
    out_dir: Path = Path("diagnostics")
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    name: str
    help: str
    changes: bool
    run: Callable[[Connection, Host, Context], Outcome]
    roles: tuple[str, ...] = ("relays", "monitoring")
    # Runs once, locally, before the hosts (the rotation's new secret).
    prepare: Callable[[Context, Mapping[str, str]], str | None] | None = None
    # Runs on every host before `prepare` changes anything; one failure aborts the run.
    preflight: Callable[[Connection, Host, Context], Outcome] | None = None
    # Runs once, locally, after every host succeeded (the rotation makes the secret current).
    complete: Callable[[Context, Mapping[str, str]], str | None] | None = None
    # Checks the task's --arg values before any host is reached; raises UsageError.
    check_args: Callable[[Mapping[str, str]], None] | None = None


def sh(conn: Connection, host: Host, command: str, ctx: Context, **kwargs: Any) -> Any:
    """Run `command` as root (through `sudo -n` unless the login is root); never raises on a
    non-zero exit: the caller reads `.ok` and `.stdout`."""
    if host.user != "root":
        command = f"sudo -n sh -c {shlex.quote(command)}"
    return conn.run(command, hide=True, warn=True, timeout=ctx.timeout, in_stream=False, **kwargs)


def _status(conn: Connection, host: Host, ctx: Context) -> Outcome:
    services = host.vars.get("services", "").split()
    probe = "; ".join(
        f"printf '%s=' {shlex.quote(s)}; systemctl is-active {shlex.quote(s)} 2>/dev/null "
        "|| echo unknown"
        for s in services
    )
    result = sh(conn, host, f"uptime; {probe}" if probe else "uptime", ctx)
    if not result.ok:
        return Outcome(False, result.stderr.strip()[:200] or f"exit {result.exited}")
    lines = result.stdout.strip().splitlines()
    uptime = lines[0].strip() if lines else ""
    states = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    down = [s for s, state in states.items() if state in ("inactive", "failed")]
    services_text = ", ".join(f"{s} {state}" for s, state in states.items())
    summary = f"{uptime}; {services_text}" if services_text else uptime
    return Outcome(not down, summary)


def _check_threshold(args: Mapping[str, str]) -> None:
    value = args.get("threshold", "85")
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise UsageError(f"--arg threshold={value}: give a percentage from 1 to 100")


def _check_service(args: Mapping[str, str]) -> None:
    service = args.get("service")
    if service is not None and not re.fullmatch(r"[A-Za-z0-9@._-]+", service):
        raise UsageError(f"--arg service={service!r}: not a service name (e.g. coturn)")


def _disk(conn: Connection, host: Host, ctx: Context) -> Outcome:
    threshold = int(ctx.args.get("threshold", "85"))
    result = sh(conn, host, "df -P -x tmpfs -x devtmpfs -x overlay -x squashfs", ctx)
    if not result.ok:
        return Outcome(False, result.stderr.strip()[:200])
    usage = {}
    for line in result.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6 and parts[4].endswith("%"):
            usage[parts[5]] = int(parts[4].rstrip("%"))
    full = {mount: pct for mount, pct in usage.items() if pct >= threshold}
    text = ", ".join(f"{m} {p}%" for m, p in sorted(usage.items()))
    return Outcome(not full, f"{text} (threshold {threshold}%)")


def _restart(conn: Connection, host: Host, ctx: Context) -> Outcome:
    service = ctx.args.get("service", host.vars.get("service", ""))
    command = (
        host.vars["restart"]
        if service == host.vars.get("service") and "restart" in host.vars
        else f"systemctl restart {service}"
    )
    if not ctx.apply:
        return Outcome(True, f"would run: {command}")
    result = sh(conn, host, command, ctx)
    if not result.ok:
        return Outcome(False, f"{command}: {result.stderr.strip()[:200]}", changed=True)
    return Outcome(True, f"restarted {service}", changed=True)


def _secrets_client(platform: Mapping[str, str]) -> tuple[Any, str]:
    from cbsi.aws import boto3_clients

    arn, region = platform.get("turn_secret_arn"), platform.get("region")
    if not arn or not region:
        raise UsageError(
            "rotate-turn-secret needs the TURN secret's ARN and region: use --platform or "
            "--stack, or set vars turn_secret_arn and region in the inventory"
        )
    return boto3_clients()("secretsmanager", region), arn


def _prepare_rotation(ctx: Context, platform: Mapping[str, str]) -> str | None:
    """Which secrets the relays must accept. Rotating: the current one and a new one, so that
    no credential is refused while Moodle moves over. Finishing (--arg finish=true): the current
    one alone. Secrets Manager is not touched here (see `_complete_rotation`)."""
    import secrets

    finish = ctx.args.get("finish") == "true"
    client, arn = _secrets_client(platform)
    if not ctx.apply:
        return (
            f"would leave only the current secret of {arn} on each relay"
            if finish
            else f"would add a new secret beside the current one on each relay, then make it "
            f"current in {arn}"
        )
    current = client.get_secret_value(SecretId=arn)["SecretString"]
    new = None if finish else secrets.token_urlsafe(36)  # [A-Za-z0-9_-]: safe in the config
    ctx.state.update(current=current, new=new, accept=[current] if finish else [current, new])
    return None


def _complete_rotation(ctx: Context, platform: Mapping[str, str]) -> str | None:
    """Once every relay accepts both: the new secret becomes current, for Moodle to use."""
    if not ctx.apply or ctx.state.get("new") is None:
        return None
    client, arn = _secrets_client(platform)
    client.put_secret_value(SecretId=arn, SecretString=ctx.state["new"])
    return (
        f"{arn} now holds secret {_fingerprint(ctx.state['new'])}; the relays accept it and the "
        "old one. When the longest TURN credential issued before now has expired, finish with "
        "--arg finish=true."
    )


def _config_readable(conn: Connection, host: Host, ctx: Context) -> Outcome:
    """The host answers and its coturn config can be read: safe to change the secret."""
    config = host.vars["config"]
    result = sh(conn, host, f"grep -c '^static-auth-secret=' {shlex.quote(config)}", ctx)
    if not result.ok:
        return Outcome(False, f"cannot read static-auth-secret in {config}")
    return Outcome(True, f"{config} readable")


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def _rotate(conn: Connection, host: Host, ctx: Context) -> Outcome:
    """Make the relay accept exactly `ctx.state["accept"]` (restarting coturn only if that is a
    change), then prove each of them allocates."""
    config = host.vars["config"]
    current = sh(conn, host, f"sed -n 's/^static-auth-secret=//p' {shlex.quote(config)}", ctx)
    if not current.ok:
        return Outcome(False, f"cannot read {config}: {current.stderr.strip()[:200]}")
    if not ctx.apply:
        return Outcome(
            True, f"would rewrite static-auth-secret in {config} and run {host.vars['restart']}"
        )
    accept: list[str] = ctx.state["accept"]
    changed = current.stdout.split() != accept
    if changed:
        path = shlex.quote(config)
        script = (
            f"grep -v '^static-auth-secret=' {path} > {path}.new && "
            "while IFS= read -r secret; do printf 'static-auth-secret=%s\\n' \"$secret\"; done"
            f" >> {path}.new && cat {path}.new > {path} && rm {path}.new && {host.vars['restart']}"
        )
        if host.user != "root":
            script = f"sudo -n sh -c {shlex.quote(script)}"
        lines = io.StringIO("".join(f"{secret}\n" for secret in accept))
        result = conn.run(script, hide=True, warn=True, timeout=ctx.timeout, in_stream=lines)
        if not result.ok:
            return Outcome(False, f"rewrite or restart failed: {result.stderr.strip()[:200]}")
    from monitoring.sources.turn import turn_allocation

    turn_host = host.vars.get("turn_host", host.address)
    port = int(host.vars.get("turn_port", "3478"))
    timings = []
    for secret in accept:
        took = None
        for _ in range(10):  # coturn takes a moment to listen again after the restart
            took = asyncio.run(turn_allocation(turn_host, port, secret, timeout=2.0))
            if took is not None:
                break
            time.sleep(0.5)
        if took is None:
            return Outcome(False, f"an allocation with secret {_fingerprint(secret)} failed",
                           changed=changed)  # fmt: skip
        timings.append(f"{_fingerprint(secret)} ok ({took * 1000:.0f} ms)")
    verb = "now accepts" if changed else "already accepts"
    return Outcome(True, f"{verb} {len(accept)} secret(s): " + ", ".join(timings), changed=changed)


def _diagnostics(conn: Connection, host: Host, ctx: Context) -> Outcome:
    """Logs, config (secrets masked), service status and sockets into a local tarball."""
    services = " ".join(shlex.quote(s) for s in host.vars.get("services", "").split())
    commands = {
        "uptime.txt": "uptime",
        "services.txt": f"systemctl status {services} --no-pager 2>&1 || true",
        "logs.txt": f"{host.vars.get('logs', 'true')} 2>&1 || true",
        "config.txt": f"cat {shlex.quote(host.vars.get('config', '/dev/null'))} 2>&1 || true",
        "sockets.txt": "ss -lntup 2>&1 || netstat -lntup 2>&1 || true",
        "disk.txt": "df -h 2>&1",
    }
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = ctx.out_dir / f"cbsi-diagnostics-{host.name}-{stamp}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, command in commands.items():
            result = sh(conn, host, command, ctx)
            data = mask(result.stdout).encode()
            info = tarfile.TarInfo(f"{host.name}/{name}")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return Outcome(True, f"wrote {path}")


def _security_updates(conn: Connection, host: Host, ctx: Context) -> Outcome:
    simulate = sh(conn, host, "apt-get -s -o Debug::NoLocking=1 upgrade", ctx)
    if not simulate.ok:
        return Outcome(False, f"apt-get -s upgrade: {simulate.stderr.strip()[:200]}")
    pending = [line.split()[1] for line in simulate.stdout.splitlines() if line.startswith("Inst ")]
    if not pending:
        return Outcome(True, "up to date")
    names = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
    if not ctx.apply:
        return Outcome(True, f"would upgrade {len(pending)} packages: {names}")
    command = (
        "DEBIAN_FRONTEND=noninteractive unattended-upgrade -v 2>&1 || "
        "DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confold upgrade"
    )
    result = sh(conn, host, command, ctx)
    return Outcome(
        result.ok,
        f"upgraded {len(pending)} packages" if result.ok else result.stderr.strip()[:200],
        changed=True,
    )


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("status", "Uptime and the role's services", False, _status),
        Task(
            "disk",
            "Disk usage per file system (--arg threshold=85)",
            False,
            _disk,
            check_args=_check_threshold,
        ),
        Task(
            "restart",
            "Restart the role's service (--arg service=NAME)",
            True,
            _restart,
            check_args=_check_service,
        ),
        Task(
            "rotate-turn-secret",
            "A new TURN secret: first accepted by every relay beside the current one (verified by "
            "allocations), then made current in Secrets Manager; --arg finish=true later leaves "
            "only the current one",
            True,
            _rotate,
            roles=("relays",),
            prepare=_prepare_rotation,
            preflight=_config_readable,
            complete=_complete_rotation,
        ),
        Task(
            "diagnostics",
            "Logs, masked config and status into a local tarball (--out)",
            False,
            _diagnostics,
        ),
        Task("security-updates", "Pending upgrades; applied with --yes", True, _security_updates),
    )
}
