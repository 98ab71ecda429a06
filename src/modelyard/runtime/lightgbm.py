"""LightGBM flavor: the booster in LightGBM's native text format plus ``meta.json``.

Models are trained on frames whose string columns are pandas ``category``; the native
file keeps those training categories (``pandas_categorical``). At predict time string
columns are turned back into categoricals with exactly those categories, so category
codes match training; unseen values become missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from modelyard.domain.signature import FloatMatrix, Signature, to_json_scalar, validate_frame
from modelyard.errors import InvalidInputError, ModelLoadError
from modelyard.runtime.base import (
    Flavor,
    LoadedModel,
    Prediction,
    float_list,
    loading,
    probability_rows,
    read_json,
    require_file,
    write_json,
)
from modelyard.runtime.explain import tree_contributions

MODEL_FILE = "model.txt"
META_FILE = "meta.json"
META_FORMAT = 1
_CLASSIFICATION_OBJECTIVES = frozenset({"binary", "multiclass", "multiclassova"})


class LightGBMModel(LoadedModel):
    flavor = "lightgbm"
    bounded_compute = True

    def __init__(
        self,
        booster: lgb.Booster,
        signature: Signature,
        *,
        features: list[str],
        categorical: dict[str, list[Any]],
        classes: list[Any] | None,
    ) -> None:
        super().__init__(signature)
        self.booster = booster
        self.features = features
        self.categorical = {name: pd.Index(values) for name, values in categorical.items()}
        self.classes = classes
        # Booster features named like the signature's columns are picked by name;
        # otherwise (trained on arrays: Column_0, ...) they are matched by position.
        self._by_name = set(features) <= set(signature.columns)
        #: Whether the booster's features are the signature's columns in order, none of
        #: them categorical: then a validated float matrix is what it would get from the
        #: frame (LightGBM turns a float64 frame into its float64 array).
        self._takes_matrix = not self.categorical and (
            features == signature.columns
            if self._by_name
            else len(features) == len(signature.columns)
        )

    def _predict(self, frame: pd.DataFrame) -> Prediction:
        return self._answer(self.booster.predict(self._features(frame)))

    def _predict_matrix(self, matrix: FloatMatrix) -> Prediction:
        if not self._takes_matrix:
            return super()._predict_matrix(matrix)
        return self._answer(self.booster.predict(matrix))

    def _answer(self, raw: Any) -> Prediction:
        if self.classes is None:
            return Prediction(float_list(raw))
        matrix = np.asarray(raw, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = np.column_stack([1.0 - matrix, matrix])
        labels = [self.classes[i] for i in np.argmax(matrix, axis=1).tolist()]
        return Prediction(labels, probability_rows(matrix, self.classes))

    def explain(self, frame: pd.DataFrame) -> list[dict[str, float]]:
        checked = validate_frame(self.signature, frame)
        return tree_contributions(self.booster, self._features(checked), list(checked.columns))

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self._by_name:
            features = frame.loc[:, self.features]
        else:
            features = frame.set_axis(self.features, axis=1)
        converted: dict[str, Any] = {}
        for name in features.columns:
            column = features[name]
            categories = self.categorical.get(name)
            if categories is not None:
                # Codes by lookup: values unseen in training become missing (-1).
                codes = categories.get_indexer(column)
                converted[name] = pd.Categorical.from_codes(codes, categories=categories)
            elif column.dtype == object:  # nullable booleans: True/False/NaN
                converted[name] = column.astype(np.float64)
        return features.assign(**converted) if converted else features


class LightGBMFlavor(Flavor):
    name = "lightgbm"

    def save(self, model: object, directory: Path, signature: Signature) -> None:
        """Write the booster as ``model.txt`` and what predicting needs as ``meta.json``."""
        booster, classes = _unwrap(model, signature)
        path = directory / MODEL_FILE
        booster.save_model(str(path))
        # Read the file back: its parameters are the ones a later load will see.
        saved = lgb.Booster(model_file=str(path))
        features = list(saved.feature_name())
        categorical = _categorical_columns(saved, features, signature)
        objective = str(saved.params.get("objective", ""))
        if classes is None and objective in _CLASSIFICATION_OBJECTIVES:
            classes = _default_classes(saved, signature)
        write_json(
            directory,
            META_FILE,
            {
                "format": META_FORMAT,
                "kind": "classification" if classes is not None else "regression",
                "objective": objective,
                "classes": classes,
                "features": features,
                "categorical": categorical,
            },
        )

    def load(self, directory: Path, signature: Signature, *, trusted: bool = False) -> LoadedModel:
        """Read ``model.txt`` and ``meta.json``; ModelLoadError if they disagree."""
        path = require_file(directory, MODEL_FILE, self.name)
        meta = read_json(directory, META_FILE, self.name)
        with loading(self.name, MODEL_FILE):
            booster = lgb.Booster(model_file=str(path))
            features = list(booster.feature_name())
            categories = booster.pandas_categorical or []
        if meta.get("features") != features:
            raise ModelLoadError(f"{META_FILE} does not describe {MODEL_FILE}: features differ")
        names = meta.get("categorical")
        if not isinstance(names, list) or len(names) != len(categories):
            raise ModelLoadError(
                f"{META_FILE} lists categorical columns {names!r} but the model has "
                f"{len(categories)} sets of pandas categories"
            )
        classes = meta.get("classes")
        if meta.get("kind") == "classification":
            _check_classes(booster, classes)
        else:
            classes = None
        if not set(features) <= set(signature.columns) and len(features) != len(signature.columns):
            raise ModelLoadError(
                f"the model's features {features} do not match the signature's columns "
                f"{signature.columns}"
            )
        return LightGBMModel(
            booster,
            signature,
            features=features,
            categorical=dict(zip(names, categories, strict=True)),
            classes=classes,
        )


def _unwrap(model: object, signature: Signature) -> tuple[lgb.Booster, list[Any] | None]:
    """The booster and, for classifiers, the class labels in output order."""
    if isinstance(model, lgb.Booster):
        return model, None
    if isinstance(model, lgb.LGBMModel):
        try:
            booster = model.booster_
        except Exception as exc:  # noqa: BLE001 - LightGBM raises its own NotFitted
            raise InvalidInputError(f"{type(model).__name__} is not fitted", field="model") from exc
        if isinstance(model, lgb.LGBMClassifier):
            return booster, [to_json_scalar(c) for c in model.classes_]
        return booster, None
    raise InvalidInputError(
        f"the lightgbm flavor takes LGBMClassifier, LGBMRegressor or Booster, "
        f"not {type(model).__name__}",
        field="model",
    )


def _default_classes(booster: lgb.Booster, signature: Signature) -> list[Any]:
    """Classes of a bare Booster: the signature's if they fit, else 0..k-1."""
    count = _class_count(booster)
    known = signature.output.classes
    if known is not None and len(known) == count:
        return list(known)
    return list(range(count))


