"""Search trials recorded as child runs of the training run, and shown by the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from modelyard.cli.main import app
from modelyard.errors import InvalidInputError
from modelyard.settings import Settings
from modelyard.training.spec_service import SpecTrainingService
from modelyard.workspace import Workspace

TRIALS = 3


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Single-threaded native code: oversubscribed BLAS/OpenMP is slow on a busy machine."""
    with threadpool_limits(limits=1):
        yield


def write_spec(path: Path) -> Path:
    spec = {
        "task": "binary_classification",
        "data": {"dataset": "cancer", "target": "target"},
        "candidates": [
            {"name": "logistic_regression"},
            {"name": "random_forest", "label": "forest", "params": {"n_estimators": 20}},
        ],
        "seeds": [0],
        "metrics": ["roc_auc", "accuracy"],
        "evaluation": {"n_boot": 50},
        "search": {
            "trials": TRIALS,
            "cv_folds": 2,
            "space": {"forest": {"max_depth": {"low": 2, "high": 6}}},
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def write_dataset(path: Path) -> Path:
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(Settings(home=tmp_path / "home"))
    workspace.add_dataset(write_dataset(tmp_path / "cancer.csv"), "cancer")
    yield workspace
    workspace.close()


def test_trials_are_child_runs_of_the_training_run(ws: Workspace, tmp_path: Path) -> None:
    service = SpecTrainingService(ws.store, ws.registry)
    run, version, report = service.train(write_spec(tmp_path / "modelyard.yaml"))
    assert version.run_id == run.id
    trials = ws.training.trials_of(run.id)
    assert len(trials) == 2 * TRIALS
    assert len(ws.training.list_runs()) == 1 + 2 * TRIALS
    assert [(t.params["candidate"], t.params["trial"]) for t in trials] == [
        (c, n) for c in ("logistic_regression", "forest") for n in range(TRIALS)
    ]
    train_digest = report["holdout"]["train_ids_sha256"]
    for trial in trials:
        assert trial.params["parent_run_id"] == run.id
        assert trial.kind == f"trial:{trial.params['candidate']}"
        assert trial.status == "finished" and trial.params["state"] == "complete"
        assert set(trial.metrics) == {"cv_roc_auc"}
        assert trial.params["cv_folds"] == 2 and len(trial.params["fold_scores"]) == 2
        assert trial.params["rows_sha256"] == train_digest  # the training rows, nothing else
        assert trial.dataset == "cancer" and trial.code_version == run.code_version
        assert trial.duration_s is not None and trial.duration_s > 0
    summary = {s["candidate"]: s for s in run.params["search"]}
    assert set(summary) == {"logistic_regression", "forest"}
    for name, s in summary.items():
        mine = [t for t in trials if t.params["candidate"] == name]
        (best,) = [t for t in mine if t.params["best"]]
        assert best.params["trial"] == s["best_trial"]
        assert best.metrics["cv_roc_auc"] == s["best_score"]
        assert best.params["search_params"] == s["best_params"]
        assert s["n_trials"] == TRIALS and s["stopped_by"] == "trials"
    # the registered model was trained with the best parameters of its candidate
    chosen = summary[report["best_candidate"]]["best_params"]
    assert all(report["params"]["candidate_params"][k] == v for k, v in chosen.items())
    assert report["search"][0]["trials"]
    # a trial is not a run to reproduce: the error names its parent
    with pytest.raises(InvalidInputError, match=f"search trial .* of run {run.id}"):
        service.reproduce(trials[0].id)
    assert service.reproduce(run.id)["matched"]


def test_runs_list_and_show_mark_the_trials(cli: CliRunner, tmp_path: Path) -> None:
    csv = write_dataset(tmp_path / "cancer.csv")
    assert cli.invoke(app, ["datasets", "add", str(csv), "--name", "cancer"]).exit_code == 0
    spec = write_spec(tmp_path / "modelyard.yaml")
    trained = cli.invoke(app, ["train", "--spec", str(spec)])
    assert trained.exit_code == 0, trained.output
    assert "hyperparameter search" in trained.output

    listed = json.loads(cli.invoke(app, ["runs", "list", "--json"]).output)
    (parent,) = [r for r in listed if r["parent_run_id"] is None]
    children = [r for r in listed if r["parent_run_id"] == parent["id"]]
    assert len(children) == 2 * TRIALS and len(listed) == 1 + 2 * TRIALS
    top = json.loads(cli.invoke(app, ["runs", "list", "--json", "--no-trials"]).output)
    assert [r["id"] for r in top] == [parent["id"]]

    table = cli.invoke(app, ["runs", "list"])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    (parent_line,) = [i for i, line in enumerate(lines) if parent["id"][:12] in line]
    trial_lines = [i for i, line in enumerate(lines) if "│   └ " in line]
    assert len(trial_lines) == 2 * TRIALS
    assert trial_lines == list(range(parent_line + 1, parent_line + 1 + 2 * TRIALS))
    assert "trial:forest #0" in table.output and "(best)" in table.output
    # in the spec's candidate order, then by trial number
    kinds = [lines[i].split("│")[2].split("#")[0].strip() for i in trial_lines]
    assert kinds == ["trial:logistic_regression"] * TRIALS + ["trial:forest"] * TRIALS
    collapsed = cli.invoke(app, ["runs", "list", "--no-trials"])
    assert f"└ {2 * TRIALS} search trials" in collapsed.output

    shown = cli.invoke(app, ["runs", "show", parent["id"][:8]])
    assert shown.exit_code == 0, shown.output
    assert f"search trials ({2 * TRIALS})" in shown.output and "max_depth" in shown.output
    as_json = json.loads(cli.invoke(app, ["runs", "show", parent["id"], "--json"]).output)
    assert len(as_json["trials"]) == 2 * TRIALS
    assert {t["parent_run_id"] for t in as_json["trials"]} == {parent["id"]}

    child = children[0]
    shown_child = cli.invoke(app, ["runs", "show", child["id"]])
    assert shown_child.exit_code == 0, shown_child.output
    assert f"in run {parent['id']}" in shown_child.output
    child_json = json.loads(cli.invoke(app, ["runs", "show", child["id"], "--json"]).output)
    assert child_json["run"]["parent_run_id"] == parent["id"] and child_json["trials"] == []


def test_model_card_shows_the_search_and_its_trial_runs(cli: CliRunner, tmp_path: Path) -> None:
    csv = write_dataset(tmp_path / "cancer.csv")
    assert cli.invoke(app, ["datasets", "add", str(csv), "--name", "cancer"]).exit_code == 0
    trained = cli.invoke(app, ["train", "--spec", str(write_spec(tmp_path / "modelyard.yaml"))])
    assert trained.exit_code == 0, trained.output
    carded = cli.invoke(app, ["models", "card", "cancer:1", "--output", str(tmp_path / "c.html")])
    assert carded.exit_code == 0, carded.output
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    start = page.index('<section id="hyperparameter-search">')
    section = page[start : page.index("</section>", start)]
    listed = json.loads(cli.invoke(app, ["runs", "list", "--json"]).output)
    (parent,) = [r for r in listed if r["parent_run_id"] is None]
    report = stored_report(tmp_path, parent["id"])
    for search in report["search"]:
        (best,) = [
            r
            for r in listed
            if r["params"].get("candidate") == search["candidate"] and r["params"].get("best")
        ]
        assert f"<h3>{search['candidate']}" in section
        assert f"#{search['best_trial']} (run {best['id']})" in section
        assert f"{search['best_score']:.4f}" in section
        assert f"{TRIALS} (stopped by the trial budget); 0 failed" in section
    assert "Optuna TPESampler, seed 0" in section and "max_depth" in section
    assert section.count("★ best") == len(report["search"]) == 2
    assert "http://" not in page and "https://" not in page and "<script" not in page


def stored_report(tmp_path: Path, run_id: str) -> dict[str, Any]:
    with Workspace(Settings(home=tmp_path / "home")) as ws:
        return SpecTrainingService(ws.store, ws.registry).report(run_id)
