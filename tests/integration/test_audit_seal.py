"""The sealed, keyed audit log on SQLite and PostgreSQL: tampering a database user could
do without the server secret, secret rotation and concurrent appends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpers import fitted_logreg
from modelyard.domain.audit import GENESIS, LEGACY_SEAL_MAC, audit_key, legacy_entry_hash
from modelyard.errors import IntegrityError
from modelyard.registry.service import RegistryService
from modelyard.security.keys import KeyService
from modelyard.security.rotation import rotate_secret
from modelyard.settings import Settings
from modelyard.store.orm import AuditRow, AuditSealRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.store import Store


def _append(store: Store, n: int = 5, actor: str = "alice") -> None:
    for i in range(n):
        with store.session() as session:
            AuditRepository(session).append(
                actor=actor, action="test.event", target=f"thing:{i}", after={"i": i}
            )


def _problems(store: Store) -> list[str]:
    with store.session() as session:
        return AuditRepository(session).verify().problems


def _ids(store: Store) -> list[int]:
    with store.session() as session:
        return [e.id for e in AuditRepository(session).entries()]


def _rewrite_unkeyed(store: Store) -> None:
    """What a database user without the secret can do: recompute every hash with sha256."""
    with store.session() as session:
        prev = GENESIS
        for row in session.scalars(sa.select(AuditRow).order_by(AuditRow.id)):
            row.prev_hash = prev
            row.hash = legacy_entry_hash(
                prev,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                before=row.before,
                after=row.after,
                request_id=row.request_id,
            )
            prev = row.hash


def test_appends_are_sealed(store: Store) -> None:
    _append(store, 3)
    with store.session() as session:
        seal = AuditRepository(session).seal()
        entries = AuditRepository(session).entries()
    assert seal is not None and (seal.last_id, seal.count) == (entries[-1].id, 3)
    assert seal.last_hash == entries[-1].hash
    assert _problems(store) == []


def test_deleting_the_newest_entry_is_detected(store: Store) -> None:
    _append(store, 5)
    with store.session() as session:
        session.execute(sa.delete(AuditRow).where(AuditRow.id == 5))
    assert _problems(store) == ["the newest entries after id 4 were deleted (the seal names id 5)"]


def test_deleting_the_newest_entries_stays_detected_after_more_appends(store: Store) -> None:
    _append(store, 5)
    with store.session() as session:
        session.execute(sa.delete(AuditRow).where(AuditRow.id >= 3))
    assert _problems(store) == ["the newest entries after id 2 were deleted (the seal names id 5)"]
    # The next entry chains onto the sealed head, not onto the truncated tail (SQLite
    # even reuses the deleted ids), so the gap never closes.
    _append(store, 1, actor="bob")
    problems = _problems(store)
    new_id = _ids(store)[-1]
    assert f"entry {new_id} does not link to the entry before it" in problems
    assert "the log holds 3 entries but the seal counts 6 (entries were deleted or inserted)" in (
        problems
    )


def test_deleting_a_middle_entry_is_detected(store: Store) -> None:
    _append(store, 5)
    with store.session() as session:
        session.execute(sa.delete(AuditRow).where(AuditRow.id == 3))
    problems = _problems(store)
    assert "entry 3 is missing (deleted)" in problems
    assert "entry 4 does not link to the entry before it" in problems


def test_editing_an_entry_is_detected(store: Store) -> None:
    _append(store, 3)
    with store.session() as session:
        session.execute(sa.update(AuditRow).where(AuditRow.id == 2).values(actor="mallory"))
    assert _problems(store) == ["entry 2 was modified (its hash does not match)"]


def test_deleting_the_seal_is_detected_and_never_repaired(store: Store) -> None:
    _append(store, 3)
    with store.session() as session:
        session.execute(sa.delete(AuditSealRow))
    problems = _problems(store)
    assert len(problems) == 1 and problems[0].startswith("the audit seal is missing")
    _append(store, 2)  # recorded, but the seal is not recreated
    assert len(_ids(store)) == 5
    assert _problems(store) == [
        "the audit seal is missing: the newest of the 5 entries cannot be vouched for "
        "(the seal row was deleted)"
    ]


def test_a_new_store_verifies_but_a_wiped_log_and_seal_do_not(store: Store) -> None:
    """Deleting every entry and the seal must not pass for a new install: API keys and
    webhooks exist only through audited actions."""
    assert _problems(store) == []
    KeyService(store).create(name="ci", role="viewer", actor="alice")
    assert _problems(store) == []
    with store.session() as session:
        session.execute(sa.delete(AuditRow))
        session.execute(sa.delete(AuditSealRow))
    assert _problems(store) == [
        "the audit log and its seal are empty, but the store holds API keys (1), whose "
        "creation is always audited: the log was wiped"
    ]


def test_editing_the_seal_is_detected(store: Store) -> None:
    _append(store, 4)
    with store.session() as session:
        session.execute(sa.delete(AuditRow).where(AuditRow.id == 4))
        last = session.scalars(sa.select(AuditRow).where(AuditRow.id == 3)).one()
        session.execute(sa.update(AuditSealRow).values(last_id=3, last_hash=last.hash, count=3))
    problems = _problems(store)
    assert len(problems) == 1 and problems[0].startswith("the audit seal is invalid")
    _append(store, 1)  # recorded, the invalid seal is left as evidence
    assert any(p.startswith("the audit seal is invalid") for p in _problems(store))


def test_recomputing_the_chain_without_the_key_is_detected(store: Store) -> None:
    _append(store, 3)
    _rewrite_unkeyed(store)
    problems = _problems(store)
    assert sum("unkeyed sha256 hash" in p for p in problems) == 3
    assert "the newest entry (id 3) is not the one the seal names (replaced)" in problems
    _append(store, 1)  # the damage is not laundered by the next append
    assert sum("unkeyed sha256 hash" in p for p in _problems(store)) == 3


def _legacy_seal(store: Store) -> None:
    """What migration 0008 writes over a log from before the keyed chain."""
    with store.session() as session:
        newest = session.scalars(sa.select(AuditRow).order_by(AuditRow.id.desc())).first()
        assert newest is not None
        count = session.scalar(sa.select(sa.func.count()).select_from(AuditRow))
        session.execute(
            sa.update(AuditSealRow).values(
                last_id=newest.id, last_hash=newest.hash, count=count, mac=LEGACY_SEAL_MAC
            )
        )


def test_a_legacy_log_under_the_migrations_mark_is_adopted_by_the_next_append(
    store: Store,
) -> None:
    """A log written before the chain was keyed (plain sha256, the migration's mark)."""
    _append(store, 3)
    _rewrite_unkeyed(store)
    _legacy_seal(store)
    with store.session() as session:
        report = AuditRepository(session).verify()
    assert report.legacy and "not sealed" in report.problems[0]
    _append(store, 1)
    assert _problems(store) == []
    assert len(_ids(store)) == 4


def test_deleting_the_seal_and_rewriting_unkeyed_is_not_adopted(store: Store) -> None:
    _append(store, 3)
    _rewrite_unkeyed(store)
    with store.session() as session:
        session.execute(sa.delete(AuditSealRow))
    _append(store, 1)
    problems = _problems(store)
    assert any("seal" in p for p in problems), problems
    assert sum("unkeyed sha256 hash" in p for p in problems) == 3


def test_a_legacy_mark_over_a_changed_log_is_not_adopted(store: Store) -> None:
    _append(store, 3)
    _rewrite_unkeyed(store)
    _legacy_seal(store)
    with store.session() as session:  # the newest entry is deleted after the upgrade
        session.execute(sa.delete(AuditRow).where(AuditRow.id == max(_ids(store))))
    _append(store, 1)
    assert _problems(store)


def test_rotation_rechains_and_reseals_under_the_new_key(store: Store, tmp_path: Path) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    registry.register(model, "m", signature=signature, actor="alice")
    _append(store, 3)
    old = store.secret
    settings = Settings(home=tmp_path / "rot")
    settings.home.mkdir()
    rotate_secret(store, settings, actor="admin")
    assert store.secret != old
    assert _problems(store) == []
    with store.session() as session:
        entries = AuditRepository(session).entries()
        stale = AuditRepository(session, key=audit_key(old)).verify()
    assert entries[-1].action == "secret.rotate"
    assert not stale.intact  # the old key no longer verifies anything
    _append(store, 2)
    assert _problems(store) == []


def test_rotation_refuses_a_tampered_log(store: Store, tmp_path: Path) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    version = registry.register(model, "m", signature=signature)
    _append(store, 3)
    with store.session() as session:
        session.execute(sa.delete(AuditRow).where(AuditRow.id == _ids(store)[-1]))
    settings = Settings(home=tmp_path / "rot")
    settings.home.mkdir()
    old = store.secret
    with pytest.raises(IntegrityError, match="the newest entries after id"):
        rotate_secret(store, settings, actor="admin")
    assert store.secret == old and not settings.secret_path.exists()
    assert not settings.secret_path.with_name("secret.key.new").exists()
    assert registry.get("m:1").artifact_signature == version.artifact_signature
    problems = _problems(store)
    rotate_secret(store, settings, actor="admin", accept_audit_problems=True)
    assert _problems(store) == []
    with store.session() as session:
        last = AuditRepository(session).entries()[-1]
    assert last.action == "secret.rotate" and last.after == {
        "versions_resigned": 1,
        "audit_problems": problems,
    }


def test_concurrent_appends_keep_the_log_verifiable(store: Store) -> None:
    def work(worker: int) -> None:
        for i in range(10):
            with store.session() as session:
                AuditRepository(session).append(
                    actor=f"worker-{worker}", action="test.event", target=f"thing:{i}"
                )

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(work, range(6)))
    with store.session() as session:
        report = AuditRepository(session).verify()
    assert report.problems == [] and report.entries == 60
    assert report.seal is not None and report.seal.count == 60


def test_a_rolled_back_append_is_not_a_gap(store: Store) -> None:
    """PostgreSQL sequences skip the ids of rolled-back inserts: not tampering."""
    _append(store, 2)
    with pytest.raises(RuntimeError), store.session() as session:
        AuditRepository(session).append(actor="a", action="test.event", target="x")
        raise RuntimeError("the workflow failed after auditing")
    _append(store, 2)
    assert _problems(store) == []
