"""ONNX flavor: ``model.onnx`` run by onnxruntime on the CPU.

Two input layouts are supported: one ``[n, 1]`` input per signature column, named like
the column (what skl2onnx produces for pipelines), or a single ``[n, k]`` numeric
tensor holding the signature's columns in order. Classifier outputs are a label tensor
plus probabilities, either as a matrix or as ZipMap's list of dicts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd

from modelyard.domain.signature import FloatMatrix, Signature
from modelyard.errors import InvalidInputError, ModelLoadError
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

MODEL_FILE = "model.onnx"
PROVIDERS = ["CPUExecutionProvider"]

_ELEMENT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}
_NUMERIC_COLUMNS = frozenset({"integer", "float", "boolean"})


@dataclass(frozen=True)
class _Input:
    name: str
    dtype: Any
    rank: int


class OnnxModel(LoadedModel):
    flavor = "onnx"
    bounded_compute = True

    def __init__(
        self,
        session: ort.InferenceSession,
        signature: Signature,
        *,
        inputs: list[_Input],
        per_column: bool,
    ) -> None:
        super().__init__(signature)
        self.session = session
        self.inputs = inputs
        self.per_column = per_column
        outputs = session.get_outputs()
        self._label_output, self._proba_output = _classifier_outputs(outputs)
        positions = {name: j for j, name in enumerate(signature.column_names)}
        #: Per-column inputs: (input, its column in a validated matrix); ``None`` when an
        #: input takes strings, which a float matrix cannot feed.
        self._matrix_columns = (
            [(spec, positions[spec.name]) for spec in inputs]
            if per_column and all(spec.dtype is not object for spec in inputs)
            else None
        )

    def _predict(self, frame: pd.DataFrame) -> Prediction:
        return self._answer(self.session.run(None, self._feeds(frame)))

    def _predict_matrix(self, matrix: FloatMatrix) -> Prediction:
        """Feed the validated matrix to the session as it is: no frame in between."""
        feeds = self._matrix_feeds(matrix)
        if feeds is None:
            return super()._predict_matrix(matrix)
        return self._answer(self.session.run(None, feeds))

    def _answer(self, outputs: list[Any]) -> Prediction:
        if self.signature.output.kind != "classification":
            return Prediction(float_list(outputs[0]))
        label = 0 if self._label_output is None else self._label_output
        probabilities = None
        if self._proba_output is not None and self._proba_output != label:
            probabilities = self._probabilities(outputs[self._proba_output])
        return Prediction(plain_list(outputs[label]), probabilities)

    def _feeds(self, frame: pd.DataFrame) -> dict[str, Any]:
        if not self.per_column:
            (only,) = self.inputs
            return {only.name: _frame_array(frame, only.dtype)}
        feeds = {}
        for spec in self.inputs:
            array = _column_array(frame[spec.name], spec.dtype)
            feeds[spec.name] = array.reshape(-1, 1) if spec.rank == 2 else array
        return feeds

    def _matrix_feeds(self, matrix: FloatMatrix) -> dict[str, Any] | None:
        """What :meth:`_feeds` gives for the frame of ``matrix`` (same dtypes, same
        missing-value errors), from the matrix itself; ``None`` if an input takes strings."""
        columns = self.signature.column_names
        if not self.per_column:
            (only,) = self.inputs
            return {only.name: _matrix_array(matrix, only.dtype, columns)}
        if self._matrix_columns is None:
            return None
        feeds = {}
        for spec, j in self._matrix_columns:
            array = _matrix_array(matrix[:, j], spec.dtype, (columns[j],))
            feeds[spec.name] = array.reshape(-1, 1) if spec.rank == 2 else array
        return feeds

    def _probabilities(self, raw: Any) -> list[dict[str, float]]:
        if isinstance(raw, list):  # ZipMap: one {class: probability} per row
            return [{str(k): float(v) for k, v in row.items()} for row in raw]
        matrix = np.asarray(raw, dtype=np.float64)
        classes: list[Any] | tuple[Any, ...] | None = self.signature.output.classes
        if classes is None or len(classes) != matrix.shape[1]:
            classes = list(range(matrix.shape[1]))
        return probability_rows(matrix, classes)


class OnnxFlavor(Flavor):
    name = "onnx"

    def save(self, model: object, directory: Path, signature: Signature) -> None:
        """Write ``model.onnx`` from a ModelProto, serialized bytes or a ``.onnx`` path."""
        (directory / MODEL_FILE).write_bytes(_model_bytes(model))

    def load(self, directory: Path, signature: Signature, *, trusted: bool = False) -> LoadedModel:
        """Start an onnxruntime session and match its inputs to the signature."""
        path = require_file(directory, MODEL_FILE, self.name)
        with loading(self.name, MODEL_FILE):
            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only
            # One thread, no spin-waiting: serving calls are a few rows each and the
            # server's concurrency comes from requests, not from intra-op threads
            # (which, spinning on a busy or pinned core, made a 20 us call take ms).
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
            session = ort.InferenceSession(path.read_bytes(), options, providers=PROVIDERS)
        inputs, per_column = _match_inputs(session, signature)
        return OnnxModel(session, signature, inputs=inputs, per_column=per_column)


def _model_bytes(model: object) -> bytes:
    if isinstance(model, bytes | bytearray):
        data = bytes(model)
    elif isinstance(model, str | os.PathLike):
        try:
            data = Path(model).read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"cannot read ONNX file {model}: {exc}", field="model") from exc
    elif callable(getattr(model, "SerializeToString", None)):
        data = model.SerializeToString()  # type: ignore[attr-defined]
    else:
        raise InvalidInputError(
            f"the onnx flavor takes an onnx ModelProto, bytes or a .onnx path, "
            f"not {type(model).__name__}",
            field="model",
        )
    if not data:
        raise InvalidInputError("the ONNX model is empty", field="model")
    return data


def _match_inputs(session: ort.InferenceSession, signature: Signature) -> tuple[list[_Input], bool]:
    """The session's inputs and whether they are one per column (else one tensor)."""
    inputs = []
    for arg in session.get_inputs():
        dtype = _ELEMENT_TYPES.get(arg.type)
        if dtype is None:
            raise ModelLoadError(f"ONNX input {arg.name!r} has unsupported type {arg.type}")
        inputs.append(_Input(arg.name, dtype, len(arg.shape or [])))
    names = [i.name for i in inputs]
    columns = signature.columns
    if sorted(names) == sorted(columns):
        return inputs, True
    if len(inputs) == 1 and inputs[0].rank == 2:
        width = session.get_inputs()[0].shape[1]
        non_numeric = [s.name for s in signature.inputs if s.type not in _NUMERIC_COLUMNS]
        if isinstance(width, int) and width != len(columns):
            raise ModelLoadError(
                f"ONNX input {names[0]!r} takes {width} columns; the signature has {len(columns)}"
            )
        if non_numeric or inputs[0].dtype is object:
            raise ModelLoadError(
                f"a single-tensor ONNX model needs numeric columns; {non_numeric} are not"
            )
        return inputs, False
    raise ModelLoadError(
        f"ONNX inputs {names} match neither the signature's columns {columns} "
        f"nor a single [n, {len(columns)}] tensor"
    )