def _class_count(booster: lgb.Booster) -> int:
    count = int(booster.params.get("num_class", 1))
    return 2 if count == 1 else count


def _check_classes(booster: lgb.Booster, classes: object) -> None:
    if not isinstance(classes, list) or len(classes) != _class_count(booster):
        raise ModelLoadError(
            f"{META_FILE} lists classes {classes!r} but the model predicts "
            f"{_class_count(booster)} classes"
        )


def _categorical_columns(
    booster: lgb.Booster, features: list[str], signature: Signature
) -> list[str]:
    """The columns the booster's ``pandas_categorical`` lists belong to, in order.

    LightGBM records categories for the columns that had ``category`` dtype at
    training, in column order, and marks them (plus any named explicitly) as
    categorical features.
    """
    categories = booster.pandas_categorical or []
    if not categories:
        return []
    indices = booster.params.get("categorical_feature") or []
    if isinstance(indices, int | str):
        indices = [indices]
    names = [features[int(i)] for i in indices]
    if len(names) == len(categories):
        return names
    types = {spec.name: spec.type for spec in signature.inputs}
    strings = [name for name in names if types.get(name) == "string"]
    if len(strings) == len(categories):
        return strings
    raise InvalidInputError(
        "cannot tell which columns the model's pandas categories belong to; "
        "train with string columns as pandas 'category' dtype",
        field="model",
    )
