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
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelyard.deployments.service import EndpointService, warm
from modelyard.domain.compat import breaking_changes
from modelyard.domain.entities import Endpoint, ModelVersion
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
from modelyard.domain.rollout import approve as approve_state
from modelyard.domain.rollout import promote as promote_state
from modelyard.domain.rollout import rollback as rollback_state
from modelyard.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    ModelyardError,
    NotFoundError,
)
from modelyard.registry.service import RegistryService, failed_gates
from modelyard.serving.table import ArmRecorder
from modelyard.spec.loader import loads_spec
from modelyard.store.orm import AuditRow, EndpointRow, ModelVersionRow, RunRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.models import ModelRepository
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store

STRATEGIES = ("blue-green", "canary", "shadow", "ab")
#: Strategies that split or mirror traffic through a stored policy.
SPLIT_STRATEGIES = ("canary", "shadow", "ab")
EVENT_ACTION = "rollout.event."


class SelfApprovalError(ForbiddenError):
    """The principal who started a rollout tried to approve it (HTTP answers 403)."""


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
        require_approval: bool = False,
    ) -> Endpoint:
        """Switch ``endpoint`` to ``model_ref`` with ``strategy`` (checked, warmed, atomic).

        Canary starts a stepwise rollout (``config``: steps, minimum data, ...) that the
        servers' analysis advances, promotes or rolls back; without ``config`` the
        ``rollout:`` section of the version's training spec (or the defaults) applies.

        When the version's spec says ``approval_required: true`` (or ``require_approval``
        is set), full promotion waits for :meth:`approve` by a principal other than
        ``actor``: blue-green then loads and checks the version but keeps the primary
        serving everything until the approval; a canary holds at its last partial step.
        """
        check_name(endpoint, what="endpoint")
        if strategy not in STRATEGIES:
            raise InvalidInputError(
                f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}",
                field="strategy",
            )
        if not isinstance(require_approval, bool):
            raise InvalidInputError("require_approval must be true or false", field="approval")
        version = self.registry.get(model_ref)
        spec = _training_spec(self.store, version.run_id)
        approval = require_approval or bool(spec.get("approval_required", False))
        if strategy == "canary" and config is None:
            config = _spec_canary_config(spec, version.ref)
        if strategy in SPLIT_STRATEGIES or approval:
            if strategy == "blue-green" and not self._exists(endpoint):
                raise ConflictError(
                    f"{version.ref} needs a second principal's approval before it serves "
                    f"(approval_required); endpoint {endpoint!r} does not exist yet, so there "
                    "is no primary to keep serving while it waits: deploy a first version"
                )
            return self._start_split(
                endpoint,
                version.ref,
                strategy,
                actor=actor,
                force=force,
                override_reason=override_reason,
                config=config,
                share=share,
                approval_required=approval,
                reason=reason,
            )
        active = self._state(self.endpoints.get(endpoint)) if self._exists(endpoint) else None
        if active is not None and active.active:
            raise ConflictError(
                f"a {active.strategy} rollout of {active.candidate} is running on "
                f"{endpoint!r}; finish or roll it back first"
            )
        try:
            current = self.endpoints.get(endpoint)
        except NotFoundError:
            current = None
        if current is not None:
            if (current.model, current.version) == (version.model, version.version):
                raise ConflictError(f"endpoint {endpoint!r} already serves {version.ref}")
            serving = self.registry.get(f"{current.model}:{current.version}")
            _refuse_breaking(serving, version, endpoint, force, "switch")
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
            repo = EndpointRepository(session)
            pointed = repo.point(
                endpoint,
                row,
                actor=actor,
                expected_revision=expected,
                action=f"rollout.{strategy}",
                reason=note,
            )
            if current is not None:
                previous_ref = f"{current.model}:{current.version}"
                pointed = carry_policy(session, endpoint, previous_ref, version.ref, actor=actor)
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
        serving_ref = f"{current_ep.model}:{current_ep.version}"
        if (
            state is not None
            and state.status is Status.PROMOTED
            and state.candidate == serving_ref
            and policy_for(state) == _policy(current_ep)
        ):
            # Undo the promotion through the rollout, so its history says so too.
            version, loaded = self.registry.load(state.baseline.primary, prefer_compiled=True)
            warm(version, loaded)
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
            repo = EndpointRepository(session)
            repo.point(
                endpoint,
                row,
                actor=actor,
                expected_revision=current.revision,
                action="rollout.rollback",
                reason=reason or "rollback",
            )
            return carry_policy(session, endpoint, serving_ref, ref, actor=actor)

    def approve(self, endpoint: str, *, actor: str, reason: str = "") -> RolloutState:
        """Record ``actor``'s approval of the running rollout's full promotion.

        ``actor`` must differ from the principal who started it
        (:class:`SelfApprovalError`). A rollout already waiting for the approval is
        promoted now (blue-green: after loading and warming the candidate again);
        otherwise it promotes when its analysis gets there. ``reason`` is recorded with
        the approval.
        """
        check_name(endpoint, what="endpoint")
        if not isinstance(reason, str):
            raise InvalidInputError("reason must be a string", field="reason")
        current = self.endpoints.get(endpoint)
        state = self._state(current)
        if state is None or not state.active:
            raise ConflictError(f"no rollout is running on {endpoint!r}; nothing to approve")
        what = f"the {state.strategy} rollout of {state.candidate} on {endpoint!r}"
        if not state.approval_required:
            raise ConflictError(f"{what} does not require approval; nothing to approve")
        if state.started_by is not None and actor == state.started_by:
            raise SelfApprovalError(
                f"{actor} started {what}; another principal must approve it",
                field="approved_by",
            )
        if state.approved_by is not None:
            raise ConflictError(
                f"{what} was already approved by {state.approved_by}; nothing to approve"
            )
        new = approve_state(state, actor, time.time())
        if reason.strip():
            events = list(new.history)
            i = len(state.history)  # the "approved" event comes first
            events[i] = replace(events[i], reason=f"{events[i].reason}: {reason.strip()}")
            new = replace(new, history=tuple(events))
        if new.status is Status.PROMOTED and state.strategy == "blue-green":
            version, loaded = self.registry.load(new.candidate, prefer_compiled=True)
            warm(version, loaded)
        self._persist(current, new, actor=actor)
        return new

    def set_fallback(
        self,
        endpoint: str,
        model_ref: str | None,
        *,
        actor: str = "local",
        force: bool = False,
        reason: str = "",
    ) -> Endpoint:
        """Name the version that answers while the primary's circuit breaker is open
        (``None`` clears it). It is checked like a rollout candidate (signature against
        the endpoint's callers unless ``force``, load and warm-up) and recorded."""
        check_name(endpoint, what="endpoint")
        current = self.endpoints.get(endpoint)
        state = self._state(current)
        if state is not None and state.active:
            raise ConflictError(
                f"a {state.strategy} rollout of {state.candidate} is {state.status.value} on "
                f"{endpoint!r}; set the fallback before it starts or after it ends"
            )
        policy = _policy(current)
        if model_ref is None:
            if policy.fallback is None:
                raise ConflictError(f"endpoint {endpoint!r} has no fallback version to clear")
            new_policy = replace(policy, fallback=None)
            text = f"fallback {policy.fallback} cleared"
        else:
            version = self.registry.get(model_ref)
            if version.ref == policy.fallback:
                raise ConflictError(f"{version.ref} already is the fallback of {endpoint!r}")
            try:
                new_policy = replace(policy, fallback=version.ref)  # validates (not the primary)
            except InvalidInputError as exc:
                raise InvalidInputError(exc.message, field="model") from None
            serving = self.registry.get(policy.primary)
            _refuse_breaking(serving, version, endpoint, force, "make it the fallback")
            _, loaded = self.registry.load(version, prefer_compiled=True)
            warm(version, loaded)
            text = f"fallback set to {version.ref}"
        if reason:
            text = f"{text}: {reason}"
        with self.store.session() as session:
            _claim(session, current)
            repo = EndpointRepository(session)
            config = dict(repo.get(endpoint).config)
            if new_policy.refs == (new_policy.primary,):
                config.pop("traffic", None)
            else:
                config["traffic"] = new_policy.to_dict()
            updated = repo.configure(endpoint, config, actor=actor)
            _record_fallback(
                session,
                endpoint,
                actor=actor,
                reason=text,
                evidence={"primary": new_policy.primary, "fallback": new_policy.fallback},
            )
            return updated

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
        if state is not None and state.active:
            previous = state.baseline.primary  # rolling back ends the rollout
        out: dict[str, Any] = {
            "endpoint": endpoint,
            "serving": serving,
            "revision": current.revision,
            "strategy": state.strategy if state is not None and state.active else "blue-green",
            "traffic": traffic,
            "policy": policy.to_dict(),
            "fallback": policy.fallback,
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
                "candidate_share": state.candidate_share,
                "step": state.step_index,
                "steps": list(state.config.steps),
                "step_started_at": state.step_started_at,
                "looks": state.progress.looks,
                "waiting_for": state.waiting_for,
                "started_by": state.started_by,
                "approval_required": state.approval_required,
                "approved_by": state.approved_by,
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
        approval_required: bool,
        reason: str,
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
        _refuse_breaking(serving, version, endpoint, force, "roll out")
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
            approval_required=approval_required,
            reason=reason,
        )
        if strategy == "blue-green":  # only with approval_required: asks for 100%, waits
            state = promote_state(state, now, by=actor, reason=reason or "blue-green rollout")
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
            _claim(session, current)
            repo = EndpointRepository(session)
            revision = current.revision
            if policy.primary != f"{current.model}:{current.version}":
                row = ModelRepository(session).resolve(parse_model_ref(policy.primary))
                revision = repo.point(
                    name,
                    row,
                    actor=actor,
                    expected_revision=revision,
                    action=(
                        "rollout.rollback"
                        if state.status is Status.ROLLED_BACK
                        else f"rollout.{state.strategy}"
                    ),
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
            new_events = state.history[seen:]
            for event in new_events:
                audit.append(
                    actor=event.by or actor,
                    action=f"{EVENT_ACTION}{event.kind}"[:64],
                    target=f"endpoint:{name}",
                    after=event.to_dict(),
                )
            promoted = next((e for e in new_events if e.kind == "promoted"), None)
            if promoted is not None and state.baseline.fallback == state.candidate:
                _record_fallback_cleared(
                    session,
                    name,
                    cleared=state.candidate,
                    previous=state.baseline.primary,
                    actor=promoted.by or actor,
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


def _refuse_breaking(
    serving: ModelVersion, version: ModelVersion, endpoint: str, force: bool, action: str
) -> None:
    """Refuse ``version`` if it would break the callers of ``serving`` (unless forced)."""
    problems = breaking_changes(serving.signature, version.signature)
    if problems and not force:
        raise InvalidInputError(
            f"{version.ref} is incompatible with the callers of {endpoint!r}: "
            f"{'; '.join(problems)} (use --force to {action} anyway)",
            field="model",
        )


def _claim(session: Session, current: Endpoint) -> None:
    """Lock the endpoint row for this transaction if it is still at ``current.revision``
    (else :class:`ConflictError`: someone changed it since it was read)."""
    claimed = session.execute(
        update(EndpointRow)
        .where(EndpointRow.name == current.name, EndpointRow.revision == current.revision)
        .values(revision=EndpointRow.revision)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise ConflictError(
            f"endpoint {current.name!r} changed while this change was decided; retry"
        )


def carry_policy(
    session: Session, name: str, previous: str, primary: str, *, actor: str
) -> Endpoint:
    """After a direct switch from ``previous`` to ``primary``, keep the stored policy's
    fallback; drop everything else of the old policy.

    When the new primary *is* the fallback, the fallback is cleared (a version cannot
    catch its own failures) and the history says so. The version being left is not
    made the fallback in its place: a switch is often an escape from that version, and
    a fallback is a choice a person makes (``set_fallback``)."""
    repo = EndpointRepository(session)
    endpoint = repo.get(name)
    raw = endpoint.config.get("traffic")
    if not raw:
        return endpoint
    old = TrafficPolicy.from_dict(raw)
    config = dict(endpoint.config)
    fallback = old.fallback if old.primary == previous else None
    if fallback == primary:
        _record_fallback_cleared(session, name, cleared=primary, previous=previous, actor=actor)
        fallback = None
    if fallback is None:
        config.pop("traffic", None)
    else:
        config["traffic"] = TrafficPolicy(primary, fallback=fallback, salt=name).to_dict()
    return repo.configure(name, config, actor=actor)


def _record_fallback_cleared(
    session: Session, name: str, *, cleared: str, previous: str, actor: str
) -> None:
    """Audit (and so the endpoint's history) that the fallback went because it became
    the primary."""
    _record_fallback(
        session,
        name,
        actor=actor,
        reason=(
            f"fallback {cleared} cleared: it is now the primary (switched from "
            f"{previous}); the endpoint has no fallback until one is set again"
        ),
        evidence={"primary": cleared, "fallback": None, "cleared": cleared},
    )


def _record_fallback(
    session: Session, name: str, *, actor: str, reason: str, evidence: dict[str, Any]
) -> None:
    """A fallback change in the audit log (and so in the endpoint's history)."""
    AuditRepository(session).append(
        actor=actor,
        action=f"{EVENT_ACTION}fallback",
        target=f"endpoint:{name}",
        after={
            "at": time.time(),
            "kind": "fallback",
            "reason": reason,
            "by": actor,
            "evidence": evidence,
        },
    )


def _training_spec(store: Store, run_id: str | None) -> dict[str, Any]:
    """The promotion-relevant parts of the spec a version was trained from (``{}`` when
    it was not trained from a spec): ``approval_required`` and ``rollout``."""
    if run_id is None:
        return {}
    with store.session() as session:
        run = session.get(RunRow, run_id)
        digest = run.params.get("spec_digest") if run is not None else None
    if not digest:
        return {}
    spec = loads_spec(store.artifacts.get_bytes(str(digest)).decode(), source=f"run {run_id}")
    return {"approval_required": spec.approval_required, "rollout": dict(spec.rollout)}


def _spec_canary_config(spec: dict[str, Any], ref: str) -> CanaryConfig | None:
    settings = spec.get("rollout")
    if not settings:
        return None
    try:
        return CanaryConfig.from_dict(settings)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"the rollout section of {ref}'s training spec is invalid: {exc.message}",
            field=f"rollout.{exc.field}" if exc.field else "rollout",
        ) from None


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
