"""API keys (only hashes are stored)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.domain.security import Principal, Role
from modelyard.errors import NotFoundError
from modelyard.store.orm import ApiKeyRow

#: The columns of every key that make its principal, by id (see ``fingerprint``).
KeyFingerprint: TypeAlias = list[tuple[Any, ...]]
_FINGERPRINT = select(
    ApiKeyRow.id,
    ApiKeyRow.prefix,
    ApiKeyRow.key_hash,
    ApiKeyRow.name,
    ApiKeyRow.role,
    ApiKeyRow.endpoints,
    ApiKeyRow.expires_at,
    ApiKeyRow.revoked_at,
).order_by(ApiKeyRow.id)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def to_principal(row: ApiKeyRow) -> Principal:
    return Principal(
        name=row.name,
        prefix=row.prefix,
        role=Role(row.role),
        endpoints=frozenset(row.endpoints) if row.endpoints is not None else None,
        expires_at=_aware(row.expires_at),
        revoked=row.revoked_at is not None,
        key_hash=row.key_hash,
    )


class KeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ApiKeyRow) -> ApiKeyRow:
        self.session.add(row)
        self.session.flush()
        return row

    def row(self, prefix: str) -> ApiKeyRow:
        row = self.session.scalars(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).first()
        if row is None:
            raise NotFoundError(f"API key {prefix!r} not found")
        return row

    def all(self) -> list[ApiKeyRow]:
        return list(self.session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)).all())

    def fingerprint(self) -> KeyFingerprint:
        """Every key's columns that :func:`to_principal` reads, by id (one query, no
        objects): equal fingerprints mean equal principals."""
        return [tuple(row) for row in self.session.execute(_FINGERPRINT)]
