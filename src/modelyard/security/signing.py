"""HMAC signatures over artifact digests: a model is only loaded if this server signed it."""

from __future__ import annotations

import hashlib
import hmac

from modelyard.errors import IntegrityError


def sign_artifact(secret: bytes, digest: str) -> str:
    return hmac.new(secret, f"modelyard-artifact:{digest}".encode(), hashlib.sha256).hexdigest()


def verify_artifact(secret: bytes, digest: str, signature: str | None, *, label: str) -> None:
    """Raise unless ``signature`` is this server's signature of ``digest``."""
    if not signature:
        raise IntegrityError(f"model {label} has no artifact signature; refusing to load it")
    if not hmac.compare_digest(sign_artifact(secret, digest), signature):
        raise IntegrityError(
            f"model {label} has an invalid artifact signature (signed with another secret, "
            "or tampered with); refusing to load it"
        )
