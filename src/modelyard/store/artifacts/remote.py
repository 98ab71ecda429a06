"""Artifacts on any fsspec filesystem (S3 and S3-compatible stores via ``s3fs``)."""

from __future__ import annotations

from typing import Any

from modelyard.errors import InvalidInputError
from modelyard.store.artifacts.base import ArtifactStore, check_digest


class FsspecArtifactStore(ArtifactStore):
    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:  # pragma: no cover - depends on extras
            raise InvalidInputError(
                f"artifact store {url!r} needs fsspec: pip install 'modelyard[s3]'",
                field="artifacts_url",
            ) from None
        fs, root = fsspec.core.url_to_fs(url)
        self.fs: Any = fs
        self.root = root.rstrip("/")

    def _key(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.root}/blobs/{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._key(digest)))

    def _write(self, digest: str, data: bytes) -> None:
        # Object stores publish a whole object on a single put, which is atomic.
        self.fs.pipe_file(self._key(digest), data)

    def _read(self, digest: str) -> bytes:
        return bytes(self.fs.cat_file(self._key(digest)))
