"""A model version's files as content-addressed blobs tied together by a manifest blob."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from modelyard.errors import IntegrityError
from modelyard.store.artifacts import ArtifactStore, check_digest

MANIFEST_FORMAT = 1


def save_bundle(artifacts: ArtifactStore, directory: Path, flavor: str) -> str:
    """Store every file in ``directory`` and return the digest of the manifest naming them."""
    files: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            raise IntegrityError(f"refusing to store symlink {path.name} in a model bundle")
        if path.is_file():
            files[path.relative_to(directory).as_posix()] = artifacts.put_file(path)
    manifest = {"format": MANIFEST_FORMAT, "flavor": flavor, "files": files}
    return artifacts.put_bytes(json.dumps(manifest, sort_keys=True).encode())


def read_manifest(artifacts: ArtifactStore, digest: str) -> dict[str, Any]:
    manifest = json.loads(artifacts.get_bytes(digest))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IntegrityError(f"artifact {digest[:12]}… is not a model manifest")
    return manifest


def _safe_member(root: Path, name: str) -> Path:
    """``root/name`` if ``name`` is a plain relative path that stays inside ``root``."""
    candidate = (root / name).resolve()
    if Path(name).is_absolute() or ".." in Path(name).parts or not candidate.is_relative_to(root):
        raise IntegrityError(f"model bundle member {name!r} escapes its directory")
    return candidate


def materialize_bundle(artifacts: ArtifactStore, digest: str, target: Path) -> dict[str, Any]:
    """Write the bundle's verified files under ``target``; returns the manifest."""
    manifest = read_manifest(artifacts, digest)
    root = target.resolve()
    for name, file_digest in manifest["files"].items():
        path = _safe_member(root, str(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(artifacts.get_bytes(check_digest(file_digest)))
    return manifest


def temporary_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)
