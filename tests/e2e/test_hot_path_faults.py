"""Faults on the hot path: raising and hanging models, cache, low-confidence flags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from helpers import PickyModel, SlowModel, fitted_logreg
from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace

SIG = Signature(
    inputs=(ColumnSpec("x1", "float"), ColumnSpec("x2", "float")),
    output=OutputSpec("regression"),
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "home", predict_timeout_s=0.5, cache_ttl_s=60)
    with Workspace(settings) as ws:
        ws.register_model(SlowModel(), "slow", signature=SIG, flavor="python", trusted=True)
        ws.register_model(PickyModel(), "picky", signature=SIG, flavor="python", trusted=True)
        model, x, _ = fitted_logreg()
        ws.register_model(model, "clf", input_example=x, target_example=(x["x1"] > 0).astype(int))
        ws.deploy("slow", "slow:1")
        ws.deploy("picky", "picky:1")
        ws.deploy("clf", "clf:1")
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        yield c


def test_hanging_model_times_out_and_server_stays_healthy(client: TestClient) -> None:
    r = client.post("/v1/endpoints/slow/predict", json={"inputs": [{"x1": 1.0, "x2": 2.0}]})
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "timeout" and r.json()["error"]["request_id"]
    assert client.get("/healthz").status_code == 200
    ok = client.post("/v1/endpoints/picky/predict", json={"inputs": [{"x1": 1.0, "x2": 2.0}]})
    assert ok.status_code == 200


def test_raising_model_is_500_without_details(client: TestClient) -> None:
    r = client.post("/v1/endpoints/picky/predict", json={"inputs": [{"x1": 500.0, "x2": 2.0}]})
    assert r.status_code == 500
    body = r.json()
    assert body["error"]["code"] == "model_error" and body["error"]["request_id"]
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert 'reason="model_error"' in client.get("/metrics").text


def test_cache_hits_are_counted_and_keyed_by_version(client: TestClient) -> None:
    row = {"x1": 0.5, "x2": 0.1}
    first = client.post("/v1/endpoints/clf/predict", json={"inputs": [row]}).json()
    second = client.post("/v1/endpoints/clf/predict", json={"inputs": [row]}).json()
    assert first["predictions"] == second["predictions"]
    assert first["request_id"] != second["request_id"]
    metrics = client.get("/metrics").text
    assert 'modelyard_cache_requests_total{endpoint="clf",result="hit"} 1.0' in metrics
    assert 'modelyard_cache_requests_total{endpoint="clf",result="miss"} 1.0' in metrics


def test_classifier_answers_carry_low_confidence_flags(client: TestClient) -> None:
    rows = [{"x1": 3.0, "x2": 1.0}, {"x1": 0.0, "x2": 0.0}]
    body = client.post("/v1/endpoints/clf/predict", json={"inputs": rows}).json()
    assert body["low_confidence"] == [False, True]
    assert max(body["probabilities"][1].values()) < 0.6


def test_explain_linear_model_contributions_sum_to_the_log_odds(client: TestClient) -> None:
    import math

    row = {"x1": 1.5, "x2": -0.5}
    r = client.post("/v1/endpoints/clf/predict?explain=true", json={"inputs": [row]})
    assert r.status_code == 200, r.text
    body = r.json()
    contributions = body["explanations"][0]
    assert set(contributions) == {"x1", "x2", "__bias__"}
    p = body["probabilities"][0]["1"]
    assert sum(contributions.values()) == pytest.approx(math.log(p / (1 - p)), abs=1e-6)
    unsupported = client.post("/v1/endpoints/picky/predict?explain=true", json={"inputs": [row]})
    assert unsupported.status_code == 422
    assert "not available" in unsupported.json()["error"]["message"]
