"""The ASGI application: ``create_app(settings)`` builds everything, nothing at import."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypedDict

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from threadpoolctl import threadpool_limits

from modelyard.api import admin as admin_api
from modelyard.api import alerts as alerts_api
from modelyard.api import datasets as datasets_api
from modelyard.api import jobs as jobs_api
from modelyard.api import models as models_api
from modelyard.api import monitoring as monitoring_api
from modelyard.api import webhooks as webhooks_api
from modelyard.api.openapi import build_openapi
from modelyard.api.operations import Operation
from modelyard.api.schemas import PredictRequest
from modelyard.deployments.rollout import RolloutService
from modelyard.deployments.service import EndpointService
from modelyard.domain.alerts import AlertRule
from modelyard.domain.security import Permission
from modelyard.errors import ConflictError, ModelyardError
from modelyard.jobs.runner import start_runner
from modelyard.monitoring.alerting import (
    AlertingService,
    AlertMetrics,
    MonitoringConfig,
    OutcomeRing,
    load_monitoring_config,
    sync_spec_webhooks,
)
from modelyard.monitoring.drift_service import DriftService
from modelyard.monitoring.ship_worker import ShipperProcess
from modelyard.monitoring.shipper import ship_all_or_fail, ship_pending
from modelyard.monitoring.spool import Spool
from modelyard.monitoring.webhooks import WebhookService
from modelyard.registry.service import RegistryService
from modelyard.security.keys import KeyService
from modelyard.security.outbound import OutboundPolicy
from modelyard.security.pii import PiiProtector
from modelyard.serving import dataplane, interop
from modelyard.serving.cache import ResponseCache, open_cache
from modelyard.serving.guard import AuthTable, RateLimits
from modelyard.serving.hygiene import LOOPBACK_HOSTS, HygieneMiddleware
from modelyard.serving.lane import PredictLane
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.responses import (
    ORJSONResponse,
    as_oip_error,
    error_response,
    is_oip_path,
)
from modelyard.serving.shadow import ShadowRunner
from modelyard.serving.table import ArmRecorder, EndpointTable
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
    spool: Spool | None
    cache: ResponseCache
    pii: PiiProtector
    drift: DriftService
    outbound_policy: OutboundPolicy
    flush_spool: Callable[..., None] | None
    lifecycle: dict[str, bool]
    monitoring: MonitoringConfig
    outcomes: OutcomeRing
    alerting: AlertingService
    arms: ArmRecorder
    shadows: ShadowRunner


def _sync(state: State) -> None:
    """Reload the keys and the endpoints, each only if the store changed them: one narrow
    query per table on every refresh, the full reload only after a change."""
    auth, keys = state["auth"], state["keys"]
    fingerprint = keys.fingerprint()  # before the reload: a change in between reloads again
    if fingerprint != auth.fingerprint:
        auth.principals = keys.principals()
        auth.fingerprint = fingerprint
    table, endpoints = state["table"], state["endpoints"]
    if not table.current(endpoints.revisions()):
        table.sync(endpoints.list())


async def _every(interval: float, work: Callable[[], None], what: str) -> None:
    """Run blocking ``work`` off the loop every ``interval`` seconds, surviving failures."""
    while True:
        try:
            await asyncio.to_thread(work)
        except Exception:  # noqa: BLE001 - a store hiccup must not stop serving
            log.exception("%s failed; will retry", what)
        await asyncio.sleep(interval)


def _drift_gauges(state: State) -> None:
    """Score each endpoint's drift window: publish the verdict, per-column scores, live
    quality and cost as Prometheus gauges, and send ``drift.detected`` when it turns."""
    metrics = state["metrics"]
    window = timedelta(seconds=state["settings"].drift_window_s)
    served = list(state["table"].served)
    _quality_and_cost_gauges(state, served, window)
    for name in served:
        try:
            # One thread: drift work must not starve the serving threads.
            with threadpool_limits(limits=1):
                report = state["drift"].summary(name, window)
        except ModelyardError as exc:  # e.g. no reference for this version
            log.debug("drift for %s skipped: %s", name, exc.message)
            continue
        status = {"ok": 0, "drift": 1}.get(report["status"], -1)
        metrics.drift_status.labels(name).set(status)
        for column in report["columns"]:
            score = column.get("wasserstein_normalized")
            if score is None:
                score = column.get("js_distance")
            if score is not None:
                metrics.drift_score.labels(name, column["column"]).set(score)
        state["alerting"].record_drift(name, report, window.total_seconds())


def _quality_and_cost_gauges(state: State, endpoints: list[str], window: timedelta) -> None:
    """The alert metrics' own values of quality and cost, so the exported Prometheus
    rules (which read these gauges) see exactly what the server's alerts evaluate."""
    source = state["alerting"].metrics
    if source is None or not endpoints:
        return
    gauges = state["metrics"].window_gauges  # by the alert metric each publishes
    rules = [
        AlertRule(name=f"gauge.{metric}", metric=metric, comparison=">", threshold=0.0,
                  window=f"{max(int(window.total_seconds()), 1)}s")
        for metric in gauges
    ]  # fmt: skip
    values = source.values([(rule, name) for rule in rules for name in endpoints], time.time())
    for rule in rules:
        for name in endpoints:
            value = values[(rule.name, name)]
            gauges[rule.metric].labels(name).set(math.nan if value is None else value)


