"""Train one model on a frame and evaluate it on a held-out split (pure, no IO)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from modelyard.errors import InvalidInputError
from modelyard.training.estimators import (
    build_estimator,
    check_kind,
    check_task,
    estimator_params,
    flavor_for,
    is_categorical,
    prepare_features,
)
from modelyard.training.metrics import classification_metrics, regression_metrics
from modelyard.training.splits import train_test_split_frame

MAX_CLASSIFICATION_INTEGER_LEVELS = 20


@dataclass
class TrainResult:
    """A fitted model with what is needed to record, sign and register it."""

    model: Any
    flavor: str
    task: str
    feature_columns: list[str]
    train_frame_features: pd.DataFrame
    target: pd.Series
    metrics: dict[str, float]
    params: dict[str, Any]
    seed: int
    duration_s: float


def infer_task(y: pd.Series) -> str:
    """``classification`` for bool, string-like or integer targets with ≤ 20 values."""
    dtype = y.dtype
    if ptypes.is_bool_dtype(dtype) or is_categorical(y):
        return "classification"
    if ptypes.is_integer_dtype(dtype) and y.nunique() <= MAX_CLASSIFICATION_INTEGER_LEVELS:
        return "classification"
    return "regression"


def feature_columns_of(frame: pd.DataFrame, target: str) -> list[str]:
    """Every column but the target and datetime columns, in frame order."""
    return [
        str(name)
        for name in frame.columns
        if name != target and not ptypes.is_datetime64_any_dtype(frame[name].dtype)
    ]


def train_model(
    frame: pd.DataFrame,
    *,
    target: str,
    kind: str,
    seed: int = 0,
    test_size: float = 0.2,
    task: str | None = None,
    params: dict[str, Any] | None = None,
) -> TrainResult:
    """Fit a ``kind`` model predicting ``target`` and score it on a held-out split.

    The split is stratified for classification; the same frame, arguments and ``seed``
    give the same model and metrics. ``params`` override the model's default
    parameters. Raises :class:`InvalidInputError` (with ``field``) for an empty frame,
    a missing, null-containing or constant target, an unusable task, no feature columns
    or a feature column that is entirely null or of an unsupported type.
    """
    started = time.perf_counter()
    check_kind(kind)
    if len(frame) == 0 or len(frame.columns) == 0:
        raise InvalidInputError("cannot train on an empty frame", field=None)
    if target not in frame.columns:
        raise InvalidInputError(f"target column {target!r} not found in the frame", field="target")
    y_all = frame[target]
    n_missing = int(y_all.isna().sum())
    if n_missing:
        raise InvalidInputError(
            f"target column {target!r} has {n_missing} missing value(s)", field="target"
        )
    if y_all.nunique() < 2:
        raise InvalidInputError(
            f"target column {target!r} is constant; it needs at least 2 distinct values",
            field="target",
        )
    task = check_task(task) if task is not None else infer_task(y_all)
    if task == "regression" and not (
        ptypes.is_numeric_dtype(y_all.dtype) and not ptypes.is_bool_dtype(y_all.dtype)
    ):
        raise InvalidInputError(
            f"regression needs a numeric target; {target!r} has dtype {y_all.dtype}",
            field="target",
        )

    feature_columns = feature_columns_of(frame, target)
    if not feature_columns:
        raise InvalidInputError(
            "no feature columns: every column is the target or a timestamp", field="features"
        )
    numeric_cols: list[str] = []
    categorical_cols: list[str] = []
    for name in feature_columns:
        column = frame[name]
        if column.isna().all():
            raise InvalidInputError(f"feature column {name!r} has only missing values", field=name)
        if ptypes.is_bool_dtype(column.dtype) or (
            ptypes.is_numeric_dtype(column.dtype) and not ptypes.is_complex_dtype(column.dtype)
        ):
            numeric_cols.append(name)
        elif is_categorical(column):
            categorical_cols.append(name)
        else:
            raise InvalidInputError(
                f"feature column {name!r} has unsupported dtype {column.dtype}", field=name
            )

    train, test = train_test_split_frame(
        frame,
        target,
        test_size=test_size,
        seed=seed,
        stratify=task == "classification",
    )
    model = build_estimator(kind, task, numeric_cols, categorical_cols, seed, params)
    x_train = prepare_features(train, kind, feature_columns)
    x_test = prepare_features(test, kind, feature_columns)
    y_train = train[target]
    y_test = test[target]
    try:
        model.fit(x_train, y_train)
    except _data_errors(kind) as exc:  # the data cannot be fitted (e.g. mixed-type column)
        raise InvalidInputError(f"training {kind} failed: {exc}", field=None) from None

    metrics: dict[str, float]
    if task == "classification":
        classes = np.asarray(model.classes_)
        metrics = classification_metrics(
            y_test.to_numpy(), model.predict(x_test), model.predict_proba(x_test), classes
        )
    else:
        metrics = regression_metrics(y_test.to_numpy(), model.predict(x_test))

    run_params: dict[str, Any] = estimator_params(model)
    run_params.update(
        {
            "kind": kind,
            "task": task,
            "target": target,
            "test_size": float(test_size),
            "seed": int(seed),
            "n_train": len(train),
            "n_test": len(test),
            "n_features": len(feature_columns),
        }
    )
    return TrainResult(
        model=model,
        flavor=flavor_for(kind),
        task=task,
        feature_columns=feature_columns,
        train_frame_features=train.loc[:, feature_columns].copy(),
        target=y_train.copy(),
        metrics=metrics,
        params=run_params,
        seed=int(seed),
        duration_s=time.perf_counter() - started,
    )


def _data_errors(kind: str) -> tuple[type[Exception], ...]:
    errors: tuple[type[Exception], ...] = (ValueError, TypeError)
    if kind == "lightgbm":
        import lightgbm

        errors += (lightgbm.basic.LightGBMError,)
    return errors
