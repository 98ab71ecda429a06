"""HTTP hygiene as one pure ASGI middleware: request ids, Host allowlist, JSON-only
state changes, and security headers on every response.

State changes must say ``Content-Type: application/json``. On the Open Inference
Protocol routes (``/v2/``) a body without a Content-Type is taken as JSON too (its
clients, e.g. ``tritonclient.http``, send none); another type is refused there as well,
with OIP's ``{"error": "<message>"}`` body."""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelyard.serving.request_ids import request_ids
from modelyard.serving.responses import is_oip_path

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
]


def header_value(scope: Scope, name: bytes) -> str | None:
    """The first ``name`` header (lower-case, as ASGI gives names), like Starlette's
    ``request.headers.get`` without building a ``Headers``."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def host_name(host_header: str) -> str:
    """``example.com:8000`` → ``example.com``; ``[::1]:80`` → ``[::1]``."""
    if host_header.startswith("["):
        return host_header.split("]")[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class HygieneMiddleware:
    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str] | None) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = header_value(scope, b"x-request-id")
        if supplied and _REQUEST_ID.fullmatch(supplied):
            request_id = supplied
        else:
            request_id = request_ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [*SECURITY_HEADERS, (b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                message["headers"] = headers + extra
            await send(message)

        host = host_name((header_value(scope, b"host") or "").lower())
        if self.allowed is not None and "*" not in self.allowed and host not in self.allowed:
            await _reject(
                scope,
                send_with_headers,
                400,
                "host_not_allowed",
                f"Host {host!r} is not allowed",
                request_id,
            )
            return
        if scope["method"] in _BODY_METHODS:
            ctype = (header_value(scope, b"content-type") or "").split(";")[0].strip().lower()
            if ctype != "application/json" and (ctype or not is_oip_path(scope["path"])):
                await _reject(
                    scope,
                    send_with_headers,
                    415,
                    "unsupported_media_type",
                    f"Content-Type must be application/json, got {ctype or 'none'!r}",
                    request_id,
                )
                return
        await self.app(scope, receive, send_with_headers)


async def _reject(
    scope: Scope, send: Send, status: int, code: str, message: str, request_id: str
) -> None:
    error: object = {"code": code, "message": message, "request_id": request_id}
    if is_oip_path(scope["path"]):
        error = message  # the Open Inference Protocol's error body
    body = orjson.dumps({"error": error})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
