"""Data profiling and target-leakage hints."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelyard.data.profile import leakage_hints, profile_column, profile_frame
from modelyard.data.quickstart import generate_quickstart_frame
from modelyard.errors import InvalidInputError


@pytest.fixture(scope="module")
def quickstart() -> pd.DataFrame:
    return generate_quickstart_frame(n_rows=2000)


def test_quickstart_profile_is_json_and_complete(quickstart: pd.DataFrame) -> None:
    profile = profile_frame(quickstart, target="target")
    text = json.dumps(profile, allow_nan=False)  # no NaN or inf anywhere
    assert json.loads(text) == profile
    assert profile["n_rows"] == 2000 and profile["n_columns"] == len(quickstart.columns)
    assert profile["duplicate_rows"] == 0
    assert profile["constant_columns"] == []
    assert profile["leakage"] == []  # honest synthetic data: nothing leaks the label
    columns = profile["columns"]
    assert set(columns) == set(quickstart.columns)
    assert columns["age"]["type"] == "integer" and columns["income"]["type"] == "float"
    assert columns["region"]["type"] == "string" and columns["signup_at"]["type"] == "datetime"


def test_numeric_column_statistics(quickstart: pd.DataFrame) -> None:
    balance = profile_frame(quickstart, bins=8)["columns"]["balance"]
    values = quickstart["balance"].dropna()
    assert balance["null_count"] == int(quickstart["balance"].isna().sum())
    assert balance["null_rate"] == pytest.approx(quickstart["balance"].isna().mean())
    assert balance["min"] == values.min() and balance["max"] == values.max()
    assert balance["mean"] == pytest.approx(values.mean())
    assert balance["std"] == pytest.approx(values.std())
    assert balance["quantiles"]["0.5"] == pytest.approx(values.median())
    assert set(balance["quantiles"]) == {"0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99"}
    hist = balance["histogram"]
    assert len(hist["edges"]) == 9 and len(hist["counts"]) == 8
    assert sum(hist["counts"]) == len(values)
    assert hist["edges"][0] == values.min() and hist["edges"][-1] == values.max()


def test_categorical_and_datetime_statistics(quickstart: pd.DataFrame) -> None:
    region = profile_column(quickstart["region"], top_k=2)
    counts = quickstart["region"].value_counts()
    assert [t["value"] for t in region["top"]] == list(counts.index[:2])
    assert region["top"][0]["count"] == counts.iloc[0]
    assert region["top"][0]["frequency"] == pytest.approx(counts.iloc[0] / 2000)
    assert region["other_count"] == counts.iloc[2:].sum()
    assert region["n_unique"] == 5
    signup = profile_column(quickstart["signup_at"])
    assert signup["min"] == quickstart["signup_at"].min().isoformat()


def test_duplicates_constants_and_edge_columns() -> None:
    frame = pd.DataFrame(
        {
            "a": [1, 1, 2, 2],
            "b": ["x", "x", "y", "y"],
            "constant": [7, 7, 7, 7],
            "empty": [np.nan] * 4,
            "inf": [1.0, np.inf, -np.inf, 2.0],
            "flag": [True, False, True, True],
        }
    )
    profile = profile_frame(frame)
    json.dumps(profile, allow_nan=False)
    assert profile["duplicate_rows"] == 0
    assert profile_frame(frame[["a", "b", "constant", "empty"]])["duplicate_rows"] == 2
    assert profile["constant_columns"] == ["constant", "empty"]
    assert profile["columns"]["empty"]["histogram"] is None
    assert profile["columns"]["empty"]["null_rate"] == 1.0
    assert profile["columns"]["inf"]["inf_count"] == 2
    assert profile["columns"]["inf"]["max"] == 2.0
    constant_hist = profile["columns"]["constant"]["histogram"]
    assert sum(constant_hist["counts"]) == 4
    flag = profile["columns"]["flag"]
    assert flag["type"] == "boolean" and flag["top"][0] == {
        "value": True,
        "count": 3,
        "frequency": 0.75,
    }
    assert profile_frame(pd.DataFrame())["n_rows"] == 0


def test_bad_arguments() -> None:
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(InvalidInputError) as info:
        profile_frame(frame, target="y")
    assert info.value.field == "target"
    with pytest.raises(InvalidInputError):
        profile_frame(frame, bins=0)
    with pytest.raises(InvalidInputError):
        profile_frame(frame, quantiles=[1.5])


def _leaky_frame(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "honest": rng.normal(size=n) + 0.5 * target,
            "copy": target.copy(),
            "almost": target + rng.normal(0, 0.05, n),
            "status": np.where(target == 1, "closed", "open"),
            "noisy_status": np.where(
                rng.random(n) < 0.9, np.where(target == 1, "closed", "open"), "open"
            ),
            "row_id": [f"id{i}" for i in range(n)],
            "region": rng.choice(["n", "s", "e", "w"], n),
            "target": target,
        }
    )


def test_leakage_hints() -> None:
    hints = leakage_hints(_leaky_frame(), "target")
    by_column = {h["column"]: h for h in hints}
    assert set(by_column) == {"copy", "almost", "status"}
    assert by_column["copy"]["reason"] == "identical_to_target"
    assert by_column["almost"]["reason"] == "correlated_with_target"
    assert by_column["almost"]["score"] >= 0.98
    assert by_column["status"]["reason"] == "determines_target"
    assert hints[0]["score"] >= hints[-1]["score"]
    assert profile_frame(_leaky_frame(), target="target")["leakage"] == hints


def test_leakage_with_string_and_numeric_targets() -> None:
    rng = np.random.default_rng(1)
    n = 600
    label = rng.choice(["yes", "no"], n)
    frame = pd.DataFrame(
        {
            "score": (label == "yes").astype(float) + rng.normal(0, 0.01, n),
            "other": rng.normal(size=n),
            "label": label,
        }
    )
    assert [h["column"] for h in leakage_hints(frame, "label")] == ["score"]

    y = rng.normal(size=n)
    band = np.where(y > 0, "high", "low")
    regression = pd.DataFrame(
        {
            "exact_band": pd.cut(y, bins=50).astype(str),  # 50 bands of y: eta ~ 1
            "sign_band": band,  # 2 bands: eta ~ 0.8, not a leak
            "y": y,
        }
    )
    hints = leakage_hints(regression, "y")
    assert [h["column"] for h in hints] == ["exact_band"]
    assert hints[0]["reason"] == "determines_target"


def test_imbalanced_target_does_not_flag_everything() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    target = (rng.random(n) < 0.01).astype(int)  # 99% negatives
    frame = pd.DataFrame({"region": rng.choice(["a", "b", "c"], n), "target": target})
    assert leakage_hints(frame, "target") == []
