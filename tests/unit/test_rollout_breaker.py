"""Circuit breaker: closed -> open -> half-open -> closed/open, on an explicit clock."""

from __future__ import annotations

import pytest

from modelyard.domain.rollout import BreakerConfig, BreakerState, CircuitBreaker
from modelyard.errors import InvalidInputError

OK, FAIL = True, False


def _tripped(config: BreakerConfig | None = None, at: float = 0.0) -> CircuitBreaker:
    breaker = CircuitBreaker(config or BreakerConfig(consecutive_failures=3, cooldown_s=10))
    for _ in range(breaker.config.consecutive_failures):
        assert breaker.allow(at)
        breaker.record(FAIL, 5.0, at)
    assert breaker.state is BreakerState.OPEN
    return breaker


def test_consecutive_failures_open_it() -> None:
    breaker = CircuitBreaker(BreakerConfig(consecutive_failures=3, min_calls=10))
    for now, outcome in enumerate([FAIL, FAIL, OK, FAIL, FAIL]):
        breaker.record(outcome, 5.0, float(now))
    assert breaker.state is BreakerState.CLOSED  # the success reset the streak
    breaker.record(FAIL, 5.0, 5.0)
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason == "3 consecutive failures"
    assert breaker.opened_at == 5.0
    assert not breaker.allow(6.0)


def test_failure_rate_over_the_window_opens_it() -> None:
    config = BreakerConfig(consecutive_failures=100, window=10, min_calls=10, failure_rate=50)
    breaker = CircuitBreaker(config)
    for i in range(9):  # alternate: 4 failures in 9 calls, below min_calls anyway
        breaker.record(i % 2 == 0, 5.0, float(i))
    assert breaker.state is BreakerState.CLOSED
    breaker.record(FAIL, 5.0, 9.0)  # 5 of 10 failed
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason == "5 of the last 10 calls failed (threshold 50%)"


def test_old_failures_slide_out_of_the_window() -> None:
    config = BreakerConfig(consecutive_failures=100, window=10, min_calls=5, failure_rate=50)
    breaker = CircuitBreaker(config)
    for now, outcome in enumerate([FAIL, FAIL, OK, OK, OK, OK, OK, OK, OK, OK, FAIL, FAIL]):
        breaker.record(outcome, 5.0, float(now))
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot()["window_failures"] == 2


def test_repeatedly_over_the_latency_budget_opens_it() -> None:
    breaker = CircuitBreaker(BreakerConfig(latency_budget_ms=100, consecutive_slow=3))
    for now, latency in enumerate([150, 150, 90, 150, 150]):
        breaker.record(OK, latency, float(now))
    assert breaker.state is BreakerState.CLOSED
    breaker.record(OK, 150, 5.0)
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason == "3 consecutive calls over the 100 ms latency budget"


def test_half_open_probe_success_closes_it() -> None:
    breaker = _tripped()
    assert not breaker.allow(9.9)
    assert breaker.allow(10.0)  # cooldown over: one probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(10.1)  # only one probe at a time
    breaker.record(OK, 5.0, 10.2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.reason == "the half-open probe succeeded"
    assert breaker.allow(10.3)
    assert breaker.snapshot()["consecutive_failures"] == 0


@pytest.mark.parametrize(("success", "latency"), [(FAIL, 5.0), (OK, 500.0)])
def test_half_open_probe_failure_or_slowness_reopens_it(success: bool, latency: float) -> None:
    breaker = _tripped(BreakerConfig(consecutive_failures=2, cooldown_s=10, latency_budget_ms=100))
    assert breaker.allow(10.0)
    breaker.record(success, latency, 11.0)
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason.startswith("half-open probe")
    assert breaker.opened_at == 11.0
    assert not breaker.allow(20.9)  # a fresh cooldown from the reopening
    assert breaker.allow(21.0)


def test_several_probes_must_all_succeed() -> None:
    breaker = _tripped(BreakerConfig(consecutive_failures=2, cooldown_s=10, half_open_probes=2))
    assert breaker.allow(10.0) and breaker.allow(10.0)
    assert not breaker.allow(10.0)
    breaker.record(OK, 5.0, 10.5)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record(OK, 5.0, 10.6)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.reason == "2 half-open probes succeeded"


def test_lost_probes_are_handed_out_again_after_a_cooldown() -> None:
    breaker = _tripped()
    assert breaker.allow(10.0)  # the probe's result never comes back
    assert not breaker.allow(15.0)
    assert breaker.allow(20.0)
    breaker.record(OK, 5.0, 20.5)
    assert breaker.state is BreakerState.CLOSED


def test_results_arriving_while_open_are_ignored() -> None:
    breaker = _tripped()
    breaker.record(OK, 5.0, 1.0)  # a call admitted before it opened
    assert breaker.state is BreakerState.OPEN
    assert breaker.transitions == 1
    assert breaker.snapshot()["state"] == "open"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"consecutive_failures": 0}, "consecutive_failures"),
        ({"window": 5, "min_calls": 10}, "min_calls"),
        ({"failure_rate": 0}, "failure_rate"),
        ({"latency_budget_ms": -1}, "latency_budget_ms"),
        ({"cooldown_s": 0}, "cooldown_s"),
        ({"half_open_probes": 0}, "half_open_probes"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        BreakerConfig(**kwargs)
    assert info.value.field == field


def test_a_cancelled_probe_gives_its_slot_back() -> None:
    breaker = _tripped()
    assert breaker.retry_after(4.0) == pytest.approx(6.0)
    assert breaker.allow(10.0)  # half-open: the one probe
    assert not breaker.allow(10.1)
    breaker.cancel()  # that call never reached the model (bad input)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow(10.2)
    breaker.record(OK, 5.0, 10.3)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.retry_after(10.4) == 0.0
    breaker.cancel()  # closed: nothing to hand back
    assert breaker.state is BreakerState.CLOSED


def test_the_window_forgets_old_failures() -> None:
    config = BreakerConfig(consecutive_failures=100, window=4, min_calls=4, failure_rate=75)
    breaker = CircuitBreaker(config)
    for i, outcome in enumerate([FAIL, FAIL, OK, OK, OK, OK, FAIL, FAIL]):
        breaker.record(outcome, 5.0, float(i))
    assert breaker.state is BreakerState.CLOSED  # 2 of the last 4 failed: under 75%
    assert breaker.snapshot()["window_failures"] == 2
    breaker.record(FAIL, 5.0, 8.0)
    assert breaker.state is BreakerState.OPEN


def test_transitions_are_reported_to_the_listener() -> None:
    seen: list[tuple[BreakerState, str]] = []
    breaker = CircuitBreaker(
        BreakerConfig(consecutive_failures=1, cooldown_s=1),
        on_change=lambda s, r: seen.append((s, r)),
    )
    breaker.record(FAIL, 5.0, 0.0)
    assert breaker.allow(2.0)
    breaker.record(OK, 5.0, 2.0)
    assert [s for s, _ in seen] == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]
