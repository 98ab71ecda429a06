"""Short, readable summaries of a profile, a schema diff and an expectation report.

Pure functions over the JSON-able dicts of :func:`~modelyard.data.profile.profile_frame`,
:meth:`SchemaDiff.to_dict() <modelyard.data.schema_diff.SchemaDiff.to_dict>` and
:meth:`ExpectationReport.to_dict() <modelyard.data.expectations.ExpectationReport.to_dict>`;
the CLI prints the lines, the HTTP API returns the dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: At most this many columns are named in a line about null rates.
MAX_NULL_COLUMNS_SHOWN = 5


def profile_summary(
    profile: Mapping[str, Any],
    *,
    schema_drift: Mapping[str, Any] | None = None,
    previous_version: int | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """``{"rows", "columns", "null_cells", "null_rates", "duplicate_rows",
    "constant_columns", "leakage", "warnings"}`` for one table.

    ``null_rates`` lists only columns with nulls, highest rate first; ``warnings`` are
    readable lines (duplicates, constant columns, leakage hints, schema drift from
    ``previous_version``, then ``notes``).
    """
    columns: Mapping[str, Mapping[str, Any]] = profile.get("columns", {})
    null_rates = {
        name: float(info.get("null_rate") or 0.0)
        for name, info in columns.items()
        if info.get("null_count")
    }
    null_rates = dict(sorted(null_rates.items(), key=lambda kv: (-kv[1], kv[0])))
    warnings: list[str] = []
    duplicates = int(profile.get("duplicate_rows") or 0)
    if duplicates:
        noun = "row repeats" if duplicates == 1 else "rows repeat"
        warnings.append(f"{duplicates} duplicate {noun} an earlier row")
    constant = list(profile.get("constant_columns") or [])
    if constant:
        warnings.append(f"constant columns (one value or all null): {', '.join(constant)}")
    leakage = list(profile.get("leakage") or [])
    warnings += [leakage_line(hint) for hint in leakage]
    if schema_drift is not None and schema_drift.get("changed"):
        since = f"version {previous_version}" if previous_version else "the previous version"
        lines = schema_diff_lines(schema_drift)
        warnings += [f"schema drift from {since}: {line}" for line in lines]
    warnings += list(notes)
    return {
        "rows": int(profile.get("n_rows") or 0),
        "columns": int(profile.get("n_columns") or len(columns)),
        "null_cells": sum(int(info.get("null_count") or 0) for info in columns.values()),
        "null_rates": null_rates,
        "duplicate_rows": duplicates,
        "constant_columns": constant,
        "leakage": leakage,
        "warnings": warnings,
    }


def nulls_line(summary: Mapping[str, Any]) -> str:
    """``"nulls: 12 cells in 2 columns (balance 1.2%, age 0.4%)"`` or ``"nulls: none"``."""
    rates: Mapping[str, float] = summary.get("null_rates") or {}
    if not rates:
        return "nulls: none"
    first = list(rates.items())[:MAX_NULL_COLUMNS_SHOWN]
    shown = ", ".join(f"{name} {rate:.1%}" for name, rate in first)
    more = len(rates) - MAX_NULL_COLUMNS_SHOWN
    tail = f", and {more} more" if more > 0 else ""
    noun = "column" if len(rates) == 1 else "columns"
    return f"nulls: {summary.get('null_cells', 0)} cells in {len(rates)} {noun} ({shown}{tail})"


def leakage_line(hint: Mapping[str, Any]) -> str:
    """``"leakage hint: leak: correlated_with_target (score 0.999)"``."""
    score = hint.get("score")
    detail = f" (score {score:.3f})" if isinstance(score, int | float) else ""
    return f"leakage hint: {hint.get('column')}: {hint.get('reason')}{detail}"


def schema_diff_lines(diff: Mapping[str, Any]) -> list[str]:
    """Readable lines for a schema diff (``SchemaDiff.to_dict()``)."""
    lines = [f"added column {c['name']} ({c['type']})" for c in diff.get("added", [])]
    lines += [f"removed column {c['name']} ({c['type']})" for c in diff.get("removed", [])]
    lines += [
        f"retyped column {c['name']}: {c['old_type']} -> {c['new_type']}"
        + (" (widening)" if c.get("widening") else "")
        for c in diff.get("retyped", [])
    ]
    for c in diff.get("nullability", []):
        now = "nullable" if c.get("new_nullable") else "not nullable"
        lines.append(f"column {c.get('name')} is now {now}")
    for kind, label in (("new_categories", "new"), ("dropped_categories", "dropped")):
        for column, values in (diff.get(kind) or {}).items():
            lines.append(f"{label} categories in {column}: {', '.join(map(str, values))}")
    if diff.get("breaking"):
        lines.append("breaking: models trained on the previous version may not accept this one")
    return lines


def violations_summary(violations: Iterable[Mapping[str, Any]], *, rows: bool = True) -> str:
    """``"age: max (5 rows); region: allowed (1 row)"`` (``rows=False``: ``"age: max
    (5)"``): what a refused or forced training says about the failed expectations."""
    parts = []
    for v in violations:
        count = v.get("count")
        unit = (" row" if count == 1 else " rows") if rows else ""
        parts.append(f"{v.get('column')}: {v.get('rule')} ({count}{unit})")
    return "; ".join(parts)


def violation_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per violation: ``"region: 2 rows not in allowed [...] (e.g. rows 3, 7)"``."""
    lines = []
    for v in report.get("violations", []):
        rows = ", ".join(map(str, v.get("examples") or []))
        where = f" (e.g. rows {rows})" if rows else ""
        lines.append(f"{v['message']}{where}")
    return lines
