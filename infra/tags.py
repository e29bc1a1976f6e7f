"""Tags every resource carries, for cost allocation and for the handover checks."""

from __future__ import annotations

from infra.config import PROJECT, Academy, StackConfig


def platform_tags(cfg: StackConfig) -> dict[str, str]:
    """Tags of platform-wide resources: their steward is the platform's."""
    return {
        "project": PROJECT,
        "environment": cfg.environment,
        "steward": cfg.stewardship.platform_steward,
    }


def academy_tags(cfg: StackConfig, academy: Academy) -> dict[str, str]:
    """Tags of a resource that belongs to one academy: its cost lands on that academy."""
    return {**platform_tags(cfg), "steward": academy.steward, "academy": academy.slug}
