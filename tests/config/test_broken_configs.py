"""Every broken stack file in tests/config/broken/ is refused with exit code 2 and one message that
names the file and the key; nothing is planned and no traceback is shown."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cbsi

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expectations(path: Path) -> tuple[str, str]:
    header = dict(
        line[2:].split(": ", 1) for line in path.read_text().splitlines() if line.startswith("# ")
    )
    return header["expect-key"], header["expect-text"]


def test_the_corpus_is_large_enough() -> None:
    assert len(BROKEN) >= 15


@pytest.mark.parametrize("case", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_config_is_refused(case: Path, project: Path) -> None:
    key, text = expectations(case)
    shutil.copy(case, project / "stacks" / "Pulumi.broken.yaml")

    result = run_cbsi("--project-dir", str(project), "plan", "--stack", "broken")

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""  # nothing planned
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: stacks/Pulumi.broken.yaml: "), result.stderr
    assert f"{key}: " in result.stderr, result.stderr
    assert text in result.stderr, result.stderr
