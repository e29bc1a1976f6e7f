"""Reference for bench/plan.py: register N resources under the SDK's plain mocks, nothing else.

    python bench/sdk_floor.py N MODULES...   (MODULES: classes to load, e.g. pulumi_aws.ec2.Vpc)

It imports what it is given, then creates N tagged `aws.ssm.Parameter` resources with the stock
`pulumi.runtime.Mocks` and waits for every registration, as `cbsi plan` does.
"""

from __future__ import annotations

import importlib
import sys

import pulumi
import pulumi_aws as aws


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


def main() -> None:
    count = int(sys.argv[1])
    for path in sys.argv[2:]:
        module, _, attribute = path.rpartition(".")
        getattr(importlib.import_module(module), attribute)
    pulumi.runtime.set_mocks(Mocks(), project="floor", stack="floor", preview=False)

    @pulumi.runtime.test
    def program() -> None:
        for i in range(count):
            aws.ssm.Parameter(f"p{i}", type="String", value=str(i), tags={"project": "floor"})

    program()


if __name__ == "__main__":
    main()
