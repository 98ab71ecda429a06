"""Appending to and reading the hash-chained audit log."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from modelyard.domain.audit import GENESIS, AuditEntry, entry_hash
from modelyard.store.orm import AuditRow, utcnow

_CHAIN_LOCK = 7_270_001


def _plain(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-native copy, so the hash covers exactly what the database stores."""
    return None if value is None else json.loads(json.dumps(value, default=str))


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> AuditRow:
        """Add an entry in the caller's transaction, chained to the newest one."""
        if self.session.get_bind().dialect.name == "postgresql":
            # Serialise appends so two writers never chain onto the same entry.
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
        last = self.session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(1)).first()
        prev = last.hash if last else GENESIS
        at = utcnow()
        before, after = _plain(before), _plain(after)
        row = AuditRow(
            at=at,
            actor=actor[:160],
            action=action,
            target=target[:256],
            before=before,
            after=after,
            request_id=request_id,
            prev_hash=prev,
            hash=entry_hash(
                prev,
                at=at,
                actor=actor[:160],
                action=action,
                target=target[:256],
                before=before,
                after=after,
                request_id=request_id,
            ),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id)
        rows = self.session.scalars(query).all()
        if limit is not None:
            rows = rows[-limit:]
        return [
            AuditEntry(
                id=r.id,
                at=r.at,
                actor=r.actor,
                action=r.action,
                target=r.target,
                before=r.before,
                after=r.after,
                request_id=r.request_id,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in rows
        ]
