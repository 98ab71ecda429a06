"""Reading CSV/Parquet tables and describing their schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard.data.quickstart import generate_quickstart_frame, write_quickstart_csv
from modelyard.data.readers import infer_schema, read_table, read_table_bytes
from modelyard.errors import InvalidInputError


def _assert_same_table(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    for name in expected.columns:
        assert infer_schema(actual[[name]]) == infer_schema(expected[[name]]), name


def test_csv_round_trip_detects_datetimes(tmp_path: Path) -> None:
    expected = generate_quickstart_frame(300)
    frame = read_table(write_quickstart_csv(tmp_path / "q.csv", n_rows=300))
    assert pd.api.types.is_datetime64_any_dtype(frame["signup_at"])
    _assert_same_table(frame, expected)


def test_parquet_round_trip(tmp_path: Path) -> None:
    expected = generate_quickstart_frame(300)
    for suffix in (".parquet", ".pq"):
        path = tmp_path / f"q{suffix}"
        expected.to_parquet(path, index=False)
        _assert_same_table(read_table(path), expected)


def test_read_table_bytes_matches_files(tmp_path: Path) -> None:
    path = write_quickstart_csv(tmp_path / "q.csv", n_rows=100)
    from_file = read_table(path)
    pd.testing.assert_frame_equal(read_table_bytes(path.read_bytes(), "csv"), from_file)
    parquet = from_file.to_parquet(index=False)
    pd.testing.assert_frame_equal(read_table_bytes(parquet, "parquet"), from_file)


def test_csv_datetime_detection_rules(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "day,stamp,utc,mixed_tz,code,text,partial\n"
        "2024-01-02,2024-01-02T03:04:05,2024-01-02T03:04:05Z,2024-01-02T03:04:05Z,A1,hello,2024\n"
        ",2024-02-03 10:00:00.250,2024-02-03T10:00:00+02:00,2024-02-03T10:00:00,B2,world,2023\n"
    )
    frame = read_table(path)
    assert pd.api.types.is_datetime64_any_dtype(frame["day"])
    assert frame["day"].isna().tolist() == [False, True]
    assert pd.api.types.is_datetime64_any_dtype(frame["stamp"])
    assert frame["stamp"].iloc[1] == pd.Timestamp("2024-02-03 10:00:00.250")
    assert str(frame["utc"].dt.tz) == "UTC"
    assert frame["utc"].iloc[1] == pd.Timestamp("2024-02-03T08:00:00Z")
    for name in ("mixed_tz", "code", "text"):
        assert pd.api.types.is_string_dtype(frame[name]), name
    assert pd.api.types.is_integer_dtype(frame["partial"])


def test_infer_schema_types_and_nullability() -> None:
    frame = pd.DataFrame(
        {
            "i": [1, 2],
            "f": [1.5, None],
            "s": ["a", None],
            "b": [True, False],
            "d": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "c": pd.Series(["x", "y"], dtype="category"),
            "o": pd.Series(["x", 1], dtype=object),
            "ni": pd.array([1, None], dtype="Int64"),
        }
    )
    assert infer_schema(frame) == [
        {"name": "i", "type": "integer", "nullable": False},
        {"name": "f", "type": "float", "nullable": True},
        {"name": "s", "type": "string", "nullable": True},
        {"name": "b", "type": "boolean", "nullable": False},
        {"name": "d", "type": "datetime", "nullable": False},
        {"name": "c", "type": "string", "nullable": False},
        {"name": "o", "type": "string", "nullable": False},
        {"name": "ni", "type": "integer", "nullable": True},
    ]


def test_bad_suffix_names_suffix_and_allowed(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"whatever")
    with pytest.raises(InvalidInputError) as info:
        read_table(path)
    assert ".xlsx" in info.value.message
    assert ".csv" in info.value.message and ".parquet" in info.value.message
    assert info.value.field == "path"


@pytest.mark.parametrize("content", [b"", b"  \n", b"a,b\n"])
def test_empty_csv_is_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError) as info:
        read_table(path)
    assert "empty.csv" in info.value.message


def test_missing_and_corrupt_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="nope.csv.*not found"):
        read_table(tmp_path / "nope.csv")
    corrupt = tmp_path / "bad.parquet"
    corrupt.write_bytes(b"this is not parquet")
    with pytest.raises(InvalidInputError, match="bad.parquet"):
        read_table(corrupt)


def test_read_table_bytes_rejects_unknown_format() -> None:
    with pytest.raises(InvalidInputError) as info:
        read_table_bytes(b"a\n1\n", "json")
    assert info.value.field == "format"
    assert "csv" in info.value.message and "parquet" in info.value.message
    with pytest.raises(InvalidInputError):
        read_table_bytes(b"", "csv")
