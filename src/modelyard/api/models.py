"""``/v1/models`` and deployments: browse the registry, promote, deploy."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api.convert import plain
from modelyard.api.operations import Operation, parse_body
from modelyard.api.schemas import (
    ApproveRequest,
    DeployRequest,
    EndpointConfigUpdate,
    FallbackRequest,
    PromoteRequest,
    RollbackRequest,
    RolloutRequest,
)
from modelyard.deployments.rollout import RolloutService, canary_config
from modelyard.deployments.service import EndpointService
from modelyard.domain.refs import check_name
from modelyard.domain.security import Permission, Role
from modelyard.errors import InvalidInputError
from modelyard.registry.service import RegistryService
from modelyard.serving.responses import ORJSONResponse, error_response


def _version_number(request: Request) -> int:
    raw = request.path_params["version"]
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInputError(f"version must be a positive integer, got {raw!r}", field="version")
    return int(raw)


def _override_refused(request: Request, override_reason: str | None) -> Response | None:
    """Overriding failed gates is an admin's call; anyone else gets 403."""
    if override_reason is not None and request.state.principal.role is not Role.ADMIN:
        return error_response(
            403,
            "forbidden",
            "only an admin can override failed gates",
            request.state.request_id,
            field="override_reason",
        )
    return None


async def list_models(request: Request) -> Response:
    models = await run_in_threadpool(RegistryService(request.state.store).list_models)
    return ORJSONResponse({"models": models})


async def get_model(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="model")
    versions = await run_in_threadpool(RegistryService(request.state.store).versions, name)
    return ORJSONResponse({"name": name, "versions": [plain(v) for v in versions]})


async def get_version(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="model")
    ref = f"{name}:{_version_number(request)}"
    version = await run_in_threadpool(RegistryService(request.state.store).get, ref)
    return ORJSONResponse(plain(version))


async def promote(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="model")
    ref = f"{name}:{_version_number(request)}"
    body = await parse_body(request, PromoteRequest)
    principal = request.state.principal
    refused = _override_refused(request, body.override_reason)
    if refused is not None:
        return refused
    registry = RegistryService(request.state.store)
    version = await run_in_threadpool(
        lambda: registry.promote(
            ref,
            body.stage,
            reason=body.reason,
            actor=principal.actor,
            override_reason=body.override_reason,
        )
    )
    return ORJSONResponse(plain(version))


