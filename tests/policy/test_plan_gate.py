"""`cbsi plan` enforces the pack: a mandatory violation fails the plan (exit 1) and is named."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import run_cbsi


def test_a_mandatory_violation_fails_the_plan_and_names_rule_and_resource(project: Path) -> None:
    # Valid config (30 days is a CloudWatch retention), but prod keeps audit logs a year.
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    yaml = YAML()
    document = yaml.load(stack_file)
    document["config"]["cbsi:network"]["flowLogRetentionDays"] = 30
    yaml.dump(document, stack_file)

    result = run_cbsi("--project-dir", str(project), "plan", "--stack", "prod")

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "Error: 1 mandatory policy violation(s) in stack prod: "
        "log-retention-audit on network-flow-logs."
    ), result.stderr
    assert "log-retention-audit" in result.stdout  # the violations table
    assert "retentionInDays is 30; keep audit logs at least 365 days" in result.stdout


def test_a_clean_plan_says_so(project: Path) -> None:
    result = run_cbsi("--project-dir", str(project), "plan", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    assert "Policy: " in result.stdout and " rules on " in result.stdout
    assert "no violations." in result.stdout
