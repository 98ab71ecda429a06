"""The ASGI application: ``create_app(settings)`` builds everything, nothing at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypedDict

import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from modelyard.api import admin as admin_api
from modelyard.api import datasets as datasets_api
from modelyard.api import models as models_api
from modelyard.api.openapi import build_openapi
from modelyard.api.operations import Operation
from modelyard.api.schemas import PredictRequest
from modelyard.deployments.service import EndpointService
from modelyard.domain.security import Permission
from modelyard.domain.signature import validate_records
from modelyard.errors import InvalidInputError, ModelyardError
from modelyard.registry.service import RegistryService
from modelyard.security.keys import KeyService
from modelyard.serving.guard import AuthTable, RateLimits
from modelyard.serving.hygiene import LOOPBACK_HOSTS, HygieneMiddleware
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.payloads import BodyTooLarge, decode_json, predict_inputs, read_body
from modelyard.serving.responses import ORJSONResponse, error_response, status_for
from modelyard.serving.table import EndpointTable
from modelyard.settings import Settings
from modelyard.store.store import Store, open_store

log = logging.getLogger("modelyard.serving")


class State(TypedDict):
    settings: Settings
    store: Store
    table: EndpointTable
    endpoints: EndpointService
    keys: KeyService
    auth: AuthTable
    rate_limits: RateLimits
    metrics: ServingMetrics
    lifecycle: dict[str, bool]


def request_id_of(request: Request) -> str:
    """The id the hygiene middleware assigned (or a fresh one outside it)."""
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else uuid.uuid4().hex


def _sync(state: State) -> None:
    state["auth"].principals = state["keys"].principals()
    state["table"].sync(state["endpoints"].list())


async def _refresh_forever(state: State) -> None:
    """Poll the store for endpoint changes; swap models only once they are warm."""
    interval = state["settings"].refresh_interval_s
    while True:
        try:
            await asyncio.to_thread(_sync, state)
        except Exception:  # noqa: BLE001 - a store hiccup must not stop serving
            log.exception("endpoint refresh failed; serving the models already loaded")
        await asyncio.sleep(interval)


def allowed_hosts_for(settings: Settings, bind_host: str | None) -> list[str] | None:
    """The Host allowlist: configured, or loopback names plus the bound address."""
    if settings.allowed_hosts is not None:
        return settings.allowed_hosts
    if bind_host in ("0.0.0.0", "::"):
        log.warning("bound to all interfaces: set MODELYARD_ALLOWED_HOSTS to pin Host headers")
        return None
    return [*LOOPBACK_HOSTS, *([bind_host] if bind_host else [])]


def create_app(
    settings: Settings, store: Store | None = None, *, bind_host: str | None = "127.0.0.1"
) -> Starlette:
    """Build the serving app; the store is opened (and migrated) in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        own_store = store is None
        active = store if store is not None else await asyncio.to_thread(open_store, settings)
        registry = RegistryService(active)
        metrics = ServingMetrics()
        keys = KeyService(active)
        if settings.auth_enabled:
            await asyncio.to_thread(keys.ensure_admin_credentials, settings)
        state: State = {
            "settings": settings,
            "store": active,
            "table": EndpointTable(registry=registry, metrics=metrics),
            "endpoints": EndpointService(active, registry),
            "keys": keys,
            "auth": AuthTable(),
            "rate_limits": RateLimits(settings),
            "metrics": metrics,
            "lifecycle": {"draining": False},
        }
        await asyncio.to_thread(_sync, state)
        refresher = asyncio.create_task(_refresh_forever(state))
        try:
            yield state
        finally:
            state["lifecycle"]["draining"] = True
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            if own_store:
                active.close()

    async def healthz(request: Request) -> Response:
        return ORJSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        table: EndpointTable = request.state.table
        draining = request.state.lifecycle["draining"]
        missing = sorted(table.known - set(table.served))
        ready = table.ready and not draining
        body: dict[str, Any] = {
            "status": "ready" if ready else "not_ready",
            "endpoints": {name: "loaded" for name in table.served},
        }
        for name in missing:
            body["endpoints"][name] = table.errors.get(name, (0, "loading"))[1]
        if draining:
            body["reason"] = "draining"
        return ORJSONResponse(body, status_code=200 if ready else 503)

    async def metrics_route(request: Request) -> Response:
        payload = generate_latest(request.state.metrics.registry)
        return Response(payload, media_type=CONTENT_TYPE_LATEST)

    async def list_endpoints(request: Request) -> Response:
        table: EndpointTable = request.state.table
        items = [table.served[name].description for name in sorted(table.served)]
        return ORJSONResponse({"endpoints": items})

    async def get_endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        served = request.state.table.get(name)
        if served is None:
            return error_response(
                404, "not_found", f"endpoint {name!r} not found", request_id_of(request)
            )
        return ORJSONResponse(served.description)

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        request_id = request_id_of(request)
        name = request.path_params["name"]
        state_metrics: ServingMetrics = request.state.metrics
        served = request.state.table.get(name)
        if served is None:
            return error_response(404, "not_found", f"endpoint {name!r} not found", request_id)
        version = served.version_label
        headers = {"x-request-id": request_id, "x-model-version": version}
        try:
            settings_: Settings = request.state.settings
            body = await read_body(request, settings_.max_body_bytes)
            payload = decode_json(body, settings_.max_json_depth)
            inputs = predict_inputs(payload, settings_.max_rows_per_request)
            frame: pd.DataFrame = validate_records(served.signature, inputs)
            result = await run_in_threadpool(served.model.predict, frame)
        except BodyTooLarge as exc:
            return _fail(state_metrics, name, version, 413, exc, request_id, headers)
        except InvalidInputError as exc:
            status = 400 if exc.field == "body" else 422
            return _fail(state_metrics, name, version, status, exc, request_id, headers)
        except ModelyardError as exc:
            return _fail(state_metrics, name, version, status_for(exc), exc, request_id, headers)
        except Exception:
            log.exception(
                "endpoint %s version %s: prediction failed [%s]", name, version, request_id
            )
            state_metrics.requests.labels(name, version, "500").inc()
            state_metrics.errors.labels(name, version, "model_error").inc()
            return error_response(
                500,
                "model_error",
                "the model failed to predict; see the server log",
                request_id,
                headers=headers,
            )
        content: dict[str, Any] = {
            "request_id": request_id,
            "endpoint": name,
            "model": {"name": served.version.model, "version": served.version.version},
            "predictions": result.predictions,
        }
        if result.probabilities is not None:
            content["probabilities"] = result.probabilities
        elapsed = time.perf_counter() - started
        state_metrics.requests.labels(name, version, "200").inc()
        state_metrics.latency.labels(name, version).observe(elapsed)
        state_metrics.rows.labels(name, version).inc(len(result.predictions))
        return ORJSONResponse(content, headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), request_id_of(request))

    async def server_error(request: Request, exc: Exception) -> Response:
        request_id = request_id_of(request)
        log.exception("unhandled error [%s]", request_id, exc_info=exc)
        return error_response(500, "internal_error", "internal server error", request_id)

    metrics_permission = None if settings.metrics_public else Permission.READ
    operations = [
        Operation("GET", "/healthz", healthz, None, "Liveness", "health"),
        Operation(
            "GET",
            "/readyz",
            readyz,
            None,
            "Readiness: every endpoint loaded",
            "health",
            status_codes=(200, 503),
        ),
        Operation(
            "GET", "/metrics", metrics_route, metrics_permission, "Prometheus metrics", "health"
        ),
        Operation(
            "GET", "/v1/endpoints", list_endpoints, Permission.READ, "List endpoints", "endpoints"
        ),
        Operation(
            "GET",
            "/v1/endpoints/{name}",
            get_endpoint,
            Permission.READ,
            "Describe an endpoint: version, signature, example",
            "endpoints",
        ),
        Operation(
            "POST",
            "/v1/endpoints/{name}/predict",
            predict,
            Permission.PREDICT,
            "Predict",
            "predict",
            request_model=PredictRequest,
            per_endpoint=True,
        ),
        *datasets_api.OPERATIONS,
        *models_api.OPERATIONS,
        *admin_api.OPERATIONS,
    ]
    document = build_openapi(
        [
            *operations,
            Operation("GET", "/openapi.json", healthz, Permission.READ, "This document", "meta"),
        ]
    )

    async def openapi(request: Request) -> Response:
        return ORJSONResponse(document)

    operations.append(
        Operation("GET", "/openapi.json", openapi, Permission.READ, "This document", "meta")
    )
    routes = [op.route() for op in operations]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(HygieneMiddleware, allowed_hosts=allowed_hosts_for(settings, bind_host))
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


def _fail(
    metrics: ServingMetrics,
    endpoint: str,
    version: str,
    status: int,
    exc: ModelyardError,
    request_id: str,
    headers: dict[str, str],
) -> Response:
    metrics.requests.labels(endpoint, version, str(status)).inc()
    metrics.errors.labels(endpoint, version, exc.code).inc()
    field = getattr(exc, "field", None)
    return error_response(status, exc.code, exc.message, request_id, field=field, headers=headers)
