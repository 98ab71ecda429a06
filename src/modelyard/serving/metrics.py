"""Prometheus metrics of one app instance (its own registry: no import-time globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


@dataclass(frozen=True)
class VersionMeters:
    """The per-request series of one served version, labelled once (``labels()`` costs
    a lock and a dict lookup per call on the hot path)."""

    ok: Any
    latency: Any
    rows: Any


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelyard_requests_total",
            "Prediction requests by endpoint, model version and HTTP status.",
            ["endpoint", "version", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelyard_request_duration_seconds",
            "Prediction request latency in seconds, by endpoint and model version.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "modelyard_request_errors_total",
            "Failed prediction requests by endpoint, model version and reason.",
            ["endpoint", "version", "reason"],
            registry=self.registry,
        )
        self.rows = Counter(
            "modelyard_predicted_rows_total",
            "Rows predicted, by endpoint and model version.",
            ["endpoint", "version"],
            registry=self.registry,
        )
        self.cache = Counter(
            "modelyard_cache_requests_total",
            "Response cache lookups by endpoint and result (hit or miss).",
            ["endpoint", "result"],
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelyard_batch_rows",
            "Rows per model call (adaptive batching).",
            ["endpoint"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.drift_status = Gauge(
            "modelyard_drift_status",
            "Endpoint drift verdict over the drift window: 0 ok, 1 drift, -1 insufficient data.",
            ["endpoint"],
            registry=self.registry,
        )
        self.drift_score = Gauge(
            "modelyard_drift_score",
            "Per-column drift effect size (normalised Wasserstein or Jensen-Shannon).",
            ["endpoint", "column"],
            registry=self.registry,
        )
        # Live quality and cost over the drift window, refreshed with the drift check.
        self.live_accuracy = Gauge(
            "modelyard_live_accuracy",
            "Accuracy realized from feedback over the drift window (once enough rows are "
            "labelled).",
            ["endpoint"],
            registry=self.registry,
        )
        self.estimated_accuracy = Gauge(
            "modelyard_estimated_accuracy",
            "Accuracy estimated from the logged confidences (CBPE) over the drift window.",
            ["endpoint"],
            registry=self.registry,
        )
        self.cost_per_request = Gauge(
            "modelyard_cost_per_request_usd",
            "Mean cost of a request over the drift window, from the spec's cost model.",
            ["endpoint"],
            registry=self.registry,
        )
        self.cost_per_hour = Gauge(
            "modelyard_cost_per_hour_usd",
            "Cost per hour over the drift window, from the spec's cost model.",
            ["endpoint"],
            registry=self.registry,
        )
        #: The window gauges by the alert metric they publish.
        self.window_gauges = {
            "live_accuracy": self.live_accuracy,
            "estimated_accuracy": self.estimated_accuracy,
            "cost_per_request": self.cost_per_request,
            "cost_per_hour": self.cost_per_hour,
        }
        self.endpoint_ready = Gauge(
            "modelyard_endpoint_ready",
            "1 when the endpoint's model is loaded and serving.",
            ["endpoint"],
            registry=self.registry,
        )
        self.load_failures = Counter(
            "modelyard_model_load_failures_total",
            "Model versions that failed to load or warm up, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )

        self.breaker_state = Gauge(
            "modelyard_breaker_state",
            "Circuit breaker of a served version: 0 closed, 1 half-open, 2 open.",
            ["endpoint", "version"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "modelyard_fallback_requests_total",
            "Requests answered by another version because the routed version's breaker "
            "was open, by endpoint, the tripped version and the version that answered.",
            ["endpoint", "version", "answered_by"],
            registry=self.registry,
        )

    def version_meters(self, endpoint: str, version: str) -> VersionMeters:
        return VersionMeters(
            ok=self.requests.labels(endpoint, version, "200"),
            latency=self.latency.labels(endpoint, version),
            rows=self.rows.labels(endpoint, version),
        )
