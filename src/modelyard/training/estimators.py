"""Estimators for each model kind, built only from plain library types.

Pipelines use stock scikit-learn classes (no lambdas, no custom transformers) so skops
can persist them without trusting any extra type; LightGBM models use LightGBM's own
scikit-learn wrappers and native model format.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.errors import InvalidInputError
from modelyard.runtime.flavors import detect_flavor
from modelyard.spec.model import ProjectSpec

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


# --- spec candidates ---------------------------------------------------------------------

#: Built-in candidate kinds a project spec may name (``candidates[].name``).
CANDIDATE_KINDS = (
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
)
XGBOOST_INSTALL = "pip install 'modelyard[xgboost]'"
#: Flavors a model returned by a ``module:function`` candidate may have.
CUSTOM_MODEL_FLAVORS = ("sklearn", "lightgbm")


def check_candidate_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`CANDIDATE_KINDS`, else InvalidInputError."""
    if kind not in CANDIDATE_KINDS:
        raise InvalidInputError(
            f"unknown candidate {kind!r}; allowed: {', '.join(CANDIDATE_KINDS)}", field="kind"
        )
    return kind


def build_candidate(
    kind: str,
    task: str,
    numeric_cols: Sequence[str],
    categorical_cols: Sequence[str],
    seed: int,
    params: dict[str, Any] | None = None,
) -> Any:
    """Build an unfitted estimator for any of :data:`CANDIDATE_KINDS`.

    ``logistic_regression``, ``random_forest`` and ``lightgbm`` are as in
    :func:`build_estimator`. ``linear_regression`` is a scaled ``LinearRegression``
    pipeline; ``hist_gradient_boosting`` and ``xgboost`` get a dense preprocessor (impute,
    scale, one-hot) in front of ``HistGradientBoosting*`` / ``XGB*``. XGBoost is imported
    only here; when it is missing the error says how to install it.
    """
    check_candidate_kind(kind)
    check_task(task)
    if kind in MODEL_KINDS:
        return build_estimator(kind, task, numeric_cols, categorical_cols, seed, params)
    classification = task == "classification"
    model: Any
    if kind == "linear_regression":
        if classification:
            raise InvalidInputError(
                "'linear_regression' is for regression; use 'logistic_regression'", field="kind"
            )
        model = LinearRegression()
        _set_params(model, params, kind)
        return Pipeline(
            [
                (PREPROCESS_STEP, _preprocessor(numeric_cols, categorical_cols)),
                (MODEL_STEP, model),
            ]
        )
    if kind == "hist_gradient_boosting":
        hgb_cls = (
            HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
        )
        model = hgb_cls(random_state=seed)
    else:
        xgboost = _import_xgboost()
        xgb_cls = xgboost.XGBClassifier if classification else xgboost.XGBRegressor
        model = xgb_cls(n_estimators=200, random_state=seed, n_jobs=1, tree_method="hist")
    _set_params(model, params, kind)
    return Pipeline(
        [
            (PREPROCESS_STEP, dense_preprocessor(numeric_cols, categorical_cols)),
            (MODEL_STEP, model),
        ]
    )


def dense_preprocessor(
    numeric_cols: Sequence[str], categorical_cols: Sequence[str]
) -> ColumnTransformer:
    """The standard preprocessor, always returning a dense array (for estimators that
    refuse sparse input, such as histogram gradient boosting)."""
    transformer = _preprocessor(numeric_cols, categorical_cols)
    transformer.set_params(sparse_threshold=0.0)
    return transformer


def prepare_candidate_features(
    frame: pd.DataFrame, kind: str, feature_columns: Sequence[str]
) -> pd.DataFrame:
    """Like :func:`prepare_features`, for any candidate kind (or ``"python"`` for a
    ``module:function`` candidate, which gets the columns as they are)."""
    if kind == "lightgbm":
        return prepare_features(frame, kind, feature_columns)
    if kind != "python":
        check_candidate_kind(kind)
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"missing feature column(s): {', '.join(missing)}", field=missing[0]
        )
    return frame.loc[:, list(feature_columns)].copy()


def candidate_fit_errors(kind: str) -> tuple[type[Exception], ...]:
    """Exceptions that mean "this data cannot be fitted by ``kind``" (not a bug)."""
    errors: tuple[type[Exception], ...] = (ValueError, TypeError)
    if kind == "lightgbm":
        errors += (_import_lightgbm().basic.LightGBMError,)
    elif kind == "xgboost":
        errors += (_import_xgboost().core.XGBoostError,)
    return errors


