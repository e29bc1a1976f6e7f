"""The handover checks against a compliant IMPACS account on moto, then against accounts each
broken in one way: exactly the check for it fails, with the evidence found and its remedy."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from cbsi.handover.model import CHECKS, run_checks
from tests.handover.conftest import INL, NOW, Account
from tests.support.certs import self_signed


def results(account: Account) -> dict[str, Any]:
    return {r.check.id: r for r in run_checks(account.context())}


def test_a_compliant_account_passes_every_automated_check(account: Account) -> None:
    found = results(account)
    failing = {i: r.finding.evidence for i, r in found.items() if r.finding.status == "fail"}
    assert failing == {}
    automated = [r for r in found.values() if r.finding.status == "pass"]
    assert len(automated) >= 25
    manual = sorted(i for i, r in found.items() if r.finding.status == "manual")
    assert manual == ["HO-M1", "HO-M2", "HO-M3", "HO-M4"]
    assert "AWS, INL and IMPACS" in found["HO-M1"].check.signoff
    assert found["HO-05"].finding.evidence == (
        "AdministratorAccess held only by cbsi-dev-break-glass, cbsi-dev-platform-admin"
    )


def _doc(account: Account, **changes: Any) -> None:
    data = json.loads(account.doc.model_dump_json(by_alias=True))
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = data
        for part in path:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    account.doc = type(account.doc).model_validate(data)


def _inl_trust(a: Account) -> None:
    a.client("iam").create_role(
        RoleName="inl-legacy-admin",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{INL}:root"},
                    }
                ],
            }
        ),
    )


def _admin_user(a: Account) -> None:
    iam = a.client("iam")
    iam.create_user(UserName="inl-contractor")
    iam.attach_user_policy(
        UserName="inl-contractor", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )


def _no_alarm(a: Account) -> None:
    events = a.client("events")
    events.remove_targets(Rule="cbsi-dev-break-glass", Ids=["security"])
    events.delete_rule(Name="cbsi-dev-break-glass")


def _unsubscribe(a: Account) -> None:
    sns = a.client("sns")
    for sub in sns.list_subscriptions()["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    sns.subscribe(
        TopicArn=a.doc.stewardship.security_topic_arn,  # type: ignore[union-attr]
        Protocol="email",
        Endpoint="security@state.gov",
    )


def _private_zone(a: Account) -> None:
    route53 = a.client("route53")
    zone = route53.list_hosted_zones_by_name(DNSName=a.doc.domain + ".")["HostedZones"][0]
    records = [
        r
        for r in route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        if r["Type"] == "CNAME"
    ]
    route53.change_resource_record_sets(
        HostedZoneId=zone["Id"],
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": r} for r in records]},
    )
    route53.delete_hosted_zone(Id=zone["Id"])
    vpc = a.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    private = route53.create_hosted_zone(
        Name=a.doc.domain,
        CallerReference="private",
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc},
        HostedZoneConfig={"PrivateZone": True},
    )["HostedZone"]["Id"]
    route53.change_resource_record_sets(
        HostedZoneId=private,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]},
    )


def _imported_cert(a: Account) -> None:
    cert, key = self_signed(f"media.{a.doc.domain}", NOW, days=90)
    a.client("acm").import_certificate(Certificate=cert, PrivateKey=key)


def _stack_file(a: Account, provider: str) -> None:
    path = a.project / "stacks" / "Pulumi.dev.yaml"
    text = path.read_text()
    path.write_text(text.replace(text.splitlines()[0], f"secretsprovider: {provider}"))


def _backend(a: Account, url: str) -> None:
    path = a.project / "Pulumi.yaml"
    path.write_text(path.read_text().replace("s3://cbsi-connect-pulumi-state-impacs", url))


def _budget_gone(a: Account) -> None:
    a.client("budgets").delete_budget(
        AccountId="444455556666", BudgetName=a.doc.academies[0].budget
    )


def _contact(kind: str) -> Callable[[Account], None]:
    def breaker(a: Account) -> None:
        a.client("account").put_alternate_contact(
            AlternateContactType=kind,
            EmailAddress="someone@state.gov",
            Name="INL",
            PhoneNumber="+12025550100",
            Title="Officer",
        )

    return breaker


# check id -> (what breaks it, text its evidence must contain, text its remedy must contain)
BROKEN: dict[str, tuple[Callable[[Account], None], str, str]] = {
    "HO-01": (
        lambda a: a.changes.update(
            {"stewardship.accounts": {"inl": INL, "impacs": "999988887777"}}
        ),
        "account 444455556666 is not IMPACS's (999988887777 is IMPACS's)",
        "--profile",
    ),
    "HO-02": (
        lambda a: a.changes.update({"stewardship.platform_steward": "inl"}),
        "platformSteward inl",
        "platformSteward: impacs",
    ),
    "HO-03": (
        lambda a: a.client("s3").put_bucket_tagging(
            Bucket=a.doc.media.bucket,
            Tagging={
                "TagSet": [
                    {"Key": "project", "Value": "cbsi-connect"},
                    {"Key": "environment", "Value": "dev"},
                    {"Key": "steward", "Value": "inl"},
                ]
            },
        ),
        "not steward=impacs: arn:aws:s3:::cbsi-connect-dev-media",
        "steward: impacs",
    ),
    "HO-04": (_inl_trust, f"roles trusting INL's account {INL}: inl-legacy-admin", "trust policy"),
    "HO-05": (
        _admin_user,
        "AdministratorAccess also held by user inl-contractor",
        "Detach AdministratorAccess",
    ),
    "HO-06": (
        lambda a: a.summary.update(AccountMFAEnabled=0),
        "AccountMFAEnabled = 0",
        "hardware MFA",
    ),
    "HO-07": (
        lambda a: a.summary.update(AccountAccessKeysPresent=1),
        "AccountAccessKeysPresent = 1",
        "delete its access keys",
    ),
    "HO-08": (_no_alarm, "no EventBridge rule watches its AssumeRole", "EventBridge rule"),
    "HO-09": (_unsubscribe, "no confirmed IMPACS e-mail subscription", "security mailbox"),
    "HO-10": (
        lambda a: a.client("cloudtrail").stop_logging(Name="cbsi-dev"),
        "cbsi-dev is not logging",
        "start-logging",
    ),
    "HO-11": (
        lambda a: [
            a.client("guardduty").update_detector(DetectorId=d, Enable=False)
            for d in a.client("guardduty").list_detectors()["DetectorIds"]
        ],
        "1 detector(s), none enabled",
        "enable the detector",
    ),
    "HO-12": (
        lambda a: a.selections.update({"cbsi-dev-media": []}),
        "the media bucket (arn:aws:s3:::cbsi-connect-dev-media",
        "backupRetentionDays",
    ),
    "HO-13": (
        lambda a: a.jobs.update({a.doc.lms.file_system_arn: NOW - dt.timedelta(hours=30)}),
        "moodledata: no completed job since",
        "start-backup-job",
    ),
    "HO-14": (
        lambda a: a.records.update(
            restoreTests=[
                t
                | (
                    {"date": str(NOW.date() - dt.timedelta(days=120))}
                    if t["component"] == "media"
                    else {}
                )
                for t in a.records["restoreTests"]
            ]
        ),
        "the media bucket: none passed since",
        "restore-media.md",
    ),
    "HO-15": (
        lambda a: a.changes.update({"recovery": None}),
        "cbsi:recovery is not set in stacks/Pulumi.dev.yaml",
        "rpoHours",
    ),
    "HO-16": (
        lambda a: (a.project / "runbooks" / "MoodleCronStale.md").unlink(),
        "MoodleCronStale: no runbooks/MoodleCronStale.md",
        "cbsi runbook check",
    ),
    "HO-17": (
        lambda a: _doc(
            a, oncall=[{"name": "Ops", "email": "ops@gmail.com", "organisation": "impacs"}]
        ),
        "ops@gmail.com",
        "cbsi monitoring generate",
    ),
    "HO-18": (
        lambda a: _doc(a, academies__1__admins=[]),
        "jamaica: no admin contact",
        "at least one admin",
    ),
    "HO-19": (
        _private_zone,
        "no public zone dev.cbsi-connect.org. in account 444455556666",
        "registrar",
    ),
    "HO-20": (_imported_cert, "media.dev.cbsi-connect.org is IMPORTED", "ACM-issued"),
    "HO-21": (
        lambda a: a.changes.update(
            {"stewardship.handover_date": NOW.date() + dt.timedelta(days=1)}
        ),
        "not rotated after",
        "rotate-turn-secret.md",
    ),
    "HO-22": (
        lambda a: _backend(a, "s3://inl-pulumi-state"),
        "bucket inl-pulumi-state is not in account 444455556666",
        "pulumi stack import",
    ),
    "HO-23": (
        lambda a: _stack_file(a, "passphrase"),
        "secretsprovider of stacks/Pulumi.dev.yaml is passphrase",
        "change-secrets-provider",
    ),
    "HO-24": (_budget_gone, "1 of 3 budgets missing", "cbsi:budgets"),
    "HO-25": (
        lambda a: a.cost_tags.update(academy="Inactive"),
        "academy: Inactive",
        "activateCostTags",
    ),
    "HO-26": (
        lambda a: a.records.update(accessReviews=[]),
        "no access review since",
        "accessReviews",
    ),
    "HO-27": (
        _contact("SECURITY"),
        "security contact someone@state.gov is not on an IMPACS domain",
        "--alternate-contact-type SECURITY",
    ),
    "HO-28": (
        _contact("BILLING"),
        "billing contact someone@state.gov",
        "--alternate-contact-type BILLING",
    ),
    "HO-29": (
        _contact("OPERATIONS"),
        "operations contact someone@state.gov",
        "--alternate-contact-type OPERATIONS",
    ),
}


def check_broken(account: Account, check_id: str) -> None:
    breaker, evidence, remedy = BROKEN[check_id]
    breaker(account)
    found = results(account)
    failing = sorted(i for i, r in found.items() if r.finding.status == "fail")
    assert failing == [check_id], {i: found[i].finding.evidence for i in failing}
    assert evidence in found[check_id].finding.evidence
    assert remedy in found[check_id].check.remedy


def test_every_automated_check_has_a_broken_account() -> None:
    from cbsi.handover import checks  # noqa: F401

    assert sorted(BROKEN) == sorted(c.id for c in CHECKS if c.signoff is None)


@pytest.mark.parametrize("check_id", sorted(BROKEN)[:15])
def test_breaking_one_thing_fails_exactly_its_check(account: Account, check_id: str) -> None:
    check_broken(account, check_id)
