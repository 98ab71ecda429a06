"""Profile a table: per-column statistics, duplicates, constant columns, leakage hints.

:func:`profile_frame` returns a JSON-able dict (NaN and infinities become ``None``)::

    {
      "n_rows": 5000, "n_columns": 12, "duplicate_rows": 0,
      "constant_columns": ["..."], "target": "target",
      "columns": {
        "<name>": {
          "type": "integer|float|string|boolean|datetime", "dtype": "int64",
          "null_count": 0, "null_rate": 0.0, "n_unique": 68,
          # numeric (integer, float):
          "min", "max", "mean", "std", "inf_count",
          "quantiles": {"0.01": .., "0.05": .., "0.25": .., "0.5": .., "0.75": .., ...},
          "histogram": {"edges": [k + 1 floats], "counts": [k ints]},
          # string, boolean:
          "top": [{"value": "north", "count": 1250, "frequency": 0.25}, ...],
          "other_count": 0,
          # datetime:
          "min", "max"   (ISO 8601 strings)
        }
      },
      "leakage": [{"column": "...", "reason": "...", "score": 0.99}, ...]
    }

Histograms use ``bins`` equal-width bins between the column's finite min and max (the
last bin closed), so a later version can be compared against the same edges.

Leakage hints (features that may encode the target; a hint, not a verdict):

* ``identical_to_target``: the column equals the target on every row;
* ``correlated_with_target``: a numeric column with ``|Pearson r| >= threshold``
  (default 0.98) against a numeric or two-class target;
* ``determines_target``: a string/boolean column whose categories predict the target
  almost perfectly: majority-label accuracy per category ``>= threshold`` and clearly
  above the majority-class rate (classification targets), or correlation ratio
  ``eta >= threshold`` (numeric targets). Columns with fewer than
  :data:`MIN_ROWS_PER_CATEGORY` rows per category on average are skipped, since
  near-unique columns (identifiers) determine any target trivially.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelyard.data.readers import schema_type
from modelyard.errors import InvalidInputError

DEFAULT_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
DEFAULT_BINS = 10
DEFAULT_TOP_K = 10
LEAKAGE_THRESHOLD = 0.98
MIN_ROWS_PER_CATEGORY = 5
#: A categorical leak must beat the majority-class rate by at least this much.
_PURITY_MARGIN = 0.05


def profile_frame(
    frame: pd.DataFrame,
    target: str | None = None,
    *,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    leakage_threshold: float = LEAKAGE_THRESHOLD,
) -> dict[str, Any]:
    """Profile ``frame``; with ``target``, also look for features that leak it."""
    if bins < 1 or top_k < 1:
        raise InvalidInputError("bins and top_k must be at least 1", field="bins")
    if any(not 0.0 <= q <= 1.0 for q in quantiles):
        raise InvalidInputError("quantiles must lie in [0, 1]", field="quantiles")
    if target is not None and target not in frame.columns:
        raise InvalidInputError(f"target column {target!r} not found in the frame", field="target")
    columns = {
        str(name): profile_column(frame[name], bins=bins, top_k=top_k, quantiles=quantiles)
        for name in frame.columns
    }
    return {
        "n_rows": len(frame),
        "n_columns": len(frame.columns),
        "duplicate_rows": duplicate_rows(frame),
        "constant_columns": [name for name, col in columns.items() if col["n_unique"] <= 1],
        "target": target,
        "columns": columns,
        "leakage": [] if target is None else leakage_hints(frame, target, leakage_threshold),
    }


def profile_column(
    series: pd.Series,
    *,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> dict[str, Any]:
    """The statistics of one column (see the module docstring)."""
    kind = schema_type(series)
    n = len(series)
    nulls = int(series.isna().sum())
    out: dict[str, Any] = {
        "type": kind,
        "dtype": str(series.dtype),
        "null_count": nulls,
        "null_rate": nulls / n if n else 0.0,
        "n_unique": _n_unique(series),
    }
    if kind in ("integer", "float"):
        out.update(_numeric_stats(series, bins, quantiles))
    elif kind == "datetime":
        present = series.dropna()
        out["min"] = present.min().isoformat() if len(present) else None
        out["max"] = present.max().isoformat() if len(present) else None
    else:
        out.update(_category_stats(series, top_k))
    return out


def duplicate_rows(frame: pd.DataFrame) -> int:
    """Rows that repeat an earlier row exactly (0 when rows cannot be hashed)."""
    if len(frame) == 0 or len(frame.columns) == 0:
        return 0
    try:
        return int(frame.duplicated().sum())
    except TypeError:  # unhashable cells (lists, dicts)
        return 0


def leakage_hints(
    frame: pd.DataFrame, target: str, threshold: float = LEAKAGE_THRESHOLD
) -> list[dict[str, Any]]:
    """Columns that may leak ``target``: ``[{"column", "reason", "score"}]``, worst first."""
    y = frame[target]
    y_numeric = _as_numeric_target(y)
    classification = _is_classification_target(y)
    hints: list[dict[str, Any]] = []
    for name in frame.columns:
        if name == target:
            continue
        column = frame[name]
        if _identical(column, y):
            hints.append({"column": str(name), "reason": "identical_to_target", "score": 1.0})
            continue
        kind = schema_type(column)
        score: float | None = None
        reason = ""
        if kind in ("integer", "float") and y_numeric is not None:
            score = _abs_correlation(column, y_numeric)
            reason = "correlated_with_target"
        elif kind in ("string", "boolean"):
            reason = "determines_target"
            if classification:
                score = _category_purity(column, y)
            elif y_numeric is not None:
                score = _correlation_ratio(column, y_numeric)
        if score is not None and score >= threshold:
            hints.append({"column": str(name), "reason": reason, "score": round(score, 6)})
    hints.sort(key=lambda h: -float(h["score"]))
    return hints


def _n_unique(series: pd.Series) -> int:
    try:
        return int(series.nunique(dropna=True))
    except TypeError:
        return int(series.astype(str).nunique(dropna=True))


def _numeric_stats(series: pd.Series, bins: int, quantiles: Sequence[float]) -> dict[str, Any]:
    values = series.dropna().to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    out: dict[str, Any] = {"inf_count": int(len(values) - len(finite))}
    if len(finite) == 0:
        out.update(min=None, max=None, mean=None, std=None, quantiles={}, histogram=None)
        return out
    lo, hi = float(finite.min()), float(finite.max())
    counts, edges = np.histogram(finite, bins=bins, range=(lo, hi) if hi > lo else (lo, lo + 1.0))
    out.update(
        min=lo,
        max=hi,
        mean=_num(finite.mean()),
        std=_num(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
        quantiles={
            _q_key(q): _num(v)
            for q, v in zip(quantiles, np.quantile(finite, quantiles), strict=True)
        },
        histogram={"edges": [float(e) for e in edges], "counts": counts.astype(int).tolist()},
    )
    return out


def _category_stats(series: pd.Series, top_k: int) -> dict[str, Any]:
    present = series.dropna()
    try:
        counts = present.value_counts()
    except TypeError:
        counts = present.astype(str).value_counts()
    n = len(present)
    top = [
        {"value": _json_scalar(value), "count": int(count), "frequency": int(count) / n}
        for value, count in counts.head(top_k).items()
    ]
    return {"top": top, "other_count": int(counts.iloc[top_k:].sum())}


def _is_classification_target(y: pd.Series) -> bool:
    kind = schema_type(y)
    if kind in ("string", "boolean"):
        return True
    return kind == "integer" and _n_unique(y) <= 20


def _as_numeric_target(y: pd.Series) -> pd.Series | None:
    """A float view of the target for correlation: numbers, or a two-class label as 0/1."""
    kind = schema_type(y)
    if kind in ("integer", "float"):
        return y.astype("float64")
    if kind in ("string", "boolean"):
        labels = sorted(map(str, y.dropna().unique()))
        if len(labels) == 2:
            return y.map(lambda v: math.nan if pd.isna(v) else float(str(v) == labels[1]))
    return None


def _identical(column: pd.Series, y: pd.Series) -> bool:
    if len(column) == 0:
        return False
    try:
        both_null = column.isna().to_numpy() & y.isna().to_numpy()
        equal = (column.to_numpy(dtype=object) == y.to_numpy(dtype=object)) | both_null
        return bool(np.all(equal))
    except (TypeError, ValueError):
        return False


def _abs_correlation(column: pd.Series, y: pd.Series) -> float | None:
    x = column.astype("float64").to_numpy()
    t = y.to_numpy(dtype=np.float64)
    mask = np.isfinite(x) & np.isfinite(t)
    if mask.sum() < 3:
        return None
    x, t = x[mask], t[mask]
    if np.ptp(x) == 0 or np.ptp(t) == 0:
        return None
    return abs(float(np.corrcoef(x, t)[0, 1]))


def _category_purity(column: pd.Series, y: pd.Series) -> float | None:
    """Share of rows whose label is their category's majority label, if informative."""
    frame = pd.DataFrame({"x": column.astype(str), "y": y.astype(str)})[
        column.notna().to_numpy() & y.notna().to_numpy()
    ]
    n = len(frame)
    if n == 0:
        return None
    n_categories = frame["x"].nunique()
    if n_categories < 2 or n / n_categories < MIN_ROWS_PER_CATEGORY:
        return None
    majority = frame["y"].value_counts().iloc[0] / n
    purity = frame.groupby("x")["y"].agg(lambda s: s.value_counts().iloc[0]).sum() / n
    if purity < majority + _PURITY_MARGIN:
        return None
    return float(purity)


def _correlation_ratio(column: pd.Series, y: pd.Series) -> float | None:
    """eta: sqrt(between-category variance / total variance) of a numeric target."""
    mask = column.notna().to_numpy() & np.isfinite(y.to_numpy(dtype=np.float64))
    x = column[mask].astype(str)
    t = y[mask].astype("float64")
    n = len(t)
    n_categories = x.nunique()
    if n_categories < 2 or n / n_categories < MIN_ROWS_PER_CATEGORY:
        return None
    total = float(((t - t.mean()) ** 2).sum())
    if total == 0.0:
        return None
    groups = t.groupby(x.to_numpy())
    between = float((groups.count() * (groups.mean() - t.mean()) ** 2).sum())
    return math.sqrt(between / total)


def _q_key(q: float) -> str:
    return f"{q:g}"


def _num(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
