"""Edit the academy registry in a stack file, keeping its comments and order.

Every change is validated with the same config model `cbsi plan` and `pulumi up` use, before the
file is written; a refused change leaves the file exactly as it was.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from infra.config import NAMESPACE, StackConfig, parse_config, split_namespaces
from infra.errors import UsageError

ACADEMIES = f"{NAMESPACE}:academies"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def flow_list(items: list[str]) -> CommentedSeq:
    """A list written inline (`[en, es]`), as the stack files write languages."""
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


class StackFile:
    """A stack file loaded for editing."""

    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source
        self._yaml = YAML()  # round-trip: comments, order and quoting survive
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096  # never re-wrap an existing long line
        self._yaml.indent(mapping=2, sequence=4, offset=2)
        self.document = self._yaml.load(path.read_text(encoding="utf-8"))

    @property
    def config(self) -> CommentedMap:
        return self.document["config"]

    @property
    def academies(self) -> CommentedSeq:
        return self.config[ACADEMIES]

    def validate(self) -> StackConfig:
        """The edited config, validated; `ConfigError` if the edit broke it."""
        raw = _plain(self.config)
        return parse_config(split_namespaces(raw, self.source), self.source)

    def index(self, slug: str) -> int:
        for i, entry in enumerate(self.academies):
            if entry.get("slug") == slug:
                return i
        known = ", ".join(str(a.get("slug")) for a in self.academies)
        raise UsageError(f"{self.source}: no academy {slug!r} in {ACADEMIES}; known: {known}")

    def save(self) -> None:
        """Validate, then replace the file atomically."""
        self.validate()
        buffer = io.StringIO()
        self._yaml.dump(self.document, buffer)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(buffer.getvalue())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
