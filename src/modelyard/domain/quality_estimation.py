"""Live classifier quality without labels: confidence-based performance estimation (CBPE).

Labels arrive late or never, yet a classifier's own probabilities say how often it
should be right, *if they are calibrated*: among rows scored 0.8, 80% are positive.
This is the idea behind NannyML's confidence-based performance estimation (CBPE): treat
each row's calibrated probability as the chance that its label is each class, and
take the expected value of the confusion matrix instead of counting a real one.

For the model's prediction ``ŷ_i`` and calibrated probabilities ``p_i``:

* expected **accuracy** = ``mean_i p_i[ŷ_i]`` (the mean top probability when ``ŷ`` is
  the most probable class);
* per class ``c`` (binary: the positive class ``classes[1]``; multiclass: macro mean
  over classes, as :mod:`modelyard.domain.evaluation.classification` reports):
  ``TP = Σ_{ŷ_i=c} p_i[c]``, ``FP = Σ_{ŷ_i=c} (1 - p_i[c])``,
  ``FN = Σ_{ŷ_i≠c} p_i[c]``; **precision** ``TP/(TP+FP)``, **recall** ``TP/(TP+FN)``,
  **f1** ``2TP/(2TP+FP+FN)`` (0 when undefined). These are ratios of expectations,
  which approximate the expected ratios well once a window holds a few hundred rows;
* **roc_auc**: rows ranked by the model's own score for ``c``, each counted as a
  positive with weight ``p_i[c]`` and a negative with weight ``1 - p_i[c]``, so
  ``AUC = Σ_{i,j} p_i (1 - p_j) [s_i > s_j] (ties ½) / (Σ p · Σ (1 - p))``.

Predictions come from the raw probabilities (what the server answered: the most
probable class, binary ``p > threshold``); only their *correctness* is judged with the
calibrated ones. When the model's probabilities are not calibrated (boosted trees
and neural networks rarely are), fit :func:`calibrate_reference` (isotonic regression)
on labelled reference data — the holdout or early feedback — and pass it as
``calibrator``; otherwise an over-confident model over-estimates its own accuracy.
CBPE assumes the relation between scores and correctness holds in production (covariate
shift only); under concept drift it cannot see the change — which is why
:func:`blend` switches to the realized metric as soon as enough labels arrive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelyard.domain.evaluation.calibration import ScoreCalibrator
from modelyard.errors import InvalidInputError

FloatArray = npt.NDArray[np.float64]
MetricSource = Literal["realized", "estimated", "none"]

ESTIMATED_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
#: Labelled rows a window needs before :func:`blend` reports the realized metric.
DEFAULT_MIN_LABELS = 100
_SUM_TOLERANCE = 1e-3

ProbabilityInput = Sequence[Mapping[Any, float]] | npt.ArrayLike


@dataclass(frozen=True)
class PerformanceEstimate:
    """CBPE metrics of one window of predictions (``None``: undefined, e.g. one class)."""

    metrics: dict[str, float | None]
    n: int
    classes: list[Any]
    calibrated: bool
    method: str = "cbpe"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "method": self.method,
            "metrics": dict(self.metrics),
            "n": self.n,
            "classes": [_plain(c) for c in self.classes],
            "calibrated": self.calibrated,
        }


@dataclass(frozen=True)
class LiveMetric:
    """The metric to report for a window, and where it came from (see :func:`blend`)."""

    value: float | None
    source: MetricSource
    estimated: float | None
    realized: float | None
    n_labelled: int
    n_total: int
    min_labels: int

    @property
    def label_coverage(self) -> float | None:
        """Share of the window's predictions that have a label."""
        return self.n_labelled / self.n_total if self.n_total else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "value": self.value,
            "source": self.source,
            "estimated": self.estimated,
            "realized": self.realized,
            "n_labelled": self.n_labelled,
            "n_total": self.n_total,
            "label_coverage": self.label_coverage,
            "min_labels": self.min_labels,
        }


