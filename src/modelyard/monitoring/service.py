"""Monitoring workflows over the prediction log: feedback, summaries, forgetting subjects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from modelyard.domain.refs import check_name
from modelyard.errors import InvalidInputError
from modelyard.store.orm import FeedbackRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store

MAX_FEEDBACK_ITEMS = 10_000


@dataclass(frozen=True)
class FeedbackResult:
    accepted: int
    not_found: list[str]


def parse_feedback(payload: object) -> list[dict[str, Any]]:
    """``{"request_id", "label"[, "row"]}`` or ``{"items": [...]}`` → a list of items."""
    if not isinstance(payload, dict):
        raise InvalidInputError("expected a JSON object", field="body")
    items = payload["items"] if "items" in payload else [payload]
    if not isinstance(items, list) or not items:
        raise InvalidInputError("'items' must be a non-empty list", field="items")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidInputError(f"at most {MAX_FEEDBACK_ITEMS} items per call", field="items")
    out = []
    for i, item in enumerate(items):
        where = f"items[{i}]" if "items" in payload else "body"
        if not isinstance(item, dict):
            raise InvalidInputError(f"{where} must be an object", field=where)
        unknown = sorted(set(item) - {"request_id", "label", "row"})
        if unknown:
            raise InvalidInputError(f"{where}: unexpected key {unknown[0]!r}", field=unknown[0])
        rid = item.get("request_id")
        if not isinstance(rid, str) or not 0 < len(rid) <= 64:
            raise InvalidInputError(f"{where}.request_id must be a string id", field="request_id")
        if "label" not in item or isinstance(item["label"], dict | list):
            raise InvalidInputError(f"{where}.label must be a scalar", field="label")
        row = item.get("row", 0)
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise InvalidInputError(f"{where}.row must be a non-negative integer", field="row")
        out.append({"request_id": rid, "label": item["label"], "row": row})
    return out


class MonitoringService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record_feedback(
        self, endpoint: str, items: list[dict[str, Any]], *, caller: str
    ) -> FeedbackResult:
        """Store labels for known predictions of ``endpoint``; report unknown request ids."""
        check_name(endpoint, what="endpoint")
        with self.store.session() as session:
            repo = PredictionRepository(session)
            known = repo.by_request_ids(i["request_id"] for i in items)
            rows, missing = [], []
            for item in items:
                record = known.get(item["request_id"])
                if record is None or record.endpoint != endpoint or item["row"] >= record.n_rows:
                    missing.append(item["request_id"])
                    continue
                rows.append(
                    FeedbackRow(
                        request_id=item["request_id"],
                        row=item["row"],
                        endpoint=endpoint,
                        label=item["label"],
                        subject_id=record.subject_id,
                        caller=caller,
                    )
                )
            repo.add_feedback(rows)
        return FeedbackResult(accepted=len(rows), not_found=sorted(set(missing)))

    def summary(self, endpoint: str, window: timedelta | None = None) -> dict[str, Any]:
        """Counts, latency, cost inputs and live accuracy for an endpoint's recent traffic."""
        since = datetime.now(UTC) - window if window else None
        with self.store.session() as session:
            repo = PredictionRepository(session)
            total = repo.count(endpoint)
            records = repo.window(endpoint, since)
            feedback = {(f.request_id, f.row): f.label for f in repo.feedback_for(endpoint)}
        latencies = np.array([r.latency_ms for r in records], dtype=float)
        compute = np.array([r.compute_ms for r in records], dtype=float)
        by_version: dict[str, int] = {}
        correct = labelled = 0
        for r in records:
            by_version[str(r.version)] = by_version.get(str(r.version), 0) + 1
            predictions = r.outputs.get("predictions", [])
            for row, predicted in enumerate(predictions):
                label = feedback.get((r.request_id, row))
                if label is not None:
                    labelled += 1
                    correct += int(label == predicted)
        return {
            "endpoint": endpoint,
            "prediction_count": total,
            "window_count": len(records),
            "rows": int(sum(r.n_rows for r in records)),
            "by_version": by_version,
            "latency_ms": {
                "p50": float(np.percentile(latencies, 50)) if len(latencies) else None,
                "p99": float(np.percentile(latencies, 99)) if len(latencies) else None,
            },
            "compute_ms_total": float(compute.sum()),
            "feedback_count": labelled,
            "live_accuracy": correct / labelled if labelled else None,
        }

    def forget_subject(
        self, subject_id: str, *, actor: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Delete a subject's predictions and feedback everywhere they are stored; audited."""
        if not isinstance(subject_id, str) or not 0 < len(subject_id) <= 128:
            raise InvalidInputError("subject id must be 1-128 characters", field="subject_id")
        with self.store.session() as session:
            predictions, feedback = PredictionRepository(session).forget_subject(subject_id)
            entry = AuditRepository(session).append(
                actor=actor,
                action="privacy.forget",
                target="subject:<redacted>",
                after={"predictions_deleted": predictions, "feedback_deleted": feedback},
                request_id=request_id,
            )
        return {
            "subject_deleted": True,
            "predictions_deleted": predictions,
            "feedback_deleted": feedback,
            "audit_entry": entry.id,
            "at": datetime.now(UTC).isoformat(),
        }
