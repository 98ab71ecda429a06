"""Alert state and events in the store: transitions, dedup, restarts, outbox, metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from modelyard.domain.alerts import AlertRule, parse_rules
from modelyard.domain.cost import CostModel
from modelyard.errors import InvalidInputError
from modelyard.monitoring.alerting import (
    AlertingService,
    AlertMetrics,
    OutcomeRing,
    parse_monitoring,
)
from modelyard.monitoring.webhooks import WebhookService
from modelyard.security.outbound import OutboundPolicy
from modelyard.store.orm import AlertEventRow, DeliveryRow
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store

RULE = AlertRule(
    name="p99",
    metric="latency_p99_ms",
    comparison=">",
    threshold=250,
    window="5m",
    for_duration="1m",
    severity="critical",
    labels={"team": "risk"},
)


def _deliveries(store: Store) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    with store.session() as session:
        rows = session.scalars(select(DeliveryRow).order_by(DeliveryRow.created_at))
        return [(r.event_type, r.payload) for r in rows]


def test_fires_once_survives_restarts_and_resolves(store: Store) -> None:
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",))
    WebhookService(store, policy).create(
        name="ops",
        url="http://127.0.0.1:9/h",
        event_types=["alert.firing", "alert.resolved"],
        actor="t",
    )
    key = ("p99", "ep")

    def service() -> AlertingService:  # a fresh instance is a server restart
        return AlertingService(store, [RULE])

    assert service().apply({key: 400.0}, now=1000.0) == []  # pending
    assert service().apply({key: 410.0}, now=1030.0) == []  # still pending (30 s < 60 s)
    fired = service().apply({key: 420.0}, now=1061.0)
    assert [(e.status, e.endpoint, e.value) for e in fired] == [("firing", "ep", 420.0)]
    assert service().apply({key: 500.0}, now=1100.0) == []  # firing: no repeat
    assert service().apply({key: None}, now=1115.0) == []  # no data: stays firing
    overview = service().overview()
    (alert,) = overview["alerts"]
    assert alert["status"] == "firing" and alert["since"] == 1000.0
    assert alert["severity"] == "critical" and alert["labels"] == {"team": "risk"}

    resolved = service().apply({key: 100.0}, now=1130.0)
    assert [(e.status, e.started_at) for e in resolved] == [("resolved", 1000.0)]
    assert service().apply({key: 100.0}, now=1145.0) == []  # back to inactive

    with store.session() as session:
        assert session.scalar(select(func.count(AlertEventRow.id))) == 2
    deliveries = _deliveries(store)
    assert [t for t, _ in deliveries] == ["alert.firing", "alert.resolved"]
    assert deliveries[0][1]["data"]["rule"] == "p99"
    assert deliveries[0][1]["data"]["fingerprint"] == alert["fingerprint"]
    events = service().overview(limit=10)["events"]
    assert [e["status"] for e in events] == ["resolved", "firing"]  # newest first
    assert service().overview(status="firing")["alerts"] == []


def test_rules_apply_per_endpoint_and_unknown_rules_are_ignored(store: Store) -> None:
    scoped = AlertRule(
        name="only-a", metric="error_rate", comparison=">", threshold=0.1, endpoint="a"
    )
    service = AlertingService(store, [RULE, scoped])
    assert [(r.name, e) for r, e in service.targets(["b", "a"])] == [
        ("p99", "a"),
        ("p99", "b"),
        ("only-a", "a"),
    ]
    events = service.apply({("only-a", "a"): 0.5, ("only-a", "b"): 0.9, ("gone", "a"): 1.0}, 5.0)
    assert [(e.rule, e.endpoint) for e in events] == [("only-a", "a")]
    assert {a["rule"] for a in service.overview()["alerts"]} == {"only-a"}


def test_outcome_ring_rates() -> None:
    clock = [100.0]
    ring = OutcomeRing(size=5, clock=lambda: clock[0])
    assert ring.window("ep", 10).request_rate is None  # up for less than one window
    assert ring.window("ep", 10).error_rate is None  # no requests
    for ok in (True, False, True):
        clock[0] += 1
        ring.record("ep", ok)
    clock[0] = 111.5
    window = ring.window("ep", 10)
    assert (window.requests, window.errors) == (2, 1)  # the first fell out of the window
    assert window.error_rate == 0.5 and window.request_rate == pytest.approx(0.2)
    for _ in range(10):  # more than the ring holds within the window
        clock[0] += 0.1
        ring.record("ep", True)
    full = ring.window("ep", 10)
    assert full.requests == 5 and full.request_rate == pytest.approx(5 / 0.4)


def _record(i: int, at: float, latency: float, version: int = 1) -> dict[str, object]:
    return {
        "request_id": f"r{i}",
        "endpoint": "ep",
        "model": "m",
        "version": version,
        "at": datetime.fromtimestamp(at, tz=UTC),
        "latency_ms": latency,
        "compute_ms": 10.0,
        "caller": "key:a",
        "subject_id": None,
        "n_rows": 1,
        "inputs": [{"x": 1}],
        "outputs": {"predictions": [1]},
    }


def test_metrics_from_prediction_records(store: Store) -> None:
    now = time.time()
    records = [_record(i, now - 30 + i * 0.1, float(10 + i)) for i in range(100)]
    # A quiet history (2 requests a minute for 10 minutes), then the burst above.
    records += [_record(1000 + i, now - 90 - 60 * (i // 2) - i % 2, 5.0) for i in range(20)]
    with store.session() as session:
        PredictionRepository(session).insert_many(records)  # type: ignore[arg-type]
    minute = {"comparison": ">", "threshold": 1, "window": "1m"}
    rules = parse_rules(
        [
            {"name": "p50", "metric": "latency_p50_ms", **minute},
            {"name": "p99", "metric": "latency_p99_ms", **minute},
            {"name": "cpr", "metric": "cost_per_request", **minute},
            {"name": "cph", "metric": "cost_per_hour", **minute},
            {"name": "vol", "metric": "request_volume_anomaly", **minute, "history": "15m"},
            {"name": "err", "metric": "error_rate", "comparison": ">", "threshold": 0.1},
            {"name": "drift", "metric": "drift_status", "comparison": ">", "threshold": 0},
        ]
    )
    metrics = AlertMetrics(
        store,
        outcomes=OutcomeRing(),
        cost_models={"*": CostModel(cpu_second_usd=0.5, per_request_usd=0.001)},
    )
    values = metrics.values([(rule, "ep") for rule in rules], now)
    assert values[("p50", "ep")] == pytest.approx(59.5)
    assert values[("p99", "ep")] == pytest.approx(108.01)
    assert values[("cpr", "ep")] == pytest.approx(10 / 1000 * 0.5 + 0.001)
    assert values[("cph", "ep")] == pytest.approx(100 * (0.005 + 0.001) * 60)
    assert values[("vol", "ep")] is not None and values[("vol", "ep")] > 20
    assert values[("err", "ep")] is None  # no requests seen by this process
    assert values[("drift", "ep")] is None  # no drift service: unavailable, never fires
    unpriced = AlertMetrics(store).values([(rules[2], "ep")], now)
    assert unpriced[("cpr", "ep")] is None


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"alerts": [{"name": "x", "metric": "latency_p95", "comparison": ">", "threshold": 1}]},
         "monitoring.alerts.0.metric"),
        ({"cost": {"cpu_second_usd": -1}}, "monitoring.cost.cpu_second_usd"),
        ({"cost": {"fraud": {"instance_hour_usd": 1, "gpus": 2}}}, "monitoring.cost.fraud.gpus"),
        ({"webhooks": [{"name": "a", "url": "http://x", "event_types": ["nope"]}]},
         "monitoring.webhooks.0.event_types"),
        ({"webhooks": [{"name": "a", "url": "http://x", "event_types": ["*"], "secret": "s"}]},
         "monitoring.webhooks.0.secret"),
        ({"webhooks": [{"name": "a", "event_types": ["*"]}]}, "monitoring.webhooks.0.url"),
        ({"webhooks": [{"name": "a b", "url": "http://x", "event_types": ["*"]}]},
         "monitoring.webhooks.0.name"),
    ],
)  # fmt: skip
def test_bad_monitoring_sections_name_the_key(section: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInputError) as info:
        parse_monitoring(section)
    assert info.value.field == field
    assert field in info.value.message


def test_drift_thresholds_come_from_the_spec_monitoring_section() -> None:
    from modelyard.errors import InvalidInputError
    from modelyard.monitoring.alerting import parse_monitoring

    config = parse_monitoring({"drift": {"alpha": 0.01, "psi_threshold": 0.2, "min_rows": 50}})
    assert (config.drift.alpha, config.drift.psi_threshold, config.drift.min_rows) == (
        0.01,
        0.2,
        50,
    )
    with pytest.raises(InvalidInputError, match="monitoring.drift.alpah: unknown key"):
        parse_monitoring({"drift": {"alpah": 0.01}})
    with pytest.raises(InvalidInputError, match="monitoring.drift.alpha"):
        parse_monitoring({"drift": {"alpha": 3}})
