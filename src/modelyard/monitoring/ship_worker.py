"""The prediction shipper as a child process of the server.

Shipping records to the store (parse, convert, insert) costs about as much CPU as the
rest of a cheap prediction, and in a thread of the server it also fights the event
loop for the GIL, which showed up as a quarter of the throughput and most of the tail
latency. So a server starts one shipper process: it ships sealed spool segments every
``ship_interval_s`` at idle CPU priority (``SCHED_IDLE``, after ``nice`` +10 where the
OS has no idle class), and exits when its parent is gone. At idle priority shipping
only uses CPU that serving leaves over: even ``nice`` +10 took about a tenth of a
saturated core, and a quarter of the throughput with the preemptions that came with
it. The cost of that is lag on a server that stays saturated, so the lag is bounded:
when the oldest waiting segment is older than ``ship_max_lag_s``, the server starts a
catch-up child at ``nice`` +10 that ships the backlog once and exits. The server only
appends and seals; segments are claimed with locks, so the two children, other
workers and a final in-process ship at shutdown never take one twice.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from modelyard.children import lower_priority, read_settings, spawn, terminate
from modelyard.monitoring.shipper import ship_pending
from modelyard.monitoring.spool import oldest_pending_age
from modelyard.settings import Settings
from modelyard.store.store import open_store

log = logging.getLogger("modelyard.monitoring")
CATCH_UP = "--catch-up"
BACKLOG_CHECK_S = 1.0  # how often the server looks at the age of the backlog


def run(settings: Settings, parent_pid: int, stop: threading.Event, *, once: bool = False) -> None:
    """Ship every ``ship_interval_s`` until ``stop`` is set or the parent exits
    (``once``: one pass, for the catch-up child)."""
    store = open_store(settings, migrate=False)
    try:
        while not stop.is_set() and os.getppid() == parent_pid:
            try:
                ship_pending(store, settings.resolved_spool_dir)
            except Exception:  # noqa: BLE001 - a store outage only grows the spool
                log.exception("shipping prediction records failed; will retry")
            if once:
                return
            stop.wait(settings.ship_interval_s)
    finally:
        store.close()


def main() -> None:
    """Entry point of the child: settings arrive as JSON on stdin (never in argv).

    ``PARENT_PID [--catch-up]``: with ``--catch-up``, ship what is pending once, at
    ``nice`` +10, and exit."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s shipper: %(message)s")
    settings = read_settings()
    args = sys.argv[1:]
    catch_up = CATCH_UP in args
    positional = [a for a in args if a != CATCH_UP]
    parent = int(positional[0]) if positional else os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    lower_priority(idle=settings.ship_idle_priority and not catch_up)
    run(settings, parent, stop, once=catch_up)


class ShipperProcess:
    """Starts, watches and stops the shipper children of one server process.

    ``ensure_running`` runs on a worker thread of the server while ``stop`` runs at
    shutdown: a lock orders them, and once stopped no child is started again (a tick
    that was already under way when the server began shutting down).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.catch_up: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.catch_ups = 0
        self._lock = threading.Lock()
        self._stopped = False
        self._checked_at = 0.0
        self._caught_up_at = float("-inf")

    def ensure_running(self) -> None:
        """Start the child, or start it again if it exited (logged); start a catch-up
        child when the backlog has waited longer than ``ship_max_lag_s``."""
        with self._lock:
            if self._stopped:
                return
            if self.process is not None:
                code = self.process.poll()
                if code is None:
                    self._check_backlog_locked()
                    return
                self.restarts += 1
                log.warning("prediction shipper exited with %s; starting it again", code)
            self.process = self._spawn()

    def check_backlog(self) -> None:
        """Start a catch-up child if the oldest waiting segment is too old."""
        with self._lock:
            if not self._stopped:
                self._checked_at = 0.0
                self._check_backlog_locked()

    def _check_backlog_locked(self) -> None:
        """At most one catch-up child per ``ship_max_lag_s``: during a store outage the
        backlog ages too, and a child started every check would only fail again."""
        now = time.monotonic()
        if now - self._checked_at < BACKLOG_CHECK_S:
            return
        self._checked_at = now
        if not self.settings.ship_idle_priority:  # the shipper already runs at nice +10
            return
        if self.catch_up is not None and self.catch_up.poll() is None:
            return
        if now - self._caught_up_at < self.settings.ship_max_lag_s:
            return
        age = oldest_pending_age(self.settings.resolved_spool_dir, own_pid=os.getpid())
        if age > self.settings.ship_max_lag_s:
            log.warning(
                "prediction records have waited %.0f s to ship (limit %.0f s): "
                "shipping the backlog at low instead of idle priority",
                age,
                self.settings.ship_max_lag_s,
            )
            self.catch_ups += 1
            self._caught_up_at = now
            self.catch_up = self._spawn(CATCH_UP)

    def _spawn(self, *flags: str) -> subprocess.Popen[bytes]:
        return spawn("modelyard.monitoring.ship_worker", [str(os.getpid()), *flags], self.settings)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the children to finish their current batch and exit; kill one that hangs."""
        with self._lock:
            self._stopped = True
            children = [p for p in (self.process, self.catch_up) if p is not None]
            self.process = self.catch_up = None
        for process in children:
            terminate(process, timeout)


if __name__ == "__main__":
    main()
