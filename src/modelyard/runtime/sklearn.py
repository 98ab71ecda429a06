"""scikit-learn flavor: models persisted with skops, never with pickle.

skops refuses to build any type it does not know to be safe. A few plain scikit-learn
and numpy types used by stock estimators (tree structures, dtypes) are reported as
"untrusted" by skops; :data:`SAFE_TYPES` trusts exactly those, so standard pipelines
load without a trust flag while anything else needs ``trusted=True``.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

from modelyard.domain.signature import FloatMatrix, Signature, validate_frame
from modelyard.errors import InvalidInputError, ModelLoadError, TrustError
from modelyard.runtime.base import (
    Flavor,
    LoadedModel,
    Prediction,
    float_list,
    loading,
    plain_list,
    probability_rows,
    require_file,
)
from modelyard.runtime.explain import linear_contributions

MODEL_FILE = "model.skops"

#: Types skops flags as unknown but which are plain data holders of numpy/scikit-learn.
SAFE_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        # Calibrated classifiers (CalibratedClassifierCV around FrozenEstimator).
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.frozen._frozen.FrozenEstimator",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)


class SklearnModel(LoadedModel):
    flavor = "sklearn"
    bounded_compute = True

    def __init__(self, model: Any, signature: Signature) -> None:
        super().__init__(signature)
        self.model = model
        classes = getattr(model, "classes_", None)
        self.classes: list[Any] | None = None if classes is None else plain_list(classes)
        self.has_proba = self.classes is not None and hasattr(model, "predict_proba")
        self._runner = model
        self.as_array = False
        #: Column labels for a matrix handed to an estimator that insists on names.
        self._names: pd.Index | None = None
        if _numeric_estimator(model, signature):
            # Column order is guaranteed by the signature, so a shallow copy without the
            # recorded names takes a plain array and skips the costly name check; the
            # original object (used by compile and explain) keeps its names.
            runner = copy.copy(model)
            del runner.feature_names_in_
            if getattr(runner, "feature_names_in_", None) is None:
                self._runner, self.as_array = runner, True
            else:
                # Some keep them anyway (LightGBM's scikit-learn API derives them from
                # the booster and ignores the delete): a bare array would warn on every
                # call, so they get a frame, with plain object labels (LightGBM reads
                # pyarrow-backed string labels one by one: +50 us a call).
                self._names = pd.Index(list(signature.columns), dtype=object)

    def _predict(self, frame: pd.DataFrame) -> Prediction:
        return self._answer(frame.to_numpy(dtype=np.float64) if self.as_array else frame)

    def _predict_matrix(self, matrix: FloatMatrix) -> Prediction:
        if self._names is not None:
            return self._answer(pd.DataFrame(matrix, columns=self._names, copy=False))
        if not self.as_array:
            return super()._predict_matrix(matrix)
        return self._answer(matrix)  # what _predict hands it: the frame's float64 array

    def _answer(self, x: Any) -> Prediction:
        runner = self._runner
        if self.classes is None:
            return Prediction(float_list(runner.predict(x)))
        if not self.has_proba:
            return Prediction(plain_list(runner.predict(x)))
        # One pass: labels are the most probable class (what predict does for the
        # classifiers scikit-learn ships with predict_proba), so don't run the model twice.
        matrix = runner.predict_proba(x)
        labels = [self.classes[i] for i in np.argmax(matrix, axis=1).tolist()]
        return Prediction(labels, probability_rows(matrix, self.classes))

    def explain(self, frame: pd.DataFrame) -> list[dict[str, float]]:
        return linear_contributions(self.model, validate_frame(self.signature, frame))


def _numeric_estimator(model: Any, signature: Signature) -> bool:
    """A bare estimator (no pipeline) fitted on exactly the signature's numeric columns."""
    if hasattr(model, "steps") or hasattr(model, "transformers"):
        return False
    names = getattr(model, "feature_names_in_", None)
    numeric = all(spec.type in ("integer", "float") for spec in signature.inputs)
    return numeric and names is not None and list(names) == signature.columns


class SklearnFlavor(Flavor):
    name = "sklearn"

    def save(self, model: object, directory: Path, signature: Signature) -> None:
        """Write ``model.skops``."""
        if not callable(getattr(model, "predict", None)):
            raise InvalidInputError(f"{type(model).__name__} has no predict method", field="model")
        try:
            sio.dump(model, directory / MODEL_FILE)
        except Exception as exc:  # noqa: BLE001 - skops raises many types
            raise InvalidInputError(
                f"cannot save {type(model).__name__} with skops: {type(exc).__name__}: {exc}",
                field="model",
            ) from exc

    def load(self, directory: Path, signature: Signature, *, trusted: bool = False) -> LoadedModel:
        """Read ``model.skops``; types outside :data:`SAFE_TYPES` need ``trusted``."""
        path = require_file(directory, MODEL_FILE, self.name)
        with loading(self.name, MODEL_FILE):
            data = path.read_bytes()
            untrusted = sio.get_untrusted_types(data=data)
        unsafe = sorted(set(untrusted) - SAFE_TYPES)
        if unsafe and not trusted:
            raise TrustError(
                f"{MODEL_FILE} contains types that are not trusted by default: "
                f"{', '.join(unsafe)}; register it with trusted=True only if you trust "
                "where it came from"
            )
        with loading(self.name, MODEL_FILE):
            model = sio.load(io.BytesIO(data), trusted=list(untrusted))
        if not callable(getattr(model, "predict", None)):
            raise ModelLoadError(f"{MODEL_FILE} holds a {type(model).__name__}, not a model")
        return SklearnModel(model, signature)
