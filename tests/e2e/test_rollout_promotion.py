"""Promotion rules, fallback versions, racing starts and restarts, end to end.

* ``approval_required`` in the training spec: full promotion waits for a second
  principal (blue-green keeps the primary serving; a canary holds at its last step);
* the fallback version: checked like a candidate, recorded, kept across switches and
  loaded by the server next to the primary;
* two canaries started at once: exactly one wins, the other gets a conflict (409);
* a server restart mid-canary resumes the same step and finishes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LinearRegression
from starlette.testclient import TestClient

from helpers import LINEAR_SIG, PickyModel, fitted_linear, small_frame
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.deployments.rollout import RolloutService, SelfApprovalError, canary_config
from modelyard.domain.rollout import Status
from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature
from modelyard.errors import ConflictError, InvalidInputError, NotFoundError
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.serving.table import ArmRecorder
from modelyard.settings import Settings
from modelyard.spec import spec_template
from modelyard.training.spec_service import SpecTrainingService
from modelyard.workspace import Workspace

SIG = LINEAR_SIG
OTHER_SIG = Signature(inputs=(ColumnSpec("z", "float"),), output=OutputSpec("regression"))
FAST = {"min_requests": 20, "min_duration_s": 0, "latency_quantile": 0.5, "max_looks": 5}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.05)
    with Workspace(settings) as ws:
        ws.register_model(fitted_linear(0), "m", signature=SIG, flavor="sklearn")  # m:1
        ws.register_model(fitted_linear(1), "m", signature=SIG, flavor="sklearn")  # m:2
        ws.register_model(PickyModel(), "m", signature=SIG, flavor="python", trusted=True)
        ws.register_model(fitted_linear(2), "m", signature=SIG, flavor="sklearn")  # m:4
        x = small_frame(seed=3)[0].rename(columns={"x1": "z"})[["z"]]
        other = LinearRegression().fit(x, x["z"])
        ws.register_model(other, "other", signature=OTHER_SIG, flavor="sklearn")
        ws.deploy("ep", "m:1")
    return settings


@pytest.fixture
def service(settings: Settings) -> Iterator[RolloutService]:
    with Workspace(settings) as ws:
        yield RolloutService(ws.store, ws.registry)


def _fill(arms: ArmRecorder, endpoint: str, refs: tuple[str, ...], n: int, seed: int) -> None:
    """Record ``n`` healthy answers per version, all drawn from one distribution."""
    rng = np.random.default_rng(seed)
    for ref in refs:
        for latency, output in zip(rng.lognormal(3.0, 0.3, n), rng.normal(size=n), strict=True):
            arms.record(endpoint, ref, True, float(latency), float(output))


def _wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# ------------------------------------------------------------------ approval_required


def _spec(path: Path, *, approval_required: bool, seed: int) -> Path:
    spec = yaml.safe_load(spec_template())
    spec["candidates"] = [{"name": "logistic_regression", "params": {"C": 1.0}}]
    spec["seeds"] = [seed]
    spec["evaluation"]["n_boot"] = 50
    spec["gates"] = []
    spec["approval_required"] = approval_required
    path.write_text(yaml.safe_dump(spec))
    return path


def test_approval_required_in_the_spec_waits_for_a_second_principal(tmp_path: Path) -> None:
    with Workspace(Settings(home=tmp_path / "home")) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "q.csv", n_rows=800), "quickstart")
        training = SpecTrainingService(ws.store, ws.registry)
        _, first, _ = training.train(_spec(tmp_path / "a.yaml", approval_required=False, seed=0))
        _, second, _ = training.train(_spec(tmp_path / "b.yaml", approval_required=True, seed=1))
        ws.deploy("ep", first.ref)
        service = RolloutService(ws.store, ws.registry)
        with pytest.raises(ConflictError, match="approval"):
            service.start("fresh", second.ref, actor="alice")  # no primary to keep serving
        with pytest.raises(NotFoundError):
            ws.endpoints.get("fresh")

        ep = service.start("ep", second.ref, actor="alice", reason="new features")
        assert ep.version == first.version  # loaded and checked, not switched
        status = service.status("ep")
        assert status["serving"] == first.ref and status["traffic"] == {first.ref: 100}
        assert status["rollout"]["strategy"] == "blue-green"
        assert status["rollout"]["waiting_for"] == "approval"
        assert status["rollout"]["approval_required"] is True
        started = status["rollout"]["events"][0]
        assert started["kind"] == "started" and started["reason"].endswith(": new features")
        with pytest.raises(ConflictError, match="already running"):
            service.start("ep", second.ref, actor="carol")
        revision = ws.endpoints.get("ep").revision
        with pytest.raises(SelfApprovalError, match="another principal must approve") as exc:
            service.approve("ep", actor="alice")
        assert isinstance(exc.value, InvalidInputError) and exc.value.field == "approved_by"
        assert ws.endpoints.get("ep").revision == revision  # the refusal changed nothing

        state = service.approve("ep", actor="bob")
        assert state.status is Status.PROMOTED and state.approved_by == "bob"
        assert ws.endpoints.get("ep").version == second.version
        kinds = [(e.kind, e.by) for e in state.history]
        assert ("approved", "bob") in kinds and kinds[-1] == ("promoted", "bob")
        actions = [h["action"] for h in service.history("ep")]
        assert "rollout.event.approved" in actions and "rollout.blue-green" in actions
        with pytest.raises(ConflictError, match="nothing to approve"):
            service.approve("ep", actor="dave")

        back = service.rollback("ep", actor="bob", reason="undo")
        assert back.version == first.version
        assert service.status("ep")["rollout"]["status"] == "rolled_back"
        assert service.history("ep")[-1]["action"] in (
            "rollout.rollback",
            "rollout.event.rolled_back",
        )
        assert any(h["action"] == "rollout.rollback" for h in service.history("ep"))


def test_canary_with_approval_holds_at_its_last_step(service: RolloutService) -> None:
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    service.start(
        "ep", "m:2", strategy="canary", config=config, actor="alice", require_approval=True
    )
    arms = ArmRecorder()
    _fill(arms, "ep", ("m:1", "m:2"), 200, seed=1)
    state = service.look("ep", arms, force=True)
    assert state is not None and state.status is Status.RUNNING
    assert state.waiting_for == "approval" and state.share == 50.0
    assert state.history[-2].outcome == "promote"  # the analysis passed; approval missing
    assert service.endpoints.get("ep").version == 1
    state = service.approve("ep", actor="bob")
    assert state.status is Status.PROMOTED
    ep = service.endpoints.get("ep")
    assert ep.version == 2 and "traffic" not in ep.config


def test_approve_refuses_rollouts_without_the_rule(service: RolloutService) -> None:
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    with pytest.raises(InvalidInputError, match="approval"):
        service.start("ep", "m:2", strategy="canary", config=config, require_approval="yes")
    service.start("ep", "m:2", strategy="canary", config=config, actor="alice")
    with pytest.raises(ConflictError, match="does not require approval"):
        service.approve("ep", actor="bob")


def test_approval_reason_is_recorded_and_a_second_approval_is_refused(
    service: RolloutService,
) -> None:
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    service.start(
        "ep", "m:2", strategy="canary", config=config, actor="alice", require_approval=True
    )
    with pytest.raises(InvalidInputError, match="reason must be a string"):
        service.approve("ep", actor="bob", reason=3)  # type: ignore[arg-type]
    state = service.approve("ep", actor="bob", reason="  reviewed the report  ")
    assert state.status is Status.RUNNING and state.approved_by == "bob"  # analysis decides
    approved = [e for e in state.history if e.kind == "approved"]
    assert [e.reason for e in approved] == ["full promotion approved: reviewed the report"]
    event = next(h for h in service.history("ep") if h["action"] == "rollout.event.approved")
    assert event["actor"] == "bob" and event["reason"].endswith("reviewed the report")
    revision = service.endpoints.get("ep").revision
    with pytest.raises(ConflictError, match="already approved by bob; nothing to approve"):
        service.approve("ep", actor="carol")
    assert service.endpoints.get("ep").revision == revision


# ------------------------------------------------------------------ fallback


def test_fallback_is_checked_recorded_and_kept_across_switches(
    settings: Settings, service: RolloutService
) -> None:
    revision = service.endpoints.get("ep").revision
    with pytest.raises(NotFoundError):
        service.set_fallback("ep", "m:99")
    with pytest.raises(InvalidInputError, match="fallback m:1 is the primary") as exc:
        service.set_fallback("ep", "m:1")
    assert exc.value.field == "model"  # what the caller sent (--model, {"model": ...})
    with pytest.raises(InvalidInputError, match="incompatible"):
        service.set_fallback("ep", "other:1")
    with pytest.raises(ConflictError, match="no fallback"):
        service.set_fallback("ep", None)
    assert service.endpoints.get("ep").revision == revision  # refusals change nothing

    ep = service.set_fallback("ep", "m:4", actor="alice", reason="known good")
    assert ep.config["traffic"]["fallback"] == "m:4" and ep.config["traffic"]["primary"] == "m:1"
    assert service.status("ep")["fallback"] == "m:4"
    event = service.history("ep")[-1]
    assert event["action"] == "rollout.event.fallback" and event["actor"] == "alice"
    assert event["reason"] == "fallback set to m:4: known good"
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"

        def fallback_loaded() -> bool:
            served = client.app_state["table"].get("ep")
            return served is not None and "m:4" in served.variants

        _wait_for(fallback_loaded)  # the server keeps the fallback loaded and warm
        r = client.post("/v1/endpoints/ep/predict", json={"inputs": [{"x1": 0.1, "x2": 0.2}]})
        assert r.status_code == 200 and r.json()["model"]["version"] == 1

    service.start("ep", "m:2", actor="alice")  # blue-green keeps the fallback
    ep = service.endpoints.get("ep")
    assert ep.version == 2 and ep.config["traffic"]["primary"] == "m:2"
    assert service.status("ep")["fallback"] == "m:4"
    service.rollback("ep", actor="alice")
    assert service.status("ep")["fallback"] == "m:4"
    assert service.endpoints.get("ep").config["traffic"]["primary"] == "m:1"

    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    service.start("ep", "m:2", strategy="canary", config=config)
    assert service.status("ep")["policy"]["fallback"] == "m:4"  # canary keeps it too
    with pytest.raises(ConflictError, match="after it ends"):
        service.set_fallback("ep", "m:2")
    service.rollback("ep")
    service.set_fallback("ep", None, reason="not needed")
    ep = service.endpoints.get("ep")
    assert "traffic" not in ep.config and service.status("ep")["fallback"] is None


def _fallback_events(service: RolloutService) -> list[dict[str, object]]:
    return [h for h in service.history("ep") if h["action"] == "rollout.event.fallback"]


def test_switching_directly_to_the_fallback_clears_it_and_says_so(
    service: RolloutService,
) -> None:
    """The fallback cannot catch its own failures: once it is the primary the endpoint
    has none, the history says why, and the version left behind is not made the fallback
    (a switch is often an escape from it)."""
    service.set_fallback("ep", "m:4", actor="alice", reason="known good")
    ep = service.start("ep", "m:4", actor="bob", reason="m:1 misbehaves")
    assert ep.version == 4 and "traffic" not in ep.config
    status = service.status("ep")
    assert status["serving"] == "m:4" and status["fallback"] is None
    assert status["policy"]["fallback"] is None
    cleared = _fallback_events(service)[-1]
    assert cleared["actor"] == "bob"
    assert cleared["reason"] == (
        "fallback m:4 cleared: it is now the primary (switched from m:1); "
        "the endpoint has no fallback until one is set again"
    )
    assert cleared["evidence"] == {"primary": "m:4", "fallback": None, "cleared": "m:4"}
    assert status["last_change"]["action"] == "rollout.blue-green"  # the switch itself

    back = service.rollback("ep", actor="bob")  # back to m:1; m:4 is not made the fallback
    assert back.version == 1 and "traffic" not in back.config
    assert service.status("ep")["fallback"] is None
    assert len(_fallback_events(service)) == 2  # set, cleared: the rollback cleared nothing

    # A fallback that is not the new primary is still kept across a direct switch.
    service.set_fallback("ep", "m:4")
    service.start("ep", "m:2")
    assert service.status("ep")["fallback"] == "m:4"
    # Rolling back onto the fallback clears it the same way.
    service.set_fallback("ep", None)
    service.set_fallback("ep", "m:1")
    back = service.rollback("ep", actor="carol")
    assert back.version == 1 and service.status("ep")["fallback"] is None
    assert _fallback_events(service)[-1]["reason"].startswith("fallback m:1 cleared")


@pytest.mark.parametrize("strategy", ["blue-green", "canary"])
def test_promoting_the_fallback_through_a_rollout_clears_it_and_says_so(
    service: RolloutService, strategy: str
) -> None:
    service.set_fallback("ep", "m:4", actor="alice")
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    service.start(
        "ep",
        "m:4",
        strategy=strategy,
        config=config if strategy == "canary" else None,
        actor="alice",
        require_approval=True,
    )
    assert service.status("ep")["fallback"] == "m:4"  # still the fallback while it waits
    if strategy == "canary":
        arms = ArmRecorder()
        _fill(arms, "ep", ("m:1", "m:4"), 200, seed=4)
        held = service.look("ep", arms, force=True)
        assert held is not None and held.waiting_for == "approval"
    state = service.approve("ep", actor="bob")
    assert state.status is Status.PROMOTED
    ep = service.endpoints.get("ep")
    assert ep.version == 4 and service.status("ep")["fallback"] is None
    cleared = _fallback_events(service)[-1]
    assert cleared["actor"] == "bob"
    assert cleared["reason"].startswith("fallback m:4 cleared: it is now the primary")
    assert len(_fallback_events(service)) == 2  # set once, cleared once
    # Undoing the promotion restores the endpoint's policy as it was, fallback included.
    service.rollback("ep", actor="bob")
    assert service.status("ep")["serving"] == "m:1"
    assert service.status("ep")["fallback"] == "m:4"


# ------------------------------------------------------------------ races and restarts


def test_two_canaries_started_at_once_exactly_one_wins(service: RolloutService) -> None:
    config = canary_config({**FAST, "look_interval_s": 1000}, [50, 100])
    barrier = threading.Barrier(2)
    real_state = RolloutService._state
    local = threading.local()

    def synchronised(endpoint):  # type: ignore[no-untyped-def]
        # Both starts check the endpoint before either writes: the worst interleaving.
        state = real_state(endpoint)
        if threading.current_thread() is not threading.main_thread() and not getattr(
            local, "waited", False
        ):
            local.waited = True
            barrier.wait(timeout=10)
        return state

    outcomes: dict[str, str] = {}

    def attempt(ref: str) -> None:
        try:
            service.start("ep", ref, strategy="canary", config=config, force=True)
            outcomes[ref] = "ok"
        except ConflictError as exc:
            outcomes[ref] = f"conflict: {exc.message}"

    service._state = synchronised
    try:
        threads = [threading.Thread(target=attempt, args=(ref,)) for ref in ("m:2", "m:4")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        del service._state
    assert sorted(v.split(":")[0] for v in outcomes.values()) == ["conflict", "ok"], outcomes
    winner = next(ref for ref, v in outcomes.items() if v == "ok")
    status = service.status("ep")
    assert status["rollout"]["candidate"] == winner and status["rollout"]["status"] == "running"
    assert status["serving"] == "m:1"


def test_restart_mid_canary_resumes_the_same_step(settings: Settings) -> None:
    config = canary_config({**FAST, "look_interval_s": 1000}, [25, 50, 100])
    with Workspace(settings) as ws:
        service = RolloutService(ws.store, ws.registry)
        service.start("ep", "m:2", strategy="canary", config=config, actor="alice")
        arms = ArmRecorder()
        _fill(arms, "ep", ("m:1", "m:2"), 200, seed=2)
        state = service.look("ep", arms, force=True)
        assert state is not None and state.step_index == 1 and state.share == 50.0
        step_started = state.step_started_at
    # A fresh process: new workspace, new server, empty in-memory arm data.
    with (
        Workspace(settings) as ws,
        TestClient(create_app(settings), base_url="http://localhost") as client,
    ):
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        service = RolloutService(ws.store, ws.registry)
        status = service.status("ep")["rollout"]
        assert (status["step"], status["share"], status["status"]) == (1, 50.0, "running")
        assert status["step_started_at"] == step_started

        def canary_policy() -> bool:
            served = client.app_state["table"].get("ep")
            return served is not None and served.policy is not None

        _wait_for(canary_policy)
        assert client.app_state["table"].get("ep").policy.canary.share == 50.0
        versions = set()
        for i in range(160):
            r = client.post(
                "/v1/endpoints/ep/predict",
                json={"inputs": [{"x1": 0.3 + i * 1e-3, "x2": 0.1}]},
            )
            assert r.status_code == 200
            versions.add(r.json()["model"]["version"])
        assert versions == {1, 2}
        state = service.look("ep", client.app_state["arms"], force=True)
        assert state is not None and state.status is Status.PROMOTED, state.history[-1].reason
        steps = [e for e in state.history if e.kind == "step"]
        assert len(steps) == 1  # the 25% step was not repeated after the restart
        assert service.endpoints.get("ep").version == 2


def test_a_plain_deploy_keeps_the_fallback_or_clears_it_when_deploying_it(
    service: RolloutService,
) -> None:
    service.set_fallback("ep", "m:4", actor="alice")
    ep = service.endpoints.deploy("ep", "m:2", actor="bob")
    assert ep.version == 2 and ep.config["traffic"]["primary"] == "m:2"
    assert service.status("ep")["fallback"] == "m:4"
    ep = service.endpoints.deploy("ep", "m:4", actor="bob")
    assert ep.version == 4 and "traffic" not in ep.config
    assert _fallback_events(service)[-1]["reason"].startswith("fallback m:4 cleared")