def load_candidate_function(name: str) -> Any:
    """Import ``package.module:function`` and return the callable.

    InvalidInputError (``field="candidates"``) naming the candidate when the module
    cannot be imported, the attribute does not exist or is not callable.
    """
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise InvalidInputError(
            f"candidate {name!r} is not 'package.module:function'", field="candidates"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is in the user's code
        raise InvalidInputError(
            f"candidate {name!r}: cannot import module {module_name!r}: "
            f"{type(exc).__name__}: {exc}",
            field="candidates",
        ) from None
    function = getattr(module, attr, None)
    if function is None:
        raise InvalidInputError(
            f"candidate {name!r}: module {module_name!r} has no attribute {attr!r}",
            field="candidates",
        )
    if not callable(function):
        raise InvalidInputError(
            f"candidate {name!r}: {attr!r} is not callable (it is a {type(function).__name__})",
            field="candidates",
        )
    return function


def _import_xgboost() -> Any:
    try:
        return importlib.import_module("xgboost")
    except ImportError:
        raise InvalidInputError(
            f"candidate 'xgboost' needs the optional dependency: {XGBOOST_INSTALL}",
            field="kind",
        ) from None


def check_custom_model(model: Any, label: str, *, classification: bool, field: str) -> str:
    """The flavor of a model a ``module:function`` candidate returned, after checks.

    It needs ``predict`` (and ``predict_proba`` for classification) and must be a
    scikit-learn estimator or a LightGBM model (other objects are not registrable yet);
    InvalidInputError naming ``label`` otherwise.
    """
    kind = type(model)
    shown = "None" if model is None else f"a {kind.__module__}.{kind.__qualname__}"
    for method in ("predict", "predict_proba") if classification else ("predict",):
        if not callable(getattr(model, method, None)):
            raise InvalidInputError(
                f"{label} returned {shown}, which has no {method} method; return a fitted model",
                field=field,
            )
    try:
        flavor = detect_flavor(model)
    except InvalidInputError:
        flavor = ""
    if flavor not in CUSTOM_MODEL_FLAVORS:
        raise InvalidInputError(
            f"{label} returned {shown}; custom non-scikit-learn models are not yet "
            "registrable: return a scikit-learn estimator (e.g. a Pipeline) or a LightGBM model",
            field=field,
        )
    return flavor


# --- spec feature roles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureRoles:
    """Model inputs (split into numeric and categorical) and the sensitive columns."""

    inputs: list[str]
    numeric: list[str]
    categorical: list[str]
    sensitive: list[str]


def resolve_features(
    spec: ProjectSpec, frame: pd.DataFrame, *, id_column: str | None = None
) -> FeatureRoles:
    """The model inputs and sensitive columns of ``frame`` under ``spec``'s feature roles.

    InvalidInputError for a declared column missing from the frame, an input that is
    entirely null, a datetime input without role ``timestamp`` or an unsupported dtype.
    """
    target = spec.data.target
    for index, feature in enumerate(spec.features):
        if feature.name not in frame.columns:
            raise InvalidInputError(
                f"feature {feature.name!r} (features[{index}]) is not a column of the dataset",
                field=f"features.{index}.name",
            )
    if spec.features:
        inputs = spec.input_features
        declared = {f.name: f.role for f in spec.features}
    else:
        excluded = {target, id_column}
        if spec.split.strategy in ("time", "group"):
            excluded.add(spec.split.column)
        inputs = [
            str(name)
            for name in frame.columns
            if name not in excluded and not ptypes.is_datetime64_any_dtype(frame[name].dtype)
        ]
        declared = {}
    if not inputs:
        raise InvalidInputError(
            "no model input features: every feature is the target or has role sensitive, "
            "identifier or timestamp",
            field="features",
        )
    numeric: list[str] = []
    categorical: list[str] = []
    for name in inputs:
        column = frame[name]
        _check_not_all_null(column, name)
        role = declared.get(name)
        dtype = column.dtype
        numeric_dtype = ptypes.is_bool_dtype(dtype) or (
            ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype)
        )
        if role == "categorical":
            categorical.append(name)
        elif ptypes.is_datetime64_any_dtype(dtype):
            raise InvalidInputError(
                f"feature {name!r} holds datetimes; give it role timestamp (or derive numeric "
                "features from it)",
                field=name,
            )
        elif role == "numeric" and not numeric_dtype:
            raise InvalidInputError(
                f"feature {name!r} has role numeric but dtype {dtype}", field=name
            )
        elif numeric_dtype:
            numeric.append(name)
        elif is_categorical(column):
            categorical.append(name)
        else:
            raise InvalidInputError(f"feature {name!r} has unsupported dtype {dtype}", field=name)
    sensitive = spec.sensitive_features
    for name in sensitive:
        _check_not_all_null(frame[name], name)
    return FeatureRoles(inputs, numeric, categorical, sensitive)


def _check_not_all_null(column: pd.Series, name: str) -> None:
    if column.isna().all():
        raise InvalidInputError(f"column {name!r} has only missing values", field=name)
