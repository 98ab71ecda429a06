"""Signatures: inference from frames, serialization, and input validation."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from modelyard.domain.signature import (
    ColumnSpec,
    ColumnType,
    OutputSpec,
    Signature,
    example_row,
    infer_signature,
    to_json_scalar,
    validate_frame,
    validate_records,
)
from modelyard.errors import InvalidInputError, SignatureError


def make_signature(**types: str) -> Signature:
    """A signature from ``name=type`` pairs; a trailing ``?`` marks the column nullable."""
    inputs = tuple(
        ColumnSpec(name, cast(ColumnType, kind.rstrip("?")), kind.endswith("?"))
        for name, kind in types.items()
    )
    return Signature(inputs, OutputSpec("regression"))


@pytest.fixture
def sig() -> Signature:
    return make_signature(
        age="integer", income="float?", city="string", member="boolean", joined="datetime"
    )


def good_row(**overrides: Any) -> dict[str, Any]:
    row = {
        "age": 41,
        "income": 1234.5,
        "city": "Lyon",
        "member": True,
        "joined": "2024-03-01T12:30:00",
    }
    row.update(overrides)
    return row


# --------------------------------------------------------------------------- inference


def test_infer_types_for_each_dtype() -> None:
    frame = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.0, 2.5, 3.0],
            "s": ["a", "b", "c"],
            "o": pd.Series(["a", "b", "c"], dtype=object),
            "c": pd.Categorical(["x", "y", "x"]),
            "b": [True, False, True],
            "d": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "tz": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]).tz_localize("UTC"),
            "i32": np.array([1, 2, 3], dtype=np.int32),
            "nullable_int": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    signature = infer_signature(frame, kind="regression")
    assert {s.name: s.type for s in signature.inputs} == {
        "i": "integer",
        "f": "float",
        "s": "string",
        "o": "string",
        "c": "string",
        "b": "boolean",
        "d": "datetime",
        "tz": "datetime",
        "i32": "integer",
        "nullable_int": "integer",
    }
    assert signature.columns == list(frame.columns)


def test_infer_nullable_from_nulls() -> None:
    frame = pd.DataFrame(
        {"f": [1.0, np.nan], "s": ["a", None], "d": [pd.Timestamp("2024-01-01"), pd.NaT]}
    )
    frame["full"] = [1, 2]
    signature = infer_signature(frame, kind="regression")
    assert {s.name: s.nullable for s in signature.inputs} == {
        "f": True,
        "s": True,
        "d": True,
        "full": False,
    }


def test_infer_rejects_unsupported_dtype() -> None:
    frame = pd.DataFrame({"delta": pd.to_timedelta([1, 2], unit="s")})
    with pytest.raises(InvalidInputError) as info:
        infer_signature(frame, kind="regression")
    assert info.value.field == "delta"


@pytest.mark.parametrize(
    ("target", "kind", "classes"),
    [
        (pd.Series([0, 1, 1, 0]), "classification", (0, 1)),
        (pd.Series(["yes", "no", "yes", "no"]), "classification", ("no", "yes")),
        (pd.Series([True, False, True, True]), "classification", (False, True)),
        (pd.Series(pd.Categorical(["b", "a", "b", "a"])), "classification", ("a", "b")),
        (pd.Series([0.5, 1.5, 2.5, 3.5]), "regression", None),
        (pd.Series(np.arange(4) * 10), "classification", (0, 10, 20, 30)),
    ],
)
def test_infer_output_kind_and_classes(target: pd.Series, kind: str, classes: Any) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    output = infer_signature(frame, target).output
    assert output.kind == kind
    assert output.classes == classes


def test_many_distinct_integers_are_regression() -> None:
    frame = pd.DataFrame({"x": np.arange(50.0)})
    assert infer_signature(frame, pd.Series(np.arange(50))).output.kind == "regression"


def test_classes_are_plain_python_scalars() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    output = infer_signature(frame, pd.Series(np.array([2, 1, 2], dtype=np.int64))).output
    assert output.classes == (1, 2)
    assert output.classes is not None
    assert all(type(c) is int for c in output.classes)
    json.dumps(infer_signature(frame, pd.Series([True, False, True])).to_dict())


def test_explicit_kind_overrides_inference() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    signature = infer_signature(frame, pd.Series([0, 1, 0]), kind="regression")
    assert signature.output == OutputSpec("regression")
    signature = infer_signature(frame, pd.Series([0.0, 1.0, 0.0]), kind="classification")
    assert signature.output.classes == (0.0, 1.0)


def test_infer_without_target_needs_kind() -> None:
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(InvalidInputError) as info:
        infer_signature(frame)
    assert info.value.field == "target"
    assert infer_signature(frame, kind="regression").output.kind == "regression"
    with pytest.raises(InvalidInputError) as info:
        infer_signature(frame, kind="clustering")
    assert info.value.field == "kind"


# --------------------------------------------------------------------------- serialization


def test_to_dict_from_dict_round_trip() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": [0.5, 1.5]})
    signature = infer_signature(frame, pd.Series(["no", "yes"]))
    data = signature.to_dict()
    assert data == {
        "inputs": [
            {"name": "a", "type": "integer", "nullable": False},
            {"name": "b", "type": "string", "nullable": True},
            {"name": "c", "type": "float", "nullable": False},
        ],
        "output": {"kind": "classification", "classes": ["no", "yes"]},
    }
    assert Signature.from_dict(json.loads(json.dumps(data))) == signature


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"inputs": "a", "output": {"kind": "regression"}},
        {"inputs": [{"name": "a"}], "output": {"kind": "regression"}},
        {"inputs": [{"name": "a", "type": "complex"}], "output": {"kind": "regression"}},
        {"inputs": [{"name": "a", "type": "float", "extra": 1}], "output": {"kind": "regression"}},
        {"inputs": [{"name": "a", "type": "float", "nullable": "yes"}], "output": {"kind": "x"}},
        {"inputs": [{"name": "a", "type": "float"}], "output": {"kind": "clustering"}},
        {"inputs": [{"name": "a", "type": "float"}], "output": None},
        {"inputs": [], "output": {"kind": "regression"}},
        {
            "inputs": [{"name": "a", "type": "float"}, {"name": "a", "type": "integer"}],
            "output": {"kind": "regression"},
        },
        {
            "inputs": [{"name": "a", "type": "float"}],
            "output": {"kind": "regression", "classes": 3},
        },
        {
            "inputs": [{"name": "a", "type": "float"}],
            "output": {"kind": "classification", "classes": [None]},
        },
    ],
)
def test_from_dict_rejects_malformed(data: Any) -> None:
    with pytest.raises(InvalidInputError):
        Signature.from_dict(data)


# --------------------------------------------------------------------------- validate_records


def test_valid_records_give_typed_frame(sig: Signature) -> None:
    frame = validate_records(
        sig, [good_row(), good_row(age=3.0, income=None, member=False, joined="2024-03-02")]
    )
    assert list(frame.columns) == sig.columns
    assert frame.dtypes.astype(str).to_dict() == {
        "age": "int64",
        "income": "float64",
        "city": "object",
        "member": "bool",
        "joined": "datetime64[ns]",
    }
    assert frame["age"].tolist() == [41, 3]
    assert np.isnan(frame["income"].iloc[1])
    assert frame["joined"].tolist() == [
        pd.Timestamp("2024-03-01T12:30:00"),
        pd.Timestamp("2024-03-02"),
    ]


def test_column_order_follows_signature(sig: Signature) -> None:
    row = dict(reversed(list(good_row().items())))
    assert list(validate_records(sig, [row]).columns) == sig.columns


@pytest.mark.parametrize("records", [None, {}, "rows", {"age": 1}, ()])
def test_records_must_be_a_list(sig: Signature, records: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_records(sig, records)
    assert info.value.field == "inputs"


def test_records_must_not_be_empty(sig: Signature) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_records(sig, [])
    assert info.value.field == "inputs"


def test_records_must_be_objects(sig: Signature) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_records(sig, [good_row(), [1, 2, 3]])
    assert info.value.field == "inputs"
    assert info.value.row == 1


def test_missing_column(sig: Signature) -> None:
    row = good_row()
    del row["age"]
    with pytest.raises(SignatureError) as info:
        validate_records(sig, [row, dict(row)])
    assert info.value.field == "age"
    assert info.value.row is None
    assert info.value.message == "missing column 'age'"


def test_missing_column_in_one_row(sig: Signature) -> None:
    row = good_row()
    del row["city"]
    with pytest.raises(SignatureError) as info:
        validate_records(sig, [good_row(), row])
    assert (info.value.field, info.value.row) == ("city", 1)


def test_unexpected_column(sig: Signature) -> None:
    with pytest.raises(SignatureError) as info:
        validate_records(sig, [good_row(foo=1)])
    assert info.value.field == "foo"
    assert info.value.message == "unexpected column 'foo'"


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("age", "abc", "column 'age' expects integer, row 1 has 'abc'"),
        ("age", True, "column 'age' expects integer, row 1 has True"),
        ("age", 2.5, "column 'age' expects integer, row 1 has 2.5"),
        ("age", float("inf"), "column 'age' expects integer, row 1 has inf"),
        ("age", 2**64, f"column 'age' expects integer, row 1 has {2**64}"),
        ("age", [1], "column 'age' expects integer, row 1 has [1]"),
        ("income", "12", "column 'income' expects float, row 1 has '12'"),
        ("income", False, "column 'income' expects float, row 1 has False"),
        ("income", {"v": 1}, "column 'income' expects float, row 1 has {'v': 1}"),
        ("city", 5, "column 'city' expects string, row 1 has 5"),
        ("city", 1.5, "column 'city' expects string, row 1 has 1.5"),
        ("member", 1, "column 'member' expects boolean, row 1 has 1"),
        ("member", "true", "column 'member' expects boolean, row 1 has 'true'"),
        ("joined", "not a date", "column 'joined' expects datetime, row 1 has 'not a date'"),
        ("joined", "2024-13-45", "column 'joined' expects datetime, row 1 has '2024-13-45'"),
        ("joined", 1700000000, "column 'joined' expects datetime, row 1 has 1700000000"),
        ("joined", "3000-01-01", "column 'joined' expects datetime, row 1 has '3000-01-01'"),
    ],
)
def test_wrong_type(sig: Signature, column: str, value: Any, message: str) -> None:
    with pytest.raises(SignatureError) as info:
        validate_records(sig, [good_row(), good_row(**{column: value})])
    assert info.value.message == message
    assert (info.value.field, info.value.row) == (column, 1)


@pytest.mark.parametrize("column", ["age", "city", "member", "joined"])
@pytest.mark.parametrize("null", [None, float("nan"), np.nan, pd.NA])
def test_null_in_non_nullable_column(sig: Signature, column: str, null: Any) -> None:
    with pytest.raises(SignatureError) as info:
        validate_records(sig, [good_row(), good_row(), good_row(**{column: null})])
    assert info.value.message == f"column {column!r} is not nullable, row 2 is null"
    assert (info.value.field, info.value.row) == (column, 2)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), np.inf])
def test_infinity_is_rejected_even_when_nullable(sig: Signature, value: float) -> None:
    with pytest.raises(SignatureError) as info:
        validate_records(sig, [good_row(income=value)])
    assert (info.value.field, info.value.row) == ("income", 0)
    assert "finite" in info.value.message


def test_integral_floats_are_integers() -> None:
    signature = make_signature(n="integer")
    frame = validate_records(signature, [{"n": 3.0}, {"n": 4}, {"n": np.int32(5)}])
    assert frame["n"].dtype == np.int64
    assert frame["n"].tolist() == [3, 4, 5]


def test_large_integers_keep_precision() -> None:
    signature = make_signature(n="integer")
    big = 2**60 + 1
    assert validate_records(signature, [{"n": big}, {"n": 2.0}])["n"].tolist() == [big, 2]


def test_nullable_integer_becomes_float_when_nulls_present() -> None:
    signature = make_signature(n="integer?")
    frame = validate_records(signature, [{"n": 1}, {"n": None}])
    assert frame["n"].dtype == np.float64
    assert frame["n"].iloc[0] == 1.0 and np.isnan(frame["n"].iloc[1])
    assert validate_records(signature, [{"n": 1}])["n"].dtype == np.int64


def test_integers_are_floats() -> None:
    signature = make_signature(x="float")
    frame = validate_records(signature, [{"x": 1}, {"x": 2.5}, {"x": np.float32(0.5)}])
    assert frame["x"].dtype == np.float64
    assert frame["x"].tolist() == [1.0, 2.5, 0.5]


def test_nullable_string_and_boolean_columns() -> None:
    signature = make_signature(s="string?", b="boolean?")
    frame = validate_records(signature, [{"s": "a", "b": True}, {"s": None, "b": None}])
    assert frame["s"].dtype == object and frame["b"].dtype == object
    assert frame["s"].iloc[0] == "a" and pd.isna(frame["s"].iloc[1])
    assert frame["b"].iloc[0] is True and pd.isna(frame["b"].iloc[1])


def test_all_null_nullable_columns() -> None:
    signature = make_signature(n="integer?", x="float?", s="string?", d="datetime?")
    frame = validate_records(signature, [{"n": None, "x": None, "s": None, "d": None}])
    assert frame.isna().all().all()


def test_datetime_parsing() -> None:
    signature = make_signature(d="datetime")
    frame = validate_records(
        signature,
        [
            {"d": "2024-01-02"},
            {"d": "2024-01-02T03:04:05"},
            {"d": "2024-01-02T03:04:05+02:00"},
            {"d": "2024-01-02T03:04:05.123Z"},
            {"d": dt.datetime(2024, 1, 2, 3)},
            {"d": dt.date(2024, 1, 2)},
            {"d": pd.Timestamp("2024-01-02")},
        ],
    )
    assert frame["d"].dtype == "datetime64[ns]"
    assert frame["d"].tolist() == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-02T03:04:05"),
        pd.Timestamp("2024-01-02T01:04:05"),  # offsets are converted to UTC
        pd.Timestamp("2024-01-02T03:04:05.123"),
        pd.Timestamp("2024-01-02T03:00"),
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-02"),
    ]


def test_first_bad_row_is_reported() -> None:
    signature = make_signature(n="integer")
    records: list[dict[str, Any]] = [{"n": i} for i in range(100)]
    records[57] = {"n": "x"}
    records[80] = {"n": "y"}
    with pytest.raises(SignatureError) as info:
        validate_records(signature, records)
    assert info.value.row == 57


# --------------------------------------------------------------------------- validate_frame


def test_validate_frame_converts_typed_columns() -> None:
    signature = make_signature(
        n="integer", x="float", s="string", c="string", b="boolean", d="datetime"
    )
    frame = pd.DataFrame(
        {
            "d": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("Europe/Paris"),
            "n": np.array([1, 2], dtype=np.int32),
            "x": [1, 2],
            "s": ["a", "b"],
            "c": pd.Categorical(["u", "v"]),
            "b": [True, False],
        },
        index=[10, 20],
    )
    out = validate_frame(signature, frame)
    assert list(out.columns) == signature.columns
    assert list(out.index) == [0, 1]
    assert out.dtypes.astype(str).to_dict() == {
        "n": "int64",
        "x": "float64",
        "s": "object",
        "c": "object",
        "b": "bool",
        "d": "datetime64[ns]",
    }
    assert out["d"].iloc[0] == pd.Timestamp("2023-12-31T23:00")
    assert out["c"].tolist() == ["u", "v"]


def test_validate_frame_accepts_its_own_output(sig: Signature) -> None:
    once = validate_records(sig, [good_row(), good_row(income=None)])
    twice = validate_frame(sig, once)
    pd.testing.assert_frame_equal(once, twice)


def test_validate_frame_parses_iso_strings() -> None:
    signature = make_signature(d="datetime")
    out = validate_frame(signature, pd.DataFrame({"d": ["2024-05-06T07:08:09"]}))
    assert out["d"].iloc[0] == pd.Timestamp("2024-05-06T07:08:09")


@pytest.mark.parametrize(
    ("column", "values", "row", "message_part"),
    [
        ("n", [1.0, 2.5], 1, "expects integer, row 1 has 2.5"),
        ("n", [True, False], 0, "expects integer, row 0 has True"),
        ("n", ["1", "2"], 0, "expects integer, row 0 has '1'"),
        ("n", [1.0, np.nan], 1, "is not nullable, row 1 is null"),
        ("n", pd.array([1, None], dtype="Int64"), 1, "is not nullable, row 1 is null"),
        ("n", np.array([1, 2**63], dtype=np.uint64), 1, "expects integer"),
        ("x", [1.0, np.inf], 1, "expects a finite number, row 1 has inf"),
        ("x", [True, False], 0, "expects float, row 0 has True"),
        ("x", ["a", "b"], 0, "expects float, row 0 has 'a'"),
        ("s", [1, 2], 0, "expects string, row 0 has 1"),
        ("s", ["a", None], 1, "is not nullable, row 1 is null"),
        ("b", [1, 0], 0, "expects boolean, row 0 has 1"),
        ("d", [1, 2], 0, "expects datetime, row 0 has 1"),
    ],
)
def test_validate_frame_errors(column: str, values: Any, row: int, message_part: str) -> None:
    signature = make_signature(n="integer", x="float", s="string", b="boolean", d="datetime")
    frame = pd.DataFrame(
        {
            "n": [1, 2],
            "x": [0.5, 1.5],
            "s": ["a", "b"],
            "b": [True, False],
            "d": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        }
    )
    frame[column] = values
    with pytest.raises(SignatureError) as info:
        validate_frame(signature, frame)
    assert (info.value.field, info.value.row) == (column, row)
    assert message_part in info.value.message


def test_validate_frame_missing_and_extra_columns() -> None:
    signature = make_signature(a="integer", b="integer")
    with pytest.raises(SignatureError) as info:
        validate_frame(signature, pd.DataFrame({"a": [1]}))
    assert info.value.field == "b" and info.value.message == "missing column 'b'"
    with pytest.raises(SignatureError) as info:
        validate_frame(signature, pd.DataFrame({"a": [1], "b": [2], "c": [3]}))
    assert info.value.field == "c" and info.value.message == "unexpected column 'c'"


def test_validate_frame_rejects_empty_and_non_frames() -> None:
    signature = make_signature(a="integer")
    with pytest.raises(InvalidInputError) as info:
        validate_frame(signature, pd.DataFrame({"a": pd.Series([], dtype="int64")}))
    assert info.value.field == "inputs"
    with pytest.raises(InvalidInputError):
        validate_frame(signature, cast(Any, [{"a": 1}]))


def test_validate_frame_does_not_modify_input() -> None:
    signature = make_signature(s="string?", n="integer?")
    frame = pd.DataFrame({"s": pd.Series(["a", None], dtype=object), "n": [1.0, None]})
    before = frame.copy()
    validate_frame(signature, frame)
    pd.testing.assert_frame_equal(frame, before)


# --------------------------------------------------------------------------- examples


def test_example_row_from_frame_is_plain_json() -> None:
    frame = pd.DataFrame(
        {
            "n": np.array([7, 8], dtype=np.int64),
            "x": [np.nan, 1.0],
            "s": ["a", "b"],
            "c": pd.Categorical(["u", "v"]),
            "b": [True, False],
            "d": pd.to_datetime(["2024-01-02T03:04:05", "2024-01-03T00:00:00"]),
            "ignored": [1, 2],
        }
    )
    signature = infer_signature(frame.drop(columns="ignored"), kind="regression")
    row = example_row(signature, frame)
    assert row == {
        "n": 7,
        "x": None,
        "s": "a",
        "c": "u",
        "b": True,
        "d": "2024-01-02T03:04:05",
    }
    assert type(row["n"]) is int and type(row["b"]) is bool
    json.dumps(row)
    # An example must itself be valid input.
    validate_records(signature, [row])


def test_example_row_placeholders() -> None:
    signature = make_signature(n="integer", x="float", s="string", b="boolean", d="datetime")
    row = example_row(signature)
    assert row == {"n": 0, "x": 0.0, "s": "", "b": False, "d": "1970-01-01T00:00:00"}
    validate_records(signature, [row])


def test_to_json_scalar() -> None:
    assert to_json_scalar(np.int64(3)) == 3 and type(to_json_scalar(np.int64(3))) is int
    assert type(to_json_scalar(np.float32(0.5))) is float
    assert to_json_scalar(np.bool_(True)) is True
    assert to_json_scalar(np.str_("a")) == "a"
    assert to_json_scalar(np.nan) is None and to_json_scalar(pd.NaT) is None
    assert to_json_scalar(pd.NA) is None and to_json_scalar(np.datetime64("NaT")) is None
    assert to_json_scalar(np.datetime64("2024-01-02")) == "2024-01-02T00:00:00"


def test_numeric_fast_path_matches_the_general_path() -> None:
    import numpy as np
    import pandas as pd

    from modelyard.domain import signature as sigmod

    rng = np.random.default_rng(0)
    sig = sigmod.Signature(
        inputs=(
            sigmod.ColumnSpec("a", "float"),
            sigmod.ColumnSpec("b", "integer"),
            sigmod.ColumnSpec("c", "float"),
        ),
        output=sigmod.OutputSpec("regression"),
    )
    records = [{"a": float(rng.normal()), "b": int(rng.integers(0, 9)), "c": 3} for _ in range(7)]
    records[2]["b"] = 4.0  # an integral float is an integer
    fast = sigmod._numeric_fast_path(sig, records)
    assert fast is not None
    count = len(records)
    slow = sigmod._assemble(
        sig,
        {
            s.name: sigmod._from_objects(
                s, np.fromiter((r[s.name] for r in records), dtype=object, count=count)
            )
            for s in sig.inputs
        },
        count,
    )
    pd.testing.assert_frame_equal(fast, slow)
    assert sigmod.validate_records(sig, records).equals(slow)
    for bad in ({"a": True}, {"b": 1.5}, {"a": None}, {"c": "1"}, {"a": float("inf")}):
        assert sigmod._numeric_fast_path(sig, [{**records[0], **bad}]) is None


def test_validate_rows_is_validate_records_without_the_frame() -> None:
    import numpy as np
    import pandas as pd

    from modelyard.domain import signature as sigmod

    floats = sigmod.Signature(
        inputs=(sigmod.ColumnSpec("a", "float"), sigmod.ColumnSpec("b", "float", nullable=True)),
        output=sigmod.OutputSpec("regression"),
    )
    records: list[Any] = [{"a": 1.5, "b": 2}, {"b": -0.25, "a": 3}]
    rows = sigmod.validate_rows(floats, records)
    assert isinstance(rows, np.ndarray) and rows.dtype == np.float64
    np.testing.assert_array_equal(rows, [[1.5, 2.0], [3.0, -0.25]])  # signature order
    pd.testing.assert_frame_equal(
        sigmod.rows_frame(floats, rows), sigmod.validate_records(floats, records)
    )
    # Anything unusual gets validate_records' frame (nulls) or its very error.
    nulls = [{"a": 1.0, "b": None}]
    pd.testing.assert_frame_equal(
        sigmod.validate_rows(floats, nulls), sigmod.validate_records(floats, nulls)
    )
    for bad in (
        [{"a": True, "b": 1.0}],
        [{"a": "1", "b": 1.0}],
        [{"a": None, "b": 1.0}],
        [{"a": 1.0}],
        [{"a": 1.0, "b": 1.0, "c": 1.0}],
        [{"a": 1.0, "b": 1.0}, 7],
        [],
        {"a": 1.0},
    ):
        with pytest.raises(InvalidInputError) as expected:
            sigmod.validate_records(floats, bad)
        with pytest.raises(InvalidInputError) as got:
            sigmod.validate_rows(floats, bad)
        assert (type(got.value), got.value.message, got.value.field) == (
            type(expected.value),
            expected.value.message,
            expected.value.field,
        )
    # Other signatures: the frame validate_records builds.
    mixed = sigmod.Signature(
        inputs=(sigmod.ColumnSpec("a", "float"), sigmod.ColumnSpec("n", "integer")),
        output=sigmod.OutputSpec("regression"),
    )
    records = [{"a": 1.0, "n": 2}]
    pd.testing.assert_frame_equal(
        sigmod.validate_rows(mixed, records), sigmod.validate_records(mixed, records)
    )


def test_float_frame_is_the_frame_pandas_builds() -> None:
    import numpy as np
    import pandas as pd

    from modelyard.domain.signature import _float_frame_public, float_frame

    columns = pd.Index(["a", "b", "c"])
    for rows in (1, 7):
        matrix = np.arange(rows * 3, dtype=np.float64).reshape(rows, 3)
        fast, public = float_frame(matrix, columns), _float_frame_public(matrix, columns)
        pd.testing.assert_frame_equal(fast, public)
        assert list(fast.dtypes) == [np.float64] * 3
        assert isinstance(fast.index, pd.RangeIndex) and len(fast) == rows
        fast["b"] = fast["b"].astype(np.int64)  # what validation does for integer columns
        public["b"] = public["b"].astype(np.int64)
        pd.testing.assert_frame_equal(fast, public)
        np.testing.assert_array_equal(fast.to_numpy(dtype=np.float64), matrix)
        pd.testing.assert_frame_equal(
            pd.concat([fast, fast], ignore_index=True),
            pd.concat([public, public], ignore_index=True),
        )
