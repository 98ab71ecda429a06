"""Prediction records and feedback."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelyard.store.orm import FeedbackRow, PredictionRow, utcnow


class PredictionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_many(self, records: list[dict[str, Any]]) -> None:
        """Insert records, ignoring ones already stored (a segment shipped twice)."""
        if not records:
            return
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(PredictionRow).on_conflict_do_nothing(
                index_elements=["request_id"]
            )
        elif dialect == "sqlite":
            stmt = sqlite.insert(PredictionRow).on_conflict_do_nothing(
                index_elements=["request_id"]
            )
        else:  # pragma: no cover - other databases: plain insert
            stmt = insert(PredictionRow)
        self.session.execute(stmt, records)

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
