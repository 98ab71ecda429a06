"""The commented ``modelyard.yaml`` that ``modelyard init`` writes (quickstart dataset)."""

from __future__ import annotations

SPEC_FILENAME = "modelyard.yaml"

QUICKSTART_TEMPLATE = """\
# modelyard.yaml: what to train, how to judge it, and when it may ship.
# Every key is checked when the file is loaded; unknown keys are errors.

# binary_classification | multiclass_classification | regression
task: binary_classification

data:
  dataset: quickstart      # a registered dataset (modelyard datasets add FILE --name quickstart)
  # version: 1             # pin a dataset version; omit for the latest
  target: target           # the label column

# Feature columns: a plain name (type inferred) or {name, role}.
# Roles: numeric | categorical are model inputs; sensitive (fairness reports only),
# identifier and timestamp are kept out of the model. Omit the list to use every
# column but the target.
features:
  - age
  - income
  - tenure_months
  - balance
  - num_products
  - support_calls
  - {name: region, role: categorical}
  - {name: plan, role: categorical}
  - {name: channel, role: categorical}
  - {name: sex, role: sensitive}
  - {name: signup_at, role: timestamp}

split:
  strategy: stratified     # stratified | random | time | group
  # column: signup_at      # needed by time (order) and group (keep groups together)
  holdout: 0.2             # fraction (0, 0.5] scored once, for the reported metrics
  validation: 0.1          # fraction for model selection and calibration

# Models to try. Built-in: logistic_regression, linear_regression, random_forest,
# hist_gradient_boosting, lightgbm, xgboost; or your own "package.module:function".
candidates:
  - name: logistic_regression
    params: {C: 1.0}
  - name: hist_gradient_boosting
    params: {max_iter: 200, learning_rate: 0.05}

seeds: 3                   # train each candidate with seeds 0, 1, 2 (or list them)

# Reported with 95% bootstrap confidence intervals on the holdout.
metrics: [roc_auc, pr_auc, accuracy, f1, log_loss, brier, ece]

evaluation:
  n_boot: 1000             # bootstrap resamples for the intervals
  recall_target: 0.8       # for precision_at_recall
  precision_target: 0.8    # for recall_at_precision
  min_group_size: 30       # smaller fairness groups are flagged

# calibration:
#   method: isotonic       # isotonic | sigmoid, fitted on the validation split

# Hyperparameter search (needs `pip install 'modelyard[tune]'`): a seeded Optuna TPE
# study per candidate, each trial scored by cross-validation on the training rows only
# (never the holdout). The best parameters are then trained and evaluated as above;
# the trials are recorded as child runs (`modelyard runs show RUN`). A candidate left
# out of space gets a default space, minus the params it fixes above.
# search:
#   trials: 20             # at most this many trials per candidate (1-1000)
#   cv_folds: 3            # folds of the training rows per trial (2-10)
#   metric: roc_auc        # what the trials optimise; default: the first of metrics
#   # timeout_s: 600       # also stop starting trials after this many seconds
#   space:
#     hist_gradient_boosting:              # learning_rate and max_iter are fixed above
#       max_leaf_nodes: {low: 8, high: 64, log: true}    # two integers: integer values
#       min_samples_leaf: {low: 5, high: 50}
#       l2_regularization: {low: 1.0e-6, high: 10.0, log: true}   # write 1.0e-6, not 1e-6
#     logistic_regression: {}             # {} leaves a candidate untuned

# Acceptance gates: every one must pass before a version can be promoted.
#   <metric>[.value|.ci_low|.ci_high] <op> <number>   (op: >= <= > < ==)
#   fairness.<sensitive column>.dp_diff | eo_diff      latency.p99_ms
#   beats: production by <metric> <op> <number>       (candidate - production)
gates:
  - roc_auc.ci_low >= 0.70
  - ece <= 0.05
  - fairness.sex.dp_diff <= 0.1
  - latency.p99_ms <= 50
  # Retraining on the same data moves roc_auc by ~0.002 from noise alone, so ">= 0.0"
  # would fail a retrain that is just as good; -0.01 tolerates noise but still blocks a
  # real regression. Passes while nothing is in production.
  - "beats: production by roc_auc >= -0.01"

latency_budget_ms: 50      # per-request budget when serving

# Data expectations, checked on every new dataset version.
expectations:
  age: {min: 18, max: 100, max_null_rate: 0.0}
  income: {min: 0}
  tenure_months: {min: 0, max: 600}
  balance: {min: 0, max_null_rate: 0.1}
  region: {allowed: [north, south, east, west, central]}
  plan: {allowed: [basic, standard, premium]}
  sex: {allowed: [female, male]}
  target: {allowed: [0, 1], max_null_rate: 0.0}

approval_required: false   # true: a person must approve before production

# Filled in by later features; free-form for now.
monitoring: {}
rollout: {}
"""


def spec_template() -> str:
    """The text ``modelyard init`` writes to ``modelyard.yaml``."""
    return QUICKSTART_TEMPLATE
