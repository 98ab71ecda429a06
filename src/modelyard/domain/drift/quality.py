"""Data-quality measures of a window against its reference.

Drift tests ignore missing values, so missingness is reported here instead: the
share of nulls per column (for numeric columns NaN and +-inf both count as missing),
the share of non-null numeric values outside the reference's [min, max], and the
share of categorical values in categories the reference never saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelyard.domain.drift.numeric import FloatArray
from modelyard.domain.drift.reference import (
    DriftReference,
    NumericProfile,
    numeric_values,
)
from modelyard.errors import InvalidInputError


@dataclass(frozen=True)
class ColumnQuality:
    """Quality of one column in a window; shares are in [0, 1]."""

    column: str
    null_share: float
    null_share_reference: float
    out_of_range_share: float | None = None
    unseen_share: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return asdict(self)


def null_rates(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> dict[str, float]:
    """Share of missing values per column (NaN, None, NA; +-inf for numeric columns)."""
    names = list(frame.columns if columns is None else columns)
    _require_columns(frame, names)
    rates: dict[str, float] = {}
    for name in names:
        series = frame[name]
        if len(series) == 0:
            rates[name] = 0.0
            continue
        if pd.api.types.is_float_dtype(series.dtype):
            values = numeric_values(series, name)
            missing = int(np.count_nonzero(~np.isfinite(values)))
        else:
            missing = int(series.isna().sum())
        rates[name] = missing / len(series)
    return rates


def out_of_range_share(values: FloatArray, low: float, high: float) -> float:
    """Share of finite ``values`` outside ``[low, high]``; 0.0 when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    outside = np.count_nonzero((finite < low) | (finite > high))
    return float(outside / finite.size)


def sorted_out_of_range_share(sorted_finite: FloatArray, low: float, high: float) -> float:
    """:func:`out_of_range_share` for values already sorted and finite (two lookups)."""
    if sorted_finite.size == 0:
        return 0.0
    below = int(np.searchsorted(sorted_finite, low, side="left"))
    above = sorted_finite.size - int(np.searchsorted(sorted_finite, high, side="right"))
    return (below + above) / sorted_finite.size


def out_of_range_shares(reference: DriftReference, frame: pd.DataFrame) -> dict[str, float]:
    """Per numeric column of ``reference``: share of the window outside the reference range."""
    shares: dict[str, float] = {}
    for name, profile in reference.columns.items():
        if isinstance(profile, NumericProfile) and name in frame.columns:
            values = numeric_values(frame[name], name)
            shares[name] = out_of_range_share(values, profile.min, profile.max)
    return shares


def _require_columns(frame: pd.DataFrame, names: list[str]) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"columns missing from the window: {', '.join(missing)}", field=missing[0]
        )
