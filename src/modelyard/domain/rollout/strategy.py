"""Rollout strategies as a pure state machine: state in, new state out, nothing stored.

======================  ==========================================  ===========================
strategy                while running                               promote
======================  ==========================================  ===========================
``blue-green``          the primary serves everything; the          the candidate takes 100% at
                        candidate is loaded and warm                once
``canary``              the candidate serves ``config.steps[i]``%   the next step; after the
                                                                    last partial step, 100%
``shadow``              the candidate gets a mirrored ``share``%    100%
                        (never answers)
``ab``                  arms ``control`` (primary) and              100% (a winning control is
                        ``candidate`` weighted ``100-share/share``  a rollback)
======================  ==========================================  ===========================

Full promotion (the candidate at 100%) has two rules. A version that failed its gates
(``gates_passed=False``) needs a recorded ``override_reason`` (who and why). With
``approval_required``, a principal other than the one who started the rollout must
approve. Until both hold the rollout stays ``running`` at its current share with
``waiting_for`` set (``"override"`` or ``"approval"``): analysis continues and can
still roll back, and :func:`approve` / :func:`override_gates` finish the promotion.

Status: ``running`` -> ``paused`` (analysis timeout or a person; traffic stays as it
is, :func:`resume` restarts the step's clock and look budget) -> ``promoted``,
``rolled_back`` (back to the baseline policy; also from ``promoted``: the old primary
stays loaded for instant rollback) or ``aborted`` (e.g. the candidate failed to load).
Every transition and every analysis look appends a :class:`RolloutEvent` with its
reason, principal and evidence; :meth:`RolloutState.to_dict` is what the service stores,
so a restarted server resumes the same step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from modelyard.domain.rollout.analysis import CanaryConfig, Outcome, StepAnalysis, StepProgress
from modelyard.domain.rollout.policy import (
    STRATEGIES,
    ABArm,
    Canary,
    Shadow,
    Strategy,
    TrafficPolicy,
    check_ref,
    check_share,
)
from modelyard.errors import ConflictError, InvalidInputError

WaitingFor = Literal["approval", "override"]

CONTROL_ARM = "control"
CANDIDATE_ARM = "candidate"
DEFAULT_SHARE: dict[str, float] = {"shadow": 100.0, "ab": 50.0}


class Status(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


@dataclass(frozen=True)
class RolloutEvent:
    """One entry of a rollout's history."""

    at: float
    kind: str
    reason: str = ""
    by: str | None = None
    share: float | None = None
    outcome: str | None = None
    evidence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "reason": self.reason,
            "by": self.by,
            "share": self.share,
            "outcome": self.outcome,
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutEvent:
        return cls(
            at=data["at"],
            kind=data["kind"],
            reason=data.get("reason") or "",
            by=data.get("by"),
            share=data.get("share"),
            outcome=data.get("outcome"),
            evidence=data.get("evidence"),
        )


