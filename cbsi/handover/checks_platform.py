"""Checks of the platform IMPACS takes on: data and its recovery, operations, names, secrets,
state, cost and governance."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from cbsi.handover.checks_account import _contact
from cbsi.handover.model import Context, Finding, check, failed, manual, passed

BACKUP_WINDOW = timedelta(hours=26)  # a daily backup, plus its start and completion windows
RECORD_AGE = timedelta(days=90)
COMPONENTS = {"database": "the database", "fileSystem": "moodledata", "media": "the media bucket"}


def _stateful(ctx: Context) -> dict[str, str]:
    """component -> ARN of every stateful resource."""
    return {
        "database": ctx.doc.lms.db_instance_arn,
        "fileSystem": ctx.doc.lms.file_system_arn,
        "media": f"arn:aws:s3:::{ctx.doc.media.bucket}",
    }


def _selected(ctx: Context) -> dict[str, str]:
    """ARN -> the AWS Backup plan whose selection names it."""
    return ctx.once("selected", lambda: _read_selections(ctx))


def _read_selections(ctx: Context) -> dict[str, str]:
    backup = ctx.aws("backup")
    chosen: dict[str, str] = {}
    for plan in backup.list_backup_plans()["BackupPlansList"]:
        for sel in backup.list_backup_selections(BackupPlanId=plan["BackupPlanId"])[
            "BackupSelectionsList"
        ]:
            got = backup.get_backup_selection(
                BackupPlanId=plan["BackupPlanId"], SelectionId=sel["SelectionId"]
            )
            for arn in got["BackupSelection"].get("Resources", []):
                chosen[arn] = plan["BackupPlanName"]
    return chosen


def _database(ctx: Context) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        rds = ctx.aws("rds")
        found = rds.describe_db_instances(DBInstanceIdentifier=ctx.doc.lms.db_instance)
        instance: dict[str, Any] = found["DBInstances"][0]
        return instance

    return ctx.once("database", read)


def _zones(ctx: Context) -> list[dict[str, Any]]:
    """The hosted zones of this account named exactly as the stack's domain."""

    def read() -> list[dict[str, Any]]:
        name = ctx.doc.domain.rstrip(".") + "."
        found = ctx.aws("route53").list_hosted_zones_by_name(DNSName=name)["HostedZones"]
        return [z for z in found if z["Name"] == name]

    return ctx.once("zones", read)


@check(
    "HO-12",
    "data",
    "Every stateful resource is in a backup plan",
    "Keep cbsi:media.backupRetentionDays (media), the EFS backup policy (moodledata) and "
    "cbsi:lms.dbBackupRetentionDays >= 7 (RDS automated backups); `pulumi up`",
)
def backup_plans(ctx: Context) -> Finding:
    selected = _selected(ctx)
    evidence: list[str] = []
    missing: list[str] = []
    for component, arn in _stateful(ctx).items():
        if arn in selected:
            evidence.append(f"{COMPONENTS[component]}: plan {selected[arn]}")
        elif component == "database":
            # RDS's own automated backups (with point-in-time recovery) are the database's plan.
            days = _database(ctx).get("BackupRetentionPeriod", 0)
            (evidence if days >= 7 else missing).append(
                f"{COMPONENTS[component]}: RDS automated backups kept {days} days"
            )
        else:
            missing.append(f"{COMPONENTS[component]} ({arn}) in no backup plan")
    return failed("; ".join(missing)) if missing else passed("; ".join(evidence))


