"""Dataset versioning: immutable, content-addressed tables with an inferred schema."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from modelyard.data.readers import infer_schema, read_table_bytes
from modelyard.domain.entities import DatasetVersion
from modelyard.domain.refs import check_name
from modelyard.errors import InvalidInputError
from modelyard.store.artifacts import sha256_bytes
from modelyard.store.orm import DatasetVersionRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.datasets import DatasetRepository, to_entity
from modelyard.store.store import Store

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_RETRIES = 5


def format_for(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InvalidInputError(
            f"unsupported file type {path.suffix or '(none)'!r} for {path.name}; "
            f"use one of {', '.join(sorted(FORMATS))}",
            field="file",
        ) from None


class DatasetService:
    """Adds and reads dataset versions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_file(self, path: Path, name: str, *, actor: str = "local") -> DatasetVersion:
        """Register the file as a version of ``name``; same content → same version."""
        check_name(name, what="dataset")
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"no such file: {path}", field="file")
        return self.add_bytes(
            path.read_bytes(), name, fmt=format_for(path), source=path.name, actor=actor
        )

    def add_frame(self, frame: pd.DataFrame, name: str, *, actor: str = "local") -> DatasetVersion:
        """Register an in-memory frame (stored as Parquet)."""
        check_name(name, what="dataset")
        data = frame.to_parquet(index=False)
        return self.add_bytes(data, name, fmt="parquet", source="<dataframe>", actor=actor)

    def add_bytes(
        self, data: bytes, name: str, *, fmt: str, source: str, actor: str = "local"
    ) -> DatasetVersion:
        frame = read_table_bytes(data, fmt)  # validates readability and non-emptiness
        if frame.empty or len(frame.columns) == 0:
            raise InvalidInputError(f"{source} has no rows", field="file")
        digest = sha256_bytes(data)
        columns = infer_schema(frame)
        self.store.artifacts.put_bytes(data)
        for attempt in range(_RETRIES):
            try:
                with self.store.session() as session:
                    repo = DatasetRepository(session)
                    dataset = repo.ensure_dataset(name)
                    existing = repo.by_digest(dataset, digest)
                    if existing is not None:
                        return to_entity(existing)
                    row = repo.add_version(
                        DatasetVersionRow(
                            dataset_id=dataset.id,
                            version=repo.next_version(dataset),
                            digest=digest,
                            format=fmt,
                            row_count=len(frame),
                            columns=columns,
                            size_bytes=len(data),
                            source_name=source[:512],
                        )
                    )
                    AuditRepository(session).append(
                        actor=actor,
                        action="dataset.add",
                        target=f"dataset:{name}:{row.version}",
                        after={"digest": digest, "rows": len(frame), "source": source[:200]},
                    )
                    return to_entity(row)
            except DBIntegrityError:
                # A concurrent add won the race for the name or version number: retry,
                # which finds its row (same content) or takes the next number.
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        with self.store.session() as session:
            return to_entity(DatasetRepository(session).version_row(name, version))

    def list(self, name: str | None = None) -> list[DatasetVersion]:
        with self.store.session() as session:
            return DatasetRepository(session).list_versions(name)

    def load_frame(
        self, name: str, version: int | None = None
    ) -> tuple[DatasetVersion, pd.DataFrame]:
        """The version's table, read from verified bytes."""
        dv = self.get(name, version)
        data = self.store.artifacts.get_bytes(dv.digest)
        return dv, read_table_bytes(data, dv.format)
