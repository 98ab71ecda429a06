"""Cost totals from a spec cost model, and live quality estimated then realized."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from helpers import small_frame, two_logreg_versions
from modelyard.cli.main import app as cli
from modelyard.domain.alerts import parse_rules
from modelyard.monitoring.alerting import AlertMetrics
from modelyard.security.credentials import read_credentials
from modelyard.security.keys import KeyService
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.store.store import open_store
from modelyard.workspace import Workspace

CPU_SECOND_USD = 0.5
PER_REQUEST_USD = 0.001
ROW = {"x1": 0.3, "x2": -0.2}


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_logreg_versions(tmp_path_factory.mktemp("cost") / "home", "ep")


@pytest.fixture
def settings(base_home: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    spec = tmp_path / "modelyard.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "task": "binary_classification",
                "data": {"dataset": "d", "target": "y"},
                "candidates": [{"name": "logistic_regression"}],
                "monitoring": {
                    "cost": {"cpu_second_usd": CPU_SECOND_USD, "per_request_usd": PER_REQUEST_USD}
                },
            }
        ),
        encoding="utf-8",
    )
    return Settings(
        home=home,
        spec_file=spec,
        quality_min_labels=5,
        alert_interval_s=0,
        refresh_interval_s=0.05,
        ship_interval_s=0.05,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        yield c


def test_cost_totals_by_version_caller_and_hour(settings: Settings, client: TestClient) -> None:
    with Workspace(settings) as ws:
        _, service_key = KeyService(ws.store).create(name="svc", role="predictor")
    served: Counter[tuple[str, str]] = Counter()

    def predict(caller: str, key: str | None = None) -> str:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        r = client.post("/v1/endpoints/ep/predict", json={"inputs": [ROW]}, headers=headers)
        assert r.status_code == 200, r.text
        served[(r.headers["x-model-version"], caller)] += 1
        return r.headers["x-model-version"]

    for _ in range(3):
        predict("admin")
    for _ in range(2):
        predict("svc", service_key)
    with Workspace(settings) as ws:
        ws.deploy("ep", "m:2")
    deadline = time.monotonic() + 10
    while predict("admin") != "2":
        assert time.monotonic() < deadline, "the new version never took traffic"
    predict("svc", service_key)

    report = client.get("/v1/endpoints/ep/cost?window=24h").json()
    total = sum(served.values())
    assert report["window"] == "24h" and report["model"]["cpu_second_usd"] == CPU_SECOND_USD
    assert report["total"]["requests"] == total
    expected = report["total"]["compute_ms"] / 1000 * CPU_SECOND_USD + PER_REQUEST_USD * total
    assert report["total"]["cost_usd"] == pytest.approx(expected)
    assert report["total"]["cost_usd"] > PER_REQUEST_USD * total  # compute was priced too
    per_version: Counter[int] = Counter()
    per_caller: Counter[str] = Counter()
    for (version, caller), n in served.items():
        per_version[int(version)] += n
        per_caller[caller] += n
    assert {row["version"]: row["requests"] for row in report["by_version"]} == per_version
    callers = sorted(row["requests"] for row in report["by_caller"])
    assert callers == sorted(per_caller.values()) and len(callers) == 2
    assert sum(row["requests"] for row in report["by_hour"]) == total
    assert sum(row["cost_usd"] for row in report["by_hour"]) == pytest.approx(expected)
    assert report["by_hour"][0]["hour"].endswith(":00:00+00:00")

    summary = client.get("/v1/endpoints/ep/monitor").json()
    assert summary["prediction_count"] == total
    assert summary["cost"]["priced"] is True
    assert summary["cost"]["total"]["cost_usd"] == pytest.approx(expected)
    assert {r["version"] for r in summary["cost"]["by_version"]} == {1, 2}

    assert client.get("/v1/endpoints/nope/cost").status_code == 404
    for bad in ("forever", "0h", "999999999999d", "367d"):
        r = client.get(f"/v1/endpoints/ep/cost?window={bad}")
        assert r.status_code == 422 and r.json()["error"]["field"] == "window", (bad, r.text)


def test_live_quality_is_estimated_without_labels_then_realized(
    settings: Settings, client: TestClient
) -> None:
    x, _ = small_frame(n=40, seed=3)
    rows = x.to_dict(orient="records")
    answer = client.post("/v1/endpoints/ep/predict", json={"inputs": rows}).json()
    quality = client.get("/v1/endpoints/ep/monitor").json()["live_quality"]
    assert quality["source"] == "estimated" and quality["metric"] == "accuracy"
    assert 0.5 <= quality["value"] <= 1.0 and quality["value"] == quality["estimated"]
    assert quality["n_total"] == 40 and quality["n_labelled"] == 0

    predictions = answer["predictions"]
    items = [
        {"request_id": answer["request_id"], "row": i, "label": predictions[i]} for i in range(4)
    ]
    items.append({"request_id": answer["request_id"], "row": 4, "label": 1 - predictions[4]})
    assert client.post("/v1/endpoints/ep/feedback", json={"items": items}).status_code == 200
    quality = client.get("/v1/endpoints/ep/monitor").json()["live_quality"]
    assert quality["source"] == "realized" and quality["value"] == pytest.approx(0.8)
    assert quality["n_labelled"] == 5 and quality["estimated"] is not None

    # The alert metrics read the same numbers.
    rules = parse_rules(
        [
            {"name": "est", "metric": "estimated_accuracy", "comparison": "<", "threshold": 0.9},
            {"name": "live", "metric": "live_accuracy", "comparison": "<", "threshold": 0.9},
        ]
    )
    store = open_store(settings)
    try:
        values = AlertMetrics(store, min_labels=5).values(
            [(rule, "ep") for rule in rules], time.time()
        )
    finally:
        store.close()
    assert values[("est", "ep")] == pytest.approx(quality["estimated"])
    assert values[("live", "ep")] == pytest.approx(0.8)


def test_monitor_cli_json_has_quality_and_cost(settings: Settings, client: TestClient) -> None:
    for _ in range(2):
        assert client.post("/v1/endpoints/ep/predict", json={"inputs": [ROW]}).status_code == 200
    client.get("/v1/endpoints/ep/monitor")  # ships the spool
    result = CliRunner().invoke(
        cli,
        ["monitor", "ep", "--json"],
        env={
            "MODELYARD_HOME": str(settings.home),
            "MODELYARD_SPEC_FILE": str(settings.spec_file),
            "MODELYARD_QUALITY_MIN_LABELS": "5",
        },
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["prediction_count"] == 2
    assert summary["live_quality"]["source"] == "none"  # 2 rows: too few to estimate
    assert summary["cost"]["total"]["requests"] == 2 and summary["cost"]["priced"] is True


def test_monitor_cli_reads_the_spec_like_the_server(
    settings: Settings, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without MODELYARD_SPEC_FILE, ./modelyard.yaml (or --spec) gives the cost model."""
    assert client.post("/v1/endpoints/ep/predict", json={"inputs": [ROW]}).status_code == 200
    client.get("/v1/endpoints/ep/monitor")  # ships the spool
    assert settings.spec_file is not None
    env = {"MODELYARD_HOME": str(settings.home)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    bare = CliRunner().invoke(cli, ["monitor", "ep", "--json"], env=env)
    assert bare.exit_code == 0, bare.output
    assert json.loads(bare.stdout)["cost"]["priced"] is False

    given = CliRunner().invoke(
        cli, ["monitor", "ep", "--json", "--spec", str(settings.spec_file)], env=env
    )
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["cost"]["priced"] is True

    (elsewhere / "modelyard.yaml").write_text(settings.spec_file.read_text())
    found = CliRunner().invoke(cli, ["monitor", "ep", "--json"], env=env)
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["cost"]["priced"] is True
