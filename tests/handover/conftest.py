"""A compliant IMPACS account on moto's server, and the project that describes it.

moto has no AWS Backup selections or jobs, no cost-allocation tag API, and always reports the root
user without MFA; those four operations are answered by `Stubbed`, with responses shaped like AWS's
and validated against botocore's service model. Everything else is moto over HTTP.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from cbsi.handover.model import Context
from cbsi.handover.records import Records
from cbsi.project import Project
from infra.config import load_stack_file
from infra.platform import PlatformDocument
from tests.conftest import ROOT, plan_config, stack_config
from tests.support.moto import client, moto_server

IMPACS, INL = "444455556666", "111122223333"
BACKEND = "s3://cbsi-connect-pulumi-state-impacs"
KMS_ALIAS = "alias/cbsi-pulumi-secrets"
NOW = dt.datetime.now(dt.UTC)


def handover_config() -> dict[str, Any]:
    """The dev stack as it stands after the handover: phase impacs, IMPACS everywhere."""
    config = copy.deepcopy(stack_config("dev"))
    config["cbsi:stewardship"].update(
        phase="impacs",
        platformSteward="impacs",
        handoverDate=str(NOW.date() - dt.timedelta(days=2)),
    )
    config["cbsi:oncall"].append(
        {
            "name": "IMPACS Operations Centre",
            "email": "ops@impacs.cbsi-connect.org",
            "organisation": "impacs",
        }
    )
    for academy in config["cbsi:academies"]:
        academy["steward"] = "impacs"
    config["cbsi:budgets"] = {
        "platformUsd": 300,
        "academyUsd": {"small": 35, "medium": 85, "large": 300},
    }
    config["cbsi:recovery"] = {
        "database": {"rpoHours": 1, "rtoHours": 4},
        "fileSystem": {"rpoHours": 24, "rtoHours": 8},
        "media": {"rpoHours": 24, "rtoHours": 24},
    }
    return config


@pytest.fixture(scope="session")
def planned_doc() -> PlatformDocument:
    return PlatformDocument.model_validate(plan_config(handover_config()).outputs["platform"])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    # AdministratorAccess and the other AWS-managed policies exist in every real account.
    saved = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    try:
        with moto_server() as url:
            yield url
    finally:
        if saved is None:
            os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES")
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = saved


class Stubbed:
    """Answers chosen operations of a real client with validated, AWS-shaped responses."""

    def __init__(self, real: Any, answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]):
        from botocore.awsrequest import AWSResponse
        from botocore.validate import validate_parameters

        self.real = real
        model = real.meta.service_model

        def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["stubbed_params"] = dict(params)

        def handler(model_op: str) -> Callable[..., Any]:
            def answer(context: dict[str, Any], **_: Any) -> Any:
                response = answers[model_op](context["stubbed_params"])
                validate_parameters(response, model.operation_model(model_op).output_shape)
                return AWSResponse("https://stubbed", 200, {}, None), response

            return answer

        service = model.service_id.hyphenize()
        for op in answers:
            real.meta.events.register(f"before-parameter-build.{service}.{op}", keep)
            real.meta.events.register(f"before-call.{service}.{op}", handler(op))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@dataclass
class Account:
    """The seeded account and what the checks read; tests break one thing and rerun."""

    endpoint: str
    creds: dict[str, str]
    doc: PlatformDocument
    project: Path
    records: dict[str, Any]
    summary: dict[str, int] = field(
        default_factory=lambda: {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}
    )
    selections: dict[str, list[str]] = field(default_factory=dict)  # plan -> resource ARNs
    jobs: dict[str, dt.datetime] = field(default_factory=dict)  # resource ARN -> completion
    cost_tags: dict[str, str] = field(
        default_factory=lambda: {"academy": "Active", "steward": "Active"}
    )
    changes: dict[str, Any] = field(default_factory=dict)  # cfg overrides by dotted name

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return client(self.endpoint, service, region, **self.creds)

    def clients(self) -> Callable[[str, str], Any]:
        cache: dict[tuple[str, str], Any] = {}

        def make(service: str, region: str) -> Any:
            if (service, region) not in cache:
                real = self.client(service, region)
                answers = {
                    "iam": {"GetAccountSummary": lambda p: {"SummaryMap": dict(self.summary)}},
                    "ce": {"ListCostAllocationTags": self._cost_tags},
                    "backup": {
                        "ListBackupSelections": self._selections,
                        "GetBackupSelection": self._selection,
                        "ListBackupJobs": self._jobs,
                        "ListBackupPlans": self._plans,
                    },
                }.get(service)
                cache[(service, region)] = Stubbed(real, answers) if answers else real
            return cache[(service, region)]

        return make

    def _plans(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "BackupPlansList": [
                {
                    "BackupPlanId": f"id-{name}",
                    "BackupPlanName": name,
                    "BackupPlanArn": f"arn:aws:backup:us-east-1:{IMPACS}:backup-plan:id-{name}",
                }
                for name in self.selections
            ]
        }

    def _selections(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["BackupPlanId"].removeprefix("id-")
        return {
            "BackupSelectionsList": [
                {
                    "SelectionId": f"sel-{name}",
                    "SelectionName": name,
                    "BackupPlanId": params["BackupPlanId"],
                }
            ]
        }

    def _selection(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["BackupPlanId"].removeprefix("id-")
        return {
            "BackupSelection": {
                "SelectionName": name,
                "IamRoleArn": f"arn:aws:iam::{IMPACS}:role/backup",
                "Resources": self.selections[name],
            },
            "SelectionId": params["SelectionId"],
            "BackupPlanId": params["BackupPlanId"],
        }

    def _jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        arn, after = params["ByResourceArn"], params["ByCreatedAfter"]
        done = self.jobs.get(arn)
        jobs = (
            [
                {
                    "BackupJobId": "job-1",
                    "ResourceArn": arn,
                    "State": "COMPLETED",
                    "CreationDate": done - dt.timedelta(minutes=30),
                    "CompletionDate": done,
                }
            ]
            if done and done >= after
            else []
        )
        return {"BackupJobs": jobs}

    def _cost_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "CostAllocationTags": [
                {"TagKey": k, "Type": "UserDefined", "Status": v} for k, v in self.cost_tags.items()
            ]
        }

    def context(self) -> Context:
        stack_file = self.project / "stacks" / "Pulumi.dev.yaml"
        cfg = load_stack_file(stack_file)
        for dotted, value in self.changes.items():
            cfg = _override(cfg, dotted.split("."), value)
        records = Records.model_validate(self.records)
        return Context("dev", cfg, self.doc, Project(self.project), records, self.clients(), NOW)


def _override(model: Any, path: list[str], value: Any) -> Any:
    if len(path) == 1:
        return model.model_copy(update={path[0]: value})
    return model.model_copy(update={path[0]: _override(getattr(model, path[0]), path[1:], value)})


def reset(endpoint: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))


@pytest.fixture
def account(endpoint: str, planned_doc: PlatformDocument, tmp_path: Path) -> Iterator[Account]:
    reset(endpoint)
    sts = client(endpoint, "sts")
    got = sts.assume_role(
        RoleArn=f"arn:aws:iam::{IMPACS}:role/handover-check", RoleSessionName="handover"
    )["Credentials"]
    creds = {
        "aws_access_key_id": got["AccessKeyId"],
        "aws_secret_access_key": got["SecretAccessKey"],
        "aws_session_token": got["SessionToken"],
    }
    project = _project(tmp_path)
    acct = Account(endpoint, creds, planned_doc, project, _records())
    acct.doc = seed(acct, planned_doc)
    try:
        yield acct
    finally:
        reset(endpoint)  # moto's backends are global to the process: leave them empty


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    yaml = YAML()
    settings = yaml.load((ROOT / "Pulumi.yaml").read_text())
    settings["backend"] = {"url": BACKEND}
    with (root / "Pulumi.yaml").open("w") as out:
        yaml.dump(settings, out)
    with (root / "stacks" / "Pulumi.dev.yaml").open("w") as out:
        yaml.dump(
            {
                "secretsprovider": f"awskms://{KMS_ALIAS}?region=us-east-1",
                "config": handover_config(),
            },
            out,
        )
    shutil.copytree(ROOT / "runbooks", root / "runbooks")
    (root / "infra").symlink_to(ROOT / "infra", target_is_directory=True)
    return root


def _records() -> dict[str, Any]:
    recent = str(NOW.date() - dt.timedelta(days=10))
    return {
        "restoreTests": [
            {
                "component": c,
                "date": recent,
                "by": "IMPACS on-call",
                "result": "pass",
                "restoredInHours": 2,
            }
            for c in ("database", "fileSystem", "media")
        ],
        "accessReviews": [{"date": recent, "by": "IMPACS security", "scope": "all platform roles"}],
        "signoffs": [],
    }


def seed(acct: Account, planned: PlatformDocument) -> PlatformDocument:
    """Creates what a compliant stack has in IMPACS's account; returns the document with the ids
    AWS (moto) gave them."""
    doc = json.loads(planned.model_dump_json(by_alias=True))
    tags = [
        {"Key": "project", "Value": planned.project},
        {"Key": "environment", "Value": "dev"},
        {"Key": "steward", "Value": "impacs"},
    ]
    iam = acct.client("iam")
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"AWS": f"arn:aws:iam::{IMPACS}:root"},
                    "Condition": mfa,
                }
            ],
        }
    )
    for role, arn in planned.stewardship.roles.items():  # type: ignore[union-attr]
        made = iam.create_role(RoleName=arn.rsplit("/", 1)[1], AssumeRolePolicyDocument=trust)[
            "Role"
        ]
        doc["stewardship"]["roles"][role] = made["Arn"]
        if role in ("platform-admin", "break-glass"):
            iam.attach_role_policy(
                RoleName=made["RoleName"], PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
            )
    s3 = acct.client("s3")
    for bucket in (
        planned.media.bucket,
        planned.stewardship.trail_bucket,
        BACKEND.removeprefix("s3://"),
    ):  # type: ignore[union-attr]
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    trail = acct.client("cloudtrail")
    trail.create_trail(
        Name=planned.stewardship.trail_name,
        S3BucketName=planned.stewardship.trail_bucket,  # type: ignore[union-attr]
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
    )
    trail.start_logging(Name=planned.stewardship.trail_name)  # type: ignore[union-attr]
    acct.client("guardduty").create_detector(Enable=True)
    rds = acct.client("rds")
    db = rds.create_db_instance(
        DBInstanceIdentifier=planned.lms.db_instance,
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="moodle",
        MasterUserPassword="not-a-secret-123",
        BackupRetentionPeriod=7,
        Tags=tags,
    )["DBInstance"]
    doc["lms"]["dbInstanceArn"] = db["DBInstanceArn"]
    fs = acct.client("efs").create_file_system(CreationToken="moodledata", Tags=tags)
    doc["lms"]["fileSystemId"], doc["lms"]["fileSystemArn"] = (
        fs["FileSystemId"],
        fs["FileSystemArn"],
    )
    sm = acct.client("secretsmanager")

    def secret(name: str) -> str:
        return str(sm.create_secret(Name=name, SecretString="s3cr3t", Tags=tags)["ARN"])

    doc["relays"]["secretArn"] = secret("cbsi/dev/turn-shared-secret")
    doc["lms"]["dbMasterSecretArn"] = secret("rds-db-master")
    doc["lms"]["redisAuthSecretArn"] = secret("lms-redis-auth")
    for academy in doc["academies"]:
        academy["dbSecretArn"] = secret(f"academy-{academy['slug']}-db")
    sns = acct.client("sns")
    topic = sns.create_topic(Name="cbsi-dev-security", Tags=tags)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="security@impacs.cbsi-connect.org")
    doc["stewardship"]["securityTopicArn"] = topic
    events = acct.client("events")
    glass = doc["stewardship"]["roles"]["break-glass"].rsplit("/", 1)[1]
    events.put_rule(
        Name="cbsi-dev-break-glass",
        EventPattern=json.dumps(
            {
                "source": ["aws.sts"],
                "detail": {
                    "eventName": ["AssumeRole"],
                    "requestParameters": {"roleArn": [{"suffix": f"/{glass}"}]},
                },
            }
        ),
    )
    events.put_targets(Rule="cbsi-dev-break-glass", Targets=[{"Id": "security", "Arn": topic}])
    route53 = acct.client("route53")
    zone = route53.create_hosted_zone(Name=planned.domain, CallerReference="zone")["HostedZone"][
        "Id"
    ]
    acm = acct.client("acm")
    cert = acm.request_certificate(DomainName=f"*.{planned.domain}", ValidationMethod="DNS")[
        "CertificateArn"
    ]
    option = acm.describe_certificate(CertificateArn=cert)["Certificate"][
        "DomainValidationOptions"
    ][0]
    record = option["ResourceRecord"]
    route53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": record["Name"],
                        "Type": "CNAME",
                        "TTL": 300,
                        "ResourceRecords": [{"Value": record["Value"]}],
                    },
                }
            ]
        },
    )
    kms = acct.client("kms")
    key = kms.create_key(Description="Pulumi secrets")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=KMS_ALIAS, TargetKeyId=key)
    budgets = acct.client("budgets")
    names = [planned.stewardship.platform_budget, *(a.budget for a in planned.academies)]  # type: ignore[union-attr]
    for name in names:
        budgets.create_budget(
            AccountId=IMPACS,
            Budget={
                "BudgetName": name,
                "BudgetType": "COST",
                "TimeUnit": "MONTHLY",
                "BudgetLimit": {"Amount": "100", "Unit": "USD"},
            },
        )
    contacts = acct.client("account")
    for kind in ("SECURITY", "BILLING", "OPERATIONS"):
        contacts.put_alternate_contact(
            AlternateContactType=kind,
            EmailAddress=f"{kind.lower()}@impacs.cbsi-connect.org",
            Name=f"IMPACS {kind.title()}",
            PhoneNumber="+18686230000",
            Title="Lead",
        )
    doc["stewardship"]["accounts"] = {"inl": INL, "impacs": IMPACS}
    seeded = PlatformDocument.model_validate(doc)
    acct.selections = {
        "cbsi-dev-media": [f"arn:aws:s3:::{planned.media.bucket}"],
        "aws/efs/automatic-backup-plan": [seeded.lms.file_system_arn],
    }
    acct.jobs = {
        arn: NOW - dt.timedelta(hours=3) for arns in acct.selections.values() for arn in arns
    }
    return seeded
