"""``Idempotency-Key`` for state-changing routes: same key and body → the stored
response; same key, different body → 422; a concurrent duplicate → 409.

A response that shows a secret once (a new API key, a webhook signing secret) is a
:class:`ShownOnceResponse`: the idempotency table stores its ``replay`` form, with the
secret redacted, so a replay never returns (and the database never holds) the secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.serving.responses import ORJSONResponse, error_response
from modelyard.store.repositories.idempotency import IdempotencyRepository, Outcome
from modelyard.store.store import Store

Handler = Callable[[Request], Awaitable[Response]]
MAX_KEY_LENGTH = 128


class ShownOnceResponse(ORJSONResponse):
    """A JSON response holding a secret shown once; ``replay`` (the same response with
    the secret redacted) is what an idempotent replay returns and what is stored."""

    def __init__(self, content: Any, *, replay: Any, status_code: int = 200) -> None:
        super().__init__(content, status_code=status_code)
        self.replay_body = self.render(replay)


def idempotent(handler: Handler) -> Handler:
    async def wrapper(request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if key is None:
            return await handler(request)
        request_id = request.state.request_id
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return error_response(
                400,
                "invalid_input",
                "Idempotency-Key must be 1-128 printable characters",
                request_id,
                field="idempotency-key",
            )
        store: Store = request.state.store
        actor = request.state.principal.actor
        body = await request.body()
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
        ).hexdigest()

        def claim() -> Outcome:
            with store.session() as session:
                return IdempotencyRepository(session).claim(key, actor, fingerprint)

        outcome = await run_in_threadpool(claim)
        if outcome.state == "mismatch":
            return error_response(
                422,
                "idempotency_mismatch",
                "Idempotency-Key was already used with a different request body",
                request_id,
                field="idempotency-key",
            )
        if outcome.state == "pending":
            return error_response(
                409,
                "conflict",
                "a request with this Idempotency-Key is in progress",
                request_id,
            )
        if outcome.state == "done":
            assert outcome.status is not None and outcome.body is not None
            return Response(
                outcome.body,
                status_code=outcome.status,
                media_type="application/json",
                headers={"idempotent-replayed": "true"},
            )
        response = await handler(request)

        def finish() -> None:
            with store.session() as session:
                repo = IdempotencyRepository(session)
                if response.status_code >= 500:
                    repo.release(key, actor)
                else:
                    stored = (
                        response.replay_body
                        if isinstance(response, ShownOnceResponse)
                        else bytes(response.body)
                    )
                    repo.complete(key, actor, response.status_code, stored)

        await run_in_threadpool(finish)
        return response

    return wrapper
