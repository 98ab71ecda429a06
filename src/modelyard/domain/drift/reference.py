"""The drift reference: a profile of the training data, computed once, compared often.

A :class:`DriftReference` holds what every window comparison needs and nothing that
has to be recomputed per window: for numeric columns the sorted finite values (KS and
Wasserstein read them directly), their distinct values and cumulative counts, the
quantile bin edges and reference shares for PSI, mean, std, min and max; for
categorical columns the category counts; and a small encoded row sample for the
multivariate domain classifier.

Serialised forms (``kind`` is ``"numeric"`` or ``"categorical"``)::

    to_dict() / from_dict()   JSON-able:
      {"format": "modelyard.drift-reference", "version": 1, "n_rows": int,
       "prediction": str | null, "psi_bins": int,
       "columns": [{"name", "kind": "numeric", "n_null", "values": [sorted floats]},
                   {"name", "kind": "categorical", "n_null",
                    "categories": [str], "counts": [int]}],
       "sample": {"columns": [str], "rows": [[float | null, ...], ...]}}
    to_bytes() / from_bytes() an ``.npz`` archive (no pickle): ``meta`` is the dict above
      as UTF-8 JSON without the arrays; ``values_<i>``, ``counts_<i>`` hold column i's
      arrays and ``sample`` the row sample (NaN = missing).

Everything else (edges, statistics) is derived from those arrays on load.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelyard.domain.drift.categorical import (
    CategoryCounts,
    count_categories,
    encode_categories,
)
from modelyard.domain.drift.numeric import (
    EmpiricalDistribution,
    bin_shares,
    finite_sorted,
    quantile_edges,
)
from modelyard.errors import InvalidInputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
ColumnKind = Literal["numeric", "categorical"]

FORMAT = "modelyard.drift-reference"
VERSION = 1
#: Default number of PSI bins (deciles of the reference).
PSI_BINS = 10
#: Default number of reference rows kept for the multivariate check.
SAMPLE_ROWS = 5000


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """One numeric reference column: sorted finite values and what derives from them."""

    kind: ClassVar[ColumnKind] = "numeric"

    name: str
    distribution: EmpiricalDistribution
    n_null: int
    psi_bins: int = PSI_BINS
    mean: float = field(init=False)
    std: float = field(init=False)
    min: float = field(init=False)
    max: float = field(init=False)
    psi_edges: FloatArray = field(init=False)
    psi_shares: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        values = self.distribution.values
        empty = values.size == 0
        setattr_ = object.__setattr__
        setattr_(self, "mean", float("nan") if empty else float(values.mean()))
        setattr_(self, "std", float("nan") if empty else float(values.std()))
        setattr_(self, "min", float("nan") if empty else float(values[0]))
        setattr_(self, "max", float("nan") if empty else float(values[-1]))
        edges = quantile_edges(values, self.psi_bins)
        setattr_(self, "psi_edges", edges)
        setattr_(self, "psi_shares", bin_shares(values, edges))

    @classmethod
    def from_values(cls, name: str, values: npt.ArrayLike, psi_bins: int = PSI_BINS) -> Self:
        """Profile raw values; NaN and +-inf count as missing."""
        finite, n_null = finite_sorted(values)
        return cls(name, EmpiricalDistribution.from_sorted(finite), n_null, psi_bins)

    @property
    def n(self) -> int:
        """Number of finite (tested) values."""
        return self.distribution.n


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """One categorical reference column: counts per category (string form)."""

    kind: ClassVar[ColumnKind] = "categorical"

    name: str
    categories: tuple[str, ...]
    counts: IntArray
    n_null: int
    index: pd.Index = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", pd.Index(list(self.categories), dtype=object))

    @classmethod
    def from_values(cls, name: str, values: pd.Series) -> Self:
        """Profile raw values; categories are sorted by their string form."""
        counted = count_categories(values, pd.Index([], dtype=object))
        categories = tuple(sorted(counted.unseen))
        counts = np.array([counted.unseen[c] for c in categories], dtype=np.int64)
        return cls(name, categories, counts, counted.n_null)

    @property
    def n(self) -> int:
        """Number of non-null values."""
        return int(self.counts.sum())

    def count(self, values: pd.Series) -> CategoryCounts:
        """Count a window's values against these categories."""
        return count_categories(values, self.index)

    @property
    def as_counts(self) -> CategoryCounts:
        """The reference itself as :class:`CategoryCounts`."""
        return CategoryCounts(counts=self.counts, n_null=self.n_null)


