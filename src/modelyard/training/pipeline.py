"""Spec-driven training: split, fit every candidate per seed, evaluate honestly, gate.

:func:`run_spec` is pure: it takes a validated :class:`~modelyard.spec.ProjectSpec` and
the dataset as a DataFrame and returns a :class:`SpecResult`; it reads and writes no
files, database or artifact store. The steps:

1. **Validate** the frame and target and resolve the feature roles: model inputs are the
   declared features with role ``numeric``, ``categorical`` or none (without a feature
   list: every column but the target, datetime columns, the split column and the id
   column); ``sensitive`` columns are only used for fairness.
2. **Split** once, with the first seed, into train / validation (optional) / holdout
   (:func:`~modelyard.training.splits.holdout_split`). Holdout row ids (index labels, or
   the ``id_column`` values) are recorded and checked to be absent from the training
   and validation rows; a leak raises instead of returning a result.
3. **Search** (``spec.search``, needs ``modelyard[tune]``): per candidate with a search
   space, a seeded Optuna study within the trial / time budget, each trial scored by
   cross-validation on the training rows only (:mod:`modelyard.training.search`); the
   best parameters join the candidate's ``params`` for the next step. The trials are in
   ``SpecResult.search``.
4. **Fit** every candidate once per seed on the training rows only, and score each fit
   on the holdout with bootstrap CIs (``spec.evaluation``); summarise mean ± sd across
   seeds.
5. **Select** by the primary metric (the first of ``spec.metrics``; ``roc_auc`` /
   ``r2`` when the metrics list is the task's default): on the validation split when
   there is one, else on the holdout (recorded in ``notes``, the card lists it as a
   limitation). The winner's best seed is the final model.
6. **Calibrate** (``spec.calibration``) the final model on the validation split; ECE on
   the holdout before and after. The final metrics are those of the shipped model.
7. **Report**: dummy baseline and improvement, per-group fairness for every sensitive
   column, single-row in-process latency, curves for the model card.
8. **Gate**: :func:`~modelyard.domain.gates.evaluate_gates` against the final metrics
   (and ``production``, the gate-metrics dict of the current production version).

Bad input raises :class:`~modelyard.errors.InvalidInputError` naming the cause (empty
dataset, missing / constant / null target, all-null column, a class with one row in a
stratified split, an unparsable time column, a ``module:function`` candidate that raises
or returns something without ``predict``).

``module:function`` candidates are called as ``function(X_train, y_train, seed,
**params)``: ``X_train`` is the raw feature frame (input columns as in the dataset),
``y_train`` the target Series, ``params`` the candidate's ``params``. The function must
return a fitted scikit-learn estimator (a ``Pipeline`` if it needs preprocessing) or a
LightGBM model; classifiers need ``predict_proba``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes

from modelyard.domain.evaluation import (
    LOWER_IS_BETTER,
    CalibrationReport,
    MetricEstimate,
    SeedSummary,
    aggregate_seeds,
    calibrate_classifier,
    classification_baseline,
    classification_curves,
    evaluate_classification,
    evaluate_regression,
    expected_calibration_error,
    fairness_report,
    latency_summary,
    regression_baseline,
    regression_fairness_report,
)
from modelyard.domain.evaluation.classification import CLASSIFICATION_METRICS
from modelyard.domain.evaluation.regression import REGRESSION_METRICS
from modelyard.domain.gates import build_gate_metrics, evaluate_gates, parse_gate
from modelyard.domain.signature import to_json_scalar
from modelyard.errors import InvalidInputError
from modelyard.runtime.flavors import detect_flavor
from modelyard.spec.model import CandidateSpec, ProjectSpec, spec_hash
from modelyard.training.estimators import (
    CANDIDATE_KINDS,
    FeatureRoles,
    build_candidate,
    candidate_fit_errors,
    check_custom_model,
    estimator_params,
    load_candidate_function,
    prepare_candidate_features,
    resolve_features,
)
from modelyard.training.search import (
    CandidateSearch,
    cv_folds,
    require_optuna,
    run_search,
    sample_params,
)
from modelyard.training.splits import HoldoutInfo, holdout_split, record_holdout, row_ids

#: The gate-metrics dict of the current production version (``SpecResult.gate_metrics``
#: of the run that produced it); ``beats: production by ...`` gates compare against it.
ProductionBaseline: TypeAlias = Mapping[str, Any]

#: Single-row predictions timed for the latency summary.
LATENCY_CALLS = 200
LATENCY_WARMUP = 5
#: Points kept for the regression predicted-vs-actual plot.
MAX_SCATTER_POINTS = 500
PYTHON_KIND = "python"
_DEFAULT_PRIMARY = {"classification": "roc_auc", "regression": "r2"}


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedRun:
    """One fit of a candidate: its holdout metrics and its selection score."""

    seed: int
    metrics: dict[str, MetricEstimate]
    selection_score: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "seed": self.seed,
            "metrics": {name: est.to_dict() for name, est in self.metrics.items()},
            "selection_score": self.selection_score,
        }


@dataclass(frozen=True)
class CandidateResult:
    """A candidate across seeds: per-seed holdout metrics and their mean ± sd."""

    key: str
    name: str
    kind: str
    flavor: str
    params: dict[str, Any]
    runs: tuple[SeedRun, ...]
    summary: dict[str, SeedSummary]
    selection_score: float | None
    selected: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the model card's candidate table)."""
        return {
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "flavor": self.flavor,
            "params": _jsonable(self.params),
            "selected": self.selected,
            "selection_score": self.selection_score,
            "summary": {name: s.to_dict() for name, s in self.summary.items()},
            "seeds": [run.to_dict() for run in self.runs],
        }


