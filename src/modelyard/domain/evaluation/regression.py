"""Regression metrics with bootstrap confidence intervals.

Metric names (see :data:`REGRESSION_METRICS`):

``mae``
    Mean absolute error.
``rmse``
    Root mean squared error.
``r2``
    Coefficient of determination, ``1 - SS_res / SS_tot``; left out when the holdout
    target is constant (``SS_tot == 0``).
``mape``
    Mean absolute percentage error as a fraction (0.1 = 10 %), over the rows whose
    target is **not zero** (those rows are ignored rather than blowing up, unlike
    scikit-learn's epsilon trick); left out when every target is zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from modelyard.domain.evaluation.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_BOOT,
    BatchMetrics,
    FloatArray,
    MetricEstimate,
    bootstrap_batch,
    safe_divide,
)
from modelyard.domain.evaluation.classification import check_metric_names
from modelyard.errors import InvalidInputError

REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "r2", "mape")


def regression_arrays(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Validate and convert to finite float arrays of equal, non-zero length."""
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if truth.ndim != 1 or len(truth) == 0:
        raise InvalidInputError("y_true must be a non-empty 1-D array", field="y_true")
    if pred.shape != truth.shape:
        raise InvalidInputError(
            f"y_pred has shape {pred.shape}, expected {truth.shape}", field="y_pred"
        )
    for name, values in (("y_true", truth), ("y_pred", pred)):
        if not np.isfinite(values).all():
            raise InvalidInputError(f"{name} must be finite (no NaN or inf)", field=name)
    return truth, pred


def regression_batch(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> BatchMetrics:
    """The vectorised metric function ``W -> {name: (B,)}`` used by the bootstrap."""
    truth, pred = regression_arrays(y_true, y_pred)
    centred = truth - truth.mean()
    centred_sq = centred**2
    residual = pred - truth
    absolute = np.abs(residual)
    squared = residual**2
    nonzero = (truth != 0).astype(np.float64)
    relative = np.divide(absolute, np.abs(truth), out=np.zeros_like(truth), where=truth != 0)

    def batch(weights: FloatArray) -> dict[str, FloatArray]:
        total = weights.sum(axis=1)
        sse = weights @ squared
        raw = weights @ centred_sq
        ss_tot = raw - (weights @ centred) ** 2 / total
        ss_tot = np.where(ss_tot <= 1e-12 * raw, 0.0, ss_tot)  # constant target: undefined
        return {
            "mae": (weights @ absolute) / total,
            "rmse": np.sqrt(sse / total),
            "r2": 1.0 - safe_divide(sse, ss_tot),
            "mape": safe_divide(weights @ relative, weights @ nonzero),
        }

    return batch


def evaluate_regression(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, MetricEstimate]:
    """Every regression metric (or the ``metrics`` subset) with a bootstrap CI."""
    names = check_metric_names(metrics, REGRESSION_METRICS)
    batch = regression_batch(y_true, y_pred)
    n = len(np.asarray(y_true))
    result = bootstrap_batch(batch, n, n_boot=n_boot, seed=seed, confidence=confidence)
    return {name: result[name] for name in names if name in result}


def compare_regression(
    y_true: npt.ArrayLike,
    y_pred_a: npt.ArrayLike,
    y_pred_b: npt.ArrayLike,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, MetricEstimate]:
    """Paired bootstrap of ``metric(a) - metric(b)`` on the same holdout rows."""
    names = check_metric_names(metrics, REGRESSION_METRICS)
    batch_a = regression_batch(y_true, y_pred_a)
    batch_b = regression_batch(y_true, y_pred_b)

    def difference(weights: FloatArray) -> dict[str, FloatArray]:
        va, vb = batch_a(weights), batch_b(weights)
        return {name: va[name] - vb[name] for name in va}

    n = len(np.asarray(y_true))
    result = bootstrap_batch(difference, n, n_boot=n_boot, seed=seed, confidence=confidence)
    return {name: result[name] for name in names if name in result}
