"""Which hosts a task runs on: from the platform document (the stack's outputs) or a file.

Relays come from the platform document, the monitoring host from the stack output
`monitoringHost`. They have no SSH from the internet: an operator reaches them through SSM Session
Manager, with the standard `Host i-* mi-*` ProxyCommand in `~/.ssh/config`, which Fabric reads.
An inventory file (`--inventory`) names hosts directly, for staging rehearsals and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.errors import UsageError
from infra.platform import PlatformDocument

# What each role runs, and how a task restarts or finds it. An inventory may override any of it.
ROLE_VARS: dict[str, dict[str, str]] = {
    "relays": {
        "services": "coturn prometheus-node-exporter",
        "service": "coturn",
        "config": "/etc/turnserver.conf",
        "restart": "systemctl restart coturn",
        "logs": "journalctl -u coturn -n 500 --no-pager",
        "turn_port": "3478",
    },
    "monitoring": {
        "services": "prometheus prometheus-alertmanager prometheus-blackbox-exporter "
        "grafana-server cbsi-exporter",
        "service": "prometheus",
        "config": "/etc/prometheus/prometheus.yml",
        "restart": "systemctl restart prometheus",
        "logs": "journalctl -u prometheus -u cbsi-exporter -n 500 --no-pager",
    },
}
ROLES = tuple(ROLE_VARS)


@dataclass(frozen=True)
class Host:
    """One host of a role, and how to reach it."""

    name: str
    address: str
    role: str
    port: int = 22
    user: str = "admin"  # Debian's cloud images; tasks use sudo unless it is root
    key: str | None = None
    vars: Mapping[str, str] = field(default_factory=dict)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileHost(_File):
    name: str
    address: str
    port: int | None = None


class FileRole(_File):
    vars: dict[str, str] = Field(default_factory=dict)
    hosts: list[FileHost] = Field(default_factory=list)


class InventoryFile(_File):
    """`--inventory FILE`: defaults, then per role its vars and hosts."""

    user: str = "admin"
    port: int = Field(default=22, ge=1, le=65535)
    key: str | None = None
    # Extra variables for every role (a platform's secret ARN and region, for one).
    vars: dict[str, str] = Field(default_factory=dict)
    roles: dict[str, FileRole] = Field(default_factory=dict)


@dataclass(frozen=True)
class Inventory:
    hosts: list[Host]
    # Variables of the platform (the TURN secret's ARN, the region) that tasks may need.
    platform: Mapping[str, str] = field(default_factory=dict)
    user: str = "admin"
    port: int = 22
    key: str | None = None

    def select(self, role: str, hosts: str | None) -> list[Host]:
        """The role's hosts, or those `--hosts H,...` names; a name the inventory lacks is an
        address."""
        names = [h.strip() for h in hosts.split(",") if h.strip()] if hosts else None
        if role not in ROLES:
            raise UsageError(f"--role {role}: no such role; use one of {', '.join(ROLES)}")
        of_role = [h for h in self.hosts if h.role == role]
        if not names:
            if not of_role:
                raise UsageError(
                    f"--role {role}: the inventory has no {role} hosts; name them with --hosts"
                )
            return of_role
        known = {h.name: h for h in of_role} | {h.address: h for h in of_role}
        chosen = []
        for name in names:
            chosen.append(
                known.get(name)
                or Host(name, name, role, self.port, self.user, self.key, self.role_vars(role))
            )
        return chosen

    def role_vars(self, role: str) -> dict[str, str]:
        return {**ROLE_VARS[role], **self.platform}


def from_file(path: Path) -> Inventory:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
        parsed = InventoryFile.model_validate(data or {})
    except FileNotFoundError:
        raise UsageError(f"--inventory {path}: no such file") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "a syntax error"
        raise UsageError(f"--inventory {path}: not valid YAML{where}: {problem}; fix it") from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise UsageError(f"--inventory {path}: {where}: {error['msg']}") from None
    unknown = sorted(parsed.roles.keys() - set(ROLES))
    if unknown:
        raise UsageError(
            f"--inventory {path}: roles.{unknown[0]}: no such role; use {', '.join(ROLES)}"
        )
    hosts = [
        Host(
            name=h.name,
            address=h.address,
            role=role,
            port=h.port or parsed.port,
            user=parsed.user,
            key=parsed.key,
            vars={**ROLE_VARS[role], **parsed.vars, **spec.vars},
        )
        for role, spec in parsed.roles.items()
        for h in spec.hosts
    ]
    return Inventory(hosts, parsed.vars, parsed.user, parsed.port, parsed.key)


def from_platform(doc: PlatformDocument, outputs: Mapping[str, Any] | None = None) -> Inventory:
    """Relays from the platform document; the monitoring host from the stack's outputs."""
    platform = {"region": doc.region, "turn_secret_arn": doc.relays.secret_arn}
    hosts = [
        Host(
            name=relay.name,
            address=relay.instance_id,
            role="relays",
            vars={**ROLE_VARS["relays"], **platform, "turn_host": relay.public_ip},
        )
        for relay in doc.relays.hosts
    ]
    monitoring = (outputs or {}).get("monitoringHost")
    if isinstance(monitoring, Mapping) and monitoring.get("instanceId"):
        hosts.append(
            Host(
                "monitoring",
                str(monitoring["instanceId"]),
                "monitoring",
                vars={**ROLE_VARS["monitoring"], **platform},
            )
        )
    return Inventory(hosts, platform)
