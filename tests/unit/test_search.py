"""Hyperparameter search: the spec section, the budget, reproducibility, holdout exclusion."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from threadpoolctl import threadpool_limits

from modelyard.errors import InvalidInputError
from modelyard.spec.model import DEFAULT_SEARCH_SPACES, ProjectSpec, parse_spec, spec_hash
from modelyard.training import pipeline, search
from modelyard.training.pipeline import SpecResult, run_spec
from modelyard.training.splits import ids_digest

FAST = {"latency_calls": 5}
C_SPACE = {"logistic_regression": {"C": {"low": 0.001, "high": 100.0, "log": True}}}


def spec_with(
    search_section: Any, candidates: list[Any] | None = None, **extra: Any
) -> ProjectSpec:
    data: dict[str, Any] = {
        "task": "binary_classification",
        "data": {"dataset": "d", "target": "target"},
        "candidates": [
            c if isinstance(c, dict) else {"name": c}
            for c in (candidates or ["logistic_regression"])
        ],
        "seeds": [0],
        "evaluation": {"n_boot": 20},
        "search": search_section,
    }
    data.update(extra)
    return parse_spec(data)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Breast cancer with shuffled, offset index labels: ids are not row positions."""
    data: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    labels = np.random.default_rng(7).permutation(len(data)) + 10_000
    return data.set_axis(labels, axis=0)


@pytest.fixture(scope="module")
def tuned(frame: pd.DataFrame) -> SpecResult:
    return run_spec(spec_with({"trials": 4, "space": C_SPACE}), frame, **FAST)


# --- the budget and the result ------------------------------------------------------------


def test_search_stops_at_the_trial_budget_and_trains_with_the_best_params(
    tuned: SpecResult,
) -> None:
    (found,) = tuned.search
    assert found.candidate == "logistic_regression"
    assert len(found.trials) == found.trials_budget == 4
    assert found.stopped_by == "trials" and found.cv_folds == 3
    assert found.metric == "roc_auc" and found.direction == "maximize"
    assert all(t.state == "complete" and len(t.fold_scores) == 3 for t in found.trials)
    scores = [t.score for t in found.trials]
    assert found.best_score == max(s for s in scores if s is not None)
    best = found.trials[found.best_trial]
    assert best.score == found.best_score and found.best_params == best.params
    assert 0.001 <= found.best_params["C"] <= 100.0
    # the normal training run uses the tuned parameters
    assert tuned.candidates[0].params == found.best_params
    assert tuned.params["candidate_params"] == found.best_params
    assert tuned.params["estimator"]["C"] == found.best_params["C"]
    report = tuned.to_dict()["search"][0]
    assert report["n_trials"] == 4 and len(report["trials"]) == 4
    assert "search_s" in tuned.durations


def test_timeout_stops_the_search_after_the_running_trial(frame: pd.DataFrame) -> None:
    result = run_spec(spec_with({"trials": 50, "timeout_s": 1e-9, "space": C_SPACE}), frame, **FAST)
    (found,) = result.search
    assert len(found.trials) == 1 and found.stopped_by == "timeout"
    assert any("stopped at search.timeout_s after 1 of 50 trials" in n for n in result.notes)


def test_lower_is_better_metrics_are_minimised(frame: pd.DataFrame) -> None:
    result = run_spec(
        spec_with({"trials": 3, "metric": "log_loss", "space": C_SPACE}), frame, **FAST
    )
    (found,) = result.search
    assert found.metric == "log_loss" and found.direction == "minimize"
    assert found.best_score == min(t.score for t in found.trials if t.score is not None)


