"""Spec training against a real workspace: the production reference of ``beats`` gates,
the stored training profile, failed registration, and ``datasets check`` on the CLI."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.errors import InvalidInputError, ModelLoadError
from modelyard.settings import Settings
from modelyard.spec import spec_template
from modelyard.training.spec_service import SpecTrainingService
from modelyard.workspace import Workspace


def fast_spec(path: Path, gates: list[str], **changes: object) -> Path:
    spec = yaml.safe_load(spec_template())
    spec["candidates"] = [{"name": "logistic_regression", "params": {"C": 1.0}}]
    spec["seeds"] = 1
    spec["evaluation"]["n_boot"] = 100
    spec["gates"] = gates
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(Settings(home=tmp_path / "home"))
    workspace.add_dataset(write_quickstart_csv(tmp_path / "q.csv", n_rows=1500), "quickstart")
    yield workspace
    workspace.close()


def test_beats_production_uses_the_registered_metrics_of_a_quick_trained_version(
    ws: Workspace, tmp_path: Path
) -> None:
    _, v1 = ws.train("quickstart", "target", "logistic_regression", "quickstart", 0)
    ws.registry.promote(v1.ref, "production")
    service = SpecTrainingService(ws.store, ws.registry)
    spec = fast_spec(
        tmp_path / "modelyard.yaml",
        ["beats: production by roc_auc >= 0.5", "beats: production by roc_auc >= -0.5"],
    )
    _, version, report = service.train(spec)
    high, low = report["gate_results"]
    expected = report["metrics"]["roc_auc"]["value"] - v1.metrics["roc_auc"]
    assert not high["passed"] and low["passed"]
    assert high["actual"] == pytest.approx(expected)
    assert "production" in high["message"] and "needs >= 0.5" in high["message"]
    assert report["production_reference"] == {"ref": v1.ref, "source": "registered metrics"}
    assert not report["gates_passed"]
    # the spec-trained version becomes the reference, through its evaluation report
    ws.registry.promote(version.ref, "production", override_reason="test")
    _, _, again = service.train(spec)
    assert again["production_reference"] == {"ref": version.ref, "source": "evaluation report"}
    assert again["gate_results"][1]["actual"] == pytest.approx(
        again["metrics"]["roc_auc"]["value"] - report["metrics"]["roc_auc"]["value"]
    )


def test_the_training_rows_profile_is_stored_with_the_run(ws: Workspace, tmp_path: Path) -> None:
    service = SpecTrainingService(ws.store, ws.registry)
    run, _, report = service.train(fast_spec(tmp_path / "modelyard.yaml", []))
    profile = service.training_profile(run.id)
    assert profile["n_rows"] == report["holdout"]["n_train"]
    assert sorted(profile["columns"]) == sorted([*report["feature_columns"], "target"])
    assert "histogram" in profile["columns"]["age"]
    assert profile["target"] == "target" and profile["leakage"] == []
    quick_run, _ = ws.train("quickstart", "target", "logistic_regression", "other", 0)
    with pytest.raises(InvalidInputError, match="no stored training profile"):
        service.training_profile(quick_run.id)


UNTRUSTED_MODULE = """
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


def _numbers(x):
    return x.select_dtypes("number").fillna(0)


class Wrapped(ClassifierMixin, BaseEstimator):
    def fit(self, x, y):
        self.inner_ = LogisticRegression(max_iter=1000).fit(_numbers(x), y)
        self.classes_ = self.inner_.classes_
        return self

    def predict(self, x):
        return self.inner_.predict(_numbers(x))

    def predict_proba(self, x):
        return self.inner_.predict_proba(_numbers(x))


def fit(x, y, seed):
    return Wrapped().fit(x, y)
"""


@pytest.fixture
def untrusted_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"my_wrapped_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(UNTRUSTED_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_model_that_cannot_be_registered_leaves_no_version_and_a_failed_run(
    ws: Workspace, tmp_path: Path, untrusted_module: str
) -> None:
    spec = fast_spec(
        tmp_path / "modelyard.yaml", [], candidates=[{"name": f"{untrusted_module}:fit"}]
    )
    with pytest.raises(ModelLoadError, match=f"{untrusted_module}.Wrapped"):
        SpecTrainingService(ws.store, ws.registry).train(spec)
    assert ws.models() == []
    (run,) = ws.training.list_runs()
    assert run.status == "failed"
    assert "not trusted" in run.params["error"]


def test_bad_data_through_the_service_records_nothing(ws: Workspace, tmp_path: Path) -> None:
    frame = pd.read_csv(tmp_path / "q.csv").assign(target=1)
    ws.datasets.add_frame(frame, "quickstart")
    spec = fast_spec(tmp_path / "modelyard.yaml", [])
    with pytest.raises(InvalidInputError, match="target column 'target' is constant"):
        SpecTrainingService(ws.store, ws.registry).train(spec)
    assert ws.models() == [] and ws.training.list_runs() == []


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_datasets_check_names_rows_and_drift_and_exits_1(cli: CliRunner, tmp_path: Path) -> None:
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=500)
    assert cli.invoke(app, ["datasets", "add", str(csv), "--name", "quickstart"]).exit_code == 0
    assert cli.invoke(app, ["init"]).exit_code == 0
    clean = cli.invoke(app, ["datasets", "check", "quickstart"])
    assert clean.exit_code == 0, clean.output
    assert "all expectations met" in clean.output
    frame = pd.read_csv(csv)
    frame.loc[[3, 7], "region"] = "mars"
    frame["leak"] = frame["target"] * 2.0
    frame.drop(columns=["channel"]).to_csv(tmp_path / "v2.csv", index=False)
    cli.invoke(app, ["datasets", "add", str(tmp_path / "v2.csv"), "--name", "quickstart"])
    bad = cli.invoke(app, ["datasets", "check", "quickstart:2"])
    assert bad.exit_code == 1, bad.output
    assert (
        "region: 2 rows not in allowed [north, south, east, west, central] (e.g. rows 3, 7)"
        in bad.output
    )
    assert "leakage hint: leak" in bad.output
    assert "added column leak (float)" in bad.output
    assert "removed column channel (string)" in bad.output
    assert "new categories in region: mars" in bad.output
    as_json = cli.invoke(app, ["datasets", "check", "quickstart:2", "--json"])
    assert as_json.exit_code == 1
    wrong = cli.invoke(app, ["datasets", "check", "quickstart:two"])
    assert wrong.exit_code == 2
    assert "the version after ':' must be a number" in wrong.output
