"""Rollout strategies: transitions, policies, gates, approvals, history, persistence."""

from __future__ import annotations

import json

import pytest

from modelyard.domain.rollout import (
    ABArm,
    Canary,
    Outcome,
    RolloutState,
    Shadow,
    Status,
    StepAnalysis,
    StepProgress,
    TrafficPolicy,
    abort,
    advance,
    approve,
    loaded_refs,
    override_gates,
    pause,
    policy_for,
    promote,
    resume,
    rollback,
    start_rollout,
)
from modelyard.errors import ConflictError, InvalidInputError

BASE = TrafficPolicy(
    primary="churn:1", shadows=(Shadow("churn:9", 10),), fallback="churn:8", salt="churn"
)


def _analysis(outcome: Outcome, reason: str = "because", looks: int = 5) -> StepAnalysis:
    return StepAnalysis(outcome, (reason,), {"outcome": outcome.value}, StepProgress(looks=looks))


def _canary(**kwargs: object) -> RolloutState:
    return start_rollout("canary", BASE, "churn:2", 0.0, started_by="alice", **kwargs)


def _through_steps(state: RolloutState) -> RolloutState:
    now = 0.0
    while state.status is Status.RUNNING and state.waiting_for is None:
        now += 300.0
        state = advance(state, _analysis(Outcome.PROMOTE), now)
    return state


def test_canary_walks_the_steps_and_promotes() -> None:
    state = _canary()
    assert state.share == 5.0
    policy = policy_for(state)
    assert policy.canary == Canary("churn:2", 5.0)
    assert policy.shadows == BASE.shadows and policy.fallback == "churn:8"

    held = advance(state, _analysis(Outcome.HOLD, "insufficient data"), 60.0)
    assert held.status is Status.RUNNING and held.share == 5.0
    assert held.progress.looks == 5  # the analysis progress is kept for the next look
    assert held.history[-1].kind == "analysis" and held.history[-1].outcome == "hold"

    stepped = advance(held, _analysis(Outcome.PROMOTE), 300.0)
    assert (stepped.step_index, stepped.share, stepped.step_started_at) == (1, 25.0, 300.0)
    assert stepped.progress == StepProgress()  # a fresh step
    assert stepped.history[-1].reason == "step 5% passed; moving to 25%"

    done = _through_steps(stepped)
    assert done.status is Status.PROMOTED and done.share == 100.0
    final = policy_for(done)
    assert final.primary == "churn:2" and final.canary is None
    assert final.fallback == "churn:8"
    kinds = [e.kind for e in done.history]
    assert kinds[0] == "started" and kinds[-1] == "promoted"
    assert kinds.count("step") == 2


def test_rollback_returns_to_the_baseline() -> None:
    state = advance(_canary(), _analysis(Outcome.PROMOTE), 300.0)
    back = advance(state, _analysis(Outcome.ROLLBACK, "canary p99 1.31x primary"), 400.0)
    assert back.status is Status.ROLLED_BACK and back.share == 0.0
    assert policy_for(back) == BASE
    assert back.history[-1].kind == "rolled_back"
    assert back.history[-1].reason == "canary p99 1.31x primary"
    with pytest.raises(ConflictError):
        advance(back, _analysis(Outcome.PROMOTE), 500.0)
    with pytest.raises(ConflictError):
        rollback(back, "again", 500.0)


def test_timeout_pauses_and_resume_restarts_the_step() -> None:
    state = advance(_canary(), _analysis(Outcome.PROMOTE), 300.0)
    paused = advance(state, _analysis(Outcome.PAUSE, "step held for 30 looks"), 2100.0)
    assert paused.status is Status.PAUSED and paused.share == 25.0
    assert policy_for(paused).canary == Canary("churn:2", 25.0)  # traffic stays as it is
    with pytest.raises(ConflictError):
        advance(paused, _analysis(Outcome.PROMOTE), 2200.0)
    resumed = resume(paused, 3000.0, by="bob")
    assert resumed.status is Status.RUNNING and resumed.step_started_at == 3000.0
    assert resumed.progress == StepProgress() and resumed.step_index == 1
    manual = pause(resumed, "looking at a dashboard", 3100.0, by="bob")
    assert manual.status is Status.PAUSED
    assert rollback(manual, "not convinced", 3200.0).status is Status.ROLLED_BACK


def test_blue_green_switches_at_once_and_rolls_back_instantly() -> None:
    state = start_rollout("blue-green", BASE, "churn:2", 0.0, started_by="alice")
    assert state.share == 0.0 and policy_for(state) == BASE
    switched = advance(state, Outcome.PROMOTE, 10.0, by="alice")
    assert switched.status is Status.PROMOTED
    assert policy_for(switched).primary == "churn:2"
    back = rollback(switched, "errors after the switch", 20.0, by="bob")
    assert back.status is Status.ROLLED_BACK and policy_for(back) == BASE
    assert [e.kind for e in back.history] == ["started", "decision", "promoted", "rolled_back"]
    assert back.history[-1].by == "bob"
    assert loaded_refs(state) == ("churn:1", "churn:9", "churn:8", "churn:2")  # warm, no traffic
    assert loaded_refs(switched) == ("churn:2", "churn:9", "churn:8", "churn:1")  # old kept
    assert loaded_refs(back) == BASE.refs


