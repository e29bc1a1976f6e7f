"""Where ops commands get the platform document: a file, or the stack's offline plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cbsi.project import Project
from infra.errors import UsageError
from infra.platform import PlatformDocument


def load_platform(
    project: Project | None, platform: Path | None, stack: str | None
) -> PlatformDocument:
    """`--platform FILE` (`pulumi stack output --json`, or just its `platform` output), or
    `--stack`, planned offline (names and ids are then the plan's placeholders)."""
    if platform is not None:
        return outputs_file(platform)[0]
    if stack is None or project is None:
        raise UsageError("give --platform FILE (from `pulumi stack output --json`) or --stack")
    from cbsi.commands.plan import load_stack, plan_stack

    cfg, raw = load_stack(project, stack)
    return PlatformDocument.model_validate(plan_stack(project, stack, cfg, raw).outputs["platform"])


def outputs_file(path: Path) -> tuple[PlatformDocument, dict[str, Any]]:
    """`pulumi stack output --json` (every output) or `pulumi stack output platform --json`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        outputs = data if isinstance(data, dict) and "platform" in data else {"platform": data}
        return PlatformDocument.model_validate(outputs["platform"]), outputs
    except FileNotFoundError:
        raise UsageError(
            f"--platform {path}: no such file; write it with `pulumi stack output --json > FILE`"
        ) from None
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise UsageError(f"--platform {path}: not the stack's outputs ({first})") from None
