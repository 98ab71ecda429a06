"""The audit log's hash chain (pure): each entry's hash covers its fields and the previous hash.

Editing an entry breaks its own hash; deleting one breaks the next entry's link (and
leaves a gap in the sequence numbers).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    prev_hash: str
    hash: str


def canonical_time(at: datetime) -> str:
    """UTC, naive, microseconds: the same string whatever the database hands back."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def entry_hash(
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
) -> str:
    body = json.dumps(
        [prev_hash, canonical_time(at), actor, action, target, before, after, request_id],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def verify_chain(entries: list[AuditEntry]) -> list[str]:
    """Problems found in ``entries`` (ordered by id); empty when the chain is intact."""
    problems: list[str] = []
    prev = GENESIS
    expected_id: int | None = None
    for entry in entries:
        if expected_id is not None and entry.id != expected_id:
            problems.append(f"entries {expected_id}..{entry.id - 1} are missing (deleted)")
        if entry.prev_hash != prev:
            problems.append(f"entry {entry.id} does not link to the entry before it")
        recomputed = entry_hash(
            entry.prev_hash,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            before=entry.before,
            after=entry.after,
            request_id=entry.request_id,
        )
        if recomputed != entry.hash:
            problems.append(f"entry {entry.id} was modified (its hash does not match)")
        prev = entry.hash
        expected_id = entry.id + 1
    return problems
