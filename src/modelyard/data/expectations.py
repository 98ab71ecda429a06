"""Check a table against the column expectations declared in ``modelyard.yaml``.

Rules, per column (see :class:`~modelyard.spec.model.ColumnExpectation`):

``missing_column``  the column is absent (every row counts);
``type``            ``min``/``max`` on a column that is not numeric;
``min`` / ``max``   non-null values below ``min`` / above ``max`` (NaN is ignored, ±inf is
                    out of range);
``allowed``         non-null values outside ``allowed``. Numeric and boolean columns
                    compare numerically (``1 == 1.0 == True``); other columns compare
                    as strings (``str(value)``), so quote YAML words such as ``yes``/``no``
                    that YAML would read as booleans;
``max_null_rate``   the share of nulls exceeds the limit (count = null rows);
``unique``          a non-null value repeats an earlier row (count = repeated rows).

Examples are 0-based row *positions* (not index labels), at most ``max_examples``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelyard.data.readers import schema_type
from modelyard.errors import InvalidInputError
from modelyard.spec.model import ColumnExpectation

DEFAULT_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Violation:
    """One broken rule: which column, which rule, how many rows, and some examples."""

    column: str
    rule: str
    count: int
    message: str
    examples: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "message": self.message,
            "examples": list(self.examples),
            "values": list(self.values),
        }


@dataclass(frozen=True)
class ExpectationReport:
    """Every violation found in one table (``passed`` when there are none)."""

    n_rows: int
    columns: list[str]
    violations: list[Violation]

    @property
    def passed(self) -> bool:
        """True when no expectation is violated."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "passed": self.passed,
            "n_rows": self.n_rows,
            "columns": list(self.columns),
            "violations": [v.to_dict() for v in self.violations],
        }


def check_expectations(
    frame: pd.DataFrame,
    expectations: Mapping[str, ColumnExpectation | Mapping[str, Any]],
    *,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
) -> ExpectationReport:
    """Check every declared expectation; never raises for bad *data*, only bad rules."""
    n = len(frame)
    violations: list[Violation] = []
    for column, raw in expectations.items():
        rules = _as_expectation(column, raw)
        if column not in frame.columns:
            violations.append(
                Violation(column, "missing_column", n, f"column {column!r} is missing")
            )
            continue
        series = frame[column]
        violations.extend(_check_column(column, series, rules, max_examples))
    return ExpectationReport(n, list(expectations), violations)


def _check_column(
    column: str, series: pd.Series, rules: ColumnExpectation, max_examples: int
) -> list[Violation]:
    out: list[Violation] = []
    kind = schema_type(series)
    numeric = kind in ("integer", "float")
    null = series.isna().to_numpy()

    if rules.min is not None or rules.max is not None:
        if not numeric:
            out.append(
                Violation(
                    column,
                    "type",
                    len(series),
                    f"min/max need a numeric column; {column!r} is {kind}",
                )
            )
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            if rules.min is not None:
                bad = ~null & ~np.isnan(values) & (values < rules.min)
                out += _violation(
                    column, "min", bad, series, max_examples, f"below min {rules.min:g}"
                )
            if rules.max is not None:
                bad = ~null & ~np.isnan(values) & (values > rules.max)
                out += _violation(
                    column, "max", bad, series, max_examples, f"above max {rules.max:g}"
                )

    if rules.allowed is not None:
        if numeric or kind == "boolean":
            allowed = [a for a in rules.allowed if not isinstance(a, str)]
            inside = series.isin(allowed).to_numpy()
        else:
            allowed_text = {str(a) for a in rules.allowed}
            inside = series.astype(str).isin(allowed_text).to_numpy()
        bad = ~null & ~inside
        shown = ", ".join(map(str, rules.allowed[:10])) + (
            ", ..." if len(rules.allowed) > 10 else ""
        )
        out += _violation(column, "allowed", bad, series, max_examples, f"not in allowed [{shown}]")

    if rules.max_null_rate is not None and len(series):
        rate = float(null.mean())
        if rate > rules.max_null_rate:
            out += _violation(
                column,
                "max_null_rate",
                null,
                series,
                max_examples,
                f"null rate {rate:.4g} above max_null_rate {rules.max_null_rate:g}",
                counted_as="null",
            )

    if rules.unique:
        try:
            repeated = (series.duplicated(keep="first") & series.notna()).to_numpy()
        except TypeError:
            repeated = (series.astype(str).duplicated(keep="first") & series.notna()).to_numpy()
        out += _violation(
            column, "unique", repeated, series, max_examples, "repeats an earlier value"
        )
    return out


def _violation(
    column: str,
    rule: str,
    bad: npt.NDArray[np.bool_],
    series: pd.Series,
    max_examples: int,
    what: str,
    *,
    counted_as: str = "value",
) -> list[Violation]:
    count = int(bad.sum())
    if count == 0:
        return []
    rows = np.flatnonzero(bad)[:max_examples]
    values = [] if counted_as == "null" else [_json(series.iloc[int(i)]) for i in rows]
    noun = "row" if count == 1 else "rows"
    message = f"{column}: {count} {noun} {what}" if counted_as != "null" else f"{column}: {what}"
    return [Violation(column, rule, count, message, [int(i) for i in rows], values)]


def _as_expectation(column: str, raw: ColumnExpectation | Mapping[str, Any]) -> ColumnExpectation:
    if isinstance(raw, ColumnExpectation):
        return raw
    try:
        return ColumnExpectation.model_validate(dict(raw))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"invalid expectations for column {column!r}: {exc}", field=f"expectations.{column}"
        ) from None


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
