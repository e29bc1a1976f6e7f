"""The media store under the SDK's mocks: hardening, lifecycle, prefixes, CloudFront, DR."""

from __future__ import annotations

import json

import pytest

from infra.components.media_store import academy_prefix, uploader_policy
from infra.platform import PlatformDocument

BUCKET = "arn:aws:s3:::cbsi-connect-prod-media-123456789012"


class named:
    """Resources by name; `[name, "Role"]` picks one type where a role and its policy share one."""

    def __init__(self, plan) -> None:  # type: ignore[no-untyped-def]
        self.resources = [r for r in plan.resources if r.custom]

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        name, kind = key if isinstance(key, tuple) else (key, "")
        (found,) = [r for r in self.resources if r.name == name and r.type.endswith(kind)]
        return found

    def __contains__(self, name: str) -> bool:
        return any(r.name == name for r in self.resources)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(r.name for r in self.resources)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_media_bucket_is_private_encrypted_versioned_and_tls_only(plan_of, stack: str) -> None:
    res = named(plan_of(stack))
    block = res["media-bucket-public-access"].inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                  "restrictPublicBuckets"))  # fmt: skip
    sse = res["media-bucket-encryption"].inputs["rules"][0]
    default = sse["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"
    assert default["kmsMasterKeyId"] == res["media-key"].inputs.get(
        "arn", default["kmsMasterKeyId"]
    )
    assert sse["bucketKeyEnabled"] is True
    assert res["media-key"].inputs["enableKeyRotation"] is True
    assert res["media-bucket-versioning"].inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert res["media-bucket-logging"].inputs["targetPrefix"] == "s3-access/"
    assert res["media-bucket-ownership"].inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    policy = json.loads(res["media-bucket-policy"].inputs["policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_lifecycle_ages_recordings_and_expires_old_versions(plan_of) -> None:
    rules = {r["id"]: r for r in named(plan_of("prod"))["media-bucket-lifecycle"].inputs["rules"]}
    jamaica = rules["recordings-jamaica"]
    assert jamaica["filter"] == {"prefix": "academies/jamaica/recordings/"}
    assert [(t["days"], t["storageClass"]) for t in jamaica["transitions"]] == [
        (30, "STANDARD_IA"),
        (180, "GLACIER_IR"),
    ]
    old = rules["old-versions-and-stalled-uploads"]
    assert old["noncurrentVersionExpiration"] == {"noncurrentDays": 90}
    assert old["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert len(rules) == 19 + 1


def test_cors_allows_exactly_the_academy_hostnames(plan_of) -> None:
    (rule,) = named(plan_of("dev"))["media-bucket-cors"].inputs["corsRules"]
    assert rule["allowedOrigins"] == [
        "https://impacs.dev.cbsi-connect.org",
        "https://jamaica.dev.cbsi-connect.org",
    ]
    assert rule["allowedMethods"] == ["GET", "HEAD"]


def test_an_uploader_cannot_write_another_academys_prefix(plan_of) -> None:
    res = named(plan_of("prod"))
    document = json.loads(res["academy-jamaica-uploader", ":RolePolicy"].inputs["policy"])
    writes = [s for s in document["Statement"] if "s3:PutObject" in s["Action"]]
    assert [w["Resource"] for w in writes] == [f"{BUCKET}/academies/jamaica/*"]
    listing = [s for s in document["Statement"] if s["Action"] == "s3:ListBucket"]
    assert listing[0]["Condition"] == {"StringLike": {"s3:prefix": ["academies/jamaica/*"]}}
    # Nothing in the document reaches the IMPACS prefix or the bucket as a whole.
    text = json.dumps(document)
    assert "academies/impacs" not in text and f"{BUCKET}/*" not in text
    trust = json.loads(res["academy-jamaica-uploader", ":Role"].inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    reader = json.loads(res["academy-jamaica-task-media"].inputs["policy"])
    assert reader["Statement"][0] == {
        "Sid": "ReadOwnPrefix",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"{BUCKET}/academies/jamaica/*",
    }


def test_uploader_policy_prefixes_do_not_overlap() -> None:
    # "jamaica" must not reach "jamaica-staff-college": the prefix ends with a slash.
    one = uploader_policy(BUCKET, "k", "jamaica")["Statement"][0]["Resource"]
    assert one == f"{BUCKET}/academies/jamaica/*"
    assert not f"{BUCKET}/{academy_prefix('jamaica-staff-college')}x".startswith(one[:-1])


def test_cloudfront_uses_oac_https_and_the_media_certificate(plan_of) -> None:
    res = named(plan_of("prod"))
    cdn = res["media-cdn"].inputs
    (origin,) = cdn["origins"]
    assert origin["domainName"] == "cbsi-connect-prod-media-123456789012.s3.us-east-1.amazonaws.com"
    assert origin["originAccessControlId"] and "s3OriginConfig" not in origin  # OAC, not OAI
    assert res["media-oac"].inputs["signingBehavior"] == "always"
    assert cdn["defaultCacheBehavior"]["viewerProtocolPolicy"] == "https-only"
    assert cdn["defaultCacheBehavior"]["compress"] is True
    assert cdn["viewerCertificate"]["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert cdn["viewerCertificate"]["sslSupportMethod"] == "sni-only"
    assert cdn["aliases"] == ["media.cbsi-connect.org"] and cdn["priceClass"] == "PriceClass_100"
    assert res["media-cert"].inputs["region"] == "us-east-1"
    policy = json.loads(res["media-bucket-policy"].inputs["policy"])
    (read,) = [s for s in policy["Statement"] if s.get("Sid") == "CloudFrontReads"]
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Condition"]["StringEquals"]["AWS:SourceArn"].startswith("arn:aws:cloudfront")
    assert res["media-cdn-log-delivery"].inputs["region"] == "us-east-1"


def test_replication_and_backup_only_in_prod(plan_of) -> None:
    prod, dev = named(plan_of("prod")), named(plan_of("dev"))
    replication = prod["media-replication", "BucketReplicationConfig"].inputs
    (rule,) = replication["rules"]
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    assert prod["media-replica"].inputs["region"] == "us-west-2"
    assert prod["media-replica-key"].inputs["region"] == "us-west-2"
    assert prod["media-backup-plan"].inputs["rules"][0]["lifecycle"] == {"deleteAfter": 35}
    assert prod["media-backup-selection"].inputs["resources"] == [BUCKET]
    assert not any(n.startswith(("media-replica", "media-backup", "media-vault")) for n in dev)


def test_platform_document_lists_media_and_prefixes(plan_of) -> None:
    doc = PlatformDocument.model_validate(plan_of("prod").outputs["platform"])
    assert doc.media.hostname == "media.cbsi-connect.org"
    assert doc.media.replica_bucket == "cbsi-connect-prod-media-replica-123456789012"
    for academy in doc.academies:
        assert academy.media_prefix == f"academies/{academy.slug}/"
        assert academy.uploader_role_arn.startswith("arn:aws:iam::123456789012:role/")
