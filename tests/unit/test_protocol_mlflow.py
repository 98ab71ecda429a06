"""MLflow scoring payloads, built the way MLflow's own clients build them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from modelyard.domain.signature import (
    ColumnSpec,
    OutputSpec,
    Signature,
    validate_frame,
)
from modelyard.errors import InvalidInputError, SignatureError
from modelyard.runtime.base import Prediction
from modelyard.runtime.sklearn import SklearnModel
from modelyard.serving.protocols.mlflow import (
    SMALL_REQUEST_ROWS,
    encode_mlflow_response,
    parse_mlflow_payload,
)

SIGNATURE = Signature(
    (
        ColumnSpec("age", "integer"),
        ColumnSpec("income", "float", nullable=True),
        ColumnSpec("city", "string"),
        ColumnSpec("member", "boolean"),
    ),
    OutputSpec("classification", ("no", "yes")),
)
COLUMNS = SIGNATURE.columns


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 22],
            "income": [52.5, np.nan, 38.0],
            "city": ["paris", "lyon", "nice"],
            "member": [True, False, True],
        }
    )


def wire(payload: Any) -> Any:
    """What the server decodes: the payload through JSON, as Python's json sends it."""
    return json.loads(json.dumps(payload))


def parse(payload: Any, **kwargs: Any) -> pd.DataFrame:
    return parse_mlflow_payload(wire(payload), SIGNATURE, **kwargs)


def assert_same(got: pd.DataFrame, frame: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, validate_frame(SIGNATURE, frame))


# --------------------------------------------------------------------------- shapes


def test_dataframe_split_from_to_dict_split(frame: pd.DataFrame) -> None:
    # mlflow's dump_input_data / RestEndpoint.invoke: {"dataframe_split": df.to_dict("split")}
    split = frame.to_dict(orient="split")
    assert set(split) == {"index", "columns", "data"}
    assert_same(parse({"dataframe_split": split}), frame)


def test_dataframe_split_from_to_json_split(frame: pd.DataFrame) -> None:
    split = json.loads(frame.to_json(orient="split"))
    assert_same(parse_mlflow_payload({"dataframe_split": split}, SIGNATURE), frame)


def test_dataframe_split_without_index_and_columns_in_any_order(frame: pd.DataFrame) -> None:
    # MLflow's serving input examples drop the index.
    shuffled = frame[["city", "member", "age", "income"]]
    split = {"columns": list(shuffled.columns), "data": shuffled.to_numpy().tolist()}
    assert_same(parse({"dataframe_split": split}), frame)


def test_dataframe_records(frame: pd.DataFrame) -> None:
    records = frame.to_dict(orient="records")
    assert_same(parse({"dataframe_records": records}), frame)


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_instances_and_inputs_as_row_objects(key: str, frame: pd.DataFrame) -> None:
    assert_same(parse({key: frame.to_dict(orient="records")}), frame)


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_instances_and_inputs_as_rows_in_signature_order(key: str, frame: pd.DataFrame) -> None:
    rows = [[None if pd.isna(v) else v for v in row] for row in frame.to_numpy().tolist()]
    assert_same(parse({key: rows}), frame)


@pytest.mark.parametrize("key", ["instances", "inputs"])
def test_instances_and_inputs_as_columns(key: str, frame: pd.DataFrame) -> None:
    # mlflow's dump_input_data for a dict of numpy arrays: {key: {name: array.tolist()}}
    columns = {name: frame[name].to_numpy().tolist() for name in frame.columns}
    assert_same(parse({key: columns}), frame)


def test_inputs_as_one_row_of_scalars(frame: pd.DataFrame) -> None:
    row = {"age": 31, "income": 52.5, "city": "paris", "member": True}
    assert_same(parse({"inputs": row}), frame.head(1))


def test_single_column_signature_takes_a_flat_list() -> None:
    signature = Signature((ColumnSpec("x", "float"),), OutputSpec("regression"))
    got = parse_mlflow_payload({"inputs": [1.5, 2, -3.0]}, signature)
    assert got["x"].tolist() == [1.5, 2.0, -3.0]
    assert got["x"].dtype == np.float64


def test_empty_params_are_accepted(frame: pd.DataFrame) -> None:
    records = frame.to_dict(orient="records")
    assert_same(parse({"dataframe_records": records, "params": {}}), frame)
    assert_same(parse({"dataframe_records": records, "params": None}), frame)


