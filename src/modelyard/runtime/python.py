"""Python flavor: a user's own class, found again by its import path.

The model object must have ``predict(frame) -> sequence`` (optionally
``predict_proba(frame)``) and may have ``save(directory)`` / ``load(directory)`` for its
state. Saving writes ``python_model.json`` naming the class and lets the object save
itself under ``artifacts/``. Loading imports and runs that code, so it is refused unless
the model version is marked trusted. ``load`` must read everything it needs into
memory: the directory is removed afterwards.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.domain.signature import Signature
from modelyard.errors import InvalidInputError, ModelLoadError, TrustError
from modelyard.runtime.base import (
    Flavor,
    LoadedModel,
    Prediction,
    float_list,
    loading,
    plain_list,
    probability_rows,
    read_json,
    write_json,
)

ENTRYPOINT_FILE = "python_model.json"
ARTIFACTS_DIR = "artifacts"


class PythonModel(LoadedModel):
    flavor = "python"

    def __init__(self, model: Any, signature: Signature) -> None:
        super().__init__(signature)
        self.model = model
        self.classifier = signature.output.kind == "classification"
        self.has_proba = self.classifier and callable(getattr(model, "predict_proba", None))

    def _predict(self, frame: pd.DataFrame) -> Prediction:
        raw = self.model.predict(frame)
        if not self.classifier:
            return Prediction(float_list(raw))
        probabilities = None
        if self.has_proba:
            probabilities = self._probabilities(self.model.predict_proba(frame))
        return Prediction(plain_list(raw), probabilities)

    def _probabilities(self, raw: Any) -> list[dict[str, float]]:
        if not isinstance(raw, np.ndarray):
            rows = list(raw)
            if rows and all(isinstance(row, Mapping) for row in rows):
                return [{str(k): float(v) for k, v in row.items()} for row in rows]
        classes = getattr(self.model, "classes_", None)
        if classes is None:
            classes = self.signature.output.classes
        if classes is None:
            raise ValueError("predict_proba returned a matrix but no classes are known")
        return probability_rows(raw, list(classes))


class PythonFlavor(Flavor):
    name = "python"

    def save(self, model: object, directory: Path, signature: Signature) -> None:
        """Record the class's import path and let the model save its own state."""
        if not callable(getattr(model, "predict", None)):
            raise InvalidInputError(
                f"{type(model).__name__} has no predict(frame) method", field="model"
            )
        entrypoint = entrypoint_of(type(model))
        if callable(getattr(model, "save", None)):
            artifacts = directory / ARTIFACTS_DIR
            artifacts.mkdir()
            model.save(artifacts)  # type: ignore[attr-defined]
        write_json(directory, ENTRYPOINT_FILE, {"entrypoint": entrypoint})

    def load(self, directory: Path, signature: Signature, *, trusted: bool = False) -> LoadedModel:
        """Import the class, instantiate it and let it load its state (trusted only)."""
        if not trusted:
            raise TrustError("python flavor runs user code; register it with trusted=True")
        meta = read_json(directory, ENTRYPOINT_FILE, self.name)
        entrypoint = meta.get("entrypoint")
        if not isinstance(entrypoint, str):
            raise ModelLoadError(f"{ENTRYPOINT_FILE} has no 'entrypoint' string")
        with loading(self.name, entrypoint):
            cls = resolve_entrypoint(entrypoint)
            model = cls()
            if callable(getattr(model, "load", None)):
                model.load(directory / ARTIFACTS_DIR)
        if not callable(getattr(model, "predict", None)):
            raise ModelLoadError(f"{entrypoint} has no predict(frame) method")
        return PythonModel(model, signature)


def entrypoint_of(cls: type) -> str:
    """``"package.module:ClassName"`` for ``cls``, checked to import back to ``cls``."""
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise InvalidInputError(
            f"class {qualname} must be importable by name to be loaded later; define it "
            "at the top level of a module (not in __main__ or inside a function)",
            field="model",
        )
    entrypoint = f"{module}:{qualname}"
    try:
        found = resolve_entrypoint(entrypoint)
    except Exception as exc:  # noqa: BLE001 - any import failure means the same thing
        raise InvalidInputError(
            f"{entrypoint} cannot be imported back: {type(exc).__name__}: {exc}", field="model"
        ) from exc
    if found is not cls:
        raise InvalidInputError(
            f"{entrypoint} imports a different class than the model's", field="model"
        )
    return entrypoint


def resolve_entrypoint(entrypoint: str) -> type:
    """Import ``"package.module:Qual.Name"`` and return the class it names."""
    module_name, sep, qualname = entrypoint.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"entrypoint {entrypoint!r} is not of the form 'module:ClassName'")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not isinstance(target, type):
        raise TypeError(f"{entrypoint} is not a class")
    return target
