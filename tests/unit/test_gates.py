"""Acceptance gates: parsing, evaluation and every error case."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from modelyard.domain.evaluation import MetricEstimate, fairness_report
from modelyard.domain.gates import (
    Gate,
    build_gate_metrics,
    evaluate_gate,
    evaluate_gates,
    gates_passed,
    parse_gate,
    parse_gates,
    resolve_metric,
)
from modelyard.errors import InvalidInputError

METRICS: dict[str, Any] = {
    "roc_auc": {"value": 0.85, "ci_low": 0.82, "ci_high": 0.88, "n": 1000},
    "ece": {"value": 0.03, "ci_low": 0.02, "ci_high": 0.05, "n": 1000},
    "log_loss": {"value": 0.40, "ci_low": 0.38, "ci_high": 0.42, "n": 1000},
    "fairness": {"sex": {"dp_diff": 0.04, "eo_diff": 0.12, "groups": {}}},
    "latency": {"p99_ms": 7.5},
    "broken": {"value": None},
    "nan_metric": {"value": math.nan},
    "flag": True,
}
PRODUCTION: dict[str, Any] = {
    "roc_auc": {"value": 0.84, "ci_low": 0.80, "ci_high": 0.87, "n": 1000},
    "log_loss": {"value": 0.45},
}


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "metric", "op", "threshold", "against"),
    [
        ("roc_auc.ci_low >= 0.80", "roc_auc.ci_low", ">=", 0.8, None),
        ("ece <= 0.05", "ece", "<=", 0.05, None),
        ("fairness.sex.dp_diff<=0.1", "fairness.sex.dp_diff", "<=", 0.1, None),
        ("latency.p99_ms < 10", "latency.p99_ms", "<", 10.0, None),
        ("  accuracy   >   .5 ", "accuracy", ">", 0.5, None),
        ("r2 == 1", "r2", "==", 1.0, None),
        ("mae <= 1e-3", "mae", "<=", 0.001, None),
        ("fairness.age-band.dp_diff <= 0.2", "fairness.age-band.dp_diff", "<=", 0.2, None),
        ("beats: production by roc_auc >= 0.005", "roc_auc", ">=", 0.005, "production"),
        ("beats:production by log_loss <= -0.01", "log_loss", "<=", -0.01, "production"),
        (
            "beats: production  by  roc_auc.ci_low > +2E-2",
            "roc_auc.ci_low",
            ">",
            0.02,
            "production",
        ),
    ],
)
def test_parse(
    expression: str, metric: str, op: str, threshold: float, against: str | None
) -> None:
    gate = parse_gate(expression)
    assert (gate.metric, gate.op, gate.threshold, gate.against) == (
        metric,
        op,
        pytest.approx(threshold),
        against,
    )
    assert gate.expression == expression
    assert gate.path == tuple(metric.split("."))
    json.dumps(gate.to_dict())


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "non-empty string"),
        ("   ", "non-empty string"),
        ("roc_auc", "no comparison operator"),
        ("roc_auc 0.8", "no comparison operator"),
        ("roc_auc = 0.8", "operator '=' is not allowed"),
        ("roc_auc != 0.8", "operator '!=' is not allowed"),
        ("roc_auc => 0.8", "operator '=>' is not allowed"),
        (">= 0.8", "metric is missing"),
        ("roc auc >= 0.8", "not a metric path"),
        ("roc_auc. >= 0.8", "not a metric path"),
        ("1roc >= 0.8", "not a metric path"),
        ("roc_auc >= high", "not a number"),
        ("roc_auc >= ", "not a number"),
        ("roc_auc >= 0.8 0.9", "not a number"),
        ("0.7 <= roc_auc <= 0.9", "not a metric path"),
        ("roc_auc >= 0.8 <= 0.9", "only one comparison"),
        ("beats: production roc_auc >= 0.1", "a 'beats' gate reads"),
        ("beats production by roc_auc >= 0.1", "a 'beats' gate reads"),
        ("beats: staging by roc_auc >= 0.1", "cannot beat 'staging'"),
        ("beats: production by >= 0.1", "metric is missing"),
        ("beats: production by roc_auc", "no comparison operator"),
    ],
)
def test_parse_errors_name_the_expression_and_what_is_allowed(expression: str, reason: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_gate(expression)
    message = info.value.message
    assert repr(expression) in message
    assert reason in message
    assert "Allowed:" in message and ">=, <=, >, <, ==" in message
    assert info.value.field == "gates"


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(InvalidInputError, match="non-empty string"):
        parse_gate(0.8)  # type: ignore[arg-type]


def test_parse_gates_stops_at_first_bad_one() -> None:
    assert len(parse_gates(["ece <= 0.1", "roc_auc >= 0.5"])) == 2
    with pytest.raises(InvalidInputError, match="'nope'"):
        parse_gates(["ece <= 0.1", "nope"])


def test_metric_named_like_beats_prefix_is_a_plain_gate() -> None:
    gate = parse_gate("beats_rate >= 0.5")
    assert gate.against is None and gate.metric == "beats_rate"


# --- evaluation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "passed", "actual"),
    [
        ("roc_auc >= 0.85", True, 0.85),
        ("roc_auc > 0.85", False, 0.85),
        ("roc_auc.value < 0.9", True, 0.85),
        ("roc_auc.ci_low >= 0.80", True, 0.82),
        ("roc_auc.ci_low >= 0.83", False, 0.82),
        ("roc_auc.ci_high <= 0.88", True, 0.88),
        ("roc_auc.n == 1000", True, 1000.0),
        ("ece <= 0.05", True, 0.03),
        ("ece == 0.030000000001", True, 0.03),
        ("ece == 0.031", False, 0.03),
        ("fairness.sex.dp_diff <= 0.1", True, 0.04),
        ("fairness.sex.eo_diff <= 0.1", False, 0.12),
        ("latency.p99_ms <= 10", True, 7.5),
        ("latency.p99_ms < 5", False, 7.5),
    ],
)
def test_evaluate(expression: str, passed: bool, actual: float) -> None:
    result = evaluate_gate(expression, METRICS)
    assert result.passed is passed
    assert result.actual == pytest.approx(actual)
    assert result.expression == expression
    assert result.threshold == parse_gate(expression).threshold
    if passed:
        assert "needs" not in result.message
    else:
        assert "needs" in result.message
    json.dumps(result.to_dict())


@pytest.mark.parametrize(
    ("expression", "missing"),
    [
        ("pr_auc >= 0.5", "pr_auc"),
        ("roc_auc.ci_mid >= 0.5", "roc_auc.ci_mid"),
        ("fairness.race.dp_diff <= 0.1", "fairness.race.dp_diff"),
        ("fairness.sex <= 0.1", "fairness.sex"),  # a dict without "value"
        ("fairness.sex.groups <= 0.1", "fairness.sex.groups"),
        ("latency.p99_ms.value.x <= 10", "latency.p99_ms.value.x"),
        ("broken >= 0", "broken"),
        ("nan_metric >= 0", "nan_metric"),
        ("flag == 1", "flag"),
    ],
)
def test_missing_metric_fails_without_raising(expression: str, missing: str) -> None:
    result = evaluate_gate(expression, METRICS)
    assert result.passed is False
    assert result.actual is None
    assert result.message == f"metric {missing} not computed"


def test_beats_production() -> None:
    win = evaluate_gate("beats: production by roc_auc >= 0.005", METRICS, PRODUCTION)
    assert win.passed and win.actual == pytest.approx(0.01)
    assert "candidate 0.85" in win.message and "production 0.84" in win.message
    lose = evaluate_gate("beats: production by roc_auc >= 0.02", METRICS, PRODUCTION)
    assert not lose.passed and "needs >= 0.02" in lose.message
    lower_loss = evaluate_gate("beats: production by log_loss <= -0.01", METRICS, PRODUCTION)
    assert lower_loss.passed and lower_loss.actual == pytest.approx(-0.05)


def test_beats_without_production_passes() -> None:
    result = evaluate_gate("beats: production by roc_auc >= 0.005", METRICS, None)
    assert result.passed is True
    assert result.actual is None
    assert result.message == "no production version to beat"


def test_beats_with_missing_metrics_fails() -> None:
    gate = "beats: production by ece <= 0"
    result = evaluate_gate(gate, METRICS, PRODUCTION)
    assert not result.passed
    assert result.message == "metric ece for production not computed"
    candidate_missing = evaluate_gate("beats: production by pr_auc >= 0", METRICS, PRODUCTION)
    assert candidate_missing.message == "metric pr_auc not computed"
    assert not evaluate_gate(gate, METRICS, {}).passed  # empty dict is a production version


def test_evaluate_gates_and_passed() -> None:
    gates = ["roc_auc.ci_low >= 0.8", parse_gate("ece <= 0.05"), "latency.p99_ms <= 10"]
    results = evaluate_gates(gates, METRICS)
    assert [r.passed for r in results] == [True, True, True]
    assert gates_passed(results)
    results.append(evaluate_gate("pr_auc >= 0.1", METRICS))
    assert not gates_passed(results)
    assert gates_passed([])
    with pytest.raises(InvalidInputError):
        evaluate_gates(["ece <= 0.05", "ece =< 0.05"], METRICS)


def test_resolve_metric() -> None:
    assert resolve_metric(METRICS, "roc_auc") == 0.85
    assert resolve_metric(METRICS, ("roc_auc", "ci_low")) == 0.82
    assert resolve_metric({"x": 3}, "x") == 3.0
    assert resolve_metric({"x": "3"}, "x") is None
    assert resolve_metric({"x": math.inf}, "x") is None


def test_build_gate_metrics_from_evaluation_objects() -> None:
    fairness = fairness_report("sex", ["a", "a", "b", "b"], [1, 0, 1, 0], [1, 0, 0, 0])
    metrics = build_gate_metrics(
        {"roc_auc": MetricEstimate(0.9, 0.85, 0.95, 100), "custom": 3.0},
        fairness={"sex": fairness},
        latency={"p99_ms": 4.0},
        improvement={"roc_auc": MetricEstimate(0.2, 0.1, 0.3, 100), "mae": {"value": 1.0}},
    )
    json.dumps(metrics)
    results = evaluate_gates(
        [
            "roc_auc.ci_low >= 0.8",
            "custom == 3",
            "fairness.sex.dp_diff <= 0.5",
            "latency.p99_ms <= 10",
            "improvement.roc_auc.ci_low > 0",
            "improvement.mae >= 1",
        ],
        metrics,
    )
    assert all(r.passed for r in results), [r.message for r in results]


def test_gate_is_a_value_object() -> None:
    assert parse_gate("ece <= 0.05") == Gate("ece <= 0.05", "ece", "<=", 0.05)