def test_shadow_mirrors_without_serving() -> None:
    state = start_rollout("shadow", BASE, "churn:2", 0.0, share=30)
    assert state.share == 0.0
    policy = policy_for(state)
    assert policy.primary == "churn:1" and policy.canary is None
    assert policy.shadows == (Shadow("churn:9", 10), Shadow("churn:2", 30))
    assert policy_for(promote(state, 50.0)).primary == "churn:2"
    assert policy_for(abort(state, "seen enough", 50.0)) == BASE


def test_ab_arms_and_promotion() -> None:
    state = start_rollout("ab", BASE, "churn:2", 0.0, share=20)
    assert state.share == 20.0
    assert policy_for(state).ab_arms == (
        ABArm("control", "churn:1", 80.0),
        ABArm("candidate", "churn:2", 20.0),
    )
    assert policy_for(advance(state, Outcome.PROMOTE, 10.0)).primary == "churn:2"
    assert policy_for(advance(state, Outcome.ROLLBACK, 10.0)) == BASE


def test_failed_gates_block_full_promotion_until_overridden() -> None:
    state = _through_steps(_canary(gates_passed=False))
    assert state.status is Status.RUNNING and state.waiting_for == "override"
    assert state.share == 50.0  # parked at the last partial step
    assert "failed its gates" in state.history[-1].reason
    again = advance(state, _analysis(Outcome.PROMOTE), 5000.0)
    assert [e.kind for e in again.history].count("waiting") == 1  # recorded once
    with pytest.raises(InvalidInputError) as info:
        override_gates(again, "root", "  ", 5100.0)
    assert info.value.field == "override_reason"
    done = override_gates(again, "root", "gate metric is noisy on this slice", 5100.0)
    assert done.status is Status.PROMOTED
    assert (done.override_by, done.override_reason) == (
        "root",
        "gate metric is noisy on this slice",
    )
    assert [e.kind for e in done.history][-2:] == ["override", "promoted"]


def test_override_given_at_start_lets_it_through() -> None:
    state = _through_steps(
        _canary(gates_passed=False, override_reason="hotfix", override_by="root")
    )
    assert state.status is Status.PROMOTED
    assert state.history[1].kind == "override" and state.history[1].by == "root"


def test_approval_needs_a_second_principal() -> None:
    state = _through_steps(_canary(approval_required=True))
    assert state.waiting_for == "approval" and state.status is Status.RUNNING
    with pytest.raises(InvalidInputError) as info:
        approve(state, "alice", 5000.0)
    assert info.value.field == "approved_by"
    done = approve(state, "bob", 5000.0)
    assert done.status is Status.PROMOTED
    assert (done.started_by, done.approved_by, done.approved_at) == ("alice", "bob", 5000.0)
    assert [e.kind for e in done.history][-2:] == ["approved", "promoted"]


def test_gates_and_approval_together() -> None:
    state = _through_steps(_canary(gates_passed=False, approval_required=True))
    assert state.waiting_for == "override"
    state = override_gates(state, "root", "known false alarm", 5000.0)
    assert state.waiting_for == "approval" and state.status is Status.RUNNING
    early = approve(_canary(approval_required=True), "bob", 10.0)  # approved ahead of time
    assert early.status is Status.RUNNING and early.share == 5.0
    assert _through_steps(early).status is Status.PROMOTED
    with pytest.raises(ConflictError):
        approve(early, "carol", 20.0)


def test_manual_promote_skips_steps_but_not_the_rules() -> None:
    state = promote(_canary(approval_required=True), 10.0, by="alice")
    assert state.status is Status.RUNNING and state.waiting_for == "approval"
    assert promote(_canary(), 10.0, by="alice").status is Status.PROMOTED


def test_state_round_trips_through_json() -> None:
    state = advance(_canary(gates_passed=True), _analysis(Outcome.HOLD), 60.0)
    state = advance(state, _analysis(Outcome.PROMOTE), 300.0)
    again = RolloutState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert policy_for(again) == policy_for(state)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"strategy": "big-bang"}, "strategy"),
        ({"candidate": "churn:1"}, "model"),
        ({"candidate": "churn:latest"}, "model"),
        ({"strategy": "canary", "share": 10}, "share"),
        ({"strategy": "ab", "share": 100}, "share"),
        ({"strategy": "shadow", "share": 0}, "share"),
        ({"override_reason": ""}, "override_reason"),
    ],
)
def test_start_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"strategy": "canary", "candidate": "churn:2", **kwargs}
    strategy, candidate = args.pop("strategy"), args.pop("candidate")
    with pytest.raises(InvalidInputError) as info:
        start_rollout(strategy, BASE, candidate, 0.0, **args)
    assert info.value.field == field


def test_cannot_start_over_a_running_split() -> None:
    busy = TrafficPolicy(primary="churn:1", canary=Canary("churn:2", 5))
    with pytest.raises(ConflictError):
        start_rollout("canary", busy, "churn:3", 0.0)


def test_candidate_already_shadowed_becomes_the_canary() -> None:
    state = start_rollout("canary", BASE, "churn:9", 0.0)
    policy = policy_for(state)
    assert policy.canary == Canary("churn:9", 5.0) and policy.shadows == ()