def _rollout_looks(state: State, rollouts: RolloutService) -> None:
    """Analyse running canaries (each at its own ``look_interval_s``) and abort
    rollouts whose versions failed to load here. A conflict means another replica
    decided this step first: its decision stands."""
    table = state["table"]
    for name, (revision, message) in list(table.errors.items()):
        served = table.served.get(name)
        pending = served is None or served.revision != revision
        try:
            if pending:
                rollouts.abort_unloadable(name, revision, message)
        except ConflictError:
            pass
    for name, served in list(table.served.items()):
        rollout = served.config.rollout
        if not rollout or rollout.get("strategy") != "canary":
            continue
        if rollout.get("status") != "running":
            continue
        try:
            rollouts.look(name, state["arms"])
        except ConflictError:
            log.info("canary %s: another replica decided this look", name)


def _seal_and_watch(spool: Spool, shipper: ShipperProcess) -> None:
    """Hand the records written so far to the shipper child (started or restarted)."""
    spool.seal()
    shipper.ensure_running()


def _ships_in_process(settings: Settings) -> bool:
    """A child process cannot see an in-memory database; otherwise it ships."""
    return settings.ship_in_process or ":memory:" in settings.resolved_database_url


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
    """Build the app; the store is opened (and migrated) and the spool checked in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        monitoring = await asyncio.to_thread(load_monitoring_config, settings)  # bad spec: stop
        spool = Spool(settings.resolved_spool_dir) if settings.prediction_log else None
        own_store = store is None
        active = store if store is not None else await asyncio.to_thread(open_store, settings)
        registry = RegistryService(active)
        metrics = ServingMetrics()
        keys = KeyService(active)
        if settings.auth_enabled:
            await asyncio.to_thread(keys.ensure_admin_credentials, settings)

        outbound = OutboundPolicy(
            allow_private=settings.outbound_allow_private,
            allowlist=tuple(settings.outbound_allowlist),
        )
        webhooks = WebhookService(active, outbound)
        try:
            await asyncio.to_thread(sync_spec_webhooks, webhooks, monitoring)
        except BaseException:
            if spool is not None:
                spool.close()
            if own_store:
                active.close()
            raise
        drift = DriftService(active, registry, monitoring.drift)
        outcomes = OutcomeRing(settings.outcome_ring_size)
        alerting = AlertingService(
            active,
            monitoring.rules,
            AlertMetrics(
                active,
                drift=drift,
                outcomes=outcomes,
                cost_models=monitoring.cost_models,
                min_labels=settings.quality_min_labels,
            ),
        )

        def flush(for_deletion: bool = False) -> None:
            """Make every prediction made so far visible in the store: the monitoring
            routes must see them. Segments the idle-priority shipper child holds are
            copied, not waited for; before a deletion (forgetting a subject) they are
            waited for instead, so no late shipment brings deleted records back."""
            if spool is not None:
                spool.seal()
                if for_deletion:
                    ship_all_or_fail(active, settings.resolved_spool_dir)
                else:
                    ship_pending(active, settings.resolved_spool_dir, include_held=True)

        state: State = {
            "settings": settings,
            "store": active,
            "table": EndpointTable(
                registry=registry,
                metrics=metrics,
                prefer_compiled=settings.use_compiled,
                batch_max_rows=settings.batch_max_rows,
                batch_max_wait_ms=settings.batch_max_wait_ms,
                breakers_enabled=settings.breaker_enabled,
            ),
            "cache": open_cache(settings.cache_storage, max_entries=settings.cache_max_entries),
            "pii": PiiProtector(settings.pii_key),
            "endpoints": EndpointService(active, registry),
            "keys": keys,
            "auth": AuthTable(),
            "rate_limits": RateLimits(settings),
            "metrics": metrics,
            "spool": spool,
            "drift": drift,
            "outbound_policy": outbound,
            "flush_spool": flush if spool is not None else None,
            "lifecycle": {"draining": False},
            "monitoring": monitoring,
            "outcomes": outcomes,
            "alerting": alerting,
            "arms": ArmRecorder(),
            "shadows": ShadowRunner(),
        }
        await asyncio.to_thread(_sync, state)
        # Everything loaded so far (libraries, models) lives as long as the process:
        # keep it out of the cyclic GC, whose full passes over it stall the event loop
        # for tens of milliseconds under load.
        gc.collect()
        gc.freeze()
        tasks = [
            asyncio.create_task(
                _every(settings.refresh_interval_s, lambda: _sync(state), "endpoint refresh")
            )
        ]
        tasks.append(
            asyncio.create_task(
                _every(settings.webhook_interval_s, webhooks.deliver_due, "webhook delivery")
            )
        )
        rollouts = RolloutService(active, registry)
        tasks.append(
            asyncio.create_task(
                _every(
                    settings.refresh_interval_s,
                    lambda: _rollout_looks(state, rollouts),
                    "rollout analysis",
                )
            )
        )
        if settings.drift_interval_s > 0:
            tasks.append(
                asyncio.create_task(
                    _every(settings.drift_interval_s, lambda: _drift_gauges(state), "drift check")
                )
            )
        shipper: ShipperProcess | None = None
        if spool is not None:
            work = flush
            if not _ships_in_process(settings):
                shipper = ShipperProcess(settings)
                work = functools.partial(_seal_and_watch, spool, shipper)
            tasks.append(
                asyncio.create_task(
                    _every(settings.ship_interval_s, work, "shipping prediction records")
                )
            )
        if settings.alert_interval_s > 0 and monitoring.rules:

            def evaluate_alerts() -> None:
                alerting.run_once(state["table"].known)

            tasks.append(
                asyncio.create_task(
                    _every(settings.alert_interval_s, evaluate_alerts, "alert evaluation")
                )
            )
        jobs = await asyncio.to_thread(start_runner, active, settings)
        try:
            yield state
        finally:
            state["lifecycle"]["draining"] = True
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if jobs is not None:  # running children stop; their jobs go back to the queue
                await asyncio.to_thread(jobs.stop)
            if shipper is not None:
                await asyncio.to_thread(shipper.stop)
            if spool is not None:
                spool.close()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(ship_pending, active, settings.resolved_spool_dir)
            await state["shadows"].drain()
            await state["rate_limits"].close()
            await state["cache"].close()
            if own_store:
                active.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail), _request_id(request))
        return as_oip_error(response) if is_oip_path(request.scope["path"]) else response

    async def server_error(request: Request, exc: Exception) -> Response:
        request_id = _request_id(request)
        log.exception("unhandled error [%s]", request_id, exc_info=exc)
        response = error_response(500, "internal_error", "internal server error", request_id)
        return as_oip_error(response) if is_oip_path(request.scope["path"]) else response

    operations = _operations(settings)
    document = build_openapi(operations)

    async def openapi(request: Request) -> Response:
        return ORJSONResponse(document)

    operations.append(openapi_operation(openapi))
    document["paths"].update(build_openapi([operations[-1]])["paths"])
    routes = [op.route() for op in operations]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(HygieneMiddleware, allowed_hosts=allowed_hosts_for(settings, bind_host)),
            Middleware(PredictLane, handlers={r.name: r.endpoint for r in routes}),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )


def openapi_operation(handler: Callable[[Request], Awaitable[Response]]) -> Operation:
    return Operation("GET", "/openapi.json", handler, Permission.READ, "This document", "meta")


def _operations(settings: Settings) -> list[Operation]:
    metrics_permission = None if settings.metrics_public else Permission.READ
    return [
        Operation("GET", "/healthz", dataplane.healthz, None, "Liveness", "health"),
        Operation(
            "GET",
            "/readyz",
            dataplane.readyz,
            None,
            "Readiness: every endpoint loaded",
            "health",
            status_codes=(200, 503),
        ),
        Operation(
            "GET", "/metrics", dataplane.metrics, metrics_permission, "Prometheus metrics", "health"
        ),
        Operation(
            "GET",
            "/v1/endpoints",
            dataplane.list_endpoints,
            Permission.READ,
            "List endpoints",
            "endpoints",
        ),
        Operation(
            "GET",
            "/v1/endpoints/{name}",
            dataplane.get_endpoint,
            Permission.READ,
            "Describe an endpoint: version, signature, example",
            "endpoints",
        ),
        Operation(
            "POST",
            "/v1/endpoints/{name}/predict",
            dataplane.predict,
            Permission.PREDICT,
            "Predict",
            "predict",
            request_model=PredictRequest,
            per_endpoint=True,
        ),
        Operation(
            "POST",
            "/v1/endpoints/{name}/invocations",
            interop.invocations,
            Permission.PREDICT,
            "Predict with an MLflow scoring payload",
            "predict",
            per_endpoint=True,
        ),
        Operation("GET", "/v2/health/live", interop.oip_live, None, "OIP v2 liveness", "v2"),
        Operation(
            "GET",
            "/v2/health/ready",
            interop.oip_ready,
            None,
            "OIP v2 readiness",
            "v2",
            status_codes=(200, 503),
        ),
        Operation(
            "GET",
            "/v2/models/{name}",
            interop.oip_model,
            Permission.READ,
            "OIP v2 model metadata",
            "v2",
        ),
        Operation(
            "GET",
            "/v2/models/{name}/ready",
            interop.oip_model_ready,
            Permission.READ,
            "OIP v2 model readiness",
            "v2",
        ),
        Operation(
            "POST",
            "/v2/models/{name}/infer",
            interop.oip_infer,
            Permission.PREDICT,
            "OIP v2 inference",
            "v2",
            per_endpoint=True,
        ),
        *datasets_api.OPERATIONS,
        *models_api.OPERATIONS,
        *monitoring_api.OPERATIONS,
        *webhooks_api.OPERATIONS,
        *jobs_api.OPERATIONS,
        *alerts_api.OPERATIONS,
        *admin_api.OPERATIONS,
    ]


def _request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else "-"
