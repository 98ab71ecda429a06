"""The in-memory endpoint table: which loaded model answers for which endpoint.

The hot path reads it without touching the database; a background refresher polls the
store and swaps an entry only after the new version has loaded and warmed.

Traffic policies: an endpoint whose config holds ``traffic`` (a
:class:`~modelyard.domain.rollout.TrafficPolicy` written by a rollout) serves its
primary version plus every version the policy names (canary, A/B arms, shadows,
fallback) as :attr:`ServedModel.variants`. All of them are loaded and warmed before
the new entry replaces the old one; if any fails, the table keeps the previous entry
(and its policy) and records the error for that revision. Versions that are already
loaded (including the one kept for rollback) are reused, not reloaded, unless the
registry now holds other artifacts for them (e.g. a compiled one). A policy whose
primary is not the endpoint's version (someone deployed over a rollout) is ignored.

Circuit breakers: every served version has a :class:`CircuitBreaker` of this process,
keyed by ``(endpoint, ref)`` and carried over when the entry is rebuilt (a config or
policy change does not forget that a version is failing) unless its breaker settings
changed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.deployments.service import describe_endpoint, warm
from modelyard.domain.endpoint_config import EndpointConfig, breaker_config, parse_endpoint_config
from modelyard.domain.entities import Endpoint, ModelVersion
from modelyard.domain.rollout.analysis import ArmWindow
from modelyard.domain.rollout.breaker import BreakerState, CircuitBreaker
from modelyard.domain.rollout.policy import TrafficPolicy
from modelyard.domain.signature import Signature
from modelyard.errors import ModelyardError
from modelyard.registry.service import RegistryService
from modelyard.runtime.base import LoadedModel
from modelyard.serving.batching import Batcher
from modelyard.serving.metrics import ServingMetrics, VersionMeters

log = logging.getLogger("modelyard.serving")


class ArmRecorder:
    """What each version answered on endpoints with a traffic policy (this process).

    One bounded ring per ``(endpoint, ref)`` of ``(wall time, ok, latency ms, output)``;
    the data plane appends (O(1), no lock, no IO) and the canary analysis reads a
    window with :meth:`window`. ``ok`` means HTTP 200: every other answer of the
    routed version (model error, timeout, invalid input, log unavailable) counts as an
    error, for both arms alike. ``output`` is the first prediction of the request.
    Each replica analyses the traffic it served itself; only one replica's decision per
    step is stored (the others see the endpoint's revision change).
    """

    def __init__(self, size: int = 20_000, *, clock: Callable[[], float] = time.time) -> None:
        self.size = size
        self._clock = clock
        self._rings: dict[tuple[str, str], deque[tuple[float, bool, float, Any]]] = {}

    def record(
        self, endpoint: str, ref: str, ok: bool, latency_ms: float, output: Any = None
    ) -> None:
        ring = self._rings.get((endpoint, ref))
        if ring is None:
            ring = self._rings.setdefault((endpoint, ref), deque(maxlen=self.size))
        ring.append((self._clock(), ok, latency_ms, output))

    def window(self, endpoint: str, ref: str, since: float) -> ArmWindow:
        """The arm's requests at or after ``since`` (wall-clock seconds)."""
        ring = self._rings.get((endpoint, ref))
        entries = [e for e in (tuple(ring) if ring is not None else ()) if e[0] >= since]
        outputs = [e[3] for e in entries if e[1] and e[3] is not None]
        return ArmWindow(
            requests=len(entries),
            errors=sum(1 for e in entries if not e[1]),
            latencies_ms=[e[2] for e in entries if e[1]],
            outputs=outputs or None,
        )


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
    meters: VersionMeters
    policy: TrafficPolicy | None = None
    variants: Mapping[str, ServedModel] = field(default_factory=dict)
    breaker: CircuitBreaker | None = None

    @property
    def version_label(self) -> str:
        return str(self.version.version)

    @property
    def ref(self) -> str:
        return self.version.ref


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
    breakers_enabled: bool = True
    breakers: dict[tuple[str, str], CircuitBreaker] = field(default_factory=dict)

    def get(self, name: str) -> ServedModel | None:
        return self.served.get(name)

    @property
    def ready(self) -> bool:
        """Every endpoint in the store has a loaded model."""
        return all(name in self.served for name in self.known)

    def current(self, revisions: list[tuple[str, int]]) -> bool:
        """Whether :meth:`sync` would change nothing for endpoints at these
        ``(name, revision)`` (each served, or failed to load, at its revision)."""
        names = {name for name, _ in revisions}
        if names != self.known or not names.issuperset(self.served):
            return False
        for name, revision in revisions:
            served = self.served.get(name)
            if served is not None and served.revision == revision:
                continue
            failed = self.errors.get(name)
            if failed is None or failed[0] != revision:
                return False
        return True

    def sync(self, endpoints: list[Endpoint]) -> None:
        """Bring the table in line with the store (blocking: run it off the event loop)."""
        self.known = {e.name for e in endpoints}
        changed = False
        for endpoint in endpoints:
            current = self.served.get(endpoint.name)
            if current is not None and current.revision == endpoint.revision:
                continue
            failed = self.errors.get(endpoint.name)
            if failed is not None and failed[0] == endpoint.revision:
                continue
            self._load(endpoint)
            changed = True
        for name in list(self.served):
            if name not in self.known:
                del self.served[name]
                self.metrics.endpoint_ready.labels(name).set(0)
                changed = True
        if changed:
            self._drop_unserved_breakers()

    def _drop_unserved_breakers(self) -> None:
        live = {
            (entry.endpoint, model.ref)
            for entry in (*self.served.values(), *self.previous.values())
            for model in (entry, *entry.variants.values())
        }
        for key in set(self.breakers) - live:
            del self.breakers[key]

    def breaker_snapshots(self, name: str) -> dict[str, dict[str, Any]]:
        """This process's breaker of each version the endpoint serves, for status pages."""
        entry = self.served.get(name)
        if entry is None:
            return {}
        return {
            model.ref: model.breaker.snapshot()
            for model in (entry, *entry.variants.values())
            if model.breaker is not None
        }

    def _loaded(self, name: str) -> dict[str, tuple[ModelVersion, LoadedModel]]:
        """Versions this endpoint already has in memory (served, variants, rollback)."""
        out: dict[str, tuple[ModelVersion, LoadedModel]] = {}
        for entry in (self.previous.get(name), self.served.get(name)):
            if entry is None:
                continue
            for model in (entry, *entry.variants.values()):
                out[model.ref] = (model.version, model.model)
        return out

    def _load(self, endpoint: Endpoint) -> None:
        primary_ref = f"{endpoint.model}:{endpoint.version}"
        have = self._loaded(endpoint.name)
        models: dict[str, tuple[ModelVersion, LoadedModel]] = {}
        try:
            config = parse_endpoint_config(endpoint.config)
            policy = TrafficPolicy.from_dict(config.traffic) if config.traffic else None
            if policy is not None and policy.primary != primary_ref:
                log.warning(
                    "endpoint %s: ignoring a traffic policy for %s (the endpoint serves %s)",
                    endpoint.name,
                    policy.primary,
                    primary_ref,
                )
                policy = None
            if policy is not None and policy.refs == (primary_ref,):
                policy = None
            for ref in policy.refs if policy is not None else (primary_ref,):
                if ref in have and _same_artifacts(have[ref][0], self.registry.get(ref)):
                    # Already loaded (e.g. the version kept for rollback): no warm-up.
                    models[ref] = have[ref]
                else:
                    version, loaded = self.registry.load(ref, prefer_compiled=self.prefer_compiled)
                    warm(version, loaded)
                    models[ref] = (version, loaded)
        except ModelyardError as exc:
            self.errors[endpoint.name] = (endpoint.revision, exc.message)
            self.metrics.load_failures.labels(endpoint.name).inc()
            kept = self.served.get(endpoint.name)
            log.error(
                "endpoint %s: not switching to %s%s: %s%s",
                endpoint.name,
                primary_ref,
                " (with its traffic policy)" if endpoint.config.get("traffic") else "",
                exc.message,
                f" (still serving version {kept.version.version})" if kept else "",
            )
            return
        version, loaded = models[primary_ref]
        variants = {
            ref: self._entry(endpoint, config, *pair)
            for ref, pair in models.items()
            if ref != primary_ref
        }
        outgoing = self.served.get(endpoint.name)
        if outgoing is not None and outgoing.version.ref != version.ref:
            self.previous[endpoint.name] = outgoing  # kept loaded for an instant rollback
        self.served[endpoint.name] = self._entry(
            endpoint, config, version, loaded, policy=policy, variants=variants
        )
        self.errors.pop(endpoint.name, None)
        self.metrics.endpoint_ready.labels(endpoint.name).set(1)
        log.info(
            "endpoint %s: serving %s%s",
            endpoint.name,
            version.ref,
            f" with {', '.join(variants)}" if variants else "",
        )

    def _entry(
        self,
        endpoint: Endpoint,
        config: EndpointConfig,
        version: ModelVersion,
        loaded: LoadedModel,
        *,
        policy: TrafficPolicy | None = None,
        variants: Mapping[str, ServedModel] | None = None,
    ) -> ServedModel:
        return ServedModel(
            endpoint=endpoint.name,
            revision=endpoint.revision,
            version=version,
            model=loaded,
            signature=loaded.signature,
            description={**describe_endpoint(endpoint, version), "runtime": loaded.flavor},
            config=config,
            meters=self.metrics.version_meters(endpoint.name, str(version.version)),
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
            policy=policy,
            variants=variants or {},
            breaker=self._breaker(endpoint.name, version, config),
        )

    def _breaker(
        self, endpoint: str, version: ModelVersion, config: EndpointConfig
    ) -> CircuitBreaker | None:
        key = (endpoint, version.ref)
        wanted = breaker_config(config) if self.breakers_enabled else None
        kept = self.breakers.get(key)
        if wanted is None:
            self.breakers.pop(key, None)
            return None
        if kept is not None and kept.config == wanted:
            return kept
        label = str(version.version)
        gauge = self.metrics.breaker_state.labels(endpoint, label)
        gauge.set(0)

        def changed(state: BreakerState, reason: str) -> None:
            gauge.set(_BREAKER_CODES[state])
            log.warning(
                "endpoint %s: breaker of %s is %s: %s", endpoint, version.ref, state, reason
            )

        breaker = self.breakers[key] = CircuitBreaker(wanted, on_change=changed)
        return breaker


_BREAKER_CODES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def _same_artifacts(loaded: ModelVersion, stored: ModelVersion) -> bool:
    """Whether a loaded version is still what the registry holds (not recompiled)."""
    return (loaded.artifact_digest, loaded.compiled_digest) == (
        stored.artifact_digest,
        stored.compiled_digest,
    )
