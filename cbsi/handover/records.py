"""Records people keep in the repository as evidence: restore tests, access reviews and the
sign-offs of manual handover items (runbooks/records.yaml)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from infra.config import CAMEL_STRICT
from infra.errors import UsageError

Component = Literal["database", "fileSystem", "media"]


class _Record(BaseModel):
    model_config = CAMEL_STRICT


class RestoreTest(_Record):
    component: Component
    date: date
    by: str = Field(min_length=1)
    result: Literal["pass", "fail"]
    restored_in_hours: float | None = Field(default=None, gt=0)
    notes: str | None = None


class AccessReview(_Record):
    date: date
    by: str = Field(min_length=1)
    scope: str = Field(min_length=1)
    notes: str | None = None


class Signoff(_Record):
    item: str = Field(min_length=1)  # the manual check's id
    date: date
    by: list[str] = Field(min_length=1)  # one name per organisation, "Name (ORG)"


class Records(_Record):
    restore_tests: list[RestoreTest] = []
    access_reviews: list[AccessReview] = []
    signoffs: list[Signoff] = []

    def signoff(self, item: str) -> Signoff | None:
        found = [s for s in self.signoffs if s.item == item]
        return max(found, key=lambda s: s.date) if found else None

    @classmethod
    def load(cls, path: Path) -> Records:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        if not path.exists():
            return cls()
        try:
            data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
            return cls.model_validate(data)
        except YAMLError as exc:
            raise UsageError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        except ValidationError as exc:
            problem = exc.errors()[0]
            key = ".".join(str(p) for p in problem["loc"])
            raise UsageError(
                f"{path}: {key}: {problem['msg']}; see the example at the top of the file"
            ) from None
