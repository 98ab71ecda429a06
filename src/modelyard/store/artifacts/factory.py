"""Choose the artifact store implementation from a URL."""

from __future__ import annotations

from pathlib import Path

from modelyard.store.artifacts.base import ArtifactStore
from modelyard.store.artifacts.local import LocalArtifactStore


def open_artifact_store(url: str) -> ArtifactStore:
    """A local directory for plain paths and ``file://``; fsspec for other schemes."""
    if url.startswith("file://"):
        return LocalArtifactStore(Path(url.removeprefix("file://")))
    if "://" not in url:
        return LocalArtifactStore(Path(url))
    from modelyard.store.artifacts.remote import FsspecArtifactStore

    return FsspecArtifactStore(url)
