"""Calibration: expected calibration error, reliability curves and post-hoc calibrators.

**ECE** uses ``n_bins`` (default 10) *equal-width* bins over ``[0, 1]``:
``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]``. It is ``sum_b (n_b / n) * |acc_b - conf_b|``,
where for a binary problem ``conf_b`` is the mean positive-class probability in bin
``b`` and ``acc_b`` the share of positives there; for multiclass, ``conf_b`` is the mean
top-label probability and ``acc_b`` the share of rows whose top label is right.

Calibrators are fitted on a separate calibration split, never on the holdout that is
reported. :class:`ScoreCalibrator` maps predicted probabilities to calibrated ones
(isotonic regression, or Platt-style sigmoid on the logit of the probability; one per
class and renormalised for multiclass). :func:`calibrate_classifier` wraps a fitted
scikit-learn classifier instead, through ``FrozenEstimator`` (the replacement for the
deprecated ``cv="prefit"``), so the result is a stock scikit-learn object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from modelyard.domain.evaluation.bootstrap import FloatArray
from modelyard.domain.evaluation.classification import (
    DEFAULT_N_BINS,
    ClassificationInputs,
    bin_index,
    calibration_terms,
)
from modelyard.errors import InvalidInputError

if TYPE_CHECKING:  # scikit-learn and scipy load on first use: the CLI starts without them
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.isotonic import IsotonicRegression

CalibrationMethod = Literal["isotonic", "sigmoid"]
CALIBRATION_METHODS: tuple[CalibrationMethod, ...] = get_args(CalibrationMethod)
_LOGIT_CLIP = 1e-6


@dataclass(frozen=True)
class CalibrationReport:
    """ECE of one set of predictions before and after calibration."""

    method: str
    ece_before: float
    ece_after: float
    n: int
    n_bins: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "method": self.method,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "n": self.n,
            "n_bins": self.n_bins,
        }


def expected_calibration_error(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    n_bins: int = DEFAULT_N_BINS,
) -> float:
    """ECE with equal-width bins (see the module docstring)."""
    data = ClassificationInputs.from_arrays(y_true, proba, classes)
    terms = calibration_terms(data, n_bins)
    return float(np.abs(terms.sum(axis=0)).sum() / data.n)


def reliability_curve(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    n_bins: int = DEFAULT_N_BINS,
) -> dict[str, list[Any]]:
    """Reliability-diagram points for the non-empty bins, as plain lists.

    Keys: ``bin_lower``, ``bin_upper``, ``mean_predicted`` (``conf_b``),
    ``fraction_positive`` (``acc_b``) and ``count``.
    """
    data = ClassificationInputs.from_arrays(y_true, proba, classes)
    if data.binary:
        conf = data.proba[:, 1]
        outcome = (data.y == 1).astype(np.float64)
    else:
        conf = data.proba.max(axis=1)
        outcome = (np.argmax(data.proba, axis=1) == data.y).astype(np.float64)
    calibration_terms(data, n_bins)  # validates n_bins
    bins = bin_index(conf, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    sum_conf = np.bincount(bins, weights=conf, minlength=n_bins)
    sum_out = np.bincount(bins, weights=outcome, minlength=n_bins)
    keep = np.flatnonzero(counts)
    return {
        "bin_lower": [float(b / n_bins) for b in keep],
        "bin_upper": [float((b + 1) / n_bins) for b in keep],
        "mean_predicted": (sum_conf[keep] / counts[keep]).tolist(),
        "fraction_positive": (sum_out[keep] / counts[keep]).tolist(),
        "count": counts[keep].astype(int).tolist(),
    }


class ScoreCalibrator:
    """Maps predicted probabilities to calibrated ones; fit on a calibration split.

    ``method="isotonic"`` fits a monotone step function (needs a few hundred rows to be
    stable); ``method="sigmoid"`` fits ``sigmoid(a * logit(p) + b)`` by maximum
    likelihood with Platt's smoothed targets (robust on small splits). Multiclass
    probabilities are calibrated one-vs-rest per class, then renormalised.
    """

    def __init__(self, method: CalibrationMethod = "isotonic") -> None:
        self.method = method

    def fit(
        self,
        proba: npt.ArrayLike,
        y_true: npt.ArrayLike,
        classes: Sequence[Any] | npt.ArrayLike | None = None,
    ) -> ScoreCalibrator:
        """Learn the mapping from ``proba`` (as in :mod:`.classification`) to ``y_true``."""
        if self.method not in CALIBRATION_METHODS:
            raise InvalidInputError(
                f"unknown calibration method {self.method!r}; "
                f"allowed: {', '.join(CALIBRATION_METHODS)}",
                field="method",
            )
        from sklearn.isotonic import IsotonicRegression

        data = ClassificationInputs.from_arrays(y_true, proba, classes)
        self.classes_ = data.classes
        columns = [1] if data.binary else list(range(len(data.classes)))
        self.mappings_: list[IsotonicRegression | tuple[float, float]] = []
        for c in columns:
            scores = data.proba[:, c]
            outcome = (data.y == c).astype(np.float64)
            if self.method == "isotonic":
                iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                self.mappings_.append(iso.fit(scores, outcome))
            else:
                self.mappings_.append(_fit_sigmoid(scores, outcome))
        return self

    def transform(self, proba: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities, in the same shape as ``proba``."""
        if not hasattr(self, "mappings_"):
            raise InvalidInputError(
                "ScoreCalibrator is not fitted; call fit first", field="calibrator"
            )
        scores = np.asarray(proba, dtype=np.float64)
        binary = len(self.classes_) == 2
        if binary and scores.ndim == 1:
            return self._map(0, scores)
        if scores.ndim != 2 or scores.shape[1] != len(self.classes_):
            raise InvalidInputError(
                f"proba must have {len(self.classes_)} columns, got shape {scores.shape}",
                field="proba",
            )
        if binary:
            positive = self._map(0, scores[:, 1])
            return np.column_stack([1.0 - positive, positive])
        out = np.column_stack([self._map(c, scores[:, c]) for c in range(scores.shape[1])])
        sums = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / out.shape[1])
        return np.asarray(np.divide(out, sums, out=uniform, where=sums > 0), dtype=np.float64)

    def _map(self, index: int, scores: FloatArray) -> FloatArray:
        mapping = self.mappings_[index]
        if not isinstance(mapping, tuple):  # an IsotonicRegression
            return np.asarray(mapping.predict(scores), dtype=np.float64)
        a, b = mapping
        return _sigmoid(a * _logit(scores) + b)


