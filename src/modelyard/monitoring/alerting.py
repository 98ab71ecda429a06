"""Alerting: spec rules evaluated against live metrics, persisted, notified.

Where things come from
    The project spec named by ``MODELYARD_SPEC_FILE`` (or ``modelyard serve --spec``):
    ``monitoring.alerts`` (rules, :mod:`modelyard.domain.alerts`), ``monitoring.cost``
    (cost models, :mod:`modelyard.domain.cost`) and ``monitoring.webhooks``
    (subscriptions created at server start; existing names are left alone). A bad
    section stops the server from starting with an error naming the key.

How metrics are computed (off the hot path, every ``MODELYARD_ALERT_INTERVAL_S``)
    * ``latency_p50_ms`` / ``latency_p99_ms``: the newest :data:`LATENCY_SAMPLE`
      prediction records of the rule's window (successful requests only).
    * ``error_rate`` / ``request_rate``: the in-process :class:`OutcomeRing` the data
      plane appends to for every request outcome (errors are what
      ``modelyard_request_errors_total`` counts: any 4xx/5xx answer). These are
      **per process**: with several replicas each one alerts on its own traffic; use
      the Prometheus export for fleet-wide rates. ``request_rate`` is unknown until the
      process has been up for one window.
    * ``request_volume_anomaly``: the window's record count against the counts of the
      preceding windows (aligned to multiples of the window, as Prometheus subqueries
      are) over ``history``, ignoring windows before the endpoint's first record.
    * ``drift_status`` / ``drift_score:<col>``: :class:`DriftService` over the window,
      recomputed at most every :data:`DRIFT_TTL_S` seconds per endpoint and window.
    * ``live_accuracy`` (realized from feedback, once ``quality_min_labels`` rows are
      labelled) and ``estimated_accuracy`` (CBPE on the logged probabilities).
    * ``cost_per_request`` / ``cost_per_hour``: :func:`modelyard.domain.cost.window_cost`.

    A metric that cannot be computed (no data, no reference, no cost model) is ``None``,
    which never fires (see :func:`modelyard.domain.alerts.evaluate`).

State and notification
    One transaction per evaluation pass reads every (rule, endpoint) state, advances it,
    and for each ``firing``/``resolved`` event appends an ``alert_events`` row and
    enqueues the ``alert.firing``/``alert.resolved`` webhook deliveries, so a restart
    neither loses nor repeats a notification. On PostgreSQL an advisory lock serialises
    passes of several replicas. Each event is also logged as one JSON line.

``drift.detected``
    Sent when the server's periodic drift check (every ``MODELYARD_DRIFT_INTERVAL_S``
    over ``MODELYARD_DRIFT_WINDOW_S``) sees an endpoint's verdict turn to drift, with
    the drivers and drifted columns; once per episode. Its state is kept like a rule's,
    under :data:`DRIFT_EVENT_RULE` (not listed by ``/v1/alerts``), so several workers
    and restarts send it once. It needs no rule in the spec.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import numpy as np
import sqlalchemy.exc
from threadpoolctl import threadpool_limits

from modelyard.domain.alerts import (
    AlertEvent,
    AlertRule,
    AlertState,
    evaluate,
    fingerprint,
    parse_rules,
    volume_zscore,
)
from modelyard.domain.cost import CostModel, model_for, parse_cost_models, window_cost
from modelyard.domain.drift import DriftConfig
from modelyard.domain.quality_estimation import DEFAULT_MIN_LABELS
from modelyard.domain.refs import check_name
from modelyard.errors import ConflictError, InvalidInputError, ModelyardError
from modelyard.monitoring.drift_service import DriftService
from modelyard.monitoring.service import live_quality
from modelyard.monitoring.webhooks import EVENT_TYPES, WebhookService, enqueue
from modelyard.security.webhook_signing import sign
from modelyard.settings import Settings
from modelyard.spec.loader import load_spec
from modelyard.store.repositories.alerts import AlertRepository, TrafficRepository
from modelyard.store.store import Store

log = logging.getLogger("modelyard.alerts")

#: Latencies (newest records of the window) a latency percentile is computed from.
LATENCY_SAMPLE = 50_000
#: Records (newest of the window) live quality is computed from.
QUALITY_RECORDS = 20_000
#: Preceding windows ``request_volume_anomaly`` compares against, at most.
MAX_HISTORY_WINDOWS = 500
#: Seconds a history window must have ended before its count is cached (shipping lag).
SETTLE_S = 120.0
#: Seconds a drift result is reused for.
DRIFT_TTL_S = 60.0
#: The built-in rule whose state deduplicates ``drift.detected`` (see the module docstring).
DRIFT_EVENT_RULE = "builtin.drift-detected"
WEBHOOK_KEYS: tuple[str, ...] = ("name", "url", "event_types", "secret")
_SEVERITY_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class WebhookSpec:
    """A subscription declared in ``monitoring.webhooks``."""

    name: str
    url: str
    event_types: list[str]
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MonitoringConfig:
    """The monitoring section of the spec the server runs with (empty without a spec)."""

    rules: list[AlertRule] = field(default_factory=list)
    cost_models: dict[str, CostModel] = field(default_factory=dict)
    webhooks: list[WebhookSpec] = field(default_factory=list)
    drift: DriftConfig = field(default_factory=DriftConfig)
    source: str | None = None


def parse_webhooks(data: object, *, path: str = "monitoring.webhooks") -> list[WebhookSpec]:
    """Validate ``monitoring.webhooks``; errors name ``<path>.<i>.<key>``."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise InvalidInputError(
            f"{path}: expected a list of subscriptions, got {data!r}", field=path
        )
    out: list[WebhookSpec] = []
    for i, item in enumerate(data):
        where = f"{path}.{i}"
        if not isinstance(item, Mapping):
            raise InvalidInputError(
                f"{where}: expected a mapping with keys {', '.join(WEBHOOK_KEYS)}", field=where
            )
        for key in item:
            if key not in WEBHOOK_KEYS:
                raise InvalidInputError(
                    f"{where}.{key}: unknown key {key!r}; allowed keys: {', '.join(WEBHOOK_KEYS)}",
                    field=f"{where}.{key}",
                )
        for key in ("name", "url", "event_types"):
            if key not in item:
                raise InvalidInputError(
                    f"{where}.{key}: required key is missing", field=f"{where}.{key}"
                )
        name, url, types, secret = (item.get(k) for k in WEBHOOK_KEYS)
        if not isinstance(name, str):
            raise InvalidInputError(
                f"{where}.name: expected a string, got {name!r}", field=f"{where}.name"
            )
        try:
            check_name(name, what="webhook")
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}.name: {exc.message}", field=f"{where}.name") from None
        if not isinstance(url, str) or not url:
            raise InvalidInputError(f"{where}.url: expected a URL string", field=f"{where}.url")
        allowed = {*EVENT_TYPES, "*"}
        if (
            not isinstance(types, list)
            or not types
            or not all(isinstance(t, str) and t in allowed for t in types)
        ):
            raise InvalidInputError(
                f"{where}.event_types: expected a non-empty list of {', '.join(EVENT_TYPES)} "
                f"or *, got {types!r}",
                field=f"{where}.event_types",
            )
        if secret is not None:
            try:
                sign(secret, "check", 0, b"")  # validates the whsec_ format
            except InvalidInputError as exc:
                raise InvalidInputError(
                    f"{where}.secret: {exc.message}", field=f"{where}.secret"
                ) from None
        if any(hook.name == name for hook in out):
            raise InvalidInputError(
                f"{where}.name: webhook {name!r} appears twice", field=f"{where}.name"
            )
        out.append(WebhookSpec(str(name), url, list(types), secret))
    return out


