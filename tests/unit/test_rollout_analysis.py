"""Canary analysis: the tests behind promote / hold / rollback / pause, and the config."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from modelyard.domain.rollout import (
    ArmWindow,
    CanaryConfig,
    Guardrails,
    Outcome,
    StepAnalysis,
    StepProgress,
    analyze_step,
    mixture_sprt,
    output_shift,
    quantile_test,
)
from modelyard.errors import InvalidInputError

CONFIG = CanaryConfig()
MU = math.log(20.0)


def _lat(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    return rng.lognormal(MU, 0.5, n) * scale


def _arms(
    seed: int = 0,
    *,
    n_canary: int = 3000,
    n_primary: int = 57_000,
    canary_errors: int = 15,
    primary_errors: int = 285,
    canary_scale: float = 1.0,
    samples: int = 5000,
    **extra: Any,
) -> tuple[ArmWindow, ArmWindow]:
    rng = np.random.default_rng(seed)
    canary = ArmWindow(
        n_canary,
        canary_errors,
        _lat(rng, min(n_canary, samples), canary_scale),
        **{k[7:]: v for k, v in extra.items() if k.startswith("canary_")},
    )
    primary = ArmWindow(
        n_primary,
        primary_errors,
        _lat(rng, min(n_primary, samples)),
        **{k[8:]: v for k, v in extra.items() if k.startswith("primary_")},
    )
    return canary, primary


def _look(
    canary: ArmWindow,
    primary: ArmWindow,
    *,
    config: CanaryConfig = CONFIG,
    elapsed: float = 300.0,
    progress: StepProgress | None = None,
    step: int = 0,
) -> StepAnalysis:
    return analyze_step(
        config,
        canary,
        primary,
        step=step,
        step_started_at=1000.0,
        now=1000.0 + elapsed,
        progress=progress,
    )


# --- the statistics -----------------------------------------------------------------


def test_mixture_sprt_basics() -> None:
    assert mixture_sprt(0, 0, 0.05) == 0.0
    assert mixture_sprt(3, 10, 0.0) == 0.0
    assert mixture_sprt(45, 330, 0.05) > math.log(1 / 0.001)  # 3x the expected share
    assert mixture_sprt(5, 330, 0.05) < 0.0  # fewer than expected: no evidence


def test_mixture_sprt_is_valid_under_continuous_monitoring() -> None:
    # Equal 0.5% error rates, canary at 5% and 50%: 40 looks at cumulative counts.
    # Ville's inequality bounds the chance of *ever* crossing 1/alpha by alpha.
    alpha, streams, looks = 0.05, 600, 40
    rng = np.random.default_rng(11)
    for share in (0.05, 0.5):
        n_canary = rng.binomial(12_000, share, size=(streams, looks))
        errors_c = rng.binomial(n_canary, 0.005).cumsum(axis=1)
        errors_p = rng.binomial(12_000 - n_canary, 0.005).cumsum(axis=1)
        exposure = n_canary.cumsum(axis=1) / (12_000 * np.arange(1, looks + 1))
        crossed = 0
        for s in range(streams):
            crossed += any(
                mixture_sprt(
                    int(errors_c[s, k]), int(errors_c[s, k] + errors_p[s, k]), float(exposure[s, k])
                )
                >= math.log(1 / alpha)
                for k in range(looks)
            )
        assert crossed / streams <= alpha, (share, crossed)


def test_quantile_test_sees_a_tail_only_slowdown() -> None:
    rng = np.random.default_rng(3)
    primary = _lat(rng, 5000)
    equal = quantile_test(_lat(rng, 3000), primary, 0.99)
    assert equal["p_value"] > 0.01
    # Same median, p99 30% slower: the slowdown lives in the tail only.
    slow_tail = rng.lognormal(MU, 0.5 + math.log(1.3) / 2.326, 3000)
    assert abs(np.median(slow_tail) / np.median(primary) - 1) < 0.05
    assert quantile_test(slow_tail, primary, 0.99)["p_value"] < 1e-6


def test_output_shift_scores_and_labels() -> None:
    rng = np.random.default_rng(4)
    same = output_shift(rng.beta(2, 5, 2000), rng.beta(2, 5, 2000), "auto")
    assert same["kind"] == "scores" and same["p_value"] > 0.01 and same["effect"] < 0.1
    moved = output_shift(rng.beta(3, 5, 2000), rng.beta(2, 5, 2000), "auto")
    assert moved["p_value"] < 1e-6 and moved["effect"] > 0.1
    labels = output_shift(
        np.array(["yes"] * 400 + ["no"] * 600), np.array(["yes"] * 200 + ["no"] * 800), "auto"
    )
    assert labels["kind"] == "labels"
    assert labels["effect"] == pytest.approx(0.2)
    assert labels["shares"]["yes"] == {"canary": 0.4, "primary": 0.2}
    empty = output_shift(np.full(200, np.nan), rng.beta(2, 5, 200), "scores")
    assert (empty["p_value"], empty["effect"]) == (1.0, 0.0)
    single = output_shift(np.zeros(200, dtype=int), np.zeros(300, dtype=int), "labels")
    assert single["p_value"] == 1.0 and single["effect"] == 0.0


# --- outcomes ------------------------------------------------------------------------


def test_promotes_a_healthy_canary_with_json_evidence() -> None:
    result = _look(*_arms())
    assert result.outcome is Outcome.PROMOTE, result.reasons
    assert result.reason.startswith("no regression found on error rate, latency")
    text = json.dumps(result.evidence, allow_nan=False)
    assert '"p_value"' in text
    tests = result.evidence["tests"]
    assert tests["error_rate"]["alpha"] == pytest.approx(0.05 / 4 / 3)
    assert tests["latency"]["alpha"] == pytest.approx(0.05 / 4 / 3 / 2)  # first test look
    assert tests["quality"] == {"skipped": "no feedback on one or both arms"}
    assert result.progress == StepProgress(
        looks=1, test_looks=1, error_p=tests["error_rate"]["p_value"], quality_p=1.0
    )


@pytest.mark.parametrize(
    ("elapsed", "n_canary", "missing"),
    [
        (120.0, 3000, "120 of 300 s elapsed"),
        (300.0, 400, "canary has 400 of 1000 requests"),
    ],
)
def test_holds_without_enough_data(elapsed: float, n_canary: int, missing: str) -> None:
    result = _look(*_arms(n_canary=n_canary, canary_errors=2), elapsed=elapsed)
    assert result.outcome is Outcome.HOLD
    assert missing in result.reason
    assert result.evidence["min_data"]["met"] is False
    assert "latency" not in result.evidence["tests"]  # no tail test spent on thin data
    assert result.progress.test_looks == 0


def test_glaring_error_rate_rolls_back_before_min_data() -> None:
    result = _look(
        *_arms(n_canary=300, canary_errors=30, n_primary=6000, primary_errors=30), elapsed=60.0
    )
    assert result.outcome is Outcome.ROLLBACK
    assert "error rate 10.00% is higher than primary's 0.50%" in result.reason


def test_tripled_error_rate_rolls_back() -> None:
    result = _look(*_arms(canary_errors=45))
    assert result.outcome is Outcome.ROLLBACK
    assert result.evidence["tests"]["error_rate"]["rejected"] is True


def test_error_p_value_is_the_running_minimum() -> None:
    progress = StepProgress(looks=3, test_looks=0, error_p=1e-6, quality_p=1.0)
    result = _look(*_arms(), progress=progress)
    assert result.outcome is Outcome.ROLLBACK  # an earlier look already crossed
    assert result.progress.error_p == 1e-6
    assert result.progress.looks == 4


def test_latency_significant_and_over_the_limit_rolls_back() -> None:
    result = _look(*_arms(canary_scale=1.3))
    assert result.outcome is Outcome.ROLLBACK
    latency = result.evidence["tests"]["latency"]
    assert latency["significant"] and latency["over_limit"]
    assert "limit 1.2x" in result.reason


def test_latency_slower_but_within_the_limit_promotes() -> None:
    result = _look(*_arms(canary_scale=1.1, samples=20_000, n_canary=20_000, n_primary=40_000))
    latency = result.evidence["tests"]["latency"]
    assert latency["significant"] and not latency["over_limit"]
    assert result.outcome is Outcome.PROMOTE


def test_latency_over_the_limit_but_not_significant_holds() -> None:
    rng = np.random.default_rng(5)
    primary = np.sort(_lat(rng, 5000))
    canary = np.sort(_lat(rng, 1000))
    canary[-15:] *= 1.6  # the slowest 1.5% are much slower: p99 jumps, few samples move
    result = _look(ArmWindow(1000, 5, canary), ArmWindow(57_000, 285, primary))
    latency = result.evidence["tests"]["latency"]
    assert latency["over_limit"] and not latency["significant"]
    assert result.outcome is Outcome.HOLD
    assert "not yet significant" in result.reason


def test_too_few_latency_samples_hold() -> None:
    canary, primary = _arms(samples=500)
    result = _look(canary, primary)
    assert result.outcome is Outcome.HOLD
    assert "needs 1000 each" in result.reason


@pytest.mark.parametrize(
    ("on_timeout", "expected"), [("pause", Outcome.PAUSE), ("rollback", Outcome.ROLLBACK)]
)
def test_step_that_never_gets_data_times_out(on_timeout: str, expected: Outcome) -> None:
    config = CanaryConfig(on_timeout=on_timeout)
    canary, primary = _arms(n_canary=50, canary_errors=0, n_primary=950, primary_errors=5)
    held = _look(canary, primary, config=config, progress=StepProgress(looks=28), elapsed=1700)
    assert held.outcome is Outcome.HOLD
    result = _look(canary, primary, config=config, progress=held.progress, elapsed=1760)
    assert result.outcome is expected
    assert result.reasons[0] == "step held for 30 looks (max_looks = 30) without a decision"
    assert "canary has 50 of 1000 requests" in result.reason
    by_time = _look(canary, primary, config=config, elapsed=1800)
    assert by_time.outcome is expected
    assert "max_hold_s = 1800" in by_time.reason


def test_guardrails_roll_back_on_point_estimates() -> None:
    config = CanaryConfig(guardrails=Guardrails(max_error_rate=0.004, max_p99_ms=50.0))
    result = _look(*_arms(), config=config)
    assert result.outcome is Outcome.ROLLBACK
    assert "breaks the guardrail max_error_rate 0.40%" in result.reason
    assert "breaks the guardrail max_p99_ms 50" in result.reason
    ok = _look(*_arms(), config=CanaryConfig(guardrails=Guardrails(0.02, 500.0)))
    assert ok.outcome is Outcome.PROMOTE


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("rollback", Outcome.ROLLBACK),
        ("pause", Outcome.PAUSE),
        ("hold", Outcome.HOLD),
        ("ignore", Outcome.PROMOTE),
    ],
)
def test_output_distribution_shift(action: str, expected: Outcome) -> None:
    rng = np.random.default_rng(6)
    config = CanaryConfig(on_output_shift=action)
    canary, primary = _arms(
        canary_outputs=rng.choice(["churn", "stay"], 3000, p=[0.4, 0.6]),
        primary_outputs=rng.choice(["churn", "stay"], 5000, p=[0.2, 0.8]),
    )
    result = _look(canary, primary, config=config)
    assert result.outcome is expected
    outputs = result.evidence["tests"]["outputs"]
    assert outputs["shifted"] is True and outputs["kind"] == "labels"


def test_equal_outputs_do_not_flag() -> None:
    rng = np.random.default_rng(8)
    canary, primary = _arms(
        canary_outputs=rng.beta(2, 5, 3000), primary_outputs=rng.beta(2, 5, 5000)
    )
    result = _look(canary, primary)
    assert result.outcome is Outcome.PROMOTE
    assert result.evidence["tests"]["outputs"]["shifted"] is False


def test_live_quality_drop_rolls_back() -> None:
    canary, primary = _arms(
        canary_feedback=2000,
        canary_correct=1700,
        primary_feedback=20_000,
        primary_correct=18_000,
    )
    result = _look(canary, primary)
    assert result.outcome is Outcome.ROLLBACK
    assert "accuracy 85.00% is lower than primary's 90.00%" in result.reason
    fine = _look(
        *_arms(
            canary_feedback=2000,
            canary_correct=1800,
            primary_feedback=20_000,
            primary_correct=18_000,
        )
    )
    assert fine.outcome is Outcome.PROMOTE
    assert fine.evidence["tests"]["quality"]["canary_accuracy"] == pytest.approx(0.9)


# --- input and config validation ----------------------------------------------------


@pytest.mark.parametrize(
    ("canary", "field"),
    [
        (ArmWindow(10, 11), "canary.errors"),
        (ArmWindow(-1, 0), "canary.requests"),
        (ArmWindow(10, 0, feedback=5, correct=6), "canary.correct"),
        (ArmWindow(10.5, 0), "canary.requests"),
    ],
)
def test_bad_windows_name_the_field(canary: ArmWindow, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        _look(canary, ArmWindow(10, 0))
    assert info.value.field == field


def test_bad_step_and_clock() -> None:
    canary, primary = _arms()
    with pytest.raises(InvalidInputError) as info:
        _look(canary, primary, step=3)  # 100% is not analysed
    assert info.value.field == "step"
    with pytest.raises(InvalidInputError) as info:
        _look(canary, primary, elapsed=-1)
    assert info.value.field == "now"


def test_config_round_trip_and_defaults() -> None:
    assert CONFIG.steps == (5.0, 25.0, 50.0, 100.0)
    assert CONFIG.analysed_steps == (5.0, 25.0, 50.0)
    assert CONFIG.min_tail_samples == 1000
    data = json.loads(json.dumps(CONFIG.to_dict()))
    assert CanaryConfig.from_dict(data) == CONFIG
    custom = CanaryConfig.from_dict(
        {"steps": [10, 100], "guardrails": {"max_error_rate": 0.02}, "on_timeout": "rollback"}
    )
    assert custom.steps == (10.0, 100.0) and custom.guardrails.max_error_rate == 0.02


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"steps": [5, 25, 50]}, "steps"),
        ({"steps": [25, 5, 100]}, "steps"),
        ({"steps": [100]}, "steps"),
        ({"steps": [0, 100]}, "steps"),
        ({"steps": "5,100"}, "steps"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": 0.9}, "alpha"),
        ({"min_requests": 0}, "min_requests"),
        ({"min_requests": 10.5}, "min_requests"),
        ({"max_looks": 2}, "max_looks"),
        ({"max_hold_s": 60}, "max_hold_s"),
        ({"latency_ratio_limit": 0.9}, "latency_ratio_limit"),
        ({"latency_quantile": 1.0}, "latency_quantile"),
        ({"on_timeout": "explode"}, "on_timeout"),
        ({"on_output_shift": "panic"}, "on_output_shift"),
        ({"guardrails": {"max_error_rate": 5}}, "guardrails.max_error_rate"),
        ({"guardrails": {"max_p99": 5}}, "guardrails.max_p99"),
        ({"min_request": 5}, "rollout.min_request"),
    ],
)
def test_config_validation_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        CanaryConfig.from_dict(data)
    assert info.value.field == field
