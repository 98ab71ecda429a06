"""Jobs in the store (SQLite and PostgreSQL): atomic claims, leases, retries, cancels."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from helpers import small_frame
from modelyard.data.datasets import DatasetService
from modelyard.domain.jobs import JobStatus, RetryPolicy
from modelyard.errors import ConflictError, InvalidInputError, NotFoundError
from modelyard.jobs.service import JobService
from modelyard.monitoring.webhooks import WebhookService
from modelyard.security.outbound import OutboundPolicy
from modelyard.settings import Settings
from modelyard.store.orm import AuditRow, DeliveryRow, JobRow, utcnow
from modelyard.store.repositories.jobs import JobRepository
from modelyard.store.store import Store, open_store


@pytest.fixture
def service(store: Store) -> JobService:
    x, y = small_frame(n=40)
    DatasetService(store).add_frame(x.assign(y=y), "d")
    return JobService(store)


def _submit(service: JobService) -> str:
    return service.submit("train", {"dataset": "d", "target": "y"}, actor="tester").id


def _count(store: Store, table: type) -> int:
    with store.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def _subscribe(store: Store) -> None:
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",))
    WebhookService(store, policy).create(
        name="ops", url="http://127.0.0.1:9/hook", event_types=["job.failed"], actor="tester"
    )


def _events(store: Store) -> list[str]:
    with store.session() as session:
        return [d.event_type for d in session.scalars(sa.select(DeliveryRow))]


def test_submit_pins_the_dataset_is_audited_and_listed(service: JobService, store: Store) -> None:
    job = service.submit("train", {"dataset": "d", "target": "y"}, actor="tester")
    assert job.status == "queued" and job.attempts == 0
    assert job.params["dataset"] == "d:1"  # pinned to the version it names now
    assert service.get(job.id) == job
    with store.session() as session:
        audit = session.scalars(sa.select(AuditRow).where(AuditRow.action == "job.submit")).one()
    assert audit.target == f"job:{job.id}" and audit.after is not None
    assert audit.after["kind"] == "train"

    second = _submit(service)
    service.claim_next("w", 30)
    assert [j.id for j in service.list()] == [second, job.id]  # newest first
    assert [j.id for j in service.list(status="running")] == [job.id]
    assert [j.id for j in service.list(kind="compile")] == []
    with pytest.raises(InvalidInputError) as exc:
        service.list(status="done")
    assert exc.value.field == "status"
    with pytest.raises(InvalidInputError):
        service.list(limit=0)


BAD_SUBMISSIONS = [
    ("train", {"dataset": "missing", "target": "y"}, "params.dataset"),
    ("train", {"dataset": "d", "target": "nope"}, "params.target"),
    ("train", {"dataset": "d", "target": "y", "model": "svm"}, "params.model"),
    ("compile", {"model": "m:1"}, "params.model"),
    ("drift_report", {"endpoint": "ep"}, "params.endpoint"),
    ("fit", {}, "kind"),
]


def test_bad_submissions_store_nothing(service: JobService, store: Store) -> None:
    audited = _count(store, AuditRow)
    for kind, params, field in BAD_SUBMISSIONS:
        with pytest.raises(InvalidInputError) as exc:
            service.submit(kind, params, actor="tester")
        assert exc.value.field == field, (kind, params)
    assert _count(store, JobRow) == 0
    assert _count(store, AuditRow) == audited


def _race(stores: list[Store], job_id: str) -> list[str]:
    """Claim ``job_id`` from each store at the same moment; the owners that won."""
    barrier = threading.Barrier(len(stores))
    won: list[str] = []

    def claim(store: Store, owner: str) -> None:
        barrier.wait()
        with store.session() as session:
            if JobRepository(session).claim(job_id, owner, 30):
                won.append(owner)

    threads = [threading.Thread(target=claim, args=(s, f"w{i}")) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return won


def test_two_claimers_one_wins(service: JobService, backend_settings: Settings) -> None:
    jobs = [_submit(service) for _ in range(4)]
    stores = [open_store(backend_settings, migrate=False) for _ in range(2)]
    try:
        for job_id in jobs:
            won = _race(stores, job_id)
            assert len(won) == 1, won
            job = service.get(job_id)
            assert job.status == "running" and job.lease_owner == won[0] and job.attempts == 1
    finally:
        for s in stores:
            s.close()
    assert service.claim_next("late", 30) is None  # nothing left to claim


def test_an_expired_lease_requeues_then_fails_after_the_last_attempt(
    service: JobService, store: Store
) -> None:
    _subscribe(store)
    job_id = _submit(service)
    for attempt in (1, 2, 3):
        claimed = service.claim_next(f"worker-{attempt}", lease_s=5)
        assert claimed is not None and claimed.id == job_id and claimed.attempts == attempt
        assert service.reap() == {}  # the lease is still good
        later = utcnow() + timedelta(seconds=6)
        expected = JobStatus.QUEUED if attempt < 3 else JobStatus.FAILED
        assert service.reap(now=later) == {job_id: expected}
        job = service.get(job_id)
        assert job.status == expected.value and job.lease_owner is None
        assert job.error is not None and "lease of worker-" in job.error
    assert service.get(job_id).finished_at is not None
    assert service.claim_next("worker-4", lease_s=5) is None
    assert _events(store) == ["job.failed"]


def test_worker_transitions_need_the_lease(service: JobService, store: Store) -> None:
    """Only the lease holder renews, finishes, releases or reports a lost worker; a lost
    worker is retried, an error of the job's own code is final, a release is free."""
    lost, done, released, strict = (_submit(service) for _ in range(4))

    service.claim_next("w", 30)  # ``lost``
    assert service.lost(lost, "someone-else", "killed") is None
    assert service.lost(lost, "w", "worker ended with signal SIGKILL") is JobStatus.QUEUED
    job = service.get(lost)
    assert (job.status, job.attempts, job.lease_owner) == ("queued", 1, None)
    assert "attempt 1: worker ended with signal SIGKILL" in (job.error or "")

    claimed = service.claim_next("a", 30)  # ``lost`` again: the oldest queued job
    assert claimed is not None and (claimed.id, claimed.attempts) == (lost, 2)
    assert service.finish(lost, "a", JobStatus.FAILED, error="ValueError: bad")
    assert service.get(lost).status == "failed"
    assert not service.finish(lost, "a", JobStatus.SUCCEEDED, result={})  # terminal stays

    service.claim_next("a", 30)  # ``done``
    assert service.renew(done, "a", 30) and not service.renew(done, "b", 30)
    assert not service.finish(done, "b", JobStatus.SUCCEEDED, result={"x": 1})
    assert service.finish(done, "a", JobStatus.SUCCEEDED, result={"x": 1})
    job = service.get(done)
    assert (job.status, job.result, job.lease_owner) == ("succeeded", {"x": 1}, None)
    assert not service.renew(done, "a", 30)

    service.claim_next("a", 30)  # ``released``
    assert not service.release(released, "b")
    assert service.release(released, "a")
    job = service.get(released)
    assert (job.status, job.attempts, job.started_at) == ("queued", 0, None)

    one_try = JobService(store, RetryPolicy(max_attempts=1))
    claimed = one_try.claim_next("a", 30)
    assert claimed is not None and claimed.id == released  # older than ``strict``
    assert one_try.lost(released, "a", "killed") is JobStatus.FAILED
    assert service.get(strict).status == "queued"


def test_cancel_queued_running_and_finished(service: JobService, store: Store) -> None:
    running, queued = _submit(service), _submit(service)
    WebhookService(store, OutboundPolicy(allowlist=("127.0.0.1/32",))).create(
        name="all", url="http://127.0.0.1:9/h", event_types=["job.cancelled"], actor="t"
    )
    claimed = service.claim_next("w", 30)
    assert claimed is not None and claimed.id == running  # the oldest first
    job = service.cancel(queued, actor="tester")
    assert job.status == "cancelled" and job.finished_at is not None
    assert service.claim_next("w", 30) is None
    job = service.cancel(running, actor="tester")
    assert job.status == "running" and job.cancel_requested
    assert service.lost(running, "w", "terminated") is JobStatus.CANCELLED
    with pytest.raises(ConflictError, match="already cancelled"):
        service.cancel(queued, actor="tester")
    with pytest.raises(NotFoundError, match="job 'job_nope' not found"):
        service.cancel("job_nope", actor="tester")
    assert _events(store) == ["job.cancelled", "job.cancelled"]
    with store.session() as session:
        actions = list(
            session.scalars(sa.select(AuditRow.action).where(AuditRow.action == "job.cancel"))
        )
    assert len(actions) == 2
