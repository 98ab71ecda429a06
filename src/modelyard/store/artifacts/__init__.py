"""Content-addressed artifact stores: local directory by default, any fsspec URL when set."""

from modelyard.store.artifacts.base import ArtifactStore, check_digest, sha256_bytes
from modelyard.store.artifacts.factory import open_artifact_store

__all__ = ["ArtifactStore", "check_digest", "open_artifact_store", "sha256_bytes"]
