"""Benchmark `cbsi plan`: prod (19 academies) and a generated 200-academy registry vs the floor.

The floor is a bare Python process that imports `pulumi` and the `pulumi_aws` service modules the
program uses (read from the prod plan), and nothing else. pulumi_aws loads a service module lazily,
on first attribute access, so the floor touches each resource class the plan uses: a bare
`import pulumi_aws.ec2` would load almost nothing and measure no real floor. Each command runs
several times; the figures are the median wall time and the largest peak RSS of its runs. Prints a
table; it is not a test.

    .venv/bin/python bench/plan.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
CBSI = [sys.executable, "-m", "cbsi"]


def measure(argv: list[str], runs: int) -> tuple[float, float, str]:
    """Median wall seconds, peak RSS in MiB, and the last run's stdout."""
    walls, peaks, out = [], [], ""
    for _ in range(runs):
        start = time.perf_counter()
        with tempfile.TemporaryFile() as sink:
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, cwd=ROOT)
            _, status, usage = os.wait4(proc.pid, 0)
            walls.append(time.perf_counter() - start)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            sink.seek(0)
            out = sink.read().decode()
        peaks.append(usage.ru_maxrss / 1024)
    return statistics.median(walls), max(peaks), out


# In a process of its own: plan the stack, then time the policy pack and the cost estimate on it,
# which `cbsi plan` runs after the program. Prints seconds: evaluation, estimate.
POLICY_CODE = """
import sys, time
from pathlib import Path
from cbsi.commands.plan import load_stack, plan_stack
from cbsi.cost import estimate
from cbsi.policy import evaluate
from cbsi.project import Project
project = Project.find(Path(sys.argv[1]))
cfg, raw = load_stack(project, "prod")
plan = plan_stack(project, "prod", cfg, raw)
start = time.perf_counter(); report = evaluate(plan); middle = time.perf_counter()
estimate(plan, cfg); end = time.perf_counter()
assert not report.mandatory, report.mandatory
print(middle - start, end - middle)
"""


def policy_seconds(project: Path, runs: int) -> tuple[float, float]:
    """Median seconds of the policy evaluation and of the cost estimate of a plan."""
    evaluations, estimates = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", POLICY_CODE, str(project)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        ).stdout.split()  # fmt: skip
        evaluations.append(float(out[0]))
        estimates.append(float(out[1]))
    return statistics.median(evaluations), statistics.median(estimates)


def big_registry(project: Path, count: int) -> None:
    """A copy of the prod stack whose registry has `count` generated academies."""
    yaml = YAML()
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    document = yaml.load(stack_file)
    config = document["config"]
    template = dict(config["cbsi:academies"][1])
    academies = []
    for i in range(count):
        slug = f"academy-{i:03d}"
        academies.append({**template, "slug": slug, "name": f"Academy {i:03d}",
                          "hostname": f"{slug}.{config['cbsi:domain']}"})  # fmt: skip
    config["cbsi:academies"] = academies
    yaml.dump(document, stack_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copy(ROOT / "Pulumi.yaml", project)
        shutil.copytree(ROOT / "stacks", project / "stacks")
        (project / "infra").symlink_to(ROOT / "infra")
        big_registry(project, 200)

        prod_wall, prod_rss, prod_out = measure([*CBSI, "plan", "--stack", "prod", "--json"], runs)
        prod_plan = json.loads(prod_out)
        packages = {"aws": "pulumi_aws", "random": "pulumi_random"}
        classes = set()
        for token in prod_plan["counts"]:
            package, module, name = token.split(":")
            module = module.split("/")[0]
            path = packages[package] + ("" if module == "index" else f".{module}")
            classes.add((path, name))
        services = sorted({path.split(".", 1)[-1] for path, _ in classes})
        floor_code = "import pulumi\n" + "".join(
            f"import {path}\n{path}.{name}\n" for path, name in sorted(classes)
        )
        floor_wall, floor_rss, _ = measure([sys.executable, "-c", floor_code], runs)
        # The SDK's own cost of registering as many resources under its plain mocks.
        sdk_argv = [
            sys.executable,
            str(ROOT / "bench" / "sdk_floor.py"),
            str(len(prod_plan["resources"])),
            *(f"{p}.{n}" for p, n in sorted(classes)),
        ]
        sdk_wall, sdk_rss, _ = measure(sdk_argv, runs)
        big_argv = [*CBSI, "--project-dir", str(project), "plan", "--stack", "prod", "--json"]
        big_wall, big_rss, big_out = measure(big_argv, runs)
        big_plan = json.loads(big_out)
        prod_policy, prod_cost = policy_seconds(ROOT, runs)
        big_policy, big_cost = policy_seconds(project, runs)

    rows = [
        (f"floor: import pulumi and {len(services)} provider modules", floor_wall, floor_rss, "-"),
        (f"SDK floor: imports + {len(prod_plan['resources'])} resources, plain mocks",
         sdk_wall, sdk_rss, str(len(prod_plan["resources"]))),
        ("cbsi plan --stack prod --json (19 academies)", prod_wall, prod_rss,
         str(len(prod_plan["resources"]))),
        ("cbsi plan, 200 academies", big_wall, big_rss, str(len(big_plan["resources"]))),
    ]  # fmt: skip
    print(f"runs per command: {runs} (median wall time, peak RSS)")
    print(f"{'command':<60} {'wall s':>7} {'RSS MiB':>8} {'resources':>9} {'x floor':>8}")
    for name, wall, rss, count in rows:
        print(f"{name:<60} {wall:7.2f} {rss:8.1f} {count:>9} {wall / floor_wall:8.2f}")
    print(f"prod / floor: {prod_wall / floor_wall:.2f}x (target <= 2x)")
    print(f"prod / SDK floor: {prod_wall / sdk_wall:.2f}x (what cbsi adds beyond the SDK's mocks)")
    print(f"200 academies / prod: {big_wall / prod_wall:.2f}x (target <= 10x)")
    for label, policy, cost, wall in (("prod", prod_policy, prod_cost, prod_wall),
                                      ("200 academies", big_policy, big_cost, big_wall)):  # fmt: skip
        without = wall - policy - cost
        print(f"{label}: policy evaluation {policy:.2f} s = {100 * policy / without:.1f}% of the "
              f"plan without it (target < 20%); cost estimate {cost:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
