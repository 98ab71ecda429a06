from __future__ import annotations

import pandas as pd

from modelyard.data.profile import profile_frame
from modelyard.data.summary import (
    leakage_line,
    nulls_line,
    profile_summary,
    schema_diff_lines,
    violation_lines,
)


def test_summary_of_a_clean_table() -> None:
    summary = profile_summary(profile_frame(pd.DataFrame({"a": [1, 2, 3], "b": list("xyz")})))
    assert summary == {
        "rows": 3,
        "columns": 2,
        "null_cells": 0,
        "null_rates": {},
        "duplicate_rows": 0,
        "constant_columns": [],
        "leakage": [],
        "warnings": [],
    }
    assert nulls_line(summary) == "nulls: none"


def test_summary_warnings_in_order() -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, None, 3.0, 3.0, None, 1.0],
            "b": [None, "y", "z", "z", "x", "x"],
            "c": [7] * 6,
            "y": [0, 1, 0, 1, 1, 0],
        }
    )
    frame.loc[5] = frame.loc[4]  # a duplicate row
    diff = {"changed": True, "breaking": False, "added": [{"name": "c", "type": "integer"}]}
    summary = profile_summary(
        profile_frame(frame), schema_drift=diff, previous_version=3, notes=["a note"]
    )
    assert summary["null_cells"] == 4 and summary["null_rates"] == {"a": 3 / 6, "b": 1 / 6}
    assert summary["warnings"] == [
        "1 duplicate row repeats an earlier row",
        "constant columns (one value or all null): c",
        "schema drift from version 3: added column c (integer)",
        "a note",
    ]
    assert nulls_line(summary) == "nulls: 4 cells in 2 columns (a 50.0%, b 16.7%)"


def test_nulls_line_names_at_most_five_columns() -> None:
    rates = {f"c{i}": 0.1 for i in range(7)}
    line = nulls_line({"null_cells": 7, "null_rates": rates})
    assert line.endswith("c4 10.0%, and 2 more)") and "7 columns" in line


def test_lines_for_hints_diffs_and_violations() -> None:
    hint = {"column": "leak", "reason": "identical_to_target", "score": 1.0}
    assert leakage_line(hint) == "leakage hint: leak: identical_to_target (score 1.000)"
    diff = {
        "removed": [{"name": "x", "type": "float"}],
        "retyped": [{"name": "n", "old_type": "integer", "new_type": "float", "widening": True}],
        "nullability": [{"name": "z", "new_nullable": True}],
        "new_categories": {"region": ["mars"]},
        "dropped_categories": {"plan": ["gold"]},
        "breaking": True,
    }
    assert schema_diff_lines(diff) == [
        "removed column x (float)",
        "retyped column n: integer -> float (widening)",
        "column z is now nullable",
        "new categories in region: mars",
        "dropped categories in plan: gold",
        "breaking: models trained on the previous version may not accept this one",
    ]
    report = {
        "violations": [
            {"message": "a: 2 rows below min 0", "examples": [1, 4]},
            {"message": "b: null rate 0.5 above max_null_rate 0.1", "examples": []},
        ]
    }
    assert violation_lines(report) == [
        "a: 2 rows below min 0 (e.g. rows 1, 4)",
        "b: null rate 0.5 above max_null_rate 0.1",
    ]
