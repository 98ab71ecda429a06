"""Hyperparameter search: a seeded Optuna TPE study per candidate, within a budget.

Optuna is an optional dependency (``pip install 'modelyard[tune]'``), imported only
when a spec asks for a search (:func:`require_optuna`).

:func:`run_search` samples parameters from a :class:`~modelyard.spec.model.SearchParam`
space with ``TPESampler(seed=seed)`` and scores each trial by cross-validation over
``folds``: pairs of row positions into the *training* frame, built by :func:`cv_folds`
(stratified / shuffled K-fold, group K-fold or a forward-chaining time split, following
the spec's split strategy). It never sees holdout or validation rows: the caller passes
only the training frame, and :func:`run_search` also checks the ids of every row a trial
fits or scores against the holdout ids, raising on any overlap, and records their digest
(``rows_sha256``, equal to the holdout record's ``train_ids_sha256``).

The budget: at most ``trials`` trials, and no new trial once ``timeout_s`` seconds have
passed (a running trial finishes; the first trial always runs). With the same inputs and
seed and no timeout hit, the trials and the best parameters are the same on every run.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

from modelyard.domain.signature import to_json_scalar
from modelyard.errors import InvalidInputError
from modelyard.spec.model import SearchParam
from modelyard.training.splits import _time_order, ids_digest

TUNE_INSTALL = "pip install 'modelyard[tune]'"
#: The Optuna sampler every search uses (seeded with the candidate's search seed).
SAMPLER = "TPESampler"
Positions = npt.NDArray[np.intp]
Fold = tuple[Positions, Positions]
#: ``fit_score(fit_positions, score_positions, params)``: fit on the training rows at
#: ``fit_positions`` with ``params``, return the metric on those at ``score_positions``
#: (``None``: undefined). Raises InvalidInputError when the fit fails.
FitScore = Callable[[Positions, Positions, dict[str, Any]], float | None]


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its sampled parameters, state, CV score and the rows it touched."""

    number: int
    params: dict[str, Any]
    state: str  # "complete" | "fail"
    score: float | None
    fold_scores: list[float]
    duration_s: float
    rows_sha256: str
    n_rows: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "number": self.number,
            "params": {k: to_json_scalar(v) for k, v in self.params.items()},
            "state": self.state,
            "score": self.score,
            "fold_scores": list(self.fold_scores),
            "duration_s": self.duration_s,
            "rows_sha256": self.rows_sha256,
            "n_rows": self.n_rows,
            "error": self.error,
        }


@dataclass(frozen=True)
class CandidateSearch:
    """The search of one candidate: its budget, every trial and the best parameters."""

    candidate: str
    metric: str
    direction: str
    cv_folds: int
    seed: int
    trials_budget: int
    timeout_s: float | None
    stopped_by: str  # "trials" | "timeout"
    trials: tuple[TrialRecord, ...]
    best_trial: int
    best_params: dict[str, Any]
    best_score: float
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the report's ``search`` entries)."""
        return {
            "candidate": self.candidate,
            "sampler": SAMPLER,
            "metric": self.metric,
            "direction": self.direction,
            "cv_folds": self.cv_folds,
            "seed": self.seed,
            "trials_budget": self.trials_budget,
            "timeout_s": self.timeout_s,
            "stopped_by": self.stopped_by,
            "n_trials": len(self.trials),
            "best_trial": self.best_trial,
            "best_params": {k: to_json_scalar(v) for k, v in self.best_params.items()},
            "best_score": self.best_score,
            "duration_s": self.duration_s,
            "trials": [t.to_dict() for t in self.trials],
        }


def require_optuna() -> Any:
    """The ``optuna`` module; InvalidInputError saying how to install it if missing."""
    try:
        return importlib.import_module("optuna")
    except ImportError:
        raise InvalidInputError(
            f"the spec's search section needs the optional dependency Optuna: {TUNE_INSTALL}",
            field="search",
        ) from None


def cv_folds(
    train: pd.DataFrame,
    *,
    strategy: str,
    target: str,
    column: str | None,
    n_folds: int,
    seed: int,
    classification: bool,
) -> list[Fold]:
    """``n_folds`` (fit, score) position pairs over the rows of ``train``.

    ``group``: whole groups of ``column`` per fold; ``time``: forward chaining ordered
    by ``column`` (score on later rows than the fit); otherwise stratified by ``target``
    (classification) or plain, shuffled with ``seed``. InvalidInputError
    (``field="search.cv_folds"``) when the training rows cannot fill the folds.
    """
    n = len(train)
    positions = np.arange(n, dtype=np.intp)
    if strategy == "group":
        groups = pd.factorize(train[column], sort=True)[0]
        n_groups = len(np.unique(groups))
        _check_folds(n_folds, n_groups, f"groups of {column!r}")
        splits = GroupKFold(n_splits=n_folds).split(positions, groups=groups)
    elif strategy == "time":
        order = _time_order(train[column])
        _check_folds(n_folds + 1, n, "rows")
        splits = ((order[a], order[b]) for a, b in TimeSeriesSplit(n_splits=n_folds).split(order))
    elif classification:
        counts = train[target].value_counts()
        label = to_json_scalar(counts.index[-1])
        _check_folds(n_folds, int(counts.iloc[-1]), f"rows of class {label!r}")
        splits = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(
            positions, train[target].to_numpy()
        )
    else:
        _check_folds(n_folds, n, "rows")
        splits = KFold(n_splits=n_folds, shuffle=True, random_state=seed).split(positions)
    return [
        (np.sort(np.asarray(a, dtype=np.intp)), np.sort(np.asarray(b, dtype=np.intp)))
        for a, b in splits
    ]


