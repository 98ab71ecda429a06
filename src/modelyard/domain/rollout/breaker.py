"""A circuit breaker for one serving version, driven by an explicit clock.

States and transitions::

    closed ──(trip)──► open ──(cooldown elapsed, next allow())──► half_open
      ▲                  ▲                                          │
      │                  └────────────── a probe fails or is slow ──┤
      └──────────────── ``half_open_probes`` probes succeed ─────────┘

It trips (closed -> open) on any of: ``consecutive_failures`` failures in a row; a
failure rate of at least ``failure_rate`` percent over the last ``window`` calls once
``min_calls`` are in it; ``consecutive_slow`` calls in a row over
``latency_budget_ms``. While open, :meth:`CircuitBreaker.allow` refuses (the caller
sends the request to the fallback version, or answers 503). After ``cooldown_s`` it
lets ``half_open_probes`` requests through; a probe that fails or is over budget
reopens it, and if probe results never come back the slots are handed out again after
another cooldown. Results recorded while open (calls admitted before it opened) are
ignored. A call that was allowed but never reached the model (the caller's input was
bad) is handed back with :meth:`CircuitBreaker.cancel`, so it neither counts nor keeps
a probe slot.

Nothing here reads a clock or takes a lock: callers pass ``now`` (seconds, any
monotonic origin) and serialise calls (one event loop, or a lock around it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from modelyard.errors import InvalidInputError


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    """When to trip, how long to stay open, how many probes close it again."""

    consecutive_failures: int = 5
    window: int = 20
    min_calls: int = 10
    failure_rate: float = 50.0
    latency_budget_ms: float | None = None
    consecutive_slow: int = 5
    cooldown_s: float = 30.0
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        for name in ("consecutive_failures", "window", "consecutive_slow", "half_open_probes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be an integer >= 1", field=name)
        if not isinstance(self.min_calls, int) or not 1 <= self.min_calls <= self.window:
            raise InvalidInputError(
                f"min_calls must be between 1 and window ({self.window})", field="min_calls"
            )
        if not 0.0 < self.failure_rate <= 100.0:
            raise InvalidInputError(
                "failure_rate must be in (0, 100] percent", field="failure_rate"
            )
        if self.latency_budget_ms is not None and not self.latency_budget_ms > 0:
            raise InvalidInputError("latency_budget_ms must be > 0", field="latency_budget_ms")
        if not self.cooldown_s > 0:
            raise InvalidInputError("cooldown_s must be > 0", field="cooldown_s")


class CircuitBreaker:
    """Closed / open / half-open state machine (see the module docstring)."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        on_change: Callable[[BreakerState, str], None] | None = None,
    ) -> None:
        self.config = config or BreakerConfig()
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._outcomes: deque[bool] = deque(maxlen=self.config.window)
        self._window_failures = 0
        self._failures_in_row = 0
        self._slow_in_row = 0
        self._opened_at: float | None = None
        self._probes_granted = 0
        self._probe_granted_at = 0.0
        self._probe_successes = 0
        self.reason = ""
        self.transitions = 0

    @property
    def state(self) -> BreakerState:
        """The state as of the last :meth:`allow` or :meth:`record` call."""
        return self._state

    @property
    def opened_at(self) -> float | None:
        return self._opened_at

    def allow(self, now: float) -> bool:
        """May a request go to this version now? (Moves open -> half-open after cooldown.)"""
        if self._state is BreakerState.CLOSED:
            return True
        cooldown = self.config.cooldown_s
        if self._state is BreakerState.OPEN:
            opened = self._opened_at if self._opened_at is not None else now
            if now - opened < cooldown:
                return False
            self._move(BreakerState.HALF_OPEN, f"cooldown of {cooldown:g} s elapsed; probing")
            self._probes_granted = self._probe_successes = 0
        elif now - self._probe_granted_at >= cooldown:
            self._probes_granted = self._probe_successes  # lost probes: hand the slots out again
        if self._probes_granted >= self.config.half_open_probes:
            return False
        self._probes_granted += 1
        self._probe_granted_at = now
        return True

    def record(self, success: bool, latency_ms: float, now: float) -> None:
        """Record the result of a call this breaker allowed."""
        budget = self.config.latency_budget_ms
        slow = budget is not None and latency_ms > budget
        if self._state is BreakerState.OPEN:
            return
        if self._state is BreakerState.HALF_OPEN:
            if not success or slow:
                what = "failed" if not success else f"took {latency_ms:.0f} ms (budget {budget:g})"
                self._open(now, f"half-open probe {what}")
                return
            self._probe_successes += 1
            if self._probe_successes >= self.config.half_open_probes:
                self._reset()
                self._move(BreakerState.CLOSED, f"{self._probe_successes_text()} succeeded")
            return
        cfg = self.config
        outcomes = self._outcomes
        if len(outcomes) == cfg.window and not outcomes[0]:
            self._window_failures -= 1  # the oldest failure leaves the window
        outcomes.append(success)
        if not success:
            self._window_failures += 1
        self._failures_in_row = 0 if success else self._failures_in_row + 1
        self._slow_in_row = self._slow_in_row + 1 if slow else 0
        failures = self._window_failures
        if self._failures_in_row >= cfg.consecutive_failures:
            self._open(now, f"{self._failures_in_row} consecutive failures")
        elif len(self._outcomes) >= cfg.min_calls and failures * 100 >= cfg.failure_rate * len(
            self._outcomes
        ):
            self._open(
                now,
                f"{failures} of the last {len(self._outcomes)} calls failed "
                f"(threshold {cfg.failure_rate:g}%)",
            )
        elif self._slow_in_row >= cfg.consecutive_slow:
            self._open(
                now, f"{self._slow_in_row} consecutive calls over the {budget:g} ms latency budget"
            )

    def cancel(self) -> None:
        """Hand back a call :meth:`allow` admitted that never reached the model."""
        if self._state is BreakerState.HALF_OPEN and self._probes_granted > self._probe_successes:
            self._probes_granted -= 1

    def retry_after(self, now: float) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state is not BreakerState.OPEN or self._opened_at is None:
            return 0.0
        return max(0.0, self.config.cooldown_s - (now - self._opened_at))

    def snapshot(self) -> dict[str, Any]:
        """JSON-able view for metrics and status pages."""
        return {
            "state": self._state.value,
            "reason": self.reason,
            "opened_at": self._opened_at,
            "window_calls": len(self._outcomes),
            "window_failures": self._window_failures,
            "consecutive_failures": self._failures_in_row,
            "consecutive_slow": self._slow_in_row,
            "transitions": self.transitions,
        }

    def _probe_successes_text(self) -> str:
        n = self.config.half_open_probes
        return "the half-open probe" if n == 1 else f"{n} half-open probes"

    def _open(self, now: float, reason: str) -> None:
        self._reset()
        self._opened_at = now
        self._move(BreakerState.OPEN, reason)

    def _reset(self) -> None:
        self._outcomes.clear()
        self._window_failures = 0
        self._failures_in_row = self._slow_in_row = 0
        self._probes_granted = self._probe_successes = 0

    def _move(self, state: BreakerState, reason: str) -> None:
        self._state = state
        self.reason = reason
        self.transitions += 1
        if self._on_change is not None:
            self._on_change(state, reason)