def test_the_search_is_reproducible_with_the_same_seed(
    frame: pd.DataFrame, tuned: SpecResult
) -> None:
    again = run_spec(spec_with({"trials": 4, "space": C_SPACE}), frame, **FAST)

    def trials(result: SpecResult) -> list[tuple[dict[str, Any], float | None]]:
        return [(t.params, t.score) for t in result.search[0].trials]

    assert trials(again) == trials(tuned)
    assert again.search[0].best_params == tuned.search[0].best_params
    assert again.metrics == tuned.metrics
    other_seed = run_spec(spec_with({"trials": 4, "space": C_SPACE}, seeds=[1]), frame, **FAST)
    assert [p for p, _ in trials(other_seed)] != [p for p, _ in trials(tuned)]


def test_candidates_without_a_space_are_trained_untuned(frame: pd.DataFrame) -> None:
    spec = spec_with(
        {"trials": 2, "space": {**C_SPACE, "forest": {}}},
        candidates=[
            "logistic_regression",
            {"name": "random_forest", "label": "forest", "params": {"n_estimators": 10}},
        ],
    )
    result = run_spec(spec, frame, **FAST)
    assert [s.candidate for s in result.search] == ["logistic_regression"]
    assert result.candidates[1].params == {"n_estimators": 10}


# --- the holdout never reaches the search ---------------------------------------------------

RECORDING_MODULE = """
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CALLS = []  # (what, row ids) for every fit and predict


class Recording(ClassifierMixin, BaseEstimator):
    def __init__(self, C=1.0):
        self.C = C

    def fit(self, x, y):
        CALLS.append(("fit", list(x.index)))
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=500))
        self.model_.fit(x, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, x):
        CALLS.append(("predict", list(x.index)))
        return self.model_.predict(x)

    def predict_proba(self, x):
        CALLS.append(("predict", list(x.index)))
        return self.model_.predict_proba(x)


def fit(x, y, seed, C=1.0):
    return Recording(C=C).fit(x, y)


def explode(x, y, seed, C=1.0):
    raise RuntimeError("out of coffee")
"""


@pytest.fixture
def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    name = f"recording_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(RECORDING_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


def test_holdout_and_validation_rows_never_reach_a_trial(
    frame: pd.DataFrame, recording: Any
) -> None:
    name = f"{recording.__name__}:fit"
    spec = spec_with(
        {"trials": 3, "cv_folds": 3, "space": {"mine": {"C": {"low": 0.01, "high": 10.0}}}},
        candidates=[{"name": name, "label": "mine"}],
        split={"holdout": 0.2, "validation": 0.2},
    )
    result = run_spec(spec, frame, **FAST)
    holdout = set(result.holdout_ids)
    (found,) = result.search
    # the search ran first: per trial and fold one fit, then predict + predict_proba
    n_search_calls = len(found.trials) * found.cv_folds * 3
    search_calls = recording.CALLS[:n_search_calls]
    assert [what for what, _ in search_calls[:3]] == ["fit", "predict", "predict"]
    seen = {i for _, ids in search_calls for i in ids}
    assert not seen & holdout
    # exactly the training rows: no holdout, no validation row
    assert ids_digest(sorted(seen)) == result.holdout.train_ids_sha256
    assert len(seen) == result.holdout.n_train
    assert all(t.rows_sha256 == result.holdout.train_ids_sha256 for t in found.trials)
    # the final fits train on training rows only, too
    fits = [set(ids) for what, ids in recording.CALLS[n_search_calls:] if what == "fit"]
    assert fits and all(not f & holdout for f in fits)


