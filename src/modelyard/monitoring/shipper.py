"""Moves spooled prediction records into the store in batches.

A segment is deleted only after its records are committed; shipping a segment twice
is harmless because records are keyed by request id. A store outage leaves the
segments where they are, so the spool grows instead of losing records.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelyard.monitoring.spool import SegmentLock, pending_segments, read_segment
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store

log = logging.getLogger("modelyard.monitoring")
BATCH = 1000


def _values(record: dict[str, Any]) -> tuple[Any, ...]:
    """A spooled record as a row in ``PREDICTION_COLUMNS`` order (KeyError,
    TypeError or ValueError if it is malformed)."""
    inputs = record.get("inputs", [])
    subject = record.get("subject_id")
    return (
        str(record["request_id"])[:64],
        str(record["endpoint"])[:128],
        str(record["model"])[:128],
        int(record["version"]),
        datetime.fromtimestamp(float(record["ts"]), tz=UTC),
        float(record["latency_ms"]),
        float(record.get("compute_ms", 0.0)),
        str(record.get("caller", ""))[:160],
        None if subject is None else str(subject)[:128],
        int(record.get("n_rows", len(inputs))),
        inputs,
        record.get("outputs", {}),
    )


def ship_segment(store: Store, path: Path, *, wait_s: float = 0.0) -> int:
    """Ship one segment; returns the number of records read from it. ``wait_s`` waits
    for a shipper already holding it (so the caller can read its own writes)."""
    lock = SegmentLock(path)
    if not lock.acquire(wait_s):
        return 0
    try:
        shipped = 0
        batch: list[tuple[Any, ...]] = []
        with store.session() as session:
            repo = PredictionRepository(session)
            for record in read_segment(path):
                try:
                    batch.append(_values(record))
                except (KeyError, TypeError, ValueError):
                    log.warning("skipping a malformed spooled record in %s", path.name)
                    continue
                if len(batch) >= BATCH:
                    repo.insert_rows(batch)
                    shipped += len(batch)
                    batch = []
            repo.insert_rows(batch)
            shipped += len(batch)
        path.unlink(missing_ok=True)
        return shipped
    finally:
        lock.release()


def ship_pending(store: Store, directory: Path, *, wait_s: float = 0.0) -> int:
    """Ship every sealed segment (and open ones left by dead processes); with
    ``wait_s``, a segment another shipper holds is waited for, not skipped."""
    total = 0
    for path in pending_segments(directory, own_pid=os.getpid()):
        total += ship_segment(store, path, wait_s=wait_s)
    return total