def probability_matrix(
    probabilities: ProbabilityInput, classes: Sequence[Any] | None = None
) -> tuple[FloatArray, list[Any]]:
    """Normalise predicted probabilities to an ``(n, K)`` matrix and its class order.

    Accepted forms: a sequence of per-row mappings ``{class: probability}`` (a class a
    row leaves out has probability 0; classes default to the sorted union of keys); a
    matrix with one column per class (classes default to ``0..K-1``); or a vector of
    positive-class probabilities of a binary model (classes default to ``[0, 1]``).
    Values must lie in ``[0, 1]`` and rows sum to 1 within 1e-3 (then renormalised).
    """
    if _is_row_mappings(probabilities):
        rows = cast(list[Mapping[Any, float]], list(probabilities))  # type: ignore[arg-type]
        if classes is None:
            keys = {key for row in rows for key in row}
            try:
                labels: list[Any] = sorted(keys)
            except TypeError:
                labels = sorted(keys, key=str)
        else:
            labels = list(classes)
        index = {label: j for j, label in enumerate(labels)}
        matrix = np.zeros((len(rows), len(labels)), dtype=np.float64)
        for i, entry in enumerate(rows):
            for key, value in entry.items():
                if key not in index:
                    raise InvalidInputError(
                        f"row {i} has probability for class {key!r}, not one of {labels}",
                        field="probabilities",
                        row=i,
                    )
                matrix[i, index[key]] = _probability(value, i)
    else:
        try:
            matrix = np.asarray(probabilities, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(
                "probabilities must be numbers: a matrix, a vector or per-row mappings",
                field="probabilities",
            ) from None
        if matrix.ndim == 1:
            matrix = np.column_stack([1.0 - matrix, matrix])
            labels = [0, 1] if classes is None else list(classes)
            if len(labels) != 2:
                raise InvalidInputError(
                    f"a probability vector means a binary model; got {len(labels)} classes",
                    field="classes",
                )
        elif matrix.ndim == 2:
            labels = list(range(matrix.shape[1])) if classes is None else list(classes)
            if len(labels) != matrix.shape[1]:
                raise InvalidInputError(
                    f"probabilities have {matrix.shape[1]} columns but {len(labels)} "
                    "classes were given",
                    field="classes",
                )
        else:
            raise InvalidInputError(
                f"probabilities must be 1- or 2-dimensional, got shape {matrix.shape}",
                field="probabilities",
            )
    if len(labels) < 2:
        raise InvalidInputError("need at least two classes", field="classes")
    if not pd.Index(labels).is_unique:
        raise InvalidInputError(f"classes must be distinct, got {labels}", field="classes")
    if matrix.shape[0] == 0:
        raise InvalidInputError("no predictions to estimate from", field="probabilities")
    bad = ~np.isfinite(matrix) | (matrix < 0.0) | (matrix > 1.0)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidInputError(
            f"row {row}: probabilities must lie in [0, 1]", field="probabilities", row=row
        )
    sums = matrix.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise InvalidInputError(
            f"row {row}: probabilities sum to {sums[row]:.6g}, not 1",
            field="probabilities",
            row=row,
        )
    return matrix / sums[:, None], labels


def calibrate_reference(
    probabilities: ProbabilityInput,
    labels: npt.ArrayLike | Sequence[Any],
    classes: Sequence[Any] | None = None,
) -> ScoreCalibrator:
    """Fit an isotonic calibrator on labelled reference data, for ``calibrator=``.

    Binary models get one monotone map of the positive-class probability; multiclass
    models one per class (one-vs-rest), renormalised. A few hundred labelled rows or
    more give a stable fit. Use it with probabilities in the same class order.
    """
    matrix, order = probability_matrix(probabilities, classes)
    truth = np.asarray(labels)
    if truth.ndim != 1 or len(truth) != len(matrix):
        raise InvalidInputError(
            f"labels must be a vector of {len(matrix)} class labels, got shape {truth.shape}",
            field="labels",
        )
    codes = _encode(truth, order, "labels")
    if len(np.unique(codes)) < 2:
        raise InvalidInputError(
            "calibration needs reference labels of at least two classes", field="labels"
        )
    return ScoreCalibrator(method="isotonic").fit(matrix, codes, np.arange(len(order)))


def estimate_performance(
    probabilities: ProbabilityInput,
    classes: Sequence[Any] | None = None,
    *,
    predictions: npt.ArrayLike | Sequence[Any] | None = None,
    calibrator: ScoreCalibrator | None = None,
    threshold: float = 0.5,
) -> PerformanceEstimate:
    """Expected accuracy, precision, recall, F1 and ROC AUC without labels (CBPE).

    ``probabilities`` are the model's raw outputs (any form of
    :func:`probability_matrix`); ``predictions`` the labels it answered (default: the
    most probable class; binary: positive when ``p > threshold``); ``calibrator`` (from
    :func:`calibrate_reference`) maps the raw probabilities to calibrated ones first.
    """
    raw, order = probability_matrix(probabilities, classes)
    k = len(order)
    if not 0.0 < threshold < 1.0:
        raise InvalidInputError(f"threshold must be in (0, 1), got {threshold}", field="threshold")
    if predictions is None:
        predicted = (raw[:, 1] > threshold).astype(np.intp) if k == 2 else raw.argmax(axis=1)
    else:
        values = np.asarray(predictions)
        if values.ndim != 1 or len(values) != len(raw):
            raise InvalidInputError(
                f"predictions must be a vector of {len(raw)} class labels, "
                f"got shape {values.shape}",
                field="predictions",
            )
        predicted = _encode(values, order, "predictions")
    if calibrator is None:
        proba = raw
    else:
        fitted = len(getattr(calibrator, "classes_", ()))
        if fitted != k:
            raise InvalidInputError(
                f"the calibrator was fitted for {fitted} classes, not {k}", field="calibrator"
            )
        proba = np.asarray(calibrator.transform(raw), dtype=np.float64)
    n = len(raw)
    rows = np.arange(n)
    metrics: dict[str, float | None] = {"accuracy": float(proba[rows, predicted].mean())}
    targets = [1] if k == 2 else list(range(k))
    per_class: dict[str, list[float | None]] = {"precision": [], "recall": [], "f1": [], "auc": []}
    for c in targets:
        p = proba[:, c]
        mine = predicted == c
        tp = float(p[mine].sum())
        fp = float((1.0 - p[mine]).sum())
        fn = float(p[~mine].sum())
        per_class["precision"].append(_ratio(tp, tp + fp))
        per_class["recall"].append(_ratio(tp, tp + fn))
        per_class["f1"].append(_ratio(2.0 * tp, 2.0 * tp + fp + fn))
        per_class["auc"].append(expected_roc_auc(raw[:, c], p))
    for name in ("precision", "recall", "f1"):
        metrics[name] = _mean(per_class[name])
    metrics["roc_auc"] = _mean(per_class["auc"])
    return PerformanceEstimate(
        metrics=metrics, n=n, classes=order, calibrated=calibrator is not None
    )


def expected_roc_auc(scores: npt.ArrayLike, positive_proba: npt.ArrayLike) -> float | None:
    """ROC AUC of ``scores`` expected when row ``i`` is positive with ``positive_proba[i]``.

    ``None`` when the expected positives or negatives are (numerically) zero.
    """
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(positive_proba, dtype=np.float64)
    if s.shape != p.shape or s.ndim != 1:
        raise InvalidInputError("scores and probabilities must be vectors of one length")
    unique, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse, weights=p, minlength=len(unique))
    neg = np.bincount(inverse, weights=1.0 - p, minlength=len(unique))
    total_pos, total_neg = float(pos.sum()), float(neg.sum())
    if total_pos <= 1e-12 or total_neg <= 1e-12:
        return None
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (total_pos * total_neg))


