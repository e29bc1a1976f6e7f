"""What is reachable: security groups, VPCs, the load balancer and CloudFront."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pulumi_policy import PolicyResource

from infra.policy.base import (
    Context,
    Controls,
    Params,
    Props,
    as_list,
    depending_on,
    is_prod,
    matches,
    names,
    of_type,
    resource_rule,
    stack_rule,
)

INGRESS = ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",)
GROUP = ("aws:ec2/securityGroup:SecurityGroup",)
EVERYWHERE = {"0.0.0.0/0", "::/0"}
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}

# The documented exceptions to "nothing open to the internet". Each names the rules (resource name
# patterns), the protocol and the port range allowed, and why.
PUBLIC_INGRESS = {
    "type": "array",
    "default": [
        {
            "rules": "lms-alb-in-*",
            "protocol": "tcp",
            "ports": [80, 80],
            "why": "the load balancer answers plain HTTP only to redirect it to HTTPS",
        },
        {
            "rules": "lms-alb-in-*",
            "protocol": "tcp",
            "ports": [443, 443],
            "why": "the academies' Moodle sites are public web sites",
        },
        {
            "rules": "relays-in-*",
            "protocol": "udp",
            "ports": [3478, 3478],
            "why": "STUN/TURN must be reachable from any police network",
        },
        {
            "rules": "relays-in-*",
            "protocol": "tcp",
            "ports": [3478, 3478],
            "why": "TURN over TCP for networks that block UDP",
        },
        {
            "rules": "relays-in-*",
            "protocol": "tcp",
            "ports": [5349, 5349],
            "why": "TURN over TLS for networks that allow only TLS",
        },
        {
            "rules": "relays-in-*",
            "protocol": "udp",
            "ports": [49152, 65535],
            "why": "the relay port range, where classroom media flows",
        },
    ],
    "description": "Ingress from anywhere that the platform needs: rules, protocol, port range",
}

# Listener policies allowing only TLS 1.2+ with forward secrecy.
MODERN_TLS = names(
    "Load balancer TLS policies accepted",
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10",
)


def _ports(props: Props) -> tuple[int, int]:
    if props.get("ipProtocol") in ("-1", "all"):
        return 0, 65535
    return int(props.get("fromPort", 0)), int(props.get("toPort", 65535))


def _from_everywhere(props: Props) -> bool:
    return bool({props.get("cidrIpv4"), props.get("cidrIpv6")} & EVERYWHERE)


RULE_KEYS = ("cidrIpv4", "cidrIpv6", "ipProtocol", "fromPort", "toPort")


def _ingress(props: Props) -> list[dict[str, Any]]:
    """A standalone rule, or a security group's inline rules, as plain dicts of what the rules
    read (reading only these keys keeps an unknown group id from blocking the check)."""
    if "ingress" not in props:
        return [{k: props.get(k) for k in RULE_KEYS if props.get(k) is not None}]
    return _inline_ingress(props)


def _inline_ingress(props: Props) -> list[dict[str, Any]]:
    """A security group's inline `ingress` blocks, as standalone-rule shaped dicts."""
    rules = []
    for block in as_list(props.get("ingress")):
        for cidr in [*as_list(block.get("cidrBlocks")), *as_list(block.get("ipv6CidrBlocks"))]:
            rules.append(
                {
                    "cidrIpv4": cidr,
                    "ipProtocol": block.get("protocol"),
                    "fromPort": block.get("fromPort", 0),
                    "toPort": block.get("toPort", 65535),
                }
            )
    return rules


@resource_rule(
    "sg-public-ingress-allowed",
    (*INGRESS, *GROUP),
    "Ingress from anywhere only on the documented ports of the load balancer and relays",
    Controls(("CKV_AWS_260", "CKV_AWS_277"), ("EC2.18", "EC2.19")),
    params={"allowed": PUBLIC_INGRESS},
)
def _public_ingress(props: Props, ctx: Context) -> Iterable[str]:
    rules = _ingress(props)
    for rule in rules:
        if not _from_everywhere(rule):
            continue
        low, high = _ports(rule)
        protocol = str(rule.get("ipProtocol"))
        if not any(
            matches(ctx.name, [exception["rules"]])
            and exception["protocol"] == protocol
            and exception["ports"][0] <= low <= high <= exception["ports"][1]
            for exception in ctx.params["allowed"]
        ):
            yield f"{protocol} {low}-{high} is open to the internet and is no documented exception"


@resource_rule(
    "sg-no-public-admin-ports",
    (*INGRESS, *GROUP),
    "SSH and RDP are never open to the internet (operators use SSM Session Manager)",
    Controls(("CKV_AWS_24", "CKV_AWS_25"), ("EC2.13", "EC2.14", "EC2.53"), ("5.2", "5.3")),
)
def _admin_ports(props: Props, ctx: Context) -> Iterable[str]:
    rules = _ingress(props)
    for rule in rules:
        if not _from_everywhere(rule):
            continue
        low, high = _ports(rule)
        for port, service in ADMIN_PORTS.items():
            if low <= port <= high:
                yield f"{service} (port {port}) is open to the internet"


@resource_rule(
    "sg-default-restricts-all",
    ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",),
    "The VPC's default security group allows no traffic",
    Controls(("CKV2_AWS_12",), ("EC2.2",), ("5.4",)),
)
def _default_sg(props: Props, ctx: Context) -> Iterable[str]:
    for direction in ("ingress", "egress"):
        if as_list(props.get(direction)):
            yield f"the default security group has {direction} rules"


@resource_rule(
    "sg-described",
    (*GROUP,),
    "Every security group says what it is for",
    Controls(("CKV_AWS_23",)),
)
def _described(props: Props, ctx: Context) -> Iterable[str]:
    description = props.get("description")
    if not description or description == "Managed by Pulumi":
        yield "description is missing"