@dataclass
class SpecResult:
    """Everything a spec run produced. :meth:`to_dict` is JSON-able (no model objects)."""

    model: Any
    flavor: str
    task: str
    target: str
    classes: list[Any] | None
    feature_columns: list[str]
    numeric_columns: list[str]
    categorical_columns: list[str]
    sensitive_columns: list[str]
    train_features: pd.DataFrame
    train_target: pd.Series
    candidates: list[CandidateResult]
    best_candidate: str
    best_seed: int
    primary_metric: str
    selection_split: str
    metrics: dict[str, dict[str, Any]]
    seed_summary: dict[str, dict[str, Any]]
    fairness: dict[str, dict[str, Any]]
    calibration: dict[str, Any] | None
    baseline: dict[str, Any]
    latency: dict[str, float | int]
    curves: dict[str, Any]
    gate_metrics: dict[str, Any]
    gate_results: list[dict[str, Any]]
    gates_passed: bool
    holdout: HoldoutInfo
    params: dict[str, Any]
    seeds: list[int]
    evaluation: dict[str, Any]
    durations: dict[str, Any]
    spec_hash: str
    notes: list[str] = field(default_factory=list)
    search: list[CandidateSearch] = field(default_factory=list)

    @property
    def holdout_ids(self) -> list[Any]:
        """The holdout rows' ids (index labels or ``id_column`` values)."""
        return self.holdout.ids

    @property
    def holdout_excluded(self) -> bool:
        """True: no holdout id is among the training or validation rows (checked)."""
        return self.holdout.excluded

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: everything but ``model``, ``train_features``, ``train_target``."""
        return {
            "flavor": self.flavor,
            "task": self.task,
            "target": self.target,
            "classes": self.classes,
            "feature_columns": list(self.feature_columns),
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
            "sensitive_columns": list(self.sensitive_columns),
            "candidates": [c.to_dict() for c in self.candidates],
            "best_candidate": self.best_candidate,
            "best_seed": self.best_seed,
            "primary_metric": self.primary_metric,
            "selection_split": self.selection_split,
            "metrics": self.metrics,
            "seed_summary": self.seed_summary,
            "fairness": self.fairness,
            "calibration": self.calibration,
            "baseline": self.baseline,
            "latency": dict(self.latency),
            "curves": self.curves,
            "gate_metrics": self.gate_metrics,
            "gate_results": list(self.gate_results),
            "gates_passed": self.gates_passed,
            "holdout": self.holdout.to_dict(),
            "params": _jsonable(self.params),
            "seeds": list(self.seeds),
            "evaluation": dict(self.evaluation),
            "durations": self.durations,
            "spec_hash": self.spec_hash,
            "notes": list(self.notes),
            "search": [s.to_dict() for s in self.search],
        }


# --- the run ----------------------------------------------------------------------------


def run_spec(
    spec: ProjectSpec,
    frame: pd.DataFrame,
    *,
    production: ProductionBaseline | None = None,
    id_column: str | None = None,
    latency_calls: int = LATENCY_CALLS,
) -> SpecResult:
    """Train and evaluate every candidate of ``spec`` on ``frame``; see the module docstring.

    ``production`` is the gate-metrics dict of the current production version (``None``:
    nothing in production, ``beats`` gates pass). ``id_column`` names a column of row ids
    to record for the holdout (default: the frame's index labels). ``latency_calls``
    single-row predictions are timed for the latency summary.
    """
    if isinstance(latency_calls, bool) or not isinstance(latency_calls, int) or latency_calls < 1:
        raise InvalidInputError(
            f"latency_calls must be a positive integer, got {latency_calls!r}",
            field="latency_calls",
        )
    if spec.search is not None:
        require_optuna()  # before any work: the clear install hint
    started = time.perf_counter()
    durations: dict[str, Any] = {}
    notes: list[str] = []
    target = spec.data.target
    y_all = _check_dataset(spec, frame)
    classes = _classes(spec, y_all) if spec.is_classification else None
    roles = resolve_features(spec, frame, id_column=id_column)
    strategy = spec.split.strategy or ("stratified" if spec.is_classification else "random")
    grouped_on_ids = strategy == "group" and spec.split.column == id_column
    ids = row_ids(frame, id_column, allow_duplicates=grouped_on_ids)
    durations["validate_s"] = time.perf_counter() - started

    tick = time.perf_counter()
    parts = holdout_split(
        frame,
        strategy=strategy,
        target=target,
        holdout=spec.split.holdout,
        validation=spec.split.validation,
        column=spec.split.column,
        seed=spec.seeds[0],
    )
    holdout = record_holdout(
        parts,
        ids,
        strategy=strategy,
        column=spec.split.column,
        fraction=spec.split.holdout,
        validation_fraction=spec.split.validation,
        split_seed=spec.seeds[0],
        id_source=id_column or "index",
    )
    ctx = _Context(
        spec,
        roles,
        classes,
        {name: frame.iloc[getattr(parts, name)] for name in ("train", "validation", "holdout")},
        _metric_names(spec),
        primary_metric(spec),
    )
    if classes is not None and ctx.y("train").nunique() < 2:
        raise InvalidInputError(
            f"the training rows of the {strategy} split hold a single class of {target!r}; "
            "use more rows or another split strategy",
            field="split.strategy",
        )
    durations["split_s"] = time.perf_counter() - tick
    if not ctx.has_validation:
        notes.append(
            "the model was selected on the holdout (no validation split): its holdout "
            "metrics are slightly optimistic"
        )

    tick = time.perf_counter()
    cands = [_Candidate(i, c, *_candidate_kind(c, i)) for i, c in enumerate(spec.candidates)]
    searches: list[CandidateSearch] = []
    for cand in cands:
        searched = _search_candidate(ctx, cand, ids[parts.train], ids[parts.holdout])
        if searched is not None:
            searches.append(searched)
            if searched.stopped_by == "timeout":
                notes.append(
                    f"the search of {cand.spec.key!r} stopped at search.timeout_s after "
                    f"{len(searched.trials)} of {searched.trials_budget} trials; a rerun may "
                    "run a different number of trials"
                )
        _train_candidate(ctx, cand)
    durations["candidates_s"] = time.perf_counter() - tick
    if searches:
        durations["search_s"] = {s.candidate: s.duration_s for s in searches}
    durations["fit_s"] = {cand.spec.key: cand.fit_s for cand in cands}
    higher = ctx.primary not in LOWER_IS_BETTER
    best = _pick_best(cands, higher)
    best_run = _pick_seed(best.runs, higher)
    if best_run.selection_score is None:
        notes.append(f"{ctx.primary} was undefined on the {ctx.selection_split} split")

    tick = time.perf_counter()
    uncalibrated = best.models[best_run.seed]
    model, outputs, final, calibration = _finalize(ctx, best, best_run, uncalibrated, notes)
    durations["finalize_s"] = time.perf_counter() - tick  # incl. calibration

    tick = time.perf_counter()
    ev = spec.evaluation
    baseline = _baseline(ctx, outputs, best_run.seed)
    fairness = _fairness(ctx, outputs)
    curves = _curves(ctx.y("holdout"), outputs, classes, ev.n_bins)
    durations["evaluation_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    with _blame(best):
        latency = _single_row_latency(model, ctx.x("holdout", best.kind), latency_calls)
    durations["latency_s"] = time.perf_counter() - tick

    gate_metrics = build_gate_metrics(
        final, fairness=fairness, latency=latency, improvement=baseline["improvement"]
    )
    gate_results = [r.to_dict() for r in evaluate_gates(spec.gates, gate_metrics, production)]
    candidates = [_candidate_result(c, selected=c is best) for c in cands]
    best_summary = next(c.summary for c in candidates if c.selected)
    params: dict[str, Any] = {
        "candidate": best.spec.key,
        "candidate_name": best.spec.name,
        "kind": best.kind,
        "seed": best_run.seed,
        "task": spec.task,
        "target": target,
        "split_strategy": strategy,
        "holdout": spec.split.holdout,
        "validation": spec.split.validation,
        "n_train": holdout.n_train,
        "n_validation": holdout.n_validation,
        "n_holdout": holdout.n_holdout,
        "n_features": len(roles.inputs),
        "primary_metric": ctx.primary,
        "selection_split": ctx.selection_split,
        "calibration": spec.calibration.method if spec.calibration else None,
        "candidate_params": dict(best.spec.params),
        "estimator": estimator_params(uncalibrated),
    }
    train = ctx.frames["train"]
    durations["total_s"] = time.perf_counter() - started
    return SpecResult(
        model=model,
        flavor=_final_flavor(model, best),
        task=spec.task,
        target=target,
        classes=None if classes is None else [to_json_scalar(c) for c in classes],
        feature_columns=list(roles.inputs),
        numeric_columns=list(roles.numeric),
        categorical_columns=list(roles.categorical),
        sensitive_columns=list(roles.sensitive),
        train_features=train.loc[:, roles.inputs].copy(),
        train_target=train[target].copy(),
        candidates=candidates,
        best_candidate=best.spec.key,
        best_seed=best_run.seed,
        primary_metric=ctx.primary,
        selection_split=ctx.selection_split,
        metrics={name: est.to_dict() for name, est in final.items()},
        seed_summary={name: s.to_dict() for name, s in best_summary.items()},
        fairness=fairness,
        calibration=calibration,
        baseline=baseline,
        latency=latency,
        curves=curves,
        gate_metrics=gate_metrics,
        gate_results=gate_results,
        gates_passed=all(r["passed"] for r in gate_results),
        holdout=holdout,
        params=params,
        seeds=list(spec.seeds),
        evaluation=ev.model_dump(mode="json"),
        durations=durations,
        spec_hash=spec_hash(spec),
        notes=notes,
        search=searches,
    )


def primary_metric(spec: ProjectSpec) -> str:
    """The metric candidates are ranked by: the first of ``spec.metrics``, or ``roc_auc``
    (classification) / ``r2`` (regression) when the list is the task's full default."""
    known = CLASSIFICATION_METRICS if spec.is_classification else REGRESSION_METRICS
    if not spec.metrics or tuple(spec.metrics) == known:
        return _DEFAULT_PRIMARY["classification" if spec.is_classification else "regression"]
    return spec.metrics[0]


@dataclass(frozen=True)
class _Outputs:
    pred: npt.NDArray[Any]
    proba: npt.NDArray[np.float64] | None


@dataclass(frozen=True)
class _Context:
    """What every step of a run reads: the spec, roles, classes and the split frames."""

    spec: ProjectSpec
    roles: FeatureRoles
    classes: npt.NDArray[Any] | None
    frames: dict[str, pd.DataFrame]
    names: list[str]
    primary: str

    @property
    def has_validation(self) -> bool:
        return len(self.frames["validation"]) > 0

    @property
    def selection_split(self) -> str:
        return "validation" if self.has_validation else "holdout"

    @property
    def task(self) -> str:
        return "regression" if self.classes is None else "classification"

    def x(self, part: str, kind: str) -> pd.DataFrame:
        """The model inputs of ``part``, prepared for a ``kind`` candidate."""
        return prepare_candidate_features(self.frames[part], kind, self.roles.inputs)

    def y(self, part: str) -> pd.Series:
        return self.frames[part][self.spec.data.target]

    def score(
        self, outputs: _Outputs, part: str, metrics: list[str], n_boot: int, seed: int
    ) -> dict[str, MetricEstimate]:
        """Metrics of ``outputs`` against ``part``'s target, with ``n_boot`` resamples."""
        return _evaluate(self.spec, outputs, self.y(part), self.classes, metrics, n_boot, seed)


@dataclass
class _Candidate:
    """A candidate while it runs (its fitted models are kept until selection)."""

    index: int
    spec: CandidateSpec
    kind: str
    factory: Callable[..., Any] | None
    flavor: str = ""
    runs: list[SeedRun] = field(default_factory=list)
    models: dict[int, Any] = field(default_factory=dict)
    fit_s: list[float] = field(default_factory=list)


def _train_candidate(ctx: _Context, cand: _Candidate) -> None:
    """Fit ``cand`` once per seed; score each fit on the holdout and the selection split."""
    x_train = ctx.x("train", cand.kind)
    x_hold = ctx.x("holdout", cand.kind)
    x_valid = ctx.x("validation", cand.kind) if ctx.has_validation else None
    for seed in ctx.spec.seeds:
        tick = time.perf_counter()
        model = _fit(ctx, cand, x_train, seed)
        cand.fit_s.append(time.perf_counter() - tick)
        with _blame(cand):
            hold_out = _outputs(model, x_hold, ctx.classes)
            metrics = ctx.score(hold_out, "holdout", ctx.names, ctx.spec.evaluation.n_boot, seed)
            if x_valid is not None:
                valid_out = _outputs(model, x_valid, ctx.classes)
                chosen = ctx.score(valid_out, "validation", [ctx.primary], 0, seed)
            else:
                chosen = metrics
        selection = chosen.get(ctx.primary)
        cand.runs.append(
            SeedRun(seed, metrics, None if selection is None else _finite(selection.value))
        )
        cand.models[seed] = model


def _search_candidate(
    ctx: _Context, cand: _Candidate, train_ids: pd.Index, holdout_ids: pd.Index
) -> CandidateSearch | None:
    """Tune ``cand`` by CV on the training rows (if it has a search space); the best
    parameters are merged into ``cand.spec.params``."""
    search = ctx.spec.search
    space = search.space.get(cand.spec.key) if search is not None else None
    if search is None or not space:
        return None
    where = f"search.space.{cand.spec.key}"
    if cand.factory is None:  # unknown parameter names fail now, not in every trial
        try:
            build_candidate(
                cand.kind,
                ctx.task,
                ctx.roles.numeric,
                ctx.roles.categorical,
                ctx.spec.seeds[0],
                {**cand.spec.params, **sample_params(space)},
            )
        except InvalidInputError as exc:
            raise InvalidInputError(f"{_label(cand)}: {exc.message}", field=where) from None
    seed = ctx.spec.seeds[0]
    metric = search.metric or ctx.primary
    train = ctx.frames["train"]
    x_train, y_train = ctx.x("train", cand.kind), ctx.y("train")
    folds = cv_folds(
        train,
        strategy=ctx.spec.split.strategy or "random",
        target=ctx.spec.data.target,
        column=ctx.spec.split.column,
        n_folds=search.cv_folds,
        seed=seed,
        classification=ctx.classes is not None,
    )

    def fit_score(
        fit_at: npt.NDArray[np.intp], score_at: npt.NDArray[np.intp], params: dict[str, Any]
    ) -> float | None:
        merged = {**cand.spec.params, **params}
        model = _fit(ctx, cand, x_train.iloc[fit_at], seed, y_train.iloc[fit_at], merged)
        x_score, y_score = x_train.iloc[score_at], y_train.iloc[score_at]
        with _blame(cand):
            outputs = _outputs(model, x_score, ctx.classes)
        scores = _evaluate(ctx.spec, outputs, y_score, ctx.classes, [metric], 0, seed)
        estimate = scores.get(metric)
        return None if estimate is None else _finite(estimate.value)

    result = run_search(
        candidate=cand.spec.key,
        space=space,
        folds=folds,
        fit_score=fit_score,
        row_ids=train_ids,
        holdout_ids=holdout_ids,
        metric=metric,
        higher_is_better=metric not in LOWER_IS_BETTER,
        trials=search.trials,
        timeout_s=search.timeout_s,
        seed=seed,
    )
    tuned = {**cand.spec.params, **result.best_params}
    cand.spec = cand.spec.model_copy(update={"params": tuned})
    return result


def _finalize(
    ctx: _Context, best: _Candidate, run: SeedRun, model: Any, notes: list[str]
) -> tuple[Any, _Outputs, dict[str, MetricEstimate], dict[str, Any] | None]:
    """The shipped model, its holdout outputs and metrics, and the calibration report.

    Without ``spec.calibration`` this is the best fit as scored; with it, the fit is
    calibrated on the validation split and re-scored on the holdout.
    """
    x_hold = ctx.x("holdout", best.kind)
    outputs = _outputs(model, x_hold, ctx.classes)
    method = ctx.spec.calibration.method if ctx.spec.calibration else None
    if method is None or ctx.classes is None:
        return model, outputs, run.metrics, None
    ev = ctx.spec.evaluation
    calibrated = calibrate_classifier(
        model, ctx.x("validation", best.kind), ctx.y("validation"), method=method
    )
    after = _outputs(calibrated, x_hold, ctx.classes)
    truth = ctx.y("holdout").to_numpy()
    report = CalibrationReport(
        method,
        expected_calibration_error(truth, _proba(outputs), ctx.classes, n_bins=ev.n_bins),
        expected_calibration_error(truth, _proba(after), ctx.classes, n_bins=ev.n_bins),
        len(truth),
        ev.n_bins,
    )
    if best.kind == "lightgbm" and ctx.roles.categorical:
        notes.append(
            "the calibrated model wraps LightGBM in scikit-learn; string features must reach "
            "it as pandas categoricals"
        )
    calibration = {
        **report.to_dict(),
        "evaluated_on": "holdout",
        "fitted_on": "validation",
        "n_fit": len(ctx.frames["validation"]),
    }
    final = ctx.score(after, "holdout", ctx.names, ev.n_boot, run.seed)
    return calibrated, after, final, calibration


def _candidate_result(cand: _Candidate, *, selected: bool) -> CandidateResult:
    return CandidateResult(
        key=cand.spec.key,
        name=cand.spec.name,
        kind=cand.kind,
        flavor=cand.flavor,
        params=dict(cand.spec.params),
        runs=tuple(cand.runs),
        summary=aggregate_seeds([run.metrics for run in cand.runs]),
        selection_score=_mean_score(cand.runs),
        selected=selected,
    )


# --- candidates -------------------------------------------------------------------------


def _candidate_kind(cand: CandidateSpec, index: int) -> tuple[str, Callable[..., Any] | None]:
    if cand.name in CANDIDATE_KINDS:
        return cand.name, None
    try:
        return PYTHON_KIND, load_candidate_function(cand.name)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.message, field=f"candidates.{index}.name") from None


