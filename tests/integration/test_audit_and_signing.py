from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from helpers import fitted_logreg
from modelyard.errors import ConflictError, InvalidInputError, ModelLoadError, NotFoundError
from modelyard.registry.service import RegistryService
from modelyard.security.keys import KeyService
from modelyard.store.orm import AuditRow, ModelVersionRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.store import Store


def _entries(store: Store) -> list:  # type: ignore[type-arg]
    with store.session() as session:
        return AuditRepository(session).entries()


def _problems(store: Store) -> list[str]:
    with store.session() as session:
        return AuditRepository(session).verify().problems


def _populate(store: Store) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    registry.register(model, "m", signature=signature, actor="alice")
    registry.promote("m:1", "staging", actor="bob", reason="looks good")
    KeyService(store).create(name="ci", role="viewer", actor="alice")


def test_mutations_are_audited_and_chain_verifies(store: Store) -> None:
    _populate(store)
    entries = _entries(store)
    assert [e.action for e in entries] == ["model.register", "model.promote", "key.create"]
    assert entries[1].actor == "bob"
    assert entries[1].before == {"stage": "candidate"}
    assert _problems(store) == []


def test_edited_entry_is_detected(store: Store) -> None:
    _populate(store)
    with store.session() as session:
        session.execute(sa.update(AuditRow).where(AuditRow.id == 2).values(actor="mallory"))
    problems = _problems(store)
    assert problems == ["entry 2 was modified (its hash does not match)"]


def test_deleted_entry_is_detected(store: Store) -> None:
    _populate(store)
    with store.session() as session:
        session.execute(sa.delete(AuditRow).where(AuditRow.id == 2))
    problems = _problems(store)
    assert any("missing" in p for p in problems)
    assert any("does not link" in p for p in problems)


def test_tampered_signature_or_other_secret_refuses_load(store: Store) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    version = registry.register(model, "m", signature=signature)
    assert version.artifact_signature and len(version.artifact_signature) == 64
    registry.load("m:1")
    with store.session() as session:
        session.execute(sa.update(ModelVersionRow).values(artifact_signature="0" * 64))
    with pytest.raises(ModelLoadError, match="invalid artifact signature"):
        registry.load("m:1")
    with store.session() as session:
        session.execute(sa.update(ModelVersionRow).values(artifact_signature=None))
    with pytest.raises(ModelLoadError, match="no artifact signature"):
        registry.load("m:1")
    other = Store(store.engine, store.artifacts, b"another-secret")
    with store.session() as session:
        session.execute(
            sa.update(ModelVersionRow).values(artifact_signature=version.artifact_signature)
        )
    with pytest.raises(ModelLoadError, match="invalid artifact signature"):
        RegistryService(other).load("m:1")


def test_key_lifecycle_and_errors(store: Store) -> None:
    keys = KeyService(store)
    info, plaintext = keys.create(name="svc", role="predictor", endpoints=["ep"])
    assert plaintext.startswith(f"my_{info.prefix}_")
    principal = keys.authenticate(plaintext)
    assert principal is not None and principal.endpoints == frozenset({"ep"})
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalars().all()
    assert plaintext not in stored and all(len(h) == 64 for h in stored)
    keys.revoke(info.prefix)
    assert keys.authenticate(plaintext) is None
    with pytest.raises(ConflictError):
        keys.revoke(info.prefix)
    with pytest.raises(NotFoundError):
        keys.revoke("nokey123")
    for kwargs in (
        {"name": "x", "role": "root"},
        {"name": "../x", "role": "viewer"},
        {"name": "x", "role": "viewer", "endpoints": ["ep"]},
        {"name": "x", "role": "viewer", "expires_in_days": -1},
    ):
        with pytest.raises(InvalidInputError):
            keys.create(**kwargs)  # type: ignore[arg-type]
    assert len(keys.list()) == 1


def test_secret_rotation_resigns_every_version(store: Store, tmp_path: Path) -> None:
    from modelyard.security.rotation import rotate_secret
    from modelyard.settings import Settings

    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    registry.register(model, "m", signature=signature)
    settings = Settings(home=tmp_path / "rot")
    settings.home.mkdir()
    old = store.secret
    new_secret, count = rotate_secret(store, settings, actor="admin")
    assert count == 1 and store.secret == new_secret.encode() != old
    assert settings.secret_path.read_bytes() == new_secret.encode()
    registry.load("m:1")  # verifies under the new secret
    stale = Store(store.engine, store.artifacts, old)
    with pytest.raises(ModelLoadError, match="invalid artifact signature"):
        RegistryService(stale).load("m:1")
