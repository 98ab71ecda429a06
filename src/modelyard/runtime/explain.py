"""Cheap per-feature contributions: tree SHAP for LightGBM, coefficient × value for
linear scikit-learn models (summed back onto the input columns they came from)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import InvalidInputError

BIAS = "__bias__"


def linear_contributions(model: Any, frame: pd.DataFrame) -> list[dict[str, float]]:
    """For a (pipeline ending in a) linear model: coef × transformed value per column.

    Binary classifiers explain the log-odds of the positive class; regressors the
    prediction. One-hot and other derived features are summed onto their input column.
    """
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    coef = getattr(final, "coef_", None)
    if coef is None:
        raise InvalidInputError(
            f"explanations are not available for {type(final).__name__}: only linear "
            "models (coefficient × value) and LightGBM (tree contributions) are supported",
            field="explain",
        )
    coef = np.asarray(coef, dtype=float)
    if coef.ndim == 2 and coef.shape[0] > 1:
        raise InvalidInputError(
            "explanations for multiclass linear models are not supported", field="explain"
        )
    coef = coef.reshape(-1)
    if steps and len(steps) > 1:
        head = model[:-1]
        transformed = head.transform(frame)
        names = [str(n) for n in head.get_feature_names_out()]
    else:
        transformed = frame.to_numpy(dtype=float)
        names = [str(c) for c in frame.columns]
    matrix = transformed.toarray() if hasattr(transformed, "toarray") else np.asarray(transformed)
    parts = matrix.astype(float) * coef
    owners = [_owner(name, list(frame.columns)) for name in names]
    intercept = float(np.asarray(getattr(final, "intercept_", 0.0)).reshape(-1)[0])
    out = []
    for row in parts:
        contributions: dict[str, float] = dict.fromkeys(frame.columns, 0.0)
        for owner, value in zip(owners, row, strict=True):
            contributions[owner] = contributions.get(owner, 0.0) + float(value)
        contributions[BIAS] = intercept
        out.append(contributions)
    return out


def _owner(transformed_name: str, columns: list[str]) -> str:
    """The input column a transformed feature came from (``numeric__age`` → ``age``,
    ``categorical__region_north`` → ``region``)."""
    bare = transformed_name.split("__", 1)[-1]
    if bare in columns:
        return bare
    matches = [c for c in columns if bare.startswith(f"{c}_")]
    return max(matches, key=len) if matches else bare


def tree_contributions(
    booster: Any, features: pd.DataFrame, columns: list[str]
) -> list[dict[str, float]]:
    """LightGBM's exact tree contributions (``pred_contrib``), binary/regression only."""
    raw = np.asarray(booster.predict(features, pred_contrib=True), dtype=float)
    if raw.shape[1] != len(columns) + 1:
        raise InvalidInputError(
            "explanations for multiclass LightGBM models are not supported", field="explain"
        )
    return [
        {**{c: float(v) for c, v in zip(columns, row[:-1], strict=True)}, BIAS: float(row[-1])}
        for row in raw
    ]
