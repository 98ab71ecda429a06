"""``/v1/webhooks``: subscriptions (create, list, delete, test-send) and their deliveries."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.convert import plain
from modelyard.api.idempotency import ShownOnceResponse
from modelyard.api.operations import Operation, parse_body
from modelyard.api.schemas import WebhookCreate
from modelyard.domain.refs import check_name
from modelyard.domain.security import Permission
from modelyard.monitoring.webhooks import WebhookService
from modelyard.serving.responses import ORJSONResponse


def _service(request: Request) -> WebhookService:
    return WebhookService(request.state.store, request.state.outbound_policy)


async def create(request: Request) -> Response:
    """Subscribe a URL; the signing ``secret`` is in this response only.

    With an ``Idempotency-Key``, a replay returns the stored response with the secret
    redacted (``"secret": null``, ``"secret_redacted": true`` and a ``message``); only
    that redacted form is stored in the idempotency table.
    """
    body = await parse_body(request, WebhookCreate)
    service = _service(request)
    hook, secret = await run_in_threadpool(
        lambda: service.create(
            name=body.name,
            url=body.url,
            event_types=body.event_types,
            actor=request.state.principal.actor,
            secret=body.secret,
        )
    )
    shown = plain(hook)
    redacted = {
        **shown,
        "secret": None,
        "secret_redacted": True,
        "message": (
            "this webhook was created by an earlier request with the same Idempotency-Key; "
            "its signing secret is shown only once. If it was lost, delete the webhook "
            f"(DELETE /v1/webhooks/{hook.name}) and create it again"
        ),
    }
    return ShownOnceResponse({**shown, "secret": secret}, replay=redacted, status_code=201)


async def list_hooks(request: Request) -> Response:
    hooks = await run_in_threadpool(_service(request).all)
    return ORJSONResponse({"webhooks": [plain(h) for h in hooks]})


async def delete(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="webhook")
    service = _service(request)
    await run_in_threadpool(lambda: service.delete(name, actor=request.state.principal.actor))
    return ORJSONResponse({"deleted": name})


async def test_send(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="webhook")
    message_id = await run_in_threadpool(_service(request).send_test, name)
    return ORJSONResponse({"queued": message_id}, status_code=202)


async def deliveries(request: Request) -> Response:
    status = request.query_params.get("status")
    items = await run_in_threadpool(_service(request).deliveries, status)
    return ORJSONResponse({"deliveries": items})


OPERATIONS = [
    Operation(
        "POST",
        "/v1/webhooks",
        create,
        Permission.ADMIN,
        "Subscribe a URL to events (the signing secret is shown once)",
        "webhooks",
        request_model=WebhookCreate,
        idempotent=True,
        status_codes=(201,),
    ),
    Operation(
        "GET", "/v1/webhooks", list_hooks, Permission.ADMIN, "List subscriptions", "webhooks"
    ),
    Operation(
        "DELETE",
        "/v1/webhooks/{name}",
        delete,
        Permission.ADMIN,
        "Delete a subscription and its pending deliveries",
        "webhooks",
    ),
    Operation(
        "POST",
        "/v1/webhooks/{name}/test",
        test_send,
        Permission.ADMIN,
        "Queue a signed test delivery",
        "webhooks",
        status_codes=(202,),
    ),
    Operation(
        "GET",
        "/v1/webhooks/deliveries",
        deliveries,
        Permission.ADMIN,
        "Delivery outbox (?status=pending|delivered|failed)",
        "webhooks",
    ),
]
