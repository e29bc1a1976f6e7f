"""`cbsi academy`: registry edits keep the file's comments; refused edits change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import load_stack_file
from tests.conftest import run_cbsi

BELIZE = [
    "--slug", "belize", "--name", "Belize Police Training Academy", "--country", "BZ",
    "--languages", "en,es", "--admin-name", "Belize Admin",
    "--admin-email", "admin@belize.example.org",
]  # fmt: skip
CAYMAN = [
    "--slug", "cayman-islands", "--name", "Royal Cayman Islands Police Training Centre",
    "--country", "KY", "--languages", "en,es", "--admin-name", "Cayman Admin",
    "--admin-email", "admin@cayman.example.org",
]  # fmt: skip


def academy(project: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cbsi("--project-dir", str(project), "academy", *args)


def test_add_keeps_every_existing_line_and_comment(project: Path) -> None:
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    before = stack_file.read_text().splitlines()
    result = academy(project, "add", "--stack", "prod", *CAYMAN, "--tier", "medium")
    assert result.returncode == 0, result.stderr
    assert "cbsi plan --stack prod --diff plans/prod.json" in result.stdout
    after = stack_file.read_text().splitlines()
    assert after[: len(before)] == before  # comments, order and quoting untouched
    assert after[len(before) :] == [
        "    - slug: cayman-islands",
        "      name: Royal Cayman Islands Police Training Centre",
        "      country: KY",
        "      languages: [en, es]",
        "      hostname: cayman-islands.cbsi-connect.org",
        "      tier: medium",
        "      admins:",
        "        - name: Cayman Admin",
        "          email: admin@cayman.example.org",
        "      steward: inl",
        "      status: onboarding",
    ]
    added = load_stack_file(stack_file).academy("cayman-islands")
    assert added.languages == ["en", "es"] and added.tier == "medium"


def test_set_status_changes_one_value(project: Path) -> None:
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    before = stack_file.read_text()
    result = academy(project, "set-status", "jamaica", "active", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert "jamaica: onboarding -> active" in result.stdout
    assert stack_file.read_text() == before.replace(
        "      steward: inl\n      status: onboarding", "      steward: inl\n      status: active"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "--stack", "dev", *BELIZE[:1], "Belize_1", *BELIZE[2:]], "cbsi:academies[2].slug"),
        (["add", "--stack", "dev", *BELIZE, "--hostname", "belize.example.org"],
         "cbsi:academies[2].hostname"),
        (["add", "--stack", "dev", *BELIZE, "--tier", "huge"], "--tier 'huge' is not one of"),
        (["add", "--stack", "dev", *BELIZE[:1], "impacs", *BELIZE[2:]],
         "already used by cbsi:academies[0]"),
        (["set-status", "jamaica", "paused", "--stack", "dev"], "STATUS 'paused' is not one of"),
        (["set-status", "atlantis", "active", "--stack", "dev"], "no academy 'atlantis'"),
        (["show", "atlantis", "--stack", "dev"], "no academy 'atlantis'"),
    ],
)  # fmt: skip
def test_refused_edits_leave_the_file_unchanged(
    project: Path, args: list[str], message: str
) -> None:
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    before = stack_file.read_bytes()
    result = academy(project, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert stack_file.read_bytes() == before
    assert not list(stack_file.parent.glob(".Pulumi.dev.yaml.*"))  # no temporary file left


def test_list_and_show(project: Path) -> None:
    listing = run_cbsi(
        "--project-dir", str(project), "academy", "list", "--stack", "prod", env={"COLUMNS": "250"}
    )
    assert listing.returncode == 0
    for slug in ("impacs", "jamaica", "dominican-republic", "suriname"):
        assert f" {slug} " in listing.stdout
    shown = academy(project, "show", "haiti", "--stack", "prod")
    assert shown.returncode == 0
    assert "https://haiti.cbsi-connect.org/" in shown.stdout and "fr, en" in shown.stdout