def parse_monitoring(section: object, *, source: str | None = None) -> MonitoringConfig:
    """Alert rules, cost models and webhooks of a spec's ``monitoring`` mapping.

    Other keys of the section (drift settings and the like) are left to their readers.
    """
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise InvalidInputError(
            f"monitoring: expected a mapping, got {section!r}", field="monitoring"
        )
    return MonitoringConfig(
        rules=parse_rules(section.get("alerts"), path="monitoring.alerts"),
        cost_models=parse_cost_models(section.get("cost"), path="monitoring.cost"),
        webhooks=parse_webhooks(section.get("webhooks"), path="monitoring.webhooks"),
        drift=parse_drift_config(section.get("drift"), path="monitoring.drift"),
        source=source,
    )


def parse_drift_config(data: object, *, path: str = "monitoring.drift") -> DriftConfig:
    """``monitoring.drift`` thresholds (any DriftConfig field); errors name the key."""
    if data is None:
        return DriftConfig()
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{path}: expected a mapping, got {data!r}", field=path)
    allowed = {f.name for f in dataclasses.fields(DriftConfig)}
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise InvalidInputError(
            f"{path}.{unknown[0]}: unknown key; allowed: {', '.join(sorted(allowed))}",
            field=f"{path}.{unknown[0]}",
        )
    try:
        return DriftConfig(**{str(k): v for k, v in data.items()})
    except InvalidInputError as exc:
        key = f"{path}.{exc.field}" if exc.field else path
        raise InvalidInputError(f"{key}: {exc.message}", field=key) from None
    except TypeError as exc:
        raise InvalidInputError(f"{path}: {exc}", field=path) from None