ColumnProfile: TypeAlias = NumericProfile | CategoricalProfile


@dataclass(frozen=True, eq=False)
class DriftReference:
    """Per-column profiles of a reference frame plus a row sample; build with
    :meth:`from_frame`.

    ``columns`` keeps frame order and includes the prediction column (if any);
    :attr:`features` lists the others. ``sample`` holds up to ``sample_rows`` encoded
    reference rows (features only, NaN for missing, category positions for
    categorical columns).
    """

    columns: Mapping[str, ColumnProfile]
    n_rows: int
    prediction: str | None = None
    psi_bins: int = PSI_BINS
    sample: FloatArray = field(default_factory=lambda: np.empty((0, 0)))

    def __post_init__(self) -> None:
        if self.prediction is not None and self.prediction not in self.columns:
            raise InvalidInputError(
                f"prediction column {self.prediction!r} is not profiled", field="prediction"
            )
        if self.sample.ndim != 2 or (
            self.sample.size and self.sample.shape[1] != len(self.features)
        ):
            raise InvalidInputError(
                "reference sample must be a 2-D array with one column per feature",
                field="reference",
            )

    @property
    def features(self) -> list[str]:
        """Profiled columns other than the prediction, in frame order."""
        return [name for name in self.columns if name != self.prediction]

    @property
    def categorical(self) -> list[str]:
        """Names of the categorical columns."""
        return [name for name, p in self.columns.items() if p.kind == "categorical"]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        categorical: Iterable[str] | None = None,
        *,
        prediction: str | None = None,
        psi_bins: int = PSI_BINS,
        sample_rows: int = SAMPLE_ROWS,
        random_state: int = 0,
    ) -> DriftReference:
        """Profile ``frame`` (typically the training or validation data).

        Columns named in ``categorical`` are categorical; others are inferred from the
        dtype (numbers are numeric; strings, booleans and categories are categorical).
        Datetime and timedelta columns are left out. ``prediction`` names the model
        output column, profiled like the others but tested as prediction drift.
        """
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInputError(
                f"reference must be a pandas DataFrame, got {type(frame).__name__}",
                field="reference",
            )
        _check_column_names(frame, "reference")
        if psi_bins < 2:
            raise InvalidInputError("psi_bins must be at least 2", field="psi_bins")
        if sample_rows < 0:
            raise InvalidInputError("sample_rows must be >= 0", field="sample_rows")
        forced = _check_categorical(frame, categorical)
        if prediction is not None and prediction not in frame.columns:
            raise InvalidInputError(
                f"prediction column {prediction!r} is not in the reference frame",
                field="prediction",
            )
        profiles: dict[str, ColumnProfile] = {}
        for name in frame.columns:
            kind = column_kind(frame[name], name in forced)
            if kind is None:
                continue
            if kind == "numeric":
                values = numeric_values(frame[name], name)
                profiles[name] = NumericProfile.from_values(name, values, psi_bins)
            else:
                profiles[name] = CategoricalProfile.from_values(name, frame[name])
        if prediction is not None and prediction not in profiles:
            raise InvalidInputError(
                f"prediction column {prediction!r} has an unsupported dtype", field="prediction"
            )
        features = [name for name in profiles if name != prediction]
        rows = subsample(len(frame), sample_rows, random_state)
        sample = encode_rows(frame.iloc[rows], [profiles[name] for name in features])
        return cls(profiles, len(frame), prediction, psi_bins, sample)

    def encode(self, frame: pd.DataFrame) -> FloatArray:
        """Encode ``frame``'s feature columns like :attr:`sample`."""
        return encode_rows(frame, [self.columns[name] for name in self.features])

    # -- serialisation -------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        columns: list[dict[str, Any]] = []
        for profile in self.columns.values():
            entry: dict[str, Any] = {
                "name": profile.name,
                "kind": profile.kind,
                "n_null": profile.n_null,
            }
            if isinstance(profile, CategoricalProfile):
                entry["categories"] = list(profile.categories)
            columns.append(entry)
        return {
            "format": FORMAT,
            "version": VERSION,
            "n_rows": self.n_rows,
            "prediction": self.prediction,
            "psi_bins": self.psi_bins,
            "columns": columns,
            "sample_columns": self.features,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (see the module docstring for the layout)."""
        meta = self._meta()
        for entry, profile in zip(meta["columns"], self.columns.values(), strict=True):
            if isinstance(profile, NumericProfile):
                entry["values"] = profile.distribution.values.tolist()
            else:
                entry["counts"] = profile.counts.tolist()
        rows = [[None if np.isnan(v) else v for v in row] for row in self.sample.tolist()]
        meta["sample"] = {"columns": meta.pop("sample_columns"), "rows": rows}
        return meta

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        """Rebuild a reference from :meth:`to_dict` output."""
        try:
            meta = dict(data)
            sample = meta.pop("sample")
            meta["sample_columns"] = list(sample["columns"])
            arrays: dict[str, npt.NDArray[Any]] = {}
            for i, entry in enumerate(meta["columns"]):
                if entry["kind"] == "numeric":
                    arrays[f"values_{i}"] = np.asarray(entry["values"], dtype=np.float64)
                else:
                    arrays[f"counts_{i}"] = np.asarray(entry["counts"], dtype=np.int64)
            rows = np.asarray(sample["rows"], dtype=np.float64)
            arrays["sample"] = rows.reshape(-1, len(meta["sample_columns"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"not a drift reference dict: {exc}", field="reference"
            ) from exc
        return cls._from_parts(meta, arrays)

    def to_bytes(self) -> bytes:
        """An uncompressed ``.npz`` archive (see the module docstring); loads without pickle."""
        arrays: dict[str, npt.NDArray[Any]] = {
            "meta": np.frombuffer(json.dumps(self._meta()).encode("utf-8"), dtype=np.uint8),
            "sample": self.sample,
        }
        for i, profile in enumerate(self.columns.values()):
            if isinstance(profile, NumericProfile):
                arrays[f"values_{i}"] = profile.distribution.values
            else:
                arrays[f"counts_{i}"] = profile.counts
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> DriftReference:
        """Rebuild a reference from :meth:`to_bytes` output."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise InvalidInputError(
                f"not a drift reference archive: {exc}", field="reference"
            ) from exc
        return cls._from_parts(meta, arrays)

    @classmethod
    def _from_parts(
        cls, meta: Mapping[str, Any], arrays: Mapping[str, npt.NDArray[Any]]
    ) -> DriftReference:
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise InvalidInputError(
                f"unsupported drift reference format {meta.get('format')!r} "
                f"version {meta.get('version')!r}; expected {FORMAT!r} version {VERSION}",
                field="reference",
            )
        try:
            psi_bins = int(meta["psi_bins"])
            profiles: dict[str, ColumnProfile] = {}
            for i, entry in enumerate(meta["columns"]):
                name = str(entry["name"])
                n_null = int(entry["n_null"])
                if entry["kind"] == "numeric":
                    values = np.asarray(arrays[f"values_{i}"], dtype=np.float64)
                    if values.ndim != 1 or np.any(values[1:] < values[:-1]):
                        raise ValueError(f"values of column {name!r} are not sorted")
                    if not np.isfinite(values).all():
                        raise ValueError(f"values of column {name!r} are not finite")
                    distribution = EmpiricalDistribution.from_sorted(values)
                    profiles[name] = NumericProfile(name, distribution, n_null, psi_bins)
                elif entry["kind"] == "categorical":
                    categories = tuple(str(c) for c in entry["categories"])
                    counts = np.asarray(arrays[f"counts_{i}"], dtype=np.int64)
                    if counts.shape != (len(categories),):
                        raise ValueError(f"counts of column {name!r} do not match categories")
                    profiles[name] = CategoricalProfile(name, categories, counts, n_null)
                else:
                    raise ValueError(f"unknown column kind {entry['kind']!r}")
            sample = np.asarray(arrays["sample"], dtype=np.float64)
            prediction = meta.get("prediction")
            reference = cls(profiles, int(meta["n_rows"]), prediction, psi_bins, sample)
            if list(meta["sample_columns"]) != reference.features:
                raise ValueError("sample columns do not match the features")
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"invalid drift reference: {exc}", field="reference") from exc
        return reference


