"""Open Inference Protocol v2 requests, built the way tritonclient / KServe clients do."""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature, validate_frame
from modelyard.errors import InvalidInputError, SignatureError
from modelyard.runtime.base import Prediction
from modelyard.serving.protocols.oip import (
    SMALL_REQUEST_ROWS,
    encode_oip_response,
    model_metadata,
    parse_oip_request,
    read_binary_inputs,
    split_binary_body,
    unframed_binary_error,
)

SIGNATURE = Signature(
    (
        ColumnSpec("age", "integer"),
        ColumnSpec("income", "float"),
        ColumnSpec("city", "string"),
        ColumnSpec("member", "boolean"),
    ),
    OutputSpec("classification", ("no", "yes")),
)
NUMERIC = Signature(
    (ColumnSpec("a", "float"), ColumnSpec("b", "float"), ColumnSpec("k", "integer")),
    OutputSpec("regression"),
)


def infer_input(name: str, array: np.ndarray, datatype: str) -> dict[str, Any]:
    """``InferInput(name, shape, datatype).set_data_from_numpy(array, binary_data=False)``.

    Mirrors tritonclient.http: shape is the array's, data its C-order flattening, as
    ``.item()`` values, BYTES decoded to ``str``.
    """
    if datatype == "BYTES":
        items = [v.item() for v in np.nditer(array, flags=["refs_ok"], order="C")]
        data = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in items]
    else:
        data = [v.item() for v in array.flatten()]
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def request(*inputs: dict[str, Any], **extra: Any) -> Any:
    """A request as the server decodes it (through JSON)."""
    return json.loads(json.dumps({"inputs": list(inputs), **extra}))


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 22],
            "income": [52.5, 61.0, 38.25],
            "city": ["paris", "lyon", "nice"],
            "member": [True, False, True],
        }
    )


def column_inputs(
    frame: pd.DataFrame, *, two_d: bool = False, encode: Callable[..., Any] | None = None
) -> list[Any]:
    """One tensor per column, as ``encode`` builds it (default :func:`infer_input`)."""
    datatypes = {"age": "INT64", "income": "FP32", "city": "BYTES", "member": "BOOL"}
    arrays = {
        "age": frame["age"].to_numpy(np.int64),
        "income": frame["income"].to_numpy(np.float32),
        "city": frame["city"].to_numpy(object),
        "member": frame["member"].to_numpy(bool),
    }
    build = encode or infer_input
    return [
        build(name, array.reshape(-1, 1) if two_d else array, datatypes[name])
        for name, array in arrays.items()
    ]


def parse(payload: Any, signature: Signature = SIGNATURE, **kwargs: Any) -> pd.DataFrame:
    frame, _, _ = parse_oip_request(payload, signature, **kwargs)
    return frame


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("two_d", [False, True], ids=["shape-n", "shape-n-1"])
def test_one_tensor_per_column(frame: pd.DataFrame, two_d: bool) -> None:
    got = parse(request(*column_inputs(frame, two_d=two_d)))
    pd.testing.assert_frame_equal(got, validate_frame(SIGNATURE, frame))


def test_column_tensors_in_any_order_with_nested_data(frame: pd.DataFrame) -> None:
    inputs = column_inputs(frame, two_d=True)[::-1]
    for tensor in inputs:
        tensor["data"] = [[v] for v in tensor["data"]]  # nested by shape [n, 1]
    got = parse(request(*inputs))
    pd.testing.assert_frame_equal(got, validate_frame(SIGNATURE, frame))


@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_one_matrix_in_signature_order(datatype: str) -> None:
    array = np.array([[0.5, -1.0, 2], [1.5, 0.25, 4]], dtype=np.float64)
    payload = request(infer_input("input-0", array.astype(np.float32), datatype))
    got = parse(payload, NUMERIC)
    assert got.columns.tolist() == ["a", "b", "k"]
    assert got["k"].tolist() == [2, 4] and got["k"].dtype == np.int64
    np.testing.assert_allclose(got[["a", "b"]].to_numpy(), array[:, :2])