def _check_folds(n_folds: int, available: int, what: str) -> None:
    if available < n_folds:
        raise InvalidInputError(
            f"search.cv_folds: the training rows hold {available} {what}, too few for "
            f"{n_folds} folds; lower cv_folds or use more data",
            field="search.cv_folds",
        )


def run_search(
    *,
    candidate: str,
    space: Mapping[str, SearchParam],
    folds: Sequence[Fold],
    fit_score: FitScore,
    row_ids: pd.Index,
    holdout_ids: pd.Index,
    metric: str,
    higher_is_better: bool,
    trials: int,
    timeout_s: float | None,
    seed: int,
) -> CandidateSearch:
    """Search ``space`` for ``candidate`` within the budget; see the module docstring.

    ``row_ids`` are the ids of the training frame's rows (what ``folds`` index into);
    ``holdout_ids`` those of the holdout rows. InvalidInputError when a fold would touch
    a holdout id, or when every trial failed (naming the first failure).
    """
    optuna = require_optuna()
    if not folds:
        raise InvalidInputError("the search needs at least one fold", field="search.cv_folds")
    touched = np.unique(np.concatenate([np.concatenate(fold) for fold in folds]))
    if touched.size and (touched[0] < 0 or touched[-1] >= len(row_ids)):
        raise InvalidInputError("a fold indexes rows outside the training rows", field="search")
    touched_ids = row_ids[touched]
    leaked = touched_ids.intersection(holdout_ids)
    if len(leaked):  # cannot happen with training-only folds; checked, never assumed
        raise InvalidInputError(
            f"the search of {candidate!r} would touch {len(leaked)} holdout row(s) "
            f"(e.g. {to_json_scalar(leaked[0])!r})",
            field="search",
        )
    rows_sha256 = ids_digest(touched_ids)
    direction = "maximize" if higher_is_better else "minimize"
    records: list[TrialRecord] = []
    started = time.perf_counter()
    stopped_by = "trials"
    with _quiet(optuna):
        study = optuna.create_study(
            direction=direction, sampler=getattr(optuna.samplers, SAMPLER)(seed=seed)
        )
        for _ in range(trials):
            # like Optuna's own timeout: checked between trials, after at least one
            if records and timeout_s is not None and time.perf_counter() - started >= timeout_s:
                stopped_by = "timeout"
                break
            trial = study.ask()
            params = {name: _suggest(trial, name, param) for name, param in space.items()}
            tick = time.perf_counter()
            scores: list[float] = []
            error: str | None = None
            try:
                for fit_positions, score_positions in folds:
                    score = fit_score(fit_positions, score_positions, dict(params))
                    if score is None or not math.isfinite(score):
                        error = f"{metric} is undefined on a validation fold"
                        break
                    scores.append(float(score))
            except InvalidInputError as exc:
                error = exc.message
            mean = float(np.mean(scores)) if error is None else None
            if mean is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, mean)
            records.append(
                TrialRecord(
                    number=trial.number,
                    params=params,
                    state="fail" if mean is None else "complete",
                    score=mean,
                    fold_scores=scores,
                    duration_s=time.perf_counter() - tick,
                    rows_sha256=rows_sha256,
                    n_rows=len(touched_ids),
                    error=error,
                )
            )
    scored = [(r.score, r) for r in records if r.score is not None]
    if not scored:
        first = records[0].error if records else "no trial ran (trials < 1)"
        raise InvalidInputError(
            f"every search trial of candidate {candidate!r} failed; the first: {first}",
            field=f"search.space.{candidate}",
        )
    best_score, best = scored[0]  # ties: the earliest trial
    for score, record in scored[1:]:
        if score > best_score if higher_is_better else score < best_score:
            best_score, best = score, record
    return CandidateSearch(
        candidate=candidate,
        metric=metric,
        direction=direction,
        cv_folds=len(folds),
        seed=seed,
        trials_budget=trials,
        timeout_s=timeout_s,
        stopped_by=stopped_by,
        trials=tuple(records),
        best_trial=best.number,
        best_params=dict(best.params),
        best_score=best_score,
        duration_s=time.perf_counter() - started,
    )


def sample_params(space: Mapping[str, SearchParam]) -> dict[str, Any]:
    """One valid value per parameter (``low`` or the first choice), to check names early."""
    return {
        name: param.choices[0] if param.choices is not None else param.low
        for name, param in space.items()
    }


def _suggest(trial: Any, name: str, param: SearchParam) -> Any:
    if param.choices is not None:
        return trial.suggest_categorical(name, list(param.choices))
    if param.kind == "int":
        return trial.suggest_int(name, int(param.low or 0), int(param.high or 0), log=param.log)
    return trial.suggest_float(name, float(param.low or 0), float(param.high or 0), log=param.log)


@contextlib.contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Optuna's per-trial log lines off while searching (the trials are recorded)."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
