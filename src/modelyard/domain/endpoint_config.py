"""Per-endpoint serving options; unset fields fall back to the server's settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelyard.domain.rollout.policy import TrafficPolicy
from modelyard.errors import InvalidInputError


class EndpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pii_columns: tuple[str, ...] = Field(
        default=(), description="Input columns redacted or encrypted in the prediction log."
    )
    batch_max_rows: int | None = Field(default=None, ge=1, le=100_000)
    batch_max_wait_ms: float | None = Field(default=None, ge=0, le=1000)
    cache_ttl_s: float | None = Field(default=None, ge=0, le=86_400)
    low_confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    traffic: dict[str, Any] | None = Field(
        default=None,
        description="Traffic policy (TrafficPolicy.to_dict): canary, shadows, A/B arms, "
        "fallback; written by rollouts, read by every replica on refresh.",
    )
    rollout: dict[str, Any] | None = Field(
        default=None, description="The endpoint's latest rollout (RolloutState.to_dict)."
    )


def parse_endpoint_config(data: object, columns: list[str] | None = None) -> EndpointConfig:
    """Validate a config dict; ``pii_columns`` must name input columns when given."""
    try:
        config = EndpointConfig.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InvalidInputError(f"{where}: {first['msg']}", field=where) from None
    if config.traffic is not None:
        try:
            TrafficPolicy.from_dict(config.traffic)
        except InvalidInputError as exc:
            raise InvalidInputError(f"traffic: {exc.message}", field="traffic") from None
    if columns is not None:
        unknown = sorted(set(config.pii_columns) - set(columns))
        if unknown:
            raise InvalidInputError(
                f"pii column {unknown[0]!r} is not an input of the endpoint's model "
                f"(inputs: {', '.join(columns)})",
                field="pii_columns",
            )
    return config


def merged(current: dict[str, Any] | None, updates: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``updates`` applied; a ``None`` update clears that option."""
    out = dict(current or {})
    for key, value in updates.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