def test_matrix_data_may_be_nested() -> None:
    payload = request(
        {"name": "X", "shape": [2, 3], "datatype": "FP64", "data": [[0.5, 1, 2], [1.5, 2, 3]]}
    )
    assert parse(payload, NUMERIC)["a"].tolist() == [0.5, 1.5]


def test_matrix_named_like_a_column_is_still_a_matrix() -> None:
    payload = request({"name": "a", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]})
    assert parse(payload, NUMERIC).iloc[0].tolist() == [1.0, 2.0, 3.0]


def test_int_tensors_of_other_widths_and_datetimes_as_bytes() -> None:
    signature = Signature(
        (ColumnSpec("n", "integer"), ColumnSpec("at", "datetime")), OutputSpec("regression")
    )
    payload = request(
        infer_input("n", np.array([1, 2], dtype=np.int32), "INT32"),
        infer_input("at", np.array(["2024-01-02T03:04:05", "2024-02-01"], dtype=object), "BYTES"),
    )
    got = parse(payload, signature)
    assert got["n"].tolist() == [1, 2]
    assert got["at"].tolist() == [pd.Timestamp("2024-01-02T03:04:05"), pd.Timestamp("2024-02-01")]


def test_nulls_are_missing_values_checked_by_the_signature() -> None:
    signature = Signature(
        (ColumnSpec("x", "float", nullable=True), ColumnSpec("k", "integer", nullable=True)),
        OutputSpec("regression"),
    )
    payload = request(
        {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.5, None]},
        {"name": "k", "shape": [2], "datatype": "INT64", "data": [None, 3]},
    )
    got = parse(payload, signature)
    assert got["x"].isna().tolist() == [False, True]
    assert got["k"].isna().tolist() == [True, False]
    with pytest.raises(SignatureError, match="not nullable") as info:
        parse(
            payload,
            Signature((ColumnSpec("x", "float"), ColumnSpec("k", "integer")), NUMERIC.output),
        )
    assert info.value.field == "x"


def test_id_parameters_and_outputs_are_returned(frame: pd.DataFrame) -> None:
    payload = request(
        *column_inputs(frame),
        id="req-1",
        parameters={"binary_data_output": False},
        outputs=[{"name": "predict_proba", "parameters": {"binary_data": True}}],
    )
    got, request_id, outputs = parse_oip_request(payload, SIGNATURE)
    assert len(got) == 3
    assert request_id == "req-1"
    assert outputs == ["predict_proba"]
    _, request_id, outputs = parse_oip_request(request(*column_inputs(frame)), SIGNATURE)
    assert request_id is None and outputs is None


def test_max_rows(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="the limit is 2") as info:
        parse(request(*column_inputs(frame)), max_rows=2)
    assert info.value.field == "age"
    assert len(parse(request(*column_inputs(frame)), max_rows=3)) == 3


# --------------------------------------------------------------------------- errors


