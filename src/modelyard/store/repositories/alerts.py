"""Alert states and events, and the light reads of the prediction log that alerts need.

:class:`AlertRepository` keeps one row per (rule, endpoint) state, keyed by its
fingerprint, and an append-only event log. :class:`TrafficRepository` reads only the
columns a metric needs (no request inputs), so evaluating rules stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from modelyard.domain.alerts import AlertEvent, AlertState
from modelyard.store.orm import (
    AlertEventRow,
    AlertStateRow,
    FeedbackRow,
    ModelVersionRow,
    PredictionRow,
    RegisteredModelRow,
)

#: PostgreSQL advisory lock serialising alert evaluation passes across replicas.
_EVALUATION_LOCK = 7_270_007


def _state(row: AlertStateRow) -> AlertState:
    return AlertState.from_dict(
        {
            "rule": row.rule,
            "endpoint": row.endpoint,
            "status": row.status,
            "since": row.since,
            "value": row.value,
            "updated_at": row.updated_at,
            "fired_at": row.fired_at,
            "resolved_at": row.resolved_at,
        }
    )


class AlertRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock(self) -> None:
        """Serialise evaluation passes (SQLite already does: writes begin IMMEDIATE)."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _EVALUATION_LOCK})

    def states(self) -> dict[str, AlertState]:
        """Every stored state, by fingerprint."""
        return {row.fingerprint: _state(row) for row in self.session.scalars(select(AlertStateRow))}

    def save_state(self, state: AlertState) -> None:
        row = self.session.get(AlertStateRow, state.fingerprint)
        if row is None:
            row = AlertStateRow(fingerprint=state.fingerprint, rule=state.rule)
            self.session.add(row)
        data = state.to_dict()
        row.rule = state.rule
        row.endpoint = state.endpoint
        row.status = state.status
        for key in ("since", "value", "updated_at", "fired_at", "resolved_at"):
            setattr(row, key, data[key])

    def add_event(self, event: AlertEvent) -> AlertEventRow:
        payload = event.to_dict()
        row = AlertEventRow(
            fingerprint=event.fingerprint,
            rule=event.rule,
            endpoint=event.endpoint,
            status=event.status,
            severity=event.severity,
            metric=event.metric,
            value=payload["value"],
            threshold=event.threshold,
            started_at=event.started_at,
            at=event.at,
            payload=payload,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def events(
        self, *, limit: int = 50, endpoint: str | None = None, rule: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest events first, as their payloads plus the event id."""
        query = select(AlertEventRow)
        if endpoint is not None:
            query = query.where(AlertEventRow.endpoint == endpoint)
        if rule is not None:
            query = query.where(AlertEventRow.rule == rule)
        rows = self.session.scalars(query.order_by(AlertEventRow.id.desc()).limit(limit))
        return [{"id": row.id, **row.payload} for row in rows]


class TrafficRepository:
    """Column-light reads of prediction records and feedback for monitoring metrics."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _where(
        self, query: Any, endpoint: str, since: datetime | None, until: datetime | None
    ) -> Any:
        query = query.where(PredictionRow.endpoint == endpoint)
        if since is not None:
            query = query.where(PredictionRow.at >= since)
        if until is not None:
            query = query.where(PredictionRow.at < until)
        return query

    def totals(
        self, endpoint: str, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[int, float]:
        """Request count and total compute milliseconds in ``[since, until)``."""
        query = self._where(
            select(
                func.count(PredictionRow.id), func.coalesce(func.sum(PredictionRow.compute_ms), 0.0)
            ),
            endpoint,
            since,
            until,
        )
        count, compute = self.session.execute(query).one()
        return int(count or 0), float(compute or 0.0)

    def latencies(self, endpoint: str, since: datetime | None, limit: int) -> list[float]:
        """Latencies (ms) of the newest ``limit`` records since ``since``."""
        query = self._where(select(PredictionRow.latency_ms), endpoint, since, None)
        return [
            float(v)
            for v in self.session.scalars(query.order_by(PredictionRow.id.desc()).limit(limit))
        ]

    def first_record_at(self, endpoint: str) -> datetime | None:
        return self.session.scalar(
            select(func.min(PredictionRow.at)).where(PredictionRow.endpoint == endpoint)
        )

    def cost_rows(
        self, endpoint: str, since: datetime | None
    ) -> Iterator[tuple[int, str, datetime, float]]:
        """``(version, caller, at, compute_ms)`` of each record, streamed."""
        query = self._where(
            select(
                PredictionRow.version,
                PredictionRow.caller,
                PredictionRow.at,
                PredictionRow.compute_ms,
            ),
            endpoint,
            since,
            None,
        ).execution_options(yield_per=5000)
        for version, caller, at, compute_ms in self.session.execute(query):
            yield int(version), str(caller), at, float(compute_ms)

    def outputs(
        self, endpoint: str, since: datetime | None, limit: int
    ) -> list[tuple[str, str, int, dict[str, Any]]]:
        """``(request_id, model, version, outputs)`` of the newest ``limit`` records."""
        query = self._where(
            select(
                PredictionRow.request_id,
                PredictionRow.model,
                PredictionRow.version,
                PredictionRow.outputs,
            ),
            endpoint,
            since,
            None,
        )
        rows = self.session.execute(query.order_by(PredictionRow.id.desc()).limit(limit))
        return [(str(r), str(m), int(v), dict(o or {})) for r, m, v, o in rows]

    def labels(self, endpoint: str, since: datetime | None) -> dict[tuple[str, int], Any]:
        """Feedback labels of the endpoint's records since ``since``, by (request id, row)."""
        query = select(FeedbackRow.request_id, FeedbackRow.row, FeedbackRow.label).where(
            FeedbackRow.endpoint == endpoint
        )
        if since is not None:
            recent = self._where(select(PredictionRow.request_id), endpoint, since, None)
            query = query.where(FeedbackRow.request_id.in_(recent))
        return {(str(rid), int(row)): label for rid, row, label in self.session.execute(query)}

    def output_kinds(self, versions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """``classification`` or ``regression`` for each (model, version) given."""
        wanted = set(versions)
        if not wanted:
            return {}
        names = {name for name, _ in wanted}
        query = (
            select(RegisteredModelRow.name, ModelVersionRow.version, ModelVersionRow.signature)
            .join(RegisteredModelRow, ModelVersionRow.model_id == RegisteredModelRow.id)
            .where(RegisteredModelRow.name.in_(names))
        )
        out: dict[tuple[str, int], str] = {}
        for name, version, signature in self.session.execute(query):
            key = (str(name), int(version))
            if key in wanted:
                out[key] = str((signature or {}).get("output", {}).get("kind", "unknown"))
        return out
