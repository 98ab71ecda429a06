"""Estimators for each model kind, built only from plain library types.

Pipelines use stock scikit-learn classes (no lambdas, no custom transformers) so skops
can persist them without trusting any extra type; LightGBM models use LightGBM's own
scikit-learn wrappers and native model format.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.errors import InvalidInputError

MODEL_KINDS = ("logistic_regression", "random_forest", "lightgbm")
TASKS = ("classification", "regression")
SKLEARN_KINDS = ("logistic_regression", "random_forest")
MODEL_STEP = "model"
PREPROCESS_STEP = "preprocess"
_SENTINELS = frozenset({"deprecated", "warn"})


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`MODEL_KINDS`, else raise InvalidInputError."""
    if kind not in MODEL_KINDS:
        raise InvalidInputError(
            f"unknown model kind {kind!r}; allowed: {', '.join(MODEL_KINDS)}", field="kind"
        )
    return kind


def check_task(task: str) -> str:
    """Return ``task`` if it is one of :data:`TASKS`, else raise InvalidInputError."""
    if task not in TASKS:
        raise InvalidInputError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}", field="task")
    return task


def flavor_for(kind: str) -> str:
    """The model flavor (how it is saved and loaded) for a model kind."""
    return "lightgbm" if check_kind(kind) == "lightgbm" else "sklearn"


def build_estimator(
    kind: str,
    task: str,
    numeric_cols: Sequence[str],
    categorical_cols: Sequence[str],
    seed: int,
    params: dict[str, Any] | None = None,
) -> Any:
    """Build an unfitted estimator for ``kind`` and ``task``.

    ``logistic_regression`` / ``random_forest`` give a scikit-learn :class:`Pipeline`
    (impute + scale numeric columns, impute + one-hot categorical ones, then the model);
    ``lightgbm`` gives an ``LGBMClassifier`` / ``LGBMRegressor`` that reads categorical
    columns as pandas ``category`` (see :func:`prepare_features`). ``params`` override
    the final model's parameters; unknown names raise InvalidInputError.
    """
    check_kind(kind)
    check_task(task)
    classification = task == "classification"
    model: Any
    if kind == "lightgbm":
        lightgbm = _import_lightgbm()
        cls = lightgbm.LGBMClassifier if classification else lightgbm.LGBMRegressor
        model = cls(n_estimators=100, verbose=-1, random_state=seed, n_jobs=1)
        _set_params(model, params, kind)
        return model
    if kind == "logistic_regression":
        model = (
            LogisticRegression(max_iter=1000, random_state=seed)
            if classification
            else LinearRegression()
        )
    else:
        rf_cls = RandomForestClassifier if classification else RandomForestRegressor
        model = rf_cls(n_estimators=200, n_jobs=1, random_state=seed)
    _set_params(model, params, kind)
    return Pipeline(
        [
            (PREPROCESS_STEP, _preprocessor(numeric_cols, categorical_cols)),
            (MODEL_STEP, model),
        ]
    )


def final_estimator(estimator: Any) -> Any:
    """The model at the end of a pipeline (or the estimator itself)."""
    if isinstance(estimator, Pipeline):
        return estimator.steps[-1][1]
    return estimator


def estimator_params(estimator: Any) -> dict[str, Any]:
    """The final model's parameters that are JSON scalars (str, int, float, bool, None)."""
    model = final_estimator(estimator)
    if not isinstance(model, BaseEstimator):
        return {}
    out: dict[str, Any] = {}
    for name, value in sorted(model.get_params(deep=False).items()):
        if isinstance(value, str) and value in _SENTINELS:
            continue  # e.g. scikit-learn's "deprecated" placeholder for a retired parameter
        if value is None or isinstance(value, str | bool | int | float):
            out[name] = value
    return out


def is_categorical(series: pd.Series) -> bool:
    """True for string-like columns (str, string, object, category) that get encoded."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype) or ptypes.is_numeric_dtype(dtype):
        return False
    return (
        ptypes.is_string_dtype(dtype)
        or ptypes.is_object_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def prepare_features(
    frame: pd.DataFrame, kind: str, feature_columns: Sequence[str]
) -> pd.DataFrame:
    """Select ``feature_columns`` in order and convert them to what ``kind`` expects.

    For ``lightgbm`` string-like columns become pandas ``category`` (LightGBM keeps the
    training categories in its model file and maps new frames onto them); scikit-learn
    kinds take the columns as they are. A missing column raises InvalidInputError.
    """
    check_kind(kind)
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"missing feature column(s): {', '.join(missing)}", field=missing[0]
        )
    features = frame.loc[:, list(feature_columns)].copy()
    if kind == "lightgbm":
        for name in feature_columns:
            column = features[name]
            if is_categorical(column) and not isinstance(column.dtype, pd.CategoricalDtype):
                features[name] = column.astype("category")
    return features


def _preprocessor(
    numeric_cols: Sequence[str], categorical_cols: Sequence[str]
) -> ColumnTransformer:
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric_cols:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("numeric", numeric, list(numeric_cols)))
    if categorical_cols:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("onehot", OneHotEncoder(handle_unknown="ignore")),
            ]
        )
        transformers.append(("categorical", categorical, list(categorical_cols)))
    if not transformers:
        raise InvalidInputError("no feature columns to train on", field="features")
    return ColumnTransformer(transformers, remainder="drop")


def _set_params(model: Any, params: dict[str, Any] | None, kind: str) -> None:
    if not params:
        return
    allowed = set(model.get_params(deep=False))
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidInputError(
            f"unknown parameter(s) for {kind}: {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}",
            field="params",
        )
    try:
        model.set_params(**params)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"invalid parameters for {kind}: {exc}", field="params") from None


def _import_lightgbm() -> Any:
    try:
        return importlib.import_module("lightgbm")
    except ImportError:
        raise InvalidInputError(
            "model kind 'lightgbm' needs the optional dependency: "
            "pip install 'modelyard[lightgbm]'",
            field="kind",
        ) from None
