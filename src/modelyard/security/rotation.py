"""Rotating the server secret: re-sign every artifact and re-chain the audit log under a
new secret, in one transaction."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from modelyard.domain.audit import audit_key
from modelyard.errors import IntegrityError
from modelyard.security.secret import write_private
from modelyard.security.signing import sign_artifact, verify_artifact
from modelyard.settings import Settings
from modelyard.store.orm import ModelVersionRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.store import Store

_SHOWN_PROBLEMS = 5


def rotate_secret(
    store: Store, settings: Settings, *, actor: str, accept_audit_problems: bool = False
) -> tuple[str, int]:
    """Verify every signature and the audit log with the current secret, then re-sign
    every artifact, re-chain the audit log and reseal it with a new one.

    Returns ``(new_secret, versions re-signed)``. With the file-based secret the new
    one replaces the file; with ``MODELYARD_SECRET_KEY`` the caller must set the
    variable to the returned value on every replica before restarting them. A version
    whose signature does not verify stops the rotation (nothing is changed). So does an
    audit log that does not verify, since re-chaining it would hide the damage, unless
    ``accept_audit_problems`` is set: then the problems are recorded in the rotation's
    own audit entry, which the new key seals.
    """
    new_secret = secrets.token_hex(32)
    new = new_secret.encode()
    staged = settings.secret_path.with_name("secret.key.new")
    if not settings.secret_key:
        write_private(staged, new)
    try:
        count = _rotate(store, new, actor=actor, accept_audit_problems=accept_audit_problems)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    if not settings.secret_key:
        staged.replace(settings.secret_path)
    store.secret = new
    return new_secret, count


def _rotate(store: Store, new: bytes, *, actor: str, accept_audit_problems: bool) -> int:
    count = 0
    with store.session() as session:
        audit = AuditRepository(session)
        report = audit.verify()  # holds the append lock until the transaction ends
        problems = [] if report.legacy else report.problems
        if problems and not accept_audit_problems:
            shown = "; ".join(problems[:_SHOWN_PROBLEMS])
            more = len(problems) - _SHOWN_PROBLEMS
            raise IntegrityError(
                f"the audit log does not verify ({shown}{f'; and {more} more' if more > 0 else ''})"
                ": re-chaining it under a new secret would hide that, so nothing was changed. "
                "Investigate with `modelyard audit verify`; accepting the problems records them "
                "in the rotation's audit entry"
            )
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
        after: dict[str, object] = {"versions_resigned": count}
        if problems:
            after["audit_problems"] = problems
        audit.append(actor=actor, action="secret.rotate", target="server-secret", after=after)
        audit.rechain(audit_key(new))
    return count
