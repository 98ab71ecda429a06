"""Model signatures: the input columns a model takes and the output it gives.

A signature is inferred once, from the training frame, and stored with the model
version. At serving time :func:`validate_records` (JSON rows) and
:func:`validate_frame` (DataFrames) turn untrusted input into a frame with exactly the
signature's columns, in order, with predictable dtypes — or raise
:class:`~modelyard.errors.SignatureError` naming the column (and row) at fault.

Checks run column by column with numpy/pandas operations; a Python loop over values
only runs to find the offending row once a column is known to be bad, or for unusual
mixes of Python types. Pure: no IO.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelyard.errors import InvalidInputError, SignatureError

ColumnType = Literal["integer", "float", "string", "boolean", "datetime"]
OutputKind = Literal["classification", "regression"]
ClassLabel: TypeAlias = int | float | str | bool

COLUMN_TYPES: tuple[ColumnType, ...] = get_args(ColumnType)
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)
#: An integer target with at most this many distinct values is taken as class labels.
MAX_INFERRED_CLASSES = 20

_INT64_MAX = float(2**63)
_EXACT_FLOAT_INT = float(2**53)
_TS_MIN = pd.Timestamp.min.tz_localize("UTC")
_TS_MAX = pd.Timestamp.max.tz_localize("UTC")
_DATETIME_KINDS = frozenset({"string", "datetime", "datetime64", "date"})
_PLACEHOLDERS: dict[str, Any] = {
    "integer": 0,
    "float": 0.0,
    "string": "",
    "boolean": False,
    "datetime": "1970-01-01T00:00:00",
}

Array: TypeAlias = npt.NDArray[Any]
FloatMatrix: TypeAlias = npt.NDArray[np.float64]
#: Validated rows: the model's input frame, or (an all-float signature's clean rows)
#: their float64 matrix, columns in signature order (see :func:`validate_rows`).
Rows: TypeAlias = pd.DataFrame | FloatMatrix
ObjectArray: TypeAlias = npt.NDArray[np.object_]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class ColumnSpec:
    """One input column: its name, value type and whether nulls are allowed."""

    name: str
    type: ColumnType
    nullable: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInputError(
                f"column names must be non-empty strings, got {self.name!r}", field="signature"
            )
        if self.type not in COLUMN_TYPES:
            raise InvalidInputError(
                f"column {self.name!r} has unknown type {self.type!r}; "
                f"allowed: {', '.join(COLUMN_TYPES)}",
                field=self.name,
            )
        if not isinstance(self.nullable, bool):
            raise InvalidInputError(
                f"column {self.name!r}: nullable must be true or false", field=self.name
            )


@dataclass(frozen=True)
class OutputSpec:
    """What the model returns: class labels (with the known classes) or numbers."""

    kind: OutputKind
    classes: tuple[ClassLabel, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise InvalidInputError(
                f"unknown output kind {self.kind!r}; allowed: {', '.join(OUTPUT_KINDS)}",
                field="kind",
            )
        if self.classes is not None:
            classes = tuple(self.classes)
            if not all(isinstance(c, int | float | str) for c in classes):
                raise InvalidInputError(
                    "classes must be numbers, strings or booleans", field="classes"
                )
            object.__setattr__(self, "classes", classes)


@dataclass(frozen=True)
class Signature:
    """A model's input columns (in the order the model expects) and its output."""

    inputs: tuple[ColumnSpec, ...]
    output: OutputSpec

    def __post_init__(self) -> None:
        inputs = tuple(self.inputs)
        if not inputs:
            raise InvalidInputError("a signature needs at least one input column", field="inputs")
        seen: set[str] = set()
        for spec in inputs:
            if not isinstance(spec, ColumnSpec):
                raise InvalidInputError("signature inputs must be ColumnSpec", field="inputs")
            if spec.name in seen:
                raise InvalidInputError(f"duplicate column {spec.name!r}", field=spec.name)
            seen.add(spec.name)
        object.__setattr__(self, "inputs", inputs)

    @property
    def columns(self) -> list[str]:
        """Input column names, in order."""
        return list(self.column_names)

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        """Input column names, in order (computed once: the serving hot path reads them)."""
        return tuple(spec.name for spec in self.inputs)

    @functools.cached_property
    def column_set(self) -> frozenset[str]:
        """Input column names, as a set."""
        return frozenset(self.column_names)

    @functools.cached_property
    def numeric(self) -> bool:
        """Every input column is an integer or a float column."""
        return all(spec.type in _NUMERIC_TYPES for spec in self.inputs)

    @functools.cached_property
    def all_float(self) -> bool:
        """Every input column is a float column: validated rows are one float64 matrix."""
        return all(spec.type == "float" for spec in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, read back by :meth:`from_dict`."""
        return {
            "inputs": [
                {"name": s.name, "type": s.type, "nullable": s.nullable} for s in self.inputs
            ],
            "output": {
                "kind": self.output.kind,
                "classes": None if self.output.classes is None else list(self.output.classes),
            },
        }

    @classmethod
    def from_dict(cls, data: object) -> Signature:
        """Rebuild a signature from :meth:`to_dict` output; InvalidInputError if malformed."""
        if not isinstance(data, Mapping):
            raise InvalidInputError("a signature must be an object", field="signature")
        inputs = data.get("inputs")
        output = data.get("output")
        if not isinstance(inputs, list) or not all(isinstance(i, Mapping) for i in inputs):
            raise InvalidInputError(
                "signature 'inputs' must be a list of column objects", field="signature"
            )
        if not isinstance(output, Mapping):
            raise InvalidInputError("signature 'output' must be an object", field="signature")
        specs = []
        for item in inputs:
            unknown = set(item) - {"name", "type", "nullable"}
            if unknown or "name" not in item or "type" not in item:
                raise InvalidInputError(
                    f"malformed signature column {dict(item)!r}: "
                    "expected keys name, type and optional nullable",
                    field="signature",
                )
            specs.append(ColumnSpec(item["name"], item["type"], item.get("nullable", False)))
        classes = output.get("classes")
        if classes is not None and not isinstance(classes, list | tuple):
            raise InvalidInputError("signature output 'classes' must be a list", field="classes")
        return cls(
            tuple(specs),
            OutputSpec(output.get("kind"), None if classes is None else tuple(classes)),  # type: ignore[arg-type]
        )


# --------------------------------------------------------------------------- inference


def infer_signature(
    features: pd.DataFrame, target: pd.Series | None = None, *, kind: str | None = None
) -> Signature:
    """Infer a signature from example features (and the target, for the output).

    Column types come from dtypes; a column is nullable if the example has a null in
    it. The output kind is ``kind`` if given, else classification for bool, string or
    categorical targets and integer targets with few distinct values, else regression.
    """
    if not isinstance(features, pd.DataFrame):
        raise InvalidInputError("features must be a pandas DataFrame", field="features")
    if features.columns.has_duplicates:
        dup = features.columns[features.columns.duplicated()][0]
        raise InvalidInputError(f"duplicate feature column {dup!r}", field=str(dup))
    inputs = []
    for name in features.columns:
        if not isinstance(name, str):
            raise InvalidInputError(
                f"feature column names must be strings, got {name!r}", field=str(name)
            )
        column = features[name]
        inputs.append(ColumnSpec(name, _column_type(name, column), bool(column.isna().any())))
    if kind is not None and kind not in OUTPUT_KINDS:
        raise InvalidInputError(
            f"unknown output kind {kind!r}; allowed: {', '.join(OUTPUT_KINDS)}", field="kind"
        )
    if target is None:
        if kind is None:
            raise InvalidInputError(
                "cannot infer the output kind without a target; pass target or kind",
                field="target",
            )
        return Signature(tuple(inputs), OutputSpec(kind))
    series = target if isinstance(target, pd.Series) else pd.Series(target)
    resolved = kind if kind is not None else _infer_kind(series)
    classes = _classes(series) if resolved == "classification" else None
    return Signature(tuple(inputs), OutputSpec(resolved, classes))


def _column_type(name: str, column: pd.Series) -> ColumnType:
    dtype = column.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        return "integer"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.CategoricalDtype) or ptypes.is_string_dtype(dtype):
        if ptypes.is_object_dtype(dtype):
            return _object_column_type(column)
        return "string"
    raise InvalidInputError(
        f"column {name!r} has unsupported dtype {dtype}; "
        "use integer, float, boolean, string or datetime columns",
        field=name,
    )


def _object_column_type(column: pd.Series) -> ColumnType:
    """An object column holding only bools/ints/floats/datetimes gets that type."""
    inferred = ptypes.infer_dtype(column, skipna=True)
    if inferred == "boolean":
        return "boolean"
    if inferred == "integer":
        return "integer"
    if inferred in ("floating", "mixed-integer-float"):
        return "float"
    if inferred in ("datetime", "datetime64"):
        return "datetime"
    return "string"


def _infer_kind(target: pd.Series) -> OutputKind:
    dtype = target.dtype
    if (
        ptypes.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or ptypes.is_string_dtype(dtype)
    ):
        return "classification"
    if ptypes.is_integer_dtype(dtype):
        unique = target.nunique(dropna=True)
        return "classification" if unique <= MAX_INFERRED_CLASSES else "regression"
    if ptypes.is_float_dtype(dtype):
        return "regression"
    raise InvalidInputError(f"cannot infer the task from a {dtype} target", field="target")


def _classes(target: pd.Series) -> tuple[ClassLabel, ...]:
    values = [to_json_scalar(v) for v in target.dropna().unique()]
    for value in values:
        if not isinstance(value, int | float | str):
            raise InvalidInputError(
                f"class labels must be numbers, strings or booleans, got {value!r}",
                field="target",
            )
    try:
        return tuple(sorted(values))
    except TypeError:
        return tuple(sorted(values, key=lambda v: (type(v).__name__, str(v))))


# --------------------------------------------------------------------------- examples


def to_json_scalar(value: object) -> Any:
    """A plain JSON value for a pandas/numpy scalar (nulls and NaN become ``None``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        value = pd.Timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def example_row(signature: Signature, frame: pd.DataFrame | None = None) -> dict[str, Any]:
    """A JSON-able example input: the frame's first row, or placeholders by type."""
    if frame is None or len(frame) == 0:
        return {spec.name: _PLACEHOLDERS[spec.type] for spec in signature.inputs}
    missing = [name for name in signature.columns if name not in frame.columns]
    if missing:
        raise SignatureError(f"missing column {missing[0]!r}", field=missing[0])
    row: dict[str, Any] = {}
    for spec in signature.inputs:
        value = to_json_scalar(frame[spec.name].iloc[0])
        if spec.type == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        row[spec.name] = value
    return row


# --------------------------------------------------------------------------- validation


def validate_records(signature: Signature, records: object) -> pd.DataFrame:
    """Check JSON-style rows (a list of objects) and build the model's input frame.

    Every row must have exactly the signature's columns; values must match the
    column types (see :func:`validate_frame` for the dtypes produced).
    """
    checked = _check_records(signature, records)
    fast = _numeric_fast_path(signature, checked)
    if fast is not None:
        return fast
    return _general_path(signature, checked)


def validate_rows(signature: Signature, records: object) -> Rows:
    """:func:`validate_records` for the serving hot path: the same checks and errors, but
    clean rows of an all-float signature come back as their float64 matrix (columns in
    signature order) with no DataFrame built; :func:`rows_frame` gives the frame
    :func:`validate_records` returns. Models take either (``predict_validated``)."""
    checked = _check_records(signature, records)
    if signature.all_float:
        matrix = _numeric_matrix(signature, checked)
        if matrix is not None:
            return matrix
    return validate_records(signature, checked)


def rows_frame(signature: Signature, rows: Rows) -> pd.DataFrame:
    """The frame of validated rows: a frame as it is, a float matrix as
    :func:`validate_records` builds it."""
    if isinstance(rows, pd.DataFrame):
        return rows
    return float_frame(rows, column_index(signature.column_names))


def _check_records(signature: Signature, records: object) -> list[Any]:
    """The rows, if they are a non-empty list of objects with exactly the signature's keys."""
    if not isinstance(records, list):
        raise InvalidInputError("inputs must be a list of row objects", field="inputs")
    if not records:
        raise InvalidInputError("inputs is empty; send at least one row", field="inputs")
    expected = signature.column_set
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInputError(
                f"row {index} is not an object of column values", field="inputs", row=index
            )
        if record.keys() != expected:
            _raise_key_mismatch(signature.columns, records, index)
    return records


def _general_path(signature: Signature, records: list[Any]) -> pd.DataFrame:
    count = len(records)
    data = {
        spec.name: _from_objects(
            spec, np.fromiter((r[spec.name] for r in records), dtype=object, count=count)
        )
        for spec in signature.inputs
    }
    return _assemble(signature, data, count)


_NUMERIC_TYPES = frozenset({"integer", "float"})
_PLAIN_NUMBERS = frozenset({float, int})
_FAST_MAX_CELLS = 50_000


@functools.lru_cache(maxsize=1024)
def column_index(columns: tuple[str, ...]) -> pd.Index:
    """One shared column Index per signature: building it from a list costs more than
    the rest of a one-row frame (pandas turns the names into an Arrow string array)."""
    return pd.Index(list(columns))


def _float_frame_public(matrix: npt.NDArray[np.float64], columns: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(matrix, columns=columns, copy=False)


try:  # pandas internals: one block, no consolidation or integrity checks (~2.5x faster)
    from pandas._libs.internals import BlockPlacement
    from pandas.core.internals import BlockManager
    from pandas.core.internals.blocks import new_block_2d

    def _float_frame_direct(matrix: npt.NDArray[np.float64], columns: pd.Index) -> pd.DataFrame:
        block = new_block_2d(matrix.T, placement=BlockPlacement(slice(0, matrix.shape[1])))
        manager = BlockManager((block,), [columns, pd.RangeIndex(matrix.shape[0])])
        frame: pd.DataFrame = pd.DataFrame._from_mgr(  # type: ignore[attr-defined]
            manager, axes=manager.axes
        )
        return frame

    _probe = np.arange(6, dtype=np.float64).reshape(3, 2)
    _probe_columns = pd.Index(["a", "b"])
    if not _float_frame_direct(_probe, _probe_columns).equals(
        _float_frame_public(_probe, _probe_columns)
    ):  # a pandas whose internals changed meaning: use the public constructor
        raise ImportError("pandas internals differ")
    float_frame = _float_frame_direct
except (ImportError, AttributeError, TypeError):  # pragma: no cover - depends on pandas
    float_frame = _float_frame_public
#: ``float_frame(matrix, columns)``: the frame of a C-ordered 2-D float64 ``matrix`` with
#: ``columns`` on a RangeIndex, as ``pd.DataFrame(matrix, columns=columns, copy=False)``
#: builds it, in a third of the time (the serving hot path builds one per request).


def _numeric_matrix(signature: Signature, records: list[Any]) -> FloatMatrix | None:
    """The float64 matrix of clean all-numeric rows, or ``None`` whenever anything is
    unusual (a non-number, a bool, a null, a non-finite value), for the general path."""
    columns = signature.column_names
    if len(records) * len(columns) > _FAST_MAX_CELLS:
        return None
    try:
        rows = [[r[c] for c in columns] for r in records]
    except (KeyError, TypeError):
        return None
    plain = _PLAIN_NUMBERS
    for row in rows:
        if not set(map(type, row)) <= plain:  # bools, strings, None: the general path
            return None
    matrix = np.array(rows, dtype=np.float64)
    if np.count_nonzero(np.isfinite(matrix)) != matrix.size:  # .all() costs a Python call
        return None
    return matrix


def _numeric_fast_path(signature: Signature, records: list[Any]) -> pd.DataFrame | None:
    """The frame for clean all-numeric rows, built in one array (the serving hot path).

    Returns ``None`` whenever anything is unusual (a non-number, a bool, a null, a
    non-finite value, a fractional integer), so the general path produces its precise
    error; for clean input both paths give the same frame.
    """
    if not signature.numeric:
        return None
    matrix = _numeric_matrix(signature, records)
    if matrix is None:
        return None
    frame = float_frame(matrix, column_index(signature.column_names))
    for j, spec in enumerate(signature.inputs):
        if spec.type == "integer":
            column = matrix[:, j]
            if not (np.abs(column) < 2**53).all() or not (column == np.floor(column)).all():
                return None
            frame[spec.name] = column.astype(np.int64)
    return frame


def validate_frame(signature: Signature, frame: pd.DataFrame) -> pd.DataFrame:
    """Check a DataFrame against the signature and return the model's input frame.

    The result has exactly the signature's columns, in order, on a fresh RangeIndex,
    with dtypes: integer → int64 (float64 when nulls are present), float → float64,
    boolean → bool (object with NaN when nulls are present), string → object (NaN for
    nulls), datetime → naive datetime64[ns] (ISO strings are parsed; offsets are
    converted to UTC).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError("inputs must be a pandas DataFrame", field="inputs")
    if len(frame) == 0:
        raise InvalidInputError("inputs is empty; send at least one row", field="inputs")
    if frame.columns.has_duplicates:
        dup = frame.columns[frame.columns.duplicated()][0]
        raise SignatureError(f"duplicate column {dup!r}", field=str(dup))
    columns = signature.columns
    present = set(frame.columns)
    for name in columns:
        if name not in present:
            raise SignatureError(f"missing column {name!r}", field=name)
    expected = set(columns)
    for label in frame.columns:
        if label not in expected:
            raise SignatureError(f"unexpected column {label!r}", field=str(label))
    data = {spec.name: _from_series(spec, frame[spec.name]) for spec in signature.inputs}
    return _assemble(signature, data, len(frame))


def _raise_key_mismatch(columns: list[str], records: list[Any], index: int) -> None:
    record = records[index]
    for name in columns:
        if name not in record:
            everywhere = all(isinstance(r, dict) and name not in r for r in records)
            where = "" if everywhere else f" in row {index}"
            raise SignatureError(
                f"missing column {name!r}{where}",
                field=name,
                row=None if everywhere else index,
            )
    expected = set(columns)
    for key in record:
        if key not in expected:
            everywhere = all(isinstance(r, dict) and key in r for r in records)
            where = "" if everywhere else f" in row {index}"
            raise SignatureError(
                f"unexpected column {key!r}{where}",
                field=str(key),
                row=None if everywhere else index,
            )


def _assemble(signature: Signature, data: dict[str, Array], count: int) -> pd.DataFrame:
    index = pd.RangeIndex(count)
    series = {}
    for spec in signature.inputs:
        values = data[spec.name]
        # pandas 3 would turn object arrays of strings into its ``str`` dtype; keep object.
        dtype = object if values.dtype == object else None
        series[spec.name] = pd.Series(values, index=index, dtype=dtype, copy=False)
    return pd.DataFrame(series, index=index, copy=False)


def _from_series(spec: ColumnSpec, column: pd.Series) -> Array:
    """Fast paths for typed columns; anything else goes through the object checks."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        kind = dtype.kind
        if spec.type == "integer" and kind in "iu":
            return _ints_from_ints(spec, column.to_numpy())
        if spec.type == "integer" and kind == "f":
            return _ints_from_floats(spec, column.to_numpy(dtype=np.float64))
        if spec.type == "float" and kind in "iuf":
            return _checked_floats(spec, column.to_numpy(dtype=np.float64))
        if spec.type == "boolean" and kind == "b":
            return column.to_numpy()
        if spec.type == "datetime" and kind == "M":
            return _datetimes_from_naive(spec, column)
    elif spec.type == "datetime" and isinstance(dtype, pd.DatetimeTZDtype):
        return _datetimes_from_naive(spec, column.dt.tz_convert("UTC").dt.tz_localize(None))
    elif spec.type == "string" and isinstance(dtype, pd.StringDtype):
        values = column.to_numpy(dtype=object, na_value=np.nan)
        _check_nulls(spec, pd.isna(values))
        return values
    return _from_objects(spec, column.to_numpy(dtype=object))


def _from_objects(spec: ColumnSpec, values: ObjectArray) -> Array:
    """Check and convert a column of arbitrary Python/numpy values."""
    null = np.asarray(pd.isna(values), dtype=bool)
    _check_nulls(spec, null)
    has_null = bool(null.any())
    rows = np.flatnonzero(~null) if has_null else np.arange(len(values))
    present = values[~null] if has_null else values
    converted = _CONVERTERS[spec.type](spec, present, rows)
    if not has_null:
        return converted
    if spec.type in ("integer", "float"):
        out: Array = np.full(len(values), np.nan)
    elif spec.type == "datetime":
        out = np.full(len(values), np.datetime64("NaT", "ns"))
    else:
        out = np.full(len(values), np.nan, dtype=object)
    out[rows] = converted
    return out


# Converters take the non-null values of a column and their row numbers.


def _objects_to_integer(spec: ColumnSpec, present: ObjectArray, rows: Array) -> Array:
    inferred = ptypes.infer_dtype(present, skipna=False)
    if inferred == "integer":
        try:
            return present.astype(np.int64)
        except OverflowError:
            _fail_first(spec, present, rows, _fits_int64)
    if inferred not in ("floating", "mixed-integer-float"):
        _fail_first(spec, present, rows, _is_integer_like)
    try:
        floats = present.astype(np.float64)
    except OverflowError:
        _fail_first(spec, present, rows, _fits_int64)
        raise  # pragma: no cover - _fail_first raised
    _check_integral(spec, floats, present, rows)
    if floats.size == 0 or float(np.abs(floats).max()) < _EXACT_FLOAT_INT:
        return floats.astype(np.int64)
    # Large values mixed with floats: convert one by one so no precision is lost.
    _fail_first(spec, present, rows, _fits_int64)
    return np.array([int(v) for v in present], dtype=np.int64)


def _objects_to_float(spec: ColumnSpec, present: ObjectArray, rows: Array) -> Array:
    inferred = ptypes.infer_dtype(present, skipna=False)
    if inferred not in ("integer", "floating", "mixed-integer-float"):
        _fail_first(spec, present, rows, _is_number)
    try:
        floats = present.astype(np.float64)
    except OverflowError:
        _fail_first(spec, present, rows, _fits_float)
        raise  # pragma: no cover - _fail_first raised
    _check_finite(spec, floats, rows)
    return floats


def _objects_to_boolean(spec: ColumnSpec, present: ObjectArray, rows: Array) -> Array:
    if ptypes.infer_dtype(present, skipna=False) != "boolean":
        _fail_first(spec, present, rows, _is_bool)
    return present.astype(bool)


def _objects_to_string(spec: ColumnSpec, present: ObjectArray, rows: Array) -> Array:
    if ptypes.infer_dtype(present, skipna=False) != "string":
        _fail_first(spec, present, rows, _is_str)
    return present


def _objects_to_datetime(spec: ColumnSpec, present: ObjectArray, rows: Array) -> Array:
    if ptypes.infer_dtype(present, skipna=False) not in _DATETIME_KINDS:
        _fail_first(spec, present, rows, _is_datetime_like)
    parsed = pd.to_datetime(
        pd.Series(present, dtype=object), format="ISO8601", utc=True, errors="coerce"
    )
    bad = (parsed.isna() | (parsed < _TS_MIN) | (parsed > _TS_MAX)).to_numpy()
    if bad.any():
        at = int(np.argmax(bad))
        raise _type_error(spec, int(rows[at]), present[at])
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


_CONVERTERS: dict[str, Callable[[ColumnSpec, ObjectArray, Array], Array]] = {
    "integer": _objects_to_integer,
    "float": _objects_to_float,
    "boolean": _objects_to_boolean,
    "string": _objects_to_string,
    "datetime": _objects_to_datetime,
}


# Typed fast paths.


def _ints_from_ints(spec: ColumnSpec, values: Array) -> Array:
    if values.dtype == np.int64:
        return values
    if values.dtype.kind == "u" and values.size and int(values.max()) >= 2**63:
        at = int(np.argmax(values >= 2**63))
        raise _type_error(spec, at, values[at])
    return values.astype(np.int64)


def _ints_from_floats(spec: ColumnSpec, floats: npt.NDArray[np.float64]) -> Array:
    null = np.isnan(floats)
    _check_nulls(spec, null)
    rows = np.arange(len(floats))
    if null.any():
        present = floats[~null]
        _check_integral(spec, present, present, rows[~null])
        return floats
    _check_integral(spec, floats, floats, rows)
    return floats.astype(np.int64)


def _checked_floats(spec: ColumnSpec, floats: npt.NDArray[np.float64]) -> Array:
    null = np.isnan(floats)
    _check_nulls(spec, null)
    _check_finite(spec, floats, np.arange(len(floats)))
    return floats


def _datetimes_from_naive(spec: ColumnSpec, column: pd.Series) -> Array:
    null = np.asarray(column.isna(), dtype=bool)
    _check_nulls(spec, null)
    if column.dtype == np.dtype("datetime64[ns]"):
        return column.to_numpy()
    bad = ((column < pd.Timestamp.min) | (column > pd.Timestamp.max)).to_numpy()
    if bad.any():
        at = int(np.argmax(bad))
        raise _type_error(spec, at, column.iloc[at])
    return column.to_numpy(dtype="datetime64[ns]")


# Shared checks.


def _check_nulls(spec: ColumnSpec, null: BoolArray) -> None:
    if not spec.nullable and null.any():
        at = int(np.argmax(null))
        raise SignatureError(
            f"column {spec.name!r} is not nullable, row {at} is null", field=spec.name, row=at
        )


def _check_integral(
    spec: ColumnSpec, floats: npt.NDArray[np.float64], originals: Array, rows: Array
) -> None:
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(floats) | (floats != np.trunc(floats)) | (np.abs(floats) >= _INT64_MAX)
    if bad.any():
        at = int(np.argmax(bad))
        raise _type_error(spec, int(rows[at]), originals[at])


def _check_finite(spec: ColumnSpec, floats: npt.NDArray[np.float64], rows: Array) -> None:
    bad = np.isinf(floats)  # NaN is a null, already checked
    if bad.any():
        at = int(np.argmax(bad))
        row = int(rows[at])
        raise SignatureError(
            f"column {spec.name!r} expects a finite number, row {row} has {floats[at]}",
            field=spec.name,
            row=row,
        )


def _fail_first(
    spec: ColumnSpec, present: ObjectArray, rows: Array, accept: Callable[[Any], bool]
) -> None:
    """Raise for the first value ``accept`` refuses (no-op when all are accepted)."""
    for at, value in enumerate(present):
        if not accept(value):
            raise _type_error(spec, int(rows[at]), value)


def _type_error(spec: ColumnSpec, row: int, value: object) -> SignatureError:
    return SignatureError(
        f"column {spec.name!r} expects {spec.type}, row {row} has {_show(value)}",
        field=spec.name,
        row=row,
    )


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


# Per-value predicates (only used to find the offending row).


def _is_bool(value: object) -> bool:
    return isinstance(value, bool | np.bool_)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not _is_bool(value)


def _is_integer_like(value: object) -> bool:
    if isinstance(value, int | np.integer) and not _is_bool(value):
        return True
    return (
        isinstance(value, float | np.floating)
        and math.isfinite(value)
        and bool(value == int(value))
    )


def _fits_int64(value: object) -> bool:
    if not _is_integer_like(value):
        return False
    number: int = int(value)  # type: ignore[call-overload]
    return -(2**63) <= number < 2**63


def _fits_float(value: object) -> bool:
    if not _is_number(value):
        return False
    try:
        float(value)  # type: ignore[arg-type]
    except OverflowError:
        return False
    return True


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_datetime_like(value: object) -> bool:
    return isinstance(value, str | dt.date | np.datetime64)