def column_kind(series: pd.Series, categorical: bool) -> ColumnKind | None:
    """How a column is compared: numeric, categorical, or ``None`` (left out)."""
    dtype = series.dtype
    if ptypes.is_datetime64_any_dtype(dtype) or ptypes.is_timedelta64_dtype(dtype):
        return None
    if categorical or ptypes.is_bool_dtype(dtype):
        return "categorical"
    if ptypes.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return "numeric"
    return "categorical"


def numeric_values(series: pd.Series, name: str) -> FloatArray:
    """A column as float64 (missing -> NaN); rejects values that are not numbers."""
    dtype = series.dtype
    if dtype == np.float64:
        return np.asarray(series.to_numpy(), dtype=np.float64)  # no copy; never mutated
    if ptypes.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    try:
        converted = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"column {name!r} is numeric in the reference but has non-numeric values: {exc}",
            field=name,
        ) from exc
    return np.asarray(
        pd.Series(converted).to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64
    )


def encode_rows(frame: pd.DataFrame, profiles: list[ColumnProfile]) -> FloatArray:
    """Encode ``frame``'s columns as a float matrix for a model: numbers as themselves,
    categories as their reference position (unseen: one past the last), missing as NaN."""
    out = np.empty((len(frame), len(profiles)), dtype=np.float64)
    for j, profile in enumerate(profiles):
        if isinstance(profile, NumericProfile):
            values = numeric_values(frame[profile.name], profile.name)
            out[:, j] = np.where(np.isfinite(values), values, np.nan)
        else:
            out[:, j] = encode_categories(frame[profile.name], profile.index)
    return out


def subsample(n: int, size: int, random_state: int) -> npt.NDArray[np.intp]:
    """Sorted positions of at most ``size`` rows out of ``n``, reproducibly."""
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=size, replace=False))


def _check_column_names(frame: pd.DataFrame, what: str) -> None:
    for name in frame.columns:
        if not isinstance(name, str):
            raise InvalidInputError(
                f"{what} column names must be strings, got {name!r}", field=str(name)
            )
    if frame.columns.has_duplicates:
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise InvalidInputError(
            f"{what} has duplicate columns: {', '.join(duplicated)}", field=duplicated[0]
        )


def _check_categorical(frame: pd.DataFrame, categorical: Iterable[str] | None) -> set[str]:
    if categorical is None:
        return set()
    if isinstance(categorical, str):
        raise InvalidInputError(
            "categorical must be a list of column names, not a string", field="categorical"
        )
    names = set(categorical)
    missing = sorted(names - set(frame.columns))
    if missing:
        raise InvalidInputError(
            f"categorical names columns missing from the reference: {', '.join(missing)}",
            field="categorical",
        )
    return names
