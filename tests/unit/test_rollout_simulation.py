"""Simulation harness: does canary analysis promote good versions and catch bad ones?

Traffic model (the documented operating point of the defaults):

* 200 requests/s in total; the canary gets its step's share (10, 50 and 100 requests/s at
  5, 25 and 50%), the rest goes to the primary. A look every 60 s (``look_interval_s``)
  sees the step's data so far: counts of requests and errors, and a uniform sample of at
  most 5,000 latencies and 2,000 output scores per arm (the bounded reservoir a server
  keeps).
* Primary: 0.5% errors; latency lognormal with median 20 ms and sigma 0.5 (p99 ~ 64 ms);
  scores Beta(2, 5).
* Default config: steps 5/25/50/100%, at least 300 s and 1,000 requests per arm per
  step, alpha 0.05, p99 ratio limit 1.2.

Scenarios, 200 seeded runs each:

* ``equal`` -- the canary is the same model: false rollbacks must stay under 5% and
  most runs must promote;
* ``errors`` -- canary errors 1.5% against 0.5%;
* ``slow_tail`` -- canary p99 30% slower with the *same median* (a wider lognormal):
  only a tail-aware test sees it;
* ``slow_all`` -- every canary request 30% slower (p99 too);

bad canaries must be rolled back, for the right reason, in more than 95% of runs
before they reach 100%. Observed with these seeds: equal 200/200 promoted (0 false
rollbacks; 2 in 2,000 runs with other seeds); errors, slow_tail and slow_all 200/200
rolled back, at the 5% step in 97%, 92% and 98% of runs and otherwise at 25%. An equal
canary is promoted after 900 s (three 300 s steps).

The 200-run loops thin traffic with binomial draws (routing accuracy is tested in
``test_rollout_routing.py``); ``test_through_the_router`` sends every request of a
few runs through :func:`route` with sticky user keys.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from modelyard.domain.rollout import (
    ArmWindow,
    CanaryConfig,
    RolloutState,
    Status,
    TrafficPolicy,
    advance,
    analyze_step,
    policy_for,
    route,
    start_rollout,
)

RUNS = 200
TOTAL_RPS = 200.0
RESERVOIR = 5000
OUTPUT_RESERVOIR = 2000
CONFIG = CanaryConfig()
BASE = TrafficPolicy(primary="churn:1", salt="churn")
MEDIAN_MS, SIGMA = 20.0, 0.5
Z99 = 2.3263478740408408
PRIMARY_ERRORS = 0.005


@dataclass(frozen=True)
class Version:
    """How one model version behaves."""

    error_rate: float = PRIMARY_ERRORS
    sigma: float = SIGMA
    scale: float = 1.0
    score_a: float = 2.0
    accuracy: float = 0.9

    def latencies(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(math.log(MEDIAN_MS), self.sigma, n) * self.scale

    def scores(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.beta(self.score_a, 5.0, n)


PRIMARY = Version()
SCENARIOS = {
    "equal": Version(),
    "errors": Version(error_rate=0.015),
    "slow_tail": Version(sigma=SIGMA + math.log(1.3) / Z99),
    "slow_all": Version(scale=1.3),
}


@dataclass
class Arm:
    """What one arm accumulated since the step started."""

    requests: int = 0
    errors: int = 0
    feedback: int = 0
    correct: int = 0

    def window(self, version: Version, rng: np.random.Generator, full: bool) -> ArmWindow:
        # Samples matter only once the step has its minimum data; skip drawing them before.
        n = min(self.requests, RESERVOIR) if full else 0
        outputs = version.scores(rng, min(self.requests, OUTPUT_RESERVOIR)) if full else None
        return ArmWindow(
            self.requests,
            self.errors,
            version.latencies(rng, n),
            outputs,
            self.feedback,
            self.correct,
        )


def _simulate(
    canary: Version,
    seed: int,
    *,
    rps: float = TOTAL_RPS,
    feedback_share: float = 0.0,
    split: Callable[[RolloutState, int, np.random.Generator], int] | None = None,
) -> RolloutState:
    """Run one canary rollout to its end (or 40 looks per step) and return its state."""
    rng = np.random.default_rng(seed)
    state = start_rollout("canary", BASE, "churn:2", 0.0, started_by="sim", config=CONFIG)
    now, arms = 0.0, (Arm(), Arm())
    per_look = int(rps * CONFIG.look_interval_s)
    for _ in range(40 * len(CONFIG.steps)):
        if state.status is not Status.RUNNING:
            break
        now += CONFIG.look_interval_s
        if split is None:
            n_canary = int(rng.binomial(per_look, state.share / 100.0))
        else:
            n_canary = split(state, per_look, rng)
        for arm, version, n in (
            (arms[0], canary, n_canary),
            (arms[1], PRIMARY, per_look - n_canary),
        ):
            arm.requests += n
            arm.errors += int(rng.binomial(n, version.error_rate))
            labelled = int(rng.binomial(n, feedback_share))
            arm.feedback += labelled
            arm.correct += int(rng.binomial(labelled, version.accuracy))
        full = (
            now - state.step_started_at >= CONFIG.min_duration_s
            and min(arms[0].requests, arms[1].requests) >= CONFIG.min_requests
        )
        result = analyze_step(
            CONFIG,
            arms[0].window(canary, rng, full),
            arms[1].window(PRIMARY, rng, full),
            step=state.step_index,
            step_started_at=state.step_started_at,
            now=now,
            progress=state.progress,
        )
        step = state.step_index
        state = advance(state, result, now)
        if state.step_index != step:
            arms = (Arm(), Arm())
    return state


def _run_many(
    canary: Version, scenario_id: int, runs: int = RUNS, **kwargs: object
) -> Counter[str]:
    tally: Counter[str] = Counter()
    for seed in range(runs):
        state = _simulate(canary, seed * 1000 + scenario_id, **kwargs)  # type: ignore[arg-type]
        tally[state.status.value] += 1
        if state.status is Status.ROLLED_BACK:
            tally[f"rolled_back_at_{state.config.steps[state.step_index]:g}%"] += 1
            reason = state.history[-1].reason
            tally["reason_errors"] += "error rate" in reason
            tally["reason_latency"] += "p99" in reason
    return tally


def test_equal_canary_is_promoted_without_false_rollbacks() -> None:
    tally = _run_many(SCENARIOS["equal"], 1)
    assert tally["rolled_back"] / RUNS < 0.05, tally
    assert tally["promoted"] / RUNS >= 0.9, tally


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [("errors", "reason_errors"), ("slow_tail", "reason_latency"), ("slow_all", "reason_latency")],
)
def test_bad_canary_is_rolled_back_before_full_traffic(scenario: str, reason: str) -> None:
    tally = _run_many(SCENARIOS[scenario], 2 + list(SCENARIOS).index(scenario))
    assert tally["promoted"] == 0, tally
    assert tally["rolled_back"] / RUNS > 0.95, tally
    assert tally[reason] / RUNS > 0.95, tally  # caught for the right reason


def test_output_shift_is_caught_without_http_symptoms() -> None:
    # Same errors and latency, but the canary's scores moved (a broken feature, say).
    tally = _run_many(Version(score_a=3.0), 7, runs=50)
    assert tally["rolled_back"] == 50, tally


def test_live_quality_drop_is_caught_from_feedback() -> None:
    # Feedback on 20% of requests; canary accuracy 85% against 90%.
    tally = _run_many(Version(accuracy=0.85), 8, runs=50, feedback_share=0.2)
    assert tally["rolled_back"] == 50, tally
    healthy = _run_many(Version(), 9, runs=50, feedback_share=0.2)
    assert healthy["promoted"] >= 48, healthy


def test_too_little_traffic_never_promotes() -> None:
    # 2 requests/s: the 5% step sees ~6 canary requests a minute and never reaches 1,000.
    state = _simulate(SCENARIOS["equal"], 3, rps=2.0)
    assert state.status is Status.PAUSED and state.share == 5.0
    reason = state.history[-1].reason
    assert reason.startswith("step held for 30 looks (max_looks = 30) without a decision")
    assert "canary has" in reason and "of 1000 requests" in reason
    assert all(e.outcome != "promote" for e in state.history)


def _routed_split(users: int) -> Callable[[RolloutState, int, np.random.Generator], int]:
    def split(state: RolloutState, n: int, rng: np.random.Generator) -> int:
        policy = policy_for(state)
        keys = rng.integers(0, users, size=n)
        return sum(route(policy, f"user-{k}", 0).arm == "canary" for k in keys)

    return split


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("equal", Status.PROMOTED), ("errors", Status.ROLLED_BACK), ("slow_tail", Status.ROLLED_BACK)],
)
def test_through_the_router(scenario: str, expected: Status) -> None:
    state = _simulate(SCENARIOS[scenario], 42, split=_routed_split(users=50_000))
    assert state.status is expected, state.history[-1].reason