def _classifier_outputs(outputs: list[Any]) -> tuple[int | None, int | None]:
    """Positions of the label and probability outputs (skl2onnx: label first)."""
    label = proba = None
    for position, arg in enumerate(outputs):
        kind = str(arg.type)
        if kind.startswith("seq(map") or (
            kind in ("tensor(float)", "tensor(double)") and len(arg.shape or []) == 2
        ):
            if proba is None:
                proba = position
        elif label is None:
            label = position
    return label, proba


def _column_array(column: pd.Series, dtype: Any) -> np.ndarray[Any, Any]:
    """One column as an array of the ONNX input's element type."""
    if dtype is object:
        values = column.to_numpy(dtype=object)
        return np.where(pd.isna(values), "", values).astype(object)
    _check_no_nulls(column, dtype)
    return column.to_numpy(dtype=dtype)


def _frame_array(frame: pd.DataFrame, dtype: Any) -> np.ndarray[Any, Any]:
    """All columns, in signature order, as one ``[n, k]`` array."""
    if not np.issubdtype(dtype, np.floating):  # floats carry missing values as NaN
        missing = frame.isna().to_numpy().any(axis=0)
        if missing.any():
            _check_no_nulls(frame[frame.columns[int(missing.argmax())]], dtype)
    return frame.to_numpy(dtype=dtype)


def _matrix_array(
    values: FloatMatrix, dtype: Any, columns: tuple[str, ...]
) -> np.ndarray[Any, Any]:
    """A float matrix (or one of its columns) as the ONNX input's element type;
    ``columns`` names its columns, for the error when a missing value cannot be fed."""
    if not np.issubdtype(dtype, np.floating):  # floats carry missing values as NaN
        missing = np.isnan(values)
        if missing.any():
            first = int(missing.any(axis=0).argmax()) if values.ndim == 2 else 0
            raise _missing_values(columns[first], dtype)
    return np.ascontiguousarray(values, dtype=dtype)


def _check_no_nulls(column: pd.Series, dtype: Any) -> None:
    if np.issubdtype(dtype, np.floating):
        return
    if column.isna().any():
        raise _missing_values(column.name, dtype)


def _missing_values(column: object, dtype: Any) -> InvalidInputError:
    return InvalidInputError(
        f"column {column!r} has missing values, which this ONNX model "
        f"({np.dtype(dtype).name} input) cannot take",
        field=str(column),
    )