@dataclass(frozen=True)
class RolloutState:
    """Where one rollout of ``candidate`` on an endpoint stands."""

    strategy: Strategy
    baseline: TrafficPolicy
    candidate: str
    started_at: float
    step_started_at: float
    config: CanaryConfig = field(default_factory=CanaryConfig)
    candidate_share: float = 100.0
    step_index: int = 0
    status: Status = Status.RUNNING
    progress: StepProgress = field(default_factory=StepProgress)
    started_by: str | None = None
    gates_passed: bool | None = None
    override_reason: str | None = None
    override_by: str | None = None
    approval_required: bool = False
    approved_by: str | None = None
    approved_at: float | None = None
    waiting_for: WaitingFor | None = None
    history: tuple[RolloutEvent, ...] = ()

    @property
    def active(self) -> bool:
        """Running or paused (the endpoint is mid-rollout)."""
        return self.status in (Status.RUNNING, Status.PAUSED)

    @property
    def share(self) -> float:
        """Percent of requests the candidate answers now."""
        if self.status is Status.PROMOTED:
            return 100.0
        if not self.active or self.strategy in ("blue-green", "shadow"):
            return 0.0
        if self.strategy == "ab":
            return self.candidate_share
        return self.config.steps[self.step_index]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what the service stores)."""
        return {
            "strategy": self.strategy,
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate,
            "started_at": self.started_at,
            "step_started_at": self.step_started_at,
            "config": self.config.to_dict(),
            "candidate_share": self.candidate_share,
            "step_index": self.step_index,
            "status": self.status.value,
            "progress": self.progress.to_dict(),
            "started_by": self.started_by,
            "gates_passed": self.gates_passed,
            "override_reason": self.override_reason,
            "override_by": self.override_by,
            "approval_required": self.approval_required,
            "approved_by": self.approved_by,
            "approved_at": self.approved_at,
            "waiting_for": self.waiting_for,
            "history": [event.to_dict() for event in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutState:
        values = dict(data)
        values["baseline"] = TrafficPolicy.from_dict(values["baseline"])
        values["config"] = CanaryConfig.from_dict(values["config"])
        values["progress"] = StepProgress.from_dict(values["progress"])
        values["status"] = Status(values["status"])
        values["history"] = tuple(RolloutEvent.from_dict(e) for e in values["history"])
        return cls(**values)


def start_rollout(
    strategy: str,
    baseline: TrafficPolicy,
    candidate: str,
    now: float,
    *,
    started_by: str | None = None,
    config: CanaryConfig | None = None,
    share: float | None = None,
    gates_passed: bool | None = None,
    override_reason: str | None = None,
    override_by: str | None = None,
    approval_required: bool = False,
    reason: str = "",
) -> RolloutState:
    """Begin rolling ``candidate`` out over the endpoint's current ``baseline`` policy.

    ``share`` is the shadow mirror share (default 100) or the A/B candidate weight
    (default 50); canary steps come from ``config``. ``reason`` (why) is recorded in
    the ``started`` event.
    """
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}", field="strategy"
        )
    name = strategy
    if not isinstance(reason, str):
        raise InvalidInputError("reason must be a string", field="reason")
    if not isinstance(approval_required, bool):
        raise InvalidInputError("approval_required must be true or false", field="approval")
    ref = check_ref(candidate, "model")
    if ref == baseline.primary:
        raise InvalidInputError(f"{ref} is already the primary version", field="model")
    if baseline.canary is not None or baseline.ab_arms is not None:
        raise ConflictError(
            "the endpoint already splits traffic (a canary or an A/B test); "
            "finish or roll back that rollout first"
        )
    if name in DEFAULT_SHARE:
        value = DEFAULT_SHARE[name] if share is None else share
        share_ = check_share(value, "share", low=0.0)
        if share_ == 0.0 or (name == "ab" and share_ == 100.0):
            raise InvalidInputError(
                f"share for {name} must be above 0{' and below 100' if name == 'ab' else ''}",
                field="share",
            )
    elif share is not None:
        raise InvalidInputError(
            f"share applies to shadow and ab rollouts; {name} uses config.steps", field="share"
        )
    else:
        share_ = 100.0
    override = _text(override_reason, "override_reason") if override_reason is not None else None
    state = RolloutState(
        strategy=name,
        baseline=baseline,
        candidate=ref,
        started_at=now,
        step_started_at=now,
        config=config or CanaryConfig(),
        candidate_share=share_,
        started_by=started_by,
        gates_passed=gates_passed,
        override_reason=override,
        override_by=override_by if override else None,
        approval_required=approval_required,
    )
    event = RolloutEvent(
        at=now,
        kind="started",
        reason=f"{name} rollout of {ref} over {baseline.primary}"
        + (f": {reason.strip()}" if reason.strip() else ""),
        by=started_by,
        share=state.share,
        evidence={
            "strategy": name,
            "candidate": ref,
            "primary": baseline.primary,
            "steps": list(state.config.steps) if name == "canary" else None,
            "candidate_share": share_ if name in DEFAULT_SHARE else None,
            "gates_passed": gates_passed,
            "approval_required": approval_required,
        },
    )
    events = [event]
    if override:
        events.append(RolloutEvent(now, "override", override, override_by))
    state = replace(state, history=tuple(events))
    policy_for(state)  # the combined policy must be valid
    return state


def advance(
    state: RolloutState, result: StepAnalysis | Outcome, now: float, *, by: str | None = None
) -> RolloutState:
    """Apply one analysis result (or a person's decision) to a running rollout."""
    _require(state, Status.RUNNING, "advance")
    if isinstance(result, StepAnalysis):
        outcome, reason = result.outcome, result.reason
        state = replace(state, progress=result.progress)
        event = RolloutEvent(
            now, "analysis", reason, by, state.share, outcome.value, result.evidence
        )
    else:
        outcome = Outcome(result)
        reason = f"{outcome.value} decided by {by or 'an operator'}"
        event = RolloutEvent(now, "decision", reason, by, state.share, outcome.value)
    state = _log(state, event)
    if outcome is Outcome.ROLLBACK:
        return _end(state, Status.ROLLED_BACK, "rolled_back", reason, now, by)
    if outcome is Outcome.PAUSE:
        return _log(
            replace(state, status=Status.PAUSED),
            RolloutEvent(now, "paused", reason, by, state.share),
        )
    if outcome is Outcome.HOLD:
        return state
    partial = state.config.analysed_steps
    if state.strategy == "canary" and state.step_index + 1 < len(partial):
        nxt = state.step_index + 1
        state = replace(state, step_index=nxt, step_started_at=now, progress=StepProgress())
        text = f"step {partial[nxt - 1]:g}% passed; moving to {partial[nxt]:g}%"
        return _log(state, RolloutEvent(now, "step", text, by, state.share))
    return _full(state, now, by, reason)


def promote(
    state: RolloutState, now: float, *, by: str | None = None, reason: str = "manual promotion"
) -> RolloutState:
    """Ask for 100% now, skipping remaining steps (gates and approval still apply)."""
    _require(state, Status.RUNNING, "promote")
    state = _log(state, RolloutEvent(now, "decision", reason, by, state.share, "promote"))
    return _full(state, now, by, reason)


def rollback(
    state: RolloutState, reason: str, now: float, *, by: str | None = None
) -> RolloutState:
    """Return the endpoint to its baseline policy (also after promotion)."""
    if state.status not in (Status.RUNNING, Status.PAUSED, Status.PROMOTED):
        raise ConflictError(f"cannot roll back a rollout that is {state.status.value}")
    return _end(state, Status.ROLLED_BACK, "rolled_back", _text(reason, "reason"), now, by)


def abort(state: RolloutState, reason: str, now: float, *, by: str | None = None) -> RolloutState:
    """Stop a rollout that never finished (e.g. the candidate failed to load)."""
    if not state.active:
        raise ConflictError(f"cannot abort a rollout that is {state.status.value}")
    return _end(state, Status.ABORTED, "aborted", _text(reason, "reason"), now, by)


def pause(state: RolloutState, reason: str, now: float, *, by: str | None = None) -> RolloutState:
    """Freeze a running rollout (traffic stays as it is; no automatic decisions)."""
    _require(state, Status.RUNNING, "pause")
    event = RolloutEvent(now, "paused", _text(reason, "reason"), by, state.share)
    return _log(replace(state, status=Status.PAUSED), event)


def resume(state: RolloutState, now: float, *, by: str | None = None) -> RolloutState:
    """Continue a paused rollout; the current step starts over (clock and looks)."""
    _require(state, Status.PAUSED, "resume")
    state = replace(state, status=Status.RUNNING, step_started_at=now, progress=StepProgress())
    return _log(state, RolloutEvent(now, "resumed", "step restarted", by, state.share))


def approve(state: RolloutState, principal: str, now: float) -> RolloutState:
    """Record a second principal's approval of full promotion (completes a waiting one)."""
    if not state.active:
        raise ConflictError(f"cannot approve a rollout that is {state.status.value}")
    principal = _text(principal, "approved_by")
    if state.started_by is not None and principal == state.started_by:
        raise InvalidInputError(
            f"{principal} started this rollout; another principal must approve it",
            field="approved_by",
        )
    if state.approved_by is not None:
        raise ConflictError(f"already approved by {state.approved_by}")
    state = replace(state, approved_by=principal, approved_at=now)
    state = _log(
        state, RolloutEvent(now, "approved", "full promotion approved", principal, state.share)
    )
    return _retry_full(state, now, principal)


def override_gates(state: RolloutState, principal: str, reason: str, now: float) -> RolloutState:
    """Record an admin's override of failed gates (the caller checks the role)."""
    if not state.active:
        raise ConflictError(f"cannot override gates of a rollout that is {state.status.value}")
    reason = _text(reason, "override_reason")
    principal = _text(principal, "override_by")
    state = replace(state, override_reason=reason, override_by=principal)
    state = _log(state, RolloutEvent(now, "override", reason, principal, state.share))
    return _retry_full(state, now, principal)


def missing_for_promotion(state: RolloutState) -> WaitingFor | None:
    """What full promotion still waits for: an override of failed gates, an approval."""
    if state.gates_passed is False and not state.override_reason:
        return "override"
    if state.approval_required and state.approved_by is None:
        return "approval"
    return None


def policy_for(state: RolloutState) -> TrafficPolicy:
    """The endpoint's traffic policy for this state of the rollout."""
    base, cand = state.baseline, state.candidate
    if state.status in (Status.ROLLED_BACK, Status.ABORTED):
        return base
    shadows = tuple(s for s in base.shadows if s.ref != cand)
    if state.status is Status.PROMOTED:
        fallback = None if base.fallback == cand else base.fallback
        return replace(
            base, primary=cand, canary=None, ab_arms=None, shadows=shadows, fallback=fallback
        )
    if state.strategy == "blue-green":
        return base
    if state.strategy == "canary":
        return replace(base, canary=Canary(cand, state.share), shadows=shadows)
    if state.strategy == "shadow":
        return replace(base, shadows=(*shadows, Shadow(cand, state.candidate_share)))
    weight = state.candidate_share
    arms = (ABArm(CONTROL_ARM, base.primary, 100.0 - weight), ABArm(CANDIDATE_ARM, cand, weight))
    return replace(base, ab_arms=arms, shadows=shadows)


def loaded_refs(state: RolloutState) -> tuple[str, ...]:
    """Versions the endpoint keeps loaded: the policy's, the candidate while the rollout
    is active (warm before it takes traffic), the old primary after promotion (instant
    rollback)."""
    refs = list(policy_for(state).refs)
    if state.active:
        refs.append(state.candidate)
    if state.status is Status.PROMOTED:
        refs.append(state.baseline.primary)
    return tuple(dict.fromkeys(refs))


def _full(state: RolloutState, now: float, by: str | None, reason: str) -> RolloutState:
    missing = missing_for_promotion(state)
    if missing is None:
        state = replace(state, status=Status.PROMOTED, waiting_for=None)
        return _log(state, RolloutEvent(now, "promoted", reason, by, 100.0))
    if state.waiting_for == missing:
        return state
    text = (
        f"{state.candidate} failed its gates; 100% needs an admin override with a reason"
        if missing == "override"
        else f"100% needs approval by a principal other than {state.started_by or 'the starter'}"
    )
    return _log(
        replace(state, waiting_for=missing), RolloutEvent(now, "waiting", text, by, state.share)
    )


def _retry_full(state: RolloutState, now: float, by: str) -> RolloutState:
    if state.waiting_for is None or state.status is not Status.RUNNING:
        return state
    return _full(state, now, by, "promotion requirements met")


def _end(
    state: RolloutState, status: Status, kind: str, reason: str, now: float, by: str | None
) -> RolloutState:
    state = replace(state, status=status, waiting_for=None)
    return _log(state, RolloutEvent(now, kind, reason, by, state.share))


def _log(state: RolloutState, event: RolloutEvent) -> RolloutState:
    return replace(state, history=(*state.history, event))


def _require(state: RolloutState, status: Status, action: str) -> None:
    if state.status is not status:
        raise ConflictError(
            f"cannot {action} a rollout that is {state.status.value} (needs {status.value})"
        )


def _text(value: object, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{field_name} must be a non-empty string", field=field_name)
    return value.strip()
