"""The artifact store contract: blobs addressed by their sha256, verified on every read."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from pathlib import Path

from modelyard.errors import IntegrityError, InvalidInputError, NotFoundError

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is 64 lowercase hex characters (so it can never be a path)."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInputError(f"invalid artifact digest {digest!r}", field="digest")
    return digest


class ArtifactStore(ABC):
    """Immutable blobs keyed by sha256. Writes are atomic; reads are verified."""

    @abstractmethod
    def _write(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` atomically (no partial blob is ever visible)."""

    @abstractmethod
    def _read(self, digest: str) -> bytes:
        """Raw bytes under ``digest``; raise FileNotFoundError when absent."""

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a blob is stored under ``digest``."""

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its digest (idempotent)."""
        digest = sha256_bytes(data)
        if not self.exists(digest):
            self._write(digest, data)
        return digest

    def put_file(self, path: Path) -> str:
        return self.put_bytes(Path(path).read_bytes())

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``digest``."""
        check_digest(digest)
        try:
            data = self._read(digest)
        except FileNotFoundError:
            raise NotFoundError(f"artifact {digest[:12]}… is missing from the store") from None
        actual = sha256_bytes(data)
        if actual != digest:
            raise IntegrityError(
                f"artifact {digest[:12]}… is corrupted: its bytes hash to {actual[:12]}…; "
                "refusing to use it"
            )
        return data