def load_monitoring_config(settings: Settings) -> MonitoringConfig:
    """The monitoring config of ``settings.spec_file`` (empty when none is set).

    Raises :class:`InvalidInputError` naming the file and the key when it is invalid,
    :class:`~modelyard.errors.NotFoundError` when the file does not exist.
    """
    path = settings.spec_file
    if path is None:
        return MonitoringConfig()
    spec = load_spec(path)
    try:
        return parse_monitoring(spec.monitoring, source=str(path))
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc.message}", field=exc.field) from None


def sync_spec_webhooks(service: WebhookService, config: MonitoringConfig) -> list[str]:
    """Create the spec's subscriptions that do not exist yet; returns the names created."""
    if not config.webhooks:
        return []
    existing = {hook.name for hook in service.all()}
    actor = f"spec:{config.source or 'monitoring'}"[:160]
    created: list[str] = []
    for i, hook in enumerate(config.webhooks):
        if hook.name in existing:
            continue
        where = f"monitoring.webhooks.{i}"
        try:
            service.create(
                name=hook.name,
                url=hook.url,
                event_types=hook.event_types,
                actor=actor,
                secret=hook.secret,
            )
        except (ConflictError, sqlalchemy.exc.IntegrityError):  # another worker was first
            continue
        except InvalidInputError as exc:
            key = f"{where}.{exc.field or 'url'}"
            raise InvalidInputError(
                f"{config.source or 'spec'}: {key}: {exc.message}", field=key
            ) from None
        if hook.secret is None:
            log.warning(
                "webhook %r was created from the spec without a secret; its generated signing "
                "secret is not shown anywhere, so set 'secret' in the spec to verify deliveries",
                hook.name,
            )
        created.append(hook.name)
    return created


# ---------------------------------------------------------------- request outcomes


@dataclass(frozen=True)
class OutcomeWindow:
    """Request outcomes of one endpoint over a trailing window (this process only)."""

    requests: int
    errors: int
    covered_s: float
    complete: bool

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def request_rate(self) -> float | None:
        if not self.complete or self.covered_s <= 0:
            return None
        return self.requests / self.covered_s


