"""Model version stages and the rules for moving between them."""

from __future__ import annotations

from enum import StrEnum

from modelyard.errors import InvalidInputError


class Stage(StrEnum):
    CANDIDATE = "candidate"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


def parse_stage(value: str) -> Stage:
    """Return the stage named by ``value`` or raise naming the allowed ones."""
    try:
        return Stage(value.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in Stage)
        raise InvalidInputError(
            f"unknown stage {value!r}; allowed: {allowed}", field="stage"
        ) from None


def check_transition(current: Stage, target: Stage) -> None:
    """Refuse a no-op transition; every other move between stages is allowed."""
    if current == target:
        raise InvalidInputError(f"version is already in stage {target.value!r}", field="stage")
