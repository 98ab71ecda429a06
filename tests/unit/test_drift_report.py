"""drift_report: verdicts on injected drift, tiny shifts, importance, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelyard.domain.drift import DriftConfig, DriftReference, null_rates, out_of_range_shares
from modelyard.errors import InvalidInputError
from modelyard.monitoring.drift_report import drift_report

COLUMNS_ONLY = DriftConfig(multivariate=False)
SMALL_SAMPLE = DriftConfig(multivariate_max_rows=2000)
LABELS = np.array(["red", "green", "blue"])


def _frame(
    rng: np.random.Generator,
    n: int,
    *,
    numeric: int = 6,
    shift: dict[str, float] | None = None,
    shares: tuple[float, ...] = (0.5, 0.3, 0.2),
) -> pd.DataFrame:
    shift = shift or {}
    data: dict[str, object] = {
        f"x{i}": rng.normal(10.0 * i, 1.0 + i, n) + shift.get(f"x{i}", 0.0) * (1.0 + i)
        for i in range(numeric)
    }
    data["color"] = LABELS[rng.choice(3, size=n, p=shares)]
    data["plan"] = np.array(["free", "pro"])[rng.choice(2, size=n, p=[0.7, 0.3])]
    return pd.DataFrame(data)


def test_injected_drift_is_found_in_exactly_those_columns() -> None:
    rng = np.random.default_rng(0)
    reference = _frame(rng, 5000)
    current = _frame(rng, 4000, shift={"x1": 0.5, "x4": 0.5}, shares=(0.3, 0.3, 0.4))

    report = drift_report(reference, current)

    assert set(report.drifted_columns) == {"x1", "x4", "color"}
    assert report.status == "drift"
    assert set(report.drivers) == {"x1", "x4", "color"}
    assert report.share_drifted == pytest.approx(3 / 8)
    for entry in report.columns:
        assert entry.drifted == (entry.column in {"x1", "x4", "color"})
        assert entry.p_value is not None and entry.p_value_adjusted is not None
        assert entry.p_value_adjusted >= entry.p_value
    x1 = report.column("x1")
    assert x1.test == "ks" and x1.kind == "numeric"
    assert x1.wasserstein_normalized == pytest.approx(0.5, abs=0.1)
    assert x1.psi is not None and x1.psi > 0.1
    color = report.column("color")
    assert color.test == "chi2" and color.dof == 2
    assert color.js_distance is not None and color.js_distance > 0.1
    assert report.multivariate is not None and report.multivariate_auc is not None
    assert report.multivariate_auc > 0.55


def test_no_drift_on_identical_distributions() -> None:
    rng = np.random.default_rng(1)
    report = drift_report(_frame(rng, 3000), _frame(rng, 3000), config=SMALL_SAMPLE)
    assert report.status == "ok"
    assert report.drifted_columns == () and report.drivers == ()
    assert report.multivariate is not None and not report.multivariate.drifted


def test_tiny_shift_on_many_rows_is_significant_but_not_drift() -> None:
    rng = np.random.default_rng(2)
    n = 200_000
    reference = pd.DataFrame({"tiny": rng.normal(size=n), "big": rng.normal(size=n)})
    current = pd.DataFrame({"tiny": rng.normal(0.02, size=n), "big": rng.normal(0.5, size=n)})

    report = drift_report(reference, current, config=COLUMNS_ONLY)

    tiny = report.column("tiny")
    assert tiny.p_value_adjusted is not None and tiny.p_value_adjusted < 0.05
    assert tiny.significant and not tiny.large_effect and not tiny.drifted
    assert tiny.wasserstein_normalized is not None and tiny.wasserstein_normalized < 0.05
    assert report.column("big").drifted
    assert report.drifted_columns == ("big",)


def test_important_columns_drive_the_endpoint_verdict() -> None:
    rng = np.random.default_rng(3)
    names = [f"f{i:02d}" for i in range(20)]
    reference = pd.DataFrame({name: rng.normal(size=4000) for name in names})
    current = pd.DataFrame({name: rng.normal(size=4000) for name in names})
    current["f03"] += 0.5
    current["f11"] += 0.5
    importance = {name: 1.0 for name in names} | {"f03": 12.0, "f11": 9.0}

    weighted = drift_report(reference, current, importance=importance, config=COLUMNS_ONLY)
    unweighted = drift_report(reference, current, config=SMALL_SAMPLE)

    assert weighted.drifted_columns == unweighted.drifted_columns == ("f03", "f11")
    assert weighted.status == "drift"
    assert weighted.drivers == ("f03", "f11")  # most important first
    assert weighted.drifted_weight == pytest.approx(21 / 39)
    assert any("f03, f11" in reason for reason in weighted.reasons)
    # Without importance 2 of 20 columns carry 10% of the weight: noted, not an alarm,
    # although the domain classifier (reported) sees them too.
    assert unweighted.status == "ok" and unweighted.drivers == ()
    assert unweighted.drifted_weight == pytest.approx(0.1)
    assert unweighted.multivariate is not None and unweighted.multivariate.drifted


def test_multivariate_check_catches_a_flipped_correlation() -> None:
    rng = np.random.default_rng(4)
    n = 4000
    a = rng.normal(size=2 * n)
    noise = rng.normal(scale=0.3, size=2 * n)
    reference = pd.DataFrame({"a": a[:n], "b": a[:n] + noise[:n]})
    current = pd.DataFrame({"a": a[n:], "b": -a[n:] + noise[n:]})  # same marginals

    report = drift_report(reference, current, config=SMALL_SAMPLE)

    assert report.drifted_columns == ()
    assert report.multivariate is not None and report.multivariate.drifted
    assert report.status == "drift"
    assert any("joint distribution" in reason for reason in report.reasons)


def test_prediction_drift() -> None:
    rng = np.random.default_rng(5)
    reference = _frame(rng, 3000)
    current = _frame(rng, 3000)
    reference["score"] = rng.beta(2, 5, 3000)
    current["score"] = rng.beta(5, 2, 3000)
    reference["label"] = np.where(reference["score"] > 0.5, "yes", "no")
    current["label"] = np.where(current["score"] > 0.5, "yes", "no")

    report = drift_report(
        reference.drop(columns="label"), current, prediction="score", config=COLUMNS_ONLY
    )
    assert report.status == "drift"
    assert report.drivers == ("score",)
    assert report.column("score").role == "prediction"
    assert report.column("score").kind == "numeric"

    labels = drift_report(
        reference.drop(columns="score"), current, prediction="label", config=COLUMNS_ONLY
    )
    assert labels.column("label").kind == "categorical"
    assert labels.drivers == ("label",)


def test_insufficient_data_is_not_an_alarm() -> None:
    rng = np.random.default_rng(6)
    reference = _frame(rng, 2000)
    current = _frame(rng, 40, shift={"x0": 3.0}, shares=(0.0, 0.0, 1.0))

    report = drift_report(reference, current)

    assert report.status == "insufficient_data"
    assert report.drivers == () and report.multivariate is None
    assert "window has 40 rows" in report.reasons[0]
    assert all(entry.status == "insufficient_data" for entry in report.columns)
    assert all(entry.p_value is None for entry in report.columns)
    loose = drift_report(reference, current, config=DriftConfig(min_rows=20, multivariate=False))
    assert loose.status == "drift"


def test_sparse_column_is_insufficient_while_others_are_tested() -> None:
    rng = np.random.default_rng(7)
    reference = _frame(rng, 2000)
    current = _frame(rng, 1000)
    current.loc[current.index[50:], "x2"] = np.nan

    report = drift_report(reference, current, config=COLUMNS_ONLY)

    assert report.status == "ok"
    assert report.column("x2").status == "insufficient_data"
    assert report.column("x2").n_cur == 50
    quality = {q.column: q for q in report.quality}
    assert quality["x2"].null_share == pytest.approx(0.95)


def test_missing_reference_names_how_to_set_one() -> None:
    current = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match="DriftReference.from_frame") as info:
        drift_report(None, current)
    assert info.value.field == "reference"
    with pytest.raises(InvalidInputError, match="reference frame is empty"):
        drift_report(pd.DataFrame({"x": []}), current)
    with pytest.raises(InvalidInputError, match="DataFrame or a DriftReference"):
        drift_report({"x": [1.0]}, current)  # type: ignore[arg-type]


def test_window_missing_a_reference_column_is_rejected() -> None:
    rng = np.random.default_rng(8)
    reference = _frame(rng, 500)
    with pytest.raises(InvalidInputError, match="lacks columns") as info:
        drift_report(reference, reference.drop(columns="x3"))
    assert info.value.field == "x3"
    bad = reference.assign(x1="oops")
    with pytest.raises(InvalidInputError, match="non-numeric") as info:
        drift_report(reference, bad)
    assert info.value.field == "x1"


def test_unseen_categories_are_listed_and_counted() -> None:
    rng = np.random.default_rng(9)
    reference = _frame(rng, 3000)
    current = _frame(rng, 3000)
    current.loc[current.index[:600], "color"] = "purple"
    current.loc[current.index[600:630], "color"] = "teal"

    report = drift_report(reference, current, config=COLUMNS_ONLY)

    color = report.column("color")
    assert color.unseen_categories == ("purple", "teal")
    assert color.drifted and color.dof == 4
    quality = {q.column: q for q in report.quality}
    assert quality["color"].unseen_share == pytest.approx(630 / 3000)
    assert quality["x0"].unseen_share is None


def test_nulls_are_excluded_from_tests_and_counted_in_quality() -> None:
    rng = np.random.default_rng(10)
    reference = _frame(rng, 3000)
    current = _frame(rng, 3000)
    current.loc[current.index[:900], "x0"] = np.nan
    current.loc[current.index[:300], "x1"] = np.inf
    current.loc[current.index[:1200], "color"] = None

    report = drift_report(reference, current, config=COLUMNS_ONLY)

    assert report.status == "ok" and report.drifted_columns == ()
    assert report.column("x0").n_cur == 2100
    assert report.column("x1").n_cur == 2700
    assert report.column("color").n_cur == 1800
    quality = {q.column: q for q in report.quality}
    assert quality["x0"].null_share == pytest.approx(0.3)
    assert quality["x1"].null_share == pytest.approx(0.1)
    assert quality["color"].null_share == pytest.approx(0.4)
    assert quality["x0"].null_share_reference == 0.0
    rates = null_rates(current)
    assert rates["x0"] == pytest.approx(0.3) and rates["color"] == pytest.approx(0.4)


def test_out_of_range_share() -> None:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"x": rng.uniform(0, 1, 1000)})
    current = pd.DataFrame({"x": np.r_[rng.uniform(0.1, 0.9, 800), np.full(150, 2.0), [-5.0] * 50]})
    profile = DriftReference.from_frame(reference)

    report = drift_report(profile, current, config=COLUMNS_ONLY)

    assert report.quality[0].out_of_range_share == pytest.approx(0.2)
    assert out_of_range_shares(profile, current) == {"x": pytest.approx(0.2)}


def test_prebuilt_reference_gives_the_same_report() -> None:
    rng = np.random.default_rng(12)
    reference = _frame(rng, 2000)
    current = _frame(rng, 1500, shift={"x2": 0.6})
    profile = DriftReference.from_frame(reference, categorical=["color", "plan"])

    direct = drift_report(reference, current, ["color", "plan"], config=SMALL_SAMPLE)
    prebuilt = drift_report(profile, current, config=SMALL_SAMPLE)
    restored = drift_report(
        DriftReference.from_bytes(profile.to_bytes()), current, config=SMALL_SAMPLE
    )

    assert direct.to_dict() == prebuilt.to_dict() == restored.to_dict()
    with pytest.raises(InvalidInputError, match="categorical"):
        drift_report(profile, current, ["color"])
    with pytest.raises(InvalidInputError, match="prediction"):
        drift_report(profile, current, prediction="x0")


def test_to_dict_is_json_and_complete() -> None:
    rng = np.random.default_rng(13)
    report = drift_report(
        _frame(rng, 1000), _frame(rng, 1000, shift={"x0": 1.0, "x5": 1.0}), config=SMALL_SAMPLE
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["status"] == "drift"
    assert set(data) >= {
        "status",
        "drifted_columns",
        "drivers",
        "share_drifted",
        "multivariate_auc",
        "columns",
        "quality",
        "config",
    }
    entry = data["columns"][0]
    assert set(entry) >= {
        "column",
        "kind",
        "test",
        "statistic",
        "p_value",
        "p_value_adjusted",
        "wasserstein_normalized",
        "psi",
        "js_distance",
        "drifted",
        "n_ref",
        "n_cur",
        "unseen_categories",
    }
    assert data["config"]["alpha"] == 0.05


def test_holm_correction_is_available() -> None:
    rng = np.random.default_rng(14)
    reference, current = _frame(rng, 2000), _frame(rng, 2000, shift={"x3": 0.5})
    report = drift_report(
        reference, current, config=DriftConfig(correction="holm", multivariate=False)
    )
    assert report.drifted_columns == ("x3",)
    raw = [e.p_value for e in report.columns if e.p_value is not None]
    adjusted = [e.p_value_adjusted for e in report.columns if e.p_value_adjusted is not None]
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))


def test_bad_importance_is_rejected() -> None:
    rng = np.random.default_rng(15)
    reference = _frame(rng, 300)
    for importance, match in (
        ({"nope": 1.0}, "not profiled"),
        ({"x0": -1.0}, ">= 0"),
        ({"x0": 0.0}, "weight > 0"),
    ):
        with pytest.raises(InvalidInputError, match=match) as info:
            drift_report(reference, reference, importance=importance)
        assert info.value.field == "importance"
