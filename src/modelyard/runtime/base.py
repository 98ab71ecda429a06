"""The contract every model flavor implements, and helpers they share.

A :class:`Flavor` saves a fitted model into a directory of plain files and loads it back
as a :class:`LoadedModel`. A loaded model keeps everything it needs in memory (the
directory is temporary), and :meth:`LoadedModel.predict` always checks its input
against the signature before the model sees it.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from modelyard.domain.signature import (
    FloatMatrix,
    Rows,
    Signature,
    rows_frame,
    to_json_scalar,
    validate_frame,
)
from modelyard.errors import InvalidInputError, ModelLoadError, ModelyardError, TrustError


@dataclass
class Prediction:
    """Model output as plain Python values, ready to encode as JSON."""

    predictions: list[Any]
    #: Per row, ``{str(class): probability}``; classifiers only.
    probabilities: list[dict[str, float]] | None = None


class LoadedModel(ABC):
    """A model in memory, ready to predict on frames that match its signature."""

    flavor: ClassVar[str]
    #: Library code with compute bounded by the rows given (no user code, no IO): the
    #: batcher may call a fast one on the event loop instead of a thread.
    bounded_compute: ClassVar[bool] = False

    def __init__(self, signature: Signature) -> None:
        self.signature = signature

    def predict(self, frame: pd.DataFrame) -> Prediction:
        """Validate ``frame`` against the signature, then predict (one output per row)."""
        checked = validate_frame(self.signature, frame)
        result = self._predict(checked)
        _check_lengths(result, len(checked))
        return result

    def predict_validated(self, rows: Rows) -> Prediction:
        """Predict on rows the caller already validated (the serving hot path), without
        validating them twice: a frame from :func:`validate_records` or
        :func:`validate_frame`, or an all-float signature's matrix from
        :func:`validate_rows`."""
        if isinstance(rows, np.ndarray):
            result = self._predict_matrix(rows)
        else:
            result = self._predict(rows)
        _check_lengths(result, len(rows))
        return result

    @abstractmethod
    def _predict(self, frame: pd.DataFrame) -> Prediction:
        """Predict on a frame already validated by :func:`validate_frame`."""

    def _predict_matrix(self, matrix: FloatMatrix) -> Prediction:
        """Predict on the validated float64 matrix of an all-float signature (columns in
        signature order): through the frame it stands for, unless the flavor takes
        arrays itself."""
        return self._predict(rows_frame(self.signature, matrix))

    def explain(self, frame: pd.DataFrame) -> list[dict[str, float]]:
        """Per-row, per-input-column contributions, where the flavor has a cheap method."""
        raise InvalidInputError(
            f"explanations are not available for the {self.flavor} flavor", field="explain"
        )


class Flavor(ABC):
    """How one kind of model is written to files and read back."""

    name: ClassVar[str]

    @abstractmethod
    def save(self, model: object, directory: Path, signature: Signature) -> None:
        """Write ``model`` into the existing, empty ``directory``."""

    @abstractmethod
    def load(self, directory: Path, signature: Signature, *, trusted: bool = False) -> LoadedModel:
        """Read a model saved by :meth:`save`; ModelLoadError (or TrustError) on failure."""


# --------------------------------------------------------------------------- helpers


def plain_list(values: object) -> list[Any]:
    """A 1-D array-like as a list of plain JSON scalars (numpy types converted)."""
    array = np.asarray(values)
    if array.ndim > 1:
        array = array.reshape(len(array), -1)
        if array.shape[1] != 1:
            raise ValueError(f"expected one prediction per row, got shape {array.shape}")
    return [to_json_scalar(v) for v in array.ravel().tolist()]


def float_list(values: object) -> list[float]:
    """A 1-D (or ``[n, 1]``) numeric array-like as a list of Python floats."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim > 1:
        array = array.reshape(len(array), -1)
        if array.shape[1] != 1:
            raise ValueError(f"expected one prediction per row, got shape {array.shape}")
    floats: list[float] = array.ravel().tolist()
    return floats


def probability_rows(matrix: object, classes: Sequence[Any]) -> list[dict[str, float]]:
    """Rows of ``{str(class): probability}`` from an ``[n, len(classes)]`` matrix."""
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(classes):
        raise ValueError(
            f"expected a probability matrix with {len(classes)} columns, got shape {array.shape}"
        )
    keys = [str(to_json_scalar(c)) for c in classes]
    return [dict(zip(keys, row, strict=True)) for row in array.tolist()]


def require_file(directory: Path, name: str, flavor: str) -> Path:
    """``directory / name``, or ModelLoadError if that file is missing."""
    path = directory / name
    if not path.is_file():
        raise ModelLoadError(f"{flavor} model is incomplete: file {name!r} is missing")
    return path


def read_json(directory: Path, name: str, flavor: str) -> dict[str, Any]:
    """A JSON object stored next to the model; ModelLoadError if missing or malformed."""
    path = require_file(directory, name, flavor)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{flavor} model file {name!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{flavor} model file {name!r} must hold a JSON object")
    return data


def write_json(directory: Path, name: str, data: dict[str, Any]) -> None:
    (directory / name).write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


@contextlib.contextmanager
def loading(flavor: str, what: str) -> Iterator[None]:
    """Turn any failure while loading into ModelLoadError (TrustError passes through)."""
    try:
        yield
    except (ModelLoadError, TrustError):
        raise
    except ModelyardError as exc:
        raise ModelLoadError(f"{flavor} model {what} cannot be loaded: {exc.message}") from exc
    except Exception as exc:  # noqa: BLE001 - libraries raise anything on bad files
        raise ModelLoadError(
            f"{flavor} model {what} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc


def _check_lengths(result: Prediction, rows: int) -> None:
    if len(result.predictions) != rows:
        raise RuntimeError(f"model returned {len(result.predictions)} predictions for {rows} rows")
    if result.probabilities is not None and len(result.probabilities) != rows:
        raise RuntimeError(
            f"model returned {len(result.probabilities)} probability rows for {rows} rows"
        )
