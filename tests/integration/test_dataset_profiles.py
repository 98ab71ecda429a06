"""Adding a dataset version stores its profile and reports warnings, drift and violations."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from modelyard.data.datasets import DatasetChecks, DatasetService, schema_of
from modelyard.data.quickstart import generate_quickstart_frame
from modelyard.errors import InvalidInputError
from modelyard.spec import ColumnExpectation, loads_spec, spec_template
from modelyard.store.orm import DatasetVersionRow
from modelyard.store.store import Store

EXPECT = {
    "age": ColumnExpectation(min=18, max=100),
    "region": ColumnExpectation(allowed=["north", "south", "east", "west", "central"]),
    "id": ColumnExpectation(unique=True),
}


def csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.fixture
def base() -> pd.DataFrame:
    frame: pd.DataFrame = generate_quickstart_frame(400, seed=1)
    frame.insert(0, "id", np.arange(len(frame)))
    return frame


def test_the_profile_is_stored_with_the_version(store: Store, base: pd.DataFrame) -> None:
    service = DatasetService(store)
    report = service.add_checked(csv(base), "qs", fmt="csv", source="qs.csv")
    assert report.created is True and report.passed and report.expectations is None
    stored = service.get("qs", 1)
    age = next(c for c in stored.columns if c["name"] == "age")
    assert {"name", "type", "nullable", "profile"} <= set(age)
    assert age["profile"]["min"] == base["age"].min()
    assert set(age["profile"]["quantiles"]) >= {"0.25", "0.5", "0.75"}
    assert sum(age["profile"]["histogram"]["counts"]) == len(base)
    region = next(c for c in stored.columns if c["name"] == "region")["profile"]
    assert {t["value"] for t in region["top"]} == set(base["region"])
    profile = service.stored_profile("qs", 1)
    assert profile["n_rows"] == 400 and profile["columns"]["age"] == age["profile"]
    assert schema_of(stored)[1] == {"name": "age", "type": "integer", "nullable": False}
    summary = report.summary()
    assert summary["rows"] == 400 and summary["columns"] == len(base.columns)
    assert summary["null_rates"] == {"balance": pytest.approx(base["balance"].isna().mean())}
    assert summary["warnings"] == [] and report.schema_drift is None
    again = service.add_checked(csv(base), "qs", fmt="csv", source="copy.csv")
    assert again.created is False and again.version.version == 1


def test_warnings_violations_and_drift_are_reported_but_the_version_is_stored(
    store: Store, base: pd.DataFrame
) -> None:
    service = DatasetService(store)
    service.add_checked(csv(base), "qs", fmt="csv", source="v1.csv")
    bad = base.copy()
    bad.loc[[3, 7], "region"] = "mars"
    bad.loc[5, "age"] = 7
    bad["leak"] = bad["target"] * 2.0
    bad["constant"] = 1
    bad = pd.concat([bad, bad.iloc[[0, 1]]], ignore_index=True)  # 2 duplicates, ids repeat
    bad = bad.drop(columns=["channel"]).astype({"num_products": float})
    checks = DatasetChecks(target="target", expectations=EXPECT)
    report = service.add_checked(csv(bad), "qs", fmt="csv", source="v2.csv", checks=checks)

    assert report.created is True and report.version.version == 2
    assert [v.version for v in service.list("qs")] == [1, 2]  # stored despite violations
    assert not report.passed
    found = {(v["column"], v["rule"]): v for v in report.expectations["violations"]}
    assert set(found) == {("region", "allowed"), ("age", "min"), ("id", "unique")}
    assert found["region", "allowed"]["count"] == 2
    assert found["region", "allowed"]["examples"] == [3, 7]
    assert found["age", "min"]["examples"] == [5] and found["age", "min"]["values"] == [7]
    assert found["id", "unique"]["count"] == 2

    summary = report.summary()
    assert summary["duplicate_rows"] == 2 and summary["constant_columns"] == ["constant"]
    assert [h["column"] for h in summary["leakage"]] == ["leak"]
    warnings = "\n".join(summary["warnings"])
    assert "2 duplicate rows repeat an earlier row" in warnings
    assert "constant columns (one value or all null): constant" in warnings
    assert "leakage hint: leak: correlated_with_target" in warnings
    assert "schema drift from version 1: removed column channel (string)" in warnings
    assert "schema drift from version 1: added column leak (float)" in warnings
    assert "retyped column num_products: integer -> float (widening)" in warnings
    assert "new categories in region: mars" in warnings
    drift = report.schema_drift
    assert drift is not None and drift["breaking"] and report.previous_version == 1
    assert drift["added"] == [
        {"name": "leak", "type": "float", "nullable": False},
        {"name": "constant", "type": "integer", "nullable": False},
    ]
    body = report.to_dict()
    assert body["version"] == 2 and body["created"] is True
    assert body["summary"] == summary and body["expectations"]["passed"] is False


@pytest.mark.parametrize(
    ("data", "fmt", "checks", "field", "match"),
    [
        (b"a,b\n1,2\n", "csv", DatasetChecks(target="nope"), "target", "'nope' is not a column"),
        (b"", "csv", None, "data", "empty"),
        (b"a,b\n", "csv", None, "data", "no rows"),
        (b"a,b\n1,2\n", "xlsx", None, "format", "unsupported table format"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    store: Store,
    data: bytes,
    fmt: str,
    checks: DatasetChecks | None,
    field: str,
    match: str,
) -> None:
    service = DatasetService(store)
    with pytest.raises(InvalidInputError, match=match) as caught:
        service.add_checked(data, "bad", fmt=fmt, source="x", checks=checks)
    assert caught.value.field == field
    assert service.list() == []


def test_a_bad_name_stores_nothing(store: Store, base: pd.DataFrame) -> None:
    service = DatasetService(store)
    with pytest.raises(InvalidInputError, match="invalid dataset"):
        service.add_checked(csv(base), "../evil", fmt="csv", source="x")
    assert service.list() == []


def test_checks_from_a_spec(base: pd.DataFrame, store: Store) -> None:
    spec = loads_spec(spec_template())
    checks = DatasetChecks.from_spec(spec, "quickstart", source="modelyard.yaml")
    assert checks.target == "target" and "region" in checks.expectations
    assert not checks.target_required and checks.notes == ()
    other = DatasetChecks.from_spec(spec, "loans", source="modelyard.yaml")
    assert other.target is None and not other.expectations
    assert other.notes == (
        "modelyard.yaml describes dataset 'quickstart', not 'loans': its target and "
        "expectations were not used",
    )
    assert DatasetChecks.from_spec(spec, "loans", target="target").target == "target"
    # a spec target the table lacks is a note, not an error (the data is still stored)
    service = DatasetService(store)
    report = service.add_checked(
        csv(base.drop(columns=["target"])), "quickstart", fmt="csv", source="x", checks=checks
    )
    assert report.version.version == 1 and report.profile["leakage"] == []
    assert "target column 'target' (from modelyard.yaml) is missing" in report.notes[0]
    missing = {(v["column"], v["rule"]) for v in report.expectations["violations"]}
    assert ("target", "missing_column") in missing


def test_check_reports_without_storing(store: Store, base: pd.DataFrame) -> None:
    service = DatasetService(store)
    service.add_frame(base, "qs")
    service.add_frame(base.assign(region="north"), "qs")
    report = service.check("qs", 2, checks=DatasetChecks(expectations=EXPECT))
    assert report.created is None and report.passed
    assert report.schema_drift is not None
    assert report.schema_drift["dropped_categories"]["region"] == [
        "central",
        "east",
        "south",
        "west",
    ]
    assert len(service.list("qs")) == 2


def test_versions_stored_before_profiles_get_one_computed(store: Store, base: pd.DataFrame) -> None:
    service = DatasetService(store)
    dv = service.add_frame(base, "old")
    with store.session() as session:
        row = session.query(DatasetVersionRow).one()
        row.columns = schema_of(dv)  # as written before profiles were stored
    assert "profile" not in service.get("old").columns[0]
    profile = service.stored_profile("old")
    assert profile["columns"]["age"]["max"] == base["age"].max()
    assert profile["n_rows"] == len(base)
