"""Every rule of the baseline, importable without starting the policy server.

`__main__.py` (run by `pulumi preview --policy-pack infra/policy`) builds the `PolicyPack` from
`POLICIES`; `cbsi plan` evaluates the same `POLICIES` on the mocked resources (`cbsi.policy`).
"""

from __future__ import annotations

from infra.policy import compute, identity, network, storage
from infra.policy.base import RULES, Rule

NAME = "cbsi-baseline"
MODULES = (storage, compute, network, identity)  # importing them registers their rules

POLICIES = [rule.policy for rule in RULES]


def rule(name: str) -> Rule:
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(name)
