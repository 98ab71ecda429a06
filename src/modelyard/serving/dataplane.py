"""Data-plane handlers: health, readiness, metrics, endpoint descriptions, predict.

The predict path never touches the database: the endpoint table and key table are in
memory, and the prediction record goes to the local spool before the response leaves.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from modelyard.domain.rollout.routing import route
from modelyard.domain.signature import Rows, rows_frame, to_json_scalar, validate_rows
from modelyard.errors import InvalidInputError, ModelyardError
from modelyard.monitoring.spool import Spool
from modelyard.runtime.base import Prediction
from modelyard.serving.cache import ResponseCache, cache_key
from modelyard.serving.hygiene import header_value
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.payloads import BodyTooLarge, decode_json, predict_inputs, read_body
from modelyard.serving.responses import ORJSONResponse, error_response, status_for
from modelyard.serving.shadow import ShadowRunner
from modelyard.serving.table import ArmRecorder, EndpointTable, ServedModel
from modelyard.settings import Settings

if TYPE_CHECKING:
    from modelyard.monitoring.alerting import OutcomeRing

log = logging.getLogger("modelyard.serving")
_SUBJECT = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


async def healthz(request: Request) -> Response:
    return ORJSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    table: EndpointTable = request.state.table
    draining = request.state.lifecycle["draining"]
    ready = table.ready and not draining
    body: dict[str, Any] = {
        "status": "ready" if ready else "not_ready",
        "endpoints": {name: "loaded" for name in table.served},
    }
    for name in sorted(table.known - set(table.served)):
        body["endpoints"][name] = table.errors.get(name, (0, "loading"))[1]
    if draining:
        body["reason"] = "draining"
    return ORJSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    payload = generate_latest(request.state.metrics.registry)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)


async def list_endpoints(request: Request) -> Response:
    table: EndpointTable = request.state.table
    return ORJSONResponse(
        {"endpoints": [table.served[n].description for n in sorted(table.served)]}
    )


async def get_endpoint(request: Request) -> Response:
    name = request.path_params["name"]
    served = request.state.table.get(name)
    if served is None:
        return error_response(
            404, "not_found", f"endpoint {name!r} not found", request.state.request_id
        )
    breakers = request.state.table.breaker_snapshots(name)
    if not breakers:
        return ORJSONResponse(served.description)
    return ORJSONResponse({**served.description, "breakers": breakers})


def subject_of(request: Request) -> str | None:
    value = header_value(request.scope, b"x-subject-id")
    if value is None:
        return None
    if not _SUBJECT.fullmatch(value):
        raise InvalidInputError(
            "X-Subject-ID must be 1-128 letters, digits or ._:@-", field="x-subject-id"
        )
    return value


T = TypeVar("T")

Parse = Callable[[Any, ServedModel, Settings], tuple[Rows, list[Any] | None]]
Encode = Callable[[Prediction, ServedModel, str, Settings], dict[str, Any]]
#: The request body (bytes) and the JSON depth limit → the payload ``Parse`` takes.
Decode = Callable[[bytes, int], Any]


def _noting_outcomes(
    serve: Callable[..., Awaitable[Response]],
) -> Callable[..., Awaitable[Response]]:
    """Note every answer of a served endpoint in the in-process outcome ring, for the
    error-rate and request-rate alerts: one deque append (O(1), no lock). Requests
    routed by a traffic policy are also noted per version in the arm recorder (canary
    analysis)."""

    @functools.wraps(serve)
    async def noted(request: Request, name: str, *args: Any, **kwargs: Any) -> Response:
        started = time.perf_counter()
        response = await serve(request, name, *args, **kwargs)
        state = request.scope["state"]  # plain dict lookups: State's misses raise
        outcomes: OutcomeRing | None = state.get("outcomes")
        if outcomes is not None and name in state["table"].served:
            outcomes.record(name, response.status_code < 400)
        routed: str | None = state.get("routed_ref")
        arms: ArmRecorder | None = state.get("arms")
        if routed is not None and arms is not None:
            arms.record(
                name,
                routed,
                response.status_code == 200,
                (time.perf_counter() - started) * 1000,
                state.get("routed_output"),
            )
        return response

    return noted


@_noting_outcomes
async def serve_prediction(
    request: Request,
    name: str,
    parse: Parse,
    encode: Encode,
    *,
    kind: str = "native",
    explain: bool = False,
    decode: Decode = decode_json,
) -> Response:
    """The one predict path every wire format shares: decode, validate, predict, log, encode.

    With a traffic policy on the endpoint, :func:`~modelyard.domain.rollout.route`
    picks the version that answers (O(1): one hash, no IO). The ``X-Routing-Key``
    header makes the choice sticky: the same key lands on the same version (canary or
    A/B arm) in every process, replica and restart; without it each request is routed
    at random. The response's ``model.version`` (and ``X-Model-Version``) say which
    version answered.

    Each version has a circuit breaker (:mod:`~modelyard.domain.rollout.breaker`): model
    errors and timeouts count as failures, calls over the endpoint's
    ``latency_budget_ms`` as slow; bad input counts for nothing. While the routed
    version's breaker is open the request goes to the primary (when a canary or an arm
    tripped) or the policy's fallback, with ``X-Fallback-From`` naming the tripped
    version; with neither, a 503 ``circuit_open`` with ``Retry-After``.

    ``decode`` turns the body into the payload (JSON unless a wire format has its own,
    like OIP's binary tensors). Invalid input is a 422, or a 400 when the body itself
    is unreadable; OIP (``kind="oip"``) answers 400 for both, as its clients expect.
    """
    started = time.perf_counter()
    state = request.scope["state"]
    request_id: str = state["request_id"]
    m: ServingMetrics = state["metrics"]
    served: ServedModel | None = state["table"].get(name)
    if served is None:
        return error_response(404, "not_found", f"endpoint {name!r} not found", request_id)
    top = served
    shadows: list[ServedModel] = []
    if served.policy is not None:
        decision = route(
            served.policy, header_value(request.scope, b"x-routing-key"), random.getrandbits(64)
        )
        shadows = [served.variants[r] for r in decision.shadows if r in served.variants]
        served = served.variants.get(decision.serve_ref, served)
    headers: dict[str, str] = {}
    breaker = served.breaker
    if breaker is not None and not breaker.allow(started):
        tripped = served
        diverted = _divert(top, tripped, started)
        if diverted is None:
            m.requests.labels(name, tripped.version_label, "503").inc()
            m.errors.labels(name, tripped.version_label, "circuit_open").inc()
            return error_response(
                503,
                "circuit_open",
                f"version {tripped.ref} is failing ({breaker.reason}) and "
                + (
                    f"endpoint {name!r} has no fallback version to answer instead"
                    if top.policy is None or top.policy.fallback is None
                    else f"its fallback {top.policy.fallback} is failing too"
                )
                + "; retry later",
                request_id,
                headers={
                    "x-model-version": tripped.version_label,
                    "retry-after": str(max(1, math.ceil(breaker.retry_after(started)))),
                },
            )
        served = diverted
        breaker = served.breaker
        m.fallbacks.labels(name, tripped.version_label, served.version_label).inc()
        headers["x-fallback-from"] = tripped.ref
    if top.policy is not None:
        state["routed_ref"] = served.ref
    version = served.version_label
    headers["x-model-version"] = version
    settings: Settings = state["settings"]
    try:
        subject = subject_of(request)
        body = await read_body(request, settings.max_body_bytes)
        payload = decode(body, settings.max_json_depth)
        ttl = served.config.cache_ttl_s
        ttl = settings.cache_ttl_s if ttl is None else ttl
        cache: ResponseCache | None = state["cache"] if ttl > 0 else None
        key = _cache_key(kind, served, payload) if cache is not None else None
        frame, records = parse(payload, served, settings)  # a hit is validated too
        hit = None
        if cache is not None and key is not None:
            hit = await _counting_errors(cache.get(key), cache, m, name)
        if hit is not None:
            m.cache.labels(name, "hit").inc()
            result = hit
            compute_ms = 0.0
        else:
            compute_started = time.perf_counter()
            result = await served.batcher.predict(
                frame, timeout=served.config.timeout_s or settings.predict_timeout_s
            )
            compute_ms = (time.perf_counter() - compute_started) * 1000
            if cache is not None and key is not None:
                m.cache.labels(name, "miss").inc()
                await _counting_errors(cache.put(key, result, ttl), cache, m, name)
        explanations = (
            await run_in_threadpool(served.model.explain, rows_frame(served.signature, frame))
            if explain
            else None
        )
    except TimeoutError:
        if breaker is not None:
            breaker.record(False, (time.perf_counter() - started) * 1000, time.perf_counter())
        m.requests.labels(name, version, "504").inc()
        m.errors.labels(name, version, "timeout").inc()
        return error_response(
            504,
            "timeout",
            "the model did not answer within "
            f"{served.config.timeout_s or settings.predict_timeout_s:g}s",
            request_id,
            headers=headers,
        )
    except BodyTooLarge as exc:
        if breaker is not None:
            breaker.cancel()
        return _fail(m, name, version, 413, exc, request_id, headers)
    except InvalidInputError as exc:
        if breaker is not None:
            breaker.cancel()
        status = 400 if exc.field == "body" or kind == "oip" else 422
        return _fail(m, name, version, status, exc, request_id, headers)
    except ModelyardError as exc:
        status = status_for(exc)
        if breaker is not None:
            if status >= 500:
                breaker.record(False, (time.perf_counter() - started) * 1000, time.perf_counter())
            else:
                breaker.cancel()
        return _fail(m, name, version, status, exc, request_id, headers)
    except ClientDisconnect:
        # The caller went away mid-request (e.g. a load generator stopping): not an error
        # of the model; counted as 499 like nginx does.
        if breaker is not None:
            breaker.cancel()
        m.requests.labels(name, version, "499").inc()
        return Response(status_code=499)
    except Exception:
        if breaker is not None:
            breaker.record(False, (time.perf_counter() - started) * 1000, time.perf_counter())
        log.exception("endpoint %s version %s: prediction failed [%s]", name, version, request_id)
        m.requests.labels(name, version, "500").inc()
        m.errors.labels(name, version, "model_error").inc()
        return error_response(
            500,
            "model_error",
            "the model failed to predict; see the server log",
            request_id,
            headers=headers,
        )
    outputs: dict[str, Any] = {"predictions": result.predictions}
    if state.get("routed_ref") is not None:
        state["routed_output"] = result.predictions[0] if result.predictions else None
    if result.probabilities is not None:
        outputs["probabilities"] = result.probabilities
    finished = time.perf_counter()
    elapsed = finished - started
    if breaker is not None:
        if hit is None:
            breaker.record(True, elapsed * 1000, finished)
        else:
            breaker.cancel()  # a cached answer says nothing about the model
    spool: Spool | None = state["spool"]
    if spool is not None:
        if records is None:
            records = frame_records(rows_frame(served.signature, frame))
        if served.config.pii_columns:
            records = state["pii"].protect(records, served.config.pii_columns)
        try:
            spool.append(
                {
                    "request_id": request_id,
                    "endpoint": name,
                    "model": served.version.model,
                    "version": served.version.version,
                    "ts": time.time(),
                    "latency_ms": elapsed * 1000,
                    "compute_ms": compute_ms,
                    "caller": state["principal"].actor,
                    "subject_id": subject,
                    "n_rows": len(frame),
                    "inputs": records,
                    "outputs": outputs,
                }
            )
        except OSError:
            log.exception("prediction spool write failed [%s]", request_id)
            m.errors.labels(name, version, "spool_unavailable").inc()
            return error_response(
                503,
                "log_unavailable",
                "the prediction could not be logged, so it was not returned; retry later",
                request_id,
                headers={**headers, "retry-after": "1"},
            )
    if shadows and hit is None:
        runner: ShadowRunner = state["shadows"]
        regression = served.signature.output.kind == "regression"
        # Shadows get the frame (named columns), as a matrix means this signature's order.
        mirrored = rows_frame(served.signature, frame)
        for shadow in shadows:
            runner.mirror(name, shadow.ref, shadow.model, mirrored, result, regression)
    meters = served.meters
    meters.ok.inc()
    meters.latency.observe(elapsed)
    meters.rows.inc(len(result.predictions))
    content = encode(result, served, request_id, settings)
    if explanations is not None:
        content["explanations"] = explanations
    return ORJSONResponse(content, headers=headers)


def _divert(top: ServedModel, tripped: ServedModel, now: float) -> ServedModel | None:
    """Who answers while ``tripped``'s breaker is open: the primary when a canary or an
    A/B arm tripped, else the policy's fallback version; ``None`` when neither may."""
    candidates = [top] if tripped is not top else []
    fallback = top.policy.fallback if top.policy is not None else None
    if fallback is not None and fallback in top.variants:
        candidates.append(top.variants[fallback])
    for candidate in candidates:
        if candidate is not tripped and (candidate.breaker is None or candidate.breaker.allow(now)):
            return candidate
    return None


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON values, for the prediction log."""
    columns = list(frame.columns)
    return [
        {c: to_json_scalar(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _native_parse(
    payload: Any, served: ServedModel, settings: Settings
) -> tuple[Rows, list[Any] | None]:
    inputs = predict_inputs(payload, settings.max_rows_per_request)
    return validate_rows(served.signature, inputs), inputs


def _native_encode(
    result: Prediction, served: ServedModel, request_id: str, settings: Settings
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "request_id": request_id,
        "endpoint": served.endpoint,
        "model": {"name": served.version.model, "version": served.version.version},
        "predictions": result.predictions,
    }
    if result.probabilities is not None:
        content["probabilities"] = result.probabilities
        threshold = served.config.low_confidence_threshold
        threshold = settings.low_confidence_threshold if threshold is None else threshold
        content["low_confidence"] = [max(p.values()) < threshold for p in result.probabilities]
    return content


async def predict(request: Request) -> Response:
    """``POST /v1/endpoints/{name}/predict`` with ``{"inputs": [{column: value}, ...]}``."""
    explain = bool(request.scope.get("query_string")) and request.query_params.get(
        "explain", "false"
    ).lower() in ("1", "true", "yes")
    return await serve_prediction(
        request, request.path_params["name"], _native_parse, _native_encode, explain=explain
    )


async def _counting_errors(
    call: Awaitable[T], cache: ResponseCache, m: ServingMetrics, endpoint: str
) -> T:
    """``call``'s result; a cache failure during it (served as a miss) is counted."""
    errors = cache.errors
    result = await call
    if cache.errors > errors:
        m.cache.labels(endpoint, "error").inc()
    return result


def _cache_key(kind: str, served: ServedModel, payload: Any) -> str | None:
    """The cache key of ``payload`` for the artifact ``served`` runs (the compiled one
    answers within a tolerance, not identically); ``None``: not cacheable."""
    version = served.version
    compiled = served.model.flavor == "onnx" and version.flavor != "onnx"
    artifact = (version.compiled_digest if compiled else None) or version.artifact_digest
    try:
        return cache_key(kind, served.endpoint, version.ref, artifact, payload)
    except TypeError:  # orjson cannot canonicalise it (e.g. raw bytes): not cached
        return None


def _fail(
    m: ServingMetrics,
    endpoint: str,
    version: str,
    status: int,
    exc: ModelyardError,
    request_id: str,
    headers: dict[str, str],
) -> Response:
    m.requests.labels(endpoint, version, str(status)).inc()
    m.errors.labels(endpoint, version, exc.code).inc()
    field = getattr(exc, "field", None)
    return error_response(status, exc.code, exc.message, request_id, field=field, headers=headers)
