"""`cbsi handover check`: the report in each format, its exit code, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cbsi.cli import app
from tests.conftest import run_cbsi
from tests.handover.conftest import Account


def invoke(account: Account, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    """The command in-process, its AWS clients those of the seeded account (with the stubs
    moto needs); everything else as an operator runs it."""
    monkeypatch.setattr(
        "cbsi.commands.handover.make_clients", lambda endpoint, profile: account.clients()
    )
    platform = tmp_path / "outputs.json"
    platform.write_text(
        json.dumps({"platform": json.loads(account.doc.model_dump_json(by_alias=True))})
    )
    records = tmp_path / "records.yaml"
    records.write_text(json.dumps(account.records))
    return CliRunner().invoke(
        app,
        [
            "--project-dir",
            str(account.project),
            "handover",
            "check",
            "--stack",
            "dev",
            "--platform",
            str(platform),
            "--records",
            str(records),
            *extra,
        ],
    )


def test_ready_account_exits_0_with_a_json_report(
    account: Account, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    done = invoke(account, monkeypatch, tmp_path, "--format", "json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert report["summary"] == {
        "automated": 29,
        "passed": 29,
        "score": 100.0,
        "blockingFailures": 0,
        "manual": 4,
        "ready": True,
    }
    assert report["account"] == "444455556666"
    ids = [c["id"] for c in report["checks"]]
    assert ids == sorted(ids) and len(ids) == 33
    assert all(c["evidence"] and c["remedy"] and c["requirement"] for c in report["checks"])


def test_a_blocking_failure_exits_1_and_the_markdown_names_the_remedy(
    account: Account, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    account.summary["AccountMFAEnabled"] = 0
    done = invoke(account, monkeypatch, tmp_path, "--format", "md")
    assert done.exit_code == 1
    assert (
        "**NOT READY: 1 blocking check(s) fail.** Score: 28 of 29 automated checks pass (97%)"
        in done.output
    )
    row = next(line for line in done.output.splitlines() if line.startswith("| HO-06 "))
    assert "| FAIL | AccountMFAEnabled = 0 | Sign in as root with IMPACS's root mailbox" in row
    assert (
        "| HO-M1 | The AWS account is assigned to IMPACS | AWS, INL and IMPACS | not signed off yet (needs AWS, INL and IMPACS)"
        in done.output
    )


def test_the_table_lists_every_check(
    account: Account, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    done = invoke(account, monkeypatch, tmp_path, "--only", "HO-06,HO-M2")
    assert done.exit_code == 0, done.output
    assert "HO-06" in done.output and "HO-M2" in done.output and "HO-07" not in done.output
    assert "READY: 1/1 automated checks pass" in done.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "--format 'xml': choose one of table, md, json"),
        (["--records", "missing.yaml"], "--records missing.yaml: no such file"),
        (["--platform", "missing.json"], "--platform missing.json: no such file"),
        ([], "no Pulumi CLI here to read the stack's outputs"),
        (["--stack", "nosuch"], "--stack nosuch: stacks/Pulumi.nosuch.yaml does not exist"),
    ],
)
def test_user_errors_exit_2(args: list[str], message: str) -> None:
    argv = ["handover", "check", *(args if "--stack" in args else ["--stack", "dev", *args])]
    done = run_cbsi(*argv, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_recorded_signoff_is_the_manual_items_evidence(
    account: Account, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    account.records["signoffs"] = [
        {"item": "HO-M4", "date": "2026-12-01", "by": ["A. Lee (INL)", "B. Ramdial (IMPACS)"]}
    ]
    done = invoke(account, monkeypatch, tmp_path, "--format", "json", "--only", "HO-M4")
    assert done.exit_code == 0, done.output
    (item,) = json.loads(done.output)["checks"]
    assert (item["status"], item["evidence"]) == (
        "manual",
        "signed off 2026-12-01 by A. Lee (INL), B. Ramdial (IMPACS)",
    )


def test_a_bad_records_file_is_a_user_error(tmp_path: Path) -> None:
    records = tmp_path / "records.yaml"
    records.write_text(
        "restoreTests:\n  - component: databse\n    date: 2026-11-20\n    by: me\n    result: pass\n"
    )
    done = run_cbsi(
        "handover",
        "check",
        "--stack",
        "dev",
        "--platform",
        str(tmp_path / "outputs.json"),
        "--records",
        str(records),
    )
    assert done.returncode == 2
    assert (
        f"{records}: restoreTests.0.component: Input should be 'database', 'fileSystem' or 'media'"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
