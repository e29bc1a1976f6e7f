"""What a check is, what it finds, and what it may look at."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, Literal, TypeVar

from cbsi.aws import ClientFactory
from cbsi.handover.records import Records
from cbsi.project import Project
from infra.config import StackConfig
from infra.platform import PlatformDocument

Status = Literal["pass", "fail", "manual"]
T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    status: Status
    evidence: str


def passed(evidence: str) -> Finding:
    return Finding("pass", evidence)


def failed(evidence: str) -> Finding:
    return Finding("fail", evidence)


@dataclass
class Context:
    """Everything the checks read. AWS is reached only through `clients`, so tests point it at
    moto's server (and at validated stubs where moto has no such API)."""

    stack: str
    cfg: StackConfig
    doc: PlatformDocument
    project: Project
    records: Records
    clients: ClientFactory
    now: datetime
    _read: dict[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.date()

    def aws(self, service: str, region: str | None = None) -> Any:
        return self.clients(service, region or self.cfg.region)

    def once(self, name: str, read: Callable[[], T]) -> T:
        """Evidence several checks look at (the roles, the zone...) is read once per run; a read
        that fails is not kept, so each check reports the error itself."""
        if name not in self._read:
            self._read[name] = read()
        value: T = self._read[name]
        return value

    @cached_property
    def account(self) -> str:
        return str(self.aws("sts").get_caller_identity()["Account"])

    @cached_property
    def impacs_domains(self) -> set[str]:
        """E-mail domains of IMPACS's people: those of its on-call contacts."""
        return {
            str(c.email).rsplit("@", 1)[1].lower()
            for c in self.cfg.oncall
            if c.organisation == "impacs"
        }

    def is_impacs(self, email: str | None) -> bool:
        return bool(email) and str(email).rsplit("@", 1)[-1].lower() in self.impacs_domains


@dataclass(frozen=True)
class Check:
    id: str
    area: str
    requirement: str
    remedy: str
    run: Callable[[Context], Finding]
    blocking: bool = True
    signoff: str | None = None  # for manual items: who signs it off


CHECKS: list[Check] = []


def check(
    id: str, area: str, requirement: str, remedy: str, blocking: bool = True
) -> Callable[[Callable[[Context], Finding]], Callable[[Context], Finding]]:
    """Registers a check; the registry's order is the report's."""

    def register(run: Callable[[Context], Finding]) -> Callable[[Context], Finding]:
        CHECKS.append(Check(id, area, requirement, remedy, run, blocking))
        return run

    return register


def manual(id: str, requirement: str, signoff: str, remedy: str) -> None:
    """An item no API can prove; the report lists it with who signs it off, and any record."""

    def run(ctx: Context) -> Finding:
        signed = ctx.records.signoff(id)
        if signed is None:
            return Finding("manual", f"not signed off yet (needs {signoff})")
        return Finding("manual", f"signed off {signed.date} by {', '.join(signed.by)}")

    CHECKS.append(Check(id, "manual", requirement, remedy, run, blocking=False, signoff=signoff))


@dataclass(frozen=True)
class Result:
    check: Check
    finding: Finding


def run_checks(ctx: Context, only: set[str] | None = None) -> list[Result]:
    """Every check in order. A check that cannot read its evidence (access denied, an API error)
    fails with the error as its evidence: readiness is never assumed."""
    from botocore.exceptions import BotoCoreError, ClientError

    from cbsi.handover import checks  # noqa: F401  (registers the checks)

    results = []
    for item in sorted(CHECKS, key=lambda c: c.id):
        if only and item.id not in only:
            continue
        try:
            finding = item.run(ctx)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            message = str(error.get("Message", "")).strip()
            if message.startswith("<"):  # an HTML error page: nothing answers this API there
                message = "no such API at this endpoint"
            finding = failed(f"could not read the evidence: {error.get('Code')}: {message}")
        except BotoCoreError as exc:
            finding = failed(f"could not read the evidence: {exc}")
        results.append(Result(item, finding))
    return results
