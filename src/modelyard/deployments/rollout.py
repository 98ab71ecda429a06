"""Rollouts that are wired end to end today: blue-green with instant rollback.

Blue-green loads and warms the new version before the switch (the server swaps its
in-memory table only after the same load and warm-up), keeps the previous version
loaded, and ``rollback`` returns to it. Every change is in the deployment history and
the audit log with who, when and why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from modelyard.deployments.service import EndpointService, warm
from modelyard.domain.compat import breaking_changes
from modelyard.domain.entities import Endpoint
from modelyard.domain.refs import check_name, parse_model_ref
from modelyard.errors import ConflictError, InvalidInputError, NotFoundError
from modelyard.registry.service import RegistryService, failed_gates
from modelyard.store.orm import AuditRow, ModelVersionRow
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.models import ModelRepository
from modelyard.store.store import Store

STRATEGIES = ("blue-green",)


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
    ) -> Endpoint:
        """Switch ``endpoint`` to ``model_ref`` with ``strategy`` (checked, warmed, atomic)."""
        check_name(endpoint, what="endpoint")
        if strategy not in STRATEGIES:
            raise InvalidInputError(
                f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}",
                field="strategy",
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
            return EndpointRepository(session).point(
                endpoint,
                row,
                actor=actor,
                expected_revision=expected,
                action=f"rollout.{strategy}",
                reason=note,
            )

    def rollback(self, endpoint: str, *, actor: str = "local", reason: str = "") -> Endpoint:
        """Return ``endpoint`` to the version it served before its last change."""
        check_name(endpoint, what="endpoint")
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
        history = self.history(endpoint)
        previous = history[-1]["from"] if history else None
        return {
            "endpoint": endpoint,
            "serving": f"{current.model}:{current.version}",
            "revision": current.revision,
            "strategy": "blue-green",
            "traffic": {f"{current.model}:{current.version}": 100},
            "rollback_target": previous,
            "last_change": history[-1] if history else None,
        }

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
        reasons = [a for a in audit if a.action.startswith(("endpoint.deploy", "rollout."))]
        out = []
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
        return out
