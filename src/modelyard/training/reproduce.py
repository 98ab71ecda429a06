"""Did a rerun reproduce a run? Compare two metric dicts within an absolute tolerance.

Metric dicts are ``{name: number}`` or ``{name: {"value": number, ...}}`` (the shape of
``SpecResult.metrics`` and of stored run metrics); any other entry (nested sections such
as ``fairness``) is not a metric and is ignored. A metric that is missing, ``None`` or
NaN on exactly one side is a mismatch; on both sides it matches (nothing to compare).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import InvalidInputError

Diff = tuple[float | None, float | None, float]


@dataclass(frozen=True)
class ReproReport:
    """Whether every metric matched, and ``(original, rerun, abs_diff)`` per metric.

    ``abs_diff`` is ``inf`` when the metric exists on only one side and ``0`` when it is
    undefined on both; ``mismatched`` lists the metrics beyond the tolerance.
    """

    matched: bool
    diffs: dict[str, Diff]
    tolerance: float
    mismatched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (an infinite difference becomes ``None``)."""
        return {
            "matched": self.matched,
            "tolerance": self.tolerance,
            "mismatched": list(self.mismatched),
            "diffs": {
                name: {
                    "original": a,
                    "rerun": b,
                    "abs_diff": diff if math.isfinite(diff) else None,
                }
                for name, (a, b, diff) in self.diffs.items()
            },
        }


def compare_metrics(
    original: Mapping[str, Any], rerun: Mapping[str, Any], tolerance: float
) -> ReproReport:
    """Compare every metric of ``original`` and ``rerun``; matched if all are within
    ``tolerance`` (absolute, inclusive)."""
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise InvalidInputError(
            f"tolerance must be a finite number >= 0, got {tolerance!r}", field="tolerance"
        )
    first, second = _metric_values(original), _metric_values(rerun)
    diffs: dict[str, Diff] = {}
    mismatched: list[str] = []
    for name in [*first, *(n for n in second if n not in first)]:
        a, b = first.get(name), second.get(name)
        if a is None and b is None:
            diff = 0.0
        elif a is None or b is None:
            diff = math.inf
        else:
            diff = abs(a - b)
        diffs[name] = (a, b, diff)
        if diff > tolerance:
            mismatched.append(name)
    return ReproReport(not mismatched, diffs, float(tolerance), mismatched)


def _metric_values(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """``{name: finite value or None}`` for the entries that are metrics."""
    if not isinstance(metrics, Mapping):
        raise InvalidInputError("metrics must be a mapping of name to value", field="metrics")
    out: dict[str, float | None] = {}
    for name, item in metrics.items():
        if isinstance(item, Mapping):
            if "value" not in item:
                continue  # a nested section (fairness, latency...), not a metric
            item = item["value"]
        if item is None:
            out[str(name)] = None
        elif isinstance(item, int | float) and not isinstance(item, bool):
            value = float(item)
            out[str(name)] = value if math.isfinite(value) else None
    return out
