"""Alert rules, their state machine, and their export to Prometheus and Grafana.

A rule (``monitoring.alerts`` in the spec) says *when* an endpoint is unhealthy::

    - name: high_p99
      metric: latency_p99_ms        # what to watch (units below)
      comparison: ">"               # >, >=, <, <=
      threshold: 250
      window: 5m                    # the span the metric is computed over
      for: 2m                       # how long it must hold before firing (for_duration)
      severity: critical            # info | warning | critical
      endpoint: fraud               # optional; default: every endpoint
      labels: {team: risk}          # optional; copied onto events and Prometheus alerts
      description: p99 over budget  # optional; a Prometheus annotation

Metrics (the value :func:`evaluate` receives; the server computes it over ``window``):

==========================  =========================================================
``latency_p50_ms``          median request latency, milliseconds
``latency_p99_ms``          99th percentile request latency, milliseconds
``error_rate``              failed / all requests, a fraction in ``[0, 1]``
``request_rate``            requests per second
``request_volume_anomaly``  z-score of the window's request count against the counts
                            of the preceding windows (:func:`volume_zscore`)
``drift_status``            1 drift, 0 no drift (insufficient data is ``None``)
``drift_score:<column>``    the column's drift effect size (normalised Wasserstein or
                            Jensen-Shannon distance)
``live_accuracy``           accuracy realised from feedback labels
``estimated_accuracy``      accuracy estimated from confidences (CBPE)
``cost_per_request``        USD per request
``cost_per_hour``           USD per hour
==========================  =========================================================

States, per (rule, endpoint), and the events :func:`evaluate` emits::

    inactive ──true──► pending ──true for ≥ for_duration──► firing ──false──► resolved
       ▲                 │                          (emits "firing")  (emits "resolved")
       └────false/None───┘◄──────────────────────────false/None────────────────┘

``for_duration`` 0 goes from inactive straight to firing. A firing alert emits one
``firing`` event, not one per evaluation, and one ``resolved`` event when it clears;
``resolved`` lasts one evaluation, then the rule is inactive (or pending again).

``None`` (the metric is unavailable or the window holds too little data; NaN counts as
``None``) **never fires**: a pending rule drops back to inactive, so the condition must
hold for a full ``for_duration`` of real data; a firing rule *stays* firing without an
event, since missing data proves neither the problem nor its recovery.

Every mistake in a rule raises :class:`~modelyard.errors.InvalidInputError` whose
message and ``field`` name the key (``monitoring.alerts.2.metric``) and the allowed values.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast, get_args

import yaml

from modelyard.errors import InvalidInputError

Comparison = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]
AlertStatus = Literal["inactive", "pending", "firing", "resolved"]
EventStatus = Literal["firing", "resolved"]

COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
ALERT_STATUSES: tuple[AlertStatus, ...] = get_args(AlertStatus)
DRIFT_SCORE_PREFIX = "drift_score:"
#: Metric names a rule may watch (plus ``drift_score:<column>``).
ALERT_METRICS: tuple[str, ...] = (
    "latency_p50_ms",
    "latency_p99_ms",
    "error_rate",
    "request_rate",
    "request_volume_anomaly",
    "drift_status",
    "live_accuracy",
    "estimated_accuracy",
    "cost_per_request",
    "cost_per_hour",
)
#: Metrics the server exports to Prometheus; other rules are left out of the export.
PROMETHEUS_METRICS: frozenset[str] = frozenset(
    {
        "latency_p50_ms",
        "latency_p99_ms",
        "error_rate",
        "request_rate",
        "request_volume_anomaly",
        "drift_status",
        "live_accuracy",
        "estimated_accuracy",
        "cost_per_request",
        "cost_per_hour",
    }
)
#: Gauges the server refreshes with each drift check (over its drift window).
_WINDOW_GAUGES: dict[str, str] = {
    "live_accuracy": "modelyard_live_accuracy",
    "estimated_accuracy": "modelyard_estimated_accuracy",
    "cost_per_request": "modelyard_cost_per_request_usd",
    "cost_per_hour": "modelyard_cost_per_hour_usd",
}
RULE_KEYS: tuple[str, ...] = (
    "name",
    "metric",
    "comparison",
    "threshold",
    "window",
    "for_duration",
    "severity",
    "endpoint",
    "labels",
    "description",
    "history",
)
REQUIRED_KEYS: tuple[str, ...] = ("name", "metric", "comparison", "threshold")
#: ``for`` (Prometheus' spelling) is accepted for ``for_duration``.
KEY_ALIASES: dict[str, str] = {"for": "for_duration"}
RESERVED_LABELS: frozenset[str] = frozenset({"alertname", "endpoint", "severity"})
DEFAULT_WINDOW = "5m"
DEFAULT_FOR = "0s"
DEFAULT_HISTORY = "1d"
#: Fewer preceding windows than this → :func:`volume_zscore` returns ``None``.
MIN_HISTORY_WINDOWS = 3
ALL_ENDPOINTS = "*"

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"(\d+)([smhdw])")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_METRIC_UNITS = {
    "latency_p50_ms": "ms",
    "latency_p99_ms": "ms",
    "error_rate": "",
    "request_rate": "req/s",
    "request_volume_anomaly": "sd",
    "cost_per_request": "USD",
    "cost_per_hour": "USD/h",
}


def parse_duration(text: str | int, *, field: str = "window", allow_zero: bool = False) -> float:
    """``30s``, ``5m``, ``2h``, ``1d``, ``1w`` (or an integer of seconds) → seconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = float(text)
    elif isinstance(text, str) and (match := _DURATION_RE.fullmatch(text.strip())):
        seconds = float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    else:
        raise InvalidInputError(
            f"{field}: invalid duration {text!r}; use a whole number and a unit "
            "(s, m, h, d, w), e.g. 30s, 5m, 24h",
            field=field,
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise InvalidInputError(
            f"{field}: the duration must be {'>= 0' if allow_zero else '> 0'}, got {text!r}",
            field=field,
        )
    return seconds


def compare(value: float, comparison: Comparison, threshold: float) -> bool:
    """``value <comparison> threshold``."""
    if comparison == ">":
        return value > threshold
    if comparison == ">=":
        return value >= threshold
    if comparison == "<":
        return value < threshold
    return value <= threshold


@dataclass(frozen=True)
class AlertRule:
    """One validated alert rule (see the module docstring); construct or :meth:`from_dict`.

    ``window``, ``for_duration`` and ``history`` are duration strings, normalised to
    ``<n><unit>``. ``history`` is the trailing span of ``request_volume_anomaly``
    (ignored by the other metrics).
    """

    name: str
    metric: str
    comparison: Comparison
    threshold: float
    window: str = DEFAULT_WINDOW
    for_duration: str = DEFAULT_FOR
    severity: Severity = "warning"
    endpoint: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    description: str | None = None
    history: str = DEFAULT_HISTORY

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise _bad(
                "name",
                f"invalid rule name {self.name!r}; use 1-128 letters, digits, '_', "
                "'.' or '-', starting with a letter or digit",
            )
        _check_metric(self.metric)
        if self.comparison not in COMPARISONS:
            raise _bad(
                "comparison",
                f"{self.comparison!r} is not allowed; allowed: {', '.join(COMPARISONS)}",
            )
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | float):
            raise _bad("threshold", f"expected a number, got {self.threshold!r}")
        if not math.isfinite(self.threshold):
            raise _bad("threshold", f"expected a finite number, got {self.threshold!r}")
        object.__setattr__(self, "threshold", float(self.threshold))
        for key, allow_zero in (("window", False), ("for_duration", True), ("history", False)):
            value = getattr(self, key)
            seconds = parse_duration(value, field=key, allow_zero=allow_zero)
            if isinstance(value, int):
                object.__setattr__(self, key, f"{int(seconds)}s")
            else:
                object.__setattr__(self, key, value.strip())
        if self.severity not in SEVERITIES:
            raise _bad(
                "severity", f"{self.severity!r} is not allowed; allowed: {', '.join(SEVERITIES)}"
            )
        if self.endpoint is not None and (
            not isinstance(self.endpoint, str)
            or not _NAME_RE.fullmatch(self.endpoint)
            or ".." in self.endpoint
        ):
            raise _bad(
                "endpoint", f"invalid endpoint name {self.endpoint!r} (omit it for every endpoint)"
            )
        if not isinstance(self.labels, Mapping):
            raise _bad(
                "labels", f"expected a mapping of label names to strings, got {self.labels!r}"
            )
        for key, value in self.labels.items():
            if not isinstance(key, str) or not _LABEL_RE.fullmatch(key) or key.startswith("__"):
                raise _bad(
                    f"labels.{key}",
                    f"invalid label name {key!r}; use letters, digits and '_', "
                    "not starting with a digit or '__'",
                )
            if key in RESERVED_LABELS:
                raise _bad(
                    f"labels.{key}",
                    f"label {key!r} is set by modelyard; reserved: "
                    f"{', '.join(sorted(RESERVED_LABELS))}",
                )
            if not isinstance(value, str):
                raise _bad(f"labels.{key}", f"label values must be strings, got {value!r}")
        object.__setattr__(self, "labels", dict(self.labels))
        if self.description is not None and not isinstance(self.description, str):
            raise _bad("description", f"expected a string, got {self.description!r}")

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> AlertRule:
        """Validate a mapping (one spec entry); errors name ``<path>.<key>``."""
        prefix = f"{path}." if path else ""
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"{path or 'alert rule'}: expected a mapping with keys "
                f"{', '.join(REQUIRED_KEYS)}, got {data!r}",
                field=path or None,
            )
        values: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = KEY_ALIASES.get(raw_key, raw_key)
            if key not in RULE_KEYS:
                raise InvalidInputError(
                    f"{prefix}{raw_key}: unknown key {raw_key!r}; allowed keys: "
                    f"{', '.join(RULE_KEYS)} ('for' is accepted for 'for_duration')",
                    field=f"{prefix}{raw_key}",
                )
            if key in values:
                raise InvalidInputError(
                    f"{prefix}{key}: given twice (as 'for' and 'for_duration')",
                    field=f"{prefix}{key}",
                )
            values[key] = value
        for key in REQUIRED_KEYS:
            if key not in values:
                raise InvalidInputError(
                    f"{prefix}{key}: required key is missing", field=f"{prefix}{key}"
                )
        if values.get("labels") is None:
            values.pop("labels", None)
        try:
            return cls(**values)
        except InvalidInputError as exc:
            where = f"{prefix}{exc.field}" if exc.field else (path or None)
            message = exc.message if not prefix else f"{prefix}{exc.message}"
            raise InvalidInputError(message, field=where) from None

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window)

    @property
    def for_seconds(self) -> float:
        return parse_duration(self.for_duration, field="for_duration", allow_zero=True)

    @property
    def history_seconds(self) -> float:
        return parse_duration(self.history, field="history")

    @property
    def drift_column(self) -> str | None:
        """The column of a ``drift_score:<column>`` rule, else ``None``."""
        if self.metric.startswith(DRIFT_SCORE_PREFIX):
            return self.metric[len(DRIFT_SCORE_PREFIX) :]
        return None

    def applies_to(self, endpoint: str) -> bool:
        """True when the rule watches ``endpoint`` (a rule without one watches all)."""
        return self.endpoint is None or self.endpoint == endpoint

    def holds(self, value: float | None) -> bool:
        """Whether the condition is true for ``value`` (``None``/NaN: never)."""
        clean = _clean(value)
        return clean is not None and compare(clean, self.comparison, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """The spec form (round-trips through :meth:`from_dict`)."""
        out: dict[str, Any] = {
            "name": self.name,
            "metric": self.metric,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "window": self.window,
            "for_duration": self.for_duration,
            "severity": self.severity,
            "endpoint": self.endpoint,
            "labels": dict(self.labels),
            "description": self.description,
            "history": self.history,
        }
        return out


def parse_rules(data: object, *, path: str = "monitoring.alerts") -> list[AlertRule]:
    """Validate the spec's ``monitoring.alerts`` list (``None`` → no rules); names are unique."""
    if data is None:
        return []
    if not isinstance(data, Sequence) or isinstance(data, str | bytes):
        raise InvalidInputError(f"{path}: expected a list of alert rules, got {data!r}", field=path)
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        rule = AlertRule.from_dict(item, path=f"{path}.{i}")
        if rule.name in seen:
            raise InvalidInputError(
                f"{path}.{i}.name: rule {rule.name!r} appears twice; names must be unique",
                field=f"{path}.{i}.name",
            )
        seen.add(rule.name)
        rules.append(rule)
    return rules


def fingerprint(rule: str | AlertRule, endpoint: str | None) -> str:
    """Stable 16-hex-digit id of (rule name, endpoint): the dedup key of its events."""
    name = rule.name if isinstance(rule, AlertRule) else rule
    canonical = json.dumps({"endpoint": endpoint, "rule": name}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class AlertEvent:
    """A state change worth notifying: an alert started firing or resolved."""

    rule: str
    endpoint: str | None
    status: EventStatus
    value: float | None
    threshold: float
    severity: Severity
    started_at: float
    at: float
    fingerprint: str
    metric: str
    comparison: Comparison
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def event_type(self) -> str:
        """The webhook event type: ``alert.firing`` or ``alert.resolved``."""
        return f"alert.{self.status}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (a webhook or log payload); non-finite values become ``None``."""
        value = self.value if self.value is None or math.isfinite(self.value) else None
        return {
            "rule": self.rule,
            "endpoint": self.endpoint,
            "status": self.status,
            "value": value,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "metric": self.metric,
            "severity": self.severity,
            "started_at": self.started_at,
            "at": self.at,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
        }


@dataclass(frozen=True)
class AlertState:
    """Where one (rule, endpoint) is in the state machine; persist it between evaluations.

    ``since`` is when the condition became true (pending or firing), ``value`` the
    last known value, ``updated_at`` the last evaluation, ``fired_at`` and
    ``resolved_at`` the last transitions. Timestamps are seconds (e.g. Unix time).
    """

    rule: str
    endpoint: str | None = None
    status: AlertStatus = "inactive"
    since: float | None = None
    value: float | None = None
    updated_at: float | None = None
    fired_at: float | None = None
    resolved_at: float | None = None

    @classmethod
    def initial(cls, rule: AlertRule, endpoint: str | None = None) -> AlertState:
        """An inactive state for ``rule`` on ``endpoint`` (default: the rule's endpoint)."""
        return cls(rule=rule.name, endpoint=endpoint if endpoint is not None else rule.endpoint)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.endpoint)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for storage)."""
        return {
            "rule": self.rule,
            "endpoint": self.endpoint,
            "status": self.status,
            "since": self.since,
            "value": self.value if self.value is None or math.isfinite(self.value) else None,
            "updated_at": self.updated_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        """Inverse of :meth:`to_dict`."""
        status = data.get("status", "inactive")
        if status not in ALERT_STATUSES:
            raise InvalidInputError(
                f"unknown alert status {status!r}; allowed: {', '.join(ALERT_STATUSES)}",
                field="status",
            )
        return cls(
            rule=str(data["rule"]),
            endpoint=data.get("endpoint"),
            status=cast(AlertStatus, status),
            since=data.get("since"),
            value=data.get("value"),
            updated_at=data.get("updated_at"),
            fired_at=data.get("fired_at"),
            resolved_at=data.get("resolved_at"),
        )


def evaluate(
    rule: AlertRule, state: AlertState | None, value: float | None, now: float
) -> tuple[AlertState, list[AlertEvent]]:
    """Advance ``state`` with the rule's current ``value`` at time ``now`` (seconds).

    ``state`` ``None`` starts from :meth:`AlertState.initial`. Returns the new state and
    the events to notify (at most one). See the module docstring for the transitions.
    """
    if state is None:
        state = AlertState.initial(rule)
    if state.rule != rule.name:
        raise InvalidInputError(
            f"state belongs to rule {state.rule!r}, not {rule.name!r}", field="state"
        )
    if state.endpoint is not None and not rule.applies_to(state.endpoint):
        raise InvalidInputError(
            f"rule {rule.name!r} watches endpoint {rule.endpoint!r}, not {state.endpoint!r}",
            field="endpoint",
        )
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise InvalidInputError(f"now must be a finite timestamp, got {now!r}", field="now")
    now = float(now)
    clean = _clean(value)
    holds = clean is not None and compare(clean, rule.comparison, rule.threshold)

    if state.status == "firing":
        if clean is None:  # no data: neither proof of the problem nor of recovery
            return replace(state, updated_at=now), []
        if holds:
            return replace(state, value=clean, updated_at=now), []
        started = state.since if state.since is not None else now
        resolved = replace(state, status="resolved", value=clean, updated_at=now, resolved_at=now)
        return resolved, [_event(rule, state, "resolved", clean, started, now)]

    if not holds:  # inactive, pending or resolved, and false/None → inactive
        return (
            replace(state, status="inactive", since=None, value=clean, updated_at=now),
            [],
        )
    since = state.since if state.status == "pending" and state.since is not None else now
    if now - since >= rule.for_seconds:
        firing = replace(
            state, status="firing", since=since, value=clean, updated_at=now, fired_at=now
        )
        return firing, [_event(rule, state, "firing", clean, since, now)]
    return replace(state, status="pending", since=since, value=clean, updated_at=now), []


def volume_zscore(count: float, history: Sequence[float]) -> float | None:
    """z-score of a window's request ``count`` against the counts of preceding windows.

    ``(count - mean(history)) / max(sd(history), 1)``: the standard deviation (sample,
    ``ddof=1``) is floored at one request so a perfectly flat history does not divide
    by zero. Fewer than :data:`MIN_HISTORY_WINDOWS` history windows → ``None``
    (insufficient data). The Prometheus export computes the same quantity.
    """
    points = [float(x) for x in history if x is not None and math.isfinite(float(x))]
    if len(points) < MIN_HISTORY_WINDOWS or not math.isfinite(count):
        return None
    mean = sum(points) / len(points)
    sd = math.sqrt(sum((x - mean) ** 2 for x in points) / (len(points) - 1))
    return (count - mean) / max(sd, 1.0)


# ---------------------------------------------------------------- Prometheus export


def prometheus_expression(rule: AlertRule) -> str | None:
    """The PromQL condition of ``rule`` over the server's metrics (``None``: no equivalent).

    Drift, quality and cost rules read the server's gauges, which already summarise
    its drift window, so their ``window`` is not used; ``drift_status`` ignores -1
    (insufficient data) and the others are NaN when unknown, as :func:`evaluate`
    ignores ``None``.
    """
    w = rule.window
    sel = _matchers(endpoint=rule.endpoint)
    op = f"{rule.comparison} {_number(rule.threshold)}"
    if rule.metric in ("latency_p50_ms", "latency_p99_ms"):
        q = "0.5" if rule.metric == "latency_p50_ms" else "0.99"
        return (
            f"histogram_quantile({q}, sum by (le, endpoint) "
            f"(rate(modelyard_request_duration_seconds_bucket{sel}[{w}]))) * 1000 {op}"
        )
    if rule.metric == "error_rate":
        return (
            f"sum by (endpoint) (rate(modelyard_request_errors_total{sel}[{w}]))"
            f" / sum by (endpoint) (rate(modelyard_requests_total{sel}[{w}])) {op}"
        )
    if rule.metric == "request_rate":
        return f"sum by (endpoint) (rate(modelyard_requests_total{sel}[{w}])) {op}"
    if rule.metric == "request_volume_anomaly":
        count = f"sum by (endpoint) (increase(modelyard_requests_total{sel}[{w}]))"
        past = f"({count})[{rule.history}:{w}] offset {w}"
        return f"({count} - avg_over_time({past})) / clamp_min(stddev_over_time({past}), 1) {op}"
    if rule.metric == "drift_status":
        return f"max by (endpoint) (modelyard_drift_status{sel} >= 0) {op}"
    if rule.metric in _WINDOW_GAUGES:
        return f"max by (endpoint) ({_WINDOW_GAUGES[rule.metric]}{sel}) {op}"
    column = rule.drift_column
    if column is not None:
        sel = _matchers(endpoint=rule.endpoint, column=column)
        return f"max by (endpoint, column) (modelyard_drift_score{sel}) {op}"
    return None


def to_prometheus_rules(
    rules: Iterable[AlertRule], *, group: str = "modelyard"
) -> tuple[dict[str, Any], list[str]]:
    """A Prometheus alerting-rules document (``groups:`` → ``rules:``) and the skipped rules.

    The second item lists, one sentence each, the rules left out because their metric
    has no Prometheus equivalent (quality and cost are computed by the modelyard
    server only); they make good ``#`` comments in the YAML file
    (:func:`prometheus_rules_yaml`).
    """
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    for rule in rules:
        expr = prometheus_expression(rule)
        if expr is None:
            skipped.append(
                f"rule {rule.name!r} skipped: metric {rule.metric!r} has no Prometheus "
                "equivalent (the modelyard server evaluates it)"
            )
            continue
        where = "{{ $labels.endpoint }}"
        unit = _METRIC_UNITS.get(rule.metric, "")
        summary = (
            f"{rule.metric} on {where} is {{{{ $value | humanize }}}}{' ' + unit if unit else ''}"
            f" ({rule.comparison} {_number(rule.threshold)})"
        )
        if rule.drift_column is not None:
            summary = f"drift score of column {{{{ $labels.column }}}} on {where} is " + (
                f"{{{{ $value | humanize }}}} ({rule.comparison} {_number(rule.threshold)})"
            )
        annotations = {"summary": summary}
        if rule.description:
            annotations["description"] = rule.description
        out.append(
            {
                "alert": rule.name,
                "expr": expr,
                "for": rule.for_duration,
                "labels": {**dict(rule.labels), "severity": rule.severity},
                "annotations": annotations,
            }
        )
    return {"groups": [{"name": group, "rules": out}]}, skipped


def prometheus_rules_yaml(rules: Iterable[AlertRule], *, group: str = "modelyard") -> str:
    """:func:`to_prometheus_rules` as YAML text, skipped rules listed as ``#`` comments."""
    document, skipped = to_prometheus_rules(rules, group=group)
    header = ["# Prometheus alerting rules generated by modelyard from monitoring.alerts."]
    header += [f"# {line}" for line in skipped]
    body = str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000))
    return "\n".join(header) + "\n" + body


