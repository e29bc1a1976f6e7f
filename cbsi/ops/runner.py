"""Run a task on many hosts at once: a bounded pool, a timeout per host, one result per host.

A host that is down or slow fails alone; the others go on. Every run, dry or applied, appends
one JSON line to the audit log: who, when, what, on which hosts, with which arguments (secrets
masked) and how each host ended.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cbsi.ops.inventory import Host
from cbsi.ops.tasks import MASK, SECRET_WORDS, Context, Outcome, Task

if TYPE_CHECKING:
    from fabric import Connection

DEFAULT_AUDIT_LOG = Path("~/.local/state/cbsi/audit.jsonl")


@dataclass(frozen=True)
class HostResult:
    host: str
    address: str
    ok: bool
    changed: bool
    summary: str
    seconds: float


def connect(host: Host, timeout: float) -> Connection:
    """A Fabric connection; ~/.ssh/config applies (the SSM ProxyCommand for instance ids)."""
    from fabric import Config, Connection

    connect_kwargs: dict[str, Any] = {"banner_timeout": timeout, "auth_timeout": timeout}
    if host.key:
        connect_kwargs |= {"key_filename": host.key, "look_for_keys": False, "allow_agent": False}
    return Connection(
        host.address,
        user=host.user,
        port=host.port,
        connect_timeout=timeout,
        connect_kwargs=connect_kwargs,
        config=Config(overrides={"run": {"in_stream": False}}),
    )


def run_task(
    task: Task,
    hosts: list[Host],
    ctx: Context,
    parallel: int = 20,
    connector: Callable[[Host, float], Connection] = connect,
) -> list[HostResult]:
    """`task` on every host, at most `parallel` at a time, in the hosts' order."""

    def one(host: Host) -> HostResult:
        started = time.monotonic()
        try:
            with connector(host, ctx.timeout) as conn:
                outcome = task.run(conn, host, ctx)
        except Exception as exc:  # a host that is down or broken fails alone
            outcome = Outcome(False, _reason(exc))
        return HostResult(
            host.name,
            host.address,
            outcome.ok,
            outcome.changed,
            outcome.summary,
            round(time.monotonic() - started, 3),
        )

    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(hosts)))) as pool:
        return list(pool.map(one, hosts))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0][:200]}" if text else name


def masked(args: Mapping[str, str]) -> dict[str, str]:
    """Arguments for the audit log: values of secret-named keys replaced."""
    return {k: MASK if SECRET_WORDS.search(k) else v for k, v in args.items()}


def audit(
    path: Path,
    task: Task,
    role: str,
    ctx: Context,
    results: list[HostResult],
    note: str | None = None,
) -> dict[str, Any]:
    """Append the run's record to the audit log (one JSON line, written under a lock)."""
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "user": os.environ.get("SUDO_USER") or getpass.getuser(),
        "client": socket.gethostname(),
        "task": task.name,
        "role": role,
        "dryRun": task.changes and not ctx.apply,
        "hosts": [r.host for r in results],
        "args": masked(ctx.args),
        "note": note,
        "results": [asdict(r) for r in results],
        "ok": all(r.ok for r in results),
    }
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        fcntl.flock(log, fcntl.LOCK_EX)
        log.write(json.dumps(record, sort_keys=True) + "\n")
    return record
