"""Flavor registry: names mapped to import strings, imported only when chosen.

Keeping import strings (like uvicorn's ``"module:attr"``) means ``import modelyard``
never pays for LightGBM or onnxruntime, and a missing optional dependency only
matters to the models that need it.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from modelyard.errors import InvalidInputError, ModelLoadError
from modelyard.runtime.base import Flavor

#: Flavor name -> ``"module:Class"`` of its :class:`Flavor` implementation.
FLAVORS: dict[str, str] = {
    "sklearn": "modelyard.runtime.sklearn:SklearnFlavor",
    "lightgbm": "modelyard.runtime.lightgbm:LightGBMFlavor",
    "onnx": "modelyard.runtime.onnx:OnnxFlavor",
    "python": "modelyard.runtime.python:PythonFlavor",
}

#: The ``pip install 'modelyard[extra]'`` that brings a flavor's dependencies.
_EXTRAS: dict[str, str] = {"lightgbm": "lightgbm", "onnx": "onnx"}


def known_flavors() -> list[str]:
    return sorted(FLAVORS)


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; InvalidInputError for unknown names.

    Raises ModelLoadError when the flavor's optional dependency is not installed.
    """
    target = FLAVORS.get(name) if isinstance(name, str) else None
    if target is None:
        raise InvalidInputError(
            f"unknown flavor {name!r}; known flavors: {', '.join(known_flavors())}",
            field="flavor",
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or "a dependency"
        if missing.split(".")[0] == "modelyard":
            raise
        extra = _EXTRAS.get(name, name)
        raise ModelLoadError(
            f"flavor {name!r} needs {missing}, which is not installed: "
            f"pip install 'modelyard[{extra}]'"
        ) from exc
    flavor_cls: Any = getattr(module, attr)
    flavor: Flavor = flavor_cls()
    return flavor


def detect_flavor(model: object) -> str:
    """Guess the flavor for a fitted model object, without importing any library.

    LightGBM models and boosters → ``lightgbm``; ONNX ``ModelProto``, raw bytes or a
    ``.onnx`` path → ``onnx``; scikit-learn estimators and pipelines → ``sklearn``.
    The ``python`` flavor is never guessed: ask for it by name.
    """
    if isinstance(model, bytes | bytearray):
        return "onnx"
    if isinstance(model, str | os.PathLike) and os.fspath(model).lower().endswith(".onnx"):
        return "onnx"
    mro = [(cls.__module__.split(".")[0], cls.__name__) for cls in type(model).__mro__]
    for root, cls_name in mro:
        if root == "lightgbm" and cls_name in ("LGBMModel", "Booster"):
            return "lightgbm"
        if root == "onnx" and cls_name == "ModelProto":
            return "onnx"
    if ("sklearn", "BaseEstimator") in mro:
        return "sklearn"
    raise InvalidInputError(
        f"cannot tell the flavor of a {type(model).__module__}.{type(model).__qualname__} "
        f"object; pass flavor= one of: {', '.join(known_flavors())}",
        field="flavor",
    )
