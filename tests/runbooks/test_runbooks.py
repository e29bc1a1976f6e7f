"""The runbooks: one per alert with its sections, procedures with front matter, every `cbsi`
command shown exists, and the index is what `cbsi runbook index` writes."""

from __future__ import annotations

import shutil
from pathlib import Path

from cbsi.commands.runbook import check_command, load, render_index
from monitoring.rules import ALERTS
from tests.conftest import ROOT, run_cbsi

RUNBOOKS = ROOT / "runbooks"
PROCEDURES = {
    "onboard-academy", "offboard-academy", "moodle-upgrade", "restore-database", "restore-media",
    "rotate-turn-secret", "rotate-database-credentials", "scale-relays", "certificate-problems",
    "incident-communication", "handover",
}  # fmt: skip


def test_the_repository_runbooks_pass_the_check() -> None:
    result = run_cbsi("runbook", "check")
    assert result.returncode == 0, result.stderr
    books = {r.path.stem: r for r in load(RUNBOOKS)}
    assert {a.name for a in ALERTS} <= books.keys()
    assert {name for name, r in books.items() if r.kind == "procedure"} >= PROCEDURES
    assert (RUNBOOKS / "README.md").read_text() == render_index(list(books.values()))


def test_commands_are_checked_against_the_cli() -> None:
    assert (
        check_command("cbsi run rotate-turn-secret --role relays --platform outputs.json --yes")
        is None
    )
    assert check_command("cbsi academy show <academy> --stack prod") is None
    assert check_command("cbsi academy") is None  # a group named in prose
    assert check_command("cbsi migrate media --source s3://a --dry-run") is None
    assert (
        check_command("cbsi teleport media --source s3://a")
        == "`teleport` is not a command of `cbsi`"
    )
    assert check_command("cbsi run status --rôle relays") == "`--rôle` is not an option of `run`"
    assert check_command("cbsi academy --stack prod") == "`academy` needs a subcommand"


def test_broken_runbooks_are_named_one_by_one(tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    shutil.copytree(RUNBOOKS, books)
    (books / "BackupMissing.md").unlink()
    slow = books / "SubSiteSlow.md"
    slow.write_text(slow.read_text().replace("## Escalation", "## Who to call"))
    upgrade = books / "moodle-upgrade.md"
    upgrade.write_text(
        upgrade.read_text().replace("owner:", "team:") + "\nRun `cbsi upgrade --all`.\n"
    )

    result = run_cbsi("runbook", "check", "--runbooks", str(books))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: 5 runbook problem(s):")
    for expected in (
        f"{books}/BackupMissing.md: missing; alert BackupMissing links to it",
        f"{books}/SubSiteSlow.md: sections Escalation are missing",
        f"{books}/moodle-upgrade.md: front matter has no `owner`",
        f"{books}/moodle-upgrade.md: `cbsi upgrade --all`: `upgrade` is not a command of `cbsi`",
        f"{books}/README.md: out of date; run `cbsi runbook index`",
    ):
        assert expected in result.stderr, result.stderr

    assert run_cbsi("runbook", "index", "--runbooks", str(books)).returncode == 0
    assert "out of date" not in run_cbsi("runbook", "check", "--runbooks", str(books)).stderr
