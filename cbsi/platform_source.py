"""Where ops commands get the platform document: a file, or the stack's offline plan."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from cbsi.project import Project
from infra.errors import UsageError
from infra.platform import PlatformDocument


def load_platform(
    project: Project | None, platform: Path | None, stack: str | None
) -> PlatformDocument:
    """`--platform FILE` (as `pulumi stack output platform --json` writes it), or `--stack`,
    planned offline (names and ids are then the plan's placeholders)."""
    if platform is not None:
        try:
            return PlatformDocument.model_validate(json.loads(platform.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UsageError(
                f"--platform {platform}: no such file; write it with "
                "`pulumi stack output platform --json > FILE`"
            ) from None
        except (json.JSONDecodeError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise UsageError(f"--platform {platform}: not a platform document ({first})") from None
    if stack is None or project is None:
        raise UsageError(
            "give --platform FILE (from `pulumi stack output platform --json`) or --stack"
        )
    from cbsi.planfile import build_plan
    from cbsi.planner import run_program
    from infra.config import parse_config, read_stack_file, split_namespaces

    path = project.stack_file(stack)
    source = project.relative(path)
    raw = read_stack_file(path, source)
    cfg = parse_config(split_namespaces(raw, source), source)
    plan = build_plan(run_program(project.program, stack, raw, cfg.region))
    return PlatformDocument.model_validate(plan.outputs["platform"])
