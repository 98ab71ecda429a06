"""The audit log's keyed hash chain and its sealed head (pure).

Each entry's hash is an HMAC-SHA256, under a key derived from the server secret, of its
fields and the previous entry's hash. Editing an entry breaks its own hash; deleting
one breaks the next entry's link; recomputing the chain needs the key. What a chain
alone cannot show is that its *newest* entries were deleted, so the head is sealed: one
record (last id, last hash, entry count) with an HMAC over it, written in the same
transaction as every append. The log verifies when the chain is intact and its newest
entry and size are the ones the seal names.

Logs written before the chain was keyed carry plain sha256 hashes (:func:`legacy_entry_hash`).
The migration that added the seal marks such a log with a *legacy seal*
(:data:`LEGACY_SEAL_MAC`, naming its newest entry and size; the migration has no
secret to sign with). The first write that finds that mark over an intact unkeyed
chain re-chains it under the key and seals it (trust on first use: an unkeyed chain
could be recomputed by anyone, so re-chaining takes no protection away from those
entries). A missing seal over existing entries, or an invalid one, is reported and
never recreated, so deleting the seal and rewriting the log in the old form is not
adopted either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
#: The ``mac`` of the seal migration 0008 writes over a log from before the keyed chain.
LEGACY_SEAL_MAC = "legacy-unkeyed"
AUDIT_KEY_LABEL = b"modelyard-audit-v1"


def audit_key(secret: bytes) -> bytes:
    """The audit log's own key, derived from the server secret (never the secret itself)."""
    return hmac.new(secret, AUDIT_KEY_LABEL, hashlib.sha256).digest()


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


@dataclass(frozen=True)
class AuditSeal:
    """The sealed head: the newest entry, how many entries there are, and an HMAC."""

    last_id: int
    last_hash: str
    count: int
    mac: str


@dataclass(frozen=True)
class AuditReport:
    """What verification found; ``legacy`` marks an intact but unkeyed, unsealed log."""

    entries: int
    problems: list[str]
    seal: AuditSeal | None
    legacy: bool = False

    @property
    def intact(self) -> bool:
        return not self.problems


def canonical_time(at: datetime) -> str:
    """UTC, naive, microseconds: the same string whatever the database hands back."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def _body(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
) -> bytes:
    return json.dumps(
        [prev_hash, canonical_time(at), actor, action, target, before, after, request_id],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()


def entry_hash(
    key: bytes,
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
    """HMAC-SHA256 under the audit key of an entry's fields and the previous hash."""
    body = _body(prev_hash, at, actor, action, target, before, after, request_id)
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def legacy_entry_hash(
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
    """The unkeyed sha256 form of logs written before the chain was keyed."""
    body = _body(prev_hash, at, actor, action, target, before, after, request_id)
    return hashlib.sha256(body).hexdigest()


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "request_id": entry.request_id,
    }


def keyed_hash_matches(key: bytes, entry: AuditEntry) -> bool:
    expected = entry_hash(key, entry.prev_hash, **_fields(entry))
    return hmac.compare_digest(expected, entry.hash)


def legacy_hash_matches(entry: AuditEntry) -> bool:
    return hmac.compare_digest(legacy_entry_hash(entry.prev_hash, **_fields(entry)), entry.hash)


def seal_mac(key: bytes, last_id: int, last_hash: str, count: int) -> str:
    message = f"modelyard-audit-seal:{last_id}:{last_hash}:{count}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def make_seal(key: bytes, last_id: int, last_hash: str, count: int) -> AuditSeal:
    return AuditSeal(last_id, last_hash, count, seal_mac(key, last_id, last_hash, count))


def seal_is_valid(key: bytes, seal: AuditSeal) -> bool:
    expected = seal_mac(key, seal.last_id, seal.last_hash, seal.count)
    return hmac.compare_digest(expected, seal.mac)


def rechain(entries: list[AuditEntry], key: bytes) -> list[tuple[str, str]]:
    """``(prev_hash, hash)`` for each entry (ordered by id), chained afresh under ``key``."""
    links: list[tuple[str, str]] = []
    prev = GENESIS
    for entry in entries:
        digest = entry_hash(key, prev, **_fields(entry))
        links.append((prev, digest))
        prev = digest
    return links


