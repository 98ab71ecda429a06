"""Curve data for a model card, as plain JSON-able lists.

Binary curves are for the positive class (``classes[1]``); multiclass ROC and PR curves
are one-vs-rest, keyed by the class label as a string. Long curves are thinned to at
most ``max_points`` points (evenly by index, always keeping both ends); non-finite
thresholds (ROC's leading ``inf``) become ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import precision_recall_curve, roc_curve

from modelyard.domain.evaluation.bootstrap import finite_or_none
from modelyard.domain.evaluation.calibration import reliability_curve
from modelyard.domain.evaluation.classification import DEFAULT_N_BINS, ClassificationInputs
from modelyard.errors import InvalidInputError

DEFAULT_MAX_POINTS = 200


def confusion_matrix_data(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike,
) -> dict[str, list[Any]]:
    """``{"labels", "matrix"}``; ``matrix[i][j]`` counts rows of true ``i`` predicted ``j``."""
    labels = np.asarray(classes)
    k = len(labels)
    dummy = np.full((len(np.asarray(y_true)), k), 1.0 / k)
    data = ClassificationInputs.from_arrays(y_true, dummy, labels, y_pred)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (data.y, data.pred), 1)
    return {"labels": labels.tolist(), "matrix": matrix.tolist()}


def roc_curve_data(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, dict[str, list[Any]]]:
    """``{class: {"fpr", "tpr", "thresholds"}}`` (one entry for binary problems)."""
    data = ClassificationInputs.from_arrays(y_true, proba, classes)
    out: dict[str, dict[str, list[Any]]] = {}
    for c in _curve_classes(data):
        positive = data.y == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, thresholds = roc_curve(positive, data.proba[:, c])
        keep = _thin(len(fpr), max_points)
        out[_label(data.classes[c])] = {
            "fpr": fpr[keep].tolist(),
            "tpr": tpr[keep].tolist(),
            "thresholds": [finite_or_none(t) for t in thresholds[keep]],
        }
    return out


def pr_curve_data(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, dict[str, list[Any]]]:
    """``{class: {"precision", "recall", "thresholds"}}``; the final (recall 0) point has
    threshold ``None``."""
    data = ClassificationInputs.from_arrays(y_true, proba, classes)
    out: dict[str, dict[str, list[Any]]] = {}
    for c in _curve_classes(data):
        positive = data.y == c
        if not positive.any():
            continue
        precision, recall, thresholds = precision_recall_curve(positive, data.proba[:, c])
        padded = np.append(thresholds, np.nan)
        keep = _thin(len(precision), max_points)
        out[_label(data.classes[c])] = {
            "precision": precision[keep].tolist(),
            "recall": recall[keep].tolist(),
            "thresholds": [finite_or_none(t) for t in padded[keep]],
        }
    return out


def classification_curves(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    y_pred: npt.ArrayLike | None = None,
    n_bins: int = DEFAULT_N_BINS,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, Any]:
    """Everything a model card plots: ``roc``, ``pr``, ``calibration``, ``confusion_matrix``."""
    data = ClassificationInputs.from_arrays(y_true, proba, classes, y_pred)
    truth = data.classes[data.y]
    return {
        "roc": roc_curve_data(truth, data.proba, data.classes, max_points=max_points),
        "pr": pr_curve_data(truth, data.proba, data.classes, max_points=max_points),
        "calibration": reliability_curve(truth, data.proba, data.classes, n_bins=n_bins),
        "confusion_matrix": confusion_matrix_data(truth, data.classes[data.pred], data.classes),
    }


def _curve_classes(data: ClassificationInputs) -> list[int]:
    return [1] if data.binary else list(range(len(data.classes)))


def _thin(length: int, max_points: int) -> npt.NDArray[np.intp]:
    if max_points < 2:
        raise InvalidInputError(
            f"max_points must be at least 2, got {max_points}", field="max_points"
        )
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.round(np.linspace(0, length - 1, max_points)).astype(np.intp))


def _label(value: Any) -> str:
    return str(value.item() if isinstance(value, np.generic) else value)
