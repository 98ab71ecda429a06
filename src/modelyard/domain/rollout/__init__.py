"""Safe rollouts, pure: traffic policies, routing, canary analysis, breakers, strategies.

* :mod:`~modelyard.domain.rollout.policy` -- :class:`TrafficPolicy` (primary, canary,
  shadows, A/B arms, fallback) and its validation, and the strategy names;
* :mod:`~modelyard.domain.rollout.routing` -- :func:`route`, sticky by key;
* :mod:`~modelyard.domain.rollout.analysis` -- :func:`analyze_step`, the statistics
  behind promote / hold / rollback / pause and :class:`CanaryConfig`;
* :mod:`~modelyard.domain.rollout.breaker` -- :class:`CircuitBreaker`;
* :mod:`~modelyard.domain.rollout.strategy` -- :class:`RolloutState` and its transitions.

Nothing here does IO or reads a clock: callers pass ``now`` and random seeds.

Names load lazily (PEP 562): endpoint configs (breaker, policy) and the CLI (the
strategy names) import without loading the analysis and its numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard._lazy import lazy_exports

if TYPE_CHECKING:
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
    from modelyard.domain.rollout.policy import (
        STRATEGIES,
        ABArm,
        Canary,
        Shadow,
        Strategy,
        TrafficPolicy,
        check_ref,
    )
    from modelyard.domain.rollout.routing import RouteDecision, route, unit_hash
    from modelyard.domain.rollout.strategy import (
        RolloutEvent,
        RolloutState,
        Status,
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

_SUBMODULE_OF = {
    "ABArm": "policy",
    "ArmWindow": "analysis",
    "BreakerConfig": "breaker",
    "BreakerState": "breaker",
    "Canary": "policy",
    "CanaryConfig": "analysis",
    "CircuitBreaker": "breaker",
    "Guardrails": "analysis",
    "Outcome": "analysis",
    "RolloutEvent": "strategy",
    "RolloutState": "strategy",
    "RouteDecision": "routing",
    "STRATEGIES": "policy",
    "Shadow": "policy",
    "Status": "strategy",
    "StepAnalysis": "analysis",
    "StepProgress": "analysis",
    "Strategy": "policy",
    "TrafficPolicy": "policy",
    "abort": "strategy",
    "advance": "strategy",
    "analyze_step": "analysis",
    "approve": "strategy",
    "check_ref": "policy",
    "loaded_refs": "strategy",
    "missing_for_promotion": "strategy",
    "mixture_sprt": "analysis",
    "output_shift": "analysis",
    "override_gates": "strategy",
    "pause": "strategy",
    "policy_for": "strategy",
    "promote": "strategy",
    "quantile_test": "analysis",
    "resume": "strategy",
    "rollback": "strategy",
    "route": "routing",
    "start_rollout": "strategy",
    "unit_hash": "routing",
}

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

__getattr__ = lazy_exports(__name__, _SUBMODULE_OF)
