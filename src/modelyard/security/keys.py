"""Creating, listing, revoking and checking API keys; the bootstrap admin key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelyard.domain.refs import check_name
from modelyard.domain.security import (
    Principal,
    Role,
    generate_key,
    key_matches,
    key_prefix,
    parse_role,
)
from modelyard.errors import ConflictError, InvalidInputError, NotFoundError
from modelyard.security.credentials import read_credentials, write_credentials
from modelyard.settings import Settings
from modelyard.store.orm import ApiKeyRow, utcnow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.keys import KeyFingerprint, KeyRepository, to_principal
from modelyard.store.store import Store


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    name: str
    role: str
    endpoints: list[str] | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(
        prefix=row.prefix,
        name=row.name,
        role=row.role,
        endpoints=list(row.endpoints) if row.endpoints is not None else None,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class KeyService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        *,
        name: str,
        role: str,
        endpoints: list[str] | None = None,
        expires_in_days: float | None = None,
        actor: str = "local",
        request_id: str | None = None,
    ) -> tuple[KeyInfo, str]:
        """A new key; the plaintext is returned once and never stored."""
        check_name(name, what="key name")
        parsed = parse_role(role)
        if endpoints is not None:
            endpoints = sorted({check_name(e, what="endpoint") for e in endpoints})
            if parsed is not Role.PREDICTOR:
                raise InvalidInputError(
                    "endpoint restrictions apply to the predictor role only", field="endpoints"
                )
        expires_at = None
        if expires_in_days is not None:
            if expires_in_days <= 0:
                raise InvalidInputError("expiry must be in the future", field="expires_in_days")
            expires_at = utcnow() + timedelta(days=expires_in_days)
        plaintext, prefix, digest = generate_key()
        with self.store.session() as session:
            row = KeyRepository(session).add(
                ApiKeyRow(
                    prefix=prefix,
                    key_hash=digest,
                    name=name,
                    role=parsed.value,
                    endpoints=endpoints,
                    created_by=actor,
                    expires_at=expires_at,
                )
            )
            AuditRepository(session).append(
                actor=actor,
                action="key.create",
                target=f"key:{prefix}",
                after={"name": name, "role": parsed.value, "endpoints": endpoints},
                request_id=request_id,
            )
            return _info(row), plaintext

    def list(self) -> list[KeyInfo]:
        with self.store.session() as session:
            return [_info(r) for r in KeyRepository(session).all()]

    def revoke(
        self, prefix: str, *, actor: str = "local", request_id: str | None = None
    ) -> KeyInfo:
        prefix = prefix.removeprefix("my_").split("_")[0]
        with self.store.session() as session:
            row = KeyRepository(session).row(prefix)
            if row.revoked_at is not None:
                raise ConflictError(f"API key {prefix!r} is already revoked")
            row.revoked_at = utcnow()
            AuditRepository(session).append(
                actor=actor,
                action="key.revoke",
                target=f"key:{prefix}",
                before={"revoked": False},
                after={"revoked": True},
                request_id=request_id,
            )
            return _info(row)

    def principals(self) -> dict[str, Principal]:
        """Every key by prefix, for the server's in-memory authentication table."""
        with self.store.session() as session:
            return {r.prefix: to_principal(r) for r in KeyRepository(session).all()}

    def fingerprint(self) -> KeyFingerprint:
        """Changes whenever :meth:`principals` would: a cheap check before reloading."""
        with self.store.session() as session:
            return KeyRepository(session).fingerprint()

    def principal(self, prefix: str) -> Principal | None:
        """One key's principal by prefix (``None`` if there is no such key)."""
        with self.store.session() as session:
            try:
                return to_principal(KeyRepository(session).row(prefix))
            except NotFoundError:
                return None

    def authenticate(self, plaintext: str) -> Principal | None:
        """The principal for a presented key, or ``None`` if unknown, revoked or expired."""
        return authenticate(self.principals(), plaintext)

    def ensure_admin_credentials(self, settings: Settings) -> str:
        """The key in the credentials file, creating an admin key (and the file) if needed."""
        existing = read_credentials(settings)
        if existing:
            principal = self.authenticate(existing)
            if principal is not None and principal.role is Role.ADMIN:
                return existing
        _, key = self.create(name="bootstrap-admin", role="admin", actor="system:first-start")
        write_credentials(settings, key)
        return key


def authenticate(principals: dict[str, Principal], plaintext: str) -> Principal | None:
    prefix = key_prefix(plaintext)
    if prefix is None:
        return None
    principal = principals.get(prefix)
    if principal is None or not key_matches(plaintext, principal.key_hash):
        return None
    if not principal.usable(datetime.now(UTC)):
        return None
    return principal