def _fit(
    ctx: _Context,
    cand: _Candidate,
    x_train: pd.DataFrame,
    seed: int,
    y_train: pd.Series | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """One fitted model of ``cand``; InvalidInputError naming the candidate on failure.

    ``y_train`` defaults to the training target, ``params`` to the candidate's (a search
    trial passes a fold's rows and its sampled parameters).
    """
    where = f"candidates.{cand.index}"
    label = _label(cand)
    if y_train is None:
        y_train = ctx.y("train")
    if params is None:
        params = dict(cand.spec.params)
    if cand.factory is not None:
        try:
            model = cand.factory(x_train.copy(), y_train.copy(), seed, **params)
        except Exception as exc:  # the user's function: any failure is reported, not raised
            raise InvalidInputError(
                f"{label} raised {type(exc).__name__}: {exc}", field=f"{where}.name"
            ) from None
        cand.flavor = check_custom_model(
            model, label, classification=ctx.classes is not None, field=f"{where}.name"
        )
        return model
    if cand.kind == "xgboost" and ctx.classes is not None:
        labels = [to_json_scalar(c) for c in ctx.classes]
        if labels != list(range(len(labels))):
            raise InvalidInputError(
                f"{label} needs class labels 0..{len(labels) - 1}, got {labels!r}; encode "
                "the target or use lightgbm",
                field=f"{where}.name",
            )
    try:
        estimator = build_candidate(
            cand.kind,
            ctx.task,
            ctx.roles.numeric,
            ctx.roles.categorical,
            seed,
            params,
        )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{label}: {exc.message}", field=f"{where}.params") from None
    try:
        estimator.fit(x_train, y_train)
    except candidate_fit_errors(cand.kind) as exc:
        raise InvalidInputError(
            f"training {label} failed: {type(exc).__name__}: {exc}", field=where
        ) from None
    cand.flavor = detect_flavor(estimator)
    return estimator


@contextlib.contextmanager
def _blame(cand: _Candidate) -> Iterator[None]:
    """Errors from a ``module:function`` candidate's model are reported naming it."""
    try:
        yield
    except Exception as exc:
        if cand.factory is None:
            raise
        message = exc.message if isinstance(exc, InvalidInputError) else str(exc)
        raise InvalidInputError(
            f"the model from {_label(cand)} failed on the evaluation rows: "
            f"{type(exc).__name__}: {message}",
            field=f"candidates.{cand.index}.name",
        ) from None


def _outputs(model: Any, x: pd.DataFrame, classes: npt.NDArray[Any] | None) -> _Outputs:
    """Predictions (and class probabilities in ``classes`` order) of ``model`` on ``x``."""
    pred = np.asarray(model.predict(x))
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.shape != (len(x),):
        raise InvalidInputError(
            f"predict returned shape {pred.shape} for {len(x)} rows", field="predict"
        )
    if classes is None:
        values = pred.astype(np.float64)
        if not np.isfinite(values).all():
            raise InvalidInputError("predict returned NaN or infinite values", field="predict")
        return _Outputs(values, None)
    raw = np.asarray(model.predict_proba(x), dtype=np.float64)
    if raw.ndim == 1:
        raw = np.column_stack([1.0 - raw, raw])
    model_classes = getattr(model, "classes_", None)
    if model_classes is None:
        if raw.shape[1] != len(classes):
            raise InvalidInputError(
                f"predict_proba returned {raw.shape[1]} columns for {len(classes)} classes "
                "and the model has no classes_",
                field="predict_proba",
            )
        return _Outputs(pred, raw)
    columns = pd.Index(classes).get_indexer(np.asarray(model_classes))
    if (columns < 0).any() or raw.shape[1] != len(columns):
        raise InvalidInputError(
            f"the model's classes {list(np.asarray(model_classes))!r} do not match the "
            f"target's classes {[to_json_scalar(c) for c in classes]!r}",
            field="predict_proba",
        )
    proba = np.zeros((len(x), len(classes)))
    proba[:, columns] = raw
    return _Outputs(pred, proba)


def _proba(outputs: _Outputs) -> npt.NDArray[np.float64]:
    if outputs.proba is None:  # pragma: no cover - classification outputs always have it
        raise InvalidInputError("no class probabilities", field="predict_proba")
    return outputs.proba


def _evaluate(
    spec: ProjectSpec,
    outputs: _Outputs,
    y_true: pd.Series,
    classes: npt.NDArray[Any] | None,
    metrics: list[str],
    n_boot: int,
    seed: int,
) -> dict[str, MetricEstimate]:
    ev = spec.evaluation
    truth = y_true.to_numpy()
    if classes is None:
        return evaluate_regression(
            truth, outputs.pred, metrics=metrics, n_boot=n_boot, seed=seed, confidence=ev.confidence
        )
    return evaluate_classification(
        truth,
        _proba(outputs),
        classes,
        y_pred=outputs.pred,
        metrics=metrics,
        n_boot=n_boot,
        seed=seed,
        confidence=ev.confidence,
        recall_target=ev.recall_target,
        precision_target=ev.precision_target,
        n_bins=ev.n_bins,
    )


def _mean_score(runs: Sequence[SeedRun]) -> float | None:
    scores = [r.selection_score for r in runs if r.selection_score is not None]
    return float(np.mean(scores)) if scores else None


def _pick_best(cands: list[_Candidate], higher: bool) -> _Candidate:
    """The candidate with the best mean selection score (ties: the first listed)."""
    best = cands[0]
    for cand in cands[1:]:
        if _oriented(_mean_score(cand.runs), higher) > _oriented(_mean_score(best.runs), higher):
            best = cand
    return best


def _pick_seed(runs: Sequence[SeedRun], higher: bool) -> SeedRun:
    """The run with the best selection score (ties: the first seed)."""
    best = runs[0]
    for run in runs[1:]:
        if _oriented(run.selection_score, higher) > _oriented(best.selection_score, higher):
            best = run
    return best


def _oriented(score: float | None, higher: bool) -> float:
    if score is None:
        return -math.inf
    return score if higher else -score


def _final_flavor(model: Any, best: _Candidate) -> str:
    try:
        return detect_flavor(model)
    except InvalidInputError:
        return best.flavor


# --- validation -------------------------------------------------------------------------


def _check_dataset(spec: ProjectSpec, frame: pd.DataFrame) -> pd.Series:
    """The target column, after the dataset-level checks."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError("the dataset must be a pandas DataFrame", field=None)
    if len(frame) == 0 or len(frame.columns) == 0:
        raise InvalidInputError("the dataset is empty (no rows to train on)", field=None)
    if frame.columns.has_duplicates:
        dup = frame.columns[frame.columns.duplicated()][0]
        raise InvalidInputError(f"the dataset has a duplicate column {dup!r}", field=str(dup))
    bad_names = [c for c in frame.columns if not isinstance(c, str)]
    if bad_names:
        raise InvalidInputError(
            f"column names must be strings, got {bad_names[0]!r}", field=str(bad_names[0])
        )
    target = spec.data.target
    if target not in frame.columns:
        raise InvalidInputError(
            f"target column {target!r} (data.target) is not a column of the dataset; "
            f"columns: {', '.join(map(str, frame.columns[:20]))}",
            field="data.target",
        )
    y = frame[target]
    n_missing = int(y.isna().sum())
    if n_missing == len(y):
        raise InvalidInputError(
            f"target column {target!r} has only missing values", field="data.target"
        )
    if n_missing:
        raise InvalidInputError(
            f"target column {target!r} has {n_missing} missing value(s); drop or fill them",
            field="data.target",
        )
    if y.nunique() < 2:
        raise InvalidInputError(
            f"target column {target!r} is constant (every row is {_show(y.iloc[0])}); "
            "there is nothing to learn",
            field="data.target",
        )
    if not spec.is_classification and not (
        ptypes.is_numeric_dtype(y.dtype) and not ptypes.is_bool_dtype(y.dtype)
    ):
        raise InvalidInputError(
            f"regression needs a numeric target; {target!r} has dtype {y.dtype}",
            field="data.target",
        )
    return y


def _classes(spec: ProjectSpec, y: pd.Series) -> npt.NDArray[Any]:
    try:
        classes = np.unique(y.to_numpy())
    except TypeError:
        raise InvalidInputError(
            f"target column {spec.data.target!r} mixes value types; use one type of label",
            field="data.target",
        ) from None
    if spec.task == "binary_classification" and len(classes) != 2:
        raise InvalidInputError(
            f"binary_classification needs exactly 2 classes in {spec.data.target!r}, found "
            f"{len(classes)}; use task: multiclass_classification",
            field="task",
        )
    if spec.task == "multiclass_classification" and len(classes) < 3:
        raise InvalidInputError(
            f"multiclass_classification needs at least 3 classes in {spec.data.target!r}, "
            f"found {len(classes)}; use task: binary_classification",
            field="task",
        )
    return classes


def _metric_names(spec: ProjectSpec) -> list[str]:
    """``spec.metrics`` plus the primary metric and every metric a gate reads."""
    known = CLASSIFICATION_METRICS if spec.is_classification else REGRESSION_METRICS
    names = list(spec.metrics or known)
    names.append(primary_metric(spec))
    for expression in spec.gates:
        path = parse_gate(expression).path
        if path[0] in known:
            names.append(path[0])
        elif path[0] == "improvement" and len(path) > 1 and path[1] in known:
            names.append(path[1])
    return list(dict.fromkeys(names))


# --- reports ----------------------------------------------------------------------------


def _baseline(ctx: _Context, outputs: _Outputs, seed: int) -> dict[str, Any]:
    """The dummy baseline (majority class / training mean) and the improvement over it."""
    ev = ctx.spec.evaluation
    y_train, y_hold, classes, names = ctx.y("train"), ctx.y("holdout"), ctx.classes, ctx.names
    if classes is None:
        comparison = regression_baseline(
            y_train.to_numpy(),
            y_hold.to_numpy(),
            outputs.pred,
            metrics=names,
            n_boot=ev.n_boot,
            seed=seed,
            confidence=ev.confidence,
        )
        kind = "mean"
    else:
        comparison = classification_baseline(
            y_train.to_numpy(),
            y_hold.to_numpy(),
            _proba(outputs),
            classes,
            y_pred=outputs.pred,
            metrics=names,
            n_boot=ev.n_boot,
            seed=seed,
            confidence=ev.confidence,
            recall_target=ev.recall_target,
            precision_target=ev.precision_target,
            n_bins=ev.n_bins,
        )
        kind = "majority"
    return {"strategy": kind, **comparison.to_dict()}


def _fairness(ctx: _Context, outputs: _Outputs) -> dict[str, dict[str, Any]]:
    """One report per sensitive column, in the shape gates read (``fairness.sex.dp_diff``).

    Binary: decisions for the positive class ``classes[1]``. Multiclass: one-vs-rest per
    class (under ``per_class``), the column's gaps being the largest over classes.
    Regression: error gaps.
    """
    size = ctx.spec.evaluation.min_group_size
    truth = ctx.y("holdout").to_numpy()
    classes = ctx.classes
    out: dict[str, dict[str, Any]] = {}
    for column in ctx.roles.sensitive:
        values = ctx.frames["holdout"][column].to_numpy(dtype=object)
        if classes is None:
            report = regression_fairness_report(
                column, values, truth, outputs.pred, min_group_size=size
            )
            out[column] = report.to_dict()
        elif len(classes) == 2:
            report = fairness_report(
                column,
                values,
                truth,
                outputs.pred,
                positive_label=classes[1],
                scores=_proba(outputs)[:, 1],
                min_group_size=size,
            )
            out[column] = report.to_dict()
        else:
            out[column] = _multiclass_fairness(column, values, truth, outputs.pred, classes, size)
    return out


def _multiclass_fairness(
    column: str,
    values: npt.NDArray[Any],
    truth: npt.NDArray[Any],
    pred: npt.NDArray[Any],
    classes: npt.NDArray[Any],
    size: int,
) -> dict[str, Any]:
    reports = {
        str(to_json_scalar(label)): fairness_report(
            column, values, truth, pred, positive_label=label, min_group_size=size
        ).to_dict()
        for label in classes
    }
    first = next(iter(reports.values()))
    out: dict[str, Any] = {}
    for gap in ("dp_diff", "eo_diff", "tpr_diff", "fpr_diff"):
        defined = [r[gap] for r in reports.values() if r.get(gap) is not None]
        out[gap] = max(defined) if defined else None
    out["small_groups"] = first["small_groups"]
    out["min_group_size"] = size
    groups = pd.Series(values).map(lambda v: "<missing>" if pd.isna(v) else str(v)).to_numpy()
    correct = truth == pred
    out["groups"] = {
        name: {
            "n": info["n"],
            "small": info["small"],
            "accuracy": float(correct[groups == name].mean()),
        }
        for name, info in first["groups"].items()
    }
    out["per_class"] = reports
    return out


def _curves(
    y_hold: pd.Series, outputs: _Outputs, classes: npt.NDArray[Any] | None, n_bins: int
) -> dict[str, Any]:
    truth = y_hold.to_numpy()
    if classes is None:
        keep = np.arange(len(truth))
        if len(keep) > MAX_SCATTER_POINTS:
            keep = np.unique(np.linspace(0, len(truth) - 1, MAX_SCATTER_POINTS).astype(np.intp))
        return {
            "predicted_vs_actual": {
                "actual": truth.astype(np.float64)[keep].tolist(),
                "predicted": outputs.pred[keep].tolist(),
            }
        }
    return classification_curves(
        truth, _proba(outputs), classes, y_pred=outputs.pred, n_bins=n_bins
    )


def _single_row_latency(model: Any, x: pd.DataFrame, calls: int) -> dict[str, float | int]:
    """Latency of ``calls`` single-row ``predict`` calls on holdout rows, in-process."""
    rows = [x.iloc[[i % len(x)]] for i in range(calls)]
    for row in rows[:LATENCY_WARMUP]:
        model.predict(row)
    samples = []
    for row in rows:
        tick = time.perf_counter_ns()
        model.predict(row)
        samples.append((time.perf_counter_ns() - tick) / 1e6)
    return latency_summary(samples)


# --- small helpers ----------------------------------------------------------------------


def _label(cand: _Candidate) -> str:
    if cand.spec.key != cand.spec.name:
        return f"candidate {cand.spec.key!r} ({cand.spec.name})"
    return f"candidate {cand.spec.name!r}"


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _show(value: object) -> str:
    plain = to_json_scalar(value)
    text = repr(plain)
    return text if len(text) <= 40 else text[:40] + "…"


def _jsonable(value: Any) -> Any:
    """Plain JSON types for params (numpy scalars unwrapped, others as strings)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    plain = to_json_scalar(value)
    if plain is None or isinstance(plain, str | int | float | bool):
        return plain
    return str(plain)
