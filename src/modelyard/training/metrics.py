"""Evaluation metrics as plain ``dict[str, float]``.

A metric that is undefined for the given data (for example ROC AUC when the evaluation
set holds a single class) is left out rather than reported as NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)


def classification_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    proba: ArrayLike,
    classes: Sequence[Any] | ArrayLike,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, ROC AUC and log loss.

    ``proba`` is either the positive-class probability (binary only; the positive class
    is ``classes[1]``) or a matrix with one column per entry of ``classes``. Binary
    problems score the positive class; multiclass ones use macro averages and
    one-vs-rest ROC AUC.
    """
    labels = np.asarray(classes)
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    scores = np.asarray(proba, dtype=float)
    if len(labels) < 2:
        raise ValueError(f"need at least 2 classes, got {len(labels)}")
    if scores.ndim == 1:
        if len(labels) != 2:
            raise ValueError("a 1-D probability vector needs exactly 2 classes")
        scores = np.column_stack([1.0 - scores, scores])
    if scores.shape != (len(truth), len(labels)):
        raise ValueError(
            f"probability matrix has shape {scores.shape}, expected {(len(truth), len(labels))}"
        )

    binary = len(labels) == 2
    average_args: dict[str, Any] = (
        {"average": "binary", "pos_label": labels[1]}
        if binary
        else {"average": "macro", "labels": labels}
    )
    out: dict[str, float] = {
        "accuracy": float(accuracy_score(truth, pred)),
        "precision": float(precision_score(truth, pred, zero_division=0, **average_args)),
        "recall": float(recall_score(truth, pred, zero_division=0, **average_args)),
        "f1": float(f1_score(truth, pred, zero_division=0, **average_args)),
    }
    present = set(truth.tolist())
    if binary:
        if len(present) == 2:
            out["roc_auc"] = float(roc_auc_score(truth == labels[1], scores[:, 1]))
    elif present == set(labels.tolist()):
        out["roc_auc"] = float(
            roc_auc_score(truth, scores, multi_class="ovr", average="macro", labels=labels)
        )
    clipped = np.clip(scores, 1e-15, 1.0 - 1e-15)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    out["log_loss"] = float(log_loss(truth, clipped, labels=labels))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """Mean absolute error, root mean squared error and R² (R² needs ≥ 2 samples)."""
    truth = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float)
    out: dict[str, float] = {
        "mae": float(mean_absolute_error(truth, pred)),
        "rmse": float(root_mean_squared_error(truth, pred)),
    }
    if len(truth) >= 2 and float(np.var(truth)) > 0.0:
        out["r2"] = float(r2_score(truth, pred))
    return {k: v for k, v in out.items() if math.isfinite(v)}
