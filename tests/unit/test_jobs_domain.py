"""The job domain: states and transitions, parameters per kind, the retry policy."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from modelyard.domain.jobs import (
    KINDS,
    PARAMS,
    TERMINAL,
    TRAIN_MODELS,
    TRANSITIONS,
    Job,
    JobKind,
    JobStatus,
    RetryPolicy,
    can_transition,
    check_transition,
    is_job_id,
    new_job_id,
    parse_kind,
    parse_status,
    validate_params,
)
from modelyard.errors import ConflictError, InvalidInputError

Q, R, S, F, C = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)


def test_legal_transitions() -> None:
    legal = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert legal == {(Q, R), (Q, C), (R, S), (R, F), (R, C), (R, Q)}
    for status in JobStatus:
        for target in JobStatus:
            assert can_transition(status, target) == ((status, target) in legal)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_never_change(terminal: JobStatus) -> None:
    for target in JobStatus:
        with pytest.raises(ConflictError, match=f"is {terminal.value}"):
            check_transition("job_x", terminal, target)


def test_queued_cannot_finish_without_running() -> None:
    with pytest.raises(ConflictError, match="cannot become succeeded"):
        check_transition("job_x", Q, S)
    check_transition("job_x", Q, R)  # no error


def test_retry_policy_requeues_lost_workers_until_the_last_attempt() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert [policy.after_lost_worker(n) for n in (1, 2, 3, 4)] == [Q, Q, F, F]
    assert policy.after_lost_worker(1, cancel_requested=True) is C
    assert policy.after_error() is F  # the job's own error is final
    assert RetryPolicy(max_attempts=1).after_lost_worker(1) is F
    with pytest.raises(InvalidInputError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_kinds_statuses_and_ids() -> None:
    assert KINDS == ("train", "compile", "batch_predict", "drift_report")
    assert set(PARAMS) == set(JobKind)
    assert parse_kind("train") is JobKind.TRAIN
    with pytest.raises(InvalidInputError, match="unknown job kind 'deploy'") as exc:
        parse_kind("deploy")
    assert exc.value.field == "kind"
    assert parse_status("running") is R
    with pytest.raises(InvalidInputError) as exc:
        parse_status("done")
    assert exc.value.field == "status"
    job_id = new_job_id()
    assert is_job_id(job_id) and job_id != new_job_id()
    assert not is_job_id("job_../etc") and not is_job_id("{id}")


def test_train_params_defaults_and_coercion() -> None:
    params = validate_params("train", {"dataset": "churn:2", "target": "y", "seed": "7"})
    assert params == {
        "dataset": "churn:2",
        "target": "y",
        "model": "logistic_regression",
        "seed": 7,
    }
    assert validate_params("train", {"dataset": "churn", "target": "y", "seed": 3.0})["seed"] == 3


def test_other_kinds_params() -> None:
    assert validate_params("compile", {"model": "m:1", "tolerance": "0.001"}) == {
        "model": "m:1",
        "rows": 2000,
        "tolerance": 0.001,
    }
    assert validate_params("batch_predict", {"model": "m:production", "dataset": "d:3"}) == {
        "model": "m:production",
        "dataset": "d:3",
        "output": "d-predictions",
        "chunk_rows": 10_000,
    }
    named = validate_params("batch_predict", {"model": "m:1", "dataset": "d", "output": "scores"})
    assert named["output"] == "scores"
    assert validate_params("drift_report", {"endpoint": "ep"}) == {
        "endpoint": "ep",
        "window": "24h",
    }


@pytest.mark.parametrize(
    ("kind", "params", "field", "words"),
    [
        ("train", {"target": "y"}, "params.dataset", "needs params.dataset"),
        ("train", {"dataset": "d"}, "params.target", "needs params.target"),
        ("train", {"dataset": "d:0", "target": "y"}, "params.dataset", "number >= 1"),
        ("train", {"dataset": "../x", "target": "y"}, "params.dataset", "invalid dataset"),
        ("train", {"dataset": "d", "target": "y", "seed": "x"}, "params.seed", "whole number"),
        ("train", {"dataset": "d", "target": "y", "seed": True}, "params.seed", "whole number"),
        ("train", {"dataset": "d", "target": "y", "seed": -1}, "params.seed", "from 0"),
        ("train", {"dataset": "d", "target": "y", "name": "a b"}, "params.name", "invalid model"),
        ("train", {"dataset": "d", "target": " "}, "params.target", "1-256 characters"),
        ("train", {"dataset": 3, "target": "y"}, "params.dataset", "must be a string"),
        ("train", {"dataset": "d", "target": "y", "lr": 1}, "params.lr", "unknown parameter"),
        ("compile", {"model": "m"}, "params.model", "expected NAME:VERSION"),
        ("compile", {"model": "m:1", "rows": 0}, "params.rows", "from 1 to"),
        ("compile", {"model": "m:1", "tolerance": "abc"}, "params.tolerance", "a number"),
        ("compile", {"model": "m:1", "tolerance": "nan"}, "params.tolerance", "finite"),
        ("batch_predict", {"dataset": "d"}, "params.model", "needs params.model"),
        (
            "batch_predict",
            {"model": "m:1", "dataset": "d", "output": "a/b"},
            "params.output",
            "invalid dataset",
        ),
        ("drift_report", {}, "params.endpoint", "needs params.endpoint"),
        ("drift_report", {"endpoint": "ep", "window": "24"}, "params.window", "e.g. 30m"),
        ("drift_report", {"endpoint": "ep", "window": "0d"}, "params.window", "invalid window"),
    ],
)
def test_bad_params_name_the_field(
    kind: str, params: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInputError, match=words) as exc:
        validate_params(kind, params)
    assert exc.value.field == field


def test_params_must_be_an_object() -> None:
    with pytest.raises(InvalidInputError) as exc:
        validate_params("train", ["dataset"])  # type: ignore[arg-type]
    assert exc.value.field == "params"


def test_job_to_dict_is_json_ready() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = Job("job_1", "train", "queued", {"dataset": "d:1"}, 0, "me", at)
    data = job.to_dict()
    assert data["created_at"] == "2026-01-02T03:04:05+00:00"
    assert data["started_at"] is None and not job.terminal
    assert Job("job_1", "train", "failed", {}, 1, "me", at).terminal


def test_domain_jobs_is_pure() -> None:
    code = (
        "import sys, modelyard.domain.jobs\n"
        "print(','.join(m for m in ('sqlalchemy', 'starlette', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_train_models_match_the_trainer() -> None:
    from modelyard.training.estimators import MODEL_KINDS

    assert TRAIN_MODELS == MODEL_KINDS
    with pytest.raises(InvalidInputError, match="unknown model kind 'svm'") as exc:
        validate_params("train", {"dataset": "d", "target": "y", "model": "svm"})
    assert exc.value.field == "params.model"


def test_submitting_loads_no_data_or_ml_stack() -> None:
    code = (
        "import sys, modelyard.jobs.service, modelyard.cli.jobs\n"
        "print(','.join(m for m in ('pandas', 'sklearn', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
