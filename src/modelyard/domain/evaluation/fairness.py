"""Per-subgroup metrics and fairness gaps for each sensitive column.

For a binary decision (``positive_label`` versus the rest) and a sensitive column:

``dp_diff``
    Demographic parity difference: max minus min, across groups, of the positive
    prediction rate (share of rows predicted ``positive_label``).
``tpr_diff`` / ``fpr_diff``
    Max minus min true-positive rate / false-positive rate across groups (groups with no
    actual positives, resp. negatives, have no such rate and are skipped).
``eo_diff``
    Equalized odds difference: ``max(tpr_diff, fpr_diff)``.

Gaps are computed over **all** groups, small ones included; a group with fewer than
``min_group_size`` rows is listed in ``small_groups`` so a reader can discount it.
Missing sensitive values form their own group, named :data:`MISSING_GROUP`. A gap that
no two groups define is NaN (``None`` in :meth:`FairnessReport.to_dict`); a single
group gives gaps of 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import roc_auc_score

from modelyard.domain.evaluation.bootstrap import finite_or_none
from modelyard.errors import InvalidInputError

DEFAULT_MIN_GROUP_SIZE = 30
MISSING_GROUP = "<missing>"


@dataclass(frozen=True)
class GroupMetrics:
    """Metrics of one group of a sensitive column (NaN where undefined)."""

    group: str
    n: int
    small: bool
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"n", "small", <metric>: value or None, ...}``."""
        out: dict[str, Any] = {"n": self.n, "small": self.small}
        out.update({name: finite_or_none(v) for name, v in self.metrics.items()})
        return out


@dataclass(frozen=True)
class FairnessReport:
    """Group metrics and gaps for one sensitive column (see the module docstring)."""

    column: str
    groups: tuple[GroupMetrics, ...]
    gaps: dict[str, float]
    min_group_size: int

    @property
    def small_groups(self) -> list[str]:
        """Names of the groups below ``min_group_size`` rows."""
        return [g.group for g in self.groups if g.small]

    def to_dict(self) -> dict[str, Any]:
        """``{<gap>: value, "small_groups", "min_group_size", "groups": {name: {...}}}``.

        This is the shape gates read: ``fairness.<column>.dp_diff``.
        """
        out: dict[str, Any] = {name: finite_or_none(v) for name, v in self.gaps.items()}
        out["small_groups"] = self.small_groups
        out["min_group_size"] = self.min_group_size
        out["groups"] = {g.group: g.to_dict() for g in self.groups}
        return out


