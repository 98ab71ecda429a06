"""The job runner: claims queued jobs and runs each in a child process.

The runner itself does no job work. Every ``jobs_poll_interval_s`` it

1. collects children that exited: a child records its own outcome, so a job still
   ``running`` under this runner after its child exited was *lost* (killed, crashed)
   and goes back to the queue, or fails after its last attempt (``RetryPolicy``);
2. renews the lease of each running job (every third of ``jobs_lease_s``) and stops
   the child of a job whose cancellation was requested, or whose lease another runner
   reaped;
3. reaps jobs whose lease expired (their runner died: another replica, or this host
   before a restart);
4. claims queued jobs up to ``jobs_concurrency`` and starts a child for each:
   ``python -m modelyard.jobs.worker`` at nice +10, so training never runs on the
   server's event loop nor competes with serving for the CPU.

The server runs one runner in a thread (:func:`start_runner`); ``modelyard jobs work``
runs one in the foreground. :meth:`JobRunner.stop` terminates running children and
puts their jobs back in the queue without using up an attempt: nothing acknowledged
is lost, and a job is run at least once (work a stopped child had already recorded,
such as a registered model version, is done again by the next attempt).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field

from modelyard.children import spawn, terminate
from modelyard.domain.jobs import JobStatus, RetryPolicy
from modelyard.jobs.service import JobService
from modelyard.settings import Settings
from modelyard.store.store import Store

log = logging.getLogger("modelyard.jobs")
#: Seconds a child has to exit after SIGTERM before it is killed.
TERMINATE_GRACE_S = 5.0


def exit_description(code: int) -> str:
    """``exit code 3`` or ``signal SIGKILL`` for a child's return code."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    job_id: str
    kind: str
    process: subprocess.Popen[bytes]
    renewed_at: float = field(default_factory=time.monotonic)
    stopping_at: float | None = None
    stop_reason: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


class JobRunner:
    """Claims, watches and stops the job children of one process (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.service = JobService(store, policy)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.concurrency = settings.jobs_concurrency
        self.lease_s = settings.jobs_lease_s
        self.children: dict[str, Child] = {}
        self.finished: dict[str, str] = {}  # job id → status, for ``jobs work`` reports
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run :meth:`tick` every ``jobs_poll_interval_s`` in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="modelyard-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a store hiccup must not stop the runner
                log.exception("job runner tick failed; will retry")
            self._stop.wait(self._interval())

    def _interval(self) -> float:
        """The poll interval, shortened while jobs run so leases are renewed in time."""
        poll = self.settings.jobs_poll_interval_s
        return min(poll, self.lease_s / 3) if self.children else poll

    def stop(self, timeout_s: float = TERMINATE_GRACE_S) -> None:
        """Stop claiming, terminate running children and re-queue their jobs."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(timeout_s, self.settings.jobs_poll_interval_s) + 30)
        with self._lock:
            self._stopped = True
            children = list(self.children.values())
            self.children.clear()
        for child in children:
            terminate(child.process, timeout_s)
            try:
                if child.stop_reason == "cancel":
                    self.service.finish(
                        child.job_id,
                        self.owner,
                        JobStatus.CANCELLED,
                        error="cancelled while running",
                    )
                elif self.service.release(child.job_id, self.owner):
                    log.info("job %s re-queued: the runner is stopping", child.job_id)
            except Exception:  # noqa: BLE001 - its lease expires and it is reaped then
                log.exception(
                    "could not re-queue job %s (reaped once its lease expires)", child.job_id
                )

    def drain(self, *, timeout_s: float | None = None) -> dict[str, str]:
        """Run until nothing is queued and no child of this runner is running (``jobs
        work --once``); returns the status each job this runner ran ended in."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self.tick()
            if not self.children and not self._queued():
                return dict(self.finished)
            if deadline is not None and time.monotonic() >= deadline:
                return dict(self.finished)
            time.sleep(self._interval())

    def _queued(self) -> bool:
        return bool(self.service.list(status=JobStatus.QUEUED.value, limit=1))

    # ------------------------------------------------------------ one pass

    def tick(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._collect()
            self._watch()
            self.service.reap()
            self._claim()

    def _collect(self) -> None:
        """Children that exited: record a cancellation or a lost worker."""
        for job_id, child in list(self.children.items()):
            code = child.process.poll()
            if code is None:
                continue
            del self.children[job_id]
            if child.stop_reason == "cancel":
                if self.service.finish(
                    job_id, self.owner, JobStatus.CANCELLED, error="cancelled while running"
                ):
                    log.info("job %s cancelled while running", job_id)
            else:
                self.service.lost(
                    job_id, self.owner, f"worker {child.pid} ended with {exit_description(code)}"
                )
            job = self.service.get(job_id)  # the child may have recorded the outcome itself
            if job.terminal:
                self.finished[job_id] = job.status

    def _watch(self) -> None:
        """Renew leases; stop the children of cancelled or reaped jobs."""
        if not self.children:
            return
        jobs = self.service.leases(list(self.children))
        now = time.monotonic()
        for job_id, child in self.children.items():
            if child.stopping_at is not None:
                if now - child.stopping_at > TERMINATE_GRACE_S:
                    child.process.kill()
                continue
            job = jobs.get(job_id)
            if job is None or job.status != JobStatus.RUNNING or job.lease_owner != self.owner:
                if child.process.poll() is None and (job is None or not job.terminal):
                    self._stop_child(child, "lease lost")
                continue
            if job.cancel_requested:
                self._stop_child(child, "cancel")
                continue
            if now - child.renewed_at >= self.lease_s / 3:
                if self.service.renew(job_id, self.owner, self.lease_s):
                    child.renewed_at = now
                else:
                    self._stop_child(child, "lease lost")

    def _stop_child(self, child: Child, reason: str) -> None:
        log.info("stopping job %s (worker %s): %s", child.job_id, child.pid, reason)
        child.stop_reason = reason
        child.stopping_at = time.monotonic()
        child.process.terminate()

    def _claim(self) -> None:
        while len(self.children) < self.concurrency:
            job = self.service.claim_next(self.owner, self.lease_s)
            if job is None:
                return
            try:
                process = self._spawn(job.id)
            except OSError as exc:
                log.error("cannot start a worker for job %s: %s", job.id, exc)
                self.service.lost(job.id, self.owner, f"worker could not start: {exc}")
                return
            self.children[job.id] = Child(job.id, job.kind, process)
            log.info("job %s (%s) started in worker %s", job.id, job.kind, process.pid)

    def _spawn(self, job_id: str) -> subprocess.Popen[bytes]:
        """``python -m modelyard.jobs.worker`` with the settings as JSON on stdin."""
        args = ["--job", job_id, "--owner", self.owner, "--parent", str(os.getpid())]
        return spawn("modelyard.jobs.worker", args, self.settings, quiet=True)


def runs_in_children(settings: Settings) -> bool:
    """A child process cannot open an in-memory SQLite database."""
    return ":memory:" not in settings.resolved_database_url


def start_runner(store: Store, settings: Settings) -> JobRunner | None:
    """The server's runner, started; None when jobs are disabled or cannot run here."""
    if not settings.jobs_enabled:
        return None
    if not runs_in_children(settings):
        log.warning("jobs are not run: an in-memory database cannot be shared with workers")
        return None
    runner = JobRunner(store, settings)
    runner.start()
    return runner
