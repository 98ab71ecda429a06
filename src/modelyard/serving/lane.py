"""A direct lane for the prediction routes, in front of the general router.

Starlette's router tries every route's pattern in turn and wraps each call in several
layers; on the data plane that is a sizeable share of a request's CPU. This ASGI
middleware recognises the three prediction paths by their shape and calls the very
same guarded handler the router would (same permission check, rate limits, error
mapping and OpenAPI entry), so skipping the router changes nothing but the cost.
Every other request goes to the router unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Awaitable[Response]]

#: ``(prefix, suffix)`` of each direct path (the endpoint name lies between) → route name.
DIRECT_PATHS = {
    ("/v1/endpoints/", "/predict"): "post /v1/endpoints/{name}/predict",
    ("/v1/endpoints/", "/invocations"): "post /v1/endpoints/{name}/invocations",
    ("/v2/models/", "/infer"): "post /v2/models/{name}/infer",
}


def endpoint_name(path: str, prefix: str, suffix: str) -> str | None:
    """The ``{name}`` of ``prefix{name}suffix``, or ``None`` if ``path`` has another shape."""
    if not (path.startswith(prefix) and path.endswith(suffix)):
        return None
    name = path[len(prefix) : len(path) - len(suffix)]
    return name if name and "/" not in name else None


class PredictLane:
    """Dispatch ``POST`` prediction requests straight to their guarded handlers."""

    def __init__(self, app: ASGIApp, *, handlers: dict[str, Handler]) -> None:
        self.app = app
        self.routes = [
            (prefix, suffix, handlers[key])
            for (prefix, suffix), key in DIRECT_PATHS.items()
            if key in handlers
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            for prefix, suffix, handler in self.routes:
                name = endpoint_name(path, prefix, suffix)
                if name is not None:
                    scope["path_params"] = {"name": name}
                    response = await handler(Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
