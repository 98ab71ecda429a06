"""Comparing a rerun's metrics with the original run's."""

from __future__ import annotations

import json
import math

import pytest

from modelyard.errors import InvalidInputError
from modelyard.training.reproduce import compare_metrics

ORIGINAL = {
    "roc_auc": {"value": 0.9100, "ci_low": 0.88, "ci_high": 0.93, "n": 400},
    "ece": {"value": 0.031, "ci_low": 0.02, "ci_high": 0.05, "n": 400},
    "accuracy": 0.85,
    "fairness": {"sex": {"dp_diff": 0.04}},
}


def test_identical_metrics_match() -> None:
    report = compare_metrics(ORIGINAL, ORIGINAL, 0.0)
    assert report.matched and report.mismatched == []
    assert report.diffs == {
        "roc_auc": (0.91, 0.91, 0.0),
        "ece": (0.031, 0.031, 0.0),
        "accuracy": (0.85, 0.85, 0.0),
    }


def test_within_tolerance_matches_and_over_does_not() -> None:
    rerun = {"roc_auc": 0.9125, "ece": {"value": 0.031}, "accuracy": 0.85}
    within = compare_metrics(ORIGINAL, rerun, 0.005)
    assert within.matched
    a, b, diff = within.diffs["roc_auc"]
    assert (a, b) == (0.91, 0.9125) and diff == pytest.approx(0.0025)

    over = compare_metrics(ORIGINAL, rerun, 0.001)
    assert not over.matched
    assert over.mismatched == ["roc_auc"]


def test_tolerance_is_inclusive() -> None:
    assert compare_metrics({"mae": 1.0}, {"mae": 1.5}, 0.5).matched
    assert not compare_metrics({"mae": 1.0}, {"mae": 1.5000001}, 0.5).matched


def test_a_metric_on_one_side_only_is_a_mismatch() -> None:
    report = compare_metrics({"r2": 0.4}, {"r2": 0.4, "mae": 41.0}, 1.0)
    assert not report.matched
    assert report.diffs["mae"] == (None, 41.0, math.inf)
    assert report.to_dict()["diffs"]["mae"]["abs_diff"] is None
    json.dumps(report.to_dict(), allow_nan=False)


def test_undefined_on_both_sides_matches() -> None:
    report = compare_metrics({"roc_auc": {"value": None}}, {"roc_auc": float("nan")}, 0.0)
    assert report.matched and report.diffs["roc_auc"] == (None, None, 0.0)


@pytest.mark.parametrize("tolerance", [-0.1, float("nan"), float("inf"), True, "0.1"])
def test_bad_tolerance(tolerance: object) -> None:
    with pytest.raises(InvalidInputError) as info:
        compare_metrics({}, {}, tolerance)  # type: ignore[arg-type]
    assert info.value.field == "tolerance"


def test_metrics_must_be_a_mapping() -> None:
    with pytest.raises(InvalidInputError, match="mapping"):
        compare_metrics([0.9], {}, 0.1)  # type: ignore[arg-type]
