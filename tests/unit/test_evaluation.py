"""Holdout evaluation: metrics against scikit-learn, bootstrap CIs, calibration, fairness,
baseline and curves."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.domain.evaluation import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    MetricEstimate,
    ScoreCalibrator,
    aggregate_seeds,
    bootstrap,
    bootstrap_statistic,
    calibrate_classifier,
    calibration_report,
    classification_baseline,
    classification_curves,
    compare_classification,
    compare_regression,
    confusion_matrix_data,
    evaluate_classification,
    evaluate_regression,
    expected_calibration_error,
    fairness_by_column,
    fairness_report,
    latency_summary,
    prior_probabilities,
    regression_baseline,
    regression_fairness_report,
    reliability_curve,
    roc_curve_data,
)
from modelyard.errors import InvalidInputError

# --- fixtures ------------------------------------------------------------------------------


def _binary(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0.0, 1.0)
    return y, np.round(p, 2)  # rounding makes ties, which curve metrics must handle


def _multiclass(n: int = 600, k: int = 4, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.ones(k), n)
    p[np.arange(n), y] += 0.6
    return y, p / p.sum(axis=1, keepdims=True)


def _manual_ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        mask = (p >= lo) & ((p < hi) if b < n_bins - 1 else (p <= hi))
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return total


# --- classification against scikit-learn ----------------------------------------------------


def test_binary_metrics_match_sklearn() -> None:
    y, p = _binary()
    pred = (p > 0.5).astype(int)
    result = evaluate_classification(y, p, n_boot=50)
    assert list(result) == list(CLASSIFICATION_METRICS)
    precision, recall, _ = skm.precision_recall_curve(y, p)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
        "precision_at_recall": precision[recall >= 0.8].max(),
        "recall_at_precision": recall[precision >= 0.8].max(),
        "ece": _manual_ece(y, p),
    }
    for name, value in expected.items():
        assert result[name].value == pytest.approx(value, abs=1e-12), name
        assert result[name].n == len(y)


@pytest.mark.parametrize("target", [0.5, 0.9, 0.95])
def test_precision_recall_targets_are_configurable(target: float) -> None:
    y, p = _binary(seed=3)
    result = evaluate_classification(y, p, n_boot=0, recall_target=target, precision_target=target)
    precision, recall, _ = skm.precision_recall_curve(y, p)
    assert result["precision_at_recall"].value == pytest.approx(precision[recall >= target].max())
    assert result["recall_at_precision"].value == pytest.approx(recall[precision >= target].max())


def test_multiclass_metrics_match_sklearn() -> None:
    y, p = _multiclass()
    pred = p.argmax(axis=1)
    result = evaluate_classification(y, p, n_boot=50)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro"),
        "recall": skm.recall_score(y, pred, average="macro"),
        "f1": skm.f1_score(y, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(y, p, multi_class="ovr", average="macro"),
        "pr_auc": skm.average_precision_score(y, p, average="macro"),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
    }
    for name, value in expected.items():
        assert result[name].value == pytest.approx(value, abs=1e-12), name
    per_class = []
    for k in range(p.shape[1]):
        precision, recall, _ = skm.precision_recall_curve(y == k, p[:, k])
        per_class.append(precision[recall >= 0.8].max())
    assert result["precision_at_recall"].value == pytest.approx(np.mean(per_class))
    confidence, correct = p.max(axis=1), (pred == y).astype(float)
    assert result["ece"].value == pytest.approx(_manual_ece(correct, confidence))


def test_string_labels_explicit_classes_and_y_pred() -> None:
    y, p = _binary(seed=5)
    labels = np.where(y == 1, "churn", "stay")
    pred = np.where(p > 0.3, "churn", "stay")
    # classes in column order: column 1 (positive) is "churn"
    result = evaluate_classification(
        labels, p, ["stay", "churn"], y_pred=pred, n_boot=0, metrics=["precision", "roc_auc"]
    )
    assert list(result) == ["precision", "roc_auc"]
    assert result["precision"].value == pytest.approx(
        skm.precision_score(labels, pred, pos_label="churn")
    )
    assert result["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, p))
    assert result["roc_auc"].to_dict()["ci_low"] is None  # n_boot=0: no interval


def test_undefined_metrics_are_left_out() -> None:
    y = np.zeros(50, dtype=int)
    p = np.linspace(0.0, 0.4, 50)
    result = evaluate_classification(y, p, [0, 1], n_boot=20)
    assert "roc_auc" not in result and "pr_auc" not in result
    assert result["accuracy"].value == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"y_true": [0, 1], "proba": [0.1, 0.2, 0.3]}, "proba"),
        ({"y_true": [0, 2], "proba": [0.1, 0.2], "classes": [0, 1]}, "y_true"),
        ({"y_true": [0, 1], "proba": [0.1, 1.2]}, "proba"),
        ({"y_true": [], "proba": []}, "y_true"),
        ({"y_true": [0, 1, 2], "proba": [0.1, 0.2, 0.3]}, "proba"),
        ({"y_true": [0, 1], "proba": [[0.5, 0.5], [0.5, 0.5]], "y_pred": [0, 3]}, "y_pred"),
        ({"y_true": [0, 1], "proba": [0.1, 0.9], "metrics": ["auc"]}, "metrics"),
        ({"y_true": [0, 1], "proba": [0.1, 0.9], "n_boot": -1}, "n_boot"),
        ({"y_true": [0, 1], "proba": [0.1, 0.9], "confidence": 1.0}, "confidence"),
        ({"y_true": [0, 1], "proba": [0.1, 0.9], "recall_target": 0.0}, "recall_target"),
        ({"y_true": [0, 1], "proba": [0.1, 0.9], "n_bins": 0}, "n_bins"),
    ],
)
def test_bad_classification_input(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        evaluate_classification(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# --- regression -----------------------------------------------------------------------------


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(10.0, 3.0, 800)
    pred = y + rng.normal(0.0, 1.0, 800)
    result = evaluate_regression(y, pred, n_boot=50)
    assert list(result) == list(REGRESSION_METRICS)
    assert result["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred))
    assert result["rmse"].value == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert result["r2"].value == pytest.approx(skm.r2_score(y, pred))
    assert result["mape"].value == pytest.approx(skm.mean_absolute_percentage_error(y, pred))


def test_mape_ignores_zero_targets_and_r2_needs_variance() -> None:
    y = np.array([0.0, 2.0, 4.0, 0.0])
    pred = np.array([1.0, 3.0, 3.0, -1.0])
    result = evaluate_regression(y, pred, n_boot=0)
    assert result["mape"].value == pytest.approx((0.5 + 0.25) / 2)
    constant = evaluate_regression([3.0, 3.0, 3.0], [2.0, 3.0, 4.0], n_boot=10)
    assert "r2" not in constant and constant["mae"].value == pytest.approx(2 / 3)
    zeros = evaluate_regression([0.0, 0.0], [1.0, 2.0], n_boot=0)
    assert "mape" not in zeros


def test_bad_regression_input() -> None:
    with pytest.raises(InvalidInputError, match="finite"):
        evaluate_regression([1.0, math.nan], [1.0, 2.0])
    with pytest.raises(InvalidInputError) as info:
        evaluate_regression([1.0, 2.0], [1.0])
    assert info.value.field == "y_pred"


# --- bootstrap ------------------------------------------------------------------------------


def test_ci_contains_estimate_and_narrows_with_n() -> None:
    widths = []
    for n in (200, 5000):
        y, p = _binary(n=n, seed=11)
        result = evaluate_classification(y, p, n_boot=300, seed=0)
        for name, est in result.items():
            assert est.ci_low <= est.value <= est.ci_high, name
        widths.append(result["roc_auc"].ci_high - result["roc_auc"].ci_low)
    assert widths[1] < widths[0] / 2  # ~ 1/sqrt(n): 5x narrower expected


def test_bootstrap_is_seeded_and_chunking_does_not_change_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    y, p = _binary(n=300)
    first = evaluate_classification(y, p, n_boot=200, seed=7)
    assert evaluate_classification(y, p, n_boot=200, seed=7) == first
    assert evaluate_classification(y, p, n_boot=200, seed=8) != first
    monkeypatch.setattr(bootstrap, "MAX_CELLS", 300 * 7)  # 7 resamples per chunk
    chunked = evaluate_classification(y, p, n_boot=200, seed=7)
    for name, est in first.items():
        assert chunked[name].ci_low == pytest.approx(est.ci_low)
        assert chunked[name].ci_high == pytest.approx(est.ci_high)


def test_bootstrap_weights_rows_sum_to_n() -> None:
    chunks = list(bootstrap.bootstrap_weights(50, 30, seed=0))
    weights = np.vstack(chunks)
    assert weights.shape == (30, 50)
    assert (weights.sum(axis=1) == 50).all()


def test_bootstrap_statistic_generic_matches_vectorised_point() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    pred = y + rng.normal(size=300)
    est = bootstrap_statistic(skm.mean_absolute_error, y, pred, n_boot=200, seed=1)
    fast = evaluate_regression(y, pred, n_boot=200, seed=1)["mae"]
    assert est.value == pytest.approx(fast.value)
    assert est.ci_low <= est.value <= est.ci_high
    assert est.ci_low == pytest.approx(fast.ci_low, rel=0.05)


def test_metric_estimate_to_dict_is_json() -> None:
    est = MetricEstimate(0.9, 0.85, math.nan, 100)
    assert est.to_dict() == {"value": 0.9, "ci_low": 0.85, "ci_high": None, "n": 100}
    json.dumps(est.to_dict())


def test_aggregate_seeds() -> None:
    runs = [
        {"roc_auc": MetricEstimate(0.80, 0.7, 0.9, 10), "mae": 1.0},
        {"roc_auc": MetricEstimate(0.84, 0.7, 0.9, 10)},
        {"roc_auc": MetricEstimate(0.82, 0.7, 0.9, 10), "mae": math.nan},
    ]
    summary = aggregate_seeds(runs)
    assert summary["roc_auc"].mean == pytest.approx(0.82)
    assert summary["roc_auc"].sd == pytest.approx(0.02)
    assert summary["roc_auc"].n_seeds == 3
    assert summary["mae"].sd == 0.0 and summary["mae"].n_seeds == 1
    assert summary["roc_auc"].to_dict()["values"] == [0.80, 0.84, 0.82]


def test_paired_comparison() -> None:
    y, p = _binary(seed=4)
    same = compare_classification(y, p, p, n_boot=100, metrics=["roc_auc"])
    assert same["roc_auc"].value == 0.0 and same["roc_auc"].ci_high == 0.0
    worse = np.clip(p + np.random.default_rng(0).normal(0, 0.3, len(p)), 0, 1)
    diff = compare_classification(y, p, worse, n_boot=200, metrics=["roc_auc"])
    assert diff["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(y, p) - skm.roc_auc_score(y, worse)
    )
    assert diff["roc_auc"].ci_low > 0
    reg = compare_regression([1.0, 2.0, 3.0], [1.0, 2.0, 3.5], [1.0, 2.5, 3.5], n_boot=0)
    assert reg["mae"].value == pytest.approx(0.5 / 3 - 1.0 / 3)


# --- calibration ----------------------------------------------------------------------------


def test_ece_is_near_zero_for_calibrated_and_large_for_overconfident() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(100_000)
    y = (rng.random(100_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    overconfident = np.clip((p - 0.5) * 2.0 + 0.5, 0.0, 1.0)
    assert expected_calibration_error(y, overconfident) > 0.1
    assert expected_calibration_error(y, p, n_bins=20) < 0.01


def test_reliability_curve() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.15, 0.95, 1.0])
    curve = reliability_curve(y, p)
    assert curve["bin_lower"] == [0.0, 0.1, 0.9]
    assert curve["count"] == [1, 2, 2]
    assert curve["fraction_positive"] == [0.0, 0.5, 1.0]
    assert curve["mean_predicted"][2] == pytest.approx(0.975)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_score_calibrator_reduces_ece(method: str) -> None:
    rng = np.random.default_rng(3)
    true_p = rng.random(6000)
    y = (rng.random(6000) < true_p).astype(int)
    logit = np.log(true_p) - np.log1p(-true_p)
    distorted = 1.0 / (1.0 + np.exp(-2.5 * logit))  # overconfident
    calibrator = ScoreCalibrator(method).fit(distorted[:3000], y[:3000])  # type: ignore[arg-type]
    report = calibration_report(calibrator, distorted[3000:], y[3000:])
    assert report.ece_before > 0.1
    assert report.ece_after < 0.04
    assert report.to_dict()["method"] == method
    two_col = calibrator.transform(np.column_stack([1 - distorted, distorted]))
    assert np.allclose(two_col.sum(axis=1), 1.0)


def test_score_calibrator_multiclass_rows_sum_to_one() -> None:
    y, p = _multiclass(n=900)
    sharpened = p**3 / (p**3).sum(axis=1, keepdims=True)
    calibrator = ScoreCalibrator("sigmoid").fit(sharpened[:600], y[:600])
    out = calibrator.transform(sharpened[600:])
    assert out.shape == (300, 4) and np.allclose(out.sum(axis=1), 1.0)
    with pytest.raises(InvalidInputError):
        calibrator.transform(sharpened[:, :2])
    with pytest.raises(InvalidInputError):
        ScoreCalibrator("platt").fit(p, y)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        ScoreCalibrator().transform(p)


def test_calibrate_fitted_classifier_without_refit_or_warnings() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.5, random_state=0)
    x_cal, x_test, y_cal, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    coef = model[-1].coef_.copy()
    calibrated = calibrate_classifier(model, x_cal, y_cal, method="sigmoid")
    assert np.array_equal(model[-1].coef_, coef)  # the model itself was not refitted
    proba = calibrated.predict_proba(x_test)
    assert proba.shape == (len(y_test), 2)
    assert expected_calibration_error(y_test, proba[:, 1]) < 0.15
    with pytest.raises(InvalidInputError):
        calibrate_classifier(model, x_cal, y_cal, method="beta")  # type: ignore[arg-type]


# --- fairness -------------------------------------------------------------------------------


def test_fairness_gaps_on_a_hand_built_example() -> None:
    # group a: 4 rows, truth 1 1 0 0, predicted 1 0 1 0  -> rate .5, tpr .5, fpr .5
    # group b: 4 rows, truth 1 1 0 0, predicted 1 1 1 1  -> rate 1,  tpr 1,  fpr 1
    # group c: 2 rows, truth 1 0,     predicted 0 0      -> rate 0,  tpr 0,  fpr 0
    sex = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    truth = [1, 1, 0, 0, 1, 1, 0, 0, 1, 0]
    pred = [1, 0, 1, 0, 1, 1, 1, 1, 0, 0]
    report = fairness_report("sex", sex, truth, pred, min_group_size=3)
    assert report.gaps["dp_diff"] == pytest.approx(1.0)
    assert report.gaps["tpr_diff"] == pytest.approx(1.0)
    assert report.gaps["fpr_diff"] == pytest.approx(1.0)
    assert report.gaps["eo_diff"] == pytest.approx(1.0)
    assert report.small_groups == ["c"]
    groups = {g.group: g for g in report.groups}
    assert groups["a"].metrics["positive_rate"] == 0.5
    assert groups["a"].metrics["tpr"] == 0.5 and groups["a"].metrics["fpr"] == 0.5
    out = report.to_dict()
    assert out["dp_diff"] == pytest.approx(1.0) and out["groups"]["c"]["small"] is True
    json.dumps(out)

    # drop group c: dp gap .5, tpr gap .5, fpr gap .5
    two = fairness_report("sex", sex[:8], truth[:8], pred[:8], min_group_size=3)
    assert two.gaps["dp_diff"] == pytest.approx(0.5)
    assert two.gaps["eo_diff"] == pytest.approx(0.5)
    assert two.small_groups == []


def test_fairness_tpr_gap_skips_groups_without_positives_and_handles_missing() -> None:
    group = ["x", "x", "y", "y", None, None]
    truth = [1, 0, 0, 0, 1, 0]
    pred = [1, 0, 1, 0, 0, 0]
    scores = [0.9, 0.1, 0.8, 0.2, 0.4, 0.3]
    report = fairness_report("g", group, truth, pred, scores=scores, min_group_size=1)
    names = [g.group for g in report.groups]
    assert names == ["<missing>", "x", "y"]
    assert report.gaps["tpr_diff"] == pytest.approx(1.0)  # x: 1, <missing>: 0, y: undefined
    assert report.gaps["fpr_diff"] == pytest.approx(0.5)
    assert report.gaps["eo_diff"] == pytest.approx(1.0)
    by_name = {g.group: g for g in report.groups}
    assert math.isnan(by_name["y"].metrics["tpr"])
    assert by_name["x"].metrics["roc_auc"] == 1.0
    assert by_name["y"].to_dict()["tpr"] is None


def test_fairness_label_rules_and_by_column() -> None:
    truth = ["no", "yes", "yes", "no"]
    pred = ["no", "yes", "no", "no"]
    report = fairness_report("s", ["a", "a", "b", "b"], truth, pred)  # positive: "yes"
    assert report.gaps["tpr_diff"] == pytest.approx(1.0)
    with pytest.raises(InvalidInputError) as info:
        fairness_report("s", ["a", "b", "c"], [0, 1, 2], [0, 1, 2])
    assert info.value.field == "positive_label"
    with pytest.raises(InvalidInputError):
        fairness_report("s", ["a"], [0, 1], [0, 1])
    many = fairness_by_column({"s": ["a", "a", "b", "b"], "t": [1, 2, 1, 2]}, truth, pred)
    assert set(many) == {"s", "t"}


def test_regression_fairness() -> None:
    report = regression_fairness_report("g", ["a", "a", "b", "b"], [1, 2, 3, 4], [1, 2, 5, 6])
    assert report.gaps["mae_diff"] == pytest.approx(2.0)
    assert report.gaps["mean_error_diff"] == pytest.approx(2.0)
    by_col = fairness_by_column({"g": ["a", "b"]}, [1.0, 2.0], [1.0, 3.0], task="regression")
    assert by_col["g"].gaps["mae_diff"] == pytest.approx(1.0)


# --- baseline -------------------------------------------------------------------------------


def test_prior_probabilities() -> None:
    assert prior_probabilities(["a", "b", "b", "b"], ["a", "b", "c"]).tolist() == [0.25, 0.75, 0]
    with pytest.raises(InvalidInputError):
        prior_probabilities(["z"], ["a", "b"])


def test_classification_baseline_and_improvement() -> None:
    y, p = _binary(seed=9)
    comparison = classification_baseline(np.r_[np.zeros(70), np.ones(30)], y, p, n_boot=100)
    base = comparison.baseline
    assert base["roc_auc"].value == pytest.approx(0.5)
    assert base["accuracy"].value == pytest.approx((y == 0).mean())
    assert base["precision"].value == 0.0  # predicts the majority (negative) class
    model = evaluate_classification(y, p, n_boot=0)
    gain = comparison.improvement
    assert gain["roc_auc"].value == pytest.approx(model["roc_auc"].value - 0.5)
    # log loss: lower is better, so improvement = baseline - model
    assert gain["log_loss"].value == pytest.approx(base["log_loss"].value - model["log_loss"].value)
    assert gain["roc_auc"].ci_low > 0
    json.dumps(comparison.to_dict())


def test_regression_baseline() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    comparison = regression_baseline([2.0, 3.0], y, y + 0.1, n_boot=0)
    assert comparison.baseline["mae"].value == pytest.approx(1.0)
    assert comparison.improvement["mae"].value == pytest.approx(0.9)
    assert comparison.improvement["r2"].value > 0


# --- curves and latency ---------------------------------------------------------------------


def test_curves_are_plain_lists() -> None:
    y, p = _binary(seed=2)
    curves = classification_curves(y, p, max_points=50)
    json.dumps(curves)
    roc = curves["roc"]["1"]
    assert len(roc["fpr"]) <= 50
    assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    assert roc["thresholds"][0] is None  # sklearn's leading inf
    fpr, tpr, _ = skm.roc_curve(y, p)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(skm.auc(fpr, tpr), abs=0.02)
    assert curves["pr"]["1"]["thresholds"][-1] is None
    matrix = curves["confusion_matrix"]
    assert matrix["matrix"] == skm.confusion_matrix(y, (p > 0.5).astype(int)).tolist()
    assert sum(curves["calibration"]["count"]) == len(y)


def test_multiclass_curves_and_confusion_labels() -> None:
    y, p = _multiclass()
    roc = roc_curve_data(y, p)
    assert set(roc) == {"0", "1", "2", "3"}
    cm = confusion_matrix_data(["a", "b", "a"], ["a", "a", "a"], ["a", "b"])
    assert cm == {"labels": ["a", "b"], "matrix": [[2, 0], [1, 0]]}


def test_latency_summary() -> None:
    out = latency_summary(np.arange(1, 101, dtype=float))
    assert out["p50_ms"] == pytest.approx(50.5)
    assert out["p99_ms"] == pytest.approx(99.01)
    assert out["n"] == 100
    with pytest.raises(InvalidInputError):
        latency_summary([])


# --- sanity runs on real datasets -----------------------------------------------------------


def test_breast_cancer_sanity() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.4, random_state=0, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    proba = model.predict_proba(x_test)
    result = evaluate_classification(y_test, proba, model.classes_, n_boot=500)
    assert result["roc_auc"].value == pytest.approx(skm.roc_auc_score(y_test, proba[:, 1]))
    assert 0.95 < result["roc_auc"].ci_low <= result["roc_auc"].value <= 1.0
    assert result["accuracy"].value > 0.9
    assert result["ece"].value < 0.1
    gain = classification_baseline(y_train, y_test, proba, model.classes_, n_boot=200)
    assert gain.improvement["accuracy"].ci_low > 0.2


def test_wine_multiclass_sanity() -> None:
    x, y = load_wine(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.4, random_state=0, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    proba = model.predict_proba(x_test)
    result = evaluate_classification(y_test, proba, model.classes_, n_boot=300)
    assert result["log_loss"].value == pytest.approx(skm.log_loss(y_test, proba))
    assert result["roc_auc"].value > 0.95
    assert result["f1"].value == pytest.approx(
        skm.f1_score(y_test, model.predict(x_test), average="macro")
    )


def test_diabetes_regression_sanity() -> None:
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0)
    pred = LinearRegression().fit(x_train, y_train).predict(x_test)
    result = evaluate_regression(y_test, pred, n_boot=500)
    assert result["r2"].value == pytest.approx(skm.r2_score(y_test, pred))
    assert result["r2"].ci_low < result["r2"].value < result["r2"].ci_high
    assert result["r2"].value > 0.3
    gain = regression_baseline(y_train, y_test, pred, n_boot=200)
    assert gain.improvement["rmse"].ci_low > 0


def test_bootstrap_intervals_match_a_loop_over_scikit_learn_on_the_same_resamples() -> None:
    """The vectorised, weight-based intervals equal percentiles of sklearn's metrics computed
    one resample at a time on the rows the same generator draws."""
    rng = np.random.default_rng(3)
    n, n_boot, seed = 400, 300, 5
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)
    fast = evaluate_classification(y, p, n_boot=n_boot, seed=seed)
    draws = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    reference: dict[str, Any] = {
        "roc_auc": lambda yy, pp: skm.roc_auc_score(yy, pp),
        "accuracy": lambda yy, pp: skm.accuracy_score(yy, pp > 0.5),
        "f1": lambda yy, pp: skm.f1_score(yy, pp > 0.5),
        "log_loss": lambda yy, pp: skm.log_loss(yy, pp, labels=[0, 1]),
        "brier": lambda yy, pp: skm.brier_score_loss(yy, pp),
        "pr_auc": lambda yy, pp: skm.average_precision_score(yy, pp),
    }
    for name, metric in reference.items():
        values = [metric(y[idx], p[idx]) for idx in draws]
        low, high = np.quantile(values, [0.025, 0.975])
        assert fast[name].ci_low == pytest.approx(low, abs=1e-9), name
        assert fast[name].ci_high == pytest.approx(high, abs=1e-9), name
    truth = rng.normal(size=n)
    pred = truth + rng.normal(scale=0.5, size=n)
    reg = evaluate_regression(truth, pred, n_boot=n_boot, seed=seed)
    for name, metric in {
        "mae": skm.mean_absolute_error,
        "rmse": lambda a, b: np.sqrt(skm.mean_squared_error(a, b)),
        "r2": skm.r2_score,
    }.items():
        values = [metric(truth[idx], pred[idx]) for idx in draws]
        low, high = np.quantile(values, [0.025, 0.975])
        assert reg[name].ci_low == pytest.approx(low, abs=1e-9), name
        assert reg[name].ci_high == pytest.approx(high, abs=1e-9), name