def is_unsealed_legacy_log(entries: list[AuditEntry], seal: AuditSeal | None) -> bool:
    """True for a non-empty, intact chain in the unkeyed sha256 form under the legacy
    seal the migration wrote, naming its newest entry and size (adoptable once)."""
    if seal is None or seal.mac != LEGACY_SEAL_MAC or not entries:
        return False
    if (entries[-1].id, entries[-1].hash, len(entries)) != (
        seal.last_id,
        seal.last_hash,
        seal.count,
    ):
        return False
    prev = GENESIS
    for entry in entries:
        if entry.prev_hash != prev or not legacy_hash_matches(entry):
            return False
        prev = entry.hash
    return True


def verify_chain(entries: list[AuditEntry], key: bytes) -> list[str]:
    """Problems in the chain of ``entries`` (ordered by id); empty when it is intact.

    A gap in the ids is only reported where a link is broken too: PostgreSQL sequences
    skip the ids of rolled-back appends, which is not tampering.
    """
    problems: list[str] = []
    prev = GENESIS
    previous_id: int | None = None
    for entry in entries:
        if entry.prev_hash != prev:
            if previous_id is None:
                problems.append(f"the oldest entries (before id {entry.id}) were deleted")
            elif entry.id > previous_id + 1:
                missing = (
                    f"entry {previous_id + 1} is"
                    if entry.id == previous_id + 2
                    else f"entries {previous_id + 1}..{entry.id - 1} are"
                )
                problems.append(f"{missing} missing (deleted)")
            problems.append(f"entry {entry.id} does not link to the entry before it")
        if not keyed_hash_matches(key, entry):
            if legacy_hash_matches(entry):
                problems.append(
                    f"entry {entry.id} was modified (its hash does not match: it is an "
                    "unkeyed sha256 hash, so the chain was recomputed without the server key)"
                )
            else:
                problems.append(f"entry {entry.id} was modified (its hash does not match)")
        prev = entry.hash
        previous_id = entry.id
    return problems


def verify_seal(entries: list[AuditEntry], seal: AuditSeal | None, key: bytes) -> list[str]:
    """Problems between the newest entries and the seal; empty when they agree."""
    if seal is None:
        if not entries:
            return []
        return [
            f"the audit seal is missing: the newest of the {len(entries)} entries cannot be "
            "vouched for (the seal row was deleted)"
        ]
    if not seal_is_valid(key, seal):
        return [
            "the audit seal is invalid: it was edited, or written with another server "
            "secret (a server not restarted after `modelyard keys rotate-secret`?)"
        ]
    if not entries:
        if seal.count == 0:
            return []
        return [f"every audit entry was deleted (the seal names id {seal.last_id})"]
    last = entries[-1]
    if last.id < seal.last_id:
        return [
            f"the newest entries after id {last.id} were deleted (the seal names id {seal.last_id})"
        ]
    if last.id > seal.last_id:
        return [
            f"entries after id {seal.last_id} are not covered by the seal (inserted "
            "directly, or written by a server holding another secret)"
        ]
    if last.hash != seal.last_hash:
        return [f"the newest entry (id {last.id}) is not the one the seal names (replaced)"]
    if len(entries) != seal.count:
        return [
            f"the log holds {len(entries)} entries but the seal counts {seal.count} "
            "(entries were deleted or inserted)"
        ]
    return []


def wiped_log_problems(audited: Mapping[str, int]) -> list[str]:
    """Why an empty, unsealed log cannot be a new install: ``audited`` counts stored
    things whose creation is always audited (API keys, webhooks, jobs, by kind)."""
    present = {kind: n for kind, n in audited.items() if n > 0}
    if not present:
        return []
    what = " and ".join(f"{kind} ({n})" for kind, n in sorted(present.items()))
    return [
        f"the audit log and its seal are empty, but the store holds {what}, whose "
        "creation is always audited: the log was wiped"
    ]


def verify_log(
    entries: list[AuditEntry],
    seal: AuditSeal | None,
    key: bytes,
    audited: Mapping[str, int] | None = None,
) -> AuditReport:
    """The chain and the seal checked together: what ``modelyard audit verify`` reports.

    ``audited`` (see :func:`wiped_log_problems`) tells a wiped log from a new one."""
    if is_unsealed_legacy_log(entries, seal):
        problem = (
            f"the audit log is not sealed: its {len(entries)} entries carry unkeyed sha256 "
            "hashes (written before the chain was keyed); the next audited change re-chains "
            "and seals them"
        )
        return AuditReport(len(entries), [problem], None, legacy=True)
    problems = verify_chain(entries, key) + verify_seal(entries, seal, key)
    if not entries and seal is None:
        problems += wiped_log_problems(audited or {})
    return AuditReport(entries=len(entries), problems=problems, seal=seal)
