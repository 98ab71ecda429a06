"""Classification metrics with bootstrap confidence intervals (binary and multiclass).

Metric names (see :data:`CLASSIFICATION_METRICS`):

``accuracy``
    Share of correct predictions.
``precision``, ``recall``, ``f1``
    Of the positive class (``classes[1]``) for binary problems; unweighted means over
    classes (macro) for multiclass. An undefined ratio (0/0) counts as 0, as in
    scikit-learn with ``zero_division=0``.
``roc_auc``
    Area under the ROC curve (ties count one half); multiclass: macro mean of the
    one-vs-rest AUCs. Left out when a class is missing from the holdout.
``pr_auc``
    Average precision (scikit-learn's ``average_precision_score``, no interpolation);
    multiclass: macro mean of one-vs-rest values.
``log_loss``
    Mean negative log-likelihood of the true class, probabilities clipped to
    ``[eps, 1 - eps]`` (float64 ``eps``), as scikit-learn does.
``brier``
    Binary: mean of ``(p - y)²``; multiclass: mean over rows of the squared distance
    between the probability vector and the one-hot truth (scikit-learn's
    ``brier_score_loss`` defaults).
``precision_at_recall``
    Highest precision over thresholds whose recall is at least ``recall_target``.
``recall_at_precision``
    Highest recall over thresholds whose precision is at least ``precision_target``
    (0 when no threshold reaches it). Both are macro means over classes for multiclass.
``ece``
    Expected calibration error, see :mod:`modelyard.domain.evaluation.calibration`.

Inputs: ``y_true`` holds class labels; ``proba`` is either the positive-class probability
(binary only, positive class ``classes[1]``) or a matrix with one column per class in
``classes`` order (default: the sorted labels of ``y_true``). ``y_pred`` defaults to the
most probable class (binary: ``p > 0.5``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelyard.domain.evaluation.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_BOOT,
    BatchMetrics,
    FloatArray,
    MetricEstimate,
    bootstrap_batch,
    safe_divide,
)
from modelyard.errors import InvalidInputError

CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "precision_at_recall",
    "recall_at_precision",
    "ece",
)
DEFAULT_RECALL_TARGET = 0.8
DEFAULT_PRECISION_TARGET = 0.8
DEFAULT_N_BINS = 10


@dataclass(frozen=True)
class ClassificationInputs:
    """Validated classification arrays: labels encoded as codes ``0..K-1``.

    ``proba`` always has one column per class; ``y`` and ``pred`` index ``classes``.
    """

    classes: npt.NDArray[Any]
    y: npt.NDArray[np.intp]
    proba: FloatArray
    pred: npt.NDArray[np.intp]

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.y)

    @property
    def binary(self) -> bool:
        """True for two classes."""
        return len(self.classes) == 2

    @classmethod
    def from_arrays(
        cls,
        y_true: npt.ArrayLike,
        proba: npt.ArrayLike,
        classes: Sequence[Any] | npt.ArrayLike | None = None,
        y_pred: npt.ArrayLike | None = None,
    ) -> ClassificationInputs:
        """Validate and encode; InvalidInputError (with ``field``) on any mismatch."""
        truth = np.asarray(y_true)
        scores = np.asarray(proba, dtype=np.float64)
        if truth.ndim != 1 or len(truth) == 0:
            raise InvalidInputError("y_true must be a non-empty 1-D array", field="y_true")
        if classes is None:
            labels = np.unique(truth)
            if scores.ndim == 2 and scores.shape[1] != len(labels):
                raise InvalidInputError(
                    f"proba has {scores.shape[1]} columns but y_true holds {len(labels)} "
                    "classes; pass classes explicitly",
                    field="classes",
                )
        else:
            labels = np.asarray(classes)
        if labels.ndim != 1 or len(labels) < 2 or len(np.unique(labels)) != len(labels):
            raise InvalidInputError(
                f"need at least 2 distinct classes, got {labels.tolist()!r}", field="classes"
            )
        if scores.ndim == 1:
            if len(labels) != 2:
                raise InvalidInputError(
                    "a 1-D probability vector needs exactly 2 classes", field="proba"
                )
            scores = np.column_stack([1.0 - scores, scores])
        if scores.shape != (len(truth), len(labels)):
            raise InvalidInputError(
                f"proba has shape {scores.shape}, expected {(len(truth), len(labels))}",
                field="proba",
            )
        if not np.isfinite(scores).all() or scores.min() < 0.0 or scores.max() > 1.0:
            raise InvalidInputError("probabilities must be finite and in [0, 1]", field="proba")
        y = _encode(truth, labels, "y_true")
        pred = (
            np.argmax(scores, axis=1).astype(np.intp)
            if y_pred is None
            else _encode(np.asarray(y_pred), labels, "y_pred")
        )
        if len(pred) != len(y):
            raise InvalidInputError("y_pred and y_true differ in length", field="y_pred")
        return cls(labels, y, scores, pred)


def evaluate_classification(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    y_pred: npt.ArrayLike | None = None,
    metrics: Sequence[str] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    recall_target: float = DEFAULT_RECALL_TARGET,
    precision_target: float = DEFAULT_PRECISION_TARGET,
    n_bins: int = DEFAULT_N_BINS,
) -> dict[str, MetricEstimate]:
    """Every classification metric (or the ``metrics`` subset) with a bootstrap CI.

    Metrics undefined on the holdout (e.g. ROC AUC with one class present) are left
    out. See the module docstring for definitions and input conventions.
    """
    names = check_metric_names(metrics, CLASSIFICATION_METRICS)
    data = ClassificationInputs.from_arrays(y_true, proba, classes, y_pred)
    batch = classification_batch(
        data, recall_target=recall_target, precision_target=precision_target, n_bins=n_bins
    )
    result = bootstrap_batch(batch, data.n, n_boot=n_boot, seed=seed, confidence=confidence)
    return {name: result[name] for name in names if name in result}


def compare_classification(
    y_true: npt.ArrayLike,
    proba_a: npt.ArrayLike,
    proba_b: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    y_pred_a: npt.ArrayLike | None = None,
    y_pred_b: npt.ArrayLike | None = None,
    metrics: Sequence[str] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    recall_target: float = DEFAULT_RECALL_TARGET,
    precision_target: float = DEFAULT_PRECISION_TARGET,
    n_bins: int = DEFAULT_N_BINS,
) -> dict[str, MetricEstimate]:
    """Paired bootstrap of ``metric(a) - metric(b)`` on the same holdout rows."""
    names = check_metric_names(metrics, CLASSIFICATION_METRICS)
    a = ClassificationInputs.from_arrays(y_true, proba_a, classes, y_pred_a)
    b = ClassificationInputs.from_arrays(y_true, proba_b, a.classes, y_pred_b)
    kwargs: dict[str, Any] = {
        "recall_target": recall_target,
        "precision_target": precision_target,
        "n_bins": n_bins,
    }
    batch_a = classification_batch(a, **kwargs)
    batch_b = classification_batch(b, **kwargs)

    def difference(weights: FloatArray) -> dict[str, FloatArray]:
        va, vb = batch_a(weights), batch_b(weights)
        return {name: va[name] - vb[name] for name in va}

    result = bootstrap_batch(difference, a.n, n_boot=n_boot, seed=seed, confidence=confidence)
    return {name: result[name] for name in names if name in result}


def classification_batch(
    data: ClassificationInputs,
    *,
    recall_target: float = DEFAULT_RECALL_TARGET,
    precision_target: float = DEFAULT_PRECISION_TARGET,
    n_bins: int = DEFAULT_N_BINS,
) -> BatchMetrics:
    """The vectorised metric function ``W -> {name: (B,)}`` used by the bootstrap."""
    for name, target in (("recall_target", recall_target), ("precision_target", precision_target)):
        if not 0.0 < target <= 1.0:
            raise InvalidInputError(f"{name} must be in (0, 1], got {target!r}", field=name)
    k = len(data.classes)
    y_hot = np.eye(k)[data.y]
    pred_hot = np.eye(k)[data.pred]
    correct = (data.y == data.pred).astype(np.float64)
    eps = float(np.finfo(np.float64).eps)
    p_true = np.clip(data.proba[np.arange(data.n), data.y], eps, 1.0 - eps)
    log_losses = -np.log(p_true)
    if data.binary:
        briers = (data.proba[:, 1] - y_hot[:, 1]) ** 2
    else:
        briers = ((data.proba - y_hot) ** 2).sum(axis=1)
    ece_terms = calibration_terms(data, n_bins)
    curve_classes = [1] if data.binary else list(range(k))
    ranked = [_Ranked(data.proba[:, c], data.y == c) for c in curve_classes]

    def batch(weights: FloatArray) -> dict[str, FloatArray]:
        total = weights.sum(axis=1)
        tp = weights @ (y_hot * pred_hot)
        predicted = weights @ pred_hot
        actual = weights @ y_hot
        precision = safe_divide(tp, predicted, empty=0.0)
        recall = safe_divide(tp, actual, empty=0.0)
        f1 = safe_divide(2.0 * tp, predicted + actual, empty=0.0)
        if data.binary:
            precision, recall, f1 = precision[:, 1], recall[:, 1], f1[:, 1]
        else:
            precision, recall, f1 = precision.mean(1), recall.mean(1), f1.mean(1)
        curves = [r.stats(weights, recall_target, precision_target) for r in ranked]
        return {
            "accuracy": (weights @ correct) / total,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "roc_auc": np.mean([c["roc_auc"] for c in curves], axis=0),
            "pr_auc": np.mean([c["pr_auc"] for c in curves], axis=0),
            "log_loss": (weights @ log_losses) / total,
            "brier": (weights @ briers) / total,
            "precision_at_recall": np.mean([c["precision_at_recall"] for c in curves], axis=0),
            "recall_at_precision": np.mean([c["recall_at_precision"] for c in curves], axis=0),
            "ece": np.abs(weights @ ece_terms).sum(axis=1) / total,
        }

    return batch


def calibration_terms(data: ClassificationInputs, n_bins: int) -> FloatArray:
    """Per-row ``(outcome - confidence)`` spread into ``n_bins`` equal-width bins.

    ``|W @ terms|`` summed over bins and divided by ``W.sum()`` is the ECE. Binary
    problems use the positive-class probability and outcome; multiclass ones the
    top-label confidence and whether the top label is right.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise InvalidInputError(
            f"n_bins must be a positive integer, got {n_bins!r}", field="n_bins"
        )
    if data.binary:
        confidence = data.proba[:, 1]
        outcome = (data.y == 1).astype(np.float64)
    else:
        confidence = data.proba.max(axis=1)
        outcome = (np.argmax(data.proba, axis=1) == data.y).astype(np.float64)
    bins = bin_index(confidence, n_bins)
    terms = np.zeros((data.n, n_bins))
    terms[np.arange(data.n), bins] = outcome - confidence
    return terms