@check(
    "HO-13",
    "data",
    "Every stateful resource had a successful backup within 26 hours",
    "Read the failed job in AWS Backup (runbooks/BackupMissing.md); start one by hand with "
    "`aws backup start-backup-job` and fix its cause",
)
def backup_jobs(ctx: Context) -> Finding:
    since = ctx.now - BACKUP_WINDOW
    evidence, missing = [], []
    for component, arn in _stateful(ctx).items():
        if component == "database" and arn not in _selected(ctx):
            latest = _database(ctx).get("LatestRestorableTime")
            if latest is not None and latest >= since:
                evidence.append(f"{COMPONENTS[component]}: restorable to {latest:%Y-%m-%d %H:%M}Z")
            else:
                missing.append(f"{COMPONENTS[component]}: latest restorable time {latest}")
            continue
        jobs = ctx.aws("backup").list_backup_jobs(
            ByResourceArn=arn, ByState="COMPLETED", ByCreatedAfter=since
        )["BackupJobs"]
        if jobs:
            last = max(j["CompletionDate"] for j in jobs)
            evidence.append(f"{COMPONENTS[component]}: job completed {last:%Y-%m-%d %H:%M}Z")
        else:
            missing.append(
                f"{COMPONENTS[component]}: no completed job since {since:%Y-%m-%d %H:%M}Z"
            )
    return failed("; ".join(missing)) if missing else passed("; ".join(evidence))


@check(
    "HO-14",
    "data",
    "A restore test of each stateful component passed within 90 days",
    "Run runbooks/restore-database.md and restore-media.md into a scratch stack and record "
    "each under restoreTests in runbooks/records.yaml",
)
def restore_tests(ctx: Context) -> Finding:
    evidence, missing = [], []
    for component, label in COMPONENTS.items():
        tests = [
            t
            for t in ctx.records.restore_tests
            if t.component == component and t.result == "pass" and ctx.today - t.date <= RECORD_AGE
        ]
        if tests:
            last = max(tests, key=lambda t: t.date)
            evidence.append(f"{label}: {last.date} by {last.by}")
        else:
            missing.append(f"{label}: none passed since {ctx.today - RECORD_AGE}")
    return failed("; ".join(missing)) if missing else passed("; ".join(evidence))


@check(
    "HO-15",
    "data",
    "RPO and RTO are declared for every stateful component, and met",
    "Declare cbsi:recovery.{database,fileSystem,media}.{rpoHours,rtoHours} in the stack "
    "file; a restore that took longer than the RTO needs a faster procedure",
)
def recovery_objectives(ctx: Context) -> Finding:
    recovery = ctx.cfg.recovery
    if recovery is None:
        return failed(f"cbsi:recovery is not set in stacks/Pulumi.{ctx.stack}.yaml")
    objectives = {
        "database": recovery.database,
        "fileSystem": recovery.file_system,
        "media": recovery.media,
    }
    slow = [
        f"{COMPONENTS[t.component]} restored in {t.restored_in_hours} h > RTO "
        f"{objectives[t.component].rto_hours} h ({t.date})"
        for t in ctx.records.restore_tests
        if t.restored_in_hours and t.restored_in_hours > objectives[t.component].rto_hours
    ]
    if slow:
        return failed("; ".join(slow))
    return passed(
        "; ".join(
            f"{COMPONENTS[c]}: RPO {o.rpo_hours:g} h, RTO {o.rto_hours:g} h"
            for c, o in objectives.items()
        )
    )


@check(
    "HO-16",
    "operations",
    "Every alert has a runbook",
    "Write runbooks/<Alert>.md with its front matter and sections (`cbsi runbook check`)",
)
def alert_runbooks(ctx: Context) -> Finding:
    from cbsi.commands.runbook import ALERT_SECTIONS, parse
    from monitoring.rules import ALERTS

    missing = []
    for alert in ALERTS:
        path = ctx.project.root / "runbooks" / f"{alert.name}.md"
        if not path.is_file():
            missing.append(f"{alert.name}: no runbooks/{alert.name}.md")
            continue
        book = parse(path)
        gaps = [s for s in ALERT_SECTIONS if s not in book.sections]
        if alert.name not in book.alerts or gaps:
            missing.append(f"{alert.name}: runbook lacks {', '.join(gaps) or 'its alerts: entry'}")
    if missing:
        return failed("; ".join(missing))
    return passed(f"{len(ALERTS)} alerts, each with runbooks/<alert>.md and its sections")


