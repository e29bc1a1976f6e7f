"""`cbsi plan` as an operator runs it: in its own process, against a copy of the project."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

from ruamel.yaml import YAML

from cbsi.planfile import Plan
from infra.platform import PlatformDocument
from tests.conftest import ROOT, run_cbsi


def plan_json(project: Path, stack: str, *extra: str) -> dict:
    result = run_cbsi("--project-dir", str(project), "plan", "--stack", stack, "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_plan_follows_the_schema(project: Path) -> None:
    document = plan_json(project, "dev")
    assert document.pop("policy")["violations"] == []
    assert document.pop("cost")["totalUsd"] > 0
    plan = Plan.model_validate(document)
    assert plan.stack == "dev" and plan.project == "cbsi-connect"
    custom = Counter(
        r.type for r in plan.resources if r.custom and not r.type.startswith("pulumi:")
    )
    assert plan.counts == dict(custom)
    assert [r.urn for r in plan.resources] == sorted(r.urn for r in plan.resources)
    PlatformDocument.model_validate(plan.outputs["platform"])


def test_two_runs_give_the_same_plan(project: Path) -> None:
    first = run_cbsi("--project-dir", str(project), "plan", "--stack", "staging", "--json")
    second = run_cbsi("--project-dir", str(project), "plan", "--stack", "staging", "--json")
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout


def add_academy(stack_file: Path, slug: str) -> None:
    yaml = YAML()  # round-trip: keeps the file's comments
    document = yaml.load(stack_file)
    domain = document["config"]["cbsi:domain"]
    document["config"]["cbsi:academies"].append(
        {
            "slug": slug,
            "name": "Belize Police Training Academy",
            "country": "BZ",
            "languages": ["en", "es"],
            "hostname": f"{slug}.{domain}",
            "tier": "small",
            "admins": [{"name": "Belize Admin", "email": "admin@belize.example.org"}],
            "steward": "inl",
            "status": "onboarding",
        }
    )
    yaml.dump(document, stack_file)


def test_diff_lists_only_the_added_academys_resources(project: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plans" / "dev.json"
    result = run_cbsi("--project-dir", str(project), "plan", "--stack", "dev", "--save", str(saved))
    assert result.returncode == 0, result.stderr
    assert Plan.model_validate_json(saved.read_text()).stack == "dev"

    add_academy(project / "stacks" / "Pulumi.dev.yaml", "belize")
    diff = plan_json(project, "dev", "--diff", str(saved))["diff"]

    assert diff["removed"] == []
    # Only what lists every academy changes (see tests/infra/test_lms.py).
    assert sorted(c["urn"].rsplit("::", 1)[1] for c in diff["changed"]) == [
        "media-bucket-cors",
        "media-bucket-lifecycle",
        "monitoring-exporter",
        "monitoring-file-alertmanager-yml",
        "monitoring-file-prometheus-yml",
        "monitoring-platform-json",
    ]
    assert diff["outputsChanged"] == ["platform"]
    added = diff["added"]
    assert len(added) >= 2  # the AcademySite component and what it owns
    assert {r["academy"] for r in added} == {"belize"}
    assert all("academy-belize" in r["urn"] for r in added)

    text = run_cbsi("--project-dir", str(project), "plan", "--stack", "dev", "--diff", str(saved))
    assert text.returncode == 0
    assert f"{len(added)} to add, 6 to change, 0 to delete." in text.stdout


def test_diff_against_the_same_config_is_empty(project: Path, tmp_path: Path) -> None:
    saved = tmp_path / "dev.json"
    assert (
        run_cbsi(
            "--project-dir", str(project), "plan", "-s", "dev", "--save", str(saved)
        ).returncode
        == 0
    )
    result = run_cbsi("--project-dir", str(project), "plan", "-s", "dev", "--diff", str(saved))
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        f"No changes against {saved}.",
        "Policy: 82 rules on 236 resources, no violations.",
    ]


def test_diff_names_changed_properties(project: Path, tmp_path: Path) -> None:
    saved = tmp_path / "dev.json"
    assert (
        run_cbsi(
            "--project-dir", str(project), "plan", "-s", "dev", "--save", str(saved)
        ).returncode
        == 0
    )
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("flowLogRetentionDays: 30", "flowLogRetentionDays: 60")
    )
    diff = plan_json(project, "dev", "--diff", str(saved))["diff"]
    assert diff["added"] == [] and diff["removed"] == []
    assert diff["changed"] == [
        {
            "urn": "urn:pulumi:dev::cbsi-connect::cbsi:network:Network"
            "$aws:cloudwatch/logGroup:LogGroup::network-flow-logs",
            "type": "aws:cloudwatch/logGroup:LogGroup",
            "properties": ["retentionInDays"],
        }
    ]


CANARY_PROGRAM = """
import os, runpy
import pulumi, pulumi_aws as aws
runpy.run_path({real!r}, run_name="__main__")
canary = pulumi.Output.secret(os.environ["CBSI_TEST_CANARY"])
aws.ssm.Parameter("canary", type="SecureString", value=canary,
                  tags={{"project": "cbsi-connect", "environment": "dev", "steward": "inl"}})