def blend(
    estimated: float | None,
    realized: float | None,
    n_labelled: int,
    n_total: int,
    *,
    min_labels: int = DEFAULT_MIN_LABELS,
) -> LiveMetric:
    """The live metric to report: realized once labels suffice, else the estimate.

    ``source`` is ``realized`` when ``realized`` is known and ``n_labelled >=
    min_labels``; else ``estimated`` when an estimate exists; else ``none`` (value
    ``None``: a handful of labels is too noisy to report, and no estimate exists).
    """
    for name, count in (("n_labelled", n_labelled), ("n_total", n_total)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInputError(f"{name} must be an integer >= 0, got {count!r}", field=name)
    if n_labelled > n_total:
        raise InvalidInputError(
            f"n_labelled ({n_labelled}) exceeds n_total ({n_total})", field="n_labelled"
        )
    if isinstance(min_labels, bool) or not isinstance(min_labels, int) or min_labels < 1:
        raise InvalidInputError(
            f"min_labels must be an integer >= 1, got {min_labels!r}", field="min_labels"
        )
    est, real = _finite(estimated), _finite(realized)
    value: float | None
    source: MetricSource
    if real is not None and n_labelled >= min_labels:
        value, source = real, "realized"
    elif est is not None:
        value, source = est, "estimated"
    else:
        value, source = None, "none"
    return LiveMetric(value, source, est, real, n_labelled, n_total, min_labels)


def _is_row_mappings(value: object) -> bool:
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence):
        return False
    return len(value) > 0 and all(isinstance(row, Mapping) for row in value)


def _probability(value: object, row: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise InvalidInputError(
            f"row {row}: probabilities must be numbers, got {value!r}",
            field="probabilities",
            row=row,
        )
    return float(value)


def _encode(values: npt.NDArray[Any], order: list[Any], field: str) -> npt.NDArray[np.intp]:
    codes = pd.Index(order).get_indexer(values)
    bad = np.flatnonzero(codes < 0)
    if len(bad):
        row = int(bad[0])
        raise InvalidInputError(
            f"row {row}: {field} holds {_plain(values[row])!r}, not one of the classes {order}",
            field=field,
            row=row,
        )
    return np.asarray(codes, dtype=np.intp)


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else 0.0


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known and len(known) == len(values) else None


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