def tensor(name: str = "age", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": name, "shape": [2], "datatype": "INT64", "data": [1, 2]}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def others(n: int = 2) -> list[dict[str, Any]]:
    return [
        {"name": "income", "shape": [n], "datatype": "FP64", "data": [1.0] * n},
        {"name": "city", "shape": [n], "datatype": "BYTES", "data": ["x"] * n},
        {"name": "member", "shape": [n], "datatype": "BOOL", "data": [True] * n},
    ]


@pytest.mark.parametrize(
    ("payload", "field", "match"),
    [
        ([], "body", "JSON object"),
        ({"inputs": [tensor(), *others()], "model": "x"}, "model", "unexpected key"),
        ({"inputs": [tensor(), *others()], "id": 7}, "id", "string"),
        ({"inputs": [tensor(), *others()], "parameters": [1]}, "parameters", "object"),
        ({"inputs": []}, "inputs", "non-empty list"),
        ({"inputs": {"age": [1]}}, "inputs", "non-empty list"),
        ({"inputs": [5]}, "inputs[0]", "tensor object"),
        ({"inputs": [tensor(name=None)]}, "inputs[0]", "name"),
        ({"inputs": [tensor(name="")]}, "inputs[0]", "name"),
        ({"inputs": [*others(), tensor(name=5)]}, "inputs[3]", "name"),
        ({"inputs": [tensor(extra=1), *others()]}, "age", "unexpected key 'extra'"),
        ({"inputs": [tensor(datatype="STRING"), *others()]}, "age", "datatype 'STRING'"),
        ({"inputs": [tensor(datatype=...), *others()]}, "age", "datatype None"),
        ({"inputs": [tensor(shape=...), *others()]}, "age", "shape must be"),
        ({"inputs": [tensor(shape=[2, 1, 1]), *others()]}, "age", "shape must be"),
        ({"inputs": [tensor(shape=[-1]), *others()]}, "age", "shape must be"),
        ({"inputs": [tensor(shape=["2"]), *others()]}, "age", "shape must be"),
        ({"inputs": [tensor(data=...), *others()]}, "age", "no data"),
        ({"inputs": [tensor(data="12"), *others()]}, "age", "data must be a list"),
        ({"inputs": [tensor(data=[1, 2, 3]), *others()]}, "age", "needs 2 values; data has 3"),
        ({"inputs": [tensor(shape=[3]), *others()]}, "age", "needs 3 values; data has 2"),
        (
            {"inputs": [tensor(parameters={"binary_data_size": 16}), *others()]},
            "age",
            "binary data extension.*no Inference-Header-Content-Length header",
        ),
        ({"inputs": [tensor(parameters=[1]), *others()]}, "age", "parameters must be"),
        ({"inputs": [tensor(), tensor(), *others()]}, "age", "two input tensors"),
        ({"inputs": [tensor(name="agee"), *others()]}, "agee", "unknown input tensor 'agee'"),
        ({"inputs": others()}, "age", "missing input tensor for column 'age'"),
        ({"inputs": [tensor(shape=[2, 2], data=[1, 2, 3, 4]), *others()]}, "age", r"\[n\] or"),
        (
            {"inputs": [tensor(shape=[3], data=[1, 2, 3]), *others()]},
            "income",
            r"has 2 rows but inputs\[0\] \('age'\) has 3",
        ),
        ({"inputs": [tensor(shape=[0], data=[]), *others(0)]}, "age", "no rows"),
        ({"inputs": [tensor(), *others()], "outputs": {}}, "outputs", "list"),
        ({"inputs": [tensor(), *others()], "outputs": [{"n": 1}]}, "outputs[0]", "name"),
        (
            {"inputs": [tensor(), *others()], "outputs": [{"name": "scores"}]},
            "outputs[0]",
            "unknown output 'scores'",
        ),
        (
            {"inputs": [tensor(), *others()], "outputs": [{"name": "predict", "shape": [1]}]},
            "outputs[0]",
            "unexpected key",
        ),
        (
            {"inputs": [tensor(), *others()], "outputs": [{"name": "predict"}] * 2},
            "outputs[1]",
            "twice",
        ),
    ],
)
def test_malformed_requests_name_the_field(payload: Any, field: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        parse_oip_request(payload, SIGNATURE)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("datatype", "data", "position"),
    [
        ("INT64", [1, "2"], 1),
        ("INT64", [1, 2.5], 1),
        ("INT32", [True, 2], 0),
        ("FP32", [1.5, "x"], 1),
        ("FP64", [False, 1.0], 0),
        ("BYTES", ["a", 3], 1),
        ("BOOL", [True, 1], 1),
        ("FP64", [1.0, [2.0]], 1),
    ],
)
def test_values_must_match_the_datatype(datatype: str, data: list[Any], position: int) -> None:
    payload = {"inputs": [tensor("age", datatype=datatype, data=data), *others()]}
    with pytest.raises(
        InvalidInputError, match=rf"datatype {datatype} but data\[{position}\]"
    ) as info:
        parse_oip_request(payload, SIGNATURE)
    assert info.value.field == "age"
    assert info.value.row == position


def test_matrix_errors_name_the_tensor() -> None:
    def matrix(shape: list[int], data: list[Any], datatype: str = "FP64") -> Any:
        return {"inputs": [{"name": "X", "shape": shape, "datatype": datatype, "data": data}]}

    cases = [
        (matrix([2, 2], [1, 2, 3, 4]), "2 columns; the model takes 3"),
        (matrix([2, 3], [[1, 2, 3]]), "1 rows; shape"),
        (matrix([2, 3], [[1, 2, 3], [4, 5]]), r"data\[1\] must be a list of 3"),
        (matrix([1, 3], [1, 2, "x"]), r"data\[2\] is 'x'"),
    ]
    for payload, match in cases:
        with pytest.raises(InvalidInputError, match=match) as info:
            parse_oip_request(payload, NUMERIC)
        assert info.value.field == "X"
    with pytest.raises(InvalidInputError, match=r"data\[4\]") as info:
        parse_oip_request(matrix([2, 3], [1, 2, 3, 4, "x", 6]), NUMERIC)
    assert info.value.row == 1


def test_values_the_signature_refuses_name_the_column() -> None:
    payload = request({"name": "X", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0, 2.5]})
    with pytest.raises(SignatureError, match="expects integer") as info:
        parse_oip_request(payload, NUMERIC)
    assert info.value.field == "k"
    wrong = request(tensor(datatype="BYTES", data=["1", "2"]), *others())
    with pytest.raises(SignatureError, match="expects integer") as info:
        parse_oip_request(wrong, SIGNATURE)
    assert info.value.field == "age"


