"""Request bodies of the control plane (pydantic: unknown keys are refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from modelyard.domain.jobs import JobKind


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetUpload(Strict):
    format: Literal["csv", "parquet"] = Field(description="Format of the decoded bytes.")
    data_base64: str = Field(min_length=1, description="The file, base64-encoded.")
    source_name: str = Field(default="upload", max_length=200)


class PromoteRequest(Strict):
    stage: Literal["candidate", "staging", "production", "archived"]
    reason: str = Field(default="", max_length=2000)
    override_reason: str | None = Field(
        default=None, max_length=2000, description="Admin only: promote despite failed gates."
    )


class DeployRequest(Strict):
    model: str = Field(min_length=1, max_length=200, description="NAME:VERSION to serve.")


class EndpointConfigUpdate(Strict):
    """Fields to change; ``null`` clears an option (back to the server default)."""

    pii_columns: list[str] | None = Field(default=None, max_length=200)
    batch_max_rows: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        validation_alias=AliasChoices("batch_max_rows", "max_batch_size"),
        description="Largest adaptive batch in rows (also accepted as max_batch_size).",
    )
    batch_max_wait_ms: float | None = Field(
        default=None,
        ge=0,
        le=1000,
        validation_alias=AliasChoices("batch_max_wait_ms", "max_wait_ms"),
        description="Wait to fill a batch; 0 adds none when idle (also max_wait_ms).",
    )
    cache_ttl_s: float | None = Field(default=None, ge=0, le=86_400)
    low_confidence_threshold: float | None = Field(default=None, ge=0, le=1)
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    latency_budget_ms: float | None = Field(
        default=None, gt=0, le=600_000, description="Calls over it are slow for the breaker."
    )
    breaker: dict[str, Any] | None = Field(
        default=None,
        description="Circuit breaker overrides: enabled, consecutive_failures, window, "
        "min_calls, failure_rate, consecutive_slow, cooldown_s, half_open_probes.",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_name_each(cls, data: Any) -> Any:
        """Refuse a field given under both of its names (which one would win?)."""
        if isinstance(data, dict):
            for name, alias in (
                ("batch_max_rows", "max_batch_size"),
                ("batch_max_wait_ms", "max_wait_ms"),
            ):
                if name in data and alias in data:
                    raise ValueError(f"give {name} or {alias}, not both")
        return data


class WebhookCreate(Strict):
    name: str = Field(min_length=1, max_length=128)
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(min_length=1, max_length=20)
    secret: str | None = Field(default=None, description="whsec_… (generated if omitted)")


class RolloutRequest(Strict):
    model: str = Field(min_length=1, max_length=200, description="NAME:VERSION")
    strategy: Literal["blue-green", "canary", "shadow", "ab"] = "blue-green"
    share: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Shadow: percent mirrored; A/B: the candidate arm's weight (default 50).",
    )
    force: bool = Field(default=False, description="Switch despite a breaking signature.")
    override_reason: str | None = Field(default=None, max_length=2000)
    reason: str = Field(default="", max_length=2000)
    steps: list[float] | None = Field(
        default=None, max_length=20, description="Canary: traffic percent per step, ending at 100."
    )
    canary: dict[str, Any] | None = Field(
        default=None,
        description="Canary analysis settings (CanaryConfig: min_requests, min_duration_s, "
        "look_interval_s, alpha, latency_quantile, guardrails, ...).",
    )
    require_approval: bool = Field(
        default=False,
        strict=True,
        description="Full promotion waits for POST .../rollouts/approve by another principal "
        "(always on when the version's spec says approval_required: true).",
    )


class RollbackRequest(Strict):
    reason: str = Field(default="", max_length=2000)


class ApproveRequest(Strict):
    reason: str = Field(default="", max_length=2000, description="Why (recorded).")


class FallbackRequest(Strict):
    """``model`` is required: a version sets the fallback, ``null`` clears it."""

    model: str | None = Field(
        min_length=1,
        max_length=200,
        description="NAME:VERSION that answers while the primary's circuit breaker is open; "
        "null clears the fallback.",
    )
    force: bool = Field(default=False, strict=True, description="Accept a breaking signature.")
    reason: str = Field(default="", max_length=2000)


class KeyCreate(Strict):
    name: str = Field(min_length=1, max_length=128)
    role: Literal["admin", "deployer", "developer", "predictor", "viewer"]
    endpoints: list[str] | None = Field(default=None, max_length=100)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class PredictRequest(Strict):
    """Documentation of the predict body (the hot path parses it without pydantic)."""

    inputs: list[dict[str, str | int | float | bool | None]] = Field(min_length=1)


class JobSubmit(Strict):
    """A job to queue; ``params`` depend on the kind (see README "Jobs")."""

    kind: JobKind = Field(description="train | compile | batch_predict | drift_report")
    params: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        max_length=20,
        description="train: dataset, target, model, name, seed; compile: model, rows, "
        "tolerance; batch_predict: model, dataset, output, chunk_rows; drift_report: "
        "endpoint, window.",
    )
