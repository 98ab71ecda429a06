"""Compare one window of data with a :class:`DriftReference`.

Per column: the test, effect sizes and data quality; then adjusted p-values and
column verdicts, the multivariate check and the endpoint verdict. Pure computation:
the caller brings the frames.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from modelyard.domain.drift.categorical import chi2_homogeneity, contingency, js_distance
from modelyard.domain.drift.config import DriftConfig
from modelyard.domain.drift.multivariate import domain_classifier_auc
from modelyard.domain.drift.numeric import (
    bin_shares,
    finite_sorted,
    ks_and_wasserstein,
    ks_p_value,
    psi,
    wasserstein_scale,
)
from modelyard.domain.drift.quality import ColumnQuality, sorted_out_of_range_share
from modelyard.domain.drift.reference import (
    CategoricalProfile,
    DriftReference,
    NumericProfile,
    numeric_values,
    subsample,
)
from modelyard.domain.drift.report import ColumnDrift, DriftReport, MultivariateResult, Role
from modelyard.domain.drift.verdict import (
    apply_column_verdicts,
    endpoint_verdict,
    importance_weights,
)
from modelyard.errors import InvalidInputError

#: At most this many unseen categories are listed per column.
MAX_UNSEEN_LISTED = 20


def detect_drift(
    reference: DriftReference,
    current: pd.DataFrame,
    *,
    importance: Mapping[str, float] | None = None,
    config: DriftConfig | None = None,
) -> DriftReport:
    """Compare the window ``current`` with ``reference`` under ``config``'s thresholds.

    ``current`` must hold every profiled column (extra columns are ignored).
    ``importance`` maps feature names to importances (any non-negative scale).
    """
    config = DriftConfig() if config is None else config
    if not isinstance(current, pd.DataFrame):
        raise InvalidInputError(
            f"current must be a pandas DataFrame, got {type(current).__name__}", field="current"
        )
    missing = [name for name in reference.columns if name not in current.columns]
    if missing:
        raise InvalidInputError(
            f"the window lacks columns present in the drift reference: {', '.join(missing)}",
            field=missing[0],
        )
    weights = importance_weights(reference.features, importance)
    n_cur = len(current)
    insufficient: list[str] = []
    if reference.n_rows < config.min_rows:
        insufficient.append(
            f"reference has {reference.n_rows} rows, fewer than min_rows={config.min_rows}"
        )
    if n_cur < config.min_rows:
        insufficient.append(f"window has {n_cur} rows, fewer than min_rows={config.min_rows}")
    testable = not insufficient

    columns: list[ColumnDrift] = []
    quality: list[ColumnQuality] = []
    for name, profile in reference.columns.items():
        role: Role = "prediction" if name == reference.prediction else "feature"
        weight = weights.get(name, 0.0)
        null_share_ref = profile.n_null / reference.n_rows if reference.n_rows else 0.0
        if isinstance(profile, NumericProfile):
            entry, q = _numeric(profile, current[name], role, weight, testable, config)
        else:
            entry, q = _categorical(profile, current[name], role, weight, testable, config)
        columns.append(entry)
        quality.append(
            ColumnQuality(
                column=name,
                null_share=q[0] / n_cur if n_cur else 0.0,
                null_share_reference=null_share_ref,
                out_of_range_share=q[1] if isinstance(profile, NumericProfile) else None,
                unseen_share=q[1] if isinstance(profile, CategoricalProfile) else None,
            )
        )
    columns = apply_column_verdicts(columns, config)

    multivariate: MultivariateResult | None = None
    if config.multivariate and testable and reference.features and len(reference.sample) >= 2:
        rows = subsample(n_cur, config.multivariate_max_rows, config.random_state)
        sample = reference.encode(current.iloc[rows])
        multivariate = domain_classifier_auc(reference.sample, sample, config)

    verdict = endpoint_verdict(columns, multivariate, config, insufficient)
    return DriftReport(
        status=verdict.status,
        n_ref=reference.n_rows,
        n_cur=n_cur,
        columns=tuple(columns),
        quality=tuple(quality),
        drifted_columns=verdict.drifted_columns,
        drivers=verdict.drivers,
        share_drifted=verdict.share_drifted,
        drifted_weight=verdict.drifted_weight,
        multivariate=multivariate,
        reasons=verdict.reasons,
        config=config,
    )


def _numeric(
    profile: NumericProfile,
    series: pd.Series,
    role: Role,
    weight: float,
    testable: bool,
    config: DriftConfig,
) -> tuple[ColumnDrift, tuple[int, float]]:
    """The column entry and (missing count, out-of-range share)."""
    values, n_missing = finite_sorted(numeric_values(series, profile.name))
    out_of_range = sorted_out_of_range_share(values, profile.min, profile.max) if profile.n else 0.0
    base = ColumnDrift(
        column=profile.name,
        kind="numeric",
        role=role,
        test="ks",
        status="insufficient_data",
        n_ref=profile.n,
        n_cur=int(values.size),
        weight=weight,
    )
    if not testable or min(profile.n, values.size) < config.min_rows:
        return base, (n_missing, out_of_range)
    statistic, wasserstein = ks_and_wasserstein(profile.distribution, values)
    p_value = ks_p_value(statistic, profile.n, int(values.size), config.ks_method)
    normalized = wasserstein / wasserstein_scale(profile.std, profile.mean)
    stability = psi(profile.psi_shares, bin_shares(values, profile.psi_edges), config.psi_epsilon)
    entry = ColumnDrift(
        column=profile.name,
        kind="numeric",
        role=role,
        test="ks",
        status="ok",
        n_ref=profile.n,
        n_cur=int(values.size),
        statistic=statistic / (profile.n * values.size),
        p_value=p_value,
        wasserstein=wasserstein,
        wasserstein_normalized=normalized,
        psi=stability,
        large_effect=normalized >= config.wasserstein_threshold
        or stability >= config.psi_threshold,
        weight=weight,
    )
    return entry, (n_missing, out_of_range)


def _categorical(
    profile: CategoricalProfile,
    series: pd.Series,
    role: Role,
    weight: float,
    testable: bool,
    config: DriftConfig,
) -> tuple[ColumnDrift, tuple[int, float]]:
    """The column entry and (missing count, unseen share)."""
    counts = profile.count(series)
    unseen_share = counts.n_unseen / counts.n if counts.n else 0.0
    unseen = tuple(list(counts.unseen)[:MAX_UNSEEN_LISTED])
    base = ColumnDrift(
        column=profile.name,
        kind="categorical",
        role=role,
        test="chi2",
        status="insufficient_data",
        n_ref=profile.n,
        n_cur=counts.n,
        unseen_categories=unseen,
        weight=weight,
    )
    if not testable or min(profile.n, counts.n) < config.min_rows:
        return base, (counts.n_null, unseen_share)
    ref, cur = contingency(profile.as_counts, counts)
    statistic, p_value, dof = chi2_homogeneity(ref, cur)
    distance = float(js_distance(ref, cur))
    entry = ColumnDrift(
        column=profile.name,
        kind="categorical",
        role=role,
        test="chi2",
        status="ok",
        n_ref=profile.n,
        n_cur=counts.n,
        statistic=float(statistic),
        p_value=float(p_value),
        dof=int(dof),
        js_distance=distance,
        large_effect=distance >= config.js_threshold,
        unseen_categories=unseen,
        weight=weight,
    )
    return entry, (counts.n_null, unseen_share)
