"""The prediction spool: records are appended to a local file before the response is sent.

One ``write`` per request on an ``O_APPEND`` descriptor (no per-request fsync), so a
record survives a ``kill -9`` of the server as soon as the response could have been
seen. A shipper seals the current segment (rename) and moves sealed segments to the
store in batches; segments left behind by a crash are shipped on the next start.

Layout: ``SPOOL/<pid>-<n>.open`` (being written), ``SPOOL/<pid>-<n>.sealed`` (ready).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from modelyard.errors import InvalidInputError


class SpoolUnavailable(InvalidInputError):
    """The spool directory cannot be written: the server must not serve without a log."""


class Spool:
    """Appends JSON lines to the open segment of this process."""

    def __init__(self, directory: Path, *, max_segment_bytes: int = 16 * 1_048_576) -> None:
        self.directory = Path(directory)
        self.max_segment_bytes = max_segment_bytes
        self._lock = threading.Lock()
        self._counter = 0
        self._fd = -1
        self._size = 0
        self.appended = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            probe = self.directory / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SpoolUnavailable(
                f"prediction spool directory {self.directory} is not writable ({exc.strerror}); "
                "refusing to serve without a prediction log — fix the permissions or set "
                "MODELYARD_SPOOL_DIR",
                field="spool_dir",
            ) from None
        self._open_segment()

    def _segment_name(self) -> str:
        self._counter += 1
        return f"{os.getpid()}-{self._counter:06d}"

    def _open_segment(self) -> None:
        self._path = self.directory / f"{self._segment_name()}.open"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0

    def append(self, record: dict[str, Any]) -> None:
        """Write one record (one line, one syscall)."""
        line = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        full = None
        with self._lock:
            os.write(self._fd, line)
            self._size += len(line)
            self.appended += 1
            if self._size >= self.max_segment_bytes:
                full = self._switch_locked()
        if full is not None:
            _finish(*full)

    def seal(self) -> None:
        """Close the open segment (if it holds anything) so the shipper can take it.

        Only the switch to a fresh segment happens under the lock; the fsync and the
        rename of the full one happen outside it, so ``append`` (on the event loop)
        never waits for the disk.
        """
        with self._lock:
            full = self._switch_locked() if self._size else None
        if full is not None:
            _finish(*full)

    def _switch_locked(self) -> tuple[int, Path]:
        full = (self._fd, self._path)
        self._open_segment()
        return full

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
                if self._size:
                    os.replace(self._path, self._path.with_suffix(".sealed"))
                else:
                    self._path.unlink(missing_ok=True)


def _finish(fd: int, path: Path) -> None:
    """Make a full segment durable and hand it to the shipper."""
    os.fsync(fd)
    os.close(fd)
    os.replace(path, path.with_suffix(".sealed"))


def pending_segments(directory: Path, *, own_pid: int | None = None) -> list[Path]:
    """Segments ready to ship: every sealed one, plus open ones of processes now gone."""
    out: list[Path] = []
    for path in sorted(Path(directory).glob("*-*.*")):
        if path.suffix == ".sealed":
            out.append(path)
        elif path.suffix == ".open":
            pid = int(path.name.split("-")[0]) if path.name.split("-")[0].isdigit() else -1
            if pid != own_pid and not _alive(pid):
                out.append(path)
    return out


def oldest_pending_age(directory: Path, *, own_pid: int | None = None) -> float:
    """Seconds since the oldest segment waiting to ship was last written (0 if none)."""
    now = time.time()
    ages = [0.0]
    for path in pending_segments(directory, own_pid=own_pid):
        try:
            ages.append(now - path.stat().st_mtime)
        except FileNotFoundError:  # shipped meanwhile
            continue
    return max(ages)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_segment(path: Path) -> Iterator[dict[str, Any]]:
    """Records in a segment; a torn last line (crash mid-write) is skipped."""
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


class SegmentLock:
    """An exclusive, non-blocking claim on a segment so two shippers never take one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def acquire(self, wait_s: float = 0.0) -> bool:
        """Claim the segment, waiting up to ``wait_s`` for another shipper to let go.
        False when it is gone (shipped and deleted meanwhile) or still held."""
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    self._fd = -1
                    return False
                time.sleep(0.005)
        if not self.path.exists():  # the holder shipped it and deleted it
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