def test_datetime_columns_take_iso_strings() -> None:
    signature = Signature(
        (ColumnSpec("at", "datetime"), ColumnSpec("n", "integer")), OutputSpec("regression")
    )
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-01-02T03:04:05"]), "n": [1]})
    split = json.loads(frame.to_json(orient="split", date_format="iso"))
    got = parse_mlflow_payload({"dataframe_split": split}, signature)
    assert got["at"].tolist() == [pd.Timestamp("2024-01-02T03:04:05")]


def test_max_rows_is_enforced_for_every_shape(frame: pd.DataFrame) -> None:
    records = frame.to_dict(orient="records")
    payloads = {
        "dataframe_split.data": {"dataframe_split": frame.to_dict(orient="split")},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": {k: frame[k].tolist() for k in frame.columns}},
    }
    for field, payload in payloads.items():
        with pytest.raises(InvalidInputError, match="the limit is 2") as info:
            parse(payload, max_rows=2)
        assert info.value.field == field
        assert len(parse(payload, max_rows=3)) == 3


# --------------------------------------------------------------------------- errors


def raises(payload: Any, field: str, match: str = "", *, row: int | None = None) -> Any:
    with pytest.raises(InvalidInputError, match=match) as info:
        parse_mlflow_payload(payload, SIGNATURE)
    assert info.value.field == field
    assert info.value.row == row
    return info.value


GOOD_ROW = {"age": 31, "income": 52.5, "city": "paris", "member": True}
GOOD_VALUES = [31, 52.5, "paris", True]


@pytest.mark.parametrize(
    ("payload", "field", "match"),
    [
        ([GOOD_ROW], "body", "JSON object"),
        ("text", "body", "JSON object"),
        ({}, "body", "got none"),
        ({"params": {}}, "body", "got none"),
        (
            {"dataframe_records": [GOOD_ROW], "instances": [GOOD_ROW]},
            "body",
            "exactly one of",
        ),
        ({"dataframe_records": [GOOD_ROW], "columns": ["age"]}, "columns", "unexpected key"),
        ({"dataframe_records": [GOOD_ROW], "params": {"threshold": 0.3}}, "params", "threshold"),
        ({"dataframe_records": [GOOD_ROW], "params": [1]}, "params", "must be an object"),
        ({"dataframe_split": [[1]]}, "dataframe_split", "must be an object"),
        ({"dataframe_split": {"data": [GOOD_VALUES]}}, "dataframe_split.columns", "missing"),
        (
            {"dataframe_split": {"columns": "age", "data": [GOOD_VALUES]}},
            "dataframe_split.columns",
            "list of column names",
        ),
        (
            {"dataframe_split": {"columns": [1, 2], "data": [[1, 2]]}},
            "dataframe_split.columns",
            "list of column names",
        ),
        (
            {"dataframe_split": {"columns": ["age", "age"], "data": [[1, 2]]}},
            "dataframe_split.columns",
            "'age' twice",
        ),
        ({"dataframe_split": {"columns": COLUMNS}}, "dataframe_split.data", "list of rows"),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": []}},
            "dataframe_split.data",
            "empty",
        ),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [GOOD_VALUES], "index": [0, 1]}},
            "dataframe_split.index",
            "one entry per row",
        ),
        (
            {"dataframe_split": {"columns": COLUMNS, "data": [GOOD_VALUES], "dtypes": {}}},
            "dataframe_split.dtypes",
            "unexpected key",
        ),
        ({"dataframe_records": GOOD_ROW}, "dataframe_records", "list of row objects"),
        ({"dataframe_records": []}, "dataframe_records", "empty"),
        ({"instances": "abc"}, "instances", "list of rows or an object"),
        ({"instances": []}, "instances", "empty"),
        ({"inputs": {}}, "inputs", "empty"),
        (
            {"inputs": {"age": [1, 2], "income": [1.0], "city": ["a", "b"], "member": [True]}},
            "inputs.income",
            "has 1 values but inputs.age has 2",
        ),
        (
            {"inputs": {"age": [1], "income": 1.0, "city": ["a"], "member": [True]}},
            "inputs.income",
            "must be a list",
        ),
        ({"inputs": {"age": [], "income": [], "city": [], "member": []}}, "inputs", "empty"),
    ],
)
def test_malformed_payloads_name_the_field(payload: Any, field: str, match: str) -> None:
    raises(payload, field, match)