@stack_rule(
    "vpc-flow-logs",
    "Every VPC logs its traffic",
    Controls(("CKV2_AWS_11",), ("EC2.6",), ("3.7",)),
)
def _flow_logs(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for vpc in of_type(resources, "aws:ec2/vpc:Vpc"):
        if not depending_on(resources, vpc, "aws:ec2/flowLog:FlowLog"):
            yield f"VPC {vpc.name} has no flow log", vpc.urn


LISTENER = ("aws:lb/listener:Listener",)
BALANCER = ("aws:lb/loadBalancer:LoadBalancer",)


@resource_rule(
    "alb-http-redirects",
    LISTENER,
    "Plain HTTP listeners only redirect to HTTPS",
    Controls(("CKV_AWS_2", "CKV2_AWS_20"), ("ELB.1",)),
)
def _http_redirects(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("protocol") != "HTTP":
        return
    actions = as_list(props.get("defaultActions"))
    redirects = all(
        a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS"
        for a in actions
    )
    if not actions or not redirects:
        yield "an HTTP listener serves content instead of redirecting to HTTPS"


@resource_rule(
    "alb-tls-policy",
    LISTENER,
    "HTTPS listeners use a TLS 1.2+ forward-secret policy",
    Controls(("CKV_AWS_103",), ("ELB.17",)),
    params={"policies": MODERN_TLS},
)
def _tls_policy(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("protocol") in ("HTTPS", "TLS"):
        policy = props.get("sslPolicy")
        if policy not in ctx.params["policies"]:
            yield f"sslPolicy {policy!r} is not a modern policy (missing means a 2016 policy)"


@resource_rule(
    "alb-drop-invalid-headers",
    BALANCER,
    "Application load balancers drop invalid HTTP headers",
    Controls(("CKV_AWS_131",), ("ELB.4",)),
)
def _drop_headers(props: Props, ctx: Context) -> Iterable[str]:
    if props.get("loadBalancerType", "application") == "application" and (
        props.get("dropInvalidHeaderFields") is not True
    ):
        yield "dropInvalidHeaderFields must be true"


@resource_rule(
    "alb-access-logs",
    BALANCER,
    "Load balancers write access logs",
    Controls(("CKV_AWS_91",), ("ELB.5",)),
)
def _alb_logs(props: Props, ctx: Context) -> Iterable[str]:
    if (props.get("accessLogs") or {}).get("enabled") is not True:
        yield "accessLogs.enabled must be true"


@resource_rule(
    "alb-deletion-protection-prod",
    BALANCER,
    "In prod, load balancers have deletion protection",
    Controls(("CKV_AWS_150",), ("ELB.6",)),
)
def _alb_deletion(props: Props, ctx: Context) -> Iterable[str]:
    if is_prod(props) and props.get("enableDeletionProtection") is not True:
        yield "enableDeletionProtection must be true in prod"


DISTRIBUTION = ("aws:cloudfront/distribution:Distribution",)


@resource_rule(
    "cloudfront-https-only",
    DISTRIBUTION,
    "CloudFront serves viewers over HTTPS only",
    Controls(("CKV_AWS_34",), ("CloudFront.3",)),
)
def _cf_https(props: Props, ctx: Context) -> Iterable[str]:
    behaviours = [
        props.get("defaultCacheBehavior") or {},
        *as_list(props.get("orderedCacheBehaviors")),
    ]
    for behaviour in behaviours:
        policy = behaviour.get("viewerProtocolPolicy")
        if policy not in ("https-only", "redirect-to-https"):
            yield f"viewerProtocolPolicy {policy!r} allows plain HTTP"


@resource_rule(
    "cloudfront-modern-tls",
    DISTRIBUTION,
    "CloudFront uses our certificate with TLS 1.2 or later",
    Controls(("CKV_AWS_174", "CKV2_AWS_42", "CKV2_AWS_54"), ("CloudFront.7",)),
)
def _cf_tls(props: Props, ctx: Context) -> Iterable[str]:
    certificate = props.get("viewerCertificate") or {}
    if not certificate.get("acmCertificateArn"):
        yield "viewerCertificate has no ACM certificate (the default certificate allows TLS 1.0)"
    version = str(certificate.get("minimumProtocolVersion", "TLSv1"))
    if not version.startswith(("TLSv1.2", "TLSv1.3")):
        yield f"minimumProtocolVersion {version!r} is older than TLS 1.2"


@resource_rule(
    "cloudfront-oac",
    DISTRIBUTION,
    "S3 origins are reached through origin access control, never a public bucket",
    Controls(("CKV2_AWS_46",), ("CloudFront.13",)),
)
def _cf_oac(props: Props, ctx: Context) -> Iterable[str]:
    for origin in as_list(props.get("origins")):
        s3 = ".s3." in str(origin.get("domainName", ""))
        if s3 and not origin.get("originAccessControlId"):
            yield f"origin {origin.get('originId')} reads S3 without origin access control"


@stack_rule(
    "cloudfront-logging",
    "CloudFront distributions log requests (standard logging or log delivery v2)",
    Controls(("CKV_AWS_86",), ("CloudFront.5",)),
)
def _cf_logging(resources: list[PolicyResource], params: Params) -> Iterable[tuple[str, str]]:
    for distribution in of_type(resources, *DISTRIBUTION):
        if distribution.props.get("loggingConfig"):
            continue
        kind = "aws:cloudwatch/logDeliverySource:LogDeliverySource"
        if not depending_on(resources, distribution, kind):
            yield f"distribution {distribution.name} has no access logging", distribution.urn
