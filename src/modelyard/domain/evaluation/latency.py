"""Latency percentiles of timed predictions, in the shape gates read (``latency.p99_ms``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from modelyard.errors import InvalidInputError


def latency_summary(samples_ms: npt.ArrayLike) -> dict[str, float | int]:
    """``{"p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "n"}`` of the samples.

    Percentiles use linear interpolation between order statistics.
    """
    values = np.asarray(samples_ms, dtype=np.float64).ravel()
    if len(values) == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise InvalidInputError(
            "latency samples must be a non-empty list of finite, non-negative numbers",
            field="latency",
        )
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99])
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(values.max()),
        "mean_ms": float(values.mean()),
        "n": len(values),
    }
