from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelyard.errors import ConflictError
from modelyard.monitoring.shipper import ship_all_or_fail, ship_pending
from modelyard.monitoring.spool import (
    SegmentLock,
    Spool,
    SpoolUnavailable,
    pending_segments,
    read_segment,
)
from modelyard.settings import Settings
from modelyard.store.artifacts.local import LocalArtifactStore
from modelyard.store.db import create_db_engine
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store


def record(i: int, **extra: object) -> dict[str, object]:
    return {
        "request_id": f"req-{i}",
        "endpoint": "ep",
        "model": "m",
        "version": 1,
        "ts": time.time(),
        "latency_ms": 1.5,
        "compute_ms": 0.5,
        "caller": "key:abc",
        "subject_id": extra.get("subject_id"),
        "n_rows": 1,
        "inputs": [{"x": i}],
        "outputs": {"predictions": [i % 2]},
    }


def count(store: Store) -> int:
    with store.session() as session:
        return PredictionRepository(session).count("ep")


def test_records_move_from_spool_to_store_once(store: Store, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(25):
        spool.append(record(i))
    assert count(store) == 0
    spool.seal()
    assert ship_pending(store, tmp_path / "spool") == 25
    assert count(store) == 25
    assert pending_segments(tmp_path / "spool") == []
    # The same records spooled again (a segment shipped twice) are not duplicated.
    for i in range(25):
        spool.append(record(i))
    spool.seal()
    ship_pending(store, tmp_path / "spool")
    assert count(store) == 25
    spool.close()


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(record(1))
    spool.close()
    (segment,) = list((tmp_path / "spool").glob("*.sealed"))
    with open(segment, "ab") as fh:
        fh.write(b'{"request_id": "half')
    assert [r["request_id"] for r in read_segment(segment)] == ["req-1"]


def test_open_segment_of_a_dead_process_is_shipped(store: Store, tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    dead = directory / "999999-000001.open"
    import orjson

    dead.write_bytes(orjson.dumps(record(7)) + b"\n")
    mine = directory / f"{os.getpid()}-000099.open"
    mine.write_bytes(orjson.dumps(record(8)) + b"\n")
    assert ship_pending(store, directory) == 1
    assert mine.exists() and not dead.exists()


def test_store_outage_keeps_the_spool(tmp_path: Path, settings: Settings) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append(record(1))
    spool.seal()
    broken = Store(
        create_db_engine(f"sqlite:///{tmp_path / 'missing' / 'nothing-here.db'}"),
        LocalArtifactStore(tmp_path / "a"),
        b"s",
    )
    with pytest.raises(Exception):  # noqa: B017 - any database error
        ship_pending(broken, tmp_path / "spool")
    assert len(pending_segments(tmp_path / "spool")) == 1
    spool.close()


def test_unwritable_spool_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpoolUnavailable, match="refusing to serve without a prediction log"):
        Spool(blocker / "spool")


def test_rate_limits_are_shared_through_redis() -> None:
    """Two servers (two limiters) configured with one Redis share one budget."""
    import asyncio
    import uuid

    from helpers import redis_url
    from modelyard.serving.guard import RateLimits

    url = redis_url()
    settings = Settings(rate_limit_storage=url, rate_limit_per_key="3/minute")
    key = uuid.uuid4().hex

    async def hits() -> list[bool]:
        first, second = RateLimits(settings), RateLimits(settings)
        out = []
        for limiter in (first, second, first, second):
            out.append(await limiter.check(limiter.per_key, "key", key) is None)
        await first.close()
        await second.close()
        return out

    assert asyncio.run(hits()) == [True, True, True, False]


def _wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_shipper_process_ships_restarts_and_stops(backend_settings: Settings) -> None:
    from modelyard.monitoring.ship_worker import ShipperProcess
    from modelyard.store.store import open_store

    settings = backend_settings.model_copy(update={"ship_interval_s": 0.05})
    store = open_store(settings)
    shipper = ShipperProcess(settings)
    try:
        spool = Spool(settings.resolved_spool_dir)
        for i in range(10):
            spool.append(record(i))
        spool.seal()
        shipper.ensure_running()
        _wait_for(lambda: count(store) == 10)
        first = shipper.process
        assert first is not None
        first.kill()  # a crashed shipper is started again on the next tick
        first.wait()
        for i in range(10, 15):
            spool.append(record(i))
        spool.seal()
        shipper.ensure_running()
        assert shipper.restarts == 1 and shipper.process is not first
        _wait_for(lambda: count(store) == 15)
        spool.close()
        second = shipper.process
        assert second is not None and second.poll() is None  # still running
    finally:
        shipper.stop()
        store.close()
    assert shipper.process is None
    assert second.poll() is not None  # stop() ended the running child


def _settled_policy(pid: int, want: int, timeout: float = 30.0) -> int:
    """The scheduling policy of ``pid`` once it equals ``want`` (or at the timeout)."""
    deadline = time.monotonic() + timeout
    policy = os.sched_getscheduler(pid)
    while policy != want and time.monotonic() < deadline:
        time.sleep(0.05)
        policy = os.sched_getscheduler(pid)
    return policy


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class here")
@pytest.mark.parametrize("idle", [True, False])
def test_shipper_child_runs_at_idle_priority_unless_told_not_to(
    settings: Settings, idle: bool
) -> None:
    from modelyard.children import NICENESS
    from modelyard.monitoring.ship_worker import ShipperProcess

    shipper = ShipperProcess(settings.model_copy(update={"ship_idle_priority": idle}))
    try:
        shipper.ensure_running()
        assert shipper.process is not None
        pid = shipper.process.pid
        want = os.SCHED_IDLE if idle else os.SCHED_OTHER
        nice = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)  # relative to ours
        _wait_for(lambda: os.getpriority(os.PRIO_PROCESS, pid) == nice)
        assert _settled_policy(pid, want) == want
    finally:
        shipper.stop()


