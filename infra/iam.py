"""IAM documents more than one component writes."""

from __future__ import annotations

import json


def service_trust(service: str) -> str:
    """The trust policy of a role that only an AWS service assumes (`ecs-tasks.amazonaws.com`)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
