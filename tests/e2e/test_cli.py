"""The CLI as a user runs it: real processes, a real uvicorn server on a free port
(and, where a test chains many commands, in process: each start-up costs seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from modelyard.data.quickstart import write_quickstart_csv


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELYARD_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "modelyard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def in_process(home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``modelyard ARGS`` run in this process (exit code checked), for command chains."""
    from modelyard.cli.main import app

    monkeypatch.setenv("MODELYARD_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")

    def cli(*args: str) -> Result:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, f"{args} failed ({result.exit_code}):\n{result.output}"
        return result

    return cli


def test_quickstart_serves_a_prediction(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = run(home, "quickstart", "--no-serve", "--port", "0")
    out = result.stdout
    assert "dataset quickstart:1" in out
    assert "registered model quickstart:1" in out
    assert "predictions from quickstart:1" in out
    assert "curl -s -X POST http://127.0.0.1:" in out
    assert "/v1/endpoints/quickstart/predict" in out
    # --no-serve checks and stops: the output must not claim it is still serving.
    assert "serving at" not in out and "press Ctrl-C" not in out
    flat = " ".join(out.split())
    assert "(server stopped: --no-serve)" in flat and "modelyard serve --host 127.0.0.1" in flat
    listed = json.loads(run(home, "models", "list", "--json").stdout)
    assert listed[0]["name"] == "quickstart"
    assert listed[0]["stages"]["production"] == [1]
    endpoints = json.loads(run(home, "endpoints", "list", "--json").stdout)
    assert endpoints[0]["name"] == "quickstart"
    summary = json.loads(run(home, "monitor", "quickstart", "--json").stdout)
    assert summary["prediction_count"] == 1 and summary["rows"] == 3
    assert "audit log intact" in run(home, "audit", "verify").stdout


def test_dataset_train_models_deploy_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, command after command (each CLI start-up costs seconds)."""
    cli = in_process(tmp_path / "home", monkeypatch)
    csv = write_quickstart_csv(tmp_path / "data.csv", n_rows=500)
    assert cli("db", "upgrade").exit_code == 0
    added = json.loads(cli("datasets", "add", str(csv), "--name", "loans", "--json").stdout)
    assert added["version"] == 1 and added["row_count"] == 500
    trained = json.loads(
        cli(
            "train",
            "--dataset",
            "loans",
            "--target",
            "target",
            "--model",
            "random_forest",
            "--name",
            "loanmodel",
            "--json",
        ).stdout
    )
    assert trained["model"]["version"] == 1
    assert trained["model"]["dataset"] == "loans"
    assert trained["model"]["run_id"] == trained["run"]["id"]
    assert "roc_auc" in trained["run"]["metrics"]
    shown = json.loads(cli("models", "show", "loanmodel:1", "--json").stdout)
    assert shown["flavor"] == "sklearn" and shown["signature"]["inputs"]
    human = cli("models", "show", "loanmodel").stdout
    assert "signature" in human and "stage history" in human
    promoted = cli("models", "promote", "loanmodel:1", "--to", "staging").stdout
    assert "staging" in promoted
    deployed = cli("deploy", "loans-ep", "--model", "loanmodel:1").stdout
    assert "loans-ep" in deployed
    # Batching per endpoint, under the names the serving issue uses.
    cli("endpoints", "configure", "loans-ep", "--max-batch-size", "8", "--max-wait-ms", "2")
    from modelyard.settings import Settings
    from modelyard.workspace import Workspace

    with Workspace(Settings(home=tmp_path / "home")) as ws:
        config = ws.endpoints.get("loans-ep").config
    assert config["batch_max_rows"] == 8 and config["batch_max_wait_ms"] == 2.0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("models", "show", "nope:1"), 4, "model 'nope' not found"),
        (("models", "promote", "x:1", "--to", "heaven"), 2, "unknown stage"),
        (("deploy", "ep", "--model", "nope:1"), 4, "not found"),
        (("train", "--dataset", "nope", "--target", "t"), 4, "dataset 'nope' not found"),
        (("datasets", "add", "/does/not/exist.csv", "--name", "d"), 2, "no such file"),
    ],
)
def test_cli_errors_are_clear(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    """In process (the CLI's start-up costs seconds); the next test runs one for real."""
    from modelyard.cli.main import app

    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_a_cli_error_from_a_real_process(tmp_path: Path) -> None:
    result = run(tmp_path / "home", "models", "show", "nope:1", check=False)
    assert result.returncode == 4, result.stderr
    assert "model 'nope' not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_concurrent_dataset_adds_make_one_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    csv = write_quickstart_csv(tmp_path / "data.csv", n_rows=400)
    run(home, "db", "upgrade")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda _: run(home, "datasets", "add", str(csv), "--name", "same", "--json"),
                range(2),
            )
        )
    versions = {json.loads(r.stdout)["version"] for r in results}
    assert versions == {1}
    assert len(json.loads(run(home, "datasets", "list", "--json").stdout)) == 1
