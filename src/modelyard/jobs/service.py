"""Submitting, reading and cancelling jobs, and every state change a worker makes.

Each change is one transaction: the conditional update of the job row (see
:mod:`modelyard.store.repositories.jobs`), its audit entry (submit, cancel) and, for a
terminal state, the ``job.succeeded`` / ``job.failed`` / ``job.cancelled`` webhook
deliveries, so an event is never announced for a change that was rolled back, nor lost
for one that was committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from modelyard.domain.jobs import (
    EVENTS,
    Job,
    JobStatus,
    RetryPolicy,
    is_job_id,
    new_job_id,
    parse_kind,
    parse_status,
    validate_params,
)
from modelyard.errors import ConflictError, InvalidInputError, NotFoundError
from modelyard.jobs.kinds import resolve
from modelyard.monitoring.webhooks import enqueue
from modelyard.store.orm import JobRow, utcnow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.jobs import JobRepository
from modelyard.store.store import Store

log = logging.getLogger("modelyard.jobs")

MAX_LIST = 1000
MAX_ERROR_CHARS = 4000


def event_payload(job: Job) -> dict[str, Any]:
    """What a job webhook carries: the job without its lease."""
    data = job.to_dict()
    data.pop("lease_owner")
    data.pop("lease_expires_at")
    return data


class JobService:
    def __init__(self, store: Store, policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.policy = policy or RetryPolicy()

    # ---------------------------------------------------------------- callers

    def submit(
        self,
        kind: str,
        params: Mapping[str, object] | None = None,
        *,
        actor: str,
        request_id: str | None = None,
    ) -> Job:
        """Queue a job after checking its parameters and what they name (nothing is
        stored if they are wrong); audited as ``job.submit``."""
        job_kind = parse_kind(kind)
        clean = resolve(self.store, job_kind, validate_params(job_kind, params or {}))
        with self.store.session() as session:
            row = JobRepository(session).add(
                JobRow(
                    id=new_job_id(),
                    kind=job_kind.value,
                    params=clean,
                    status=JobStatus.QUEUED.value,
                    attempts=0,
                    created_by=actor[:160],
                    created_at=utcnow(),
                    cancel_requested=False,
                )
            )
            AuditRepository(session).append(
                actor=actor,
                action="job.submit",
                target=f"job:{row.id}",
                after={"kind": job_kind.value, "params": clean},
                request_id=request_id,
            )
            return JobRepository(session).get(row.id)

    def get(self, job_id: str) -> Job:
        if not is_job_id(job_id):
            raise NotFoundError(f"job {job_id!r} not found")
        with self.store.session() as session:
            return JobRepository(session).get(job_id)

    def cancel(self, job_id: str, *, actor: str, request_id: str | None = None) -> Job:
        """Cancel a queued job at once; ask the runner of a running one to stop it
        (``cancel_requested``). A finished job cannot be cancelled (ConflictError)."""
        self.get(job_id)  # 404 before anything else
        with self.store.session() as session:
            repo = JobRepository(session)
            before = repo.get(job_id)
            if before.terminal:
                raise ConflictError(f"job {job_id} already {before.status}; nothing to cancel")
            if repo.finish(
                job_id, JobStatus.CANCELLED, owner=None, expected=JobStatus.QUEUED, error=None
            ):
                after = self._announce(session, job_id)
            elif repo.request_cancel(job_id):
                after = repo.get(job_id)
            else:  # it finished between the read and the update
                now = repo.get(job_id)
                raise ConflictError(f"job {job_id} already {now.status}; nothing to cancel")
            AuditRepository(session).append(
                actor=actor,
                action="job.cancel",
                target=f"job:{job_id}",
                before={"status": before.status},
                after={"status": after.status, "cancel_requested": after.cancel_requested},
                request_id=request_id,
            )
            return after

    def wait(self, job_id: str, timeout_s: float, *, poll_s: float = 0.5) -> Job:
        """The job once it is finished, or as it is when ``timeout_s`` has passed."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get(job_id)
            if job.terminal or time.monotonic() >= deadline:
                return job
            time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))

    # ---------------------------------------------------------------- workers

    def claim_next(self, owner: str, lease_s: float) -> Job | None:
        """Claim the oldest queued job for ``owner``; None when there is none to win."""
        with self.store.session() as session:
            candidates = JobRepository(session).queued_ids(limit=10)
        for job_id in candidates:
            with self.store.session() as session:
                repo = JobRepository(session)
                if repo.claim(job_id, owner, lease_s):
                    return repo.get(job_id)
        return None

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        with self.store.session() as session:
            return JobRepository(session).renew(job_id, owner, lease_s)

    def leases(self, job_ids: list[str]) -> dict[str, Job]:
        with self.store.session() as session:
            return JobRepository(session).leases(job_ids)

    def finish(
        self,
        job_id: str,
        owner: str,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the outcome of ``owner``'s running job and announce it; False if the
        job is no longer ``owner``'s (reaped, or already finished)."""
        with self.store.session() as session:
            changed = JobRepository(session).finish(
                job_id, status, owner=owner, result=result, error=_clip(error)
            )
            if changed:
                self._announce(session, job_id)
            return changed

    def lost(self, job_id: str, owner: str, reason: str) -> JobStatus | None:
        """``owner``'s worker for a running job is gone: queue the job again, or fail
        it after its last attempt, or cancel it if that was asked (RetryPolicy)."""
        with self.store.session() as session:
            repo = JobRepository(session)
            job = repo.get(job_id)
            if job.status != JobStatus.RUNNING or job.lease_owner != owner:
                return None
            target = self.policy.after_lost_worker(
                job.attempts, cancel_requested=job.cancel_requested
            )
            message = f"attempt {job.attempts}: {reason}"
            if not repo.finish(job_id, target, owner=owner, error=_clip(message)):
                return None
            self._log_lost(job, target, message)
            if target is not JobStatus.QUEUED:
                self._announce(session, job_id)
            return target

    def reap(self, now: datetime | None = None) -> dict[str, JobStatus]:
        """Jobs whose lease expired (their worker or its runner died): queued again,
        failed after the last attempt, or cancelled if asked. Safe on every replica."""
        now = now or utcnow()
        with self.store.session() as session:
            expired = JobRepository(session).expired(now)
        out: dict[str, JobStatus] = {}
        for job in expired:
            target = self.policy.after_lost_worker(
                job.attempts, cancel_requested=job.cancel_requested
            )
            message = f"attempt {job.attempts}: lease of {job.lease_owner} expired"
            with self.store.session() as session:
                repo = JobRepository(session)
                if not repo.finish(
                    job.id, target, owner=job.lease_owner, error=message, expired_before=now
                ):
                    continue  # renewed or finished meanwhile
                if target is not JobStatus.QUEUED:
                    self._announce(session, job.id)
            self._log_lost(job, target, message)
            out[job.id] = target
        return out

    def release(self, job_id: str, owner: str) -> bool:
        """Put ``owner``'s running job back in the queue without using up an attempt."""
        with self.store.session() as session:
            return JobRepository(session).release(job_id, owner)

    # ---------------------------------------------------------------- helpers

    def _announce(self, session: Session, job_id: str) -> Job:
        """Queue the webhook of the job's terminal state (in the caller's transaction)."""
        job = JobRepository(session).get(job_id)
        enqueue(session, EVENTS[JobStatus(job.status)], event_payload(job))
        return job

    def _log_lost(self, job: Job, target: JobStatus, message: str) -> None:
        level = logging.WARNING if target is JobStatus.QUEUED else logging.ERROR
        log.log(level, "job %s (%s) %s → %s", job.id, job.kind, message, target.value)

    # Last in the class: the method's name would shadow ``list`` in later annotations.
    def list(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Job]:
        """Newest first, optionally one status and one kind."""
        if status is not None:
            status = parse_status(status).value
        if kind is not None:
            kind = parse_kind(kind).value
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInputError(f"limit must be from 1 to {MAX_LIST}", field="limit")
        with self.store.session() as session:
            return JobRepository(session).find(status=status, kind=kind, limit=limit)


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 1] + "…"
