"""Monitoring workflows over the prediction log: feedback, summaries, cost, forgetting subjects.

Live quality (:func:`live_quality`): for classifiers, the window's accuracy is
*estimated* from the logged probabilities (confidence-based performance estimation,
:mod:`modelyard.domain.quality_estimation`) while labels are missing, and *realized*
from feedback once at least ``min_labels`` of the window's rows are labelled
(``MODELYARD_QUALITY_MIN_LABELS``). The estimate needs :data:`MIN_ESTIMATE_ROWS` rows
with probabilities; it uses the raw probabilities (no calibrator), so it is as good as
the model's calibration.

Cost (:func:`cost_report`): each record's measured compute time priced with the
endpoint's cost model from the spec (``monitoring.cost``, :mod:`modelyard.domain.cost`)
and totalled by version, caller and hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from modelyard.domain.cost import CostModel, CostReport, aggregate, hour_bucket, model_for
from modelyard.domain.quality_estimation import DEFAULT_MIN_LABELS, blend, estimate_performance
from modelyard.domain.refs import check_name
from modelyard.errors import InvalidInputError
from modelyard.store.orm import FeedbackRow
from modelyard.store.repositories.alerts import TrafficRepository
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store

MAX_FEEDBACK_ITEMS = 10_000
#: Rows with probabilities a window needs before accuracy is estimated (CBPE).
MIN_ESTIMATE_ROWS = 30
#: Longest window the cost and summary reads accept.
MAX_WINDOW = timedelta(days=366)


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
            raise InvalidInputError(
                f"{where}.label must be one value (a scalar); for a request of several "
                'rows, send one item per row with its index in "row"',
                field="label",
            )
        row = item.get("row", 0)
        if not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise InvalidInputError(f"{where}.row must be a non-negative integer", field="row")
        out.append({"request_id": rid, "label": item["label"], "row": row})
    return out


def _same(label: Any, predicted: Any) -> bool:
    return bool(label == predicted) or str(label) == str(predicted)


def live_quality(
    outputs: Iterable[tuple[str, Mapping[str, Any]]],
    labels: Mapping[tuple[str, int], Any],
    *,
    classifier: bool = True,
    min_labels: int = DEFAULT_MIN_LABELS,
    min_rows: int = MIN_ESTIMATE_ROWS,
) -> dict[str, Any]:
    """Live accuracy of a window: ``{value, source, estimated, realized, ...}``.

    ``outputs`` are ``(request_id, outputs)`` of the window's records, ``labels`` the
    feedback by ``(request_id, row)``. ``source`` is ``realized`` (enough labels),
    ``estimated`` (CBPE on the logged probabilities) or ``none``.
    """
    probabilities: list[Mapping[str, float]] = []
    predicted_labels: list[str] = []
    n_total = n_labelled = correct = 0
    for request_id, out in outputs:
        predictions = out.get("predictions") or []
        probas = out.get("probabilities")
        for row, predicted in enumerate(predictions):
            n_total += 1
            label = labels.get((request_id, row))
            if label is not None:
                n_labelled += 1
                correct += _same(label, predicted)
            if isinstance(probas, list) and row < len(probas) and isinstance(probas[row], dict):
                probabilities.append(probas[row])
                predicted_labels.append(str(predicted))
    base: dict[str, Any] = {"metric": "accuracy", "method": "cbpe", "calibrated": False}
    if not classifier:
        return {
            **base,
            "value": None,
            "source": "none",
            "estimated": None,
            "realized": None,
            "n_labelled": n_labelled,
            "n_total": n_total,
            "label_coverage": None,
            "min_labels": min_labels,
            "reason": "accuracy applies to classifiers only",
        }
    estimated: float | None = None
    if len(probabilities) >= min_rows:
        try:
            estimate = estimate_performance(probabilities, predictions=predicted_labels)
            estimated = estimate.metrics["accuracy"]
        except InvalidInputError:
            estimated = None
    realized = correct / n_labelled if n_labelled else None
    metric = blend(estimated, realized, n_labelled, n_total, min_labels=min_labels)
    return {**base, **metric.to_dict(), "min_rows": min_rows}


def cost_report(
    endpoint: str,
    rows: Iterable[tuple[Any, str | None, datetime, float]],
    models: Mapping[str, CostModel],
) -> CostReport:
    """Price ``(version, caller, at, compute_ms)`` rows of one endpoint; totals by group."""
    return aggregate(
        (
            (endpoint, version, caller, hour_bucket(at), compute_ms)
            for version, caller, at, compute_ms in rows
        ),
        models,
    )


def cost_summary(
    endpoint: str, report: CostReport, models: Mapping[str, CostModel]
) -> dict[str, Any]:
    """The cost part of a summary: the model, the total and the total by version."""
    model = model_for(models, endpoint)
    data = report.to_dict()
    return {
        "model": model.to_dict() if model is not None else None,
        "total": data["total"],
        "by_version": data["by_version"],
        "priced": model is not None,
    }


def since_for(window: timedelta | None) -> datetime | None:
    """The start of a trailing ``window`` (``None``: all records)."""
    if window is None:
        return None
    if window > MAX_WINDOW:
        raise InvalidInputError(
            f"window is too long; at most {MAX_WINDOW.days} days", field="window"
        )
    return datetime.now(UTC) - window


class MonitoringService:
    def __init__(
        self,
        store: Store,
        *,
        cost_models: Mapping[str, CostModel] | None = None,
        min_labels: int = DEFAULT_MIN_LABELS,
    ) -> None:
        self.store = store
        self.cost_models: Mapping[str, CostModel] = cost_models or {}
        self.min_labels = min_labels

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
        """Counts, latency, cost, live accuracy and live quality of an endpoint's traffic."""
        since = since_for(window)
        with self.store.session() as session:
            repo = PredictionRepository(session)
            total = repo.count(endpoint)
            records = repo.window(endpoint, since)
            feedback = {(f.request_id, f.row): f.label for f in repo.feedback_for(endpoint)}
            kinds = TrafficRepository(session).output_kinds({(r.model, r.version) for r in records})
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
            "live_quality": live_quality(
                ((r.request_id, r.outputs) for r in records),
                feedback,
                classifier=not records
                or any(kinds.get((r.model, r.version)) == "classification" for r in records),
                min_labels=self.min_labels,
            ),
            "cost": cost_summary(
                endpoint,
                cost_report(
                    endpoint,
                    ((r.version, r.caller, r.at, r.compute_ms) for r in records),
                    self.cost_models,
                ),
                self.cost_models,
            ),
        }

    def cost(self, endpoint: str, window: timedelta | None = None) -> dict[str, Any]:
        """Cost totals of an endpoint's records in ``window``: by version, caller and hour."""
        check_name(endpoint, what="endpoint")
        since = since_for(window)
        with self.store.session() as session:
            EndpointRepository(session).get(endpoint)  # 404 for an unknown endpoint
            report = cost_report(
                endpoint, TrafficRepository(session).cost_rows(endpoint, since), self.cost_models
            )
        model = model_for(self.cost_models, endpoint)
        data = report.to_dict()
        del data["by_endpoint"]
        return {
            "endpoint": endpoint,
            "window_seconds": window.total_seconds() if window is not None else None,
            "since": since.isoformat() if since is not None else None,
            "model": model.to_dict() if model is not None else None,
            **data,
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
