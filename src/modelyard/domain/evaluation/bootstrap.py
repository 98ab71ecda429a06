"""Point estimates with percentile-bootstrap confidence intervals, and seed aggregation.

Metrics are computed from a *weight matrix* ``W`` of shape ``(B, n)``: row ``b`` holds how
many times each of the ``n`` holdout rows was drawn in bootstrap resample ``b`` (the
point estimate uses a single row of ones). Every metric in this package is written as a
vectorised function of ``W``, so one draw of resamples serves all metrics (the intervals
are paired) and 1,000 resamples of 1,000 rows take milliseconds, not seconds.

Resamples are drawn in chunks of at most :data:`MAX_CELLS` cells with
``numpy.random.default_rng(seed)``: the same ``(n, n_boot, seed)`` always gives the same
intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from modelyard.errors import InvalidInputError

FloatArray: TypeAlias = npt.NDArray[np.float64]
#: ``W -> {metric name: values of shape (B,)}``; see the module docstring.
BatchMetrics: TypeAlias = Callable[[FloatArray], dict[str, FloatArray]]

DEFAULT_N_BOOT = 1000
DEFAULT_CONFIDENCE = 0.95
#: Largest weight matrix (rows x columns) built at once; bounds memory for big holdouts.
MAX_CELLS = 2_000_000


@dataclass(frozen=True)
class MetricEstimate:
    """A metric on a holdout: the point value, its bootstrap CI and the holdout size.

    ``ci_low``/``ci_high`` are NaN when no interval was computed (``n_boot=0``) or no
    resample gave a defined value; :meth:`to_dict` turns NaN into ``None``.
    """

    value: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """``{"value", "ci_low", "ci_high", "n"}`` with NaN/inf as ``None`` (JSON-able)."""
        return {
            "value": finite_or_none(self.value),
            "ci_low": finite_or_none(self.ci_low),
            "ci_high": finite_or_none(self.ci_high),
            "n": self.n,
        }


@dataclass(frozen=True)
class SeedSummary:
    """One metric across training seeds: mean ± sample standard deviation."""

    mean: float
    sd: float
    min: float
    max: float
    n_seeds: int
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "mean": self.mean,
            "sd": self.sd,
            "min": self.min,
            "max": self.max,
            "n_seeds": self.n_seeds,
            "values": list(self.values),
        }


def finite_or_none(value: float) -> float | None:
    """``float(value)``, or ``None`` for NaN and infinities."""
    value = float(value)
    return value if math.isfinite(value) else None


def check_bootstrap_args(n_boot: int, confidence: float) -> None:
    """Raise InvalidInputError unless ``n_boot >= 0`` and ``0 < confidence < 1``."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise InvalidInputError(f"n_boot must be an integer >= 0, got {n_boot!r}", field="n_boot")
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(
            f"confidence must be between 0 and 1 (exclusive), got {confidence!r}",
            field="confidence",
        )


def bootstrap_weights(n: int, n_boot: int, seed: int) -> Iterator[FloatArray]:
    """Yield the resample weight matrices, ``n_boot`` rows in total, in chunks.

    Each row counts how often every one of the ``n`` items was drawn (with replacement,
    ``n`` draws); rows sum to ``n``.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, MAX_CELLS // max(n, 1)))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(size, n))
        flat = (np.arange(size)[:, None] * n + idx).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n)
        yield counts.astype(np.float64)
        done += size


def bootstrap_batch(
    batch: BatchMetrics,
    n: int,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, MetricEstimate]:
    """Evaluate ``batch`` on the holdout and on ``n_boot`` paired resamples.

    Metrics whose point value is undefined (NaN) are left out. The interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the resample
    values that are defined (resamples where a metric is undefined, e.g. ROC AUC on a
    resample holding one class, are skipped for that metric).
    """
    check_bootstrap_args(n_boot, confidence)
    if n < 1:
        raise InvalidInputError("cannot evaluate on an empty holdout", field="y_true")
    point = {name: float(v[0]) for name, v in batch(np.ones((1, n))).items()}
    names = [name for name, v in point.items() if not math.isnan(v)]
    samples = {name: np.empty(n_boot) for name in names}
    done = 0
    for weights in bootstrap_weights(n, n_boot, seed):
        values = batch(weights)
        for name in names:
            samples[name][done : done + len(weights)] = values[name]
        done += len(weights)
    out: dict[str, MetricEstimate] = {}
    for name in names:
        low, high = percentile_interval(samples[name], confidence)
        out[name] = MetricEstimate(point[name], low, high, n)
    return out


def percentile_interval(samples: npt.ArrayLike, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of the finite ``samples``."""
    values = np.asarray(samples, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def bootstrap_statistic(
    statistic: Callable[..., float],
    *arrays: npt.ArrayLike,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> MetricEstimate:
    """Bootstrap any ``statistic(*arrays)`` by resampling rows of ``arrays`` together.

    The generic, loop-based fallback for custom metrics (one call per resample); the
    built-in metrics use the vectorised :func:`bootstrap_batch`. A statistic that raises
    ``ValueError`` on a resample counts as undefined there.
    """
    check_bootstrap_args(n_boot, confidence)
    data = [np.asarray(a) for a in arrays]
    if not data:
        raise InvalidInputError("bootstrap_statistic needs at least one array", field="arrays")
    n = len(data[0])
    if n < 1 or any(len(a) != n for a in data):
        raise InvalidInputError("arrays must be non-empty and of equal length", field="arrays")
    value = float(statistic(*data))
    rng = np.random.default_rng(seed)
    samples = np.full(n_boot, np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        try:
            samples[b] = float(statistic(*(a[idx] for a in data)))
        except ValueError:
            continue
    low, high = percentile_interval(samples, confidence)
    return MetricEstimate(value, low, high, n)


def aggregate_seeds(
    per_seed: Sequence[Mapping[str, MetricEstimate | float]],
) -> dict[str, SeedSummary]:
    """Summarise each metric across seeds (one mapping per seed) as mean ± sd.

    ``sd`` is the sample standard deviation (``ddof=1``; 0 for a single seed). A metric
    missing or NaN for some seeds is summarised over the seeds that have it.
    """
    collected: dict[str, list[float]] = {}
    for metrics in per_seed:
        for name, item in metrics.items():
            value = item.value if isinstance(item, MetricEstimate) else float(item)
            if math.isfinite(value):
                collected.setdefault(name, []).append(value)
    out: dict[str, SeedSummary] = {}
    for name, values in collected.items():
        arr = np.asarray(values)
        sd = float(np.std(arr, ddof=1)) if len(arr) > 1 else 0.0
        out[name] = SeedSummary(
            mean=float(arr.mean()),
            sd=sd,
            min=float(arr.min()),
            max=float(arr.max()),
            n_seeds=len(arr),
            values=tuple(values),
        )
    return out


def safe_divide(num: FloatArray, den: FloatArray, *, empty: float = math.nan) -> FloatArray:
    """``num / den`` elementwise, with ``empty`` where ``den == 0``."""
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out
