"""The quickstart data generator: deterministic, realistic, learnable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelyard.data.quickstart import generate_quickstart_frame, write_quickstart_csv

EXPECTED_COLUMNS = [
    "age",
    "income",
    "tenure_months",
    "balance",
    "num_products",
    "support_calls",
    "region",
    "plan",
    "channel",
    "sex",
    "signup_at",
    "target",
]


def test_same_seed_gives_identical_frame() -> None:
    pd.testing.assert_frame_equal(
        generate_quickstart_frame(1000, seed=3), generate_quickstart_frame(1000, seed=3)
    )


def test_different_seed_gives_different_frame() -> None:
    a = generate_quickstart_frame(500, seed=1)
    b = generate_quickstart_frame(500, seed=2)
    assert not a.equals(b)


def test_csv_bytes_are_deterministic(tmp_path: Path) -> None:
    first = write_quickstart_csv(tmp_path / "a" / "q.csv", n_rows=800, seed=5)
    second = write_quickstart_csv(tmp_path / "b.csv", n_rows=800, seed=5)
    assert first.read_bytes() == second.read_bytes()
    lines = first.read_text().splitlines()
    assert lines[0] == ",".join(EXPECTED_COLUMNS)
    assert len(lines) == 801
    assert "\r" not in first.read_text()


def test_csv_timestamps_are_iso8601(tmp_path: Path) -> None:
    path = write_quickstart_csv(tmp_path / "q.csv", n_rows=50)
    raw = pd.read_csv(path, dtype=str)
    assert raw["signup_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}").all()


def test_shape_columns_and_dtypes() -> None:
    frame = generate_quickstart_frame()
    assert frame.shape == (5000, len(EXPECTED_COLUMNS))
    assert list(frame.columns) == EXPECTED_COLUMNS
    for name in ["age", "tenure_months", "num_products", "support_calls", "target"]:
        assert pd.api.types.is_integer_dtype(frame[name]), name
    for name in ["income", "balance"]:
        assert pd.api.types.is_float_dtype(frame[name]), name
    for name in ["region", "plan", "channel", "sex"]:
        assert pd.api.types.is_string_dtype(frame[name]), name
    assert pd.api.types.is_datetime64_any_dtype(frame["signup_at"])


def test_values_are_plausible() -> None:
    frame = generate_quickstart_frame()
    assert set(frame["sex"]) == {"female", "male"}
    assert 4 <= frame["region"].nunique() <= 5
    assert frame["plan"].nunique() == 3
    assert set(frame["target"].unique()) == {0, 1}
    assert 0.25 <= frame["target"].mean() <= 0.35
    assert 0.01 <= frame["balance"].isna().mean() <= 0.05
    assert frame.drop(columns="balance").notna().all().all()
    assert frame["age"].between(18, 100).all()
    assert (frame["income"] > 0).all()
    span = frame["signup_at"].max() - frame["signup_at"].min()
    assert pd.Timedelta(days=600) < span <= pd.Timedelta(days=731)


def test_rejects_non_positive_row_count() -> None:
    with pytest.raises(ValueError):
        generate_quickstart_frame(0)