def test_oldest_pending_age_reads_the_oldest_waiting_segment(settings: Settings) -> None:
    from modelyard.monitoring.spool import oldest_pending_age

    directory = settings.resolved_spool_dir
    spool = Spool(directory)
    assert oldest_pending_age(directory, own_pid=os.getpid()) == 0.0
    spool.append(record(0))
    assert oldest_pending_age(directory, own_pid=os.getpid()) == 0.0  # still open: ours
    spool.seal()
    [sealed] = pending_segments(directory)
    os.utime(sealed, (time.time() - 120, time.time() - 120))
    assert 119 < oldest_pending_age(directory, own_pid=os.getpid()) < 130
    spool.close()


def test_a_backlog_older_than_the_limit_is_shipped_by_a_catch_up_child(
    backend_settings: Settings,
) -> None:
    from modelyard.monitoring.ship_worker import ShipperProcess
    from modelyard.store.store import open_store

    settings = backend_settings.model_copy(update={"ship_max_lag_s": 5.0})
    store = open_store(settings)
    shipper = ShipperProcess(settings)
    try:
        spool = Spool(settings.resolved_spool_dir)
        for i in range(7):
            spool.append(record(i))
        spool.seal()
        shipper.check_backlog()  # fresh: within the limit, nothing started
        assert shipper.catch_up is None and shipper.catch_ups == 0
        [sealed] = pending_segments(settings.resolved_spool_dir)
        os.utime(sealed, (time.time() - 60, time.time() - 60))
        shipper.check_backlog()
        assert shipper.catch_ups == 1 and shipper.catch_up is not None
        assert shipper.process is None  # the catch-up child works without the idle one
        assert shipper.catch_up.wait(60) == 0  # ships once and exits
        assert count(store) == 7
        assert pending_segments(settings.resolved_spool_dir) == []
        spool.close()
    finally:
        shipper.stop()
        store.close()


