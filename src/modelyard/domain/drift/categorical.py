"""Two-sample statistics for categorical columns, computed from category counts.

Values are compared by their string form (``1`` and ``"1"`` are the same category),
so a reference stored as JSON matches windows read from any source. A window is
counted against the reference's categories with one :func:`pandas.factorize` and one
:func:`numpy.bincount`; categories the reference never saw are counted separately.

The test is Pearson's chi-square test of homogeneity on the 2 x k contingency table of
reference versus current counts (both samples are random; the reference frequencies
are *not* taken as the exact truth, which would make large references over-confident).
No Yates correction, so it equals ``scipy.stats.chi2_contingency(table,
correction=False)``; for more than two categories scipy's default is the same.
Categories absent from both samples are dropped from the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CategoryCounts:
    """A sample counted against known categories.

    ``counts[i]`` counts ``categories[i]``; ``unseen`` maps each value outside the known
    categories to its count (most frequent first); ``n_null`` counts missing values.
    """

    counts: IntArray
    unseen: Mapping[str, int] = field(default_factory=dict)
    n_null: int = 0

    @property
    def n(self) -> int:
        """Number of non-null values, unseen ones included."""
        return int(self.counts.sum()) + sum(self.unseen.values())

    @property
    def n_unseen(self) -> int:
        """Number of non-null values in unseen categories."""
        return sum(self.unseen.values())


def category_keys(uniques: Sequence[object] | pd.Index | pd.Categorical) -> list[str]:
    """The string form under which each distinct value is compared."""
    return [str(value) for value in uniques]


def count_categories(values: pd.Series, categories: pd.Index) -> CategoryCounts:
    """Count ``values`` per category of ``categories`` (an index of strings)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    per_unique = np.bincount(codes + 1, minlength=len(uniques) + 1)
    n_null = int(per_unique[0])
    per_unique = per_unique[1:]
    keys = category_keys(uniques)
    position = categories.get_indexer(pd.Index(keys, dtype=object))
    known = position >= 0
    counts = np.bincount(
        position[known], weights=per_unique[known], minlength=len(categories)
    ).astype(np.int64)
    unseen: dict[str, int] = {}
    for index in np.flatnonzero(~known):
        key = keys[index]
        unseen[key] = unseen.get(key, 0) + int(per_unique[index])
    ordered = dict(sorted(unseen.items(), key=lambda item: (-item[1], item[0])))
    return CategoryCounts(counts=counts, unseen=ordered, n_null=n_null)


def contingency(reference: CategoryCounts, current: CategoryCounts) -> tuple[IntArray, IntArray]:
    """Reference and current count vectors over known then unseen categories."""
    extra = np.fromiter(current.unseen.values(), dtype=np.int64, count=len(current.unseen))
    ref = np.concatenate((reference.counts, np.zeros(extra.size, dtype=np.int64)))
    cur = np.concatenate((current.counts, extra))
    return ref, cur


def chi2_homogeneity(
    reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Pearson chi-square test of homogeneity for 2 x k tables; vectorised on leading axes.

    Returns ``(statistic, p_value, dof)`` with the shape of the leading axes. A table
    with a single non-empty category has statistic 0, dof 0 and p-value 1.
    """
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    column = ref + cur
    n_ref = ref.sum(axis=-1, keepdims=True)
    n_cur = cur.sum(axis=-1, keepdims=True)
    total = n_ref + n_cur
    expected_ref = column * (n_ref / total)
    expected_cur = column * (n_cur / total)
    occupied = column > 0
    terms = np.zeros_like(column)
    np.divide((ref - expected_ref) ** 2, expected_ref, out=terms, where=occupied)
    cur_terms = np.zeros_like(column)
    np.divide((cur - expected_cur) ** 2, expected_cur, out=cur_terms, where=occupied)
    statistic = np.asarray((terms + cur_terms).sum(axis=-1), dtype=np.float64)
    dof = np.asarray(occupied.sum(axis=-1) - 1, dtype=np.int64)
    p_value = np.where(dof > 0, special.chdtrc(np.maximum(dof, 1), statistic), 1.0)
    return statistic, np.asarray(p_value, dtype=np.float64), dof


def js_distance(reference_counts: npt.ArrayLike, current_counts: npt.ArrayLike) -> FloatArray:
    """Jensen-Shannon distance (natural log) between two count vectors; vectorised.

    Equals ``scipy.spatial.distance.jensenshannon(p, q)``: the square root of the
    mean Kullback-Leibler divergence of each distribution from their midpoint.
    """
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    p = ref / ref.sum(axis=-1, keepdims=True)
    q = cur / cur.sum(axis=-1, keepdims=True)
    mid = (p + q) / 2.0
    divergence = (special.rel_entr(p, mid).sum(axis=-1) + special.rel_entr(q, mid).sum(axis=-1)) / 2
    return np.asarray(np.sqrt(np.maximum(divergence, 0.0)), dtype=np.float64)


def encode_categories(values: pd.Series, categories: pd.Index) -> FloatArray:
    """Category positions as floats for a model: unseen values get ``len(categories)``,
    missing values NaN."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    keys = category_keys(uniques)
    position = categories.get_indexer(pd.Index(keys, dtype=object))
    lookup = np.where(position >= 0, position, len(categories)).astype(np.float64)
    lookup = np.append(lookup, np.nan)  # code -1 (missing) picks the last entry
    return np.asarray(lookup[codes], dtype=np.float64)
