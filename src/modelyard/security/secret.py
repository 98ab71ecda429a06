"""The server secret that signs artifacts: from settings, or a 0600 file in the home."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from modelyard.settings import Settings


def write_private(path: Path, data: bytes) -> None:
    """Create or replace ``path`` readable and writable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_secret(settings: Settings) -> bytes:
    """``MODELYARD_SECRET_KEY`` if set; else the home's secret file, created on first use.

    Every replica must share one secret: set ``MODELYARD_SECRET_KEY`` when scaling out.
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.secret_path
    if not path.exists():
        try:
            write_private(path, secrets.token_hex(32).encode())
        except FileExistsError:  # pragma: no cover - a concurrent first start won
            pass
    return path.read_bytes().strip()
