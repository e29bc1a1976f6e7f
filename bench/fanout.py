"""Benchmark `cbsi run status` over 50 hosts against plain ssh and Ansible, side by side.

50 "hosts" are 127.0.0.2-51 served by local sshd instances (one listens on at most 16 addresses).
Measured in one run, each the median of --runs:
  floor      50 plain `ssh HOST uptime` in parallel (xargs -P 50)
  cbsi       cbsi run status --role relays (results table and audit log included)
  ansible    ansible all -m command -a uptime, default forks (5) and forks 50
ansible-core is installed from PyPI into a throwaway virtualenv (not a project dependency).
Prints a table; it is not a test.

    .venv/bin/python bench/fanout.py [--runs 3] [--hosts 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.sshd import MAX_LISTEN, Sshd, keypair  # noqa: E402

ANSIBLE_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "cbsi-bench-ansible"
)


def ansible() -> Path:
    """`ansible`, from a virtualenv of its own, installed on first use."""
    binary = ANSIBLE_VENV / "bin" / "ansible"
    if not binary.exists():
        venv.create(ANSIBLE_VENV, with_pip=True)
        subprocess.run([ANSIBLE_VENV / "bin" / "pip", "install", "--quiet", "ansible-core"],
                       check=True)  # fmt: skip
    return binary


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None, ok: bool = True) -> float:
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        walls.append(time.perf_counter() - start)
        if ok and result.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr[-800:]}")
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=50)
    options = parser.parse_args()
    addresses = [f"127.0.0.{i}" for i in range(2, 2 + options.hosts)]

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        key = keypair(base / "client_key")
        servers = [
            Sshd(base / f"sshd-{n}", addresses[n : n + MAX_LISTEN], client_key=key).start()
            for n in range(0, len(addresses), MAX_LISTEN)
        ]
        try:
            pairs = [(a, s.port) for s in servers for a in s.addresses]
            user = servers[0].user
            ssh_opts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-i", str(key)]  # fmt: skip
            targets = base / "targets"
            targets.write_text("".join(f"{a} {p}\n" for a, p in pairs))
            floor_cmd = (
                f'xargs -P {len(pairs)} -L 1 sh -c \'ssh {" ".join(ssh_opts)} -p "$1" '
                f'{user}@"$0" uptime\' < {targets}'
            )
            floor = timed(["sh", "-c", floor_cmd], options.runs)

            inventory = base / "inventory.yaml"
            inventory.write_text(
                f"user: {user}\nkey: {key}\nroles:\n  relays:\n    hosts:\n"
                + "".join(
                    f"      - {{name: h{i}, address: {a}, port: {p}}}\n"
                    for i, (a, p) in enumerate(pairs)
                )
            )
            cbsi = [str(ROOT / ".venv" / "bin" / "cbsi"), "run", "status", "--role", "relays",
                    "--inventory", str(inventory), "--audit-log", str(base / "audit.jsonl")]  # fmt: skip
            ours = timed([*cbsi, "--parallel", str(len(pairs))], options.runs)

            ini = base / "hosts.ini"
            ini.write_text(
                "[relays]\n"
                + "".join(f"{a} ansible_port={p}\n" for a, p in pairs)
                + f"[relays:vars]\nansible_user={user}\nansible_ssh_private_key_file={key}\n"
            )
            env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False",
                   "ANSIBLE_SSH_ARGS": "-o UserKnownHostsFile=/dev/null",
                   # The "hosts" are this machine: name a real interpreter, not a pyenv shim.
                   "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"
                   if Path("/usr/bin/python3").exists() else sys.executable}  # fmt: skip
            binary = str(ansible())
            adhoc = [binary, "relays", "-i", str(ini), "-m", "command", "-a", "uptime"]
            ansible_default = timed(adhoc, options.runs, env)
            ansible_wide = timed([*adhoc, "-f", str(len(pairs))], options.runs, env)
        finally:
            for server in servers:
                server.stop()

    print(f"{len(pairs)} hosts on {len(servers)} local sshd; median of {options.runs} runs; "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"{'command':<52} {'wall s':>7} {'x floor':>8}")
    for name, wall in (
        (f"floor: {len(pairs)} x ssh HOST uptime (xargs -P {len(pairs)})", floor),
        ("cbsi run status (table and audit log)", ours),
        ("ansible -m command -a uptime (default forks 5)", ansible_default),
        (f"ansible -m command -a uptime -f {len(pairs)}", ansible_wide),
    ):
        print(f"{name:<52} {wall:7.2f} {wall / floor:8.2f}")
    print(f"cbsi / floor: {ours / floor:.2f}x (target <= 1.25x)")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
