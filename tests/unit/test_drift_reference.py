"""DriftReference: column kinds, serialisation round trips, validation; DriftConfig checks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from modelyard.domain.drift import (
    CategoricalProfile,
    DriftConfig,
    DriftReference,
    NumericProfile,
    detect_drift,
)
from modelyard.errors import InvalidInputError


def _reference_frame(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "amount": rng.lognormal(size=n),
            "count": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "code": rng.integers(1, 4, n),
            "city": pd.array(rng.choice(["Oslo", "Lima", "Pune"], n), dtype="str"),
            "flag": rng.random(n) < 0.3,
            "tier": pd.Categorical(rng.choice(["a", "b"], n)),
            "seen_at": pd.date_range("2024-01-01", periods=n, freq="h"),
            "score": rng.random(n),
        }
    )


def test_column_kinds_are_inferred_or_forced() -> None:
    frame = _reference_frame()
    frame.loc[frame.index[:10], "count"] = pd.NA
    frame.loc[frame.index[:5], "amount"] = np.nan
    reference = DriftReference.from_frame(frame, categorical=["code"], prediction="score")

    kinds = {name: profile.kind for name, profile in reference.columns.items()}
    assert kinds == {
        "amount": "numeric",
        "count": "numeric",
        "code": "categorical",
        "city": "categorical",
        "flag": "categorical",
        "tier": "categorical",
        "score": "numeric",
    }
    assert "seen_at" not in reference.columns
    assert reference.features == ["amount", "count", "code", "city", "flag", "tier"]
    assert reference.sample.shape == (600, 6)
    amount = reference.columns["amount"]
    assert isinstance(amount, NumericProfile)
    assert amount.n_null == 5 and amount.n == 595
    assert np.all(np.diff(amount.distribution.values) >= 0)
    assert amount.psi_edges.size == 9
    assert reference.columns["count"].n_null == 10
    code = reference.columns["code"]
    assert isinstance(code, CategoricalProfile)
    assert code.categories == ("1", "2", "3")
    assert reference.columns["flag"].categories == ("False", "True")  # type: ignore[union-attr]


def test_categories_match_by_string_form() -> None:
    frame = _reference_frame()
    reference = DriftReference.from_frame(frame[["code"]], categorical=["code"])
    current = pd.DataFrame({"code": frame["code"].astype(str)})
    report = detect_drift(reference, current, config=DriftConfig(multivariate=False))
    entry = report.column("code")
    assert entry.unseen_categories == () and entry.statistic == pytest.approx(0.0)


def test_dict_and_bytes_round_trips() -> None:
    frame = _reference_frame()
    frame.loc[frame.index[:7], "city"] = None
    reference = DriftReference.from_frame(frame, categorical=["code"], prediction="score")
    as_dict = reference.to_dict()

    from_json = DriftReference.from_dict(json.loads(json.dumps(as_dict, allow_nan=False)))
    from_bytes = DriftReference.from_bytes(reference.to_bytes())

    for restored in (from_json, from_bytes):
        assert restored.to_dict() == as_dict
        assert restored.prediction == "score" and restored.n_rows == 600
        np.testing.assert_array_equal(restored.sample, reference.sample)
        original = reference.columns["amount"]
        copy = restored.columns["amount"]
        assert isinstance(original, NumericProfile) and isinstance(copy, NumericProfile)
        np.testing.assert_array_equal(copy.psi_edges, original.psi_edges)
        assert copy.std == original.std
    assert as_dict["format"] == "modelyard.drift-reference" and as_dict["version"] == 1


def test_sample_is_bounded_and_reproducible() -> None:
    frame = _reference_frame(3000)
    first = DriftReference.from_frame(frame, sample_rows=500, random_state=3)
    second = DriftReference.from_frame(frame, sample_rows=500, random_state=3)
    assert first.sample.shape == (500, 7)
    np.testing.assert_array_equal(first.sample, second.sample)


def test_corrupt_serialisations_are_rejected() -> None:
    reference = DriftReference.from_frame(_reference_frame())
    with pytest.raises(InvalidInputError, match="archive") as info:
        DriftReference.from_bytes(b"not an archive")
    assert info.value.field == "reference"
    data = reference.to_dict()
    with pytest.raises(InvalidInputError, match="version"):
        DriftReference.from_dict({**data, "version": 99})
    unsorted = json.loads(json.dumps(data))
    unsorted["columns"][0]["values"] = unsorted["columns"][0]["values"][::-1]
    with pytest.raises(InvalidInputError, match="not sorted"):
        DriftReference.from_dict(unsorted)
    with pytest.raises(InvalidInputError, match="drift reference"):
        DriftReference.from_dict({"format": "modelyard.drift-reference"})


@pytest.mark.parametrize(
    ("kwargs", "match", "field"),
    [
        ({"categorical": ["nope"]}, "missing from the reference", "categorical"),
        ({"categorical": "city"}, "list of column names", "categorical"),
        ({"prediction": "nope"}, "not in the reference", "prediction"),
        ({"psi_bins": 1}, "psi_bins", "psi_bins"),
    ],
)
def test_from_frame_rejects_bad_arguments(
    kwargs: dict[str, object], match: str, field: str
) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        DriftReference.from_frame(_reference_frame(), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_from_frame_rejects_non_frames_and_odd_columns() -> None:
    with pytest.raises(InvalidInputError, match="DataFrame"):
        DriftReference.from_frame([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="strings"):
        DriftReference.from_frame(pd.DataFrame({0: [1.0, 2.0]}))
    duplicated = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(InvalidInputError, match="duplicate"):
        DriftReference.from_frame(duplicated)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"drift_share": 0.0}, "drift_share"),
        ({"js_threshold": -0.1}, "js_threshold"),
        ({"auc_threshold": 0.4}, "auc_threshold"),
        ({"correction": "bonferroni"}, "correction"),
        ({"ks_method": "fast"}, "ks_method"),
        ({"min_rows": 1}, "min_rows"),
        ({"multivariate_folds": 1}, "multivariate_folds"),
    ],
)
def test_config_validation(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        DriftConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_config_defaults() -> None:
    config = DriftConfig()
    assert (config.alpha, config.correction, config.min_rows) == (0.05, "bh", 100)
    assert (config.wasserstein_threshold, config.psi_threshold, config.js_threshold) == (
        0.1,
        0.25,
        0.1,
    )
    assert (config.auc_threshold, config.drift_share) == (0.55, 0.25)
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()


def test_drift_domain_imports_no_io_frameworks() -> None:
    code = (
        "import sys\n"
        "import modelyard.domain.drift\n"
        "print(','.join(m for m in ('sqlalchemy', 'starlette', 'uvicorn', 'httpx', 'alembic')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
