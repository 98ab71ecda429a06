from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelyard.errors import IntegrityError, InvalidInputError, NotFoundError
from modelyard.store.artifacts import open_artifact_store, sha256_bytes
from modelyard.store.artifacts.local import LocalArtifactStore


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "a"))
    digest = store.put_bytes(b"hello")
    assert digest == sha256_bytes(b"hello")
    assert store.put_bytes(b"hello") == digest
    assert store.get_bytes(digest) == b"hello"


def test_corrupted_blob_is_refused(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "a")
    digest = store.put_bytes(b"model bytes")
    path = store.path_for(digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"model bytez")
    with pytest.raises(IntegrityError, match="corrupted"):
        store.get_bytes(digest)


def test_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "a")
    with pytest.raises(NotFoundError):
        store.get_bytes("0" * 64)


@pytest.mark.parametrize("bad", ["../etc/passwd", "abc", "A" * 64, "/" + "0" * 63, ""])
def test_digest_must_be_hex(tmp_path: Path, bad: str) -> None:
    store = LocalArtifactStore(tmp_path / "a")
    with pytest.raises(InvalidInputError):
        store.get_bytes(bad)


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "a")
    digest = store.put_bytes(b"x" * 10_000)
    siblings = list(store.path_for(digest).parent.iterdir())
    assert [p.name for p in siblings] == [digest]


def test_symlinked_blob_is_not_followed(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "a")
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    digest = sha256_bytes(b"secret")
    target = store.path_for(digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(secret)
    with pytest.raises(NotFoundError):
        store.get_bytes(digest)
