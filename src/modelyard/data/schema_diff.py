"""Schema drift between two dataset versions.

Schemas are lists of ``{"name", "type", "nullable"}`` as produced by
:func:`modelyard.data.readers.infer_schema`; category sets map a column name to its
distinct values (see :func:`category_sets`). The diff reports:

* ``added`` / ``removed`` columns (full schema entries);
* ``retyped`` columns ``{"name", "old_type", "new_type", "widening"}``, where
  ``widening`` is true for ``integer → float`` (values still fit);
* ``nullability`` changes ``{"name", "old_nullable", "new_nullable"}``;
* ``new_categories`` / ``dropped_categories``: values per column that appear only in
  the new / only in the old version (columns in both category sets only).

``breaking`` is true when a column was removed, retyped other than by widening, or
became nullable: changes that can make a model trained on the old version fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from modelyard.data.readers import schema_type
from modelyard.errors import InvalidInputError

DEFAULT_MAX_CATEGORIES = 1000
_WIDENING = frozenset({("integer", "float")})


@dataclass(frozen=True)
class SchemaDiff:
    """What changed from an old schema to a new one (see the module docstring)."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    retyped: list[dict[str, Any]] = field(default_factory=list)
    nullability: list[dict[str, Any]] = field(default_factory=list)
    new_categories: dict[str, list[str]] = field(default_factory=dict)
    dropped_categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when anything differs."""
        return any(
            (
                self.added,
                self.removed,
                self.retyped,
                self.nullability,
                self.new_categories,
                self.dropped_categories,
            )
        )

    @property
    def breaking(self) -> bool:
        """True for removed columns, non-widening type changes or newly nullable columns."""
        return (
            bool(self.removed)
            or any(not r["widening"] for r in self.retyped)
            or any(n["new_nullable"] for n in self.nullability)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with ``changed`` and ``breaking``."""
        return {
            "changed": self.changed,
            "breaking": self.breaking,
            "added": self.added,
            "removed": self.removed,
            "retyped": self.retyped,
            "nullability": self.nullability,
            "new_categories": self.new_categories,
            "dropped_categories": self.dropped_categories,
        }


def diff_schemas(
    old: Sequence[Mapping[str, Any]],
    new: Sequence[Mapping[str, Any]],
    *,
    old_categories: Mapping[str, Iterable[Any]] | None = None,
    new_categories: Mapping[str, Iterable[Any]] | None = None,
) -> SchemaDiff:
    """Compare two schemas (and, optionally, their category sets)."""
    before = _index(old, "old")
    after = _index(new, "new")
    added = [dict(after[name]) for name in after if name not in before]
    removed = [dict(before[name]) for name in before if name not in after]
    retyped: list[dict[str, Any]] = []
    nullability: list[dict[str, Any]] = []
    for name, entry in after.items():
        if name not in before:
            continue
        old_type, new_type = before[name]["type"], entry["type"]
        if old_type != new_type:
            retyped.append(
                {
                    "name": name,
                    "old_type": old_type,
                    "new_type": new_type,
                    "widening": (old_type, new_type) in _WIDENING,
                }
            )
        old_null = bool(before[name].get("nullable", False))
        new_null = bool(entry.get("nullable", False))
        if old_null != new_null:
            nullability.append({"name": name, "old_nullable": old_null, "new_nullable": new_null})

    added_values: dict[str, list[str]] = {}
    dropped_values: dict[str, list[str]] = {}
    if old_categories is not None and new_categories is not None:
        for name, values in new_categories.items():
            if name not in old_categories:
                continue
            old_set = {str(v) for v in old_categories[name]}
            new_set = {str(v) for v in values}
            if new_set - old_set:
                added_values[name] = sorted(new_set - old_set)
            if old_set - new_set:
                dropped_values[name] = sorted(old_set - new_set)
    return SchemaDiff(added, removed, retyped, nullability, added_values, dropped_values)


def category_sets(
    frame: pd.DataFrame, *, max_categories: int = DEFAULT_MAX_CATEGORIES
) -> dict[str, list[str]]:
    """Distinct non-null values (as strings, sorted) of each string or boolean column.

    Columns with more than ``max_categories`` distinct values (free text, identifiers)
    are left out.
    """
    out: dict[str, list[str]] = {}
    for name in frame.columns:
        series = frame[name]
        if schema_type(series) not in ("string", "boolean"):
            continue
        values = series.dropna().astype(str).unique()
        if len(values) <= max_categories:
            out[str(name)] = sorted(values.tolist())
    return out


def _index(schema: Sequence[Mapping[str, Any]], which: str) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for i, entry in enumerate(schema):
        if not isinstance(entry, Mapping) or "name" not in entry or "type" not in entry:
            raise InvalidInputError(
                f"{which} schema entry {i} must be a mapping with 'name' and 'type'",
                field=f"{which}_schema",
            )
        name = str(entry["name"])
        if name in out:
            raise InvalidInputError(
                f"{which} schema lists column {name!r} twice", field=f"{which}_schema"
            )
        out[name] = entry
    return out
