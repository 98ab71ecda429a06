"""Alert rules: validation, the pending → firing → resolved machine, Prometheus/Grafana export."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest
import yaml

from modelyard.domain.alerts import (
    ALERT_METRICS,
    PROMETHEUS_METRICS,
    AlertRule,
    AlertState,
    evaluate,
    fingerprint,
    grafana_dashboard,
    parse_duration,
    parse_rules,
    prometheus_expression,
    prometheus_rules_yaml,
    to_prometheus_rules,
    volume_zscore,
)
from modelyard.errors import InvalidInputError


def rule(**overrides: Any) -> AlertRule:
    spec: dict[str, Any] = {
        "name": "slow",
        "metric": "latency_p99_ms",
        "comparison": ">",
        "threshold": 250,
        "window": "5m",
        "for": "2m",
        "severity": "critical",
    }
    spec.update(overrides)
    return AlertRule.from_dict(spec)


def run(
    r: AlertRule, values: Sequence[tuple[float, float | None]], endpoint: str | None = "fraud"
) -> tuple[AlertState, list[Any]]:
    state = AlertState.initial(r, endpoint)
    events: list[Any] = []
    for now, value in values:
        state, new = evaluate(r, state, value, now)
        events.extend(new)
    return state, events


# ------------------------------------------------------------------ validation


def test_parse_rules_from_spec() -> None:
    rules = parse_rules(
        [
            {"name": "slow", "metric": "latency_p99_ms", "comparison": ">", "threshold": 250},
            {
                "name": "age-drift",
                "metric": "drift_score:age",
                "comparison": ">=",
                "threshold": 0.2,
                "window": "1h",
                "for_duration": 600,
                "severity": "info",
                "endpoint": "fraud",
                "labels": {"team": "risk"},
            },
        ]
    )
    assert [r.name for r in rules] == ["slow", "age-drift"]
    slow, drift = rules
    assert (slow.window, slow.for_duration, slow.severity, slow.endpoint) == (
        "5m",
        "0s",
        "warning",
        None,
    )
    assert slow.threshold == 250.0 and isinstance(slow.threshold, float)
    assert drift.for_duration == "600s" and drift.for_seconds == 600
    assert drift.drift_column == "age" and drift.labels == {"team": "risk"}
    assert AlertRule.from_dict(drift.to_dict()) == drift
    assert parse_rules(None) == []


@pytest.mark.parametrize(
    ("patch", "field", "mentions"),
    [
        ({"metric": "latency"}, "metric", ["latency_p99_ms", "error_rate", "drift_score:<column>"]),
        ({"metric": "drift_score:"}, "metric", ["drift_score:<column>"]),
        ({"comparison": "=="}, "comparison", [">, >=, <, <="]),
        ({"severity": "page"}, "severity", ["info, warning, critical"]),
        ({"threshold": "high"}, "threshold", ["number"]),
        ({"threshold": math.inf}, "threshold", ["finite"]),
        ({"threshold": True}, "threshold", ["number"]),
        ({"window": "5 minutes"}, "window", ["30s, 5m, 24h"]),
        ({"window": "0m"}, "window", ["> 0"]),
        ({"for": "-1m"}, "for_duration", ["duration"]),
        ({"endpoint": "bad name"}, "endpoint", ["endpoint"]),
        ({"labels": {"severity": "x"}}, "labels.severity", ["reserved"]),
        ({"labels": {"1bad": "x"}}, "labels.1bad", ["label name"]),
        ({"labels": {"team": 3}}, "labels.team", ["strings"]),
        ({"name": "has space"}, "name", ["letters"]),
        ({"treshold": 3}, "treshold", ["unknown key", "threshold", "for_duration"]),
    ],
)
def test_bad_rule_names_key_and_allowed_values(
    patch: dict[str, Any], field: str, mentions: list[str]
) -> None:
    spec: dict[str, Any] = {
        "name": "slow",
        "metric": "latency_p99_ms",
        "comparison": ">",
        "threshold": 250,
    }
    spec.update(patch)
    with pytest.raises(InvalidInputError) as info:
        parse_rules([spec])
    assert info.value.field == f"monitoring.alerts.0.{field}"
    assert info.value.message.startswith(f"monitoring.alerts.0.{field}:")
    for text in mentions:
        assert text in info.value.message


def test_missing_key_duplicate_name_and_wrong_shapes() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_rules([{"name": "x", "metric": "error_rate", "comparison": ">"}])
    assert info.value.field == "monitoring.alerts.0.threshold"
    assert "required" in info.value.message
    ok = {"name": "x", "metric": "error_rate", "comparison": ">", "threshold": 0.1}
    with pytest.raises(InvalidInputError) as info:
        parse_rules([ok, ok])
    assert info.value.field == "monitoring.alerts.1.name" and "twice" in info.value.message
    with pytest.raises(InvalidInputError) as info:
        parse_rules({"name": "x"})
    assert info.value.field == "monitoring.alerts"
    with pytest.raises(InvalidInputError) as info:
        parse_rules(["x"])
    assert info.value.field == "monitoring.alerts.0"
    with pytest.raises(InvalidInputError) as info:
        parse_rules([{**ok, "for": "1m", "for_duration": "2m"}])
    assert info.value.field == "monitoring.alerts.0.for_duration"
    with pytest.raises(InvalidInputError) as info:  # direct construction names the bare key
        AlertRule(name="x", metric="nope", comparison=">", threshold=1)
    assert info.value.field == "metric"


def test_every_metric_is_accepted() -> None:
    for metric in (*ALERT_METRICS, "drift_score:income"):
        assert rule(metric=metric).metric == metric


def test_parse_duration() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("5m") == 300
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("1w") == 604800
    assert parse_duration(0, allow_zero=True) == 0
    with pytest.raises(InvalidInputError):
        parse_duration("1.5h")


# ------------------------------------------------------------------ state machine


def test_pending_then_one_firing_event_then_one_resolved_event() -> None:
    r = rule()  # > 250 for 2m
    state, events = evaluate(r, AlertState.initial(r, "fraud"), 300.0, 0.0)
    assert state.status == "pending" and events == []
    state, events = evaluate(r, state, 320.0, 60.0)
    assert state.status == "pending" and events == []
    state, events = evaluate(r, state, 310.0, 120.0)  # held for 2m → fires
    assert state.status == "firing"
    [fired] = events
    assert fired.status == "firing" and fired.event_type == "alert.firing"
    assert (fired.rule, fired.endpoint, fired.value, fired.threshold) == ("slow", "fraud", 310, 250)
    assert (fired.severity, fired.started_at, fired.at) == ("critical", 0.0, 120.0)
    assert fired.fingerprint == fingerprint("slow", "fraud") == state.fingerprint

    for now in (180.0, 240.0, 300.0):  # still true: deduplicated, no new events
        state, events = evaluate(r, state, 400.0, now)
        assert state.status == "firing" and events == []

    state, events = evaluate(r, state, 100.0, 360.0)
    assert state.status == "resolved"
    [resolved] = events
    assert resolved.status == "resolved" and resolved.fingerprint == fired.fingerprint
    assert (resolved.value, resolved.started_at, resolved.at) == (100.0, 0.0, 360.0)
    json.dumps(resolved.to_dict())

    state, events = evaluate(r, state, 100.0, 420.0)
    assert state.status == "inactive" and events == []


def test_whole_history_emits_exactly_two_events() -> None:
    values = [(t * 30.0, 300.0 if 2 <= t < 20 else 10.0) for t in range(40)]
    state, events = run(rule(), values)
    assert [e.status for e in events] == ["firing", "resolved"]
    assert state.status == "inactive"


def test_flapping_below_for_duration_never_fires() -> None:
    # true for 90 s, false, true for 90 s, ... with for_duration 2m
    values = [(t * 30.0, 300.0 if (t // 4) % 2 == 0 and t % 4 != 3 else 10.0) for t in range(60)]
    state, events = run(rule(), values)
    assert events == []
    assert state.status in ("inactive", "pending")


def test_none_never_fires_and_resets_pending() -> None:
    r = rule()
    state, events = run(r, [(t * 60.0, None) for t in range(20)])
    assert state.status == "inactive" and events == []
    # pending, then a gap of data: the clock restarts
    state, events = run(r, [(0.0, 300.0), (60.0, None), (120.0, 300.0), (180.0, 300.0)])
    assert state.status == "pending" and state.since == 120.0 and events == []
    state, events = run(r, [(0.0, 300.0), (60.0, math.nan), (120.0, 300.0)])
    assert state.status == "pending" and events == []


def test_none_while_firing_holds_without_events() -> None:
    r = rule()
    state, events = run(r, [(0.0, 300.0), (120.0, 300.0), (180.0, None), (240.0, None)])
    assert state.status == "firing" and len(events) == 1
    assert state.value == 300.0  # last known value kept
    state, events = evaluate(r, state, 1.0, 300.0)
    assert state.status == "resolved" and [e.status for e in events] == ["resolved"]


def test_zero_for_duration_fires_immediately_and_refires_after_resolution() -> None:
    r = rule(**{"for": "0s", "comparison": "<", "metric": "live_accuracy", "threshold": 0.8})
    state, events = run(r, [(0.0, 0.9), (60.0, 0.7)])
    assert state.status == "firing" and events[0].started_at == 60.0
    state, events = run(r, [(0.0, 0.7), (60.0, 0.9), (120.0, 0.7), (180.0, 0.7)])
    assert [e.status for e in events] == ["firing", "resolved", "firing"]
    assert events[2].started_at == 120.0


def test_comparisons_at_the_threshold() -> None:
    for comparison, expected in ((">", False), (">=", True), ("<", False), ("<=", True)):
        assert rule(comparison=comparison).holds(250.0) is expected
    assert rule().holds(None) is False


def test_state_round_trips_and_checks_rule() -> None:
    r = rule()
    state, _ = run(r, [(0.0, 300.0), (120.0, 300.0)])
    assert AlertState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    with pytest.raises(InvalidInputError):
        evaluate(rule(name="other"), state, 1.0, 200.0)
    with pytest.raises(InvalidInputError):
        evaluate(rule(endpoint="churn"), AlertState(rule="slow", endpoint="fraud"), 1.0, 0.0)
    fresh, _ = evaluate(r, None, 300.0, 0.0)
    assert fresh.status == "pending" and fresh.endpoint is None


def test_fingerprint_is_stable_and_distinct() -> None:
    assert fingerprint("slow", "fraud") == fingerprint(rule(), "fraud")
    assert (
        len({fingerprint("slow", "fraud"), fingerprint("slow", "churn"), fingerprint("slow", None)})
        == 3
    )
    assert fingerprint("slow", "fraud") == "c1b48f0703dec60f"  # stable across processes


def test_volume_zscore() -> None:
    assert volume_zscore(100, [100, 100]) is None  # too little history
    assert volume_zscore(100, [90, 100, 110]) == pytest.approx(0.0)
    assert volume_zscore(130, [90, 100, 110]) == pytest.approx(3.0)
    assert volume_zscore(103, [100, 100, 100]) == pytest.approx(3.0)  # sd floored at 1


# ------------------------------------------------------------------ Prometheus


def test_prometheus_rules_structure_and_expressions() -> None:
    rules = parse_rules(
        [
            {
                "name": "slow",
                "metric": "latency_p99_ms",
                "comparison": ">",
                "threshold": 250,
                "for": "2m",
                "severity": "critical",
                "labels": {"team": "risk"},
                "description": "p99 over budget",
            },
            {
                "name": "median",
                "metric": "latency_p50_ms",
                "comparison": ">",
                "threshold": 50,
                "endpoint": "fraud",
            },
            {
                "name": "errors",
                "metric": "error_rate",
                "comparison": ">=",
                "threshold": 0.05,
                "window": "10m",
            },
            {"name": "quiet", "metric": "request_rate", "comparison": "<", "threshold": 0.5},
            {
                "name": "spike",
                "metric": "request_volume_anomaly",
                "comparison": ">",
                "threshold": 3,
                "window": "1h",
                "history": "7d",
            },
            {"name": "drifting", "metric": "drift_status", "comparison": ">=", "threshold": 1},
            {
                "name": "age",
                "metric": 'drift_score:a"ge',
                "comparison": ">",
                "threshold": 0.2,
                "endpoint": "fraud",
            },
            {"name": "acc", "metric": "live_accuracy", "comparison": "<", "threshold": 0.8},
            {"name": "money", "metric": "cost_per_hour", "comparison": ">", "threshold": 10},
        ]
    )
    document, skipped = to_prometheus_rules(rules)
    assert yaml.safe_load(yaml.safe_dump(document)) == document
    [group] = document["groups"]
    by_name = {r["alert"]: r for r in group["rules"]}
    assert list(by_name) == [
        "slow",
        "median",
        "errors",
        "quiet",
        "spike",
        "drifting",
        "age",
        "acc",
        "money",
    ]
    assert skipped == []

    slow = by_name["slow"]
    assert slow["expr"] == (
        "histogram_quantile(0.99, sum by (le, endpoint) "
        "(rate(modelyard_request_duration_seconds_bucket[5m]))) * 1000 > 250"
    )
    assert slow["for"] == "2m"
    assert slow["labels"] == {"team": "risk", "severity": "critical"}
    assert slow["annotations"]["description"] == "p99 over budget"
    assert "{{ $labels.endpoint }}" in slow["annotations"]["summary"]
    assert by_name["median"]["expr"] == (
        "histogram_quantile(0.5, sum by (le, endpoint) "
        '(rate(modelyard_request_duration_seconds_bucket{endpoint="fraud"}[5m]))) * 1000 > 50'
    )
    assert by_name["errors"]["expr"] == (
        "sum by (endpoint) (rate(modelyard_request_errors_total[10m]))"
        " / sum by (endpoint) (rate(modelyard_requests_total[10m])) >= 0.05"
    )
    assert by_name["quiet"]["expr"] == (
        "sum by (endpoint) (rate(modelyard_requests_total[5m])) < 0.5"
    )
    spike = by_name["spike"]["expr"]
    assert "increase(modelyard_requests_total[1h])" in spike
    assert "[7d:1h] offset 1h" in spike and "clamp_min(stddev_over_time(" in spike
    assert spike.endswith("> 3")
    assert by_name["drifting"]["expr"] == ("max by (endpoint) (modelyard_drift_status >= 0) >= 1")
    assert by_name["age"]["expr"] == (
        'max by (endpoint, column) (modelyard_drift_score{endpoint="fraud", column="a\\"ge"}) > 0.2'
    )
    for r in group["rules"]:
        assert r["expr"].count("(") == r["expr"].count(")")
        assert r["labels"]["severity"] in ("info", "warning", "critical")

    assert by_name["acc"]["expr"] == "max by (endpoint) (modelyard_live_accuracy) < 0.8"
    assert by_name["money"]["expr"] == "max by (endpoint) (modelyard_cost_per_hour_usd) > 10"
    text = prometheus_rules_yaml(rules)
    assert yaml.safe_load(text) == document


def test_every_alert_metric_has_a_prometheus_expression() -> None:
    """The export covers every rule: each metric has a gauge or counter to read."""
    assert set(ALERT_METRICS) == PROMETHEUS_METRICS
    for metric in (*ALERT_METRICS, "drift_score:age"):
        assert prometheus_expression(rule(metric=metric)) is not None, metric


# ------------------------------------------------------------------ Grafana


def test_grafana_dashboard_panels_and_variables() -> None:
    dashboard = grafana_dashboard(None)
    json.dumps(dashboard)
    assert dashboard["schemaVersion"] == 39 and dashboard["uid"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    endpoint = variables["endpoint"]
    assert endpoint["type"] == "query" and endpoint["includeAll"] and endpoint["multi"]
    assert endpoint["datasource"]["uid"] == "${datasource}"
    assert "label_values(modelyard_requests_total, endpoint)" in endpoint["definition"]

    titles = [p["title"] for p in dashboard["panels"]]
    for wanted in (
        "Request rate",
        "Error rate",
        "Latency p50 / p99",
        "Drift status",
        "Drift scores by column",
        "Accuracy: live and estimated",
        "Cost",
        "Cache hit ratio",
        "Batch size",
    ):
        assert wanted in titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "modelyard_requests_total",
        "modelyard_request_errors_total",
        "modelyard_request_duration_seconds_bucket",
        "modelyard_drift_status",
        "modelyard_drift_score",
        "modelyard_cache_requests_total",
        "modelyard_batch_rows_bucket",
        "modelyard_live_accuracy",
        "modelyard_estimated_accuracy",
        "modelyard_cost_per_hour_usd",
    ):
        assert metric in exprs
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert 'endpoint=~"$endpoint"' in target["expr"]
    latency = dashboard["panels"][titles.index("Latency p50 / p99")]
    assert [t["refId"] for t in latency["targets"]] == ["A", "B"]
    assert "histogram_quantile(0.99" in latency["targets"][1]["expr"]


def test_grafana_dashboard_with_fixed_endpoints() -> None:
    dashboard = grafana_dashboard(["fraud", "churn"])
    endpoint = {v["name"]: v for v in dashboard["templating"]["list"]}["endpoint"]
    assert endpoint["type"] == "custom" and endpoint["query"] == "fraud,churn"
    assert [o["value"] for o in endpoint["options"]] == ["$__all", "fraud", "churn"]
    with pytest.raises(InvalidInputError):
        grafana_dashboard(["a,b"])