def test_a_second_spool_in_one_process_never_overwrites_the_first_ones_segments(
    store: Store, tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    first = Spool(directory)
    first.append(record(1))
    first.close()  # sealed, not shipped yet
    second = Spool(directory)  # the same process starts its app again
    second.append(record(2))
    second.close()
    assert ship_pending(store, directory) == 2
    assert count(store) == 2


def test_a_crashed_segment_ends_in_zeros_and_ships_its_records(
    store: Store, tmp_path: Path
) -> None:
    directory = tmp_path / "spool"
    directory.mkdir()
    import orjson

    dead = directory / "999998-000001.open"  # what a kill -9 leaves: records, then zeros
    dead.write_bytes(orjson.dumps(record(3)) + b"\n" + b'{"request_id": "tor' + bytes(4096))
    assert [r["request_id"] for r in read_segment(dead)] == ["req-3"]
    assert ship_pending(store, directory) == 1
    assert not dead.exists()


def test_a_record_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    spool = Spool(directory, segment_bytes=4096)
    spool.append(record(1))
    big = {**record(2), "inputs": [{"x": "y" * 10_000}]}
    spool.append(big)
    spool.append(record(3))
    spool.close()
    segments = pending_segments(directory)
    ids = [r["request_id"] for p in segments for r in read_segment(p)]
    assert sorted(ids) == ["req-1", "req-2", "req-3"]
    assert len(segments) == 3 and max(p.stat().st_size for p in segments) > 10_000


@pytest.mark.parametrize("idle", [True, False])
def test_a_failing_store_gets_at_most_one_catch_up_child_per_lag_limit(
    settings: Settings, idle: bool
) -> None:
    from modelyard.monitoring.ship_worker import ShipperProcess

    settings = settings.model_copy(update={"ship_max_lag_s": 5.0, "ship_idle_priority": idle})
    spool = Spool(settings.resolved_spool_dir)
    spool.append(record(1))
    spool.seal()
    [sealed] = pending_segments(settings.resolved_spool_dir)
    os.utime(sealed, (time.time() - 60, time.time() - 60))
    shipper = ShipperProcess(settings)  # no store was ever created: shipping fails
    try:
        shipper.check_backlog()
        if idle:
            assert shipper.catch_up is not None
            shipper.catch_up.wait(60)  # it failed and exited; the backlog is still old
        shipper.check_backlog()
        shipper.check_backlog()
        # without idle priority the shipper already runs at nice +10: no catch-up at all
        assert shipper.catch_ups == (1 if idle else 0)
        assert pending_segments(settings.resolved_spool_dir) == [sealed]  # nothing lost
    finally:
        shipper.stop()
        spool.close()


def test_a_held_segment_is_copied_for_readers_and_left_to_its_holder(
    store: Store, tmp_path: Path
) -> None:
    """The idle-priority shipper child may hold a segment for long under load: readers
    that must see every record copy it in rather than wait on (or skip) it."""
    directory = tmp_path / "spool"
    spool = Spool(directory)
    for i in range(5):
        spool.append(record(i))
    spool.seal()
    (segment,) = pending_segments(directory)
    holder = SegmentLock(segment)
    assert holder.acquire()
    try:
        assert ship_pending(store, directory) == 0  # skipped: the holder ships it
        assert count(store) == 0
        assert ship_pending(store, directory, include_held=True) == 5
        assert count(store) == 5 and segment.exists()  # the holder still deletes it
        with pytest.raises(ConflictError, match="still being shipped; nothing was deleted"):
            ship_all_or_fail(store, directory, wait_s=0.05)
    finally:
        holder.release()
    assert ship_all_or_fail(store, directory, wait_s=0.05) == 5  # duplicates ignored
    assert count(store) == 5 and not segment.exists()
    spool.close()


def test_a_seal_returns_only_once_a_concurrent_seal_has_handed_its_segment_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush's seal racing the periodic one must not list segments before the other
    has renamed its segment .sealed (the records would be missing from the flush)."""
    import threading

    from modelyard.monitoring import spool as spool_module

    slow_finish = spool_module._finish
    swapped = threading.Event()

    def finish(segment: object, **kwargs: bool) -> None:
        swapped.set()
        time.sleep(0.3)
        slow_finish(segment, **kwargs)  # type: ignore[arg-type]

    directory = tmp_path / "spool"
    spool = Spool(directory)
    spool.append(record(1))
    monkeypatch.setattr(spool_module, "_finish", finish)
    periodic = threading.Thread(target=spool.seal)
    periodic.start()
    assert swapped.wait(5)
    spool.seal()  # the flush: nothing new to seal, but must wait for the periodic one
    assert len(pending_segments(directory, own_pid=os.getpid())) == 1
    periodic.join()
    monkeypatch.setattr(spool_module, "_finish", slow_finish)
    spool.close()
