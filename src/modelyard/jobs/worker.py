"""One job in a child process: ``python -m modelyard.jobs.worker --job ID --owner OWNER``.

The runner claimed the job for ``OWNER`` before starting this process; settings arrive
as JSON on stdin (never in argv). The child lowers its priority (nice +10), runs the
job and records the outcome itself, on the condition that the job is still running
under ``OWNER`` (a job the runner gave up on is not overwritten). An error raised by
the job's code fails the job at once. The child exits when its parent is gone, so an
orphan never runs on while another worker retries its job.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from modelyard.children import lower_priority, read_settings
from modelyard.domain.jobs import JobStatus
from modelyard.errors import ModelyardError
from modelyard.jobs.kinds import execute
from modelyard.jobs.service import JobService
from modelyard.settings import Settings
from modelyard.store.store import Store, open_store

log = logging.getLogger("modelyard.jobs")
ORPHANED_EXIT = 3


def run_claimed(store: Store, settings: Settings, job_id: str, owner: str) -> JobStatus | None:
    """Run ``owner``'s claimed job and record its outcome; None if it is not ``owner``'s."""
    service = JobService(store)
    job = service.get(job_id)
    if job.status != JobStatus.RUNNING or job.lease_owner != owner:
        log.warning("job %s is %s under %s; not running it", job_id, job.status, job.lease_owner)
        return None
    status, result, error = JobStatus.SUCCEEDED, None, None
    try:
        result = execute(store, settings, job)
    except ModelyardError as exc:
        status, error = service.policy.after_error(), exc.message
        field = getattr(exc, "field", None)
        if field:
            error = f"{error} (field: {field})"
    except Exception as exc:  # noqa: BLE001 - the job's code failed: record it, do not retry
        log.exception("job %s (%s) raised", job_id, job.kind)
        status, error = service.policy.after_error(), f"{type(exc).__name__}: {exc}"
    if not service.finish(job_id, owner, status, result=result, error=error):
        log.warning("job %s was taken from this worker; its outcome is not recorded", job_id)
        return None
    return status


def _watch_parent(parent: int) -> None:
    """Exit when the parent (the runner) is gone: its lease will expire and the job
    is retried elsewhere, so this process must not finish it as well."""
    while True:
        if os.getppid() != parent:
            os._exit(ORPHANED_EXIT)
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelyard.jobs.worker")
    parser.add_argument("--job", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s job worker: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the runner, which stops us
    lower_priority()
    settings = read_settings()
    parent = args.parent if args.parent is not None else os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    store = open_store(settings, migrate=False)
    try:
        run_claimed(store, settings, args.job, args.owner)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
