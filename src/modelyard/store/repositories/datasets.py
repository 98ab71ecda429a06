"""Datasets and their immutable versions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.domain.entities import DatasetVersion
from modelyard.errors import NotFoundError
from modelyard.store.orm import DatasetRow, DatasetVersionRow


def to_entity(row: DatasetVersionRow) -> DatasetVersion:
    return DatasetVersion(
        dataset=row.dataset.name,
        version=row.version,
        digest=row.digest,
        format=row.format,
        row_count=row.row_count,
        columns=list(row.columns),
        size_bytes=row.size_bytes,
        source_name=row.source_name,
        created_at=row.created_at,
    )


class DatasetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def dataset(self, name: str) -> DatasetRow | None:
        return self.session.scalars(select(DatasetRow).where(DatasetRow.name == name)).first()

    def ensure_dataset(self, name: str) -> DatasetRow:
        row = self.dataset(name)
        if row is None:
            row = DatasetRow(name=name)
            self.session.add(row)
            self.session.flush()
        return row

    def by_digest(self, dataset: DatasetRow, digest: str) -> DatasetVersionRow | None:
        return self.session.scalars(
            select(DatasetVersionRow).where(
                DatasetVersionRow.dataset_id == dataset.id, DatasetVersionRow.digest == digest
            )
        ).first()

    def next_version(self, dataset: DatasetRow) -> int:
        current = self.session.scalar(
            select(func.max(DatasetVersionRow.version)).where(
                DatasetVersionRow.dataset_id == dataset.id
            )
        )
        return int(current or 0) + 1

    def add_version(self, row: DatasetVersionRow) -> DatasetVersionRow:
        self.session.add(row)
        self.session.flush()
        return row

    def version_row(self, name: str, version: int | None = None) -> DatasetVersionRow:
        dataset = self.dataset(name)
        if dataset is None:
            raise NotFoundError(f"dataset {name!r} not found")
        query = select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == dataset.id)
        if version is None:
            query = query.order_by(DatasetVersionRow.version.desc())
        else:
            query = query.where(DatasetVersionRow.version == version)
        row = self.session.scalars(query).first()
        if row is None:
            what = f"version {version} of dataset {name!r}" if version else f"dataset {name!r}"
            raise NotFoundError(f"{what} not found")
        return row

    def list_versions(self, name: str | None = None) -> list[DatasetVersion]:
        query = select(DatasetVersionRow).join(DatasetRow)
        if name is not None:
            query = query.where(DatasetRow.name == name)
        rows = self.session.scalars(
            query.order_by(DatasetRow.name, DatasetVersionRow.version)
        ).all()
        return [to_entity(r) for r in rows]
