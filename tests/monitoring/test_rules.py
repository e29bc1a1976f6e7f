"""Generated monitoring configuration, checked by the real tools: promtool and amtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from infra.platform import PlatformDocument
from monitoring.generate import generate
from monitoring.rules import ALERTS, RUNBOOK_BASE_URL
from tests.conftest import ROOT
from tests.support.tools import require

UNIT_TESTS = Path(__file__).parent / "rules" / "alerts_test.yml"


@pytest.fixture(scope="module")
def generated(plan_of, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PlatformDocument]:  # type: ignore[no-untyped-def]
    doc = PlatformDocument.model_validate(plan_of("prod").outputs["platform"])
    out = tmp_path_factory.mktemp("monitoring")
    generate(doc, out, runbook_base_url="RUNBOOKS")
    return out, doc


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def test_promtool_accepts_config_and_rules(generated: tuple[Path, PlatformDocument]) -> None:
    out, _ = generated
    promtool = require("promtool", "prometheus")
    config = run(promtool, "check", "config", str(out / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = run(promtool, "check", "rules", str(out / "rules" / "cbsi.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(ALERTS) + 5} rules found" in rules.stdout


def test_every_alert_has_a_promtool_unit_test_and_all_pass(
    generated: tuple[Path, PlatformDocument],
) -> None:
    out, _ = generated
    text = UNIT_TESTS.read_text()
    tested = set(re.findall(r"alertname: (\w+)", text))
    assert tested == {a.name for a in ALERTS}
    document = YAML(typ="safe").load(text)
    document["rule_files"] = [str(out / "rules" / "cbsi.yml")]
    tests_file = out / "alerts_test.yml"
    YAML().dump(document, tests_file)
    result = run(require("promtool", "prometheus"), "test", "rules", str(tests_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alerts_follow_the_mixin_conventions() -> None:
    assert len(ALERTS) >= 12
    for alert in ALERTS:
        assert re.fullmatch(r"(?:[A-Z][a-z]+)+", alert.name), alert.name
        assert alert.severity in {"critical", "warning", "info"}
        assert alert.summary.endswith(".") and alert.description.endswith(".")
        assert "{{" in alert.summary + alert.description, alert.name  # templated
        if alert.per_academy:
            assert "{{ $labels.academy }}" in alert.summary, alert.name


def test_every_runbook_url_resolves_to_a_runbook_file() -> None:
    from monitoring.rules import rule_groups

    for group in rule_groups()["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                url = rule["annotations"]["runbook_url"]
                assert url.startswith(RUNBOOK_BASE_URL + "/")
                path = ROOT / "runbooks" / url.removeprefix(RUNBOOK_BASE_URL + "/")
                assert path.is_file(), path
                assert path.name == f"{rule['alert']}.md"


def test_amtool_accepts_the_alertmanager_config(generated: tuple[Path, PlatformDocument]) -> None:
    out, _ = generated
    result = run(
        require("amtool", "prometheus-alertmanager"), "check-config", str(out / "alertmanager.yml")
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=SubSiteDown", "severity=critical", "academy=jamaica"], "platform-oncall"),
        (
            ["alertname=MoodleCronStale", "severity=warning", "academy=jamaica"],
            "academy-jamaica,platform-tickets",
        ),
        (
            ["alertname=MoodleCronStale", "severity=warning", "academy=haiti"],
            "academy-haiti,platform-tickets",
        ),
        (
            ["alertname=RelayAllocationFailing", "severity=warning", "relay=turn-1"],
            "platform-tickets",
        ),
        (["alertname=BackupMissing", "severity=critical"], "platform-oncall"),
    ],
)
def test_routing(
    generated: tuple[Path, PlatformDocument], labels: list[str], receivers: str
) -> None:
    out, _ = generated
    amtool = require("amtool", "prometheus-alertmanager")
    result = run(amtool, "config", "routes", "test", f"--config.file={out / 'alertmanager.yml'}",
                 f"--verify.receivers={receivers}", *labels)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_academy_warnings_reach_only_that_academys_admins(
    generated: tuple[Path, PlatformDocument],
) -> None:
    out, doc = generated
    config = YAML(typ="safe").load((out / "alertmanager.yml").read_text())
    receivers = {
        r["name"]: [e["to"] for e in r.get("email_configs", [])] for r in config["receivers"]
    }
    for academy in doc.academies:
        assert receivers[f"academy-{academy.slug}"] == [str(c.email) for c in academy.admins]
    # Phase inl: both INL and IMPACS on-call are paged.
    assert sorted(receivers["platform-oncall"]) == sorted(str(c.email) for c in doc.oncall)
    inhibit = config["inhibit_rules"][0]
    assert inhibit == {"source_matchers": ['alertname="SubSiteDown"'],
                       "target_matchers": ['alertname="SubSiteSlow"'], "equal": ["academy"]}  # fmt: skip
