"""``GET /v1/alerts``: the alert rules, the state of each (rule, endpoint), recent events."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.operations import Operation
from modelyard.domain.alerts import ALERT_STATUSES
from modelyard.domain.refs import check_name
from modelyard.domain.security import Permission
from modelyard.errors import InvalidInputError
from modelyard.monitoring.alerting import AlertingService
from modelyard.serving.responses import ORJSONResponse

MAX_EVENTS = 1000


def _limit(raw: str | None) -> int:
    if raw is None:
        return 50
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_EVENTS:
        raise InvalidInputError(f"limit must be an integer from 1 to {MAX_EVENTS}", field="limit")
    return int(raw)


async def list_alerts(request: Request) -> Response:
    params = request.query_params
    endpoint = params.get("endpoint")
    if endpoint is not None:
        check_name(endpoint, what="endpoint")
    status = params.get("status")
    if status is not None and status not in ALERT_STATUSES:
        raise InvalidInputError(
            f"status must be one of {', '.join(ALERT_STATUSES)}", field="status"
        )
    limit = _limit(params.get("limit"))
    service: AlertingService = request.state.alerting
    overview = await run_in_threadpool(
        lambda: service.overview(endpoint=endpoint, status=status, limit=limit)
    )
    settings = request.state.settings
    evaluation = {
        "enabled": settings.alert_interval_s > 0 and bool(service.rules),
        "interval_s": settings.alert_interval_s,
        "spec_file": str(settings.spec_file) if settings.spec_file is not None else None,
    }
    return ORJSONResponse({"evaluation": evaluation, **overview})


OPERATIONS = [
    Operation(
        "GET",
        "/v1/alerts",
        list_alerts,
        Permission.READ,
        "Alert rules, current states and recent events (?endpoint=&status=&limit=)",
        "monitoring",
    ),
]
