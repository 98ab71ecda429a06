"""Prediction records and feedback."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from modelyard.store.orm import FeedbackRow, PredictionRow, utcnow

#: Column order of :meth:`PredictionRepository.insert_rows` tuples.
PREDICTION_COLUMNS = (
    "request_id",
    "endpoint",
    "model",
    "version",
    "at",
    "latency_ms",
    "compute_ms",
    "caller",
    "subject_id",
    "n_rows",
    "inputs",
    "outputs",
)


class PredictionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_many(self, records: list[dict[str, Any]]) -> None:
        """Insert records, ignoring ones already stored (a segment shipped twice)."""
        self.insert_rows([tuple(r[c] for c in PREDICTION_COLUMNS) for r in records])

    def insert_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert value tuples in :data:`PREDICTION_COLUMNS` order, ignoring request ids
        already stored.

        The prediction shipper's path, at thousands of rows per second: values go
        through the columns' own bind processors (exactly what the ORM would store) and
        one DBAPI ``executemany``, skipping the per-row statement machinery.
        """
        if not rows:
            return
        connection = self.session.connection()
        dialect = connection.dialect
        table = PredictionRow.__table__
        processors = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in PREDICTION_COLUMNS
        ]
        if any(p is not None for p in processors):
            rows = [
                tuple(
                    v if p is None or v is None else p(v)
                    for p, v in zip(processors, row, strict=True)
                )
                for row in rows
            ]
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {table.name} ({', '.join(PREDICTION_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(PREDICTION_COLUMNS))}) "
            "ON CONFLICT (request_id) DO NOTHING"
        )
        connection.exec_driver_sql(sql, rows)

    def count(self, endpoint: str | None = None, since: datetime | None = None) -> int:
        query = select(func.count(PredictionRow.id))
        if endpoint is not None:
            query = query.where(PredictionRow.endpoint == endpoint)
        if since is not None:
            query = query.where(PredictionRow.at >= since)
        return int(self.session.scalar(query) or 0)

    def window(
        self, endpoint: str, since: datetime | None = None, limit: int = 100_000
    ) -> list[PredictionRow]:
        query = select(PredictionRow).where(PredictionRow.endpoint == endpoint)
        if since is not None:
            query = query.where(PredictionRow.at >= since)
        return list(self.session.scalars(query.order_by(PredictionRow.id.desc()).limit(limit)))

    def by_request_ids(self, ids: Iterable[str]) -> dict[str, PredictionRow]:
        wanted = list(set(ids))
        rows: dict[str, PredictionRow] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for row in self.session.scalars(
                select(PredictionRow).where(PredictionRow.request_id.in_(chunk))
            ):
                rows[row.request_id] = row
        return rows

    def add_feedback(self, rows: list[FeedbackRow]) -> None:
        for row in rows:
            existing = self.session.scalars(
                select(FeedbackRow).where(
                    FeedbackRow.request_id == row.request_id, FeedbackRow.row == row.row
                )
            ).first()
            if existing is None:
                self.session.add(row)
            else:  # a correction replaces the earlier label
                existing.label = row.label
                existing.caller = row.caller
                existing.at = utcnow()
        self.session.flush()

    def feedback_for(self, endpoint: str) -> list[FeedbackRow]:
        return list(
            self.session.scalars(select(FeedbackRow).where(FeedbackRow.endpoint == endpoint))
        )

    def forget_subject(self, subject_id: str) -> tuple[int, int]:
        """Delete a subject's predictions and feedback; returns the two counts."""
        preds = self.session.execute(
            delete(PredictionRow).where(PredictionRow.subject_id == subject_id)
        )
        feedback = self.session.execute(
            delete(FeedbackRow).where(FeedbackRow.subject_id == subject_id)
        )
        return int(preds.rowcount or 0), int(feedback.rowcount or 0)  # type: ignore[attr-defined]
