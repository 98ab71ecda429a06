"""Pointing endpoints at model versions, safely: verify and warm before switching."""

from __future__ import annotations

from typing import Any

import pandas as pd

from modelyard.domain.endpoint_config import merged, parse_endpoint_config
from modelyard.domain.entities import Endpoint, ModelVersion
from modelyard.domain.refs import check_name, parse_model_ref
from modelyard.errors import ModelLoadError, ModelyardError
from modelyard.registry.service import RegistryService
from modelyard.runtime.base import LoadedModel
from modelyard.store.orm import RunRow
from modelyard.store.repositories.endpoints import (
    EndpointRepository,
    EndpointRevisions,
    to_entity,
)
from modelyard.store.repositories.models import ModelRepository
from modelyard.store.store import Store


def spec_pii_columns(store: Store, run_id: str | None) -> list[str]:
    """Columns the training spec of a run tagged as personal data."""
    if run_id is None:
        return []
    with store.session() as session:
        run = session.get(RunRow, run_id)
        return list(run.params.get("pii_columns", [])) if run is not None else []


def warm(version: ModelVersion, loaded: LoadedModel) -> None:
    """Run the version's example row through it; a model that cannot answer is not served."""
    if not version.example:
        return
    try:
        loaded.predict(pd.DataFrame([version.example]))
    except ModelyardError as exc:
        raise ModelLoadError(f"model {version.ref} failed its warm-up: {exc.message}") from exc
    except Exception as exc:  # noqa: BLE001 - any model failure means "do not serve"
        raise ModelLoadError(
            f"model {version.ref} failed its warm-up: {type(exc).__name__}: {exc}"
        ) from exc


class EndpointService:
    def __init__(self, store: Store, registry: RegistryService | None = None) -> None:
        self.store = store
        self.registry = registry or RegistryService(store)

    def deploy(self, endpoint: str, model_ref: str, *, actor: str = "local") -> Endpoint:
        """Point ``endpoint`` at a version, after loading and warming it.

        A version that fails to load leaves the endpoint exactly as it was. The
        endpoint's fallback version stays (a canary, shadows or A/B arms of the old
        primary do not), unless the new version is that fallback.
        """
        from modelyard.deployments.rollout import carry_policy  # it builds on this module

        check_name(endpoint, what="endpoint")
        ref = parse_model_ref(model_ref)
        version, loaded = self.registry.load(str(ref), prefer_compiled=True)
        warm(version, loaded)
        with self.store.session() as session:
            endpoints = EndpointRepository(session)
            existing = endpoints.row(endpoint)
            before = to_entity(existing) if existing is not None else None
            row = ModelRepository(session).resolve(parse_model_ref(version.ref))
            pointed = endpoints.point(endpoint, row, actor=actor)
            if before is not None and before.config.get("traffic"):
                previous = f"{before.model}:{before.version}"
                pointed = carry_policy(session, endpoint, previous, version.ref, actor=actor)
        return self.apply_spec_pii(pointed, version, actor=actor)

    def apply_spec_pii(self, endpoint: Endpoint, version: ModelVersion, *, actor: str) -> Endpoint:
        """Protect the columns the version's spec tagged ``pii: true`` on this endpoint."""
        tagged = set(spec_pii_columns(self.store, version.run_id))
        current = set(endpoint.config.get("pii_columns", []))
        if not tagged or tagged <= current:
            return endpoint
        return self.configure(endpoint.name, {"pii_columns": sorted(current | tagged)}, actor=actor)

    def configure(self, name: str, updates: dict[str, Any], *, actor: str = "local") -> Endpoint:
        """Change serving options of an endpoint (validated against its model's inputs)."""
        check_name(name, what="endpoint")
        current = self.get(name)
        version = self.registry.get(f"{current.model}:{current.version}")
        config = merged(current.config, updates)
        parsed = parse_endpoint_config(config, [c["name"] for c in version.signature["inputs"]])
        with self.store.session() as session:
            return EndpointRepository(session).configure(
                name, parsed.model_dump(exclude_defaults=True, mode="json"), actor=actor
            )

    def get(self, name: str) -> Endpoint:
        with self.store.session() as session:
            return EndpointRepository(session).get(name)

    def revisions(self) -> EndpointRevisions:
        """``(name, revision)`` of every endpoint: what changes when :meth:`list` does."""
        with self.store.session() as session:
            return EndpointRepository(session).revisions()

    def list(self) -> list[Endpoint]:
        with self.store.session() as session:
            return EndpointRepository(session).list()

    def describe(self, name: str) -> dict[str, Any]:
        endpoint = self.get(name)
        version = self.registry.get(f"{endpoint.model}:{endpoint.version}")
        return describe_endpoint(endpoint, version)


_PLACEHOLDER = {
    "integer": 0,
    "float": 0.0,
    "string": "example",
    "boolean": False,
    "datetime": "2000-01-01T00:00:00",
}


def _masked_example(version: ModelVersion, endpoint: Endpoint) -> dict[str, Any]:
    """The example row with PII columns replaced by neutral placeholders."""
    example = dict(version.example or {})
    types = {c["name"]: c["type"] for c in version.signature["inputs"]}
    for column in endpoint.config.get("pii_columns", []):
        if column in example:
            example[column] = _PLACEHOLDER.get(types.get(column, "string"), "example")
    return example


def describe_endpoint(endpoint: Endpoint, version: ModelVersion) -> dict[str, Any]:
    """The public description of an endpoint (shared by the CLI and the server)."""
    return {
        "name": endpoint.name,
        "model": {"name": version.model, "version": version.version, "flavor": version.flavor},
        "revision": endpoint.revision,
        "updated_at": endpoint.updated_at.isoformat(),
        "signature": version.signature,
        "example": {"inputs": [_masked_example(version, endpoint)]} if version.example else None,
        "config": endpoint.config,
    }
