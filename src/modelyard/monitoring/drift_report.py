"""``drift_report``: compare a window of production data with a reference.

    from modelyard.monitoring.drift_report import drift_report
    report = drift_report(train_df, window_df, categorical=["plan"], prediction="score")
    report.status            # "ok" | "drift" | "insufficient_data"
    report.drivers           # columns behind a "drift" verdict
    report.to_dict()         # JSON-able

For repeated windows build the reference once -- ``DriftReference.from_frame(train_df,
categorical=[...])`` -- and pass it instead of the frame; it can be stored with
``to_bytes()`` and reloaded with ``DriftReference.from_bytes()``. Thresholds and the
rules behind the verdicts: :mod:`modelyard.domain.drift.config`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from modelyard.domain.drift import DriftConfig, DriftReference, DriftReport, detect_drift
from modelyard.errors import InvalidInputError

_HOW_TO_SET = (
    "pass the training (or validation) data as `reference=` -- a DataFrame, or a "
    "DriftReference built once with DriftReference.from_frame(df, categorical=[...]) "
    "(store it with .to_bytes() and reload it with DriftReference.from_bytes())"
)


def drift_report(
    reference: pd.DataFrame | DriftReference | None,
    current: pd.DataFrame,
    categorical: list[str] | None = None,
    *,
    prediction: str | None = None,
    importance: dict[str, float] | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """Drift of ``current`` against ``reference``, per column and overall.

    Parameters
    ----------
    reference
        The data the model was trained on, as a DataFrame or a prebuilt
        :class:`DriftReference` (faster for repeated windows).
    current
        The window to check; it must contain every reference column.
    categorical
        Columns to treat as categorical; others are inferred from their dtype. With a
        prebuilt reference it must match the reference's categorical columns.
    prediction
        The model output column (a score, probability or label), tested for
        prediction drift. A prebuilt reference brings its own.
    importance
        Feature importances; drift in important columns weighs more in the verdict.
    config
        Thresholds; defaults are documented in :mod:`modelyard.domain.drift.config`.

    Raises
    ------
    InvalidInputError
        No reference, a mismatched prebuilt reference, or unusable input.
    """
    config = DriftConfig() if config is None else config
    if reference is None:
        raise InvalidInputError(f"no drift reference is set: {_HOW_TO_SET}", field="reference")
    if isinstance(reference, pd.DataFrame) and (reference.empty or len(reference.columns) == 0):
        raise InvalidInputError(
            f"the drift reference frame is empty ({len(reference)} rows, "
            f"{len(reference.columns)} columns): {_HOW_TO_SET}",
            field="reference",
        )
    if isinstance(reference, DriftReference):
        profile = reference
        if categorical is not None and set(categorical) != set(profile.categorical):
            raise InvalidInputError(
                f"categorical={sorted(categorical)} does not match the prebuilt reference's "
                f"categorical columns {profile.categorical}; rebuild the reference to change them",
                field="categorical",
            )
        if prediction is not None and prediction != profile.prediction:
            raise InvalidInputError(
                f"prediction={prediction!r} but the prebuilt reference profiles "
                f"{profile.prediction!r}; rebuild it with DriftReference.from_frame(..., "
                f"prediction={prediction!r})",
                field="prediction",
            )
    elif isinstance(reference, pd.DataFrame):
        profile = DriftReference.from_frame(
            reference,
            categorical,
            prediction=prediction,
            sample_rows=config.multivariate_max_rows,
            random_state=config.random_state,
        )
    else:
        raise InvalidInputError(
            f"reference must be a DataFrame or a DriftReference, got {type(reference).__name__}: "
            f"{_HOW_TO_SET}",
            field="reference",
        )
    return detect_drift(profile, current, importance=_as_mapping(importance), config=config)


def _as_mapping(importance: Mapping[str, float] | None) -> Mapping[str, float] | None:
    if importance is not None and not isinstance(importance, Mapping):
        raise InvalidInputError(
            "importance must be a dict of column name to importance", field="importance"
        )
    return importance
