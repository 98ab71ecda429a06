"""Stored responses for idempotent requests, keyed by (Idempotency-Key, caller)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.store.orm import IdempotencyRow


@dataclass(frozen=True)
class Outcome:
    state: Literal["new", "pending", "done", "mismatch"]
    status: int | None = None
    body: bytes | None = None


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _row(self, key: str, actor: str) -> IdempotencyRow | None:
        return self.session.scalars(
            select(IdempotencyRow).where(IdempotencyRow.key == key, IdempotencyRow.actor == actor)
        ).first()

    def claim(self, key: str, actor: str, fingerprint: str) -> Outcome:
        """Reserve the key for this request, or report what an earlier one did."""
        row = self._row(key, actor)
        if row is None:
            try:
                with self.session.begin_nested():
                    self.session.add(IdempotencyRow(key=key, actor=actor, fingerprint=fingerprint))
                return Outcome("new")
            except IntegrityError:
                row = self._row(key, actor)
                assert row is not None
        if row.fingerprint != fingerprint:
            return Outcome("mismatch")
        if row.status is None:
            return Outcome("pending")
        return Outcome("done", row.status, row.body)

    def complete(self, key: str, actor: str, status: int, body: bytes) -> None:
        row = self._row(key, actor)
        if row is not None:
            row.status = status
            row.body = body

    def release(self, key: str, actor: str) -> None:
        self.session.execute(
            delete(IdempotencyRow).where(IdempotencyRow.key == key, IdempotencyRow.actor == actor)
        )
