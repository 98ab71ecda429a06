"""The nouns every layer shares, as plain immutable values (no ORM, no IO)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable, content-addressed table."""

    dataset: str
    version: int
    digest: str
    format: str
    row_count: int
    columns: list[dict[str, Any]]
    size_bytes: int
    source_name: str
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.dataset}:{self.version}"


@dataclass(frozen=True)
class Run:
    """One training and evaluation of a model."""

    id: str
    kind: str
    status: str
    seed: int
    params: dict[str, Any]
    metrics: dict[str, float]
    code_version: str
    dataset: str | None
    dataset_version: int | None
    started_at: datetime
    duration_s: float | None


@dataclass(frozen=True)
class StageTransition:
    """One recorded change of a model version's stage."""

    from_stage: str | None
    to_stage: str
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class ModelVersion:
    """A registered model artifact with everything needed to serve and trace it."""

    model: str
    version: int
    flavor: str
    signature: dict[str, Any]
    artifact_digest: str
    artifact_signature: str | None
    compiled_digest: str | None
    compiled_signature: str | None
    compile_report: dict[str, Any] | None
    metrics: dict[str, float]
    stage: str
    trusted: bool
    run_id: str | None
    dataset: str | None
    dataset_version: int | None
    code_version: str
    example: dict[str, Any] | None
    created_at: datetime
    transitions: list[StageTransition] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"


@dataclass(frozen=True)
class Endpoint:
    """A named serving target pointing at one model version."""

    name: str
    model: str
    version: int
    revision: int
    updated_at: datetime
    config: dict[str, Any] = field(default_factory=dict)
