"""The keyed audit chain and its seal, as pure functions (no database)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from modelyard.domain.audit import (
    GENESIS,
    LEGACY_SEAL_MAC,
    AuditEntry,
    AuditSeal,
    audit_key,
    entry_hash,
    legacy_entry_hash,
    make_seal,
    rechain,
    verify_log,
)

KEY = audit_key(b"server-secret")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _chain(n: int, key: bytes | None = KEY) -> list[AuditEntry]:
    """``n`` entries chained under ``key`` (``None``: the unkeyed sha256 form)."""
    entries: list[AuditEntry] = []
    prev = GENESIS
    for i in range(1, n + 1):
        fields: dict[str, Any] = {
            "at": T0 + timedelta(seconds=i),
            "actor": "alice",
            "action": "model.register",
            "target": f"model:m:{i}",
            "before": None,
            "after": {"i": i},
            "request_id": None,
        }
        digest = (
            entry_hash(key, prev, **fields)
            if key is not None
            else legacy_entry_hash(prev, **fields)
        )
        entries.append(AuditEntry(id=i, prev_hash=prev, hash=digest, **fields))
        prev = digest
    return entries


def _sealed(entries: list[AuditEntry], key: bytes = KEY) -> AuditSeal:
    last = entries[-1]
    return make_seal(key, last.id, last.hash, len(entries))


def test_audit_key_is_derived_not_the_secret() -> None:
    assert KEY != b"server-secret" and len(KEY) == 32
    assert audit_key(b"server-secret") == KEY != audit_key(b"other-secret")


def test_intact_log_verifies() -> None:
    entries = _chain(5)
    report = verify_log(entries, _sealed(entries), KEY)
    assert report.intact and report.entries == 5 and not report.legacy


def test_empty_log_without_seal_is_intact() -> None:
    assert verify_log([], None, KEY).intact


def test_edit_and_middle_deletion_are_detected() -> None:
    entries = _chain(5)
    seal = _sealed(entries)
    edited = [*entries[:2], dataclasses.replace(entries[2], actor="mallory"), *entries[3:]]
    assert verify_log(edited, seal, KEY).problems == [
        "entry 3 was modified (its hash does not match)"
    ]
    problems = verify_log([*entries[:2], *entries[3:]], seal, KEY).problems
    assert "entry 3 is missing (deleted)" in problems
    assert "entry 4 does not link to the entry before it" in problems
    assert any("seal counts 5" in p for p in problems)


def test_deleting_the_oldest_entries_is_detected() -> None:
    entries = _chain(4)
    problems = verify_log(entries[2:], _sealed(entries), KEY).problems
    assert "the oldest entries (before id 3) were deleted" in problems


def test_deleting_the_newest_entries_is_detected() -> None:
    entries = _chain(5)
    seal = _sealed(entries)
    assert verify_log(entries[:4], seal, KEY).problems == [
        "the newest entries after id 4 were deleted (the seal names id 5)"
    ]
    assert verify_log(entries[:2], seal, KEY).problems == [
        "the newest entries after id 2 were deleted (the seal names id 5)"
    ]
    assert verify_log([], seal, KEY).problems == [
        "every audit entry was deleted (the seal names id 5)"
    ]


def test_missing_forged_or_foreign_seal_is_detected() -> None:
    entries = _chain(3)
    assert "the audit seal is missing" in verify_log(entries, None, KEY).problems[0]
    forged = dataclasses.replace(_sealed(entries[:2]), count=3)
    assert "the audit seal is invalid" in verify_log(entries[:2], forged, KEY).problems[0]
    other = audit_key(b"other-secret")
    assert (
        "the audit seal is invalid" in verify_log(entries, _sealed(entries, other), KEY).problems[0]
    )


def test_entries_beyond_the_seal_are_detected() -> None:
    entries = _chain(4)
    problems = verify_log(entries, _sealed(entries[:3]), KEY).problems
    assert problems == [
        "entries after id 3 are not covered by the seal (inserted directly, or written by a "
        "server holding another secret)"
    ]


def test_recomputing_without_the_key_is_detected() -> None:
    keyed = _chain(3)
    seal = _sealed(keyed)
    recomputed = _chain(3, key=None)
    problems = verify_log(recomputed, seal, KEY).problems
    assert sum("unkeyed sha256 hash" in p for p in problems) == 3
    assert "the newest entry (id 3) is not the one the seal names (replaced)" in problems
    # Recomputed under a guessed key, with a seal under that key: every hash and the seal fail.
    guessed = audit_key(b"guess")
    report = verify_log(_chain(3, guessed), _sealed(_chain(3, guessed), guessed), KEY)
    assert sum("was modified" in p for p in report.problems) == 3
    assert any("seal is invalid" in p for p in report.problems)


def test_unsealed_legacy_log_is_reported_once_and_rechains() -> None:
    legacy = _chain(3, key=None)
    mark = AuditSeal(legacy[-1].id, legacy[-1].hash, len(legacy), LEGACY_SEAL_MAC)
    report = verify_log(legacy, mark, KEY)
    assert report.legacy and len(report.problems) == 1
    assert "not sealed" in report.problems[0]
    # Without the migration's mark (the seal deleted), or with a mark naming another
    # head, it is not a legacy log but a tampered one.
    assert not verify_log(legacy, None, KEY).legacy
    assert not verify_log(legacy[:-1], mark, KEY).legacy
    links = rechain(legacy, KEY)
    rechained = [
        dataclasses.replace(e, prev_hash=p, hash=h) for e, (p, h) in zip(legacy, links, strict=True)
    ]
    assert rechained == _chain(3)
    assert verify_log(rechained, _sealed(rechained), KEY).intact
