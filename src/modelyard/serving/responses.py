"""JSON responses and the one error envelope used everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from modelyard import errors


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Starlette's headers (the given ones, then length and type) in one go, for the
        usual case: a JSON body with a status that has one, neither header given."""
        raw = (
            [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
            if headers
            else []
        )
        status = self.status_code
        if (
            self.media_type != _JSON
            or status < 200
            or status in (204, 304)
            or any(name in _BODY_HEADERS for name, _ in raw)
        ):
            super().init_headers(headers)
            return
        raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
        raw.append((b"content-type", b"application/json"))
        self.raw_headers = raw


_JSON = "application/json"
_BODY_HEADERS = (b"content-length", b"content-type")


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
