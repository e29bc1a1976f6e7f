"""Run the real Pulumi program under the SDK's mocks and record everything it registers.

This is not a deployment engine: it uses `pulumi.runtime.set_mocks` with a `MockMonitor` that
remembers each registration (type, name, parent, dependencies, provider, options and inputs) and
answers with deterministic ids and realistic outputs, so that two plans of the same config are equal
and an ARN is never the string "None". `pulumi up` on a machine with the CLI runs the same program.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

from infra.config import PROJECT, to_pulumi_config
from infra.errors import ProgramError

SECRET = "[secret]"
ACCOUNT_ID = "123456789012"  # the documentation account id, never a real one
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Registration:
    """One resource as the program registered it."""

    mock_urn: str
    type: str
    name: str
    custom: bool
    parent: str  # mock URN of the parent, "" for the stack
    provider: str
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    inputs: dict[str, Any]


@dataclass
class ProgramRun:
    """What one run of the program produced."""

    project: str
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)


def mask_secrets(value: Any) -> Any:
    """Replace every wrapped secret with `[secret]`, at any depth; describe assets by path."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {k: mask_secrets(v) for k, v in sorted(value.assets.items())}}
    if isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        return {
            "file": str(Path(value.path).resolve().relative_to(Path.cwd().resolve()))
            if Path(value.path).resolve().is_relative_to(Path.cwd().resolve())
            else value.path
        }
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return {"asset": type(value).__name__}
    if isinstance(value, dict):
        return {k: mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


# Prefixes AWS uses for ids, so that ids in a plan look like the real thing.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/flowLog:FlowLog": "fl-",
    "aws:ec2/instance:Instance": "i-",
    "aws:efs/fileSystem:FileSystem": "fs-",
    "aws:efs/accessPoint:AccessPoint": "fsap-",
    "aws:efs/mountTarget:MountTarget": "fsmt-",
    "aws:route53/zone:Zone": "Z",
}


def _computed_outputs(
    typ: str, name: str, digest: str, inputs: dict[str, Any], region: str
) -> dict[str, Any]:
    """Outputs AWS computes that the program reads, shaped like the real ones."""
    short = digest[:8]
    if typ == "aws:lb/loadBalancer:LoadBalancer":
        return {
            "dnsName": f"{name}-{short}.{region}.elb.amazonaws.com",
            "zoneId": "Z35SXDOTRQ7X7K",
            "arnSuffix": f"app/{name}/{digest[:16]}",
        }
    if typ == "aws:lb/targetGroup:TargetGroup":
        return {"arnSuffix": f"targetgroup/{name}/{digest[:16]}"}
    if typ == "aws:route53/zone:Zone":
        return {
            "zoneId": f"Z{digest[:20].upper()}",
            "nameServers": [f"ns-{int(digest[i : i + 3], 16)}.awsdns-{i:02d}.org" for i in (0, 3)],
        }
    if typ == "aws:route53/record:Record":
        return {"fqdn": inputs.get("name", name)}
    if typ == "aws:acm/certificate:Certificate":
        domain = str(inputs.get("domainName", name)).removeprefix("*.")
        return {
            "domainValidationOptions": [
                {
                    "domainName": inputs.get("domainName"),
                    "resourceRecordName": f"_{short}.{domain}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": f"_{digest[8:16]}.acm-validations.aws.",
                }
            ]
        }
    if typ == "aws:acm/certificateValidation:CertificateValidation":
        return {"certificateArn": inputs.get("certificateArn")}
    if typ == "aws:ecr/repository:Repository":
        return {"repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{name}"}
    if typ == "aws:rds/instance:Instance":
        secret_name = f"rds!db-{digest[:8]}-{digest[8:14]}"
        secret = f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{secret_name}"
        return {
            "identifier": name,
            "address": f"{name}.{short}.{region}.rds.amazonaws.com",
            "port": 5432,
            "masterUserSecrets": [{"secretArn": secret, "secretStatus": "active"}],
        }
    if typ == "aws:cloudfront/distribution:Distribution":
        return {"domainName": f"d{digest[:13]}.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2"}
    if typ == "aws:ec2/instance:Instance":
        return {"privateIp": f"10.0.{int(digest[:2], 16)}.{int(digest[2:4], 16) % 250 + 4}"}
    if typ == "aws:kms/key:Key":
        return {
            "keyId": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        }
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or name
        return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    if typ == "aws:elasticache/replicationGroup:ReplicationGroup":
        return {"primaryEndpointAddress": f"master.{name}.{short}.use1.cache.amazonaws.com"}
    if typ.startswith("random:") and typ.endswith("RandomPassword"):
        # Marked secret by the monitor (the provider declares it in additionalSecretOutputs).
        return {"result": f"mock-password-{digest[:24]}"}
    return {}


