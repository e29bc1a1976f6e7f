"""The readiness report: a terminal table, Markdown to hand to both organisations, or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cbsi.handover.model import Result


@dataclass(frozen=True)
class Summary:
    automated: int
    passed: int
    blocking_failures: int
    manual: int

    @property
    def score(self) -> float:
        return 100 * self.passed / self.automated if self.automated else 0.0

    @property
    def ready(self) -> bool:
        return self.blocking_failures == 0


def summarise(results: list[Result]) -> Summary:
    automated = [r for r in results if r.finding.status != "manual"]
    return Summary(
        automated=len(automated),
        passed=sum(r.finding.status == "pass" for r in automated),
        blocking_failures=sum(r.finding.status == "fail" and r.check.blocking for r in automated),
        manual=len(results) - len(automated),
    )


def as_json(stack: str, account: str, when: datetime, results: list[Result]) -> str:
    s = summarise(results)
    return (
        json.dumps(
            {
                "stack": stack,
                "account": account,
                "checkedAt": when.isoformat(timespec="seconds"),
                "summary": {
                    "automated": s.automated,
                    "passed": s.passed,
                    "score": round(s.score, 1),
                    "blockingFailures": s.blocking_failures,
                    "manual": s.manual,
                    "ready": s.ready,
                },
                "checks": [
                    {
                        "id": r.check.id,
                        "area": r.check.area,
                        "requirement": r.check.requirement,
                        "status": r.finding.status,
                        "evidence": r.finding.evidence,
                        "remedy": r.check.remedy,
                        "blocking": r.check.blocking,
                        "signoff": r.check.signoff,
                    }
                    for r in results
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def as_markdown(stack: str, account: str, when: datetime, results: list[Result]) -> str:
    s = summarise(results)
    verdict = "READY" if s.ready else f"NOT READY: {s.blocking_failures} blocking check(s) fail"
    lines = [
        f"# CBSI-Connect handover readiness: stack {stack}",
        "",
        f"Checked {when:%Y-%m-%d %H:%M} UTC against AWS account {account} by `cbsi handover "
        f"check --stack {stack}`.",
        "",
        f"**{verdict}.** Score: {s.passed} of {s.automated} automated checks pass "
        f"({s.score:.0f}%); {s.manual} manual items need both organisations' sign-off.",
        "",
        "## Automated checks",
        "",
        "| id | area | requirement | result | evidence | remedy |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.finding.status == "manual":
            continue
        remedy = _cell(r.check.remedy) if r.finding.status == "fail" else ""
        lines.append(
            f"| {r.check.id} | {r.check.area} | {_cell(r.check.requirement)} | "
            f"{r.finding.status.upper()} | {_cell(r.finding.evidence)} | {remedy} |"
        )
    lines += [
        "",
        "## Manual items",
        "",
        "| id | item | signed off by | status | how |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if r.finding.status == "manual":
            lines.append(
                f"| {r.check.id} | {_cell(r.check.requirement)} | {r.check.signoff} | "
                f"{_cell(r.finding.evidence)} | {_cell(r.check.remedy)} |"
            )
    lines += ["", "Signatures: INL ____________________   IMPACS ____________________", ""]
    return "\n".join(lines)


def print_table(console: Console, stack: str, account: str, results: list[Result]) -> None:
    table = Table(title=f"Handover readiness: {stack} (account {account})", show_lines=False)
    for column in ("id", "result", "requirement", "evidence / remedy"):
        table.add_column(column, overflow="fold")
    style = {"pass": "green", "fail": "bold red", "manual": "yellow"}
    for r in results:
        detail = escape(r.finding.evidence)
        if r.finding.status == "fail":
            detail += f"\n[dim]fix: {escape(r.check.remedy)}[/dim]"
        if r.check.signoff:
            detail += f"\n[dim]sign-off: {escape(r.check.signoff)}[/dim]"
        status = r.finding.status.upper()
        if r.finding.status == "fail" and not r.check.blocking:
            status += " (advisory)"
        table.add_row(
            r.check.id,
            f"[{style[r.finding.status]}]{status}[/]",
            escape(r.check.requirement),
            detail,
        )
    console.print(table)
    s = summarise(results)
    verdict = (
        "[green]READY[/]" if s.ready else f"[bold red]NOT READY[/] ({s.blocking_failures} blocking)"
    )
    console.print(
        f"{verdict}: {s.passed}/{s.automated} automated checks pass ({s.score:.0f}%), "
        f"{s.manual} manual items to sign off."
    )
