"""Prediction log, feedback, summaries and forgetting subjects through the server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from helpers import fitted_logreg
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace

ROW = {"x1": 0.3, "x2": -0.2}


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("mon") / "home"
    with Workspace(Settings(home=home)) as ws:
        model, x, _ = fitted_logreg()
        ws.register_model(model, "m", input_example=x, target_example=(x["x1"] > 0).astype(int))
        ws.deploy("ep", "m:1")
    return home


@pytest.fixture
def settings(base_home: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    return Settings(home=home, refresh_interval_s=0.05, ship_interval_s=0.05)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        yield c


def predict(client: TestClient, subject: str | None = None) -> dict[str, object]:
    headers = {"X-Subject-ID": subject} if subject else {}
    r = client.post("/v1/endpoints/ep/predict", json={"inputs": [ROW]}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_feedback_joins_predictions_and_reports_unknown_ids(client: TestClient) -> None:
    answers = [predict(client) for _ in range(4)]
    items = [
        {"request_id": a["request_id"], "label": a["predictions"][0]}  # type: ignore[index]
        for a in answers[:3]
    ]
    items.append(
        {"request_id": answers[3]["request_id"], "label": 1 - answers[3]["predictions"][0]}
    )  # type: ignore[index,operator]
    r = client.post("/v1/endpoints/ep/feedback", json={"items": items})
    assert r.status_code == 200 and r.json() == {"accepted": 4}
    summary = client.get("/v1/endpoints/ep/monitor").json()
    assert summary["prediction_count"] == 4
    assert summary["feedback_count"] == 4
    assert summary["live_accuracy"] == pytest.approx(0.75)
    assert summary["latency_ms"]["p99"] > 0
    mixed = client.post(
        "/v1/endpoints/ep/feedback",
        json={
            "items": [
                {"request_id": "nope-1", "label": 1},
                {"request_id": answers[0]["request_id"], "label": 0},
            ]
        },
    )
    assert mixed.status_code == 404
    assert mixed.json()["error"]["not_found"] == ["nope-1"]
    assert mixed.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request_id": 5, "label": 1}, "request_id"),
        ({"request_id": "a", "label": [1]}, "label"),
        ({"request_id": "a", "label": 1, "row": -1}, "row"),
        ({"items": []}, "items"),
        ({"request_id": "a", "label": 1, "extra": 2}, "extra"),
    ],
)
def test_bad_feedback_names_the_field(client: TestClient, body: dict, field: str) -> None:  # type: ignore[type-arg]
    r = client.post("/v1/endpoints/ep/feedback", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_forget_subject_removes_predictions_and_feedback(client: TestClient) -> None:
    mine = predict(client, subject="user-42")
    predict(client, subject="user-7")
    client.post("/v1/endpoints/ep/feedback", json={"request_id": mine["request_id"], "label": 1})
    receipt = client.delete("/v1/subjects/user-42").json()
    assert receipt["predictions_deleted"] == 1 and receipt["feedback_deleted"] == 1
    assert client.get("/v1/endpoints/ep/monitor").json()["prediction_count"] == 1
    entries = client.get("/v1/audit").json()["entries"]
    assert entries[-1]["action"] == "privacy.forget"
    assert "user-42" not in str(entries[-1])
    assert (
        client.post(
            "/v1/endpoints/ep/predict", json={"inputs": [ROW]}, headers={"X-Subject-ID": "bad id!"}
        ).status_code
        == 422
    )


def test_server_refuses_to_start_without_a_writable_spool(settings: Settings) -> None:
    blocker = settings.home / "blocker"
    blocker.write_text("x")
    broken = settings.model_copy(update={"spool_dir": blocker / "spool"})
    with pytest.raises(Exception, match="refusing to serve without a prediction log"):
        with TestClient(create_app(broken), base_url="http://localhost"):
            pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MODELYARD_HOME": str(settings.home),
        "MODELYARD_SHIP_INTERVAL_S": "30",
    }  # nothing ships before the kill
    return subprocess.Popen(
        [sys.executable, "-m", "modelyard", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready")


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_record(settings: Settings) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(settings, port)
    acknowledged: list[str] = []
    try:
        _wait_ready(url, proc)
        headers = {"Authorization": f"Bearer {read_credentials(settings)}"}
        with httpx.Client(base_url=url, headers=headers) as http:
            for _ in range(60):
                r = http.post("/v1/endpoints/ep/predict", json={"inputs": [ROW]})
                assert r.status_code == 200
                acknowledged.append(r.json()["request_id"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(settings, port)
    try:
        _wait_ready(url, proc)
        headers = {"Authorization": f"Bearer {read_credentials(settings)}"}
        deadline = time.monotonic() + 30
        while True:
            summary = httpx.get(f"{url}/v1/endpoints/ep/monitor", headers=headers).json()
            if summary["prediction_count"] == len(acknowledged) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert summary["prediction_count"] == len(acknowledged) == 60
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
def test_two_workers_serve_and_log_every_request(settings: Settings) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MODELYARD_HOME": str(settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(url, proc)
        headers = {"Authorization": f"Bearer {read_credentials(settings)}"}
        with httpx.Client(base_url=url, headers=headers) as http:
            for _ in range(20):
                assert (
                    http.post("/v1/endpoints/ep/predict", json={"inputs": [ROW]}).status_code == 200
                )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    done = subprocess.run(
        [sys.executable, "-m", "modelyard", "monitor", "ep", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(done.stdout)["prediction_count"] == 20


def test_a_list_label_says_how_to_label_each_row(client: TestClient) -> None:
    r = client.post("/v1/endpoints/ep/feedback", json={"request_id": "a", "label": [1, 0]})
    assert r.status_code == 422
    assert '"row"' in r.json()["error"]["message"]
