"""Safe rollouts, pure: traffic policies, routing, canary analysis, breakers, strategies.

* :mod:`~modelyard.domain.rollout.policy` -- :class:`TrafficPolicy` (primary, canary,
  shadows, A/B arms, fallback) and its validation;
* :mod:`~modelyard.domain.rollout.routing` -- :func:`route`, sticky by key;
* :mod:`~modelyard.domain.rollout.analysis` -- :func:`analyze_step`, the statistics
  behind promote / hold / rollback / pause and :class:`CanaryConfig`;
* :mod:`~modelyard.domain.rollout.breaker` -- :class:`CircuitBreaker`;
* :mod:`~modelyard.domain.rollout.strategy` -- :class:`RolloutState` and its transitions.

Nothing here does IO or reads a clock: callers pass ``now`` and random seeds.
"""

from __future__ import annotations

from modelyard.domain.rollout.analysis import (
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
from modelyard.domain.rollout.breaker import BreakerConfig, BreakerState, CircuitBreaker
from modelyard.domain.rollout.policy import ABArm, Canary, Shadow, TrafficPolicy, check_ref
from modelyard.domain.rollout.routing import RouteDecision, route, unit_hash
from modelyard.domain.rollout.strategy import (
    STRATEGIES,
    RolloutEvent,
    RolloutState,
    Status,
    Strategy,
    abort,
    advance,
    approve,
    loaded_refs,
    missing_for_promotion,
    override_gates,
    pause,
    policy_for,
    promote,
    resume,
    rollback,
    start_rollout,
)

__all__ = [
    "STRATEGIES",
    "ABArm",
    "ArmWindow",
    "BreakerConfig",
    "BreakerState",
    "Canary",
    "CanaryConfig",
    "CircuitBreaker",
    "Guardrails",
    "Outcome",
    "RolloutEvent",
    "RolloutState",
    "RouteDecision",
    "Shadow",
    "Status",
    "StepAnalysis",
    "StepProgress",
    "Strategy",
    "TrafficPolicy",
    "abort",
    "advance",
    "analyze_step",
    "approve",
    "check_ref",
    "loaded_refs",
    "missing_for_promotion",
    "mixture_sprt",
    "output_shift",
    "override_gates",
    "pause",
    "policy_for",
    "promote",
    "quantile_test",
    "resume",
    "rollback",
    "route",
    "start_rollout",
    "unit_hash",
]