# ---------------------------------------------------------------- Grafana dashboard

GRAFANA_SCHEMA_VERSION = 39
GRAFANA_UID = "modelyard-overview"
_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_SEL = 'endpoint=~"$endpoint"'
_RATE = "$__rate_interval"


def grafana_dashboard(
    endpoints: list[str] | None = None, *, title: str = "modelyard"
) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) over the server's Prometheus metrics.

    Variables: ``datasource`` (any Prometheus data source) and ``endpoint`` (multi-select
    with "All"; its values are ``endpoints`` when given, else queried from
    ``label_values(modelyard_requests_total, endpoint)``). Panels: request rate,
    error rate, p50/p99 latency, drift status, drift scores, live and estimated
    accuracy, cost, cache hit ratio, batch size, endpoint readiness.
    """
    panels = [
        _panel(
            "Request rate",
            [
                (
                    f"sum by (endpoint) (rate(modelyard_requests_total{{{_SEL}}}[{_RATE}]))",
                    "{{endpoint}}",
                )
            ],
            unit="reqps",
            description="Prediction requests per second.",
        ),
        _panel(
            "Error rate",
            [
                (
                    f"sum by (endpoint) (rate(modelyard_request_errors_total{{{_SEL}}}[{_RATE}]))"
                    f" / sum by (endpoint) (rate(modelyard_requests_total{{{_SEL}}}[{_RATE}]))",
                    "{{endpoint}}",
                )
            ],
            unit="percentunit",
            description="Failed requests / all requests.",
        ),
        _panel(
            "Latency p50 / p99",
            [
                (_latency_quantile("0.5"), "p50 {{endpoint}}"),
                (_latency_quantile("0.99"), "p99 {{endpoint}}"),
            ],
            unit="ms",
            description="Request latency percentiles from the duration histogram.",
        ),
        _panel(
            "Drift status",
            [(f"max by (endpoint) (modelyard_drift_status{{{_SEL}}})", "{{endpoint}}")],
            kind="stat",
            unit="none",
            description="Endpoint drift verdict over the drift window.",
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "-1": {"text": "insufficient data", "color": "text", "index": 0},
                        "0": {"text": "ok", "color": "green", "index": 1},
                        "1": {"text": "drift", "color": "red", "index": 2},
                    },
                }
            ],
        ),
        _panel(
            "Drift scores by column",
            [
                (
                    f"max by (endpoint, column) (modelyard_drift_score{{{_SEL}}})",
                    "{{endpoint}} {{column}}",
                )
            ],
            unit="none",
            description="Per-column drift effect size (normalised Wasserstein or Jensen-Shannon).",
        ),
        _panel(
            "Accuracy: live and estimated",
            [
                (f"max by (endpoint) (modelyard_live_accuracy{{{_SEL}}})", "live {{endpoint}}"),
                (
                    f"max by (endpoint) (modelyard_estimated_accuracy{{{_SEL}}})",
                    "estimated {{endpoint}}",
                ),
            ],
            unit="percentunit",
            description="Accuracy from feedback labels, and estimated from the model's "
            "confidences while labels are missing (drift window).",
        ),
        _panel(
            "Cost",
            [
                (
                    f"max by (endpoint) (modelyard_cost_per_hour_usd{{{_SEL}}})",
                    "per hour {{endpoint}}",
                ),
                (
                    f"max by (endpoint) (modelyard_cost_per_request_usd{{{_SEL}}})",
                    "per request {{endpoint}}",
                ),
            ],
            unit="currencyUSD",
            description="Cost from the spec's cost model and measured compute (drift window).",
        ),
        _panel(
            "Cache hit ratio",
            [
                (
                    "sum by (endpoint) (rate(modelyard_cache_requests_total"
                    f'{{{_SEL}, result="hit"}}[{_RATE}]))'
                    " / sum by (endpoint) (rate(modelyard_cache_requests_total"
                    f"{{{_SEL}}}[{_RATE}]))",
                    "{{endpoint}}",
                )
            ],
            unit="percentunit",
            description="Response cache hits / lookups.",
        ),
        _panel(
            "Batch size",
            [
                (
                    f"sum by (endpoint) (rate(modelyard_batch_rows_sum{{{_SEL}}}[{_RATE}]))"
                    f" / sum by (endpoint) (rate(modelyard_batch_rows_count{{{_SEL}}}[{_RATE}]))",
                    "mean {{endpoint}}",
                ),
                (
                    "histogram_quantile(0.9, sum by (le, endpoint) "
                    f"(rate(modelyard_batch_rows_bucket{{{_SEL}}}[{_RATE}])))",
                    "p90 {{endpoint}}",
                ),
            ],
            unit="none",
            description="Rows per model call (adaptive batching).",
        ),
        _panel(
            "Endpoint ready",
            [(f"max by (endpoint) (modelyard_endpoint_ready{{{_SEL}}})", "{{endpoint}}")],
            kind="stat",
            unit="none",
            description="1 when the endpoint's model is loaded and serving.",
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "not ready", "color": "red", "index": 0},
                        "1": {"text": "ready", "color": "green", "index": 1},
                    },
                }
            ],
        ),
    ]
    for i, panel in enumerate(panels):
        panel["id"] = i + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}
    return {
        "id": None,
        "uid": GRAFANA_UID,
        "title": title,
        "tags": ["modelyard"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": GRAFANA_SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [_datasource_variable(), _endpoint_variable(endpoints)]},
        "panels": panels,
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }


def _endpoint_variable(endpoints: list[str] | None) -> dict[str, Any]:
    common: dict[str, Any] = {
        "name": "endpoint",
        "label": "Endpoint",
        "hide": 0,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }
    if endpoints is None:
        query = "label_values(modelyard_requests_total, endpoint)"
        return {
            **common,
            "type": "query",
            "datasource": dict(_DATASOURCE),
            "definition": query,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "options": [],
        }
    names = list(endpoints)
    for name in names:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise InvalidInputError(f"invalid endpoint name {name!r}", field="endpoints")
    options = [{"selected": True, "text": "All", "value": "$__all"}] + [
        {"selected": False, "text": name, "value": name} for name in names
    ]
    return {**common, "type": "custom", "query": ",".join(names), "options": options}


def _panel(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str,
    description: str,
    kind: str = "timeseries",
    mappings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": dict(_DATASOURCE),
        "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or []}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": dict(_DATASOURCE),
                "expr": expr,
                "legendFormat": legend,
                "range": True,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "stat":
        panel["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "textMode": "value_and_name",
        }
    return panel


def _latency_quantile(q: str) -> str:
    return (
        f"histogram_quantile({q}, sum by (le, endpoint) "
        f"(rate(modelyard_request_duration_seconds_bucket{{{_SEL}}}[{_RATE}]))) * 1000"
    )


# ---------------------------------------------------------------- helpers


def _check_metric(metric: object) -> None:
    if isinstance(metric, str):
        if metric in ALERT_METRICS:
            return
        if metric.startswith(DRIFT_SCORE_PREFIX) and metric[len(DRIFT_SCORE_PREFIX) :].strip():
            return
    raise _bad(
        "metric",
        f"unknown metric {metric!r}; allowed: {', '.join(ALERT_METRICS)}, "
        f"{DRIFT_SCORE_PREFIX}<column>",
    )


def _bad(key: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{key}: {message}", field=key)


def _clean(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(
            f"alert values must be numbers or None, got {value!r}", field="value"
        )
    return None if math.isnan(value) else float(value)


def _event(
    rule: AlertRule,
    state: AlertState,
    status: EventStatus,
    value: float | None,
    started_at: float,
    at: float,
) -> AlertEvent:
    return AlertEvent(
        rule=rule.name,
        endpoint=state.endpoint,
        status=status,
        value=value,
        threshold=rule.threshold,
        severity=rule.severity,
        started_at=started_at,
        at=at,
        fingerprint=fingerprint(rule.name, state.endpoint),
        metric=rule.metric,
        comparison=rule.comparison,
        labels=dict(rule.labels),
    )


def _matchers(**matchers: str | None) -> str:
    parts = [f"{key}={_quote(value)}" for key, value in matchers.items() if value is not None]
    return "{" + ", ".join(parts) + "}" if parts else ""


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
