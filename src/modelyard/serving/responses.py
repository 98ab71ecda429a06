"""JSON responses and the error envelopes: modelyard's own everywhere, and the Open
Inference Protocol's ``{"error": "<message>"}`` on the ``/v2`` routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
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


#: Paths under this prefix speak the Open Inference Protocol v2.
OIP_PREFIX = "/v2/"


def is_oip_path(path: str) -> bool:
    """Whether ``path`` is an Open Inference Protocol route (errors in OIP's shape)."""
    return path.startswith(OIP_PREFIX)


_ENVELOPE = b'{"error":{'
_BODY_HEADER_NAMES = frozenset(_BODY_HEADERS)


def oip_error_response(
    status: int, message: str, *, headers: Mapping[str, str] | None = None
) -> ORJSONResponse:
    """OIP v2's error body, ``{"error": "<message>"}``, with ``status``."""
    return ORJSONResponse({"error": message}, status_code=status, headers=headers)


def as_oip_error(response: Response) -> Response:
    """``response`` with modelyard's error envelope rewritten as OIP v2's error.

    The message is kept, and so are the status (but 422, invalid input, becomes OIP's
    400) and every header except the body's length and type (e.g. ``Retry-After``,
    ``WWW-Authenticate``; the request id is the ``X-Request-ID`` header). Any other
    response is returned as it is.
    """
    body = getattr(response, "body", None)
    if response.status_code < 400 or not isinstance(body, bytes) or not body.startswith(_ENVELOPE):
        return response
    message = orjson.loads(body)["error"].get("message", "")
    status = 400 if response.status_code == 422 else response.status_code
    rewritten = oip_error_response(status, str(message))
    kept = [h for h in response.raw_headers if h[0] not in _BODY_HEADER_NAMES]
    rewritten.raw_headers = kept + rewritten.raw_headers
    return rewritten


Handler = Callable[[Request], Awaitable[Response]]


def oip_errors(handler: Handler) -> Handler:
    """Wrap a ``/v2`` route's whole handler (authentication and rate limits included)
    so that its errors have OIP v2's shape (:func:`as_oip_error`)."""

    async def wrapper(request: Request) -> Response:
        return as_oip_error(await handler(request))

    wrapper.__name__ = getattr(handler, "__name__", "handler")
    wrapper.__dict__.update(getattr(handler, "__dict__", {}))  # e.g. guarded()'s permission
    return wrapper


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
