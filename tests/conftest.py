"""Shared fixtures: a copy of the project layout to change freely, the `cbsi` command, plans."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CBSI = [sys.executable, "-m", "cbsi"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder like the repository's, whose stack files a test may edit."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", root / "stacks")
    (root / "infra").symlink_to(ROOT / "infra", target_is_directory=True)
    return root


def run_cbsi(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run `cbsi` as an operator would, in its own process."""
    return subprocess.run(
        [*CBSI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=ROOT,
        check=False,
    )


@pytest.fixture(scope="session")
def plan_of() -> Callable[[str], object]:
    """The plan of one of the repository's stacks, computed once per test process."""
    from cbsi.planfile import build_plan
    from cbsi.planner import run_program
    from infra.config import load_stack_file, read_stack_file

    @functools.cache
    def plan(stack: str):  # type: ignore[no-untyped-def]
        path = ROOT / "stacks" / f"Pulumi.{stack}.yaml"
        cfg = load_stack_file(path)
        run = run_program(ROOT / "infra" / "__main__.py", stack, read_stack_file(path), cfg.region)
        return build_plan(run)

    return plan


def plan_config(config: dict, stack: str = "dev"):  # type: ignore[no-untyped-def]
    """Plan an edited copy of a stack's config in this process (raw `config:` map)."""
    from cbsi.planfile import build_plan
    from cbsi.planner import run_program
    from infra.config import parse_config, split_namespaces

    cfg = parse_config(split_namespaces(config, stack), stack)
    return build_plan(run_program(ROOT / "infra" / "__main__.py", stack, config, cfg.region))


def stack_config(stack: str) -> dict:
    """The raw `config:` map of one of the repository's stacks (a fresh copy each call)."""
    from infra.config import read_stack_file

    return read_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/hosts/ checks a real host: collected only when one is named (`--hosts`, as
    `cbsi verify` and operators run it); the suite itself exercises it through `cbsi verify`."""
    if collection_path.name == "hosts" and collection_path.parent == ROOT / "tests":
        return not config.getoption("hosts", default=None)
    return None