def bin_index(values: FloatArray, n_bins: int) -> npt.NDArray[np.intp]:
    """Equal-width bin of each value in ``[0, 1]``: ``[0, 1/k), ..., [(k-1)/k, 1]``."""
    return np.clip(np.floor(values * n_bins), 0, n_bins - 1).astype(np.intp)


def check_metric_names(requested: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    """``requested`` (default: all of ``known``), or InvalidInputError naming the unknown."""
    if requested is None:
        return list(known)
    unknown = [name for name in requested if name not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown metric(s): {', '.join(map(str, unknown))}; allowed: {', '.join(known)}",
            field="metrics",
        )
    return list(dict.fromkeys(requested))


class _Ranked:
    """Rows sorted by descending score with tied scores grouped (for curve metrics)."""

    def __init__(self, scores: FloatArray, positive: npt.NDArray[np.bool_]) -> None:
        self.order = np.argsort(-scores, kind="stable")
        ordered = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        self.ties = len(self.starts) < len(scores)
        self.positive = positive[self.order].astype(np.float64)

    def stats(
        self, weights: FloatArray, recall_target: float, precision_target: float
    ) -> dict[str, FloatArray]:
        ordered = weights[:, self.order]
        group_pos = ordered * self.positive
        group_all = ordered
        if self.ties:
            group_pos = np.add.reduceat(group_pos, self.starts, axis=1)
            group_all = np.add.reduceat(ordered, self.starts, axis=1)
        tps = np.cumsum(group_pos, axis=1)
        alls = np.cumsum(group_all, axis=1)
        n_pos = tps[:, -1]
        n_neg = alls[:, -1] - n_pos
        # AUC = P(score_pos > score_neg) + P(tie) / 2, summed over positive groups
        auc_num = n_pos * n_neg - (group_pos * (alls - tps)).sum(axis=1)
        if self.ties:
            auc_num += 0.5 * (group_pos * (group_all - group_pos)).sum(axis=1)
        roc_auc = safe_divide(auc_num, n_pos * n_neg)
        precision = safe_divide(tps, alls)  # NaN before the first row with weight
        recall = safe_divide(tps, n_pos[:, None])
        defined = alls > 0
        pr_auc = safe_divide((group_pos * np.where(defined, precision, 0.0)).sum(axis=1), n_pos)
        reach = defined & (recall >= recall_target)
        p_at_r = np.where(reach, precision, -np.inf).max(axis=1)
        r_at_p = np.where(defined & (precision >= precision_target), recall, 0.0).max(axis=1)
        no_pos = n_pos == 0
        return {
            "roc_auc": roc_auc,
            "pr_auc": pr_auc,
            "precision_at_recall": np.where(no_pos | ~np.isfinite(p_at_r), math.nan, p_at_r),
            "recall_at_precision": np.where(no_pos, math.nan, r_at_p),
        }


def _encode(values: npt.NDArray[Any], labels: npt.NDArray[Any], field: str) -> npt.NDArray[np.intp]:
    if values.ndim != 1:
        raise InvalidInputError(f"{field} must be 1-D", field=field)
    codes = pd.Index(labels).get_indexer(values)
    bad = np.flatnonzero(codes < 0)
    if len(bad):
        row = int(bad[0])
        raise InvalidInputError(
            f"{field} holds {values[row]!r} (row {row}), which is not one of the classes "
            f"{labels.tolist()!r}",
            field=field,
            row=row,
        )
    return np.asarray(codes, dtype=np.intp)
