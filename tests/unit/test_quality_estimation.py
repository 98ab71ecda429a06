"""Confidence-based performance estimation: honest on calibrated data, fixed by calibration."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from modelyard.domain.quality_estimation import (
    blend,
    calibrate_reference,
    estimate_performance,
    expected_roc_auc,
    probability_matrix,
)
from modelyard.errors import InvalidInputError

N = 10_000


def calibrated_binary(seed: int, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose probabilities are true: y ~ Bernoulli(p)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 0.6, size=n)
    y = (rng.random(n) < p).astype(int)
    return p, y


def overconfident(p: np.ndarray) -> np.ndarray:
    """A model whose scores are pushed towards 0 and 1: sigmoid(3 · logit(p))."""
    logit = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
    return np.asarray(1.0 / (1.0 + np.exp(-3.0 * logit)))


def test_calibrated_binary_estimates_match_realized() -> None:
    p, y = calibrated_binary(0)
    estimate = estimate_performance(p)
    pred = (p > 0.5).astype(int)
    realized = {
        "accuracy": float((pred == y).mean()),
        "precision": precision_score(y, pred),
        "recall": recall_score(y, pred),
        "f1": f1_score(y, pred),
        "roc_auc": roc_auc_score(y, p),
    }
    for name, value in realized.items():
        assert estimate.metrics[name] == pytest.approx(value, abs=0.02), name
    assert estimate.n == N and estimate.classes == [0, 1] and not estimate.calibrated
    assert estimate.to_dict()["method"] == "cbpe"


def test_calibrated_multiclass_accuracy_and_dict_rows() -> None:
    rng = np.random.default_rng(1)
    proba = rng.dirichlet([0.7, 0.7, 0.7], size=N)
    y = np.array([rng.choice(3, p=row) for row in proba])
    realized = float((proba.argmax(axis=1) == y).mean())
    estimate = estimate_performance(proba, ["a", "b", "c"])
    assert estimate.metrics["accuracy"] == pytest.approx(realized, abs=0.02)
    assert estimate.metrics["accuracy"] == pytest.approx(proba.max(axis=1).mean())
    macro_auc = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert estimate.metrics["roc_auc"] == pytest.approx(macro_auc, abs=0.02)
    rows = [{"a": float(r[0]), "b": float(r[1]), "c": float(r[2])} for r in proba[:500]]
    from_rows = estimate_performance(rows)
    from_matrix = estimate_performance(proba[:500], ["a", "b", "c"])
    assert from_rows.classes == ["a", "b", "c"]
    assert from_rows.metrics == pytest.approx(from_matrix.metrics)


def test_calibrate_reference_fixes_an_overconfident_model() -> None:
    p_ref, y_ref = calibrated_binary(2)
    p_live, y_live = calibrated_binary(3)
    raw_ref, raw_live = overconfident(p_ref), overconfident(p_live)
    pred = (raw_live > 0.5).astype(int)
    realized = float((pred == y_live).mean())

    naive = estimate_performance(raw_live).metrics["accuracy"]
    assert naive is not None and naive - realized > 0.05  # over-confidence shows

    calibrator = calibrate_reference(raw_ref, y_ref)
    fixed = estimate_performance(raw_live, calibrator=calibrator)
    assert fixed.calibrated
    assert fixed.metrics["accuracy"] == pytest.approx(realized, abs=0.02)
    assert fixed.metrics["f1"] == pytest.approx(f1_score(y_live, pred), abs=0.02)
    assert fixed.metrics["roc_auc"] == pytest.approx(roc_auc_score(y_live, raw_live), abs=0.02)


def test_calibrate_reference_with_string_labels_and_errors() -> None:
    p, y = calibrated_binary(4, n=2000)
    labels = np.where(y == 1, "fraud", "ok")
    matrix = np.column_stack([p, 1 - p])  # columns: fraud, ok
    calibrator = calibrate_reference(matrix, labels, ["fraud", "ok"])
    estimate = estimate_performance(matrix, ["fraud", "ok"], calibrator=calibrator)
    assert 0.0 < (estimate.metrics["accuracy"] or 0.0) <= 1.0
    with pytest.raises(InvalidInputError) as info:
        calibrate_reference(matrix, np.where(y == 1, "fraud", "spam"), ["fraud", "ok"])
    assert info.value.field == "labels"
    with pytest.raises(InvalidInputError):
        calibrate_reference(matrix, ["ok"] * len(matrix), ["fraud", "ok"])
    three = np.full((10, 3), 1 / 3)
    with pytest.raises(InvalidInputError) as info:
        estimate_performance(three, calibrator=calibrator)
    assert info.value.field == "calibrator"


def test_explicit_predictions_are_judged_not_recomputed() -> None:
    p = np.array([0.9, 0.8, 0.3, 0.2])
    # the model answered "1" on every row: P(correct) = p
    estimate = estimate_performance(p, predictions=[1, 1, 1, 1])
    assert estimate.metrics["accuracy"] == pytest.approx(p.mean())
    assert estimate.metrics["precision"] == pytest.approx(p.mean())
    assert estimate.metrics["recall"] == pytest.approx(1.0)
    with pytest.raises(InvalidInputError) as info:
        estimate_performance(p, predictions=[1, 1, 2, 1])
    assert info.value.field == "predictions" and info.value.row == 2


def test_expected_roc_auc_handles_ties_and_degenerate_input() -> None:
    assert expected_roc_auc([0.1, 0.9], [0.0, 1.0]) == pytest.approx(1.0)
    assert expected_roc_auc([0.5, 0.5], [0.0, 1.0]) == pytest.approx(0.5)
    assert expected_roc_auc([0.2, 0.4], [1.0, 1.0]) is None


@pytest.mark.parametrize(
    ("probabilities", "classes", "field"),
    [
        ([[0.5, 0.6]], None, "probabilities"),
        ([[1.2, -0.2]], None, "probabilities"),
        ([[0.5, 0.5]], ["a", "b", "c"], "classes"),
        ([0.3, 0.7], ["a", "b", "c"], "classes"),
        ([[0.5, 0.5]], ["a", "a"], "classes"),
        ([{"a": 0.5, "b": 0.5}], ["a", "c"], "probabilities"),
        (np.zeros((2, 2, 2)), None, "probabilities"),
    ],
)
def test_probability_validation(probabilities: object, classes: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        probability_matrix(probabilities, classes)  # type: ignore[arg-type]
    assert info.value.field == field


def test_probability_matrix_forms() -> None:
    matrix, classes = probability_matrix([0.25, 0.75])
    assert classes == [0, 1] and matrix.tolist() == [[0.75, 0.25], [0.25, 0.75]]
    matrix, classes = probability_matrix([{"x": 1.0}, {"y": 0.4, "x": 0.6}])
    assert classes == ["x", "y"] and matrix.tolist() == [[1.0, 0.0], [0.6, 0.4]]


def test_blend_switches_source_at_the_label_threshold() -> None:
    few = blend(0.81, 0.70, 99, 1000, min_labels=100)
    assert (few.value, few.source) == (0.81, "estimated")
    enough = blend(0.81, 0.70, 100, 1000, min_labels=100)
    assert (enough.value, enough.source) == (0.70, "realized")
    assert enough.label_coverage == pytest.approx(0.1)
    no_estimate = blend(None, 0.70, 10, 1000, min_labels=100)
    assert (no_estimate.value, no_estimate.source) == (None, "none")
    no_realized = blend(0.8, None, 500, 1000)
    assert no_realized.source == "estimated"
    nothing = blend(None, None, 0, 0)
    assert nothing.source == "none" and nothing.label_coverage is None
    assert set(enough.to_dict()) >= {"value", "source", "n_labelled", "n_total"}
    with pytest.raises(InvalidInputError):
        blend(0.8, 0.7, 11, 10)
    with pytest.raises(InvalidInputError):
        blend(0.8, 0.7, 1, 10, min_labels=0)