def _matches(matchers: list[str], labels: dict[str, str]) -> bool:
    for matcher in matchers:
        key, op, value = re.fullmatch(r'(\w+)(=~|!=|=)"(.*)"', matcher).groups()  # type: ignore[union-attr]
        got = labels.get(key, "")
        ok = {"=": got == value, "!=": got != value, "=~": bool(re.fullmatch(value, got))}[op]
        if not ok:
            return False
    return True


def _receivers(route: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """The receivers Alertmanager notifies for `labels`: first matching child, unless it
    continues; the route itself when no child matches."""
    found: list[str] = []
    for child in route.get("routes", []):
        if _matches(child.get("matchers", []), labels):
            found.extend(_receivers(child, labels))
            if not child.get("continue"):
                return found
    return found or [route["receiver"]]


@check(
    "HO-17",
    "operations",
    "Every alert routes to IMPACS on-call, and only to IMPACS",
    "Declare IMPACS's on-call under cbsi:oncall (organisation: impacs), set phase impacs, "
    "then `cbsi monitoring generate` and reload Alertmanager",
)
def alert_routes(ctx: Context) -> Finding:
    from monitoring.generate import alertmanager_config
    from monitoring.rules import ALERTS

    config = alertmanager_config(ctx.doc)
    emails = {r["name"]: [e["to"] for e in r.get("email_configs", [])] for r in config["receivers"]}
    problems = []
    for alert in ALERTS:
        labels = {"alertname": alert.name, "severity": alert.severity}
        platform = [r for r in _receivers(config["route"], labels) if r.startswith("platform-")]
        to = [e for r in platform for e in emails[r]]
        strangers = [e for e in to if not ctx.is_impacs(e)]
        if not to or strangers:
            problems.append(f"{alert.name} -> {', '.join(to) or 'nobody'}")
    if problems:
        return failed("; ".join(problems))
    to = sorted({e for r, es in emails.items() if r.startswith("platform-") for e in es})
    return passed(f"{len(ALERTS)} alerts route to {', '.join(to)}")


@check(
    "HO-18",
    "operations",
    "Every academy has an owner and an admin contact",
    "Give the academy steward: impacs and at least one admin in the registry "
    "(`cbsi academy show SLUG`)",
)
def academy_owners(ctx: Context) -> Finding:
    open_ = [a for a in ctx.doc.academies if a.status != "offboarded"]
    problems = [
        f"{a.slug}: " + ("no admin contact" if not a.admins else f"owned by {a.steward}")
        for a in open_
        if not a.admins or a.steward != "impacs"
    ]
    if problems:
        return failed("; ".join(problems))
    return passed(f"{len(open_)} academies, each owned by impacs with an admin contact")


@check(
    "HO-19",
    "names",
    "The DNS zone lives in IMPACS's account",
    "Create the zone in IMPACS's account (`pulumi up`), copy the records, then point the "
    "registrar's name servers at it (runbooks/handover.md)",
)
def dns_zone(ctx: Context) -> Finding:
    name = ctx.doc.domain.rstrip(".") + "."
    public = [z for z in _zones(ctx) if not z["Config"].get("PrivateZone")]
    if public:
        return passed(f"public zone {name} ({public[0]['Id'].rsplit('/', 1)[-1]}) in {ctx.account}")
    return failed(f"no public zone {name} in account {ctx.account}")


@check(
    "HO-20",
    "names",
    "Certificates renew automatically",
    "Use ACM-issued certificates validated by DNS, and keep their validation CNAMEs in "
    "the zone (the DnsZone and LmsCluster components do)",
)
def certificates(ctx: Context) -> Finding:
    acm, route53 = ctx.aws("acm"), ctx.aws("route53")
    zones = _zones(ctx)
    records = set()
    if zones:
        pages = route53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zones[0]["Id"]
        )
        records = {r["Name"].rstrip(".") for p in pages for r in p["ResourceRecordSets"]}
    problems, good = [], []
    for summary in acm.list_certificates()["CertificateSummaryList"]:
        if not summary["DomainName"].endswith(ctx.doc.domain):
            continue
        cert = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]
        if cert["Type"] != "AMAZON_ISSUED":
            problems.append(f"{cert['DomainName']} is {cert['Type']}")
            continue
        for option in cert.get("DomainValidationOptions", []):
            record = option.get("ResourceRecord", {}).get("Name", "").rstrip(".")
            if option.get("ValidationMethod") != "DNS" or record not in records:
                problems.append(
                    f"{cert['DomainName']}: validation record {record or '?'} not in the zone"
                )
                break
        else:
            good.append(cert["DomainName"])
    if problems or not good:
        return failed("; ".join(problems) or f"no certificate for {ctx.doc.domain}")
    return passed(f"{len(good)} ACM certificates, DNS-validated with their records in place")


