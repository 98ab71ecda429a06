"""Drift of live traffic through the server, the CLI report and the Prometheus gauges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from helpers import fitted_logreg
from modelyard.data.quickstart import generate_quickstart_frame, write_quickstart_csv
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace


def rows(n: int, seed: int, shift: int = 0) -> list[dict[str, object]]:
    frame = generate_quickstart_frame(n, seed=seed)
    frame["support_calls"] = frame["support_calls"] + shift
    cols = [
        "age",
        "income",
        "tenure_months",
        "balance",
        "num_products",
        "support_calls",
        "region",
        "plan",
        "channel",
        "sex",
    ]
    return json.loads(frame[cols].to_json(orient="records"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(
        home=tmp_path / "home",
        drift_interval_s=1.5,
        ship_interval_s=0.05,
        outbound_allowlist=["127.0.0.1"],
    )
    with Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=3000), "d")
        ws.train("d", "target", "logistic_regression", "m")
        ws.deploy("ep", "m:1")
        model, x, _ = fitted_logreg()
        ws.register_model(model, "bare", input_example=x, target_example=(x["x1"] > 0).astype(int))
        ws.deploy("bare", "bare:1")
    return settings


def send(client: TestClient, endpoint: str, batch: list[dict[str, object]]) -> None:
    for start in range(0, len(batch), 50):
        r = client.post(
            f"/v1/endpoints/{endpoint}/predict", json={"inputs": batch[start : start + 50]}
        )
        assert r.status_code == 200, r.text


def test_shifted_traffic_is_flagged_with_its_driver(settings: Settings, tmp_path: Path) -> None:
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        hook = {
            "name": "drift",
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["drift.detected"],
        }
        assert client.post("/v1/webhooks", json=hook).status_code == 201
        send(client, "ep", rows(40, seed=11))
        few = client.get("/v1/endpoints/ep/drift?window=1h").json()
        assert few["status"] == "insufficient_data"
        send(client, "ep", rows(600, seed=12, shift=3))
        report = client.get("/v1/endpoints/ep/drift?window=1h").json()
        assert report["status"] == "drift"
        assert "support_calls" in report["drifted_columns"]
        assert "age" not in report["drifted_columns"]
        bare = client.get("/v1/endpoints/bare/drift")
        assert bare.status_code == 422 and "lineage" in bare.json()["error"]["message"]
        assert client.get("/v1/endpoints/ep/drift?window=soon").status_code == 422
        deadline = time.monotonic() + 20
        while 'modelyard_drift_status{endpoint="ep"} 1.0' not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "drift gauge never published"
            time.sleep(0.2)
        metrics = client.get("/metrics").text
        assert 'modelyard_drift_score{column="support_calls",endpoint="ep"}' in metrics
        estimated = [
            line
            for line in metrics.splitlines()
            if line.startswith('modelyard_estimated_accuracy{endpoint="ep"}')
        ]
        assert estimated and 0.5 < float(estimated[0].split()[-1]) <= 1.0, estimated
        assert 'modelyard_live_accuracy{endpoint="ep"} NaN' in metrics  # no feedback yet
        time.sleep(2 * settings.drift_interval_s)  # later checks: still drifting, no new event
        sent = [
            d
            for d in client.get("/v1/webhooks/deliveries").json()["deliveries"]
            if d["event_type"] == "drift.detected"
        ]
        assert len(sent) == 1, sent
    env = {**os.environ, "MODELYARD_HOME": str(settings.home), "COLUMNS": "200"}
    out = tmp_path / "drift.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelyard",
            "monitor",
            "report",
            "ep",
            "--window",
            "24h",
            "--output",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "support_calls" in page and "<svg" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    summary = subprocess.run(
        [sys.executable, "-m", "modelyard", "monitor", "ep", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    data = json.loads(summary.stdout)
    assert data["prediction_count"] == 13 and data["drift"]["status"] == "drift"
