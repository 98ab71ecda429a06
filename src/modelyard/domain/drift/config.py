"""Drift thresholds and the rules that use them.

Every number that decides "drift" lives in :class:`DriftConfig`. The defaults follow
established practice; the rules are:

Column verdict
    A column drifts only when its distribution change is both **real** and **large**:

    * significance -- the test's p-value, adjusted across all tested columns of the
      window (Benjamini-Hochberg by default, Holm on request), is below ``alpha``
      (0.05). Numeric columns use the two-sample Kolmogorov-Smirnov test, categorical
      columns Pearson's chi-square test on the 2 x k contingency table of reference
      versus current counts.
    * effect size -- numeric: the Wasserstein distance divided by the reference
      standard deviation is at least ``wasserstein_threshold`` (0.1, as Evidently),
      or the population stability index is at least ``psi_threshold`` (0.25; the
      credit-scoring convention reads PSI < 0.1 as stable, 0.1-0.25 as a moderate and
      > 0.25 as a major shift). Categorical: the Jensen-Shannon distance (natural
      log, as :func:`scipy.spatial.distance.jensenshannon`) is at least
      ``js_threshold`` (0.1, as Evidently).

    Significance alone flags a 0.02 sd shift once windows hold a million rows; effect
    size alone flags noise in small windows. Requiring both avoids both false alarms.

Endpoint verdict
    Columns carry weights: the model's feature importances when given (normalised to
    sum to 1, unnamed columns weigh 0), otherwise equal weights. The window drifts
    when any of these holds, and the report names the columns that caused it:

    * the drifted columns together carry at least ``drift_share`` (0.25) of the
      weight -- a lower bar than Evidently's "half the columns" because each column
      verdict is already protected against false alarms, so the share only decides
      whether the drift matters to the model;
    * the prediction column drifted;
    * no column drifted on its own, yet the multivariate domain classifier separates
      reference from current rows with cross-validated ROC AUC of at least
      ``auc_threshold`` (0.55) *and* significantly at ``alpha`` (Mann-Whitney normal
      approximation): the columns' joint distribution changed. When columns did drift
      the classifier mostly rediscovers them, ignoring their importance, so their
      weight decides instead (the AUC is still reported).

Insufficient data
    A window (or reference) with fewer than ``min_rows`` (100) rows, or a column with
    fewer than ``min_rows`` non-null values, is reported as ``insufficient_data``
    rather than tested, so a quiet hour never raises a false alarm.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from modelyard.errors import InvalidInputError

Correction = Literal["bh", "holm", "none"]
KsMethod = Literal["auto", "exact", "asymp"]

CORRECTIONS: tuple[Correction, ...] = get_args(Correction)
KS_METHODS: tuple[KsMethod, ...] = get_args(KsMethod)

_UNIT_INTERVAL = ("alpha", "drift_share")
_NON_NEGATIVE = ("wasserstein_threshold", "psi_threshold", "psi_epsilon", "js_threshold")


@dataclass(frozen=True)
class DriftConfig:
    """Thresholds for column and endpoint drift verdicts (see the module docstring)."""

    alpha: float = 0.05
    correction: Correction = "bh"
    wasserstein_threshold: float = 0.1
    psi_threshold: float = 0.25
    psi_epsilon: float = 1e-4
    js_threshold: float = 0.1
    min_rows: int = 100
    drift_share: float = 0.25
    multivariate: bool = True
    auc_threshold: float = 0.55
    multivariate_max_rows: int = 5000
    multivariate_folds: int = 3
    ks_method: KsMethod = "auto"
    random_state: int = 0

    def __post_init__(self) -> None:
        for name in _UNIT_INTERVAL:
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InvalidInputError(f"{name} must be in (0, 1], got {value!r}", field=name)
        for name in _NON_NEGATIVE:
            value = getattr(self, name)
            if not value >= 0.0:
                raise InvalidInputError(f"{name} must be >= 0, got {value!r}", field=name)
        if not 0.5 <= self.auc_threshold <= 1.0:
            raise InvalidInputError(
                f"auc_threshold must be in [0.5, 1], got {self.auc_threshold!r}",
                field="auc_threshold",
            )
        if self.correction not in CORRECTIONS:
            raise InvalidInputError(
                f"correction must be one of {', '.join(CORRECTIONS)}, got {self.correction!r}",
                field="correction",
            )
        if self.ks_method not in KS_METHODS:
            raise InvalidInputError(
                f"ks_method must be one of {', '.join(KS_METHODS)}, got {self.ks_method!r}",
                field="ks_method",
            )
        if self.min_rows < 2:
            raise InvalidInputError("min_rows must be at least 2", field="min_rows")
        if self.multivariate_max_rows < 50:
            raise InvalidInputError(
                "multivariate_max_rows must be at least 50", field="multivariate_max_rows"
            )
        if self.multivariate_folds < 2:
            raise InvalidInputError(
                "multivariate_folds must be at least 2", field="multivariate_folds"
            )

    def to_dict(self) -> dict[str, Any]:
        """The thresholds as a JSON-able dict."""
        return asdict(self)