def test_the_splitter_only_gets_training_rows(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured: list[tuple[pd.DataFrame, list[search.Fold]]] = []

    def spy(train: pd.DataFrame, **kwargs: Any) -> list[search.Fold]:
        folds = search.cv_folds(train, **kwargs)
        captured.append((train, folds))
        return folds

    monkeypatch.setattr(pipeline, "cv_folds", spy)
    result = run_spec(spec_with({"trials": 2, "space": C_SPACE}), frame, **FAST)
    ((train, folds),) = captured
    assert not set(train.index) & set(result.holdout_ids)
    for fit_at, score_at in folds:
        assert not set(fit_at) & set(score_at)
        assert not set(train.index[fit_at]) & set(result.holdout_ids)
        assert not set(train.index[score_at]) & set(result.holdout_ids)
    assert sorted(np.concatenate([s for _, s in folds])) == list(range(len(train)))


def test_a_fold_touching_a_holdout_id_is_refused() -> None:
    ids = pd.Index([10, 11, 12, 13])
    with pytest.raises(InvalidInputError, match="would touch 1 holdout row"):
        search.run_search(
            candidate="c",
            space=spec_with({"space": C_SPACE}).search.space["logistic_regression"],  # type: ignore[union-attr]
            folds=[(np.array([0, 1]), np.array([2, 3]))],
            fit_score=lambda *_: 1.0,
            row_ids=ids,
            holdout_ids=pd.Index([13, 99]),
            metric="roc_auc",
            higher_is_better=True,
            trials=1,
            timeout_s=None,
            seed=0,
        )


def test_group_and_time_folds_keep_their_strategy() -> None:
    train = pd.DataFrame(
        {
            "g": np.repeat(list("abcdef"), 5),
            "t": pd.date_range("2024-01-01", periods=30, freq="D")[::-1],
            "target": [0, 1] * 15,
        }
    )
    common = {"target": "target", "n_folds": 3, "seed": 0, "classification": True}
    for fit_at, score_at in search.cv_folds(train, strategy="group", column="g", **common):
        assert not set(train["g"].iloc[fit_at]) & set(train["g"].iloc[score_at])
    for fit_at, score_at in search.cv_folds(train, strategy="time", column="t", **common):
        assert train["t"].iloc[fit_at].max() < train["t"].iloc[score_at].min()
    with pytest.raises(InvalidInputError, match="6 groups of 'g', too few for 7 folds") as info:
        search.cv_folds(train, strategy="group", column="g", **{**common, "n_folds": 7})
    assert info.value.field == "search.cv_folds"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ({"trials": 0}, "search.trials", "greater than or equal to 1 (got 0)"),
        ({"cv_folds": 1}, "search.cv_folds", "greater than or equal to 2 (got 1)"),
        ({"timeout_s": -5}, "search.timeout_s", "greater than 0 (got -5)"),
        ({"tirals": 3}, "search.tirals", "unknown key 'tirals'; allowed keys: trials, timeout_s"),
        ({"metric": "r2"}, "search.metric", "unknown metric 'r2' for binary_classification; "),
        (
            {"space": {"forest": {}}},
            "search.space.forest",
            "'forest' is not a candidate of this spec; candidates: logistic_regression",
        ),
        (
            {"space": {"logistic_regression": {"C": {"low": 5, "high": 1}}}},
            "search.space.logistic_regression.C",
            "low (5) must be less than high (1)",
        ),
        (
            {"space": {"logistic_regression": {"C": [1, 2]}}},
            "search.space.logistic_regression.C",
            "expected {low, high, log} or {choices: [...]}, got [1, 2]",
        ),
        (
            {"space": {"logistic_regression": {"C": {"lo": 1}}}},
            "search.space.logistic_regression.C.lo",
            "unknown key 'lo'; allowed keys: low, high, log, choices",
        ),
        (
            {"space": {"logistic_regression": {"C": {"low": "tiny", "high": 1}}}},
            "search.space.logistic_regression.C.low",
            "expected a number, got 'tiny'",
        ),
        (
            {"space": {"logistic_regression": {"C": {"low": 0.0, "high": 1.0, "log": True}}}},
            "search.space.logistic_regression.C.low",
            "a log range needs low > 0, got 0.0",
        ),
        (
            {"space": {"logistic_regression": {"C": {"low": 1.0}}}},
            "search.space.logistic_regression.C.high",
            "a range needs both low and high",
        ),
        (
            {"space": {"logistic_regression": {"penalty": {"choices": []}}}},
            "search.space.logistic_regression.penalty.choices",
            "choices must be a non-empty list, got []",
        ),
        (
            {"space": {"logistic_regression": {"C": {"choices": [1, 2], "low": 1}}}},
            "search.space.logistic_regression.C",
            "use either {low, high, log} or {choices: [...]}, not both",
        ),
        (
            {"space": {"logistic_regression": {}}},
            "search.space",
            "no candidate has anything to search",
        ),
        (True, "search", "expected a mapping, got True"),
    ],
)
def test_bad_search_sections_name_the_key_the_value_and_what_is_allowed(
    section: Any, field: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        spec_with(section)
    assert info.value.field == field
    assert f"{field}: " in info.value.message and message in info.value.message


def test_a_searched_parameter_cannot_also_be_fixed() -> None:
    with pytest.raises(InvalidInputError) as info:
        spec_with(
            {"space": C_SPACE}, candidates=[{"name": "logistic_regression", "params": {"C": 1}}]
        )
    assert info.value.field == "search.space.logistic_regression.C"
    assert "'C' is fixed in candidates.0.params; fix it or search it, not both" in str(info.value)


def test_an_unknown_parameter_fails_before_any_trial(frame: pd.DataFrame) -> None:
    spec = spec_with({"space": {"logistic_regression": {"Cee": {"low": 0.1, "high": 1.0}}}})
    with pytest.raises(
        InvalidInputError, match=r"unknown parameter\(s\).*Cee; allowed: .*C,"
    ) as info:
        run_spec(spec, frame, **FAST)
    assert info.value.field == "search.space.logistic_regression"


def test_every_trial_failing_is_a_clear_error(frame: pd.DataFrame, recording: Any) -> None:
    name = f"{recording.__name__}:explode"
    spec = spec_with(
        {"trials": 2, "space": {"mine": {"C": {"low": 0.1, "high": 1.0}}}},
        candidates=[{"name": name, "label": "mine"}],
    )
    with pytest.raises(
        InvalidInputError,
        match="every search trial of candidate 'mine' failed; "
        "the first: .*raised RuntimeError: out of coffee",
    ) as info:
        run_spec(spec, frame, **FAST)
    assert info.value.field == "search.space.mine"


def test_missing_optuna_says_how_to_install_it(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_with({"trials": 2})  # parsing needs no optuna
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna → ImportError
    with pytest.raises(InvalidInputError, match=r"pip install 'modelyard\[tune\]'") as info:
        run_spec(spec, frame, **FAST)
    assert info.value.field == "search"
    run_spec(spec_with(None), frame, **FAST)  # no search, no optuna needed


# --- defaults and normalisation ---------------------------------------------------------------


def test_default_spaces_fill_the_built_in_candidates() -> None:
    spec = spec_with(
        {"trials": 20},
        candidates=[
            {"name": "logistic_regression", "params": {"C": 1.0}},
            {"name": "random_forest", "params": {"n_estimators": 50}},
            "hist_gradient_boosting",
        ],
    )
    assert spec.search is not None
    space = spec.search.space
    assert space["logistic_regression"] == {}  # its only default parameter is fixed
    assert set(space["random_forest"]) == set(DEFAULT_SEARCH_SPACES["random_forest"]) - {
        "n_estimators"
    }
    assert space["random_forest"]["max_depth"].kind == "int"
    assert space["random_forest"]["max_features"].kind == "categorical"
    assert space["hist_gradient_boosting"]["learning_rate"].kind == "float"
    assert spec.search.cv_folds == 3 and spec.search.timeout_s is None
    again = parse_spec(spec.model_dump(mode="json"))
    assert again == spec and spec_hash(again) == spec_hash(spec)


def test_a_spec_without_search_dumps_and_hashes_as_before() -> None:
    plain = spec_with(None)
    assert "search" not in plain.model_dump()
    with_search = spec_with({"trials": 5})
    assert with_search.model_dump()["search"]["trials"] == 5
    assert spec_hash(plain) != spec_hash(with_search)
