"""Compiling fitted models to ONNX, and checking that the result predicts like the original.

:func:`compile_to_onnx` turns a scikit-learn estimator or pipeline (through skl2onnx) or
a LightGBM model (through onnxmltools) into an ``onnx.ModelProto`` that the ``onnx``
flavor loads, in one of the two input layouts that flavor reads:

* a pipeline whose first step is a ``ColumnTransformer`` gets one ``[n, 1]`` input per
  signature column, named like it: string columns as string tensors, integer, float
  and boolean columns as float32;
* any other estimator, and LightGBM, gets one float32 ``[n, k]`` input named
  :data:`TENSOR_INPUT` holding the columns in signature order, so every column must be
  numeric (integer, float or boolean).

Classifiers output a label tensor and a probability matrix (no ZipMap). LightGBM models
with categorical splits (pandas ``category`` columns) are refused: their ONNX form would
need the training categories mapped to codes inside the graph. Compute is float32, so a
compiled model agrees with the original only up to rounding; :func:`verify_compiled`
measures by how much on real rows before the compiled model is trusted.
"""

from __future__ import annotations

import copy
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from modelyard.domain.signature import Signature, validate_frame
from modelyard.errors import InvalidInputError, ModelLoadError, ModelyardError
from modelyard.runtime.base import LoadedModel, Prediction
from modelyard.runtime.flavors import FLAVORS, get_flavor

#: The input name of compiled models that take all columns as one ``[n, k]`` tensor.
TENSOR_INPUT = "input"
#: Rows of the sample run through the compiled model before it is returned.
SMOKE_ROWS = 16

_DATETIME_HINT = "turn datetimes into numeric features before the model"
_CATEGORICAL_HINT = (
    "LightGBM models compile only with numeric features; train on numeric columns "
    "(one-hot or integer codes) instead of pandas category columns"
)
_MISSING_CONVERTER = re.compile(r"type '<class '([\w.]+)'>'")


@dataclass(frozen=True)
class CompileReport:
    """How closely a compiled model reproduces the original on ``n_rows`` rows.

    Classifiers: ``label_agreement`` is the share of rows with the same label and
    ``max_abs_diff_proba`` the largest difference of any class probability (None when
    the models give no probabilities). Regressors: ``max_abs_diff_prediction`` is the
    largest difference of a prediction and ``label_agreement`` the share of rows within
    tolerance. ``reason`` says why the check failed (None when it passed).
    """

    n_rows: int
    label_agreement: float
    max_abs_diff_proba: float | None
    max_abs_diff_prediction: float | None
    passed: bool
    reason: str | None = None


# --------------------------------------------------------------------------- compile


def compile_to_onnx(
    model: object, flavor: str, signature: Signature, sample: pd.DataFrame
) -> onnx.ModelProto:
    """Convert a fitted ``sklearn`` or ``lightgbm`` flavor model to ONNX.

    ``sample`` (rows matching the signature) is run through the compiled model, loaded
    by the ``onnx`` flavor, before it is returned. Raises InvalidInputError naming the
    estimator type (or the column) when the model cannot be compiled, and ModelLoadError
    when a converter library is not installed.
    """
    if not isinstance(sample, pd.DataFrame) or len(sample) == 0:
        raise InvalidInputError("sample must be a non-empty DataFrame", field="sample")
    rows = validate_frame(signature, sample.head(SMOKE_ROWS))
    if flavor == "sklearn":
        proto = _compile_sklearn(model, signature)
    elif flavor == "lightgbm":
        proto = _compile_lightgbm(model, signature)
    elif flavor in FLAVORS:
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: only sklearn and lightgbm flavor "
            f"models compile to ONNX, not {flavor}",
            field="flavor",
        )
    else:
        raise InvalidInputError(
            f"unknown flavor {flavor!r}; known flavors: {', '.join(sorted(FLAVORS))}",
            field="flavor",
        )
    _smoke_test(proto, signature, rows)
    return proto