def fairness_report(
    column: str,
    sensitive: npt.ArrayLike,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    positive_label: Any = None,
    scores: npt.ArrayLike | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> FairnessReport:
    """Classification metrics per group of ``sensitive`` and the fairness gaps.

    ``positive_label`` defaults to the larger of two labels (``1``, ``True``, ...); with
    more than two labels it must be given. ``scores`` (the positive-class probability),
    when given, adds a per-group ``roc_auc``. Group metrics: ``positive_rate``,
    ``base_rate``, ``tpr``, ``fpr``, ``accuracy``, ``precision``, ``f1`` (and ``roc_auc``).
    """
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    codes, names = _groups(sensitive, len(truth), column)
    if pred.shape != truth.shape:
        raise InvalidInputError("y_pred and y_true differ in shape", field="y_pred")
    positive = _positive_label(truth, pred, positive_label)
    actual = truth == positive
    predicted = pred == positive
    score_arr = None if scores is None else np.asarray(scores, dtype=np.float64)
    if score_arr is not None and score_arr.shape != truth.shape:
        raise InvalidInputError("scores must be 1-D, one per row", field="scores")

    groups: list[GroupMetrics] = []
    for code, name in enumerate(names):
        mask = codes == code
        a, p = actual[mask], predicted[mask]
        n, n_pos = int(mask.sum()), int(a.sum())
        tp = int((a & p).sum())
        fp = int((~a & p).sum())
        metrics = {
            "positive_rate": float(p.mean()),
            "base_rate": float(a.mean()),
            "tpr": tp / n_pos if n_pos else math.nan,
            "fpr": fp / (n - n_pos) if n - n_pos else math.nan,
            "accuracy": float((a == p).mean()),
            "precision": tp / int(p.sum()) if p.any() else 0.0,
            "f1": 2 * tp / (int(p.sum()) + n_pos) if p.any() or n_pos else 0.0,
        }
        if score_arr is not None:
            metrics["roc_auc"] = (
                float(roc_auc_score(a, score_arr[mask])) if 0 < n_pos < n else math.nan
            )
        groups.append(GroupMetrics(name, n, n < min_group_size, metrics))

    tpr_diff = _spread([g.metrics["tpr"] for g in groups])
    fpr_diff = _spread([g.metrics["fpr"] for g in groups])
    finite = [v for v in (tpr_diff, fpr_diff) if not math.isnan(v)]
    gaps = {
        "dp_diff": _spread([g.metrics["positive_rate"] for g in groups]),
        "eo_diff": max(finite) if finite else math.nan,
        "tpr_diff": tpr_diff,
        "fpr_diff": fpr_diff,
    }
    return FairnessReport(column, tuple(groups), gaps, min_group_size)


def regression_fairness_report(
    column: str,
    sensitive: npt.ArrayLike,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> FairnessReport:
    """Regression metrics per group (``mae``, ``rmse``, ``mean_error``) and their gaps.

    Gaps: ``mae_diff`` (max minus min MAE) and ``mean_error_diff`` (max minus min mean
    signed error, ``prediction - truth``).
    """
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if pred.shape != truth.shape:
        raise InvalidInputError("y_pred and y_true differ in shape", field="y_pred")
    codes, names = _groups(sensitive, len(truth), column)
    groups: list[GroupMetrics] = []
    for code, name in enumerate(names):
        error = pred[codes == code] - truth[codes == code]
        metrics = {
            "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error**2).mean())),
            "mean_error": float(error.mean()),
        }
        groups.append(GroupMetrics(name, len(error), len(error) < min_group_size, metrics))
    gaps = {
        "mae_diff": _spread([g.metrics["mae"] for g in groups]),
        "mean_error_diff": _spread([g.metrics["mean_error"] for g in groups]),
    }
    return FairnessReport(column, tuple(groups), gaps, min_group_size)


def fairness_by_column(
    sensitive: Mapping[str, npt.ArrayLike] | pd.DataFrame,
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    task: str = "classification",
    positive_label: Any = None,
    scores: npt.ArrayLike | None = None,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
) -> dict[str, FairnessReport]:
    """One report per sensitive column (``task``: ``classification`` or ``regression``)."""
    columns: dict[str, npt.ArrayLike] = {str(c): v for c, v in sensitive.items()}
    if task == "regression":
        return {
            name: regression_fairness_report(
                name, values, y_true, y_pred, min_group_size=min_group_size
            )
            for name, values in columns.items()
        }
    return {
        name: fairness_report(
            name,
            values,
            y_true,
            y_pred,
            positive_label=positive_label,
            scores=scores,
            min_group_size=min_group_size,
        )
        for name, values in columns.items()
    }


def _groups(
    sensitive: npt.ArrayLike, n: int, column: str
) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Group code per row (groups sorted by name) and the group names."""
    series = pd.Series(np.asarray(sensitive, dtype=object))
    if len(series) != n:
        raise InvalidInputError(
            f"sensitive column {column!r} has {len(series)} values, expected {n}", field=column
        )
    if n == 0:
        raise InvalidInputError("cannot compute fairness on an empty holdout", field=column)
    labels = series.map(lambda v: MISSING_GROUP if pd.isna(v) else str(v))
    names = sorted(set(labels.tolist()))
    codes = pd.Index(names).get_indexer(labels)
    return codes.astype(np.intp), names


def _positive_label(truth: npt.NDArray[Any], pred: npt.NDArray[Any], given: Any) -> Any:
    if given is not None:
        return given
    labels = pd.unique(pd.Series(np.concatenate([truth, pred]), dtype=object))
    try:
        ordered = sorted(labels.tolist())
    except TypeError:
        ordered = sorted(labels.tolist(), key=str)
    if len(ordered) > 2:
        raise InvalidInputError(
            f"{len(ordered)} labels found; pass positive_label for fairness metrics",
            field="positive_label",
        )
    return ordered[-1]


def _spread(values: list[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    if not defined:
        return math.nan
    return float(max(defined) - min(defined))
