"""Roles, permissions and API key formats (pure: no IO, no storage).

A key looks like ``my_<prefix>_<secret>``: the 8-character prefix is stored in clear so
a key can be recognised in listings and logs; only a SHA-256 hash of the whole key is
stored. Keys carry 192 random bits, so a fast hash is safe here (no password stretching
needed) and keeps authentication off the hot path's budget.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from modelyard.errors import InvalidInputError

KEY_PATTERN = re.compile(r"^my_([a-z0-9]{8})_([A-Za-z0-9_-]{32})$")


class Permission(StrEnum):
    READ = "read"  # list/describe endpoints, models, datasets, metrics
    PREDICT = "predict"  # predict and send feedback
    DEVELOP = "develop"  # add datasets, record runs, register models
    DEPLOY = "deploy"  # deploy, promote, roll out, roll back
    ADMIN = "admin"  # keys, audit, privacy, overrides


class Role(StrEnum):
    ADMIN = "admin"
    DEPLOYER = "deployer"
    DEVELOPER = "developer"
    PREDICTOR = "predictor"
    VIEWER = "viewer"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DEPLOYER: frozenset({Permission.READ, Permission.PREDICT, Permission.DEPLOY}),
    Role.DEVELOPER: frozenset({Permission.READ, Permission.PREDICT, Permission.DEVELOP}),
    Role.PREDICTOR: frozenset({Permission.PREDICT}),
    Role.VIEWER: frozenset({Permission.READ}),
}


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInputError(
            f"unknown role {value!r}; allowed: {allowed}", field="role"
        ) from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key's identity, role and optional endpoint restriction."""

    name: str
    prefix: str
    role: Role
    endpoints: frozenset[str] | None = None  # None: every endpoint
    expires_at: datetime | None = None
    revoked: bool = False
    key_hash: str = field(default="", repr=False)

    @property
    def actor(self) -> str:
        return f"key:{self.prefix}:{self.name}"

    def can(self, permission: Permission, endpoint: str | None = None) -> bool:
        if permission not in ROLE_PERMISSIONS[self.role]:
            return False
        if endpoint is not None and self.endpoints is not None:
            return endpoint in self.endpoints
        return True

    def usable(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


def generate_key() -> tuple[str, str, str]:
    """A new key: ``(plaintext, prefix, sha256 hex)``; show the plaintext once."""
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    plaintext = f"my_{prefix}_{secrets.token_urlsafe(24)}"
    return plaintext, prefix, hash_key(plaintext)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_prefix(plaintext: str) -> str | None:
    """The prefix of a well-formed key, else ``None``."""
    match = KEY_PATTERN.fullmatch(plaintext)
    return match.group(1) if match else None


def key_matches(plaintext: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(plaintext), stored_hash)
