"""A/B rollouts: sticky weighted arms and a significance report from feedback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from starlette.testclient import TestClient

from modelyard.data.quickstart import write_quickstart_csv
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace


def test_ab_arms_are_sticky_and_reported(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.05, ship_interval_s=0.05)
    with Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=400), "d")
        ws.train("d", "target", "logistic_regression", "m", seed=0)
        ws.train("d", "target", "random_forest", "m", seed=1)
        ws.deploy("ep", "m:1")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        row = client.get("/v1/endpoints/ep").json()["example"]["inputs"][0]
        bad = client.post(
            "/v1/endpoints/ep/rollouts", json={"model": "m:2", "strategy": "ab", "share": 100}
        )
        assert bad.status_code == 422
        started = client.post(
            "/v1/endpoints/ep/rollouts", json={"model": "m:2", "strategy": "ab", "share": 50}
        )
        assert started.status_code == 201, started.text
        deadline = time.monotonic() + 10
        while client.get("/v1/endpoints/ep/rollouts").json()["traffic"].get("m:2") is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The rollout is stored; wait until this server's table serves its policy too
        # (the refresher picks it up within refresh_interval_s).
        while True:
            versions = {
                client.post(
                    "/v1/endpoints/ep/predict",
                    json={"inputs": [row]},
                    headers={"X-Routing-Key": f"probe-{i}"},
                ).json()["model"]["version"]
                for i in range(20)
            }
            if 2 in versions:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        by_key: dict[str, int] = {}
        feedback = []
        for i in range(200):
            key = f"user-{i}"
            answer = client.post(
                "/v1/endpoints/ep/predict", json={"inputs": [row]}, headers={"X-Routing-Key": key}
            ).json()
            by_key[key] = answer["model"]["version"]
            again = client.post(
                "/v1/endpoints/ep/predict", json={"inputs": [row]}, headers={"X-Routing-Key": key}
            ).json()
            assert again["model"]["version"] == by_key[key]  # sticky
            predicted = answer["predictions"][0]
            truth = predicted if answer["model"]["version"] == 1 else 1 - predicted
            feedback.append({"request_id": answer["request_id"], "label": truth})
        share_v2 = sum(1 for v in by_key.values() if v == 2) / len(by_key)
        assert 0.35 < share_v2 < 0.65
        assert client.post("/v1/endpoints/ep/feedback", json={"items": feedback}).status_code == 200
        report = client.get("/v1/endpoints/ep/rollouts/report").json()
        assert report["strategy"] == "ab"
        assert report["arms"]["m:1"]["accuracy"] == 1.0
        assert report["arms"]["m:2"]["accuracy"] == 0.0
        assert report["test"]["significant_at_0.05"] is True
    env = {**os.environ, "MODELYARD_HOME": str(settings.home), "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "modelyard", "rollout", "report", "ep", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(out.stdout)["test"]["significant_at_0.05"] is True
