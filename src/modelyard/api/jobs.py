"""``/v1/jobs``: submit (idempotent), list, show and cancel background jobs."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.operations import Operation, parse_body
from modelyard.api.schemas import JobSubmit
from modelyard.domain.jobs import Job
from modelyard.domain.security import Permission
from modelyard.errors import InvalidInputError
from modelyard.jobs.service import MAX_LIST, JobService
from modelyard.serving.responses import ORJSONResponse


def shown(job: Job) -> dict[str, Any]:
    """The job as the API shows it, with links."""
    return {
        **job.to_dict(),
        "links": {"self": f"/v1/jobs/{job.id}", "cancel": f"/v1/jobs/{job.id}/cancel"},
    }


async def submit(request: Request) -> Response:
    """Queue a job (202); its parameters and what they name are checked first, so bad
    input stores nothing. ``GET`` the ``self`` link for its status and result."""
    body = await parse_body(request, JobSubmit)
    service = JobService(request.state.store)
    job = await run_in_threadpool(
        lambda: service.submit(
            body.kind.value,
            body.params,
            actor=request.state.principal.actor,
            request_id=request.state.request_id,
        )
    )
    return ORJSONResponse(shown(job), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def _limit(raw: str | None) -> int:
    if raw is None:
        return 50
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise InvalidInputError(f"limit must be an integer from 1 to {MAX_LIST}", field="limit")
    return int(raw)


async def list_jobs(request: Request) -> Response:
    params = request.query_params
    status, kind, limit = params.get("status"), params.get("kind"), _limit(params.get("limit"))
    service = JobService(request.state.store)
    jobs = await run_in_threadpool(lambda: service.list(status=status, kind=kind, limit=limit))
    return ORJSONResponse({"jobs": [shown(j) for j in jobs]})


async def get_job(request: Request) -> Response:
    job = await run_in_threadpool(JobService(request.state.store).get, request.path_params["id"])
    return ORJSONResponse(shown(job))


async def cancel(request: Request) -> Response:
    """A queued job is cancelled at once (200); a running one is flagged and its worker
    stopped by its runner (202, ``cancel_requested``); a finished one answers 409."""
    service = JobService(request.state.store)
    job = await run_in_threadpool(
        lambda: service.cancel(
            request.path_params["id"],
            actor=request.state.principal.actor,
            request_id=request.state.request_id,
        )
    )
    return ORJSONResponse(shown(job), status_code=200 if job.terminal else 202)


OPERATIONS = [
    Operation(
        "POST",
        "/v1/jobs",
        submit,
        Permission.DEVELOP,
        "Submit a background job: train, compile, batch_predict or drift_report",
        "jobs",
        request_model=JobSubmit,
        idempotent=True,
        status_codes=(202,),
    ),
    Operation(
        "GET",
        "/v1/jobs",
        list_jobs,
        Permission.READ,
        "List jobs, newest first (?status=&kind=&limit=)",
        "jobs",
    ),
    Operation("GET", "/v1/jobs/{id}", get_job, Permission.READ, "Show a job", "jobs"),
    Operation(
        "POST",
        "/v1/jobs/{id}/cancel",
        cancel,
        Permission.DEVELOP,
        "Cancel a job (queued: at once; running: its worker is stopped)",
        "jobs",
        status_codes=(200, 202),
    ),
]
