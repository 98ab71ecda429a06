"""Alerts end to end: a spec rule fires on slow traffic, notifies a webhook, resolves."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from helpers import Receiver
from modelyard.cli.main import app as cli
from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature
from modelyard.errors import InvalidInputError
from modelyard.security.credentials import read_credentials
from modelyard.security.webhook_signing import generate_secret, verify
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace

SIG = Signature(
    inputs=(ColumnSpec("x1", "float"), ColumnSpec("x2", "float")),
    output=OutputSpec("regression"),
)
SLOW = {"x1": 1.0, "x2": 0.0}
FAST = {"x1": -1.0, "x2": 0.0}
BASE_SPEC = {
    "task": "regression",
    "data": {"dataset": "d", "target": "y"},
    "candidates": [{"name": "linear_regression"}],
}


class LagModel:
    """A python-flavor model that takes 40 ms for rows with x1 > 0: slow traffic on demand."""

    def predict(self, frame: pd.DataFrame) -> list[float]:
        if (frame["x1"] > 0).any():
            time.sleep(0.04)
        return [0.0] * len(frame)


def write_spec(path: Path, monitoring: dict) -> Path:  # type: ignore[type-arg]
    path.write_text(yaml.safe_dump({**BASE_SPEC, "monitoring": monitoring}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("alerts") / "home"
    with Workspace(Settings(home=home)) as ws:
        ws.register_model(LagModel(), "lag", signature=SIG, flavor="python", trusted=True)
        ws.deploy("lag", "lag:1")
    return home


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_latency_alert_fires_notifies_and_resolves(
    base_home: Path, tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelyard.alerts")
    secret = generate_secret()
    spec = write_spec(
        tmp_path / "modelyard.yaml",
        {
            "alerts": [
                {
                    "name": "slow",
                    "metric": "latency_p50_ms",
                    "comparison": ">",
                    "threshold": 20,
                    "window": "2s",
                    "for": "1s",
                    "severity": "critical",
                    "endpoint": "lag",
                }
            ],
            "webhooks": [
                {
                    "name": "ops",
                    "url": f"http://127.0.0.1:{receiver.port}/hook",
                    "event_types": ["alert.firing", "alert.resolved"],
                    "secret": secret,
                }
            ],
        },
    )
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    settings = Settings(
        home=home,
        spec_file=spec,
        alert_interval_s=0.1,
        ship_interval_s=0.05,
        webhook_interval_s=0.05,
        outbound_allowlist=["127.0.0.1/32"],
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        assert [h["name"] for h in client.get("/v1/webhooks").json()["webhooks"]] == ["ops"]

        def status() -> str:
            alerts = client.get("/v1/alerts").json()["alerts"]
            return str(alerts[0]["status"]) if alerts else "none"

        def send_until(row: dict[str, float], wanted: str) -> None:
            deadline = time.monotonic() + 15
            while status() != wanted:
                assert time.monotonic() < deadline, f"alert never became {wanted}"
                for _ in range(5):
                    r = client.post("/v1/endpoints/lag/predict", json={"inputs": [row]})
                    assert r.status_code == 200, r.text

        send_until(SLOW, "firing")
        overview = client.get("/v1/alerts").json()
        assert overview["evaluation"]["enabled"] is True
        (alert,) = overview["alerts"]
        assert alert["rule"] == "slow" and alert["endpoint"] == "lag"
        assert alert["value"] > 20 and alert["fired_at"] - alert["since"] >= 1.0
        wait_for(lambda: len(receiver.received) >= 1, "the firing notification")

        send_until(FAST, "inactive")  # resolved lasts one evaluation, then inactive
        wait_for(lambda: len(receiver.received) >= 2, "the resolved notification")
        events = client.get("/v1/alerts?limit=10").json()["events"]
        assert [e["status"] for e in events] == ["resolved", "firing"]  # one of each
        assert events[0]["value"] < 20 and events[0]["severity"] == "critical"
        deliveries = client.get("/v1/webhooks/deliveries").json()["deliveries"]
        assert [(d["event_type"], d["status"]) for d in deliveries] == [
            ("alert.firing", "delivered"),
            ("alert.resolved", "delivered"),
        ]
        assert client.get("/v1/alerts?status=bogus").status_code == 422
        assert client.get("/v1/alerts?limit=0").status_code == 422
    bodies = []
    for headers, body in receiver.received:
        verify(secret, headers, body)
        bodies.append(json.loads(body))
    assert [b["type"] for b in bodies] == ["alert.firing", "alert.resolved"]
    assert bodies[0]["data"]["rule"] == "slow" and bodies[0]["data"]["endpoint"] == "lag"
    logged = [r.getMessage() for r in caplog.records if r.name == "modelyard.alerts"]
    firing = [m for m in logged if m.startswith("alert.firing ")]
    assert len(firing) == 1
    assert json.loads(firing[0].removeprefix("alert.firing "))["rule"] == "slow"


@pytest.mark.parametrize(
    ("monitoring", "key"),
    [
        (
            {"alerts": [{"name": "x", "metric": "latency_p95", "comparison": ">", "threshold": 1}]},
            "monitoring.alerts.0.metric",
        ),
        (
            {"alerts": [{"name": "x", "metric": "error_rate", "comparison": "=", "threshold": 1}]},
            "monitoring.alerts.0.comparison",
        ),
        ({"cost": {"cpu_second_usd": "cheap"}}, "monitoring.cost.cpu_second_usd"),
        (
            {"webhooks": [{"name": "a", "url": "http://10.0.0.5/h", "event_types": ["*"]}]},
            "monitoring.webhooks.0.url",
        ),
    ],
)
def test_bad_spec_stops_the_server_naming_the_key(
    tmp_path: Path,
    monitoring: dict,
    key: str,  # type: ignore[type-arg]
) -> None:
    spec = write_spec(tmp_path / "bad.yaml", monitoring)
    settings = Settings(home=tmp_path / "home", spec_file=spec)
    with pytest.raises(InvalidInputError, match=key.replace(".", r"\.")):
        with TestClient(create_app(settings), base_url="http://localhost"):
            pass


def test_serve_refuses_a_bad_spec(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "bad.yaml",
        {"alerts": [{"name": "x", "metric": "error_rate", "comparison": ">", "threshold": "hi"}]},
    )
    result = CliRunner().invoke(
        cli, ["serve", "--spec", str(spec)], env={"MODELYARD_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 2
    assert "monitoring.alerts.0.threshold" in result.output


def test_export_commands_write_valid_yaml_and_json(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "modelyard.yaml",
        {
            "alerts": [
                {"name": "p99", "metric": "latency_p99_ms", "comparison": ">", "threshold": 250,
                 "window": "5m", "for": "2m", "severity": "critical", "labels": {"team": "risk"}},
                {"name": "acc", "metric": "estimated_accuracy", "comparison": "<",
                 "threshold": 0.8},
            ]
        },
    )  # fmt: skip
    runner = CliRunner()
    env = {"MODELYARD_HOME": str(tmp_path / "home")}
    result = runner.invoke(cli, ["export", "prometheus-rules", "--spec", str(spec)], env=env)
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.stdout)
    rule, acc = document["groups"][0]["rules"]
    assert rule["alert"] == "p99" and rule["for"] == "2m"
    assert rule["labels"] == {"team": "risk", "severity": "critical"}
    assert "modelyard_request_duration_seconds_bucket" in rule["expr"]
    assert acc["expr"] == "max by (endpoint) (modelyard_estimated_accuracy) < 0.8"
    assert "skipped" not in result.stdout

    out = tmp_path / "out" / "rules.yaml"
    env_spec = {**env, "MODELYARD_SPEC_FILE": str(spec)}
    result = runner.invoke(cli, ["export", "prometheus-rules", "--output", str(out)], env=env_spec)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["groups"][0]["rules"][0]["alert"] == "p99"
    missing = runner.invoke(cli, ["export", "prometheus-rules"], env=env)
    assert missing.exit_code == 2 and "--spec" in missing.output
    here = os.getcwd()
    os.chdir(tmp_path)  # a folder holding modelyard.yaml: used without --spec, like `train`
    try:
        result = runner.invoke(cli, ["export", "prometheus-rules"], env=env)
    finally:
        os.chdir(here)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["groups"][0]["rules"][0]["alert"] == "p99"

    dash = tmp_path / "dash.json"
    result = runner.invoke(cli, ["export", "grafana", "--output", str(dash)], env=env)
    assert result.exit_code == 0, result.output
    dashboard = json.loads(dash.read_text())
    assert dashboard["uid"] == "modelyard-overview" and len(dashboard["panels"]) >= 6
    result = runner.invoke(cli, ["export", "grafana", "--endpoint", "fraud"], env=env)
    variables = json.loads(result.stdout)["templating"]["list"]
    assert variables[1]["query"] == "fraud"