class OutcomeRing:
    """Per-endpoint bounded rings of ``(monotonic time, ok)``, one entry per request.

    :meth:`record` is O(1) and lock-free (it runs on the event loop: a ``deque``
    append); readers in worker threads copy a ring with ``tuple(ring)``, which CPython
    performs without releasing the GIL. Each ring keeps the newest ``size`` outcomes:
    beyond that, a window's rates cover the span the ring still holds. Per process.
    """

    def __init__(self, size: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1:
            raise InvalidInputError("size must be >= 1", field="size")
        self.size = size
        self._clock = clock
        self._rings: dict[str, deque[tuple[float, bool]]] = {}
        self.started = clock()

    def record(self, endpoint: str, ok: bool) -> None:
        ring = self._rings.get(endpoint)
        if ring is None:
            ring = self._rings.setdefault(endpoint, deque(maxlen=self.size))
        ring.append((self._clock(), ok))

    def window(self, endpoint: str, seconds: float, now: float | None = None) -> OutcomeWindow:
        now = self._clock() if now is None else now
        ring = self._rings.get(endpoint)
        entries: tuple[tuple[float, bool], ...] = tuple(ring) if ring is not None else ()
        first = bisect_left(entries, now - seconds, key=itemgetter(0))
        recent = entries[first:]
        errors = sum(1 for _, ok in recent if not ok)
        truncated = len(entries) >= self.size and first == 0
        if truncated:
            covered, complete = now - entries[0][0], True
        else:
            uptime = now - self.started
            covered, complete = min(seconds, uptime), uptime >= seconds
        return OutcomeWindow(len(recent), errors, covered, complete)


# ---------------------------------------------------------------- metric values


def _since(now: float, seconds: float) -> datetime:
    return datetime.fromtimestamp(now - seconds, tz=UTC)


def _as_ts(value: datetime) -> float:
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return moment.timestamp()


class AlertMetrics:
    """Computes a rule's metric for an endpoint (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        drift: DriftService | None = None,
        outcomes: OutcomeRing | None = None,
        cost_models: Mapping[str, CostModel] | None = None,
        min_labels: int = DEFAULT_MIN_LABELS,
    ) -> None:
        self.store = store
        self.drift = drift
        self.outcomes = outcomes
        self.cost_models: Mapping[str, CostModel] = cost_models or {}
        self.min_labels = min_labels
        self._buckets: OrderedDict[tuple[str, float, int], int] = OrderedDict()
        self._drift_cache: dict[tuple[str, float], tuple[float, dict[str, Any] | None]] = {}

    def values(
        self, targets: Iterable[tuple[AlertRule, str]], now: float
    ) -> dict[tuple[str, str], float | None]:
        """``{(rule name, endpoint): value}``; a failing metric is ``None`` (logged)."""
        memo: dict[Any, Any] = {}
        out: dict[tuple[str, str], float | None] = {}
        for rule, endpoint in targets:
            try:
                value = self.value(rule, endpoint, now, memo)
            except ModelyardError as exc:
                log.debug("alert %s on %s: no value (%s)", rule.name, endpoint, exc.message)
                value = None
            except Exception:  # noqa: BLE001 - one broken metric must not stop the others
                log.exception(
                    "alert %s on %s: computing %s failed", rule.name, endpoint, rule.metric
                )
                value = None
            out[(rule.name, endpoint)] = value
        return out

    def value(
        self, rule: AlertRule, endpoint: str, now: float, memo: dict[Any, Any] | None = None
    ) -> float | None:
        memo = {} if memo is None else memo
        metric, seconds = rule.metric, rule.window_seconds
        if metric in ("latency_p50_ms", "latency_p99_ms"):
            latencies = self._memo(
                memo, ("lat", endpoint, seconds), lambda: self._latencies(endpoint, seconds, now)
            )
            if not latencies:
                return None
            return float(np.percentile(latencies, 50 if metric == "latency_p50_ms" else 99))
        if metric in ("error_rate", "request_rate"):
            if self.outcomes is None:
                return None
            window = self.outcomes.window(endpoint, seconds)
            return window.error_rate if metric == "error_rate" else window.request_rate
        if metric == "request_volume_anomaly":
            return self._volume(rule, endpoint, now, memo)
        if metric in ("cost_per_request", "cost_per_hour"):
            model = model_for(self.cost_models, endpoint)
            if model is None:
                return None
            requests, compute_ms = self._memo(
                memo, ("totals", endpoint, seconds), lambda: self._totals(endpoint, seconds, now)
            )
            cost = window_cost(
                model, requests=requests, compute_ms=compute_ms, window_seconds=seconds
            )
            return cost.cost_per_request if metric == "cost_per_request" else cost.cost_per_hour
        if metric in ("live_accuracy", "estimated_accuracy"):
            quality = self._memo(
                memo, ("quality", endpoint, seconds), lambda: self._quality(endpoint, seconds, now)
            )
            if metric == "estimated_accuracy":
                return quality["estimated"]  # type: ignore[no-any-return]
            enough = quality["n_labelled"] >= self.min_labels
            return quality["realized"] if enough else None
        report = self._drift(endpoint, seconds)
        if report is None:
            return None
        if metric == "drift_status":
            return {"ok": 0.0, "drift": 1.0}.get(str(report.get("status")))
        column = rule.drift_column
        for entry in report.get("columns", []):
            if entry.get("column") == column:
                score = entry.get("wasserstein_normalized")
                if score is None:
                    score = entry.get("js_distance")
                return None if score is None else float(score)
        return None

    @staticmethod
    def _memo(memo: dict[Any, Any], key: Any, compute: Callable[[], Any]) -> Any:
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def _latencies(self, endpoint: str, seconds: float, now: float) -> list[float]:
        with self.store.session() as session:
            return TrafficRepository(session).latencies(
                endpoint, _since(now, seconds), LATENCY_SAMPLE
            )

    def _totals(self, endpoint: str, seconds: float, now: float) -> tuple[int, float]:
        with self.store.session() as session:
            return TrafficRepository(session).totals(endpoint, _since(now, seconds))

    def _quality(self, endpoint: str, seconds: float, now: float) -> dict[str, Any]:
        since = _since(now, seconds)
        with self.store.session() as session:
            repo = TrafficRepository(session)
            records = repo.outputs(endpoint, since, QUALITY_RECORDS)
            labels = repo.labels(endpoint, since) if records else {}
            kinds = repo.output_kinds({(m, v) for _, m, v, _ in records})
        classifier = any(kinds.get((m, v)) == "classification" for _, m, v, _ in records)
        return live_quality(
            ((rid, out) for rid, _, _, out in records),
            labels,
            classifier=classifier,
            min_labels=self.min_labels,
        )

    def _volume(
        self, rule: AlertRule, endpoint: str, now: float, memo: dict[Any, Any]
    ) -> float | None:
        seconds = rule.window_seconds
        with self.store.session() as session:
            repo = TrafficRepository(session)
            first = self._memo(memo, ("first", endpoint), lambda: repo.first_record_at(endpoint))
            if first is None:
                return None
            first_ts = _as_ts(first)
            count, _ = self._memo(
                memo,
                ("totals", endpoint, seconds),
                lambda: repo.totals(endpoint, _since(now, seconds)),
            )
            last = math.floor((now - seconds) / seconds)
            n = min(int(rule.history_seconds // seconds), MAX_HISTORY_WINDOWS)
            history: list[float] = []
            for k in range(last - n + 1, last + 1):
                end = k * seconds
                if end <= first_ts:
                    continue
                key = (endpoint, seconds, k)
                cached = self._buckets.get(key)
                if cached is None:
                    cached, _ = repo.totals(
                        endpoint,
                        datetime.fromtimestamp(end - seconds, tz=UTC),
                        datetime.fromtimestamp(end, tz=UTC),
                    )
                    if end <= now - SETTLE_S:
                        self._buckets[key] = cached
                        while len(self._buckets) > 20_000:
                            self._buckets.popitem(last=False)
                history.append(float(cached))
        return volume_zscore(float(count), history)

    def _drift(self, endpoint: str, seconds: float) -> dict[str, Any] | None:
        if self.drift is None:
            return None
        key = (endpoint, seconds)
        cached = self._drift_cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < DRIFT_TTL_S:
            return cached[1]
        report: dict[str, Any] | None
        try:
            with threadpool_limits(limits=1):  # drift work must not starve serving threads
                report = self.drift.summary(endpoint, timedelta(seconds=seconds))
        except ModelyardError as exc:  # e.g. no reference for this version
            log.debug("drift of %s for alerts unavailable: %s", endpoint, exc.message)
            report = None
        self._drift_cache[key] = (time.monotonic(), report)
        return report


# ---------------------------------------------------------------- evaluation


def _log_event(event: AlertEvent) -> None:
    level = _SEVERITY_LEVEL[event.severity] if event.status == "firing" else logging.INFO
    log.log(level, "%s %s", event.event_type, json.dumps(event.to_dict(), sort_keys=True))


class AlertingService:
    """Evaluates the spec's rules for every endpoint and records what changed."""

    def __init__(
        self,
        store: Store,
        rules: Sequence[AlertRule],
        metrics: AlertMetrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rules = list(rules)
        self.metrics = metrics
        self.clock = clock
        self._by_name = {rule.name: rule for rule in self.rules}

    def targets(self, endpoints: Iterable[str]) -> list[tuple[AlertRule, str]]:
        """Every (rule, endpoint) pair to evaluate."""
        names = sorted(set(endpoints))
        return [(rule, name) for rule in self.rules for name in names if rule.applies_to(name)]

    def run_once(self, endpoints: Iterable[str], now: float | None = None) -> list[AlertEvent]:
        """Compute every rule's value for ``endpoints`` and advance the states."""
        now = self.clock() if now is None else now
        targets = self.targets(endpoints)
        if not targets:
            return []
        values = self.metrics.values(targets, now) if self.metrics is not None else {}
        return self.apply(values, now)

    def apply(self, values: Mapping[tuple[str, str], float | None], now: float) -> list[AlertEvent]:
        """Advance the state of each ``(rule name, endpoint)`` with its value; persist.

        States, events and their webhook deliveries are written in one transaction;
        the events are logged after it commits.
        """
        events: list[AlertEvent] = []
        with self.store.session() as session:
            repo = AlertRepository(session)
            repo.lock()
            states = repo.states()
            for (name, endpoint), value in values.items():
                rule = self._by_name.get(name)
                if rule is None or not rule.applies_to(endpoint):
                    continue
                state = states.get(fingerprint(name, endpoint)) or AlertState.initial(
                    rule, endpoint
                )
                new, emitted = evaluate(rule, state, value, now)
                repo.save_state(new)
                for event in emitted:
                    repo.add_event(event)
                    enqueue(session, event.event_type, event.to_dict())
                    events.append(event)
        for event in events:
            _log_event(event)
        return events

    def record_drift(
        self, endpoint: str, report: Mapping[str, Any], window_s: float, now: float | None = None
    ) -> bool:
        """Advance ``endpoint``'s ``drift.detected`` state with a drift summary; enqueue
        the event when the verdict turns to drift. Returns whether it was sent."""
        now = self.clock() if now is None else now
        rule = AlertRule(
            name=DRIFT_EVENT_RULE,
            metric="drift_status",
            comparison=">=",
            threshold=1.0,
            window=f"{max(int(window_s), 1)}s",
        )
        value = {"ok": 0.0, "drift": 1.0}.get(str(report.get("status")))  # else: no verdict
        payload = {
            "endpoint": endpoint,
            "model": report.get("model"),
            "window_seconds": window_s,
            "window_rows": report.get("window_rows"),
            "status": report.get("status"),
            "drivers": list(report.get("drivers", ())),
            "drifted_columns": list(report.get("drifted_columns", ())),
            "reasons": list(report.get("reasons", ())),
            "at": now,
        }
        with self.store.session() as session:
            repo = AlertRepository(session)
            repo.lock()
            state = repo.states().get(fingerprint(rule, endpoint))
            new, emitted = evaluate(rule, state or AlertState.initial(rule, endpoint), value, now)
            repo.save_state(new)
            sent = any(event.status == "firing" for event in emitted)
            if sent:
                enqueue(session, "drift.detected", payload)
        if sent:
            log.warning("drift.detected %s", json.dumps(payload, sort_keys=True, default=str))
        return sent

    def overview(
        self, *, endpoint: str | None = None, status: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """Rules, the current state of each (rule, endpoint) and the newest events."""
        with self.store.session() as session:
            repo = AlertRepository(session)
            states = repo.states()
            events = repo.events(limit=limit, endpoint=endpoint)
        order = {"firing": 0, "pending": 1, "resolved": 2, "inactive": 3}
        alerts: list[dict[str, Any]] = []
        for fp, state in states.items():
            rule = self._by_name.get(state.rule)
            if rule is None:  # a rule no longer in the spec
                continue
            if endpoint is not None and state.endpoint != endpoint:
                continue
            if status is not None and state.status != status:
                continue
            alerts.append(
                {
                    "fingerprint": fp,
                    **state.to_dict(),
                    "metric": rule.metric,
                    "comparison": rule.comparison,
                    "threshold": rule.threshold,
                    "severity": rule.severity,
                    "labels": dict(rule.labels),
                }
            )
        alerts.sort(key=lambda a: (order.get(a["status"], 9), a["rule"], a["endpoint"] or ""))
        return {
            "rules": [rule.to_dict() for rule in self.rules],
            "alerts": alerts,
            "events": events,
        }
