"""Where the project's files are: the Pulumi project file, its stacks and its program."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from infra.errors import ConfigProblem, UsageError

_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class Project:
    """A checkout of this repository (or a copy of its layout, as tests make)."""

    root: Path

    @classmethod
    def find(cls, explicit: Path | None = None) -> Project:
        """`--project-dir`, else $CBSI_PROJECT_DIR, else the nearest folder up with Pulumi.yaml."""
        env = os.environ.get("CBSI_PROJECT_DIR")
        start = explicit or (Path(env) if env else Path.cwd())
        for folder in (start.resolve(), *start.resolve().parents):
            if (folder / "Pulumi.yaml").is_file():
                return cls(folder)
        raise UsageError(
            f"no Pulumi.yaml in {start} or above; run cbsi inside the repository "
            "or pass --project-dir"
        )

    @cached_property
    def _settings(self) -> dict[str, object]:
        from ruamel.yaml import YAML

        loaded = YAML(typ="safe", pure=True).load((self.root / "Pulumi.yaml").read_text())
        return loaded if isinstance(loaded, dict) else {}

    @property
    def stacks_dir(self) -> Path:
        return self.root / str(self._settings.get("stackConfigDir", "."))

    @property
    def program(self) -> Path:
        return self.root / str(self._settings.get("main", ".")) / "__main__.py"

    @property
    def backend_url(self) -> str | None:
        """Where Pulumi keeps the state (`backend.url`); None means the CLI's login default."""
        backend = self._settings.get("backend")
        url = backend.get("url") if isinstance(backend, dict) else None
        return str(url) if url else None

    def secrets_provider(self, stack: str) -> str | None:
        """The stack's `secretsprovider` (e.g. awskms://...); None is Pulumi's default."""
        from ruamel.yaml import YAML

        loaded = YAML(typ="safe", pure=True).load(self.stack_file(stack).read_text())
        value = loaded.get("secretsprovider") if isinstance(loaded, dict) else None
        return str(value) if value else None

    def stacks(self) -> list[str]:
        return sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml")
            for p in self.stacks_dir.glob("Pulumi.*.yaml")
        )

    def stack_file(self, stack: str) -> Path:
        """The stack's config file; an unknown stack is a usage error listing the known ones."""
        if not _STACK_NAME.fullmatch(stack):
            raise UsageError(f"--stack {stack!r} is not a stack name; use letters, digits, - _ .")
        path = self.stacks_dir / f"Pulumi.{stack}.yaml"
        if not path.is_file():
            known = ", ".join(self.stacks()) or "none"
            raise UsageError(
                str(
                    ConfigProblem(
                        f"--stack {stack}",
                        f"{self.relative(path)} does not exist; known stacks: {known}",
                    )
                )
            )
        return path

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)
