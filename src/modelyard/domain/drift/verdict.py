"""From test results to verdicts: per column, then for the whole endpoint.

The rules and their defaults are described in :mod:`modelyard.domain.drift.config`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from modelyard.domain.drift.config import DriftConfig
from modelyard.domain.drift.multiple_testing import adjust_p_values
from modelyard.domain.drift.report import ColumnDrift, MultivariateResult, Status
from modelyard.errors import InvalidInputError


def importance_weights(
    features: Sequence[str], importance: Mapping[str, float] | None
) -> dict[str, float]:
    """Feature weights summing to 1: ``importance`` normalised, or equal weights.

    Features that ``importance`` does not name weigh 0; naming a column that is not a
    feature, or giving a negative or non-finite value, is an error.
    """
    if not features:
        return {}
    if importance is None:
        return {name: 1.0 / len(features) for name in features}
    unknown = sorted(set(importance) - set(features))
    if unknown:
        raise InvalidInputError(
            f"importance names columns that are not profiled features: {', '.join(unknown)}",
            field="importance",
        )
    raw: dict[str, float] = {}
    for name in features:
        value = float(importance.get(name, 0.0))
        if not math.isfinite(value) or value < 0:
            raise InvalidInputError(
                f"importance of {name!r} must be a finite number >= 0, got {value!r}",
                field="importance",
            )
        raw[name] = value
    total = sum(raw.values())
    if total <= 0:
        raise InvalidInputError(
            "importance must give some feature a weight > 0", field="importance"
        )
    return {name: value / total for name, value in raw.items()}


def apply_column_verdicts(columns: Sequence[ColumnDrift], config: DriftConfig) -> list[ColumnDrift]:
    """Adjust the p-values of the tested columns together and mark each column's status.

    A column drifts when its adjusted p-value is below ``alpha`` and its effect size
    is large; untested (insufficient) columns are left as they are.
    """
    tested = [i for i, entry in enumerate(columns) if entry.p_value is not None]
    raw = np.array([columns[i].p_value for i in tested], dtype=np.float64)
    adjusted = adjust_p_values(raw, config.correction)
    out = list(columns)
    for i, p_adjusted in zip(tested, adjusted.tolist(), strict=True):
        significant = p_adjusted < config.alpha
        status: Status = "drift" if significant and columns[i].large_effect else "ok"
        out[i] = replace(
            columns[i], p_value_adjusted=p_adjusted, significant=significant, status=status
        )
    return out


@dataclass(frozen=True)
class EndpointVerdict:
    """The overall status, the columns behind it and why."""

    status: Status
    drivers: tuple[str, ...]
    drifted_columns: tuple[str, ...]
    share_drifted: float
    drifted_weight: float
    reasons: tuple[str, ...]


def endpoint_verdict(
    columns: Sequence[ColumnDrift],
    multivariate: MultivariateResult | None,
    config: DriftConfig,
    insufficient: Sequence[str] = (),
) -> EndpointVerdict:
    """Combine column verdicts (with their weights) and the multivariate check.

    ``insufficient`` lists reasons the window cannot be judged at all (too few rows);
    when non-empty, or when no column could be tested, the status is
    ``insufficient_data``.
    """
    drifted = tuple(entry.column for entry in columns if entry.drifted)
    features = [entry for entry in columns if entry.role == "feature"]
    tested = [entry for entry in features if entry.status != "insufficient_data"]
    drifted_features = sorted(
        (entry for entry in tested if entry.drifted),
        key=lambda entry: (-entry.weight, -_effect(entry), entry.column),
    )
    share = len(drifted_features) / len(tested) if tested else 0.0
    weight = float(sum(entry.weight for entry in drifted_features))
    if insufficient or not any(entry.status != "insufficient_data" for entry in columns):
        why = tuple(insufficient) or ("no column has enough non-null values to test",)
        return EndpointVerdict("insufficient_data", (), drifted, share, weight, why)

    reasons: list[str] = []
    drivers: list[str] = []
    predictions = [e for e in columns if e.role == "prediction" and e.drifted]
    for entry in predictions:
        drivers.append(entry.column)
        reasons.append(f"prediction column {entry.column!r} drifted")
    weighted = [e.column for e in drifted_features if e.weight > 0]
    if weight >= config.drift_share:
        drivers.extend(weighted)
        reasons.append(
            f"drifted columns carry {weight:.0%} of the feature weight "
            f"(threshold {config.drift_share:.0%}): {', '.join(weighted)}"
        )
    elif drifted_features:
        reasons.append(
            f"drifted columns carry {weight:.0%} of the feature weight, below the "
            f"{config.drift_share:.0%} threshold: "
            f"{', '.join(e.column for e in drifted_features)}"
        )
    status: Status = "drift" if predictions or weight >= config.drift_share else "ok"
    if multivariate is not None and multivariate.drifted:
        auc = (
            f"AUC {multivariate.auc:.3f} >= {config.auc_threshold} (p = {multivariate.p_value:.2g})"
        )
        if drifted_features:
            reasons.append(f"domain classifier {auc}, explained by the drifted columns")
        else:
            status = "drift"
            reasons.append(
                f"domain classifier separates reference from current rows ({auc}) although "
                "no column drifted on its own: the columns' joint distribution changed"
            )
    if status == "ok" and not drifted_features:
        reasons.append("no column drifted")
    return EndpointVerdict(status, tuple(drivers), drifted, share, weight, tuple(reasons))


def _effect(entry: ColumnDrift) -> float:
    values = (entry.wasserstein_normalized, entry.psi, entry.js_distance)
    return max((v for v in values if v is not None and math.isfinite(v)), default=0.0)
