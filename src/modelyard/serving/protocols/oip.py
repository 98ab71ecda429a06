"""The Open Inference Protocol v2 (KServe, Triton, Seldon MLServer) for tabular models.

An inference request carries tensors::

    {"id": "...", "parameters": {...},
     "inputs": [{"name": ..., "shape": [...], "datatype": ..., "data": [...],
                 "parameters": {...}}],
     "outputs": [{"name": ..., "parameters": {...}}]}

Two tensor layouts map onto a model's signature:

* one tensor per column, named like the column, of shape ``[n]`` or ``[n, 1]``;
* a single ``[n, k]`` tensor (any name) holding the ``k`` columns in signature order.

``data`` is the row-major flattening of the tensor (what ``tritonclient`` and the KServe
client send for ``set_data_from_numpy(array, binary_data=False)``) or the same values
nested by shape. Datatypes: ``BYTES`` takes strings (datetimes as ISO-8601 strings),
``BOOL`` booleans, ``INT8``..``INT64`` and ``UINT8``..``UINT64`` integers, ``FP16``..``FP64``
numbers. JSON ``null`` is read as a missing value; the signature's ``nullable`` decides
whether it is allowed.

The binary tensor data extension (what ``set_data_from_numpy(array)`` sends by default)
is read too: the body is a JSON header of ``Inference-Header-Content-Length`` bytes
followed by the raw data of each input whose ``parameters`` hold ``binary_data_size``,
in the order of ``inputs``. :func:`split_binary_body` splits such a body and
:func:`read_binary_inputs` turns each binary input into the ``data`` list the JSON
encoding would carry, so both go through the same checks. Outputs are always answered
as JSON ``data``, also when requested with ``binary_data`` (or ``binary_data_output``):
those clients read JSON outputs as well.

Responses have a ``predict`` output (shape ``[n]``: class labels as ``BYTES``,
``INT64``, ``BOOL`` or ``FP64`` following the label values; ``FP64`` numbers for
regressors) and, for classifiers that give probabilities, ``predict_proba`` (``FP64``,
shape ``[n, n_classes]``, columns in the order of ``signature.output.classes``).
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelyard.domain.signature import (
    ClassLabel,
    ColumnType,
    Signature,
    to_json_scalar,
    validate_frame,
    validate_records,
)
from modelyard.errors import InvalidInputError
from modelyard.runtime.base import Prediction

PLATFORM = "modelyard"
PREDICT = "predict"
PREDICT_PROBA = "predict_proba"

#: The OIP datatype each signature column type is sent as.
COLUMN_DATATYPES: dict[ColumnType, str] = {
    "integer": "INT64",
    "float": "FP64",
    "string": "BYTES",
    "boolean": "BOOL",
    "datetime": "BYTES",
}

_INTEGER_TYPES = frozenset(
    {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
)
_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
#: Every datatype a request tensor may declare.
DATATYPES = _INTEGER_TYPES | _FLOAT_TYPES | {"BOOL", "BYTES"}

_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs"})
_TENSOR_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
_OUTPUT_KEYS = frozenset({"name", "parameters"})

#: Up to this many rows, rows → ``validate_records`` is cheaper than building a frame.
SMALL_REQUEST_ROWS = 128


@dataclass(frozen=True)
class _Tensor:
    position: int
    name: str
    shape: tuple[int, ...]
    datatype: str
    values: list[Any]  # flattened, row-major

    @property
    def where(self) -> str:
        return f"inputs[{self.position}] ({self.name!r})"


# --------------------------------------------------------------------------- requests


def parse_oip_request(
    payload: object, signature: Signature, *, max_rows: int | None = None
) -> tuple[pd.DataFrame, str | None, list[str] | None]:
    """The input frame, the request ``id`` and the requested output names (None: all).

    The frame is checked against the signature (``validate_records`` or
    ``validate_frame``), so it has exactly the signature's columns and dtypes.
    ``max_rows`` caps the number of rows. Errors are InvalidInputError whose ``field``
    names the tensor (its name, or ``inputs[i]`` when it has none), the column, or the
    request key at fault.
    """
    if not isinstance(payload, Mapping):
        raise InvalidInputError(
            'expected a JSON object like {"inputs": [{"name", "shape", "datatype", "data"}]}',
            field="body",
        )
    unknown = sorted(str(k) for k in payload if k not in _REQUEST_KEYS)
    if unknown:
        raise InvalidInputError(
            f"unexpected key {unknown[0]!r} in the inference request", field=unknown[0]
        )
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInputError("id must be a string", field="id")
    parameters = payload.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InvalidInputError("parameters must be an object", field="parameters")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInputError("inputs must be a non-empty list of tensors", field="inputs")
    tensors = [_read_tensor(position, item) for position, item in enumerate(inputs)]
    frame = _frame(tensors, signature, max_rows)
    outputs = _requested_outputs(payload.get("outputs"), signature)
    return frame, request_id, outputs


def _read_tensor(position: int, item: object) -> _Tensor:
    item, field, where, parameters = _tensor_head(position, item)
    if parameters and BINARY_DATA_SIZE in parameters:
        raise InvalidInputError(_unframed_binary_message(where), field=field)
    datatype, shape = _datatype_and_shape(item, where, field)
    if "data" not in item:
        raise InvalidInputError(f"{where} has no data", field=field)
    values = _flatten(item["data"], shape, where, field)
    expected = math.prod(shape)
    if len(values) != expected:
        raise InvalidInputError(
            f"{where} has shape {shape}, which needs {expected} values; data has {len(values)}",
            field=field,
        )
    _check_datatype(values, datatype, where, field, width=shape[1] if len(shape) == 2 else 1)
    return _Tensor(position, field, tuple(shape), datatype, values)


def _tensor_head(
    position: int, item: object
) -> tuple[Mapping[str, Any], str, str, Mapping[str, Any] | None]:
    """The tensor object, its name (the error ``field``), how messages name it
    (``inputs[i] ('name')``) and its parameters, once the keys are known ones."""
    where = f"inputs[{position}]"
    if not isinstance(item, Mapping):
        raise InvalidInputError(f"{where} must be a tensor object", field=where)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{where}.name must be a non-empty string", field=where)
    where = f"{where} ({name!r})"
    unknown = sorted(str(k) for k in item if k not in _TENSOR_KEYS)
    if unknown:
        raise InvalidInputError(f"{where} has an unexpected key {unknown[0]!r}", field=name)
    parameters = item.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise InvalidInputError(f"{where}.parameters must be an object", field=name)
    return item, name, where, parameters


def _datatype_and_shape(item: Mapping[str, Any], where: str, field: str) -> tuple[str, list[int]]:
    datatype = item.get("datatype")
    if datatype not in DATATYPES:
        raise InvalidInputError(
            f"{where} has datatype {datatype!r}; supported: {', '.join(sorted(DATATYPES))}",
            field=field,
        )
    shape = item.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInputError(
            f"{where}.shape must be [n] or [n, k] with non-negative integers, got {shape!r}",
            field=field,
        )
    return str(datatype), shape


def _flatten(data: object, shape: list[int], where: str, field: str) -> list[Any]:
    """Row-major values: ``data`` as sent flat, or nested by rows for an [n, k] tensor."""
    if not isinstance(data, list):
        raise InvalidInputError(f"{where}.data must be a list", field=field)
    if len(shape) == 1 or not data or not isinstance(data[0], list):
        return data
    rows, width = shape
    if len(data) != rows:
        raise InvalidInputError(
            f"{where}.data has {len(data)} rows; shape {shape} needs {rows}", field=field
        )
    for number, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidInputError(
                f"{where}.data[{number}] must be a list of {width} values",
                field=field,
                row=number,
            )
    return list(itertools.chain.from_iterable(data))


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float | np.floating)


_ACCEPTED_KINDS: dict[str, frozenset[str]] = {
    "BYTES": frozenset({"string", "empty"}),
    "BOOL": frozenset({"boolean", "empty"}),
    "INT": frozenset({"integer", "empty"}),
    "FP": frozenset({"integer", "floating", "mixed-integer-float", "empty"}),
}
_ACCEPTS: dict[str, Callable[[object], bool]] = {
    "BYTES": lambda v: isinstance(v, str),
    "BOOL": lambda v: isinstance(v, bool | np.bool_),
    "INT": _is_int,
    "FP": _is_number,
}


def _family(datatype: str) -> str:
    if datatype in _INTEGER_TYPES:
        return "INT"
    if datatype in _FLOAT_TYPES:
        return "FP"
    return datatype


def _check_datatype(values: list[Any], datatype: str, where: str, field: str, width: int) -> None:
    """Every value (nulls aside) must be of the kind ``datatype`` declares."""
    family = _family(datatype)
    if ptypes.infer_dtype(values, skipna=True) in _ACCEPTED_KINDS[family]:
        return
    accepts = _ACCEPTS[family]
    for position, value in enumerate(values):
        if value is not None and not accepts(value):
            raise InvalidInputError(
                f"{where} has datatype {datatype} but data[{position}] is {_show(value)}",
                field=field,
                row=position // width,
            )
    # infer_dtype disagreed but every value passed (e.g. unusual numpy scalars): accept.


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _frame(tensors: list[_Tensor], signature: Signature, max_rows: int | None) -> pd.DataFrame:
    names = [t.name for t in tensors]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInputError(f"two input tensors are named {name!r}", field=name)
        seen.add(name)
    columns = signature.columns
    known = set(columns)
    single = tensors[0] if len(tensors) == 1 and len(tensors[0].shape) == 2 else None
    if (
        single is not None
        and single.shape[1] == len(columns)
        and (single.name not in known or len(columns) > 1)
    ):
        return _from_matrix(single, signature, max_rows)
    if all(name in known for name in names):
        return _from_column_tensors(tensors, signature, max_rows)
    if single is not None and single.shape[1] > 1:
        return _from_matrix(single, signature, max_rows)  # reports the width mismatch
    stray = next(t for t in tensors if t.name not in known)
    raise InvalidInputError(
        f"unknown input tensor {stray.name!r} ({stray.where}); send one tensor per column "
        f"({', '.join(columns)}) or a single [n, {len(columns)}] tensor",
        field=stray.name,
    )


def _check_rows(count: int, field: str, max_rows: int | None) -> None:
    if count == 0:
        raise InvalidInputError("the input tensors hold no rows", field=field)
    if max_rows is not None and count > max_rows:
        raise InvalidInputError(f"{count} rows; the limit is {max_rows}", field=field)


def _from_column_tensors(
    tensors: list[_Tensor], signature: Signature, max_rows: int | None
) -> pd.DataFrame:
    by_name = {t.name: t for t in tensors}
    for name in signature.columns:
        if name not in by_name:
            raise InvalidInputError(
                f"missing input tensor for column {name!r}; send one tensor per column "
                f"({', '.join(signature.columns)})",
                field=name,
            )
    first = tensors[0]
    count = first.shape[0]
    for tensor in tensors:
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise InvalidInputError(
                f"{tensor.where} has shape {list(tensor.shape)}; a column tensor is [n] or [n, 1]",
                field=tensor.name,
            )
        if tensor.shape[0] != count:
            raise InvalidInputError(
                f"{tensor.where} has {tensor.shape[0]} rows but {first.where} has {count}",
                field=tensor.name,
            )
    _check_rows(count, first.name, max_rows)
    if count <= SMALL_REQUEST_ROWS:
        names = [t.name for t in tensors]
        rows = zip(*(t.values for t in tensors), strict=True)
        return validate_records(signature, [dict(zip(names, row, strict=True)) for row in rows])
    data = {t.name: _array(t.values, t.datatype) for t in tensors}
    return _checked(signature, data, count)


def _from_matrix(tensor: _Tensor, signature: Signature, max_rows: int | None) -> pd.DataFrame:
    count, width = tensor.shape
    columns = signature.columns
    if width != len(columns):
        raise InvalidInputError(
            f"{tensor.where} has {width} columns; the model takes {len(columns)} "
            f"({', '.join(columns)})",
            field=tensor.name,
        )
    _check_rows(count, tensor.name, max_rows)
    if count <= SMALL_REQUEST_ROWS:
        values = tensor.values
        return validate_records(
            signature,
            [
                dict(zip(columns, values[start : start + width], strict=True))
                for start in range(0, count * width, width)
            ],
        )
    matrix = _array(tensor.values, tensor.datatype).reshape(count, width)
    data = {name: matrix[:, j] for j, name in enumerate(columns)}
    return _checked(signature, data, count)


def _array(values: list[Any], datatype: str) -> npt.NDArray[Any]:
    """Values already checked against ``datatype``, as the cheapest array to validate."""
    family = _family(datatype)
    if family == "FP":
        return np.array(values, dtype=np.float64)  # null -> NaN
    if family == "INT":
        try:
            return np.array(values, dtype=np.int64)
        except (TypeError, OverflowError, ValueError):  # nulls or huge values
            pass
    return np.fromiter(values, dtype=object, count=len(values))


def _checked(signature: Signature, data: dict[str, npt.NDArray[Any]], count: int) -> pd.DataFrame:
    index = pd.RangeIndex(count)
    series = {
        # dtype=object: pandas 3 would otherwise infer its own string dtype for strings.
        name: pd.Series(
            values, index=index, copy=False, dtype=object if values.dtype == object else None
        )
        for name, values in data.items()
    }
    return validate_frame(signature, pd.DataFrame(series, index=index, copy=False))


def _requested_outputs(outputs: object, signature: Signature) -> list[str] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise InvalidInputError('outputs must be a list of {"name": ...} objects', field="outputs")
    available = _output_names(signature)
    names: list[str] = []
    for position, item in enumerate(outputs):
        where = f"outputs[{position}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise InvalidInputError(f"{where} must be an object with a name", field=where)
        unknown = sorted(str(k) for k in item if k not in _OUTPUT_KEYS)
        if unknown:
            raise InvalidInputError(f"{where} has an unexpected key {unknown[0]!r}", field=where)
        name = item["name"]
        if name not in available:
            raise InvalidInputError(
                f"{where} asks for unknown output {name!r}; this model has {', '.join(available)}",
                field=where,
            )
        if name in names:
            raise InvalidInputError(f"{where} asks for {name!r} twice", field=where)
        names.append(name)
    return names


def _output_names(signature: Signature) -> list[str]:
    if signature.output.kind == "classification":
        return [PREDICT, PREDICT_PROBA]
    return [PREDICT]


# --------------------------------------------------------------- binary tensor data extension

#: The HTTP header giving the length of the JSON header of a binary request.
HEADER_LENGTH = "Inference-Header-Content-Length"
#: The tensor parameter giving the length of the tensor's binary data.
BINARY_DATA_SIZE = "binary_data_size"

#: Fixed-size datatypes: their raw little-endian element type (BOOL: one byte, 0 or 1).
_BINARY_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(code)
    for name, code in {
        "BOOL": "u1",
        "INT8": "<i1",
        "INT16": "<i2",
        "INT32": "<i4",
        "INT64": "<i8",
        "UINT8": "<u1",
        "UINT16": "<u2",
        "UINT32": "<u4",
        "UINT64": "<u8",
        "FP16": "<f2",
        "FP32": "<f4",
        "FP64": "<f8",
    }.items()
}
_LENGTH = struct.Struct("<I")


def split_binary_body(body: bytes, header_length: str) -> tuple[bytes, memoryview]:
    """A binary request body as its JSON header and the binary data after it.

    ``header_length`` is the ``Inference-Header-Content-Length`` header as sent: the
    number of bytes of the JSON header at the start of ``body``.
    """
    field = HEADER_LENGTH.lower()
    text = header_length.strip()
    if not text.isdigit() or not text.isascii() or int(text) == 0:
        raise InvalidInputError(
            f"{HEADER_LENGTH} must be the positive length in bytes of the JSON header, "
            f"got {header_length!r}",
            field=field,
        )
    length = int(text)
    if length > len(body):
        raise InvalidInputError(
            f"{HEADER_LENGTH} is {length} but the body has only {len(body)} bytes",
            field=field,
        )
    return body[:length], memoryview(body)[length:]


def read_binary_inputs(payload: object, binary: bytes | memoryview) -> object:
    """``payload`` (the decoded JSON header) with each binary input's values in ``data``.

    Inputs whose ``parameters`` hold ``binary_data_size`` take that many bytes of
    ``binary``, in the order of ``inputs``, and get them as the ``data`` list the JSON
    encoding carries (numbers, booleans, UTF-8 strings for ``BYTES``), so
    :func:`parse_oip_request` checks them exactly as it checks JSON data. Numeric and
    ``BOOL`` data is the little-endian, row-major array (``BOOL`` one byte, 0 or 1, per
    element); ``BYTES`` elements are each a 4-byte little-endian length and the bytes.
    Every byte of ``binary`` must belong to an input. Errors are InvalidInputError
    naming the tensor. ``payload`` itself is not changed.
    """
    inputs = payload.get("inputs") if isinstance(payload, Mapping) else None
    if not isinstance(payload, Mapping) or not isinstance(inputs, list):
        if len(binary):
            raise InvalidInputError(
                f"{len(binary)} bytes of binary data follow the JSON header, but it has no "
                "inputs list to hold them",
                field="inputs",
            )
        return payload  # parse_oip_request names what is wrong
    view = memoryview(binary)
    offset = 0
    read: list[object] = []
    sizes: list[str] = []
    for position, item in enumerate(inputs):
        parameters = item.get("parameters") if isinstance(item, Mapping) else None
        if not isinstance(parameters, Mapping) or BINARY_DATA_SIZE not in parameters:
            read.append(item)
            continue
        item, field, where, _ = _tensor_head(position, item)
        size = parameters[BINARY_DATA_SIZE]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInputError(
                f"{where}.parameters.{BINARY_DATA_SIZE} must be a non-negative integer, "
                f"got {_show(size)}",
                field=field,
            )
        if "data" in item:
            raise InvalidInputError(
                f"{where} has both 'data' and parameters.{BINARY_DATA_SIZE}; send one",
                field=field,
            )
        datatype, shape = _datatype_and_shape(item, where, field)
        if offset + size > len(view):
            raise InvalidInputError(
                f"{where} has {BINARY_DATA_SIZE} {size}, but only {len(view) - offset} bytes "
                "of binary data are left for it",
                field=field,
            )
        values = _binary_values(view[offset : offset + size], datatype, shape, where, field)
        offset += size
        sizes.append(f"{where}: {size}")
        rest = {k: v for k, v in parameters.items() if k != BINARY_DATA_SIZE}
        tensor = {k: v for k, v in item.items() if k != "parameters"}
        if rest:
            tensor["parameters"] = rest
        tensor["data"] = values
        read.append(tensor)
    if offset != len(view):
        held = "; ".join(sizes) if sizes else "no input has one"
        raise InvalidInputError(
            f"{len(view) - offset} bytes of binary data are left over: the body has "
            f"{len(view)} bytes after the JSON header, but the inputs' {BINARY_DATA_SIZE} values "
            f"add up to {offset} ({held})",
            field="inputs",
        )
    return {**payload, "inputs": read}


def _binary_values(
    chunk: memoryview, datatype: str, shape: list[int], where: str, field: str
) -> list[Any]:
    count = math.prod(shape)
    if datatype == "BYTES":
        values = _bytes_elements(chunk, where, field)
        if len(values) != count:
            raise InvalidInputError(
                f"{where} has shape {shape}, which needs {count} BYTES elements; its "
                f"{BINARY_DATA_SIZE} of {len(chunk)} bytes holds {len(values)}",
                field=field,
            )
        return values
    dtype = _BINARY_DTYPES[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise InvalidInputError(
            f"{where} has shape {shape} of {datatype} ({dtype.itemsize} bytes each), which "
            f"needs {count * dtype.itemsize} bytes; {BINARY_DATA_SIZE} is {len(chunk)}",
            field=field,
        )
    array = np.frombuffer(chunk, dtype=dtype)
    if datatype == "BOOL":
        wrong = np.flatnonzero(array > 1)
        if wrong.size:
            raise InvalidInputError(
                f"{where} has datatype BOOL but byte {int(wrong[0])} of its binary data is "
                f"{int(array[wrong[0]])}; BOOL elements are one byte, 0 or 1",
                field=field,
                row=int(wrong[0]) // (shape[1] if len(shape) == 2 else 1),
            )
        return array.astype(bool).tolist()  # type: ignore[no-any-return]
    return array.tolist()  # type: ignore[no-any-return]


def _bytes_elements(chunk: memoryview, where: str, field: str) -> list[Any]:
    """Length-prefixed elements (tritonclient's ``serialize_byte_tensor``) as strings."""
    values: list[Any] = []
    offset, end = 0, len(chunk)
    while offset < end:
        element = len(values)
        if end - offset < _LENGTH.size:
            raise InvalidInputError(
                f"{where}: BYTES element {element} starts {end - offset} bytes before the end "
                f"of its binary data, too few for its 4-byte length",
                field=field,
            )
        (length,) = _LENGTH.unpack_from(chunk, offset)
        offset += _LENGTH.size
        if length > end - offset:
            raise InvalidInputError(
                f"{where}: BYTES element {element} has length {length}, but only "
                f"{end - offset} bytes of its binary data are left",
                field=field,
            )
        try:
            values.append(str(chunk[offset : offset + length], "utf-8"))
        except UnicodeDecodeError:
            raise InvalidInputError(
                f"{where}: BYTES element {element} is not valid UTF-8 text", field=field
            ) from None
        offset += length
    return values


def _unframed_binary_message(where: str) -> str:
    return (
        f"{where} uses the binary data extension ({BINARY_DATA_SIZE}) but the request has "
        f"no {HEADER_LENGTH} header: send that header with the length of the JSON header "
        "(tritonclient does), or the values in 'data' (binary_data=False)"
    )


def unframed_binary_error(body: bytes) -> InvalidInputError | None:
    """Why ``body``, which is not JSON and came without an ``Inference-Header-Content-Length``
    header, cannot be read: when it starts with a JSON object that has a binary input,
    an error naming that tensor; ``None`` when it does not."""
    # The binary data after the JSON header is not UTF-8: replaced, it still ends the text.
    text = body.decode("utf-8", errors="replace").lstrip()
    try:
        payload, _ = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        return None
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    for position, item in enumerate(inputs if isinstance(inputs, list) else []):
        parameters = item.get("parameters") if isinstance(item, dict) else None
        if isinstance(parameters, dict) and BINARY_DATA_SIZE in parameters:
            name = item.get("name")
            if isinstance(name, str) and name:
                return InvalidInputError(
                    _unframed_binary_message(f"inputs[{position}] ({name!r})"), field=name
                )
            where = f"inputs[{position}]"
            return InvalidInputError(_unframed_binary_message(where), field=where)
    return None


# --------------------------------------------------------------------------- responses


def encode_oip_response(
    prediction: Prediction,
    model_name: str,
    model_version: str | int | None,
    request_id: str | None,
    requested_outputs: Sequence[str] | None = None,
    *,
    classes: Sequence[ClassLabel] | None = None,
) -> dict[str, Any]:
    """The inference response: ``predict`` and, when there are probabilities, ``predict_proba``.

    ``requested_outputs`` (from :func:`parse_oip_request`) limits and orders the outputs.
    ``classes`` (pass ``signature.output.classes``) fixes the ``predict_proba`` column
    order; without it the order is the model's own. Asking for ``predict_proba`` from a
    model without probabilities is an InvalidInputError on field ``"outputs"``.
    """
    names = list(requested_outputs) if requested_outputs is not None else [PREDICT]
    if requested_outputs is None and prediction.probabilities is not None:
        names.append(PREDICT_PROBA)
    outputs = []
    for name in names:
        if name == PREDICT:
            outputs.append(_labels_output(prediction.predictions))
        elif name == PREDICT_PROBA:
            outputs.append(_proba_output(prediction, classes))
        else:
            raise InvalidInputError(f"unknown output {name!r}", field="outputs")
    response: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        response["model_version"] = str(model_version)
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = outputs
    return response


def _labels_output(values: list[Any]) -> dict[str, Any]:
    datatype = _values_datatype(values)
    data = [None if v is None else str(v) for v in values] if datatype == "BYTES" else values
    return {"name": PREDICT, "datatype": datatype, "shape": [len(values)], "data": data}


def _values_datatype(values: Sequence[Any]) -> str:
    kind = ptypes.infer_dtype(values, skipna=True)
    if kind == "boolean":
        return "BOOL"
    if kind == "integer":
        return "INT64"
    if kind in ("floating", "mixed-integer-float", "empty"):
        return "FP64"
    return "BYTES"


def _proba_output(prediction: Prediction, classes: Sequence[ClassLabel] | None) -> dict[str, Any]:
    rows = prediction.probabilities
    if rows is None:
        raise InvalidInputError(
            f"this model gives no class probabilities; request only {PREDICT!r}",
            field="outputs",
        )
    if classes is not None:
        keys = [str(to_json_scalar(c)) for c in classes]
    else:
        keys = list(rows[0]) if rows else []
    data = [row[k] for row in rows for k in keys]
    return {
        "name": PREDICT_PROBA,
        "datatype": "FP64",
        "shape": [len(rows), len(keys)],
        "data": data,
    }


# --------------------------------------------------------------------------- metadata


def model_metadata(
    name: str, versions: Sequence[str | int], signature: Signature
) -> dict[str, Any]:
    """The model metadata response (``GET /v2/models/{name}``): its tensors and types."""
    inputs = [
        {"name": spec.name, "datatype": COLUMN_DATATYPES[spec.type], "shape": [-1]}
        for spec in signature.inputs
    ]
    classes = signature.output.classes
    if signature.output.kind == "classification":
        label_type = _values_datatype(list(classes)) if classes else "BYTES"
        outputs = [
            {"name": PREDICT, "datatype": label_type, "shape": [-1]},
            {
                "name": PREDICT_PROBA,
                "datatype": "FP64",
                "shape": [-1, len(classes) if classes else -1],
            },
        ]
    else:
        outputs = [{"name": PREDICT, "datatype": "FP64", "shape": [-1]}]
    return {
        "name": name,
        "versions": [str(v) for v in versions],
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": outputs,
    }