async def deploy(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    body = await parse_body(request, DeployRequest)
    service = EndpointService(request.state.store)
    endpoint = await run_in_threadpool(
        lambda: service.deploy(name, body.model, actor=request.state.principal.actor)
    )
    return ORJSONResponse(plain(endpoint))


async def configure(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    body = await parse_body(request, EndpointConfigUpdate)
    service = EndpointService(request.state.store)
    updates = body.model_dump(exclude_unset=True)
    endpoint = await run_in_threadpool(
        lambda: service.configure(name, updates, actor=request.state.principal.actor)
    )
    return ORJSONResponse(plain(endpoint))


async def start_rollout(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    body = await parse_body(request, RolloutRequest)
    principal = request.state.principal
    refused = _override_refused(request, body.override_reason)
    if refused is not None:
        return refused
    service = RolloutService(request.state.store)
    config = canary_config(body.canary, body.steps) if body.strategy == "canary" else None
    endpoint = await run_in_threadpool(
        lambda: service.start(
            name,
            body.model,
            strategy=body.strategy,
            actor=principal.actor,
            force=body.force,
            override_reason=body.override_reason,
            reason=body.reason,
            config=config,
            share=body.share,
            require_approval=body.require_approval,
        )
    )
    return ORJSONResponse(plain(endpoint), status_code=201)


async def approve_rollout(request: Request) -> Response:
    """The caller's key approves; the principal who started the rollout gets 403."""
    name = check_name(request.path_params["name"], what="endpoint")
    body = await parse_body(request, ApproveRequest)
    service = RolloutService(request.state.store)
    await run_in_threadpool(
        lambda: service.approve(name, actor=request.state.principal.actor, reason=body.reason)
    )
    status = await run_in_threadpool(service.status, name)
    return ORJSONResponse(status)


async def set_fallback(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    body = await parse_body(request, FallbackRequest)
    service = RolloutService(request.state.store)
    endpoint = await run_in_threadpool(
        lambda: service.set_fallback(
            name,
            body.model,
            actor=request.state.principal.actor,
            force=body.force,
            reason=body.reason,
        )
    )
    return ORJSONResponse(plain(endpoint))


async def rollback(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    body = await parse_body(request, RollbackRequest)
    service = RolloutService(request.state.store)
    endpoint = await run_in_threadpool(
        lambda: service.rollback(name, actor=request.state.principal.actor, reason=body.reason)
    )
    return ORJSONResponse(plain(endpoint))


async def rollout_status(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    service = RolloutService(request.state.store)
    status = await run_in_threadpool(service.status, name)
    history = await run_in_threadpool(service.history, name)
    shadow = request.state.shadows.summary(name)
    return ORJSONResponse({**status, "shadow": shadow or None, "history": history})


async def rollout_report(request: Request) -> Response:
    name = check_name(request.path_params["name"], what="endpoint")
    flush = request.state.flush_spool
    if flush is not None:
        await run_in_threadpool(flush)
    report = await run_in_threadpool(RolloutService(request.state.store).report, name)
    return ORJSONResponse(report)


OPERATIONS = [
    Operation(
        "GET", "/v1/models", list_models, Permission.READ, "List registered models", "models"
    ),
    Operation(
        "GET", "/v1/models/{name}", get_model, Permission.READ, "Show a model's versions", "models"
    ),
    Operation(
        "GET",
        "/v1/models/{name}/versions/{version}",
        get_version,
        Permission.READ,
        "Show one model version",
        "models",
    ),
    Operation(
        "POST",
        "/v1/models/{name}/versions/{version}/promote",
        promote,
        Permission.DEPLOY,
        "Move a version to a stage",
        "models",
        request_model=PromoteRequest,
        idempotent=True,
    ),
    Operation(
        "POST",
        "/v1/endpoints/{name}/deploy",
        deploy,
        Permission.DEPLOY,
        "Point an endpoint at a model version (verified and warmed first)",
        "endpoints",
        request_model=DeployRequest,
        idempotent=True,
    ),
    Operation(
        "POST",
        "/v1/endpoints/{name}/config",
        configure,
        Permission.DEPLOY,
        "Set serving options: pii_columns, batching, cache, thresholds, timeout",
        "endpoints",
        request_model=EndpointConfigUpdate,
    ),
    Operation(
        "POST",
        "/v1/endpoints/{name}/rollouts",
        start_rollout,
        Permission.DEPLOY,
        "Start a rollout (blue-green: atomic switch; canary: analysed steps)",
        "rollouts",
        request_model=RolloutRequest,
        idempotent=True,
        status_codes=(201,),
    ),
    Operation(
        "POST",
        "/v1/endpoints/{name}/rollback",
        rollback,
        Permission.DEPLOY,
        "Return to the previously served version",
        "rollouts",
        request_model=RollbackRequest,
        idempotent=True,
    ),
    Operation(
        "POST",
        "/v1/endpoints/{name}/rollouts/approve",
        approve_rollout,
        Permission.DEPLOY,
        "Approve full promotion of the running rollout (not by the principal who started it)",
        "rollouts",
        request_model=ApproveRequest,
        idempotent=True,
    ),
    Operation(
        "POST",
        "/v1/endpoints/{name}/fallback",
        set_fallback,
        Permission.DEPLOY,
        "Set (or, with model null, clear) the version that answers while the primary's "
        "circuit breaker is open",
        "rollouts",
        request_model=FallbackRequest,
        idempotent=True,
    ),
    Operation(
        "GET",
        "/v1/endpoints/{name}/rollouts",
        rollout_status,
        Permission.READ,
        "Rollout status and history (who, when, why)",
        "rollouts",
    ),
    Operation(
        "GET",
        "/v1/endpoints/{name}/rollouts/report",
        rollout_report,
        Permission.READ,
        "Per-version results since the rollout started, with an accuracy significance test",
        "rollouts",
    ),
]
