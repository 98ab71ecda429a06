from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from modelyard.data.datasets import DatasetService
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.store.store import Store


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return write_quickstart_csv(tmp_path / "qs.csv", n_rows=300)


def test_same_content_same_version(store: Store, csv_file: Path, tmp_path: Path) -> None:
    service = DatasetService(store)
    first = service.add_file(csv_file, "qs")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(csv_file.read_bytes())
    again = service.add_file(copy, "qs")
    assert (first.version, first.digest) == (again.version, again.digest) == (1, first.digest)
    assert first.row_count == 300
    types = {c["name"]: c["type"] for c in first.columns}
    assert types["target"] == "integer"
    assert types["signup_at"] == "datetime"
    assert types["region"] == "string"


def test_new_content_new_version(store: Store, csv_file: Path, tmp_path: Path) -> None:
    service = DatasetService(store)
    service.add_file(csv_file, "qs")
    other = tmp_path / "other.csv"
    other.write_text(csv_file.read_text().rsplit("\n", 2)[0] + "\n")
    second = service.add_file(other, "qs")
    assert second.version == 2
    assert [v.version for v in service.list("qs")] == [1, 2]
    assert service.get("qs").version == 2
    assert service.get("qs", 1).version == 1


def test_parquet_and_frame(store: Store, tmp_path: Path) -> None:
    service = DatasetService(store)
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    dv = service.add_file(path, "t")
    assert dv.format == "parquet"
    assert {c["name"]: c["nullable"] for c in dv.columns} == {"a": False, "b": True}
    _, loaded = service.load_frame("t")
    assert loaded["a"].tolist() == [1, 2, 3]


def test_concurrent_adds_make_one_version(store: Store, csv_file: Path) -> None:
    service = DatasetService(store)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: service.add_file(csv_file, "race"), range(4)))
    assert {(r.version, r.digest) for r in results} == {(1, results[0].digest)}
    assert len(service.list("race")) == 1


@pytest.mark.parametrize(
    ("filename", "content", "match"),
    [
        ("data.txt", b"a,b\n1,2\n", "unsupported file type"),
        ("empty.csv", b"", "empty|no rows|no columns"),
        ("header_only.csv", b"a,b\n", "no rows|empty"),
    ],
)
def test_bad_files_are_rejected_and_nothing_is_stored(
    store: Store, tmp_path: Path, filename: str, content: bytes, match: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    service = DatasetService(store)
    with pytest.raises(InvalidInputError, match=match):
        service.add_file(path, "bad")
    assert service.list() == []


def test_missing_file_and_bad_name(store: Store, tmp_path: Path, csv_file: Path) -> None:
    service = DatasetService(store)
    with pytest.raises(InvalidInputError, match="no such file"):
        service.add_file(tmp_path / "nope.csv", "x")
    with pytest.raises(InvalidInputError, match="invalid dataset"):
        service.add_file(csv_file, "../evil")
    with pytest.raises(NotFoundError):
        service.get("nope")
