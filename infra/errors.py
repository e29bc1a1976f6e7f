"""The errors that reach an operator.

Every error a user can cause derives from `CbsiError`; the CLI's entry point (`cbsi.cli.main`) is
the one place that turns them into an `Error: ...` message and an exit code. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class CbsiError(Exception):
    """Base of every error caused by input: config, registry, arguments, saved files."""

    exit_code = 2


class UsageError(CbsiError):
    """A command-line argument or a file named on the command line is wrong."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a stack file: the key path as Pulumi spells it, what is wrong, the fix."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(CbsiError):
    """The stack configuration is invalid; nothing was planned or deployed."""

    def __init__(self, path: str, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: {p}" for p in problems]
        super().__init__("\n".join(lines))


class ProgramError(CbsiError):
    """The Pulumi program itself failed while planning (a bug or an unsupported combination)."""

    exit_code = 1


class PolicyViolation(CbsiError):
    """A mandatory policy failed on the plan."""

    exit_code = 1
