"""Rollouts wired end to end: blue-green with instant rollback, and canary.

Blue-green loads and warms the new version before the switch (the server swaps its
in-memory table only after the same load and warm-up), keeps the previous version
loaded, and ``rollback`` returns to it. Every change is in the deployment history and
the audit log with who, when and why.

Canary: :meth:`RolloutService.start` with ``strategy="canary"`` checks the candidate
like blue-green (signature, gates), loads and warms it, and stores the rollout as two
keys of the endpoint's config JSON: ``traffic`` (the
:class:`~modelyard.domain.rollout.TrafficPolicy` every replica applies on refresh) and
``rollout`` (the :class:`~modelyard.domain.rollout.RolloutState`, so a restarted
server resumes the same step). Each server runs :meth:`RolloutService.look` in the
background: it builds an :class:`~modelyard.domain.rollout.ArmWindow` for canary and
primary from the requests this process routed since the step started (see
:class:`~modelyard.serving.table.ArmRecorder`), runs
:func:`~modelyard.domain.rollout.analyze_step` and applies the outcome. Every change
is written with the revision it was computed from, so when several replicas look at
once only one wins the step; the others get a conflict and see the new state on their
next look. Promotion points the endpoint at the candidate (a deployment, so
``rollback`` afterwards returns to the old primary); each rollout event is an audit
entry ``rollout.event.<kind>`` with its evidence.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from modelyard.deployments.service import EndpointService, warm
from modelyard.domain.compat import breaking_changes
from modelyard.domain.entities import Endpoint
from modelyard.domain.refs import check_name, parse_model_ref
from modelyard.domain.rollout import (
    CanaryConfig,
    RolloutState,
    Status,
    TrafficPolicy,
    abort,
    advance,
    analyze_step,
    policy_for,
    start_rollout,
)
from modelyard.domain.rollout import rollback as rollback_state
from modelyard.errors import (
    ConflictError,
    InvalidInputError,
    ModelyardError,
    NotFoundError,
)
from modelyard.registry.service import RegistryService, failed_gates
from modelyard.serving.table import ArmRecorder
from modelyard.store.orm import AuditRow, EndpointRow, ModelVersionRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.models import ModelRepository
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store

STRATEGIES = ("blue-green", "canary", "shadow", "ab")
#: Strategies that split or mirror traffic through a stored policy.
SPLIT_STRATEGIES = ("canary", "shadow", "ab")
EVENT_ACTION = "rollout.event."


class RolloutService:
    def __init__(self, store: Store, registry: RegistryService | None = None) -> None:
        self.store = store
        self.registry = registry or RegistryService(store)
        self.endpoints = EndpointService(store, self.registry)

    def start(
        self,
        endpoint: str,
        model_ref: str,
        *,
        strategy: str = "blue-green",
        actor: str = "local",
        force: bool = False,
        override_reason: str | None = None,
        reason: str = "",
        config: CanaryConfig | None = None,
        share: float | None = None,
    ) -> Endpoint:
        """Switch ``endpoint`` to ``model_ref`` with ``strategy`` (checked, warmed, atomic).

        Canary starts a stepwise rollout (``config``: steps, minimum data, ...) that the
        servers' analysis advances, promotes or rolls back.
        """
        check_name(endpoint, what="endpoint")
        if strategy not in STRATEGIES:
            raise InvalidInputError(
                f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}",
                field="strategy",
            )
        if strategy in SPLIT_STRATEGIES:
            return self._start_split(
                endpoint,
                model_ref,
                strategy,
                actor=actor,
                force=force,
                override_reason=override_reason,
                config=config,
                share=share,
            )
        active = self._state(self.endpoints.get(endpoint)) if self._exists(endpoint) else None
        if active is not None and active.active:
            raise ConflictError(
                f"a {active.strategy} rollout of {active.candidate} is running on "
                f"{endpoint!r}; finish or roll it back first"
            )
        version = self.registry.get(model_ref)
        try:
            current = self.endpoints.get(endpoint)
        except NotFoundError:
            current = None
        if current is not None:
            if (current.model, current.version) == (version.model, version.version):
                raise ConflictError(f"endpoint {endpoint!r} already serves {version.ref}")
            serving = self.registry.get(f"{current.model}:{current.version}")
            problems = breaking_changes(serving.signature, version.signature)
            if problems and not force:
                raise InvalidInputError(
                    f"{version.ref} is incompatible with the callers of {endpoint!r}: "
                    f"{'; '.join(problems)} (use --force to switch anyway)",
                    field="model",
                )
        with self.store.session() as session:
            failed = failed_gates(session, version.run_id)
        if failed and not override_reason:
            raise ConflictError(
                f"{version.ref} failed its gates ({'; '.join(failed)}); it cannot take all "
                "traffic without an admin override reason"
            )
        expected = current.revision if current is not None else 0
        _, loaded = self.registry.load(version, prefer_compiled=True)
        warm(version, loaded)
        note = reason or f"{strategy} rollout"
        if failed:
            note = f"{note} [gates overridden: {override_reason}]"
        with self.store.session() as session:
            row = ModelRepository(session).resolve(parse_model_ref(version.ref))
            pointed = EndpointRepository(session).point(
                endpoint,
                row,
                actor=actor,
                expected_revision=expected,
                action=f"rollout.{strategy}",
                reason=note,
            )
        return self.endpoints.apply_spec_pii(pointed, version, actor=actor)

    def rollback(self, endpoint: str, *, actor: str = "local", reason: str = "") -> Endpoint:
        """Return ``endpoint`` to the version it served before its last change.

        During a canary this removes the canary (the primary was never changed).
        """
        check_name(endpoint, what="endpoint")
        current_ep = self.endpoints.get(endpoint)
        state = self._state(current_ep)
        if state is not None and state.active:
            new = rollback_state(state, reason or "rollback", time.time(), by=actor)
            return self._persist(current_ep, new, actor=actor)
        with self.store.session() as session:
            repo = EndpointRepository(session)
            current = repo.get(endpoint)
            history = repo.deployments(endpoint)
            previous_id = history[-1].previous_model_version_id if history else None
            if previous_id is None:
                raise ConflictError(
                    f"endpoint {endpoint!r} has no previous version to roll back to"
                )
            target = session.get(ModelVersionRow, previous_id)
            assert target is not None
            ref = f"{target.model.name}:{target.version}"
        version, loaded = self.registry.load(ref, prefer_compiled=True)
        warm(version, loaded)
        with self.store.session() as session:
            row = ModelRepository(session).resolve(parse_model_ref(ref))
            return EndpointRepository(session).point(
                endpoint,
                row,
                actor=actor,
                expected_revision=current.revision,
                action="rollout.rollback",
                reason=reason or "rollback",
            )

    def status(self, endpoint: str) -> dict[str, Any]:
        current = self.endpoints.get(endpoint)
        history = [h for h in self.history(endpoint) if not h["action"].startswith(EVENT_ACTION)]
        previous = history[-1]["from"] if history else None
        serving = f"{current.model}:{current.version}"
        state = self._state(current)
        policy = _policy(current)
        traffic: dict[str, float] = {serving: 100}
        if policy.canary is not None:
            traffic = {serving: 100 - policy.canary.share, policy.canary.ref: policy.canary.share}
        elif policy.ab_arms is not None:
            traffic = {arm.ref: arm.weight for arm in policy.ab_arms}
        out: dict[str, Any] = {
            "endpoint": endpoint,
            "serving": serving,
            "revision": current.revision,
            "strategy": state.strategy if state is not None and state.active else "blue-green",
            "traffic": traffic,
            "policy": policy.to_dict(),
            "rollback_target": previous,
            "last_change": history[-1] if history else None,
            "rollout": None,
        }
        if state is not None:
            analyses = [e for e in state.history if e.kind == "analysis"]
            out["rollout"] = {
                "strategy": state.strategy,
                "candidate": state.candidate,
                "status": state.status.value,
                "share": state.share,
                "step": state.step_index,
                "steps": list(state.config.steps),
                "step_started_at": state.step_started_at,
                "looks": state.progress.looks,
                "waiting_for": state.waiting_for,
                "started_by": state.started_by,
                "last_analysis": analyses[-1].to_dict() if analyses else None,
                "events": [e.to_dict() for e in state.history],
            }
        return out

    # ------------------------------------------------------------------ split rollouts

    def _exists(self, endpoint: str) -> bool:
        try:
            self.endpoints.get(endpoint)
        except NotFoundError:
            return False
        return True

    @staticmethod
    def _state(endpoint: Endpoint) -> RolloutState | None:
        raw = endpoint.config.get("rollout")
        return RolloutState.from_dict(raw) if raw else None

    def _start_split(
        self,
        endpoint: str,
        model_ref: str,
        strategy: str,
        *,
        actor: str,
        force: bool,
        override_reason: str | None,
        config: CanaryConfig | None,
        share: float | None,
    ) -> Endpoint:
        current = self.endpoints.get(endpoint)
        version = self.registry.get(model_ref)
        if (current.model, current.version) == (version.model, version.version):
            raise ConflictError(f"endpoint {endpoint!r} already serves {version.ref}")
        previous = self._state(current)
        if previous is not None and previous.active:
            raise ConflictError(
                f"a {previous.strategy} rollout of {previous.candidate} is already "
                f"{previous.status.value} on {endpoint!r}; finish or roll it back first"
            )
        serving = self.registry.get(f"{current.model}:{current.version}")
        problems = breaking_changes(serving.signature, version.signature)
        if problems and not force:
            raise InvalidInputError(
                f"{version.ref} is incompatible with the callers of {endpoint!r}: "
                f"{'; '.join(problems)} (use --force to roll out anyway)",
                field="model",
            )
        with self.store.session() as session:
            failed = failed_gates(session, version.run_id)
        if failed and not override_reason:
            raise ConflictError(
                f"{version.ref} failed its gates ({'; '.join(failed)}); it cannot take "
                "traffic without an admin override reason"
            )
        now = time.time()
        state = start_rollout(
            strategy,
            _policy(current),
            version.ref,
            now,
            started_by=actor,
            config=config,
            share=share,
            gates_passed=not failed,
            override_reason=override_reason if failed else None,
            override_by=actor if failed else None,
        )
        try:
            _, loaded = self.registry.load(version, prefer_compiled=True)
            warm(version, loaded)
        except ModelyardError as exc:
            aborted = abort(state, f"{version.ref} failed to load: {exc.message}", now, by=actor)
            self._persist(current, aborted, actor=actor)
            raise
        return self._persist(current, state, actor=actor)

    def look(
        self, endpoint: str, arms: ArmRecorder, *, now: float | None = None, force: bool = False
    ) -> RolloutState | None:
        """One analysis look at a running canary (``None`` when there is nothing to do).

        Skipped until ``look_interval_s`` has passed since the last look (or the step
        start) unless ``force``. Raises :class:`ConflictError` when another replica
        changed the endpoint first.
        """
        now = time.time() if now is None else now
        current = self.endpoints.get(endpoint)
        state = self._state(current)
        if state is None or state.strategy != "canary" or state.status is not Status.RUNNING:
            return None
        looks = [
            e.at for e in state.history if e.kind == "analysis" and e.at >= state.step_started_at
        ]
        last = max([state.step_started_at, *looks])
        if not force and now - last < state.config.look_interval_s:
            return None
        primary = policy_for(state).primary
        result = analyze_step(
            state.config,
            arms.window(endpoint, state.candidate, state.step_started_at),
            arms.window(endpoint, primary, state.step_started_at),
            step=state.step_index,
            step_started_at=state.step_started_at,
            now=max(now, state.step_started_at),
            progress=state.progress,
        )
        new = advance(state, result, now, by="canary-analysis")
        self._persist(current, new, actor="canary-analysis")
        return new

    def report(self, endpoint: str) -> dict[str, Any]:
        """Per-version outcomes since the rollout started, from the prediction log and
        feedback, with a two-sided two-proportion z-test on accuracy (A/B significance)."""
        current = self.endpoints.get(endpoint)
        state = self._state(current)
        since = datetime.fromtimestamp(state.started_at, tz=UTC) if state else None
        with self.store.session() as session:
            repo = PredictionRepository(session)
            records = repo.window(endpoint, since, limit=1_000_000)
            labels = {(f.request_id, f.row): f.label for f in repo.feedback_for(endpoint)}
        arms: dict[str, dict[str, Any]] = {}
        for record in records:
            arm = arms.setdefault(
                f"{record.model}:{record.version}",
                {"requests": 0, "rows": 0, "labelled": 0, "correct": 0},
            )
            arm["requests"] += 1
            arm["rows"] += record.n_rows
            for row, predicted in enumerate(record.outputs.get("predictions", [])):
                label = labels.get((record.request_id, row))
                if label is not None:
                    arm["labelled"] += 1
                    arm["correct"] += int(label == predicted)
        for arm in arms.values():
            arm["accuracy"] = arm["correct"] / arm["labelled"] if arm["labelled"] else None
        return {
            "endpoint": endpoint,
            "strategy": state.strategy if state else None,
            "arms": arms,
            "test": two_proportion_test(arms) if len(arms) == 2 else None,
        }

    def abort_unloadable(self, endpoint: str, revision: int, message: str) -> bool:
        """Abort the endpoint's rollout when its policy (``revision``) failed to load."""
        current = self.endpoints.get(endpoint)
        state = self._state(current)
        if current.revision != revision or state is None or not state.active:
            return False
        reason = f"the rollout's versions failed to load: {message}"
        self._persist(current, abort(state, reason, time.time()), actor="rollout-loader")
        return True

    def _persist(self, current: Endpoint, state: RolloutState, *, actor: str) -> Endpoint:
        """Store ``state`` and its policy, only if the endpoint is still at the revision
        ``current`` was read at; promotion points the endpoint at the candidate."""
        name = current.name
        known = self._state(current)
        seen = (
            len(known.history) if known is not None and known.started_at == state.started_at else 0
        )
        policy = policy_for(state)
        with self.store.session() as session:
            claimed = session.execute(
                update(EndpointRow)
                .where(EndpointRow.name == name, EndpointRow.revision == current.revision)
                .values(revision=EndpointRow.revision)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                raise ConflictError(
                    f"endpoint {name!r} changed while this rollout step was decided; retry"
                )
            repo = EndpointRepository(session)
            revision = current.revision
            if policy.primary != f"{current.model}:{current.version}":
                row = ModelRepository(session).resolve(parse_model_ref(policy.primary))
                revision = repo.point(
                    name,
                    row,
                    actor=actor,
                    expected_revision=revision,
                    action=f"rollout.{state.strategy}",
                    reason=state.history[-1].reason if state.history else "",
                ).revision
            config = dict(repo.get(name).config)
            if policy.refs == (policy.primary,):
                config.pop("traffic", None)
            else:
                config["traffic"] = policy.to_dict()
            config["rollout"] = state.to_dict()
            endpoint = repo.configure(name, config, actor=actor)
            audit = AuditRepository(session)
            for event in state.history[seen:]:
                audit.append(
                    actor=event.by or actor,
                    action=f"{EVENT_ACTION}{event.kind}"[:64],
                    target=f"endpoint:{name}",
                    after=event.to_dict(),
                )
            return endpoint

    def history(self, endpoint: str) -> list[dict[str, Any]]:
        """Every change of the endpoint: when, who, from → to, and why."""
        with self.store.session() as session:
            rows = EndpointRepository(session).deployments(endpoint)
            versions = {
                v.id: f"{v.model.name}:{v.version}"
                for v in session.scalars(select(ModelVersionRow))
            }
            audit = list(
                session.scalars(
                    select(AuditRow)
                    .where(AuditRow.target == f"endpoint:{endpoint}")
                    .order_by(AuditRow.id)
                )
            )
        reasons = [
            a
            for a in audit
            if a.action.startswith(("endpoint.deploy", "rollout."))
            and not a.action.startswith(EVENT_ACTION)
        ]
        out: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            entry = reasons[i] if i < len(reasons) else None
            out.append(
                {
                    "at": row.at.isoformat(),
                    "actor": row.actor,
                    "from": versions.get(row.previous_model_version_id or -1),
                    "to": versions.get(row.model_version_id),
                    "action": entry.action if entry else "endpoint.deploy",
                    "reason": (entry.after or {}).get("reason", "") if entry else "",
                }
            )
        for a in audit:
            if a.action.startswith(EVENT_ACTION):
                event = a.after or {}
                out.append(
                    {
                        "at": a.at.isoformat(),
                        "actor": a.actor,
                        "from": None,
                        "to": None,
                        "action": a.action,
                        "reason": event.get("reason", ""),
                        "share": event.get("share"),
                        "outcome": event.get("outcome"),
                        "evidence": event.get("evidence"),
                    }
                )
        out.sort(key=lambda h: str(h["at"]))
        return out


def _policy(endpoint: Endpoint) -> TrafficPolicy:
    """The endpoint's stored traffic policy, or its version alone."""
    raw = endpoint.config.get("traffic")
    ref = f"{endpoint.model}:{endpoint.version}"
    if raw:
        policy = TrafficPolicy.from_dict(raw)
        if policy.primary == ref:
            return policy
    return TrafficPolicy(primary=ref, salt=endpoint.name)


def canary_config(
    settings: dict[str, Any] | None = None, steps: list[float] | None = None
) -> CanaryConfig:
    """A :class:`CanaryConfig` from request/CLI settings; ``steps`` overrides theirs."""
    values = dict(settings or {})
    if steps is not None:
        values["steps"] = steps
    return CanaryConfig.from_dict(values)


def two_proportion_test(arms: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Two-sided z-test that the arms' accuracies differ (None without labels on both)."""
    (a_name, a), (b_name, b) = sorted(arms.items())
    n1, n2 = a["labelled"], b["labelled"]
    if not n1 or not n2:
        return None
    p1, p2 = a["correct"] / n1, b["correct"] / n2
    pooled = (a["correct"] + b["correct"]) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se if se > 0 else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return {
        "metric": "accuracy",
        "arms": [a_name, b_name],
        "difference": p1 - p2,
        "z": z,
        "p_value": p_value,
        "significant_at_0.05": p_value < 0.05,
    }
