"""The data plane in-process (TestClient runs the lifespan) against a real store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from helpers import corrupt_model
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.domain.refs import parse_model_ref
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.models import ModelRepository
from modelyard.workspace import Workspace


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with dataset `qs`, model `qs` versions 1-2 and endpoint `qs` → qs:1."""
    home = tmp_path_factory.mktemp("serving") / "home"
    with Workspace(Settings(home=home)) as ws:
        csv = write_quickstart_csv(home / "qs.csv", n_rows=600)
        ws.add_dataset(csv, "qs")
        ws.train("qs", "target", "logistic_regression", "qs", seed=0)
        ws.train("qs", "target", "random_forest", "qs", seed=1)
        ws.deploy("qs", "qs:1")
    return home


@pytest.fixture
def home(trained_home: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "home"
    shutil.copytree(trained_home, copy)
    return copy


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home, refresh_interval_s=0.05, max_body_bytes=20_000)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        yield c


def example(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/v1/endpoints/qs").json()["example"]["inputs"][0])


def test_predict_returns_predictions_probabilities_version_and_request_id(
    client: TestClient,
) -> None:
    row = example(client)
    r = client.post("/v1/endpoints/qs/predict", json={"inputs": [row, row]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"name": "qs", "version": 1}
    assert body["predictions"][0] in (0, 1)
    assert len(body["predictions"]) == 2
    assert set(body["probabilities"][0]) == {"0", "1"}
    assert abs(sum(body["probabilities"][0].values()) - 1) < 1e-9
    assert len(body["request_id"]) >= 16
    assert r.headers["x-request-id"] == body["request_id"]
    r = client.post(
        "/v1/endpoints/qs/predict", json={"inputs": [row]}, headers={"X-Request-ID": "abc-123"}
    )
    assert r.json()["request_id"] == "abc-123"


def test_describe_endpoints(client: TestClient) -> None:
    listing = client.get("/v1/endpoints").json()["endpoints"]
    assert [e["name"] for e in listing] == ["qs"]
    one = client.get("/v1/endpoints/qs").json()
    assert one["model"]["version"] == 1
    names = [c["name"] for c in one["signature"]["inputs"]]
    assert "age" in names and "target" not in names
    assert set(one["example"]["inputs"][0]) == set(names)


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["endpoints"] == {"qs": "loaded"}
    client.post("/v1/endpoints/qs/predict", json={"inputs": [example(client)]})
    client.post("/v1/endpoints/qs/predict", json={"inputs": []})
    text = client.get("/metrics").text
    assert 'modelyard_requests_total{endpoint="qs",status="200",version="1"} 1.0' in text
    assert 'modelyard_requests_total{endpoint="qs",status="422",version="1"} 1.0' in text
    assert 'modelyard_request_duration_seconds_count{endpoint="qs",version="1"} 1.0' in text
    assert (
        'modelyard_request_errors_total{endpoint="qs",reason="invalid_input",version="1"}' in text
    )


def test_unknown_endpoint_and_route(client: TestClient) -> None:
    r = client.post("/v1/endpoints/nope/predict", json={"inputs": [{}]})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert "'nope'" in r.json()["error"]["message"]
    assert client.get("/v1/endpoints/nope").status_code == 404
    r = client.get("/no/such/route")
    assert r.status_code == 404 and "error" in r.json()


def _mutate(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(row)
    for key, value in changes.items():
        if value is _DROP:
            out.pop(key)
        else:
            out[key] = value
    return out


_DROP = object()


@pytest.mark.parametrize(
    ("make_body", "status", "field", "reason"),
    [
        (lambda row: {"inputs": [_mutate(row, age=_DROP)]}, 422, "age", "missing"),
        (
            lambda row: {"inputs": [_mutate(row, favourite_color="red")]},
            422,
            "favourite_color",
            "unexpected",
        ),
        (lambda row: {"inputs": [_mutate(row, age="old")]}, 422, "age", "integer"),
        (lambda row: {"inputs": [row, _mutate(row, income=None)]}, 422, "income", "null"),
        (lambda row: {"inputs": []}, 422, "inputs", "empty"),
        (lambda row: {"rows": [row]}, 422, "rows", "unexpected"),
        (lambda row: {"inputs": "x"}, 422, "inputs", "list"),
        (lambda row: [row], 400, "body", "JSON object"),
    ],
)
def test_bad_input_names_the_field_and_server_keeps_serving(
    client: TestClient, make_body: Any, status: int, field: str, reason: str
) -> None:
    row = example(client)
    r = client.post("/v1/endpoints/qs/predict", json=make_body(row))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field
    assert reason in error["message"]
    assert error["request_id"]
    assert client.post("/v1/endpoints/qs/predict", json={"inputs": [row]}).status_code == 200


def test_malformed_nan_and_oversized_bodies(client: TestClient) -> None:
    row = example(client)
    headers = {"content-type": "application/json"}
    r = client.post("/v1/endpoints/qs/predict", content=b'{"inputs": [', headers=headers)
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]["message"]
    nan_body = b'{"inputs": [{"age": NaN}]}'
    r = client.post("/v1/endpoints/qs/predict", content=nan_body, headers=headers)
    assert r.status_code == 400
    big = {"inputs": [row] * 200}
    r = client.post("/v1/endpoints/qs/predict", json=big)
    assert r.status_code == 413
    assert "limit" in r.json()["error"]["message"]
    assert client.post("/v1/endpoints/qs/predict", json={"inputs": [row]}).status_code == 200


def _wait_for_version(client: TestClient, version: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/v1/endpoints/qs").json()["model"]["version"] == version:
            return
        time.sleep(0.05)
    raise AssertionError(f"endpoint never switched to version {version}")


def test_deploy_is_picked_up_without_restart(client: TestClient, settings: Settings) -> None:
    with Workspace(settings) as ws:
        ws.deploy("qs", "qs:2")
    _wait_for_version(client, 2)
    r = client.post("/v1/endpoints/qs/predict", json={"inputs": [example(client)]})
    assert r.json()["model"]["version"] == 2


def test_switch_to_corrupted_version_keeps_previous(client: TestClient, settings: Settings) -> None:
    with Workspace(settings) as ws:
        bad = ws.model("qs:2")
        corrupt_model(ws.store, bad.artifact_digest)
        # Another replica recorded the switch before the bytes went bad.
        with ws.store.session() as session:
            row = ModelRepository(session).resolve(parse_model_ref("qs:2"))
            EndpointRepository(session).point("qs", row, actor="test")
    deadline = time.monotonic() + 5
    while (
        time.monotonic() < deadline
        and 'modelyard_model_load_failures_total{endpoint="qs"} 1.0'
        not in client.get("/metrics").text
    ):
        time.sleep(0.05)
    assert 'modelyard_model_load_failures_total{endpoint="qs"} 1.0' in client.get("/metrics").text
    r = client.post("/v1/endpoints/qs/predict", json={"inputs": [example(client)]})
    assert r.status_code == 200
    assert r.json()["model"]["version"] == 1
    assert client.get("/readyz").status_code == 200
