"""Canary rollouts end to end: routing by policy, analysis, promotion, rollback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from helpers import LINEAR_SIG, PickyModel, fitted_linear
from modelyard.deployments.rollout import RolloutService, canary_config
from modelyard.domain.rollout import Status
from modelyard.errors import ConflictError
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.serving.table import ArmRecorder
from modelyard.settings import Settings
from modelyard.workspace import Workspace

SIG = LINEAR_SIG
# Fast analysis: one analysed step at 50%, little data needed, p50 as the latency tail.
FAST = {"min_requests": 20, "min_duration_s": 0, "latency_quantile": 0.5, "max_looks": 5}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.05)
    with Workspace(settings) as ws:
        ws.register_model(fitted_linear(0), "m", signature=SIG, flavor="sklearn")
        ws.register_model(fitted_linear(1), "m", signature=SIG, flavor="sklearn")
        ws.register_model(PickyModel(), "m", signature=SIG, flavor="python", trusted=True)
        ws.deploy("ep", "m:1")
    return settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        yield c


def _service(settings: Settings) -> Iterator[RolloutService]:
    with Workspace(settings) as ws:
        yield RolloutService(ws.store, ws.registry)


@pytest.fixture
def service(settings: Settings) -> Iterator[RolloutService]:
    yield from _service(settings)


def _wait_for(client: TestClient, check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check(client):  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _has_policy(client: TestClient) -> bool:
    served = client.app_state["table"].get("ep")
    return served is not None and served.policy is not None


def _drive(client: TestClient, n: int, x1: float = 0.5) -> list[tuple[int, int]]:
    out = []
    for i in range(n):
        r = client.post(
            "/v1/endpoints/ep/predict", json={"inputs": [{"x1": x1 + i * 1e-3, "x2": 0.1}]}
        )
        body = r.json()
        version = (
            body["model"]["version"] if r.status_code == 200 else int(r.headers["x-model-version"])
        )
        out.append((r.status_code, version))
    return out


def test_equal_canary_is_promoted_by_the_server_loop(
    client: TestClient, service: RolloutService
) -> None:
    config = canary_config({**FAST, "look_interval_s": 0.2}, [50, 100])
    r = client.post(
        "/v1/endpoints/ep/rollouts",
        json={
            "model": "m:2",
            "strategy": "canary",
            "steps": [50, 100],
            "canary": {**FAST, "look_interval_s": 0.2},
        },
    )
    assert r.status_code == 201, r.text
    assert config.steps == (50.0, 100.0)
    again = client.post("/v1/endpoints/ep/rollouts", json={"model": "m:3", "strategy": "canary"})
    assert again.status_code == 409
    _wait_for(client, _has_policy)
    results = _drive(client, 120)
    assert {s for s, _ in results} == {200}
    assert {v for _, v in results} == {1, 2}  # both versions answered, and said so
    _wait_for(client, lambda c: c.get("/v1/endpoints/ep").json()["model"]["version"] == 2)
    status = service.status("ep")
    assert status["serving"] == "m:2" and status["rollout"]["status"] == "promoted"
    assert status["rollout"]["last_analysis"]["outcome"] == "promote"
    assert "error_rate" in status["rollout"]["last_analysis"]["evidence"]["tests"]
    history = service.history("ep")
    actions = [h["action"] for h in history]
    assert "rollout.event.analysis" in actions and "rollout.canary" in actions
    assert "rollout.event.promoted" in actions
    # promoted: the old primary stays the rollback target
    back = service.rollback("ep", reason="second thoughts")
    assert back.version == 1


def test_erroring_canary_is_rolled_back(client: TestClient, service: RolloutService) -> None:
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    service.start("ep", "m:3", strategy="canary", config=config, actor="alice", force=True)
    _wait_for(client, _has_policy)
    results = _drive(client, 80, x1=500.0)  # PickyModel (m:3) raises on x1 > 100
    assert {(s, v) for s, v in results} == {(200, 1), (500, 3)}
    state = service.look("ep", client.app_state["arms"], force=True)
    assert state is not None and state.status is Status.ROLLED_BACK
    analysis = [e for e in state.history if e.kind == "analysis"][-1]
    assert analysis.outcome == "rollback" and "error rate" in analysis.reason
    status = service.status("ep")
    assert status["serving"] == "m:1" and "traffic" not in service.endpoints.get("ep").config
    _wait_for(client, lambda c: not _has_policy(c))
    assert {v for _, v in _drive(client, 10)} == {1}


def test_too_little_data_holds_and_sticky_keys(client: TestClient, service: RolloutService) -> None:
    config = canary_config({**FAST, "min_requests": 10_000, "look_interval_s": 1000}, [50, 100])
    service.start("ep", "m:2", strategy="canary", config=config)
    _wait_for(client, _has_policy)
    versions = set()
    for key in ("user-1", "user-2", "user-3", "user-4", "user-5", "user-6"):
        seen = {
            client.post(
                "/v1/endpoints/ep/predict",
                json={"inputs": [{"x1": 0.1, "x2": 0.1}]},
                headers={"X-Routing-Key": key},
            ).json()["model"]["version"]
            for _ in range(5)
        }
        assert len(seen) == 1  # sticky
        versions |= seen
    state = service.look("ep", client.app_state["arms"], force=True)
    assert state is not None and state.status is Status.RUNNING
    assert "insufficient data" in state.history[-1].reason
    with pytest.raises(ConflictError):
        service.start("ep", "m:3", strategy="canary", config=config, force=True)
    # a manual rollback during the canary removes it; the primary never changed
    ep = service.rollback("ep", reason="not today")
    assert ep.version == 1 and service.status("ep")["rollout"]["status"] == "rolled_back"


def test_stale_look_conflicts(settings: Settings, service: RolloutService) -> None:
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    service.start("ep", "m:2", strategy="canary", config=config)
    arms = ArmRecorder()
    other = next(_service(settings))
    current = service.endpoints.get("ep")
    service.look("ep", arms, force=True)  # one replica wins the look
    state = RolloutService._state(current)
    assert state is not None
    with pytest.raises(ConflictError):
        other._persist(current, state, actor="replica-2")


def test_unloadable_canary_aborts_and_primary_untouched(
    settings: Settings, service: RolloutService
) -> None:
    from helpers import corrupt_model

    version = service.registry.get("m:2")
    corrupt_model(service.store, version.artifact_digest)
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    with pytest.raises(Exception, match="m:2"):
        service.start("ep", "m:2", strategy="canary", config=config)
    ep = service.endpoints.get("ep")
    assert ep.version == 1 and "traffic" not in ep.config
    assert service.status("ep")["rollout"]["status"] == "aborted"