pulumi.export("canaryToken", canary)
pulumi.export("canaryNested", {{"inner": canary}})
"""


def test_secrets_never_appear_in_any_plan_output(project: Path, tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4()}"
    (project / "infra").unlink()
    (project / "infra").mkdir()
    (project / "infra" / "__main__.py").write_text(
        CANARY_PROGRAM.format(real=str(ROOT / "infra" / "__main__.py"))
    )
    env = {"CBSI_TEST_CANARY": canary}
    saved = tmp_path / "plan.json"
    args = ("--project-dir", str(project), "plan", "--stack", "dev")
    text = run_cbsi(*args, "--save", str(saved), env=env)
    as_json = run_cbsi(*args, "--json", env=env)
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    for output in (text.stdout, text.stderr, as_json.stdout, saved.read_text()):
        assert canary not in output
    plan = json.loads(as_json.stdout)
    assert plan["outputs"]["canaryToken"] == "[secret]"
    assert plan["outputs"]["canaryNested"] == "[secret]"
    (parameter,) = [r for r in plan["resources"] if r["name"] == "canary"]
    assert parameter["inputs"]["value"] == "[secret]"
    assert "canaryToken" in text.stdout and "[secret]" in text.stdout


def test_a_failing_program_exits_1_with_a_readable_message(project: Path) -> None:
    (project / "infra").unlink()
    (project / "infra").mkdir()
    (project / "infra" / "__main__.py").write_text(
        "import pulumi_aws as aws\naws.ec2.Subnet('orphan', cidr_block='10.0.0.0/24')\n"
    )
    result = run_cbsi("--project-dir", str(project), "plan", "--stack", "dev")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: the Pulumi program failed: TypeError: ")
    assert "vpc_id" in result.stderr
    assert "Traceback" not in result.stderr


def test_text_plan_shows_tree_counts_and_outputs(project: Path) -> None:
    result = run_cbsi("--project-dir", str(project), "plan", "--stack", "dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "cbsi-connect stack dev",
        "network cbsi:network:Network",
        "academy impacs",
        "academy jamaica",
        "academy-jamaica-logs aws:cloudwatch/logGroup:LogGroup (retain)",
        "Resources by AWS type",
        "aws:ec2/subnet:Subnet",
        "platform document v1: 2 academies",
        "https://jamaica.dev.cbsi-connect.org/",
    ):
        assert expected in out, expected


def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    cases = [
        (("plan",), "Missing option '--stack'"),
        (("plan", "--stack", "nowhere"), "known stacks: dev, prod, staging"),
        (("plan", "--stack", "dev", "--diff", str(tmp_path / "none.json")), "no such file"),
        (
            ("plan", "--stack", "dev", "--diff", str(garbage)),
            "not a plan saved by `cbsi plan --save`",
        ),
        (("plan", "--stack", "../etc/passwd"), "is not a stack name"),
    ]
    for args, message in cases:
        result = run_cbsi(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout == ""
