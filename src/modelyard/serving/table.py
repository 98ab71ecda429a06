"""The in-memory endpoint table: which loaded model answers for which endpoint.

The hot path reads it without touching the database; a background refresher polls the
store and swaps an entry only after the new version has loaded and warmed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from modelyard.deployments.service import describe_endpoint, warm
from modelyard.domain.endpoint_config import EndpointConfig, parse_endpoint_config
from modelyard.domain.entities import Endpoint, ModelVersion
from modelyard.domain.signature import Signature
from modelyard.errors import ModelyardError
from modelyard.registry.service import RegistryService
from modelyard.runtime.base import LoadedModel
from modelyard.serving.batching import Batcher
from modelyard.serving.metrics import ServingMetrics

log = logging.getLogger("modelyard.serving")


@dataclass(frozen=True)
class ServedModel:
    endpoint: str
    revision: int
    version: ModelVersion
    model: LoadedModel
    signature: Signature
    description: dict[str, Any]
    batcher: Batcher
    config: EndpointConfig

    @property
    def version_label(self) -> str:
        return str(self.version.version)


@dataclass
class EndpointTable:
    registry: RegistryService
    metrics: ServingMetrics
    served: dict[str, ServedModel] = field(default_factory=dict)
    errors: dict[str, tuple[int, str]] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    previous: dict[str, ServedModel] = field(default_factory=dict)
    prefer_compiled: bool = True
    batch_max_rows: int = 64
    batch_max_wait_ms: float = 0.0

    def get(self, name: str) -> ServedModel | None:
        return self.served.get(name)

    @property
    def ready(self) -> bool:
        """Every endpoint in the store has a loaded model."""
        return all(name in self.served for name in self.known)

    def sync(self, endpoints: list[Endpoint]) -> None:
        """Bring the table in line with the store (blocking: run it off the event loop)."""
        self.known = {e.name for e in endpoints}
        for endpoint in endpoints:
            current = self.served.get(endpoint.name)
            if current is not None and current.revision == endpoint.revision:
                continue
            failed = self.errors.get(endpoint.name)
            if failed is not None and failed[0] == endpoint.revision:
                continue
            self._load(endpoint)
        for name in list(self.served):
            if name not in self.known:
                del self.served[name]
                self.metrics.endpoint_ready.labels(name).set(0)

    def _load(self, endpoint: Endpoint) -> None:
        previous = self.previous.get(endpoint.name)
        try:
            if previous is not None and (previous.version.model, previous.version.version) == (
                endpoint.model,
                endpoint.version,
            ):
                # Rolling back to the version we kept loaded: no load, no warm-up.
                version, loaded = previous.version, previous.model
            else:
                version, loaded = self.registry.load(
                    f"{endpoint.model}:{endpoint.version}", prefer_compiled=self.prefer_compiled
                )
                warm(version, loaded)
        except ModelyardError as exc:
            self.errors[endpoint.name] = (endpoint.revision, exc.message)
            self.metrics.load_failures.labels(endpoint.name).inc()
            kept = self.served.get(endpoint.name)
            log.error(
                "endpoint %s: not switching to %s:%s: %s%s",
                endpoint.name,
                endpoint.model,
                endpoint.version,
                exc.message,
                f" (still serving version {kept.version.version})" if kept else "",
            )
            return
        config = parse_endpoint_config(endpoint.config)
        outgoing = self.served.get(endpoint.name)
        if outgoing is not None and outgoing.version.ref != version.ref:
            self.previous[endpoint.name] = outgoing  # kept loaded for an instant rollback
        self.served[endpoint.name] = ServedModel(
            endpoint=endpoint.name,
            revision=endpoint.revision,
            version=version,
            model=loaded,
            signature=loaded.signature,
            description={**describe_endpoint(endpoint, version), "runtime": loaded.flavor},
            config=config,
            batcher=Batcher(
                loaded,
                max_rows=config.batch_max_rows or self.batch_max_rows,
                max_wait_ms=(
                    config.batch_max_wait_ms
                    if config.batch_max_wait_ms is not None
                    else self.batch_max_wait_ms
                ),
                on_batch=self.metrics.batch_rows.labels(endpoint.name).observe,
            ),
        )
        self.errors.pop(endpoint.name, None)
        self.metrics.endpoint_ready.labels(endpoint.name).set(1)
        log.info("endpoint %s: serving %s", endpoint.name, version.ref)