def calibration_report(
    calibrator: ScoreCalibrator,
    proba: npt.ArrayLike,
    y_true: npt.ArrayLike,
    classes: Sequence[Any] | npt.ArrayLike | None = None,
    *,
    n_bins: int = DEFAULT_N_BINS,
) -> CalibrationReport:
    """ECE of ``proba`` on ``y_true`` (the holdout) before and after ``calibrator``."""
    labels = calibrator.classes_ if classes is None else classes
    before = expected_calibration_error(y_true, proba, labels, n_bins=n_bins)
    after = expected_calibration_error(y_true, calibrator.transform(proba), labels, n_bins=n_bins)
    return CalibrationReport(calibrator.method, before, after, len(np.asarray(y_true)), n_bins)


def calibrate_classifier(
    model: Any,
    x_calibration: Any,
    y_calibration: npt.ArrayLike,
    *,
    method: CalibrationMethod = "isotonic",
) -> CalibratedClassifierCV:
    """Calibrate an already fitted classifier on a calibration split, without refitting.

    Returns a fitted ``CalibratedClassifierCV`` around ``FrozenEstimator(model)``; its
    ``predict_proba`` gives calibrated probabilities. Every class needs at least 5 rows
    in the calibration split (scikit-learn's cross-validated predictions).
    """
    if method not in CALIBRATION_METHODS:
        raise InvalidInputError(
            f"unknown calibration method {method!r}; allowed: {', '.join(CALIBRATION_METHODS)}",
            field="method",
        )
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method=method)
    try:
        return calibrated.fit(x_calibration, y_calibration)
    except ValueError as exc:
        raise InvalidInputError(f"cannot calibrate: {exc}", field="calibration") from None


def _logit(p: FloatArray) -> FloatArray:
    clipped = np.clip(p, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.asarray(np.log(clipped) - np.log1p(-clipped), dtype=np.float64)


def _sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


def _fit_sigmoid(scores: FloatArray, outcome: FloatArray) -> tuple[float, float]:
    """Maximum-likelihood ``(a, b)`` for ``sigmoid(a * logit(p) + b)`` (Platt targets)."""
    x = _logit(scores)
    n_pos = float(outcome.sum())
    n_neg = float(len(outcome) - n_pos)
    target = np.where(outcome > 0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(params: FloatArray) -> tuple[float, FloatArray]:
        z = params[0] * x + params[1]
        # log(1 + e^z) - t z, computed stably
        value = float(np.sum(np.logaddexp(0.0, z) - target * z))
        residual = _sigmoid(z) - target
        return value, np.array([float(residual @ x), float(residual.sum())])

    from scipy.optimize import minimize

    fitted = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(fitted.x[0]), float(fitted.x[1])