def _onnx_ready_imputers(model: Any) -> Any:
    """A copy whose string imputers treat ``""`` as missing (skl2onnx needs a string
    marker; the onnx flavor feeds nulls in string columns as ``""``). Verification
    against the original model still decides whether the result is kept."""
    from sklearn.impute import SimpleImputer

    copied = copy.deepcopy(model)
    stack: list[Any] = [copied]
    while stack:
        node = stack.pop()
        if isinstance(node, SimpleImputer):
            stats = getattr(node, "statistics_", None)
            if (
                stats is not None
                and stats.dtype == object
                and not isinstance(node.missing_values, str)
            ):
                node.missing_values = ""
            continue
        for attribute in ("steps", "transformers_"):
            for item in getattr(node, attribute, None) or []:
                stack.append(item[1])
    return copied


def load_compiled(proto: onnx.ModelProto, signature: Signature) -> LoadedModel:
    """Load a compiled model exactly as serving will: through the ``onnx`` flavor."""
    flavor = get_flavor("onnx")
    with tempfile.TemporaryDirectory(prefix="modelyard-compile-") as tmp:
        directory = Path(tmp)
        flavor.save(proto, directory, signature)
        return flavor.load(directory, signature)


def _smoke_test(proto: onnx.ModelProto, signature: Signature, rows: pd.DataFrame) -> None:
    try:
        load_compiled(proto, signature).predict(rows)
    except ModelyardError as exc:
        raise InvalidInputError(
            f"the compiled model does not run: {exc.message}", field="model"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise InvalidInputError(
            f"the compiled model does not run: {type(exc).__name__}: {exc}", field="model"
        ) from exc


def _type_name(model: object) -> str:
    return type(model).__name__


# --------------------------------------------------------------------------- scikit-learn


def _compile_sklearn(model: object, signature: Signature) -> onnx.ModelProto:
    from sklearn.base import BaseEstimator, is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    except ImportError as exc:
        raise ModelLoadError(
            "compiling scikit-learn models needs skl2onnx: pip install 'modelyard[onnx]'"
        ) from exc

    if not isinstance(model, BaseEstimator):
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: the sklearn flavor needs a scikit-learn "
            "estimator or pipeline",
            field="model",
        )
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: it is not fitted", field="model"
        ) from exc
    per_column = _starts_with_column_transformer(model)
    _check_feature_names(model, signature, ordered=not per_column)
    initial_types: list[tuple[str, Any]]
    if per_column:
        _refuse_types(signature, {"datetime"}, model, _DATETIME_HINT)
        initial_types = [
            (
                spec.name,
                StringTensorType([None, 1])
                if spec.type == "string"
                else FloatTensorType([None, 1]),
            )
            for spec in signature.inputs
        ]
    else:
        _refuse_types(
            signature,
            {"string", "datetime"},
            model,
            "start the pipeline with a ColumnTransformer that encodes string columns",
        )
        initial_types = [(TENSOR_INPUT, FloatTensorType([None, len(signature.inputs)]))]
    model = _onnx_ready_imputers(model)
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        proto = to_onnx(model, initial_types=initial_types, options=options)
    except Exception as exc:  # noqa: BLE001 - skl2onnx raises many types
        raise _conversion_error(exc, model) from exc
    if not isinstance(proto, onnx.ModelProto):  # pragma: no cover - skl2onnx contract
        raise InvalidInputError(f"cannot compile {_type_name(model)}", field="model")
    return proto


def _starts_with_column_transformer(model: object) -> bool:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(model, ColumnTransformer):
        return True
    return (
        isinstance(model, Pipeline)
        and len(model.steps) > 0
        and isinstance(model.steps[0][1], ColumnTransformer)
    )


