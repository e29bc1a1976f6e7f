"""The policy pack's entry point for the Pulumi CLI: `pulumi preview --policy-pack infra/policy`.

Building a `PolicyPack` starts the analyzer's gRPC server and blocks, so nothing else imports this.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CLI runs this file from infra/policy/; make the repository's `infra` package importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policy.pack import NAME, POLICIES

PolicyPack(name=NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
