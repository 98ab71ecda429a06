"""Multivariate drift: a domain classifier that tries to tell reference from current rows.

Column tests miss changes in how columns move together (a correlation that flips,
an interaction that appears). A small gradient-boosted classifier trained to separate
a bounded sample of reference rows from a bounded sample of current rows catches them:
if its cross-validated ROC AUC stays near 0.5 the two are indistinguishable.

The AUC is the mean over stratified folds. Under "no drift" it is approximately
normal around 0.5 with the Mann-Whitney variance ``(n1 + n2 + 1) / (12 n1 n2)``, which
gives a one-sided p-value, so small windows need a larger AUC to count.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from modelyard.domain.drift.config import DriftConfig
from modelyard.domain.drift.numeric import FloatArray
from modelyard.domain.drift.report import MultivariateResult
from modelyard.errors import InvalidInputError

#: Boosting rounds and tree size: enough for interactions, cheap on 10k rows.
MAX_ITER = 30
MAX_LEAF_NODES = 15


def domain_classifier_auc(
    reference: FloatArray, current: FloatArray, config: DriftConfig
) -> MultivariateResult:
    """Cross-validated AUC of a classifier separating ``reference`` from ``current`` rows.

    Both are encoded feature matrices with the same columns (see
    :meth:`~modelyard.domain.drift.reference.DriftReference.encode`); each side is
    subsampled to ``config.multivariate_max_rows`` rows.
    """
    if reference.ndim != 2 or current.ndim != 2 or reference.shape[1] != current.shape[1]:
        raise InvalidInputError(
            "reference and current samples must be matrices with the same columns",
            field="current",
        )
    rng = np.random.default_rng(config.random_state)
    reference = _bounded(reference, config.multivariate_max_rows, rng)
    current = _bounded(current, config.multivariate_max_rows, rng)
    n_ref, n_cur = len(reference), len(current)
    folds = min(config.multivariate_folds, n_ref, n_cur)
    if folds < 2 or reference.shape[1] == 0:
        raise InvalidInputError(
            "the multivariate check needs at least two rows per side and one column",
            field="current",
        )
    features = np.vstack((reference, current))
    labels = np.concatenate((np.zeros(n_ref, dtype=np.int8), np.ones(n_cur, dtype=np.int8)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.random_state)
    aucs: list[float] = []
    for train, test in splitter.split(features, labels):
        model = HistGradientBoostingClassifier(
            max_iter=MAX_ITER,
            max_leaf_nodes=MAX_LEAF_NODES,
            early_stopping=False,
            random_state=config.random_state,
        )
        model.fit(features[train], labels[train])
        scores = model.predict_proba(features[test])[:, 1]
        aucs.append(float(roc_auc_score(labels[test], scores)))
    auc = float(np.mean(aucs))
    se = math.sqrt((n_ref + n_cur + 1) / (12.0 * n_ref * n_cur))
    p_value = float(special.ndtr(-(auc - 0.5) / se))
    drifted = auc >= config.auc_threshold and p_value < config.alpha
    return MultivariateResult(auc, p_value, n_ref, n_cur, folds, drifted)


def _bounded(rows: FloatArray, limit: int, rng: np.random.Generator) -> FloatArray:
    if len(rows) <= limit:
        return rows
    return rows[np.sort(rng.choice(len(rows), size=limit, replace=False))]
