"""Endpoints and their deployment history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.domain.entities import Endpoint
from modelyard.errors import ConflictError, NotFoundError
from modelyard.store.orm import DeploymentRow, EndpointRow, ModelVersionRow, utcnow
from modelyard.store.repositories.audit import AuditRepository

#: ``(name, revision)`` of every endpoint, by name (see ``revisions``).
EndpointRevisions: TypeAlias = list[tuple[str, int]]
_REVISIONS = select(EndpointRow.name, EndpointRow.revision).order_by(EndpointRow.name)


def to_entity(row: EndpointRow) -> Endpoint:
    return Endpoint(
        name=row.name,
        model=row.model_version.model.name,
        version=row.model_version.version,
        revision=row.revision,
        updated_at=row.updated_at,
        config=dict(row.config or {}),
    )


class EndpointRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def row(self, name: str) -> EndpointRow | None:
        return self.session.scalars(select(EndpointRow).where(EndpointRow.name == name)).first()

    def get(self, name: str) -> Endpoint:
        row = self.row(name)
        if row is None:
            raise NotFoundError(f"endpoint {name!r} not found")
        return to_entity(row)

    def list(self) -> list[Endpoint]:
        rows = self.session.scalars(select(EndpointRow).order_by(EndpointRow.name)).all()
        return [to_entity(r) for r in rows]

    def revisions(self) -> EndpointRevisions:
        """Every endpoint's name and revision, by name (one narrow query, no objects):
        each change to an endpoint (deploy, config, traffic, recompile) bumps its
        revision."""
        return [(name, revision) for name, revision in self.session.execute(_REVISIONS)]

    def configure(self, name: str, config: dict[str, Any], *, actor: str) -> Endpoint:
        """Replace the endpoint's options; running servers apply them on refresh."""
        row = self.row(name)
        if row is None:
            raise NotFoundError(f"endpoint {name!r} not found")
        before = dict(row.config or {})
        row.config = config
        row.revision = row.revision + 1
        row.updated_at = utcnow()
        self.session.flush()
        AuditRepository(self.session).append(
            actor=actor,
            action="endpoint.configure",
            target=f"endpoint:{name}",
            before=before,
            after=config,
        )
        return to_entity(row)

    def point(
        self,
        name: str,
        version: ModelVersionRow,
        *,
        actor: str,
        expected_revision: int | None = None,
        action: str = "endpoint.deploy",
        reason: str = "",
    ) -> Endpoint:
        """Create the endpoint or move it to ``version``, recording the change.

        With ``expected_revision`` the move only happens if nobody changed the endpoint
        since that revision was read (two concurrent rollouts: one wins, one conflicts).
        """
        row = self.session.scalars(
            select(EndpointRow).where(EndpointRow.name == name).with_for_update()
        ).first()
        if expected_revision is not None and (row.revision if row else 0) != expected_revision:
            raise ConflictError(
                f"endpoint {name!r} changed while this rollout was starting "
                f"(revision {row.revision if row else 0}, expected {expected_revision}); retry"
            )
        previous_id: int | None = None
        if row is None:
            row = EndpointRow(name=name, model_version_id=version.id, revision=1)
            self.session.add(row)
        else:
            previous_id = row.model_version_id
            row.model_version_id = version.id
            row.revision = row.revision + 1
            row.updated_at = utcnow()
        self.session.flush()
        self.session.add(
            DeploymentRow(
                endpoint_id=row.id,
                model_version_id=version.id,
                previous_model_version_id=previous_id,
                actor=actor,
            )
        )
        self.session.flush()
        self.session.refresh(row)
        AuditRepository(self.session).append(
            actor=actor,
            action=action,
            target=f"endpoint:{name}",
            before={"model_version_id": previous_id} if previous_id else None,
            after={"model": version.model.name, "version": version.version, "reason": reason},
        )
        return to_entity(row)

    def deployments(self, name: str) -> Sequence[DeploymentRow]:
        row = self.row(name)
        if row is None:
            raise NotFoundError(f"endpoint {name!r} not found")
        return self.session.scalars(
            select(DeploymentRow)
            .where(DeploymentRow.endpoint_id == row.id)
            .order_by(DeploymentRow.id)
        ).all()
