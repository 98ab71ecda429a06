"""Open Inference Protocol v2 requests, built the way tritonclient / KServe clients do."""

from __future__ import annotations

import json
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


def column_inputs(frame: pd.DataFrame, *, two_d: bool = False) -> list[dict[str, Any]]:
    datatypes = {"age": "INT64", "income": "FP32", "city": "BYTES", "member": "BOOL"}
    arrays = {
        "age": frame["age"].to_numpy(np.int64),
        "income": frame["income"].to_numpy(np.float32),
        "city": frame["city"].to_numpy(object),
        "member": frame["member"].to_numpy(bool),
    }
    return [
        infer_input(name, array.reshape(-1, 1) if two_d else array, datatypes[name])
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
            "binary data extension",
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
