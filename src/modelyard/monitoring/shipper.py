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

from modelyard.errors import ConflictError
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


def ship_segment(
    store: Store, path: Path, *, include_held: bool = False, wait_s: float = 0.0
) -> int:
    """Ship one segment; returns the number of records read from it.

    A segment another shipper holds is waited for up to ``wait_s``, then skipped, or
    with ``include_held`` copied in without deleting it (duplicates are ignored): the
    caller reads its own writes without waiting on the holder, which runs at idle
    priority and may get no CPU while the server is saturated.
    """
    lock = SegmentLock(path)
    if not lock.acquire(wait_s):
        return _copy(store, path) if include_held else 0
    try:
        shipped = _copy(store, path)
        path.unlink(missing_ok=True)
        return shipped
    finally:
        lock.release()


def _copy(store: Store, path: Path) -> int:
    """Insert a segment's records (request ids already stored are skipped)."""
    shipped = 0
    batch: list[tuple[Any, ...]] = []
    try:
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
    except FileNotFoundError:  # its holder shipped and deleted it meanwhile
        return 0
    return shipped


def ship_pending(
    store: Store, directory: Path, *, include_held: bool = False, wait_s: float = 0.0
) -> int:
    """Ship every sealed segment (and open ones left by dead processes); see
    :func:`ship_segment` for segments another shipper holds."""
    total = 0
    for path in pending_segments(directory, own_pid=os.getpid()):
        total += ship_segment(store, path, include_held=include_held, wait_s=wait_s)
    return total


def ship_all_or_fail(store: Store, directory: Path, *, wait_s: float = 30.0) -> int:
    """Ship every sealed segment, waiting for their holders, before a deletion that no
    late shipment may undo (forgetting a subject); ConflictError if one stays held."""
    total = ship_pending(store, directory, wait_s=wait_s)
    left = pending_segments(directory, own_pid=os.getpid())
    if left:
        raise ConflictError(
            f"{len(left)} prediction log segment(s) are still being shipped; nothing was "
            "deleted, retry in a few seconds"
        )
    return total
