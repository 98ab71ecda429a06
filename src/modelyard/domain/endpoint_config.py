"""Per-endpoint serving options; unset fields fall back to the server's settings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelyard.domain.rollout.breaker import BreakerConfig
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
    latency_budget_ms: float | None = Field(
        default=None,
        gt=0,
        le=600_000,
        description="Per-request budget: calls over it count as slow for the circuit breaker.",
    )
    breaker: dict[str, Any] | None = Field(
        default=None,
        description="Circuit breaker overrides (BreakerConfig fields: consecutive_failures, "
        "window, min_calls, failure_rate, consecutive_slow, cooldown_s, half_open_probes); "
        '{"enabled": false} turns it off for this endpoint.',
    )
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
    breaker_config(config)  # raises on bad overrides
    if columns is not None:
        unknown = sorted(set(config.pii_columns) - set(columns))
        if unknown:
            raise InvalidInputError(
                f"pii column {unknown[0]!r} is not an input of the endpoint's model "
                f"(inputs: {', '.join(columns)})",
                field="pii_columns",
            )
    return config


_BREAKER_KEYS = frozenset(BreakerConfig.__dataclass_fields__) - {"latency_budget_ms"}


def breaker_config(config: EndpointConfig) -> BreakerConfig | None:
    """The endpoint's circuit breaker settings, or ``None`` when it has turned it off."""
    overrides = dict(config.breaker or {})
    enabled = overrides.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInputError("breaker.enabled must be true or false", field="breaker.enabled")
    unknown = sorted(set(overrides) - _BREAKER_KEYS)
    if unknown:
        raise InvalidInputError(
            f"breaker.{unknown[0]} is not a breaker option "
            f"(allowed: enabled, {', '.join(sorted(_BREAKER_KEYS))})",
            field=f"breaker.{unknown[0]}",
        )
    if not enabled:
        return None
    for key, value in overrides.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInputError(
                f"breaker.{key} must be a number, not {value!r}", field=f"breaker.{key}"
            )
    try:
        return BreakerConfig(latency_budget_ms=config.latency_budget_ms, **overrides)
    except InvalidInputError as exc:
        raise InvalidInputError(f"breaker.{exc.message}", field=f"breaker.{exc.field}") from None


def merged(current: dict[str, Any] | None, updates: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``updates`` applied; a ``None`` update clears that option.

    ``breaker`` overrides merge key by key (setting ``cooldown_s`` keeps the others)."""
    out = dict(current or {})
    for key, value in updates.items():
        if value is None:
            out.pop(key, None)
        elif key == "breaker" and isinstance(value, dict):
            out[key] = {**(out.get(key) or {}), **value}
        else:
            out[key] = value
    return out