class OfflineMocks(pulumi_mocks.Mocks):
    """Deterministic answers for resources and invokes."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        digest = _digest(args.typ, args.name)
        if not args.custom:
            return "", {}  # components have no physical id and no provider outputs
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider", {}
        resource_id = _ID_PREFIX.get(args.typ, "") + digest[:17]
        service = args.typ.split(":")[1].split("/")[0]
        outputs = dict(args.inputs)
        # Pulumi auto-names physical resources (name plus a random suffix); keep the shape,
        # make the suffix deterministic.
        name = outputs.get("name") or f"{args.name}-{digest[:7]}"
        outputs.setdefault("name", name)
        outputs["id"] = resource_id
        outputs["arn"] = self._arn(args.typ, service, name, resource_id)
        if args.typ == "aws:ec2/eip:Eip":
            # TEST-NET-3 addresses: obviously not real.
            outputs["publicIp"] = f"203.0.113.{int(digest[:4], 16) % 254 + 1}"
        outputs.update(_computed_outputs(args.typ, name, digest, args.inputs, self.region))
        return resource_id, outputs

    def _arn(self, typ: str, service: str, name: str, resource_id: str) -> str:
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{name}"
        if service == "iam":
            kind = typ.split("/")[1].split(":")[0]
            return f"arn:aws:iam::{ACCOUNT_ID}:{kind}/{name}"
        if typ == "aws:rds/instance:Instance":
            return f"arn:aws:rds:{self.region}:{ACCOUNT_ID}:db:{name}"
        if service == "s3":
            return f"arn:aws:s3:::{name}"
        if service == "secretsmanager":
            return (
                f"arn:aws:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:{name}-{resource_id[:6]}"
            )
        kind = typ.split("/")[1].split(":")[0].lower()
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{kind}/{resource_id}"

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"
            return {
                "id": self.region,
                "names": [f"{self.region}{x}" for x in letters],
                "zoneIds": [f"use1-az{i + 1}" for i in range(len(letters))],
                "groupNames": [self.region] * len(letters),
            }
        if args.token == "aws:ec2/getAmi:getAmi":
            arch = "arm64" if "arm64" in json.dumps(args.args.get("filters")) else "amd64"
            return {
                "id": f"ami-0{_digest(arch)[:16]}",
                "architecture": arch,
                "name": f"debian-12-{arch}-20261101-1",
            }
        if args.token == "aws:elb/getServiceAccount:getServiceAccount":
            return {"id": "127311923021", "arn": "arn:aws:iam::127311923021:root"}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:root"}
        raise ProgramError(
            f"the offline planner has no answer for the invoke {args.token}; "
            "add one to OfflineMocks.call in cbsi/planner.py"
        )


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping every registration request."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.additionalSecretOutputs and response.object:
            # The engine marks these outputs secret (RandomPassword.result, for one); do the same,
            # so that a secret leaking into a plain input shows up in the plan as it would for real.
            state = rpc.deserialize_properties(response.object)
            for key in request.additionalSecretOutputs:
                if key in state:
                    state[key] = rpc.wrap_rpc_secret(state[key])
            response = resource_pb2.RegisterResourceResponse(
                urn=response.urn,
                id=response.id,
                object=_sync_await(rpc.serialize_properties(state, {})),
            )
        inputs = rpc.deserialize_properties(request.object) if request.type != STACK_TYPE else {}
        self.registrations.append(
            Registration(
                mock_urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                provider=request.provider,
                dependencies=sorted(set(request.dependencies)),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges),
                inputs=mask_secrets(inputs),
            )
        )
        return response


async def _resolve_exports(exports: Mapping[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, value in exports.items():
        output = pulumi.Output.from_input(value)
        secret = await output.is_secret()
        resolved[key] = SECRET if secret else mask_secrets(await output.future())
    return resolved


def run_program(program: Path, stack: str, config: Mapping[str, Any], region: str) -> ProgramRun:
    """Run `program` (a Pulumi `__main__.py`) for `stack` with `config` and record it all."""
    mocks = OfflineMocks(region)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.reset_options(project=PROJECT, stack=stack)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(to_pulumi_config(config), secret_keys=[])
    outputs: dict[str, Any] = {}

    exports: dict[str, Any] = {}

    @pulumi.runtime.test  # returns once every registration and Output has settled
    def run() -> None:
        runpy.run_path(str(program), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        exports.update(getattr(root, "outputs", {}) or {})

    @pulumi.runtime.test
    def collect() -> pulumi.Output[None]:
        async def resolve() -> None:
            outputs.update(await _resolve_exports(exports))

        return pulumi.Output.from_input(resolve())

    try:
        run()
        collect()
    except ProgramError:
        raise
    except pulumi.RunError as exc:
        raise ProgramError(f"the Pulumi program stopped: {exc}") from None
    except Exception as exc:
        raise ProgramError(
            f"the Pulumi program failed: {type(exc).__name__}: {exc} "
            "(set CBSI_DEBUG=1 for the traceback)"
        ) from exc
    return ProgramRun(PROJECT, stack, monitor.registrations, outputs)