# ----------------------------------------------------------- binary tensor data extension


def serialize_bytes(array: np.ndarray) -> bytes:
    """tritonclient.utils.serialize_byte_tensor: each element a 4-byte little-endian
    length and its bytes (str elements as UTF-8), row-major."""
    parts = []
    for item in np.nditer(array, flags=["refs_ok"], order="C"):
        value = item.item()
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(struct.pack("<I", len(raw)) + raw)
    return b"".join(parts)


def binary_input(name: str, array: np.ndarray, datatype: str) -> tuple[dict[str, Any], bytes]:
    """``InferInput(name, shape, datatype).set_data_from_numpy(array)`` (binary_data=True):
    the tensor as the JSON header carries it, and its raw bytes."""
    raw = serialize_bytes(array) if datatype == "BYTES" else array.tobytes()
    tensor = {"name": name, "shape": list(array.shape), "datatype": datatype}
    return {**tensor, "parameters": {"binary_data_size": len(raw)}}, raw


def binary_body(*inputs: tuple[dict[str, Any], bytes] | dict[str, Any], **extra: Any) -> Any:
    """A binary request's body (JSON header, then each binary input's bytes in order) and
    its Inference-Header-Content-Length, as tritonclient builds them."""
    tensors = [i[0] if isinstance(i, tuple) else i for i in inputs]
    header = json.dumps({"inputs": tensors, **extra}).encode()
    raw = b"".join(i[1] for i in inputs if isinstance(i, tuple))
    return header + raw, str(len(header))


def decode(body: bytes, header_length: str) -> Any:
    """What the HTTP layer does with a binary body (decode_oip_body, without limits)."""
    header, binary = split_binary_body(body, header_length)
    return read_binary_inputs(json.loads(header), binary)


def binary_columns(frame: pd.DataFrame, *, two_d: bool = False) -> list[Any]:
    return column_inputs(frame, two_d=two_d, encode=binary_input)


def test_split_binary_body_at_the_header_length() -> None:
    header, binary = split_binary_body(b'{"inputs": []}\x01\x02\x03', "14")
    assert header == b'{"inputs": []}' and bytes(binary) == b"\x01\x02\x03"
    header, binary = split_binary_body(b'{"inputs": []}', " 14 ")
    assert header == b'{"inputs": []}' and len(binary) == 0


@pytest.mark.parametrize("two_d", [False, True], ids=["shape-n", "shape-n-1"])
def test_binary_column_tensors_read_like_json_ones(frame: pd.DataFrame, two_d: bool) -> None:
    payload = decode(*binary_body(*binary_columns(frame, two_d=two_d), id="b-1"))
    assert payload == request(*column_inputs(frame, two_d=two_d), id="b-1")
    got, request_id, _ = parse_oip_request(payload, SIGNATURE)
    assert request_id == "b-1"
    pd.testing.assert_frame_equal(got, validate_frame(SIGNATURE, frame))


