"""Training runs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.domain.entities import Run
from modelyard.errors import NotFoundError
from modelyard.store.orm import RunRow


def to_entity(row: RunRow) -> Run:
    dv = row.dataset_version
    return Run(
        id=row.id,
        kind=row.kind,
        status=row.status,
        seed=row.seed,
        params=dict(row.params),
        metrics=dict(row.metrics),
        code_version=row.code_version,
        dataset=dv.dataset.name if dv else None,
        dataset_version=dv.version if dv else None,
        started_at=row.started_at,
        duration_s=row.duration_s,
    )


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: RunRow) -> RunRow:
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, run_id: str) -> Run:
        row = self.session.get(RunRow, run_id)
        if row is None:
            raise NotFoundError(f"run {run_id!r} not found")
        return to_entity(row)

    def list(self) -> list[Run]:
        rows = self.session.scalars(select(RunRow).order_by(RunRow.started_at.desc())).all()
        return [to_entity(r) for r in rows]
