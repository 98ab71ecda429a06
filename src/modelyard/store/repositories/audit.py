"""Appending to, reading, verifying and re-chaining the keyed, sealed audit log.

The key comes from the session (``Store.session()`` puts the audit key, derived from the
server secret, in ``session.info``), so every caller's ``AuditRepository(session)``
chains under it. Appends are serialised: on PostgreSQL by a transaction-scoped advisory
lock, on SQLite by the write lock every transaction takes at ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from modelyard.domain.audit import (
    GENESIS,
    LEGACY_SEAL_MAC,
    AuditEntry,
    AuditReport,
    AuditSeal,
    entry_hash,
    is_unsealed_legacy_log,
    make_seal,
    rechain,
    seal_is_valid,
    verify_log,
)
from modelyard.store.orm import ApiKeyRow, AuditRow, AuditSealRow, JobRow, WebhookRow, utcnow

#: ``session.info`` key under which ``Store.session()`` passes the audit key.
AUDIT_KEY_INFO = "modelyard.audit_key"

_CHAIN_LOCK = 7_270_001
_SEAL_ID = 1

log = logging.getLogger("modelyard.audit")


def _plain(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-native copy, so the hash covers exactly what the database stores."""
    return None if value is None else json.loads(json.dumps(value, default=str))


def _entry(r: AuditRow) -> AuditEntry:
    return AuditEntry(
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


def _seal(r: AuditSealRow) -> AuditSeal:
    return AuditSeal(last_id=r.last_id, last_hash=r.last_hash, count=r.count, mac=r.mac)


class AuditRepository:
    def __init__(self, session: Session, *, key: bytes | None = None) -> None:
        self.session = session
        self._key = key

    @property
    def key(self) -> bytes:
        """The audit key: given explicitly, or the one its ``Store`` session carries."""
        key = self._key if self._key is not None else self.session.info.get(AUDIT_KEY_INFO)
        if not isinstance(key, bytes):
            raise RuntimeError("this session carries no audit key; open it with Store.session()")
        return key

    def lock(self) -> None:
        """Serialise with every other append until this transaction ends."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})

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
        """Add an entry in the caller's transaction, chained to the sealed head, and reseal.

        If the head cannot be trusted (the seal is missing from a non-empty log, or its
        HMAC does not verify), the entry is still recorded, chained onto the newest row,
        and the seal is left as it is, so ``verify`` keeps reporting the damage.
        """
        key = self.key
        self.lock()
        prev, count, seal = self._head(key)
        at = utcnow()
        actor, target = actor[:160], target[:256]
        before, after = _plain(before), _plain(after)
        digest = entry_hash(
            key,
            prev,
            at=at,
            actor=actor,
            action=action,
            target=target,
            before=before,
            after=after,
            request_id=request_id,
        )
        row = AuditRow(
            at=at,
            actor=actor,
            action=action,
            target=target,
            before=before,
            after=after,
            request_id=request_id,
            prev_hash=prev,
            hash=digest,
        )
        self.session.add(row)
        self.session.flush()
        if count is None:
            log.error(
                "audit seal missing or invalid: entry %s recorded but not sealed; "
                "run `modelyard audit verify`",
                row.id,
            )
        else:
            self._write_seal(seal, make_seal(key, row.id, row.hash, count + 1))
        return row

    def _head(self, key: bytes) -> tuple[str, int | None, AuditSealRow | None]:
        """``(prev_hash, sealed count, seal row)`` for the next entry; the count is
        ``None`` when the head cannot be trusted."""
        seal = self._seal_row()
        if seal is None:
            newest = self._newest_row()
            if newest is None:
                return GENESIS, 0, None  # a new log
            return newest.hash, None, None  # the seal was deleted
        if seal.mac == LEGACY_SEAL_MAC and self._adopt_legacy(key, seal):
            seal = self._seal_row()
            assert seal is not None
        if seal_is_valid(key, _seal(seal)):
            return seal.last_hash, seal.count, seal
        newest = self._newest_row()
        return (newest.hash if newest is not None else GENESIS), None, seal

    def _adopt_legacy(self, key: bytes, seal: AuditSealRow) -> bool:
        """Re-chain and seal a log written before the chain was keyed, under the legacy
        seal migration 0008 left on it (once)."""
        if not is_unsealed_legacy_log(self.entries(), _seal(seal)):
            return False
        count = self.rechain(key)
        log.warning("audit log re-chained under the audit key and sealed: %d entries", count)
        return True

    def rechain(self, key: bytes) -> int:
        """Re-chain every entry under ``key`` and reseal; returns the number of entries.

        Only for an owner of the key who has verified the log first (secret rotation,
        adopting a legacy log): it makes whatever is stored verify.
        """
        self.lock()
        rows = list(self.session.scalars(select(AuditRow).order_by(AuditRow.id)))
        links = rechain([_entry(r) for r in rows], key)
        for row, (prev, digest) in zip(rows, links, strict=True):
            row.prev_hash, row.hash = prev, digest
        last_id, last_hash = (rows[-1].id, rows[-1].hash) if rows else (0, GENESIS)
        self._write_seal(self._seal_row(), make_seal(key, last_id, last_hash, len(rows)))
        self.session.flush()
        return len(rows)

    def _write_seal(self, row: AuditSealRow | None, seal: AuditSeal) -> None:
        if row is None:
            row = AuditSealRow(id=_SEAL_ID)
            self.session.add(row)
        row.last_id, row.last_hash = seal.last_id, seal.last_hash
        row.count, row.mac = seal.count, seal.mac

    def _seal_row(self) -> AuditSealRow | None:
        query = (
            select(AuditSealRow)
            .where(AuditSealRow.id == _SEAL_ID)
            .execution_options(populate_existing=True)
        )
        return self.session.scalars(query).first()

    def _newest_row(self) -> AuditRow | None:
        return self.session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(1)).first()

    def seal(self) -> AuditSeal | None:
        row = self._seal_row()
        return None if row is None else _seal(row)

    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        rows = self.session.scalars(select(AuditRow).order_by(AuditRow.id)).all()
        if limit is not None:
            rows = rows[-limit:]
        return [_entry(r) for r in rows]

    def verify(self, key: bytes | None = None) -> AuditReport:
        """Check the chain and the seal, under ``key`` or this repository's key.

        Takes the append lock so the entries and the seal are read as one state.
        """
        self.lock()
        entries, seal = self.entries(), self.seal()
        audited = self._audited_counts() if not entries and seal is None else None
        return verify_log(entries, seal, key if key is not None else self.key, audited)

    def _audited_counts(self) -> dict[str, int]:
        """Stored rows whose creation is always audited (the tables came with the log)."""
        tables = {"API keys": ApiKeyRow, "webhooks": WebhookRow, "jobs": JobRow}
        return {
            kind: int(self.session.scalar(select(func.count()).select_from(table)) or 0)
            for kind, table in tables.items()
        }
