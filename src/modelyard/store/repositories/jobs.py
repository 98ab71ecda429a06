"""Job rows: add, read, and the conditional updates that move a job between states.

Every state change is one ``UPDATE … WHERE id = :id AND status = :expected [AND
lease_owner = :owner]`` whose row count says whether this caller made it. That is
atomic on SQLite (writes take the database lock at ``BEGIN IMMEDIATE``) and on
PostgreSQL (a concurrent update of the same row waits, then re-checks the ``WHERE``
against the committed row), so two workers never both claim a job, and a worker that
lost its lease cannot overwrite what another recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from modelyard.domain.jobs import Job, JobStatus
from modelyard.errors import NotFoundError
from modelyard.store.orm import JobRow, utcnow


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def to_entity(row: JobRow) -> Job:
    created = _aware(row.created_at)
    assert created is not None
    return Job(
        id=row.id,
        kind=row.kind,
        status=row.status,
        params=dict(row.params or {}),
        attempts=row.attempts,
        created_by=row.created_by,
        created_at=created,
        started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at),
        result=row.result,
        error=row.error,
        cancel_requested=bool(row.cancel_requested),
        lease_owner=row.lease_owner,
        lease_expires_at=_aware(row.lease_expires_at),
    )


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: JobRow) -> JobRow:
        self.session.add(row)
        self.session.flush()
        return row

    def row(self, job_id: str) -> JobRow:
        row = self.session.get(JobRow, job_id, populate_existing=True)
        if row is None:
            raise NotFoundError(f"job {job_id!r} not found")
        return row

    def get(self, job_id: str) -> Job:
        return to_entity(self.row(job_id))

    def find(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 50
    ) -> list[Job]:
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
        if status is not None:
            query = query.where(JobRow.status == status)
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        return [to_entity(r) for r in self.session.scalars(query)]

    def queued_ids(self, limit: int) -> list[str]:
        """The oldest queued jobs first."""
        query = (
            select(JobRow.id)
            .where(JobRow.status == JobStatus.QUEUED.value)
            .order_by(JobRow.created_at, JobRow.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def expired(self, now: datetime) -> list[Job]:
        """Running jobs whose lease ran out before ``now`` (their worker is gone)."""
        query = select(JobRow).where(
            JobRow.status == JobStatus.RUNNING.value, JobRow.lease_expires_at < now
        )
        return [to_entity(r) for r in self.session.scalars(query)]

    def leases(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The given jobs, by id (missing ids are absent)."""
        if not job_ids:
            return {}
        query = select(JobRow).where(JobRow.id.in_(list(job_ids)))
        return {r.id: to_entity(r) for r in self.session.scalars(query)}

    # ------------------------------------------------------------- state changes

    def _update(self, job_id: str, conditions: list[ColumnElement[bool]], **values: Any) -> bool:
        result = self.session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, *conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    def claim(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Queued → running for ``owner`` with a fresh lease; False if someone else won."""
        now = utcnow()
        return self._update(
            job_id,
            [JobRow.status == JobStatus.QUEUED.value],
            status=JobStatus.RUNNING.value,
            attempts=JobRow.attempts + 1,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
            started_at=now,
        )

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend ``owner``'s lease; False if the job is no longer running under it."""
        return self._update(
            job_id,
            [JobRow.status == JobStatus.RUNNING.value, JobRow.lease_owner == owner],
            lease_expires_at=utcnow() + timedelta(seconds=lease_s),
        )

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        owner: str | None,
        expected: JobStatus = JobStatus.RUNNING,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        expired_before: datetime | None = None,
    ) -> bool:
        """``expected`` → a terminal ``status`` (or back to queued); the lease is cleared.

        ``owner`` (when given) must still hold the lease; ``expired_before`` requires
        the lease to have run out before that time (reaping another worker's job).
        """
        conditions = [JobRow.status == expected.value]
        if owner is not None:
            conditions.append(JobRow.lease_owner == owner)
        if expired_before is not None:
            conditions.append(JobRow.lease_expires_at < expired_before)
        values: dict[str, Any] = {
            "status": status.value,
            "lease_owner": None,
            "lease_expires_at": None,
            "error": error,
        }
        if status is JobStatus.QUEUED:
            values["started_at"] = None
        else:
            values["finished_at"] = utcnow()
            values["result"] = result
        return self._update(job_id, conditions, **values)

    def release(self, job_id: str, owner: str) -> bool:
        """Running → queued without using up an attempt (the worker was stopped on
        purpose, e.g. at server shutdown)."""
        return self._update(
            job_id,
            [JobRow.status == JobStatus.RUNNING.value, JobRow.lease_owner == owner],
            status=JobStatus.QUEUED.value,
            attempts=JobRow.attempts - 1,
            lease_owner=None,
            lease_expires_at=None,
            started_at=None,
        )

    def request_cancel(self, job_id: str) -> bool:
        """Flag a running job for its runner to stop."""
        return self._update(
            job_id, [JobRow.status == JobStatus.RUNNING.value], cancel_requested=True
        )
