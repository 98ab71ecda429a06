"""modelyard.yaml → runs with CIs and gates → gated promotion, model card, reproduction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from modelyard.data.quickstart import write_quickstart_csv
from modelyard.errors import ConflictError, InvalidInputError
from modelyard.settings import Settings
from modelyard.spec import spec_template
from modelyard.training.spec_service import SpecTrainingService
from modelyard.workspace import Workspace


def fast_spec(path: Path, gates: list[str]) -> Path:
    spec = yaml.safe_load(spec_template())
    spec["candidates"] = [{"name": "logistic_regression", "params": {"C": 1.0}}]
    spec["seeds"] = 2
    spec["evaluation"]["n_boot"] = 200
    spec["gates"] = gates
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(Settings(home=tmp_path / "home"))
    workspace.add_dataset(write_quickstart_csv(tmp_path / "q.csv", n_rows=2000), "quickstart")
    return workspace


def test_spec_run_records_everything_and_gates_block_promotion(
    ws: Workspace, tmp_path: Path
) -> None:
    spec = fast_spec(
        tmp_path / "modelyard.yaml", ["roc_auc.ci_low >= 0.99", "fairness.sex.dp_diff <= 0.2"]
    )
    service = SpecTrainingService(ws.store, ws.registry)
    run, version, report = service.train(spec, actor="alice")
    assert not report["gates_passed"]
    assert [g["passed"] for g in report["gate_results"]] == [False, True]
    auc = report["metrics"]["roc_auc"]
    assert auc["ci_low"] <= auc["value"] <= auc["ci_high"]
    assert report["holdout"]["excluded"] is True
    assert "sex" in report["fairness"]
    assert run.params["holdout_ids_sha256"] and run.params["packages"]["scikit-learn"]
    assert run.params["spec_hash"] and run.code_version
    assert version.run_id == run.id and version.dataset == "quickstart"
    with pytest.raises(ConflictError, match="failed its gates"):
        ws.registry.promote(version.ref, "production")
    assert ws.model(version.ref).stage == "candidate"
    ws.registry.promote(version.ref, "staging")  # lower stages stay open
    with pytest.raises(InvalidInputError):
        ws.registry.promote(version.ref, "production", override_reason="  ")
    promoted = ws.registry.promote(
        version.ref, "production", override_reason="accepted by risk team", actor="admin"
    )
    assert promoted.stage == "production"
    assert "gates overridden: accepted by risk team" in promoted.transitions[-1].reason
    reproduced = service.reproduce(run.id)
    assert reproduced["matched"], reproduced["diffs"]


def test_bad_spec_names_the_key(ws: Workspace, tmp_path: Path) -> None:
    spec = yaml.safe_load(spec_template())
    spec["split"]["strategy"] = "sideways"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(InvalidInputError, match="split.strategy"):
        SpecTrainingService(ws.store, ws.registry).train(path)
    assert ws.models() == []


def test_cli_init_train_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process (each CLI start-up costs seconds); tests/e2e/test_cli.py runs real ones."""
    from typer.testing import CliRunner, Result

    from modelyard.cli.main import app

    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)

    def cli(*args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=2000)
    assert cli("datasets", "add", str(csv), "--name", "quickstart").exit_code == 0
    assert cli("init").exit_code == 0
    assert cli("init").exit_code == 2  # refuses to overwrite
    fast_spec(tmp_path / "modelyard.yaml", ["roc_auc.ci_low >= 0.6"])
    trained = cli("train", "--json")
    assert trained.exit_code == 0, trained.output
    data = json.loads(trained.stdout)
    assert data["report"]["gates_passed"] is True
    card = cli("models", "card", data["model"], "--output", "card.html")
    assert card.exit_code == 0, card.output
    page = (tmp_path / "card.html").read_text()
    assert "<svg" in page and "roc_auc" in page
    assert "http://" not in page and "https://" not in page
    listed = cli("runs", "list", "--json")
    assert json.loads(listed.stdout)[0]["params"]["gates_passed"] is True
    checked = cli("datasets", "check", "quickstart", "--json")
    assert json.loads(checked.stdout)["expectations"]["passed"] is True


def test_spec_pii_tags_protect_the_endpoint_log(ws: Workspace, tmp_path: Path) -> None:
    spec = yaml.safe_load(spec_template())
    spec["candidates"] = [{"name": "logistic_regression"}]
    spec["seeds"] = 1
    spec["evaluation"]["n_boot"] = 100
    spec["gates"] = []
    spec["features"] = [
        f if not (isinstance(f, str) and f == "income") else {"name": "income", "pii": True}
        for f in spec["features"]
    ]
    path = tmp_path / "pii.yaml"
    path.write_text(yaml.safe_dump(spec))
    _, version, _ = SpecTrainingService(ws.store, ws.registry).train(path)
    endpoint = ws.deploy("ep", version.ref)
    assert endpoint.config["pii_columns"] == ["income"]
