"""Routes declared with their permission and schemas, so one list drives routing,
authorisation, idempotency and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.api.idempotency import idempotent
from modelyard.domain.security import Permission
from modelyard.errors import InvalidInputError, ModelyardError
from modelyard.serving.guard import guarded
from modelyard.serving.payloads import decode_json, read_body
from modelyard.serving.responses import error_response, is_oip_path, oip_errors, status_for

Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    permission: Permission | None
    summary: str
    tag: str
    request_model: type[BaseModel] | None = None
    response_example: dict[str, Any] | None = None
    idempotent: bool = False
    per_endpoint: bool = False
    status_codes: tuple[int, ...] = field(default=(200,))

    @property
    def oip(self) -> bool:
        """An Open Inference Protocol route: every error of it (auth ones included) is
        OIP's ``{"error": "<message>"}`` rather than modelyard's envelope."""
        return is_oip_path(self.path)

    def route(self) -> Route:
        handler = _mapped_errors(self.handler)
        if self.idempotent:
            handler = idempotent(handler)
        endpoint = guarded(self.permission, handler, per_endpoint=self.per_endpoint)
        if self.oip:
            endpoint = oip_errors(endpoint)
        return Route(
            self.path,
            endpoint,
            methods=[self.method],
            name=f"{self.method.lower()} {self.path}",
        )


def _mapped_errors(handler: Handler) -> Handler:
    """Turn modelyard errors into the JSON error envelope with the right status."""

    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except ModelyardError as exc:
            return error_response(
                status_for(exc),
                exc.code,
                exc.message,
                request.state.request_id,
                field=getattr(exc, "field", None),
            )

    return wrapper


async def parse_body(request: Request, model: type[M]) -> M:
    """The request body validated by ``model``; errors name the offending field."""
    settings = request.state.settings
    body = await read_body(request, settings.max_upload_bytes)
    payload = decode_json(body, settings.max_json_depth)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInputError(f"{where}: {first['msg']}", field=where) from None
