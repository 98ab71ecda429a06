"""Shadow rollouts: mirrored off the hot path, never seen by callers, measured."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from modelyard.data.quickstart import write_quickstart_csv
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace


def test_shadow_mirrors_traffic_and_reports_agreement(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.05)
    with Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=400), "d")
        ws.train("d", "target", "logistic_regression", "m", seed=0)
        ws.train("d", "target", "random_forest", "m", seed=1)
        ws.deploy("ep", "m:1")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        row = client.get("/v1/endpoints/ep").json()["example"]["inputs"][0]
        started = client.post(
            "/v1/endpoints/ep/rollouts", json={"model": "m:2", "strategy": "shadow", "share": 100}
        )
        assert started.status_code == 201, started.text
        deadline = time.monotonic() + 10
        while "m:2" not in str(client.get("/v1/endpoints/ep").json()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        versions = set()
        for i in range(30):
            body = client.post(
                "/v1/endpoints/ep/predict", json={"inputs": [{**row, "age": 20 + i}]}
            ).json()
            versions.add(body["model"]["version"])
        assert versions == {1}  # callers only ever see the primary
        deadline = time.monotonic() + 10
        while True:
            shadow = client.get("/v1/endpoints/ep/rollouts").json()["shadow"]
            if shadow and shadow["m:2"]["mirrored"] == 30:
                break
            assert time.monotonic() < deadline, shadow
            time.sleep(0.05)
        stats = shadow["m:2"]
        assert stats["errors"] == 0 and stats["compared_rows"] == 30
        assert 0.0 <= stats["agreement_rate"] <= 1.0
        assert stats["latency_ms"]["p99"] > 0
        assert client.post("/v1/endpoints/ep/rollback", json={}).status_code == 200
        status = client.get("/v1/endpoints/ep/rollouts").json()
        assert status["serving"] == "m:1"
