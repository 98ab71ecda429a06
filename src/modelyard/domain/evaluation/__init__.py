"""Honest evaluation on a holdout: metrics with bootstrap CIs, calibration, fairness,
a dummy baseline and curve data. Pure computation on arrays; no IO.

Every ``evaluate_*`` function returns ``{metric name: MetricEstimate}``; turn it into the
dict gates read with ``{name: est.to_dict() for name, est in result.items()}``.

Names load lazily (PEP 562): importing one submodule, as the spec does for the metric
names, must not pull scikit-learn and scipy in through the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard._lazy import lazy_exports

if TYPE_CHECKING:
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

_SUBMODULE_OF = {
    "BaselineComparison": "baseline",
    "CALIBRATION_METHODS": "calibration",
    "CLASSIFICATION_METRICS": "classification",
    "CalibrationReport": "calibration",
    "ClassificationInputs": "classification",
    "DEFAULT_CONFIDENCE": "bootstrap",
    "DEFAULT_N_BOOT": "bootstrap",
    "FairnessReport": "fairness",
    "GroupMetrics": "fairness",
    "LOWER_IS_BETTER": "baseline",
    "MetricEstimate": "bootstrap",
    "REGRESSION_METRICS": "regression",
    "ScoreCalibrator": "calibration",
    "SeedSummary": "bootstrap",
    "aggregate_seeds": "bootstrap",
    "bootstrap_batch": "bootstrap",
    "bootstrap_statistic": "bootstrap",
    "bootstrap_weights": "bootstrap",
    "calibrate_classifier": "calibration",
    "calibration_report": "calibration",
    "classification_baseline": "baseline",
    "classification_curves": "curves",
    "compare_classification": "classification",
    "compare_regression": "regression",
    "confusion_matrix_data": "curves",
    "evaluate_classification": "classification",
    "evaluate_regression": "regression",
    "expected_calibration_error": "calibration",
    "fairness_by_column": "fairness",
    "fairness_report": "fairness",
    "latency_summary": "latency",
    "pr_curve_data": "curves",
    "prior_probabilities": "baseline",
    "regression_baseline": "baseline",
    "regression_fairness_report": "fairness",
    "reliability_curve": "calibration",
    "roc_curve_data": "curves",
}

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

__getattr__ = lazy_exports(__name__, _SUBMODULE_OF)
