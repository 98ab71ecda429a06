"""JSON responses and the one error envelope used everywhere."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from modelyard import errors


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> ORJSONResponse:
    """``{"error": {"code", "message", "request_id"[, "field"]}}`` with ``status``."""
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if field is not None:
        body["field"] = field
    return ORJSONResponse({"error": body}, status_code=status, headers=headers)


STATUS_BY_ERROR: list[tuple[type[errors.ModelyardError], int]] = [
    (errors.NotFoundError, 404),
    (errors.PayloadTooLargeError, 413),
    (errors.SignatureError, 422),
    (errors.ForbiddenError, 403),
    (errors.InvalidInputError, 422),
    (errors.ConflictError, 409),
    (errors.TrustError, 403),
    (errors.ModelLoadError, 503),
    (errors.IntegrityError, 500),
]


def status_for(exc: errors.ModelyardError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500
