"""Keeping personal data out of the prediction log: redact, or encrypt with Fernet."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from modelyard.errors import InvalidInputError

REDACTED = "[redacted]"
ENCRYPTED_PREFIX = "fernet:"


class PiiProtector:
    """Applies an endpoint's PII policy to logged input rows."""

    def __init__(self, key: str | None) -> None:
        try:
            self._fernet = Fernet(key.encode()) if key else None
        except (ValueError, TypeError):
            raise InvalidInputError(
                "MODELYARD_PII_KEY is not a Fernet key (32 url-safe base64 bytes); "
                "generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                field="pii_key",
            ) from None

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def protect(self, rows: list[Any], columns: tuple[str, ...]) -> list[Any]:
        """Copies of ``rows`` with ``columns`` encrypted (key set) or redacted."""
        if not columns:
            return rows
        out = []
        for row in rows:
            if not isinstance(row, dict):
                out.append(row)
                continue
            safe = dict(row)
            for column in columns:
                if column in safe and safe[column] is not None:
                    safe[column] = self._hide(safe[column])
            out.append(safe)
        return out

    def _hide(self, value: Any) -> str:
        if self._fernet is None:
            return REDACTED
        return ENCRYPTED_PREFIX + self._fernet.encrypt(repr(value).encode()).decode()

    def reveal(self, token: str) -> str:
        """Decrypt a logged value (for an authorised export); raises on a bad token."""
        if self._fernet is None or not token.startswith(ENCRYPTED_PREFIX):
            raise InvalidInputError("value is not an encrypted PII token", field="token")
        try:
            return self._fernet.decrypt(token[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise InvalidInputError(
                "PII token does not decrypt with this key", field="token"
            ) from None
