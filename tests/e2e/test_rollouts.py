"""Blue-green rollouts and rollback: checks, conflicts, history, zero failed requests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from helpers import fitted_logreg
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.deployments.rollout import RolloutService
from modelyard.domain.compat import breaking_changes
from modelyard.errors import ConflictError, InvalidInputError
from modelyard.security.credentials import read_credentials
from modelyard.serving.server import BackgroundServer, make_server
from modelyard.settings import Settings
from modelyard.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(Settings(home=tmp_path / "home", refresh_interval_s=0.05))
    workspace.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=400), "d")
    workspace.train("d", "target", "logistic_regression", "m", seed=0)
    workspace.train("d", "target", "random_forest", "m", seed=1)
    workspace.deploy("ep", "m:1")
    return workspace


def test_blue_green_rollback_and_history(ws: Workspace) -> None:
    service = RolloutService(ws.store, ws.registry)
    ep = service.start("ep", "m:2", actor="alice", reason="better AUC")
    assert (ep.model, ep.version) == ("m", 2)
    status = service.status("ep")
    assert status["serving"] == "m:2" and status["rollback_target"] == "m:1"
    back = service.rollback("ep", actor="bob", reason="alert fired")
    assert back.version == 1
    history = service.history("ep")
    assert [(h["from"], h["to"], h["action"]) for h in history] == [
        (None, "m:1", "endpoint.deploy"),
        ("m:1", "m:2", "rollout.blue-green"),
        ("m:2", "m:1", "rollout.rollback"),
    ]
    assert history[1]["actor"] == "alice" and history[1]["reason"] == "better AUC"
    assert history[2]["reason"] == "alert fired"


def test_rollout_refusals_change_nothing(ws: Workspace, tmp_path: Path) -> None:
    service = RolloutService(ws.store, ws.registry)
    with pytest.raises(InvalidInputError, match="unknown strategy 'bogus'"):
        service.start("ep", "m:2", strategy="bogus")
    with pytest.raises(ConflictError, match="already serves"):
        service.start("ep", "m:1")
    model, x, _ = fitted_logreg()
    ws.register_model(model, "other", input_example=x, target_example=(x["x1"] > 0).astype(int))
    with pytest.raises(InvalidInputError, match="incompatible"):
        service.start("ep", "other:1")
    with pytest.raises(ConflictError, match="no previous version"):
        service.rollback("ep")
    assert ws.endpoints.get("ep").revision == 1
    assert len(service.history("ep")) == 1


def test_two_rollouts_at_once_one_wins(ws: Workspace) -> None:
    ws.train("d", "target", "logistic_regression", "m", seed=5)
    service = RolloutService(ws.store, ws.registry)

    def attempt(ref: str) -> str:
        try:
            service.start("ep", ref)
            return "ok"
        except ConflictError:
            return "conflict"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(attempt, ["m:2", "m:3"]))
    assert outcomes in (["conflict", "ok"], ["ok", "ok"])
    assert ws.endpoints.get("ep").revision == 1 + outcomes.count("ok")


def test_breaking_changes() -> None:
    old = {
        "inputs": [{"name": "a", "type": "float"}, {"name": "b", "type": "string"}],
        "output": {"kind": "classification"},
    }
    new = {
        "inputs": [{"name": "a", "type": "integer"}, {"name": "c", "type": "string"}],
        "output": {"kind": "classification"},
    }
    assert breaking_changes(old, new) == [
        "column 'b' removed",
        "column 'c' added (callers do not send it)",
        "column 'a' retyped float → integer",
    ]
    assert breaking_changes(old, old) == []


@pytest.mark.slow
def test_blue_green_and_rollback_under_load_lose_no_request(ws: Workspace) -> None:
    settings = ws.settings
    background = BackgroundServer(make_server(settings, "127.0.0.1", 0, quiet=True))
    port = background.start()
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {read_credentials(settings)}"}
    row = httpx.get(f"{url}/v1/endpoints/ep", headers=headers).json()["example"]["inputs"][0]
    stop = threading.Event()
    results: list[tuple[int, int]] = []

    def hammer() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
            while not stop.is_set():
                r = http.post("/v1/endpoints/ep/predict", json={"inputs": [row]})
                version = r.json()["model"]["version"] if r.status_code == 200 else -1
                results.append((r.status_code, version))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        service = RolloutService(ws.store, ws.registry)
        time.sleep(0.5)
        service.start("ep", "m:2")
        deadline = time.monotonic() + 10
        while not any(v == 2 for _, v in results[-20:]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        service.rollback("ep")
        deadline = time.monotonic() + 10
        while not all(v == 1 for _, v in results[-20:]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
        background.stop()
    statuses = [s for s, _ in results]
    assert len(results) > 100
    assert set(statuses) == {200}, {s for s in statuses if s != 200}
    assert {v for _, v in results} == {1, 2}