def test_binary_and_json_tensors_mix_in_one_request(frame: pd.DataFrame) -> None:
    binary = binary_columns(frame)
    plain = column_inputs(frame)
    mixed = [binary[0], plain[1], binary[2], plain[3]]  # bytes: age's, then city's
    payload = decode(*binary_body(*mixed, outputs=[{"name": "predict"}]))
    assert payload == request(*plain, outputs=[{"name": "predict"}])
    pd.testing.assert_frame_equal(parse(payload), validate_frame(SIGNATURE, frame))


@pytest.mark.parametrize("datatype", ["FP64", "FP32", "FP16"])
def test_binary_matrix_in_signature_order(datatype: str) -> None:
    array = np.array([[0.5, -1.0, 2], [1.5, 0.25, 4]], dtype=np.float64)
    dtype = {"FP64": np.float64, "FP32": np.float32, "FP16": np.float16}[datatype]
    payload = decode(*binary_body(binary_input("input__0", array.astype(dtype), datatype)))
    assert payload == request(infer_input("input__0", array.astype(dtype), datatype))
    got = parse(payload, NUMERIC)
    assert got["k"].tolist() == [2, 4]
    np.testing.assert_allclose(got[["a", "b"]].to_numpy(), array[:, :2])


@pytest.mark.parametrize(
    ("datatype", "dtype"),
    [("INT8", np.int8), ("INT16", np.int16), ("INT32", np.int32), ("UINT8", np.uint8),
     ("UINT16", np.uint16), ("UINT32", np.uint32), ("UINT64", np.uint64)],
)  # fmt: skip
def test_binary_integer_widths(datatype: str, dtype: Any) -> None:
    signature = Signature((ColumnSpec("n", "integer"),), OutputSpec("regression"))
    array = np.array([0, 7, 100], dtype=dtype)
    payload = decode(*binary_body(binary_input("n", array, datatype)))
    assert payload["inputs"][0]["data"] == [0, 7, 100]
    assert parse(payload, signature)["n"].tolist() == [0, 7, 100]


def test_binary_numbers_are_little_endian_whatever_the_host() -> None:
    signature = Signature((ColumnSpec("n", "integer"),), OutputSpec("regression"))
    raw = struct.pack("<3q", 1, -2, 2**40)
    tensor = {"name": "n", "shape": [3], "datatype": "INT64"}
    body, length = binary_body((tensor | {"parameters": {"binary_data_size": 24}}, raw))
    assert parse(decode(body, length), signature)["n"].tolist() == [1, -2, 2**40]


def test_binary_bytes_are_utf8_strings_and_match_tritonclient() -> None:
    cities = np.array(["zürich", "", "東京", "a b"], dtype=object)
    tensor, raw = binary_input("city", cities, "BYTES")
    assert raw[:4] == struct.pack("<I", len("zürich".encode()))
    utils = pytest.importorskip("tritonclient.utils")
    assert utils.serialize_byte_tensor(cities).item() == raw
    assert decode(*binary_body((tensor, raw)))["inputs"][0]["data"] == cities.tolist()


def test_binary_tensor_keeps_its_other_parameters_and_payload_is_not_changed(
    frame: pd.DataFrame,
) -> None:
    tensor, raw = binary_columns(frame)[0]
    tensor["parameters"]["content_type"] = "np"
    body, length = binary_body((tensor, raw), *column_inputs(frame)[1:])
    header, binary = split_binary_body(body, length)
    payload = json.loads(header)
    before = copy.deepcopy(payload)
    read = read_binary_inputs(payload, binary)
    assert payload == before
    assert read["inputs"][0]["parameters"] == {"content_type": "np"}
    assert read["inputs"][0]["data"] == frame["age"].tolist()


def test_a_binary_header_without_binary_inputs_is_plain_json(frame: pd.DataFrame) -> None:
    body, length = binary_body(*column_inputs(frame))
    assert decode(body, length) == request(*column_inputs(frame))


