"""Circuit breakers on the hot path: trip on errors or slowness, fall back, probe, close."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from helpers import LINEAR_SIG, EchoModel, PickyModel, SluggishModel
from modelyard.deployments.rollout import RolloutService
from modelyard.domain.rollout.breaker import BreakerConfig, CircuitBreaker
from modelyard.errors import InvalidInputError
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.serving.dataplane import _divert
from modelyard.settings import Settings
from modelyard.workspace import Workspace

GOOD = {"inputs": [{"x1": 1.0, "x2": 0.0}]}
FAILING = {"inputs": [{"x1": 500.0, "x2": 0.0}]}  # PickyModel raises on x1 > 100
SLOW = {"inputs": [{"x1": 50.0, "x2": 0.0}]}  # SluggishModel takes 60 ms on x1 > 10
FAST_BREAKER = {"consecutive_failures": 3, "consecutive_slow": 2, "cooldown_s": 0.3}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.05)
    with Workspace(settings) as ws:
        ws.register_model(PickyModel(), "m", signature=LINEAR_SIG, flavor="python", trusted=True)
        ws.register_model(EchoModel(), "m", signature=LINEAR_SIG, flavor="python", trusted=True)
        ws.register_model(SluggishModel(), "m", signature=LINEAR_SIG, flavor="python", trusted=True)
        ws.register_model(PickyModel(), "m", signature=LINEAR_SIG, flavor="python", trusted=True)
        for name, ref in (("picky", "m:1"), ("slow", "m:3"), ("lone", "m:1"), ("twin", "m:1")):
            ws.deploy(name, ref)
            ws.endpoints.configure(name, {"breaker": FAST_BREAKER, "latency_budget_ms": 30})
        rollouts = RolloutService(ws.store, ws.registry)
        rollouts.set_fallback("picky", "m:2", actor="test")
        rollouts.set_fallback("slow", "m:2", actor="test")
        rollouts.set_fallback("twin", "m:4", actor="test")  # fails like the primary
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        yield c


def _predict(client: TestClient, endpoint: str, body: dict[str, Any]) -> Any:
    return client.post(f"/v1/endpoints/{endpoint}/predict", json=body)


def _breaker(client: TestClient, endpoint: str, ref: str) -> dict[str, Any]:
    breakers = client.get(f"/v1/endpoints/{endpoint}").json()["breakers"]
    return breakers[ref]  # type: ignore[no-any-return]


def test_failing_version_trips_and_the_fallback_answers(client: TestClient) -> None:
    for _ in range(3):
        r = _predict(client, "picky", FAILING)
        assert r.status_code == 500 and r.headers["x-model-version"] == "1"
    assert _breaker(client, "picky", "m:1")["state"] == "open"
    r = _predict(client, "picky", FAILING)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == {"name": "m", "version": 2}
    assert r.json()["predictions"] == [500.0]
    assert r.headers["x-model-version"] == "2" and r.headers["x-fallback-from"] == "m:1"
    metrics = client.get("/metrics").text
    assert 'modelyard_breaker_state{endpoint="picky",version="1"} 2.0' in metrics
    assert (
        'modelyard_fallback_requests_total{answered_by="2",endpoint="picky",version="1"} 1.0'
        in metrics
    )


def test_half_open_probe_closes_the_breaker_again(client: TestClient) -> None:
    for _ in range(3):
        _predict(client, "picky", FAILING)
    time.sleep(0.35)  # the cooldown
    probe = _predict(client, "picky", GOOD)
    assert probe.status_code == 200 and probe.headers["x-model-version"] == "1"
    assert "x-fallback-from" not in probe.headers
    assert _breaker(client, "picky", "m:1")["state"] == "closed"
    assert 'modelyard_breaker_state{endpoint="picky",version="1"} 0.0' in (
        client.get("/metrics").text
    )


def test_a_failing_probe_reopens_it(client: TestClient) -> None:
    for _ in range(3):
        _predict(client, "picky", FAILING)
    time.sleep(0.35)
    assert _predict(client, "picky", FAILING).status_code == 500  # the probe reached v1
    breaker = _breaker(client, "picky", "m:1")
    assert breaker["state"] == "open" and "probe failed" in breaker["reason"]
    assert _predict(client, "picky", GOOD).headers["x-model-version"] == "2"


def test_without_a_fallback_an_open_breaker_answers_503(client: TestClient) -> None:
    for _ in range(3):
        _predict(client, "lone", FAILING)
    r = _predict(client, "lone", GOOD)
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["code"] == "circuit_open" and error["request_id"]
    assert "m:1" in error["message"] and "no fallback" in error["message"]
    assert "3 consecutive failures" in error["message"]
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["x-model-version"] == "1"


def test_slow_version_trips_on_its_latency_budget(client: TestClient) -> None:
    for _ in range(2):
        r = _predict(client, "slow", SLOW)
        assert r.status_code == 200 and r.headers["x-model-version"] == "3"
    r = _predict(client, "slow", SLOW)
    assert r.status_code == 200 and r.headers["x-model-version"] == "2"
    assert "latency budget" in _breaker(client, "slow", "m:3")["reason"]


def test_bad_input_and_good_answers_do_not_trip_it(client: TestClient) -> None:
    for _ in range(10):
        bad = _predict(client, "lone", {"inputs": [{"x1": "not a number", "x2": 0.0}]})
        assert bad.status_code == 422
        assert _predict(client, "lone", GOOD).status_code == 200
    state = _breaker(client, "lone", "m:1")
    assert state["state"] == "closed" and state["window_failures"] == 0


def test_breaker_state_survives_a_config_change(client: TestClient, settings: Settings) -> None:
    for _ in range(3):
        _predict(client, "picky", FAILING)
    with Workspace(settings) as ws:
        ws.endpoints.configure("picky", {"cache_ttl_s": 0})
        revision = ws.endpoints.get("picky").revision
    deadline = time.monotonic() + 5
    while client.get("/v1/endpoints/picky").json()["revision"] != revision:
        assert time.monotonic() < deadline, "the server did not pick up the new revision"
        time.sleep(0.02)
    assert _breaker(client, "picky", "m:1")["state"] == "open"


@pytest.mark.parametrize(
    ("breaker", "field"),
    [
        ({"cooldown_s": 0}, "breaker.cooldown_s"),
        ({"windw": 5}, "breaker.windw"),
        ({"enabled": "yes"}, "breaker.enabled"),
        ({"min_calls": 50}, "breaker.min_calls"),
    ],
)
def test_bad_breaker_options_are_refused_and_change_nothing(
    client: TestClient, breaker: dict[str, Any], field: str
) -> None:
    before = client.get("/v1/endpoints/picky").json()["revision"]
    r = client.post("/v1/endpoints/picky/config", json={"breaker": breaker})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field, r.json()
    assert field.split(".")[1] in r.json()["error"]["message"]
    assert client.get("/v1/endpoints/picky").json()["revision"] == before


def test_breaker_can_be_turned_off_per_endpoint(client: TestClient, settings: Settings) -> None:
    with Workspace(settings) as ws:
        ws.endpoints.configure("lone", {"breaker": {"enabled": False}})
    deadline = time.monotonic() + 5
    while "breakers" in client.get("/v1/endpoints/lone").json():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    for _ in range(6):
        assert _predict(client, "lone", FAILING).status_code == 500


def _served(ref: str, breaker: CircuitBreaker | None, **kw: Any) -> Any:
    return SimpleNamespace(ref=ref, breaker=breaker, policy=None, variants={}, **kw)


def test_a_tripped_canary_sends_its_traffic_to_the_primary() -> None:
    canary = _served("m:2", CircuitBreaker())
    primary = _served("m:1", CircuitBreaker())
    primary.policy = SimpleNamespace(fallback="m:0")
    fallback = _served("m:0", None)
    primary.variants = {"m:2": canary, "m:0": fallback}
    assert _divert(primary, canary, 0.0) is primary
    tripped = CircuitBreaker(BreakerConfig(consecutive_failures=1))
    tripped.record(False, 1.0, 0.0)
    primary.breaker = tripped  # the primary is failing too: the fallback answers
    assert _divert(primary, canary, 0.0) is fallback
    assert _divert(primary, primary, 0.0) is fallback
    primary.policy = None
    assert _divert(primary, primary, 0.0) is None


def test_breaker_config_errors_name_the_option() -> None:
    from modelyard.domain.endpoint_config import breaker_config, parse_endpoint_config

    with pytest.raises(InvalidInputError, match="breaker.failure_rate"):
        parse_endpoint_config({"breaker": {"failure_rate": 150}})
    config = parse_endpoint_config({"latency_budget_ms": 25, "breaker": {"cooldown_s": 2}})
    assert breaker_config(config) == BreakerConfig(latency_budget_ms=25, cooldown_s=2)
    assert breaker_config(parse_endpoint_config({"breaker": {"enabled": False}})) is None


def test_when_the_fallback_trips_too_the_503_says_so(client: TestClient) -> None:
    for version in ("1", "4"):  # the primary trips, then its fallback
        for _ in range(3):
            r = _predict(client, "twin", FAILING)
            assert r.status_code == 500 and r.headers["x-model-version"] == version
    r = _predict(client, "twin", GOOD)
    assert r.status_code == 503
    message = r.json()["error"]["message"]
    assert "its fallback m:4 is failing too" in message and "no fallback" not in message