@check(
    "HO-21",
    "secrets",
    "Every secret was rotated after the handover date",
    "Set cbsi:stewardship.handoverDate; then run runbooks/rotate-turn-secret.md and "
    "rotate-database-credentials.md",
)
def secrets_rotated(ctx: Context) -> Finding:
    handover = ctx.cfg.stewardship.handover_date
    if handover is None:
        return failed("cbsi:stewardship.handoverDate is not set")
    arns = {
        ctx.doc.relays.secret_arn,
        ctx.doc.lms.db_master_secret_arn,
        ctx.doc.lms.redis_auth_secret_arn,
        *(a.db_secret_arn for a in ctx.doc.academies),
    }
    client, stale = ctx.aws("secretsmanager"), []
    for arn in sorted(arns):
        found = client.describe_secret(SecretId=arn)
        changed = max(
            d
            for d in (
                found.get("LastRotatedDate"),
                found.get("LastChangedDate"),
                found.get("CreatedDate"),
            )
            if d is not None
        )
        if changed.date() <= handover:
            stale.append(f"{found['Name']} ({changed:%Y-%m-%d})")
    if stale:
        return failed(
            f"{len(stale)} of {len(arns)} not rotated after {handover}: {', '.join(stale[:5])}"
        )
    return passed(f"all {len(arns)} secrets changed after {handover}")


@check(
    "HO-22",
    "state",
    "The Pulumi state backend is IMPACS's",
    "`pulumi stack export`, `pulumi login s3://<IMPACS bucket>`, `pulumi stack import`, and "
    "set backend.url in Pulumi.yaml (runbooks/handover.md step 3)",
)
def state_backend(ctx: Context) -> Finding:
    backend = ctx.project.backend_url
    if not backend or not backend.startswith("s3://"):
        return failed(
            f"Pulumi.yaml backend.url is {backend or 'not set'}; want s3://<IMPACS bucket>"
        )
    bucket = urlparse(backend).netloc
    owned = {b["Name"] for b in ctx.aws("s3").list_buckets()["Buckets"]}
    if bucket in owned:
        return passed(f"{backend}: bucket owned by account {ctx.account}")
    return failed(f"{backend}: bucket {bucket} is not in account {ctx.account}")


