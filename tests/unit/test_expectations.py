"""Declared column expectations: every rule, examples and the report shape."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelyard.data.expectations import check_expectations
from modelyard.errors import InvalidInputError
from modelyard.spec import ColumnExpectation


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [25, 17, 40, 130, 33, np.nan, 12],
            "income": [1.0, 2.0, np.inf, -1.0, 5.0, 6.0, 7.0],
            "region": ["north", "south", "mars", "north", None, "venus", "north"],
            "target": [0, 1, 1, 2, 0, 0, 1],
            "id": ["a", "b", "c", "a", "d", "a", None],
            "when": pd.date_range("2024-01-01", periods=7),
        },
        index=[10, 11, 12, 13, 14, 15, 16],  # examples are positions, not labels
    )


def test_clean_data_passes(frame: pd.DataFrame) -> None:
    report = check_expectations(
        frame, {"age": {"max_null_rate": 0.5}, "when": {}, "target": {"allowed": [0, 1, 2]}}
    )
    assert report.passed
    assert report.to_dict() == {
        "passed": True,
        "n_rows": 7,
        "columns": ["age", "when", "target"],
        "violations": [],
    }


def test_range_rules_with_examples(frame: pd.DataFrame) -> None:
    report = check_expectations(frame, {"age": {"min": 18, "max": 100}, "income": {"min": 0}})
    by_rule = {(v.column, v.rule): v for v in report.violations}
    low = by_rule[("age", "min")]
    assert low.count == 2 and low.examples == [1, 6] and low.values == [17.0, 12.0]
    assert "2 rows below min 18" in low.message
    high = by_rule[("age", "max")]
    assert high.count == 1 and high.examples == [3]
    assert by_rule[("income", "min")].examples == [3]
    assert not report.passed
    inf_max = check_expectations(frame, {"income": {"max": 100}}).violations[0]
    assert inf_max.examples == [2] and inf_max.values == ["inf"]


def test_allowed_strings_and_numbers(frame: pd.DataFrame) -> None:
    report = check_expectations(
        frame,
        {"region": {"allowed": ["north", "south"]}, "target": {"allowed": [0, 1]}},
    )
    region, target = report.violations
    assert (region.rule, region.count, region.examples) == ("allowed", 2, [2, 5])
    assert region.values == ["mars", "venus"]  # the null row is not a violation
    assert (target.column, target.count, target.examples, target.values) == (
        "target",
        1,
        [3],
        [2],
    )
    floats = check_expectations(pd.DataFrame({"t": [0.0, 1.0]}), {"t": {"allowed": [0, 1]}})
    assert floats.passed
    numbers_as_text = check_expectations(
        pd.DataFrame({"code": ["1", "2"]}), {"code": {"allowed": [1]}}
    )
    assert numbers_as_text.violations[0].values == ["2"]


def test_null_rate_and_unique(frame: pd.DataFrame) -> None:
    report = check_expectations(
        frame, {"region": {"max_null_rate": 0.0}, "id": {"unique": True, "max_null_rate": 0.2}}
    )
    by_rule = {(v.column, v.rule): v for v in report.violations}
    nulls = by_rule[("region", "max_null_rate")]
    assert nulls.count == 1 and nulls.examples == [4] and nulls.values == []
    assert "above max_null_rate 0" in nulls.message
    assert ("id", "max_null_rate") not in by_rule  # 1/7 ≈ 0.14 <= 0.2
    unique = by_rule[("id", "unique")]
    assert unique.count == 2 and unique.examples == [3, 5] and unique.values == ["a", "a"]


def test_missing_column_and_type_mismatch(frame: pd.DataFrame) -> None:
    report = check_expectations(frame, {"gone": {"min": 0}, "region": {"min": 0}})
    assert {(v.column, v.rule) for v in report.violations} == {
        ("gone", "missing_column"),
        ("region", "type"),
    }
    gone = report.violations[0]
    assert gone.count == 7 and "missing" in gone.message


def test_max_examples_and_spec_objects() -> None:
    frame = pd.DataFrame({"x": list(range(100))})
    report = check_expectations(frame, {"x": ColumnExpectation(max=10)}, max_examples=3)
    violation = report.violations[0]
    assert violation.count == 89 and violation.examples == [11, 12, 13]
    json.dumps(report.to_dict(), allow_nan=False)


def test_invalid_rules_raise() -> None:
    with pytest.raises(InvalidInputError) as info:
        check_expectations(pd.DataFrame({"x": [1]}), {"x": {"minimum": 1}})
    assert info.value.field == "expectations.x"
