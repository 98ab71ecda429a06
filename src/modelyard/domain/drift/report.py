"""The result of comparing a window with its reference, and its JSON form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from modelyard.domain.drift.config import DriftConfig
from modelyard.domain.drift.quality import ColumnQuality

Status = Literal["ok", "drift", "insufficient_data"]
Role = Literal["feature", "prediction"]
Test = Literal["ks", "chi2"]


@dataclass(frozen=True)
class ColumnDrift:
    """Test result and effect sizes for one column.

    ``statistic`` is the KS D (numeric) or the chi-square statistic (categorical);
    ``dof`` is set for chi-square. Effect sizes that do not apply are ``None``, and
    so is everything statistical when ``status`` is ``insufficient_data``.
    ``unseen_categories`` lists up to 20 unseen categories, most frequent first.
    """

    column: str
    kind: Literal["numeric", "categorical"]
    role: Role
    test: Test
    status: Status
    n_ref: int
    n_cur: int
    statistic: float | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    dof: int | None = None
    wasserstein: float | None = None
    wasserstein_normalized: float | None = None
    psi: float | None = None
    js_distance: float | None = None
    significant: bool = False
    large_effect: bool = False
    unseen_categories: tuple[str, ...] = ()
    weight: float = 0.0

    @property
    def drifted(self) -> bool:
        """True when the change is both significant and large."""
        return self.status == "drift"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (non-finite floats become ``None``)."""
        out = {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}
        out["drifted"] = self.drifted
        return out


@dataclass(frozen=True)
class MultivariateResult:
    """Domain-classifier check: can a model tell reference rows from current rows?"""

    auc: float
    p_value: float
    n_ref: int
    n_cur: int
    folds: int
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class DriftReport:
    """Drift of one window against a reference: per column, multivariate and overall.

    ``drivers`` are the drifted columns that decide the verdict, most important
    first (the prediction column leads when it drifted). ``share_drifted`` is the plain
    share of tested feature columns that drifted, ``drifted_weight`` their share of
    feature importance (equal weights when no importance was given). ``reasons`` says
    in words why the status is what it is.
    """

    status: Status
    n_ref: int
    n_cur: int
    columns: tuple[ColumnDrift, ...]
    quality: tuple[ColumnQuality, ...]
    drifted_columns: tuple[str, ...]
    drivers: tuple[str, ...]
    share_drifted: float
    drifted_weight: float
    multivariate: MultivariateResult | None
    reasons: tuple[str, ...]
    config: DriftConfig = field(default_factory=DriftConfig)

    @property
    def drifted(self) -> bool:
        """True when the status is ``drift``."""
        return self.status == "drift"

    @property
    def multivariate_auc(self) -> float | None:
        """Cross-validated ROC AUC of the domain classifier, if it ran."""
        return None if self.multivariate is None else self.multivariate.auc

    def column(self, name: str) -> ColumnDrift:
        """The entry for column ``name``."""
        for entry in self.columns:
            if entry.column == name:
                return entry
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the whole report."""
        return {
            "status": self.status,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "drifted_columns": list(self.drifted_columns),
            "drivers": list(self.drivers),
            "share_drifted": _jsonable(self.share_drifted),
            "drifted_weight": _jsonable(self.drifted_weight),
            "multivariate_auc": _jsonable(self.multivariate_auc),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
            "reasons": list(self.reasons),
            "columns": [entry.to_dict() for entry in self.columns],
            "quality": [entry.to_dict() for entry in self.quality],
            "config": self.config.to_dict(),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple):
        return list(value)
    return value
