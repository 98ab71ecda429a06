"""Artifacts in a local directory: ``ROOT/blobs/ab/abcdef…``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from modelyard.store.artifacts.base import ArtifactStore, check_digest


class LocalArtifactStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._blobs = self.root / "blobs"
        self._blobs.mkdir(parents=True, exist_ok=True)

    def path_for(self, digest: str) -> Path:
        check_digest(digest)
        return self._blobs / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def _write(self, digest: str, data: bytes) -> None:
        target = self.path_for(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read(self, digest: str) -> bytes:
        path = self.path_for(digest)
        if path.is_symlink():
            raise FileNotFoundError(path)
        return path.read_bytes()