@check(
    "HO-23",
    "state",
    "The stack's secrets are encrypted with IMPACS's KMS key",
    "`pulumi stack change-secrets-provider awskms://alias/<IMPACS key>?region=REGION` "
    "(re-encrypts every secret in the stack)",
)
def secrets_provider(ctx: Context) -> Finding:
    provider = ctx.project.secrets_provider(ctx.stack)
    if not provider or not provider.startswith("awskms://"):
        return failed(
            f"secretsprovider of stacks/Pulumi.{ctx.stack}.yaml is {provider or 'not set'}"
        )
    parsed = urlparse(provider)
    key = (parsed.netloc + parsed.path).lstrip("/")
    meta = ctx.aws("kms").describe_key(KeyId=key)["KeyMetadata"]
    if meta["AWSAccountId"] != ctx.account or meta["KeyState"] != "Enabled":
        return failed(f"{provider}: key of account {meta['AWSAccountId']}, {meta['KeyState']}")
    return passed(f"{provider}: key {meta['KeyId']} of account {ctx.account}, enabled")


@check(
    "HO-24",
    "cost",
    "Budgets are in place for the platform and every academy",
    "Declare cbsi:budgets in the stack file and `pulumi up`",
)
def budgets(ctx: Context) -> Finding:
    wanted = {a.budget for a in ctx.doc.academies if a.status != "offboarded" and a.budget}
    if ctx.doc.stewardship and ctx.doc.stewardship.platform_budget:
        wanted.add(ctx.doc.stewardship.platform_budget)
    if not wanted:
        return failed("the platform document names no budgets (cbsi:budgets is not set)")
    found = {
        b["BudgetName"]
        for b in ctx.aws("budgets").describe_budgets(AccountId=ctx.account).get("Budgets", [])
    }
    missing = sorted(wanted - found)
    if missing:
        return failed(f"{len(missing)} of {len(wanted)} budgets missing: {', '.join(missing[:5])}")
    return passed(f"{len(wanted)} budgets in place")


@check(
    "HO-25",
    "cost",
    "The academy and steward cost-allocation tags are active",
    "Set cbsi:budgets.activateCostTags: true a day after the first deployment, `pulumi up` "
    "(in the payer account for an AWS Organizations member)",
)
def cost_tags(ctx: Context) -> Finding:
    wanted = ["academy", "steward"]
    tags = ctx.aws("ce").list_cost_allocation_tags(TagKeys=wanted)["CostAllocationTags"]
    status = {t["TagKey"]: t["Status"] for t in tags}
    if all(status.get(k) == "Active" for k in wanted):
        return passed("academy and steward: Active")
    return failed(", ".join(f"{k}: {status.get(k, 'unknown to billing')}" for k in wanted))


@check(
    "HO-26",
    "governance",
    "An access review was recorded within 90 days",
    "Review who holds each platform role (IAM Identity Center assignments) and record it "
    "under accessReviews in runbooks/records.yaml",
)
def access_review(ctx: Context) -> Finding:
    recent = [r for r in ctx.records.access_reviews if ctx.today - r.date <= RECORD_AGE]
    if recent:
        last = max(recent, key=lambda r: r.date)
        return passed(f"{last.date} by {last.by}: {last.scope}")
    return failed(f"no access review since {ctx.today - RECORD_AGE} in runbooks/records.yaml")


_contact("SECURITY", "security")
_contact("BILLING", "billing")
_contact("OPERATIONS", "operations")

manual(
    "HO-M1",
    "The AWS account is assigned to IMPACS",
    "AWS, INL and IMPACS",
    "AWS's standard terms exclude assignments from a government entity: INL opens the "
    "assignment with AWS (account team and AWS Support); record the sign-off",
)
manual(
    "HO-M2",
    "The domain's registrar account is transferred to IMPACS",
    "INL and IMPACS",
    "Transfer the registration (or its registrar account) to IMPACS and point it at the "
    "IMPACS zone's name servers",
)
manual(
    "HO-M3",
    "Third-party accounts are IMPACS's: mail, monitoring, CI",
    "INL and IMPACS",
    "Move the SES/SMTP, paging and CI accounts to IMPACS owners; rotate their tokens",
)
manual(
    "HO-M4",
    "Knowledge transfer is complete",
    "INL and IMPACS platform leads",
    "Walk every runbook with IMPACS's on-call; both leads sign off in runbooks/records.yaml",
)