def _check_feature_names(model: object, signature: Signature, *, ordered: bool) -> None:
    """The columns the model was fitted on must be the signature's (in order, if fed as one)."""
    columns = signature.columns
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        fitted = [str(n) for n in names]
        if fitted == columns or (not ordered and set(fitted) <= set(columns)):
            return
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: it was fitted on columns {fitted}, "
            f"the signature has {columns}",
            field="model",
        )
    count = getattr(model, "n_features_in_", None)
    if ordered and isinstance(count, int) and count != len(columns):
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: it takes {count} features, "
            f"the signature has {len(columns)} columns",
            field="model",
        )


def _refuse_types(signature: Signature, refused: set[str], model: object, hint: str) -> None:
    for spec in signature.inputs:
        if spec.type in refused:
            raise InvalidInputError(
                f"cannot compile {_type_name(model)}: {spec.type} column {spec.name!r} "
                f"cannot be an input here; {hint}",
                field=spec.name,
            )


def _conversion_error(exc: Exception, model: object) -> InvalidInputError:
    """Name the estimator type skl2onnx could not convert (else the model's own type)."""
    match = _MISSING_CONVERTER.search(str(exc))
    if match is None:
        return InvalidInputError(
            f"cannot compile {_type_name(model)}: {_first_line(exc)}", field="model"
        )
    culprit = match.group(1).rsplit(".", 1)[-1]
    inside = "" if culprit == _type_name(model) else f" (inside {_type_name(model)})"
    return InvalidInputError(
        f"cannot compile {culprit}{inside}: skl2onnx has no converter for {culprit}",
        field="model",
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


# --------------------------------------------------------------------------- LightGBM


def _compile_lightgbm(model: object, signature: Signature) -> onnx.ModelProto:
    try:
        import lightgbm as lgb
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError as exc:
        raise ModelLoadError(
            "compiling LightGBM models needs lightgbm and onnxmltools: "
            "pip install lightgbm onnxmltools"
        ) from exc

    if isinstance(model, lgb.LGBMModel):
        try:
            booster = model.booster_
        except Exception as exc:  # noqa: BLE001 - LightGBM raises its own NotFitted
            raise InvalidInputError(
                f"cannot compile {_type_name(model)}: it is not fitted", field="model"
            ) from exc
    elif isinstance(model, lgb.Booster):
        booster = model
    else:
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: the lightgbm flavor takes LGBMClassifier, "
            "LGBMRegressor or Booster",
            field="model",
        )
    features = [str(f) for f in booster.feature_name()]
    categorical = _categorical_features(booster, features)
    if categorical:
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: categorical features {categorical}; "
            + _CATEGORICAL_HINT,
            field=categorical[0],
        )
    _refuse_types(signature, {"string", "datetime"}, model, _CATEGORICAL_HINT)
    columns = signature.columns
    positional = features == [f"Column_{i}" for i in range(len(columns))]
    if features != columns and not positional:
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: its features {features} are not the "
            f"signature's columns {columns} in order",
            field="model",
        )
    try:
        proto: onnx.ModelProto = convert_lightgbm(
            model,
            initial_types=[(TENSOR_INPUT, FloatTensorType([None, len(columns)]))],
            zipmap=False,
        )
    except Exception as exc:  # noqa: BLE001 - onnxmltools raises many types
        raise InvalidInputError(
            f"cannot compile {_type_name(model)}: {_first_line(exc)}", field="model"
        ) from exc
    _free_batch_dimension(proto)
    return proto


def _categorical_features(booster: Any, features: list[str]) -> list[str]:
    """Features the booster splits on as categories (``==`` splits)."""
    found: set[int] = set()
    for tree in booster.dump_model().get("tree_info", []):
        stack = [tree.get("tree_structure", {})]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            if node.get("decision_type") == "==":
                found.add(int(node["split_feature"]))
            stack.extend(node[child] for child in ("left_child", "right_child") if child in node)
    return [features[i] for i in sorted(found)]


def _free_batch_dimension(proto: onnx.ModelProto) -> None:
    """Declare the first output dimension as the batch size (onnxmltools writes ``1``)."""
    for output in proto.graph.output:
        tensor = output.type.tensor_type
        if tensor.HasField("shape") and len(tensor.shape.dim) > 0:
            first = tensor.shape.dim[0]
            first.Clear()
            first.dim_param = "N"


