"""Feedback, monitoring summaries, cost and the right to be forgotten."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.operations import Operation
from modelyard.domain.refs import check_name
from modelyard.domain.security import Permission
from modelyard.monitoring.drift_service import DriftService, parse_window
from modelyard.monitoring.service import MonitoringService, parse_feedback
from modelyard.serving.payloads import decode_json, read_body
from modelyard.serving.responses import ORJSONResponse


async def _flush(request: Request, *, for_deletion: bool = False) -> None:
    """Ship this process's spooled records so feedback can find fresh predictions."""
    flush = request.state.flush_spool
    if flush is not None:
        await run_in_threadpool(flush, for_deletion)


async def feedback(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    settings = request.state.settings
    body = await read_body(request, settings.max_upload_bytes)
    items = parse_feedback(decode_json(body, settings.max_json_depth))
    await _flush(request)
    service = MonitoringService(request.state.store)
    result = await run_in_threadpool(
        lambda: service.record_feedback(name, items, caller=request.state.principal.actor)
    )
    if result.not_found:
        shown = ", ".join(result.not_found[:20])
        return ORJSONResponse(
            {
                "error": {
                    "code": "not_found",
                    "message": f"no prediction of endpoint {name!r} for request ids: {shown}",
                    "request_id": request.state.request_id,
                    "not_found": result.not_found,
                },
                "accepted": result.accepted,
            },
            status_code=404,
        )
    return ORJSONResponse({"accepted": result.accepted})


def _service(request: Request) -> MonitoringService:
    """The monitoring service with the spec's cost models and the quality settings."""
    return MonitoringService(
        request.state.store,
        cost_models=request.state.monitoring.cost_models,
        min_labels=request.state.settings.quality_min_labels,
    )


async def monitor(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    await _flush(request)
    summary = await run_in_threadpool(_service(request).summary, name)
    return ORJSONResponse(summary)


async def cost(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    raw = request.query_params.get("window", "24h")
    window = parse_window(raw)  # a window too long for a timedelta is refused too
    await _flush(request)
    report = await run_in_threadpool(_service(request).cost, name, window)
    return ORJSONResponse({**report, "window": raw})


async def drift(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    raw = request.query_params.get("window")
    window = parse_window(raw) if raw else None
    await _flush(request)
    service: DriftService = request.state.drift
    summary = await run_in_threadpool(service.summary, name, window)
    return ORJSONResponse(summary)


async def forget(request: Request) -> Response:
    await _flush(request, for_deletion=True)
    service = MonitoringService(request.state.store)
    receipt = await run_in_threadpool(
        lambda: service.forget_subject(
            request.path_params["subject_id"],
            actor=request.state.principal.actor,
            request_id=request.state.request_id,
        )
    )
    return ORJSONResponse(receipt)


OPERATIONS = [
    Operation(
        "POST",
        "/v1/endpoints/{name}/feedback",
        feedback,
        Permission.PREDICT,
        "Send ground truth for predictions (by request id)",
        "monitoring",
        per_endpoint=True,
        status_codes=(200,),
    ),
    Operation(
        "GET",
        "/v1/endpoints/{name}/monitor",
        monitor,
        Permission.READ,
        "Counts, latency, live quality and cost of an endpoint",
        "monitoring",
    ),
    Operation(
        "GET",
        "/v1/endpoints/{name}/cost",
        cost,
        Permission.READ,
        "Serving cost totals by version, caller and hour (?window=24h)",
        "monitoring",
    ),
    Operation(
        "GET",
        "/v1/endpoints/{name}/drift",
        drift,
        Permission.READ,
        "Data and prediction drift of live traffic against the training data (?window=24h)",
        "monitoring",
    ),
    Operation(
        "DELETE",
        "/v1/subjects/{subject_id}",
        forget,
        Permission.ADMIN,
        "Delete a subject's predictions and feedback everywhere",
        "privacy",
    ),
]
