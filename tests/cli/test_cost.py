"""The cost estimate: parts add up, academies carry their own cost and their share, the figures
of a fixed config match a hand computation, and a missing price is the user's to fix."""

from __future__ import annotations

import copy
import json

import pytest

from cbsi.cost import estimate
from infra.config import parse_config, split_namespaces
from tests.conftest import plan_config, run_cbsi, stack_config

ACADEMY = {
    "slug": "belize",
    "name": "Belize Police Training Academy",
    "country": "BZ",
    "languages": ["en", "es"],
    "hostname": "belize.dev.cbsi-connect.org",
    "tier": "small",
    "admins": [{"name": "Belize Admin", "email": "admin@belize.example.org"}],
    "steward": "inl",
    "status": "onboarding",
}


def report_of(config: dict, stack: str = "dev"):  # type: ignore[no-untyped-def]
    cfg = parse_config(split_namespaces(config, stack), stack)
    return estimate(plan_config(config, stack), cfg)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_totals_equal_the_sum_of_their_parts(stack: str) -> None:
    report = report_of(stack_config(stack), stack)
    assert report.total_usd == pytest.approx(sum(line.monthly_usd for line in report.lines))
    assert report.total_usd == pytest.approx(sum(report.components.values()))
    assert report.total_usd == pytest.approx(sum(a.total_usd for a in report.academies))
    assert report.shared_usd == pytest.approx(sum(a.shared_usd for a in report.academies))
    for line in report.lines:
        assert line.monthly_usd == pytest.approx(line.quantity * line.unit_usd)


def test_the_dev_stack_matches_the_hand_computation() -> None:
    """us-east-1 list prices from cbsi/pricing.yaml, 730 hours a month, dev's config and the
    default usage of a small academy."""
    report = report_of(stack_config("dev"))
    shared = (
        0.045 * 730  # one NAT gateway
        + 2 * 0.005 * 730  # two public IPv4 addresses: the NAT's and the relay's
        + 0.0225 * 730 + 1 * 0.008 * 730  # the load balancer and one LCU
        + 0.016 * 730 + 20 * 0.115  # db.t4g.micro Single-AZ and 20 GB
        + 0.016 * 730  # one cache.t4g.micro
        + 0.0168 * 730 + 30 * 0.08  # monitoring host t4g.small and its 30 GB disk
        + 0.0084 * 730 + 10 * 0.08  # one t4g.micro relay and its 10 GB disk
        + 0.50 + 0.50  # hosted zone, the relay's health check
        + 2 * 0.40  # platform secrets: Redis AUTH, TURN
        + 2 * 1.00  # KMS keys: media, audit
        + 4 * 0.10  # CloudWatch alarms
        + 50 * 0.045 + 10 * 0.50  # NAT traffic, flow logs
        + 2 * 4.00 + 10 * 1.00  # GuardDuty: management events, flow logs
    )  # fmt: skip
    small_site = (
        0.5 * 0.04048 * 730 + 1 * 0.004445 * 730  # one 0.5 vCPU / 1 GB Fargate task
        + 2 * 0.40  # its database login and admin secrets
        + 20 * 0.023  # media
        + 40 * 0.085 + 0.5 * 1.00  # CDN transfer and requests
        + 5 * 0.30 + 5 * 0.05  # moodledata and its backup
        + 20 * 1.5 * 3600 / 8 / 1000 * 0.09  # 20 participant-hours at 1.5 Mbit/s
        + 1 * 0.50  # logs
    )  # fmt: skip
    assert shared == pytest.approx(139.121)
    assert small_site == pytest.approx(26.64505)
    assert report.shared_usd == pytest.approx(shared)
    by_slug = {a.slug: a for a in report.academies}
    for slug in ("impacs", "jamaica"):
        assert by_slug[slug].direct_usd == pytest.approx(small_site)
        assert by_slug[slug].shared_usd == pytest.approx(shared / 2)
    assert report.total_usd == pytest.approx(shared + 2 * small_site)


def test_a_new_academy_adds_its_own_cost_and_takes_its_share() -> None:
    before = report_of(stack_config("dev"))
    config = stack_config("dev")
    config["cbsi:academies"].append(copy.deepcopy(ACADEMY))
    after = report_of(config)

    belize = next(a for a in after.academies if a.slug == "belize")
    impacs_before = next(a for a in before.academies if a.slug == "impacs")
    assert belize.direct_usd == pytest.approx(impacs_before.direct_usd)  # same tier, same usage
    assert after.shared_usd == pytest.approx(before.shared_usd)  # it adds no shared resource
    assert after.total_usd - before.total_usd == pytest.approx(belize.direct_usd)
    for academy in after.academies:
        assert academy.shared_usd == pytest.approx(after.shared_usd / 3)


def test_an_offboarded_academy_keeps_paying_for_its_data_and_nothing_else() -> None:
    config = stack_config("dev")
    config["cbsi:academies"][1]["status"] = "offboarded"
    report = report_of(config)
    jamaica = next(a for a in report.academies if a.slug == "jamaica")
    assert jamaica.weight == 0 and jamaica.shared_usd == 0
    items = {line.item for line in report.lines if line.academy == "jamaica"}
    assert not any(item.startswith("Fargate") for item in items)  # scaled to zero
    assert {"media storage (S3 Standard)", "moodledata (EFS Standard)"} <= items


def test_prod_budgets_cover_the_estimate() -> None:
    config = stack_config("prod")
    report = report_of(config, "prod")
    limits = config["cbsi:budgets"]["academyUsd"]
    tiers = {a["slug"]: a["tier"] for a in config["cbsi:academies"]}
    for academy in report.academies:
        # An academy's budget sees what carries its tag: its own cost, not its share.
        assert academy.direct_usd < limits[tiers[academy.slug]], academy.slug
    assert report.total_usd < config["cbsi:budgets"]["platformUsd"]


def test_cbsi_cost_json_and_a_missing_price(project) -> None:  # type: ignore[no-untyped-def]
    result = run_cbsi("--project-dir", str(project), "cost", "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["totalUsd"] == pytest.approx(192.4111)
    assert {a["slug"] for a in document["academies"]} == {"impacs", "jamaica"}

    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("instanceType: t4g.micro", "instanceType: c7g.xlarge")
    )
    result = run_cbsi("--project-dir", str(project), "cost", "--stack", "dev")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: pricing.yaml: no price 'ec2-c7g.xlarge-hour'; add it")
    assert "Traceback" not in result.stderr
    plan = run_cbsi("--project-dir", str(project), "plan", "--stack", "dev")
    assert plan.returncode == 0, plan.stderr  # the plan still plans, and says why no cost
    assert "Cost not estimated: pricing.yaml: no price 'ec2-c7g.xlarge-hour'" in plan.stdout