def test_large_binary_requests_take_the_same_checks(frame: pd.DataFrame) -> None:
    big = pd.concat([frame] * 100, ignore_index=True)
    assert len(big) > SMALL_REQUEST_ROWS
    got = parse(decode(*binary_body(*binary_columns(big))))
    pd.testing.assert_frame_equal(got, validate_frame(SIGNATURE, big))


def _age(**changes: Any) -> tuple[dict[str, Any], bytes]:
    """A binary INT64 ``age`` tensor of 2 rows, its header entry changed by ``changes``."""
    tensor, raw = binary_input("age", np.array([31, 45], dtype=np.int64), "INT64")
    raw = changes.pop("raw", raw)
    tensor.update(changes)
    return {k: v for k, v in tensor.items() if v is not ...}, raw


def _binary_others(n: int = 2, **city: Any) -> list[tuple[dict[str, Any], bytes]]:
    income, income_raw = binary_input("income", np.ones(n), "FP64")
    cities, cities_raw = binary_input("city", np.array(["x"] * n, dtype=object), "BYTES")
    cities_raw = city.pop("raw", cities_raw)
    cities.update(city)
    member, member_raw = binary_input("member", np.ones(n, dtype=bool), "BOOL")
    return [(income, income_raw), (cities, cities_raw), (member, member_raw)]


def _size(n: int) -> dict[str, Any]:
    return {"binary_data_size": n}


