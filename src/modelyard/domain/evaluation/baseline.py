"""The dummy baseline every model must beat, and the model's improvement over it.

Classification: predict the majority class of the *training* labels, with the training
class frequencies as probabilities (scikit-learn's ``DummyClassifier(strategy="prior")``).
Regression: predict the training mean. Both are scored on the same holdout as the model.

``improvement`` is a paired bootstrap (same resamples for model and baseline) of the
difference oriented so that **positive means the model is better**: ``model - baseline``
for higher-is-better metrics, ``baseline - model`` for those in :data:`LOWER_IS_BETTER`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelyard.domain.evaluation.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_BOOT,
    FloatArray,
    MetricEstimate,
)
from modelyard.domain.evaluation.classification import (
    ClassificationInputs,
    compare_classification,
    evaluate_classification,
)
from modelyard.domain.evaluation.regression import compare_regression, evaluate_regression
from modelyard.errors import InvalidInputError

LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "mae", "rmse", "mape"})


@dataclass(frozen=True)
class BaselineComparison:
    """Baseline metrics on the holdout and the model's improvement over them."""

    baseline: dict[str, MetricEstimate]
    improvement: dict[str, MetricEstimate]

    def to_dict(self) -> dict[str, Any]:
        """``{"baseline": {name: estimate}, "improvement": {name: estimate}}``."""
        return {
            "baseline": {k: v.to_dict() for k, v in self.baseline.items()},
            "improvement": {k: v.to_dict() for k, v in self.improvement.items()},
        }


def prior_probabilities(
    y_train: npt.ArrayLike, classes: Sequence[Any] | npt.ArrayLike
) -> FloatArray:
    """Training class frequencies in ``classes`` order (a class absent from training: 0)."""
    labels = np.asarray(classes)
    train = np.asarray(y_train)
    if len(train) == 0:
        raise InvalidInputError("y_train is empty", field="y_train")
    codes = pd.Index(labels).get_indexer(train)
    if (codes < 0).any():
        bad = train[int(np.flatnonzero(codes < 0)[0])]
        raise InvalidInputError(
            f"y_train holds {bad!r}, not one of the classes {labels.tolist()!r}",
            field="y_train",
        )
    counts = np.bincount(codes, minlength=len(labels)).astype(np.float64)
    return np.asarray(counts / counts.sum(), dtype=np.float64)


def classification_baseline(
    y_train: npt.ArrayLike,
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    y_pred: npt.ArrayLike | None = None,
    metrics: Sequence[str] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
    **options: Any,
) -> BaselineComparison:
    """Score the prior/majority baseline and the model's improvement on the holdout.

    ``proba``/``y_pred`` are the model's holdout outputs; ``options`` are passed to
    :func:`~.classification.evaluate_classification` (targets, ``n_bins``).
    """
    model = ClassificationInputs.from_arrays(y_true, proba, classes, y_pred)
    prior = prior_probabilities(y_train, model.classes)
    base_proba = np.tile(prior, (model.n, 1))
    base_pred = np.full(model.n, model.classes[int(np.argmax(prior))], dtype=object)
    common: dict[str, Any] = {
        "metrics": metrics,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        **options,
    }
    y_model = model.classes[model.pred]
    baseline = evaluate_classification(
        y_true, base_proba, model.classes, y_pred=base_pred, **common
    )
    diff = compare_classification(
        y_true,
        model.proba,
        base_proba,
        model.classes,
        y_pred_a=y_model,
        y_pred_b=base_pred,
        **common,
    )
    return BaselineComparison(baseline, _orient(diff))


def regression_baseline(
    y_train: npt.ArrayLike,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    metrics: Sequence[str] | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> BaselineComparison:
    """Score the training-mean baseline and the model's improvement on the holdout."""
    train = np.asarray(y_train, dtype=np.float64)
    if len(train) == 0 or not np.isfinite(train).all():
        raise InvalidInputError("y_train must be non-empty and finite", field="y_train")
    base = np.full(len(np.asarray(y_true)), float(train.mean()))
    common: dict[str, Any] = {
        "metrics": metrics,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
    }
    baseline = evaluate_regression(y_true, base, **common)
    diff = compare_regression(y_true, y_pred, base, **common)
    return BaselineComparison(baseline, _orient(diff))


def _orient(diff: dict[str, MetricEstimate]) -> dict[str, MetricEstimate]:
    out: dict[str, MetricEstimate] = {}
    for name, est in diff.items():
        if name in LOWER_IS_BETTER:
            out[name] = MetricEstimate(-est.value, -est.ci_high, -est.ci_low, est.n)
        else:
            out[name] = est
    return out
