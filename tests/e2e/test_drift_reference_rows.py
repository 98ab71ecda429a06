"""The drift reference of a served version is its run's training rows, never its holdout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers import fitted_logreg, small_frame
from modelyard.data.quickstart import generate_quickstart_frame
from modelyard.domain.signature import infer_signature
from modelyard.errors import InvalidInputError
from modelyard.monitoring.drift_service import (
    DATASET_VERSION,
    TRAINING_ROWS,
    DriftService,
    TrainingRowsError,
    training_rows,
)
from modelyard.settings import Settings
from modelyard.spec import spec_template
from modelyard.training.spec_service import SpecTrainingService
from modelyard.workspace import Workspace

#: Holdout rows of the time split get support_calls this large; no training row has it.
DISTINCT = 50


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(Settings(home=tmp_path / "home"))
    yield workspace
    workspace.close()


def time_split_spec(path: Path) -> Path:
    """A fast spec whose holdout is the latest 20% of rows by ``signup_at``."""
    spec = yaml.safe_load(spec_template())
    spec["candidates"] = [{"name": "logistic_regression", "params": {"C": 1.0}}]
    spec["seeds"] = 1
    spec["evaluation"]["n_boot"] = 50
    spec["gates"] = []
    spec["split"] = {"strategy": "time", "column": "signup_at", "holdout": 0.2, "validation": 0.1}
    path.write_text(yaml.safe_dump(spec))
    return path


def test_spec_run_reference_is_its_training_rows_without_the_distinctive_holdout(
    ws: Workspace, tmp_path: Path
) -> None:
    frame = generate_quickstart_frame(1200, seed=3)
    # the newest 15% of rows (all inside the 20% time holdout) are unlike anything else
    newest = frame["signup_at"].rank(method="first") > 0.85 * len(frame)
    frame.loc[newest, "support_calls"] += DISTINCT
    ws.datasets.add_frame(frame, "quickstart")
    service = SpecTrainingService(ws.store, ws.registry)
    run, version, report = service.train(time_split_spec(tmp_path / "modelyard.yaml"))
    holdout = report["holdout"]

    drift = DriftService(ws.store, ws.registry)
    reference = drift.reference_frame(version)
    source = drift.reference_source(version)

    assert frame["support_calls"].max() >= DISTINCT  # the dataset version has them
    assert reference["support_calls"].max() < DISTINCT  # the reference does not
    assert source.kind == TRAINING_ROWS and source.run_id == run.id
    assert source.n_rows == len(reference) == holdout["n_train"]
    assert source.n_excluded == holdout["n_holdout"] + holdout["n_validation"]
    assert source.dataset == "quickstart:1"
    # the same rows as the run's stored training profile
    profile = service.training_profile(run.id)
    assert profile["n_rows"] == source.n_rows
    assert reference["support_calls"].max() == profile["columns"]["support_calls"]["max"]

    ws.deploy("ep", version.ref)
    summary = drift.summary("ep")
    assert summary["reference"]["source"] == TRAINING_ROWS
    assert summary["reference"]["rows"] == holdout["n_train"]
    assert "holdout and validation rows are excluded" in summary["reference"]["note"]
    assert not any("whole dataset version" in r for r in summary["reasons"])


def test_an_unreproducible_split_drops_the_recorded_holdout_ids(
    ws: Workspace, tmp_path: Path
) -> None:
    frame = generate_quickstart_frame(600, seed=4)
    ws.datasets.add_frame(frame, "quickstart")
    service = SpecTrainingService(ws.store, ws.registry)
    run, _, report = service.train(time_split_spec(tmp_path / "modelyard.yaml"))
    _, data = ws.datasets.load_frame("quickstart")
    holdout = report["holdout"]

    tampered = json.loads(json.dumps(report))
    tampered["holdout"]["train_ids_sha256"] = "0" * 64  # as if the split code changed
    rows, how = training_rows(data, run, tampered)
    assert len(rows) == len(data) - holdout["n_holdout"]
    assert set(rows.index).isdisjoint(holdout["ids"])
    assert "recorded holdout rows" in how

    tampered["holdout"]["ids"] = tampered["holdout"]["ids"][1:]  # records not matching data
    with pytest.raises(TrainingRowsError, match="do not match"):
        training_rows(data, run, tampered)


def test_quick_run_reference_leaves_out_its_test_rows(ws: Workspace) -> None:
    frame = generate_quickstart_frame(800, seed=5)
    frame["serial"] = np.arange(len(frame), dtype=float)  # identifies each row
    ws.datasets.add_frame(frame, "d")
    run, version = ws.train("d", "target", "logistic_regression", "m", 0)
    drift = DriftService(ws.store, ws.registry)
    reference = drift.reference_frame(version)
    source = drift.reference_source(version)
    assert source.kind == TRAINING_ROWS
    assert len(reference) == source.n_rows == run.params["n_train"]
    assert source.n_excluded == run.params["n_test"]
    serials = set(reference["serial"])
    assert len(serials) == run.params["n_train"]  # no row twice, none invented
    assert len(set(frame["serial"]) - serials) == run.params["n_test"]


def test_a_version_without_a_run_falls_back_to_its_dataset_with_a_note(ws: Workspace) -> None:
    x, y = small_frame(300, seed=1)
    ws.datasets.add_frame(x.assign(y=y), "plain")
    model, _, _ = fitted_logreg()
    version = ws.registry.register(
        model, "filed", signature=infer_signature(x, y), dataset=("plain", 1)
    )
    drift = DriftService(ws.store, ws.registry)
    source = drift.reference_source(version)
    assert source.kind == DATASET_VERSION and source.is_fallback
    assert source.n_rows == 300 and source.n_excluded == 0 and source.run_id is None
    assert "filed:1 has no training run" in source.note
    assert "whole dataset version plain:1" in source.note
    ws.deploy("filed-ep", version.ref)
    summary = drift.summary("filed-ep")
    assert summary["reference"]["source"] == DATASET_VERSION
    assert summary["reasons"][-1] == source.note


def test_no_lineage_is_still_a_clear_error(ws: Workspace) -> None:
    model, x, signature = fitted_logreg()
    version = ws.registry.register(model, "bare", signature=signature)
    with pytest.raises(InvalidInputError, match="no training dataset lineage"):
        DriftService(ws.store, ws.registry).reference_source(version)