def test_row_shape_errors_name_the_field_and_row() -> None:
    split = {"columns": COLUMNS, "data": [GOOD_VALUES, [1, 2]]}
    raises({"dataframe_split": split}, "dataframe_split.data", r"\[1\] must be a list of 4", row=1)
    raises({"instances": [GOOD_VALUES, GOOD_ROW]}, "instances", "list of 4 values", row=1)
    raises({"instances": [GOOD_ROW, GOOD_VALUES]}, "instances", "not an object", row=1)
    raises({"dataframe_records": [GOOD_ROW, 5]}, "dataframe_records", "not an object", row=1)
    raises({"inputs": [31, 52.5]}, "inputs", "must be a row", row=0)


def test_signature_errors_name_the_column() -> None:
    missing = {k: v for k, v in GOOD_ROW.items() if k != "city"}
    for payload in (
        {"dataframe_records": [missing]},
        {"dataframe_split": {"columns": list(missing), "data": [list(missing.values())]}},
        {"inputs": {k: [v] for k, v in missing.items()}},
    ):
        error = raises(payload, "city", "missing column")
        assert isinstance(error, SignatureError)
    extra = {**GOOD_ROW, "id": 7}
    for payload in (
        {"dataframe_records": [extra]},
        {"dataframe_split": {"columns": list(extra), "data": [list(extra.values())]}},
    ):
        raises(payload, "id", "unexpected column")
    bad_type = {"columns": COLUMNS, "data": [GOOD_VALUES, [40, 1.0, "nice", "yes"]]}
    error = raises({"dataframe_split": bad_type}, "member", "expects boolean", row=1)
    assert isinstance(error, SignatureError)
    raises({"instances": [GOOD_VALUES, [40, 1.0, 7, True]]}, "city", "expects string", row=1)
    not_null = {"columns": COLUMNS, "data": [[None, 1.0, "nice", True]]}
    raises({"dataframe_split": not_null}, "age", "not nullable", row=0)


# --------------------------------------------------------------------------- responses


def test_classifier_response_holds_labels_or_probabilities() -> None:
    prediction = Prediction(["yes", "no"], [{"no": 0.2, "yes": 0.8}, {"no": 0.9, "yes": 0.1}])
    assert encode_mlflow_response(prediction) == {"predictions": ["yes", "no"]}
    assert encode_mlflow_response(prediction, proba_classes=("yes", "no")) == {
        "predictions": [[0.8, 0.2], [0.1, 0.9]]
    }
    numeric = Prediction([1, 0], [{"0": 0.3, "1": 0.7}, {"0": 0.6, "1": 0.4}])
    assert encode_mlflow_response(numeric, proba_classes=[0, 1]) == {
        "predictions": [[0.3, 0.7], [0.6, 0.4]]
    }


def test_regression_response_and_missing_probabilities() -> None:
    prediction = Prediction([1.5, -2.0])
    body = encode_mlflow_response(prediction)
    assert body == {"predictions": [1.5, -2.0]}
    assert orjson.loads(orjson.dumps(body)) == body
    with pytest.raises(InvalidInputError) as info:
        encode_mlflow_response(prediction, proba_classes=["a"])
    assert info.value.field == "predict_proba"


def test_round_trip_through_a_model(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 100),
            "income": rng.normal(50, 10, 100),
            "city": rng.choice(["paris", "lyon", "nice"], 100),
            "member": rng.random(100) < 0.5,
        }
    )
    target = pd.Series(np.where(train["age"] > 45, "yes", "no"))
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["age", "income", "member"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    model = Pipeline([("pre", pre), ("lr", LogisticRegression())]).fit(train, target)
    loaded = SklearnModel(model, SIGNATURE)
    body = wire({"dataframe_split": frame.to_dict(orient="split")})
    result = encode_mlflow_response(loaded.predict(parse_mlflow_payload(body, SIGNATURE)))
    assert result == {"predictions": model.predict(frame).tolist()}
    assert set(result["predictions"]) <= {"no", "yes"}


def test_large_requests_take_the_same_checks(frame: pd.DataFrame) -> None:
    # Past SMALL_REQUEST_ROWS the parser builds columns instead of rows: same results.
    big = pd.concat([frame] * 100, ignore_index=True)
    assert len(big) > SMALL_REQUEST_ROWS
    rows = [[None if pd.isna(v) else v for v in row] for row in big.to_numpy().tolist()]
    payloads = [
        {"dataframe_split": big.to_dict(orient="split")},
        {"instances": rows},
        {"inputs": {name: big[name].tolist() for name in big.columns}},
    ]
    for payload in payloads:
        assert_same(parse(payload), big)
    rows[250][2] = 7
    raises({"instances": rows}, "city", "expects string, row 250", row=250)
    split = {"columns": ["age", "income", "city"], "data": [row[:3] for row in rows]}
    raises({"dataframe_split": split}, "member", "missing column")