# --------------------------------------------------------------------------- verify


def verify_compiled(
    original_loaded: LoadedModel,
    compiled_loaded: LoadedModel,
    frame: pd.DataFrame,
    *,
    atol: float = 1e-4,
    rtol: float = 1e-5,
) -> CompileReport:
    """Predict ``frame`` with both models and compare.

    A classifier passes when every probability is within ``atol`` of the original's and
    the labels agree, except on near-ties: rows where the original's probabilities of
    the two labels differ by at most ``2 * atol`` (float32 rounding may pick either). A
    regressor passes when every prediction is within ``atol + rtol * |original|``.
    """
    rows = validate_frame(original_loaded.signature, frame)
    expected = original_loaded.predict(rows)
    got = compiled_loaded.predict(rows)
    n_rows = len(rows)
    if original_loaded.signature.output.kind == "regression":
        return _compare_numbers(expected, got, n_rows, atol, rtol)
    return _compare_classes(expected, got, n_rows, atol)


def _compare_numbers(
    expected: Prediction, got: Prediction, n_rows: int, atol: float, rtol: float
) -> CompileReport:
    a = np.asarray(expected.predictions, dtype=np.float64)
    b = np.asarray(got.predictions, dtype=np.float64)
    close = np.isclose(b, a, atol=atol, rtol=rtol, equal_nan=True)
    diff = np.abs(a - b)
    both_nan = np.isnan(a) & np.isnan(b)
    max_diff = float(np.max(np.where(both_nan, 0.0, diff))) if n_rows else 0.0
    passed = bool(close.all())
    reason = None
    if not passed:
        reason = (
            f"{int((~close).sum())} of {n_rows} predictions differ by more than "
            f"atol={atol:g} + rtol={rtol:g}·|value| (largest difference {max_diff:.3g})"
        )
    return CompileReport(n_rows, float(close.mean()), None, max_diff, passed, reason)


def _compare_classes(
    expected: Prediction, got: Prediction, n_rows: int, atol: float
) -> CompileReport:
    same = np.array([p == q for p, q in zip(expected.predictions, got.predictions, strict=True)])
    agreement = float(same.mean()) if n_rows else 1.0
    if expected.probabilities is None and got.probabilities is None:
        passed = bool(same.all())
        reason = None if passed else f"labels differ on {int((~same).sum())} of {n_rows} rows"
        return CompileReport(n_rows, agreement, None, None, passed, reason)
    if expected.probabilities is None or got.probabilities is None:
        side = "compiled" if got.probabilities is None else "original"
        return CompileReport(
            n_rows, agreement, None, None, False, f"the {side} model gives no probabilities"
        )
    keys = list(expected.probabilities[0])
    if set(keys) != set(got.probabilities[0]):
        return CompileReport(
            n_rows,
            agreement,
            None,
            None,
            False,
            f"class sets differ: {keys} vs {list(got.probabilities[0])}",
        )
    p = np.array([[row[k] for k in keys] for row in expected.probabilities], dtype=np.float64)
    q = np.array([[row[k] for k in keys] for row in got.probabilities], dtype=np.float64)
    max_diff = float(np.max(np.abs(p - q)))
    column = {k: j for j, k in enumerate(keys)}
    hard = 0
    for i in np.flatnonzero(~same).tolist():
        mine = column.get(str(expected.predictions[i]))
        theirs = column.get(str(got.predictions[i]))
        if mine is None or theirs is None or p[i, mine] - p[i, theirs] > 2 * atol:
            hard += 1
    reasons = []
    if not max_diff <= atol:
        reasons.append(f"probabilities differ by up to {max_diff:.3g} (atol={atol:g})")
    if hard:
        reasons.append(f"labels differ on {hard} of {n_rows} rows that are not near-ties")
    return CompileReport(n_rows, agreement, max_diff, None, not reasons, "; ".join(reasons) or None)
