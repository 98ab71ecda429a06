"""Rotating the server secret: re-sign every artifact signature under a new secret."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from modelyard.security.secret import write_private
from modelyard.security.signing import sign_artifact, verify_artifact
from modelyard.settings import Settings
from modelyard.store.orm import ModelVersionRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.store import Store


def rotate_secret(store: Store, settings: Settings, *, actor: str) -> tuple[str, int]:
    """Verify every signature with the current secret, re-sign with a new one.

    Returns ``(new_secret, versions re-signed)``. With the file-based secret the new
    one replaces the file; with ``MODELYARD_SECRET_KEY`` the caller must set the
    variable to the returned value on every replica before restarting them. A version
    whose signature does not verify stops the rotation (nothing is changed).
    """
    new_secret = secrets.token_hex(32)
    new = new_secret.encode()
    staged = settings.secret_path.with_name("secret.key.new")
    if not settings.secret_key:
        write_private(staged, new)
    count = 0
    with store.session() as session:
        for row in session.scalars(select(ModelVersionRow)):
            label = f"{row.model.name}:{row.version}"
            verify_artifact(store.secret, row.artifact_digest, row.artifact_signature, label=label)
            row.artifact_signature = sign_artifact(new, row.artifact_digest)
            if row.compiled_digest is not None:
                verify_artifact(
                    store.secret, row.compiled_digest, row.compiled_signature, label=label
                )
                row.compiled_signature = sign_artifact(new, row.compiled_digest)
            count += 1
        AuditRepository(session).append(
            actor=actor,
            action="secret.rotate",
            target="server-secret",
            after={"versions_resigned": count},
        )
    if not settings.secret_key:
        staged.replace(settings.secret_path)
    store.secret = new
    return new_secret, count
