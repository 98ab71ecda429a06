"""Schema drift between two dataset versions."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from modelyard.data.readers import infer_schema
from modelyard.data.schema_diff import category_sets, diff_schemas
from modelyard.errors import InvalidInputError


def _versions() -> tuple[pd.DataFrame, pd.DataFrame]:
    old = pd.DataFrame(
        {
            "age": [30, 40, 50],
            "region": ["north", "south", "east"],
            "plan": ["basic", "premium", "basic"],
            "score": [1, 2, 3],
            "legacy": [0.1, 0.2, 0.3],
            "code": [1, 2, 3],
        }
    )
    new = pd.DataFrame(
        {
            "age": [30.5, 40.0, 50.0],  # integer -> float: widening
            "region": ["north", "west", None],  # west new, south/east dropped, now nullable
            "plan": ["basic", "premium", "basic"],
            "score": [1, 2, 3],
            "code": ["A", "B", "C"],  # integer -> string: breaking
            "channel": ["web", "store", "web"],  # added
        }
    )
    return old, new


def test_diff_between_versions() -> None:
    old, new = _versions()
    diff = diff_schemas(
        infer_schema(old),
        infer_schema(new),
        old_categories=category_sets(old),
        new_categories=category_sets(new),
    )
    assert [c["name"] for c in diff.added] == ["channel"]
    assert diff.added[0] == {"name": "channel", "type": "string", "nullable": False}
    assert [c["name"] for c in diff.removed] == ["legacy"]
    assert diff.retyped == [
        {"name": "age", "old_type": "integer", "new_type": "float", "widening": True},
        {"name": "code", "old_type": "integer", "new_type": "string", "widening": False},
    ]
    assert diff.nullability == [{"name": "region", "old_nullable": False, "new_nullable": True}]
    assert diff.new_categories == {"region": ["west"]}
    assert diff.dropped_categories == {"region": ["east", "south"]}
    assert diff.changed and diff.breaking
    out = diff.to_dict()
    assert out["breaking"] is True
    json.dumps(out)


def test_identical_schemas_and_widening_only() -> None:
    old, _ = _versions()
    same = diff_schemas(infer_schema(old), infer_schema(old))
    assert not same.changed and not same.breaking
    widened = old.assign(age=old["age"].astype(float))
    diff = diff_schemas(infer_schema(old), infer_schema(widened))
    assert diff.changed and not diff.breaking
    added_only = diff_schemas(infer_schema(old), infer_schema(old.assign(extra=1)))
    assert added_only.changed and not added_only.breaking


def test_categories_only_compared_for_columns_in_both() -> None:
    diff = diff_schemas(
        [{"name": "a", "type": "string"}],
        [{"name": "a", "type": "string"}],
        old_categories={"a": ["x"]},
        new_categories={"a": ["x", "y"], "b": ["z"]},
    )
    assert diff.new_categories == {"a": ["y"]} and diff.dropped_categories == {}
    assert not diff.breaking  # new categories are drift, not a schema break


def test_category_sets() -> None:
    frame = pd.DataFrame(
        {
            "region": ["b", "a", None, "a"],
            "flag": [True, False, True, True],
            "n": [1, 2, 3, 4],
            "free_text": [f"t{i}" for i in range(4)],
        }
    )
    sets = category_sets(frame, max_categories=3)
    assert sets == {"region": ["a", "b"], "flag": ["False", "True"]}
    assert "free_text" in category_sets(frame)


@pytest.mark.parametrize(
    "schema",
    [
        [{"type": "string"}],
        [{"name": "a"}],
        ["a"],
        [{"name": "a", "type": "string"}, {"name": "a", "type": "integer"}],
    ],
)
def test_bad_schemas(schema: list[object]) -> None:
    with pytest.raises(InvalidInputError) as info:
        diff_schemas(schema, [])  # type: ignore[arg-type]
    assert info.value.field == "old_schema"
