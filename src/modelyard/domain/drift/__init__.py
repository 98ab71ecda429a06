"""Drift detection: statistics, thresholds and verdicts, pure and vectorised.

Build a :class:`DriftReference` once from the training data, then compare windows of
production data with :func:`detect_drift` (or the user-facing
:func:`modelyard.monitoring.drift_report.drift_report`). The rules and default
thresholds are documented in :mod:`modelyard.domain.drift.config`.
"""

from __future__ import annotations

from modelyard.domain.drift.categorical import CategoryCounts, chi2_homogeneity, js_distance
from modelyard.domain.drift.config import DriftConfig
from modelyard.domain.drift.detector import detect_drift
from modelyard.domain.drift.multiple_testing import adjust_p_values, benjamini_hochberg, holm
from modelyard.domain.drift.multivariate import domain_classifier_auc
from modelyard.domain.drift.numeric import (
    EmpiricalDistribution,
    kolmogorov_sf,
    ks_and_wasserstein,
    ks_p_value,
    psi,
)
from modelyard.domain.drift.quality import (
    ColumnQuality,
    null_rates,
    out_of_range_share,
    out_of_range_shares,
)
from modelyard.domain.drift.reference import CategoricalProfile, DriftReference, NumericProfile
from modelyard.domain.drift.report import ColumnDrift, DriftReport, MultivariateResult

__all__ = [
    "CategoricalProfile",
    "CategoryCounts",
    "ColumnDrift",
    "ColumnQuality",
    "DriftConfig",
    "DriftReference",
    "DriftReport",
    "EmpiricalDistribution",
    "MultivariateResult",
    "NumericProfile",
    "adjust_p_values",
    "benjamini_hochberg",
    "chi2_homogeneity",
    "detect_drift",
    "domain_classifier_auc",
    "holm",
    "js_distance",
    "kolmogorov_sf",
    "ks_and_wasserstein",
    "ks_p_value",
    "null_rates",
    "out_of_range_share",
    "out_of_range_shares",
    "psi",
]
