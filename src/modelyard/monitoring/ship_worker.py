"""The prediction shipper as a child process of the server.

Shipping records to the store (parse, convert, insert) costs about as much CPU as the
rest of a cheap prediction, and in a thread of the server it also fights the event
loop for the GIL, which showed up as a quarter of the throughput and most of the tail
latency. So a server starts one shipper process: it ships sealed spool segments every
``ship_interval_s`` at a lower CPU priority (``nice`` +10: on a saturated core the
server keeps the CPU and the shipper still gets about a tenth of it, several times
what shipping needs), and exits when its parent is gone. The server only appends and
seals; segments are claimed with locks, so workers and a final in-process ship at
shutdown never take one twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from types import FrameType

from modelyard.monitoring.shipper import ship_pending
from modelyard.settings import Settings
from modelyard.store.store import open_store

log = logging.getLogger("modelyard.monitoring")
NICENESS = 10


def run(settings: Settings, parent_pid: int, stop: threading.Event) -> None:
    """Ship every ``ship_interval_s`` until ``stop`` is set or the parent exits."""
    store = open_store(settings, migrate=False)
    try:
        while not stop.is_set() and os.getppid() == parent_pid:
            try:
                ship_pending(store, settings.resolved_spool_dir)
            except Exception:  # noqa: BLE001 - a store outage only grows the spool
                log.exception("shipping prediction records failed; will retry")
            stop.wait(settings.ship_interval_s)
    finally:
        store.close()


def main() -> None:
    """Entry point of the child: settings arrive as JSON on stdin (never in argv)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s shipper: %(message)s")
    settings = Settings.model_validate_json(sys.stdin.buffer.read())
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops us
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    run(settings, parent, stop)


class ShipperProcess:
    """Starts, watches and stops the shipper child of one server process.

    ``ensure_running`` runs on a worker thread of the server while ``stop`` runs at
    shutdown: a lock orders them, and once stopped no child is started again (a tick
    that was already under way when the server began shutting down).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._lock = threading.Lock()
        self._stopped = False

    def ensure_running(self) -> None:
        """Start the child, or start it again if it exited (logged)."""
        with self._lock:
            if self._stopped:
                return
            if self.process is not None:
                code = self.process.poll()
                if code is None:
                    return
                self.restarts += 1
                log.warning("prediction shipper exited with %s; starting it again", code)
            process = subprocess.Popen(
                [sys.executable, "-m", "modelyard.monitoring.ship_worker", str(os.getpid())],
                stdin=subprocess.PIPE,
            )
            assert process.stdin is not None
            process.stdin.write(self.settings.model_dump_json().encode())
            process.stdin.close()
            self.process = process

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to finish its current batch and exit; kill it if it hangs."""
        with self._lock:
            self._stopped = True
            process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()


if __name__ == "__main__":
    main()