BINARY_ERRORS: list[tuple[str, Any, str, str]] = [
    ("size-short", [_age(shape=[3]), *_binary_others()], "age",
     r"inputs\[0\] \('age'\) has shape \[3\] of INT64 \(8 bytes each\), which needs 24 "
     "bytes; binary_data_size is 16"),
    ("size-odd", [_age(parameters=_size(12), raw=b"\0" * 12), *_binary_others()], "age",
     "needs 16 bytes; binary_data_size is 12"),
    ("size-beyond-body", [*_binary_others(), _age(parameters=_size(32))], "age",
     r"inputs\[3\] \('age'\) has binary_data_size 32, but only 16 bytes"),
    ("size-negative", [_age(parameters=_size(-8)), *_binary_others()], "age",
     "must be a non-negative integer, got -8"),
    ("size-text", [_age(parameters=_size("16")), *_binary_others()], "age",
     "must be a non-negative integer"),
    ("size-bool", [_age(parameters=_size(True)), *_binary_others()], "age",
     "must be a non-negative integer"),
    ("data-and-size", [_age(data=[1, 2]), *_binary_others()], "age", "both 'data' and"),
    ("leftover", [*_binary_others(), _age(raw=b"\0" * 24)], "inputs",
     r"8 bytes of binary data are left over: the body has 52 bytes after the JSON header, "
     r"but the inputs' binary_data_size values add up to 44 \(.*inputs\[3\] \('age'\): 16\)"),
    ("bytes-count", [_age(), *_binary_others(shape=[3])], "city",
     r"inputs\[2\] \('city'\) has shape \[3\], which needs 3 BYTES elements"),
    ("bytes-cut-length", [_age(), *_binary_others(parameters=_size(7), raw=b"\1\0\0\0x\1\0")],
     "city", "BYTES element 1 starts 2 bytes before the end"),
    ("bytes-cut-value", [_age(), *_binary_others(parameters=_size(9), raw=b"\1\0\0\0x\t\0\0\0")],
     "city", "BYTES element 1 has length 9, but only 0 bytes"),
    ("bytes-not-utf8", [_age(), *_binary_others(parameters=_size(11),
                                                raw=b"\1\0\0\0x\2\0\0\0\xff\xfe")],
     "city", "BYTES element 1 is not valid UTF-8"),
    ("bool-byte", [_age(), *_binary_others()[:2],
                   (binary_input("member", np.ones(2, dtype=bool), "BOOL")[0], b"\1\2")],
     "member", "byte 1 of its binary data is 2; BOOL elements are one byte, 0 or 1"),
    ("datatype", [_age(datatype="BF16"), *_binary_others()], "age", "datatype 'BF16'"),
    ("shape", [_age(shape=[2, 1, 1]), *_binary_others()], "age", "shape must be"),
    ("no-name", [_age(name=...), *_binary_others()], "inputs[0]", "name must be"),
    ("unknown-key", [_age(contents={}), *_binary_others()], "age", "unexpected key 'contents'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("inputs", "field", "match"),
    [case[1:] for case in BINARY_ERRORS],
    ids=[case[0] for case in BINARY_ERRORS],
)
def test_malformed_binary_requests_name_the_tensor(inputs: Any, field: str, match: str) -> None:
    body, length = binary_body(*inputs)
    header, binary = split_binary_body(body, length)
    payload = json.loads(header)
    before = copy.deepcopy(payload)
    with pytest.raises(InvalidInputError, match=match) as info:
        parse_oip_request(read_binary_inputs(payload, binary), SIGNATURE)
    assert info.value.field == field
    assert payload == before


def test_binary_data_the_signature_refuses_names_the_column() -> None:
    tensor, raw = binary_input("age", np.array([1.5, 2.0]), "FP64")
    payload = decode(*binary_body((tensor, raw), *_binary_others()))
    with pytest.raises(SignatureError, match="expects integer") as info:
        parse_oip_request(payload, SIGNATURE)
    assert info.value.field == "age"
    nan, raw = binary_input("income", np.array([np.nan, 1.0]), "FP64")
    payload = decode(*binary_body(_age(), (nan, raw), *_binary_others()[1:]))
    with pytest.raises(SignatureError, match="not nullable") as info:
        parse_oip_request(payload, SIGNATURE)
    assert info.value.field == "income"


@pytest.mark.parametrize(
    ("body", "length", "match"),
    [
        (b'{"inputs": []}', "abc", "must be the positive length"),
        (b'{"inputs": []}', "-3", "must be the positive length"),
        (b'{"inputs": []}', "0", "must be the positive length"),
        (b'{"inputs": []}', "\u0661\u0662", "must be the positive length"),  # Arabic digits
        (b'{"inputs": []}', "15", "is 15 but the body has only 14 bytes"),
    ],
)
def test_bad_header_lengths_are_refused(body: bytes, length: str, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        split_binary_body(body, length)
    assert info.value.field == "inference-header-content-length"


@pytest.mark.parametrize("payload", [[1, 2], {"inputs": 5}, {"id": "x"}])
def test_binary_data_needs_an_inputs_list(payload: Any) -> None:
    with pytest.raises(InvalidInputError, match="3 bytes of binary data") as info:
        read_binary_inputs(payload, b"abc")
    assert info.value.field == "inputs"
    assert read_binary_inputs(payload, b"") == payload  # parse_oip_request says what is wrong


def test_binary_body_without_its_header_length_names_the_tensor(frame: pd.DataFrame) -> None:
    body, _ = binary_body(column_inputs(frame)[0], *binary_columns(frame)[1:])
    error = unframed_binary_error(body)
    assert error is not None and error.field == "income"
    assert "inputs[1] ('income')" in error.message
    assert "Inference-Header-Content-Length" in error.message
    assert "binary_data=False" in error.message
    assert unframed_binary_error(b"\x80\x04 not json") is None
    assert unframed_binary_error(json.dumps(request(*column_inputs(frame))).encode()) is None
    assert unframed_binary_error(b"[" * 100_000) is None  # too deep for the stdlib: no hint
    nameless, _ = binary_body(({"parameters": _size(1)}, b"x"))
    assert unframed_binary_error(nameless).field == "inputs[0]"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- responses


def outputs_by_name(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in response["outputs"]}


def test_classifier_response_with_string_labels() -> None:
    prediction = Prediction(["yes", "no"], [{"no": 0.25, "yes": 0.75}, {"no": 0.5, "yes": 0.5}])
    response = encode_oip_response(prediction, "churn", 3, "req-1", classes=("yes", "no"))
    assert response["model_name"] == "churn"
    assert response["model_version"] == "3"
    assert response["id"] == "req-1"
    outputs = outputs_by_name(response)
    assert list(outputs) == ["predict", "predict_proba"]
    assert outputs["predict"] == {
        "name": "predict",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["yes", "no"],
    }
    assert outputs["predict_proba"] == {
        "name": "predict_proba",
        "datatype": "FP64",
        "shape": [2, 2],
        "data": [0.75, 0.25, 0.5, 0.5],
    }
    assert orjson.loads(orjson.dumps(response)) == response


def test_integer_labels_regression_and_requested_outputs() -> None:
    labels = Prediction([1, 0, 1], [{"0": 0.1, "1": 0.9}, {"0": 0.8, "1": 0.2}, {"0": 0, "1": 1}])
    response = encode_oip_response(labels, "m", None, None, ["predict"])
    assert "id" not in response and "model_version" not in response
    assert response["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [3], "data": [1, 0, 1]}
    ]
    proba = encode_oip_response(labels, "m", "1", None, ["predict_proba"])["outputs"]
    assert proba[0]["shape"] == [3, 2] and proba[0]["data"][:2] == [0.1, 0.9]

    booleans = encode_oip_response(Prediction([True, False]), "m", "1", None)
    assert booleans["outputs"][0]["datatype"] == "BOOL"

    regression = encode_oip_response(Prediction([1.0, 2.5]), "m", "1", "r")
    assert regression["outputs"] == [
        {"name": "predict", "datatype": "FP64", "shape": [2], "data": [1.0, 2.5]}
    ]
    with pytest.raises(InvalidInputError) as info:
        encode_oip_response(Prediction([1.0]), "m", "1", None, ["predict_proba"])
    assert info.value.field == "outputs"


def test_model_metadata() -> None:
    signature = Signature((*SIGNATURE.inputs, ColumnSpec("at", "datetime")), SIGNATURE.output)
    assert model_metadata("churn", [1, "2"], signature) == {
        "name": "churn",
        "versions": ["1", "2"],
        "platform": "modelyard",
        "inputs": [
            {"name": "age", "datatype": "INT64", "shape": [-1]},
            {"name": "income", "datatype": "FP64", "shape": [-1]},
            {"name": "city", "datatype": "BYTES", "shape": [-1]},
            {"name": "member", "datatype": "BOOL", "shape": [-1]},
            {"name": "at", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
        ],
    }
    integer_classes = Signature(SIGNATURE.inputs, OutputSpec("classification", (0, 1, 2)))
    outputs = model_metadata("m", ["1"], integer_classes)["outputs"]
    assert outputs[0]["datatype"] == "INT64" and outputs[1]["shape"] == [-1, 3]
    assert model_metadata("m", ["1"], NUMERIC)["outputs"] == [
        {"name": "predict", "datatype": "FP64", "shape": [-1]}
    ]


def test_large_requests_take_the_same_checks(frame: pd.DataFrame) -> None:
    # Past SMALL_REQUEST_ROWS the parser converts whole tensors: same results.
    big = pd.concat([frame] * 100, ignore_index=True)
    assert len(big) > SMALL_REQUEST_ROWS
    got = parse(request(*column_inputs(big, two_d=True)))
    pd.testing.assert_frame_equal(got, validate_frame(SIGNATURE, big))

    matrix = np.random.default_rng(0).normal(size=(300, 3)).round(3)
    matrix[:, 2] = np.arange(300)
    got = parse(request(infer_input("X", matrix, "FP64")), NUMERIC)
    np.testing.assert_array_equal(got.to_numpy(np.float64), matrix)
    assert got["k"].dtype == np.int64
    matrix[250, 2] = 0.5
    with pytest.raises(SignatureError, match="row 250") as info:
        parse(request(infer_input("X", matrix, "FP64")), NUMERIC)
    assert (info.value.field, info.value.row) == ("k", 250)

    nullable = Signature((ColumnSpec("k", "integer", nullable=True),), OutputSpec("regression"))
    data = [None if i % 7 == 0 else i for i in range(300)]
    got = parse(request({"name": "k", "shape": [300], "datatype": "INT64", "data": data}), nullable)
    assert int(got["k"].isna().sum()) == 43
