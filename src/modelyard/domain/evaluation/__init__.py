"""Honest evaluation on a holdout: metrics with bootstrap CIs, calibration, fairness,
a dummy baseline and curve data. Pure computation on arrays; no IO.

Every ``evaluate_*`` function returns ``{metric name: MetricEstimate}``; turn it into the
dict gates read with ``{name: est.to_dict() for name, est in result.items()}``.
"""

from modelyard.domain.evaluation.baseline import (
    LOWER_IS_BETTER,
    BaselineComparison,
    classification_baseline,
    prior_probabilities,
    regression_baseline,
)
from modelyard.domain.evaluation.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_BOOT,
    MetricEstimate,
    SeedSummary,
    aggregate_seeds,
    bootstrap_batch,
    bootstrap_statistic,
    bootstrap_weights,
)
from modelyard.domain.evaluation.calibration import (
    CALIBRATION_METHODS,
    CalibrationReport,
    ScoreCalibrator,
    calibrate_classifier,
    calibration_report,
    expected_calibration_error,
    reliability_curve,
)
from modelyard.domain.evaluation.classification import (
    CLASSIFICATION_METRICS,
    ClassificationInputs,
    compare_classification,
    evaluate_classification,
)
from modelyard.domain.evaluation.curves import (
    classification_curves,
    confusion_matrix_data,
    pr_curve_data,
    roc_curve_data,
)
from modelyard.domain.evaluation.fairness import (
    FairnessReport,
    GroupMetrics,
    fairness_by_column,
    fairness_report,
    regression_fairness_report,
)
from modelyard.domain.evaluation.latency import latency_summary
from modelyard.domain.evaluation.regression import (
    REGRESSION_METRICS,
    compare_regression,
    evaluate_regression,
)

__all__ = [
    "CALIBRATION_METHODS",
    "CLASSIFICATION_METRICS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_N_BOOT",
    "LOWER_IS_BETTER",
    "REGRESSION_METRICS",
    "BaselineComparison",
    "CalibrationReport",
    "ClassificationInputs",
    "FairnessReport",
    "GroupMetrics",
    "MetricEstimate",
    "ScoreCalibrator",
    "SeedSummary",
    "aggregate_seeds",
    "bootstrap_batch",
    "bootstrap_statistic",
    "bootstrap_weights",
    "calibrate_classifier",
    "calibration_report",
    "classification_baseline",
    "classification_curves",
    "compare_classification",
    "compare_regression",
    "confusion_matrix_data",
    "evaluate_classification",
    "evaluate_regression",
    "expected_calibration_error",
    "fairness_by_column",
    "fairness_report",
    "latency_summary",
    "pr_curve_data",
    "prior_probabilities",
    "regression_baseline",
    "regression_fairness_report",
    "reliability_curve",
    "roc_curve_data",
]
