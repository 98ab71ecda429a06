"""Routes for clients written for other servers: MLflow ``/invocations`` and the Open
Inference Protocol v2 (KServe, Triton, MLServer). Same hot path as native predict.

The ``/v2`` routes answer errors as OIP does, ``{"error": "<message>"}`` (400 for
invalid input, 404 for an unknown model; the request id is in ``X-Request-ID``): every
path under ``responses.OIP_PREFIX`` does. ``/v2/models/{name}/infer`` reads JSON bodies
and, with an ``Inference-Header-Content-Length`` header, the binary tensor data
extension (see :mod:`modelyard.serving.protocols.oip`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from starlette.requests import Request
from starlette.responses import Response

from modelyard.runtime.base import Prediction
from modelyard.serving.dataplane import serve_prediction
from modelyard.serving.hygiene import header_value
from modelyard.serving.payloads import decode_oip_body, decode_python_json
from modelyard.serving.protocols import (
    encode_mlflow_response,
    encode_oip_response,
    model_metadata,
    parse_mlflow_payload,
    parse_oip_request,
)
from modelyard.serving.responses import ORJSONResponse, error_response
from modelyard.serving.table import EndpointTable, ServedModel
from modelyard.settings import Settings


def _mlflow_parse(
    payload: Any, served: ServedModel, settings: Settings
) -> tuple[pd.DataFrame, list[Any] | None]:
    frame = parse_mlflow_payload(payload, served.signature, max_rows=settings.max_rows_per_request)
    return frame, None


def _mlflow_encode(
    result: Prediction, served: ServedModel, request_id: str, settings: Settings
) -> dict[str, Any]:
    return encode_mlflow_response(result)


async def invocations(request: Request) -> Response:
    """MLflow scoring: ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``
    (with the ``NaN`` tokens MLflow's client writes for missing values)."""
    return await serve_prediction(
        request,
        request.path_params["name"],
        _mlflow_parse,
        _mlflow_encode,
        kind="mlflow",
        decode=decode_python_json,
    )


async def oip_infer(request: Request) -> Response:
    requested: dict[str, Any] = {}

    def parse(
        payload: Any, served: ServedModel, settings: Settings
    ) -> tuple[pd.DataFrame, list[Any] | None]:
        frame, rid, outputs = parse_oip_request(
            payload, served.signature, max_rows=settings.max_rows_per_request
        )
        requested["id"], requested["outputs"] = rid, outputs
        return frame, None

    def encode(
        result: Prediction, served: ServedModel, request_id: str, settings: Settings
    ) -> dict[str, Any]:
        return encode_oip_response(
            result,
            served.endpoint,
            str(served.version.version),
            requested.get("id") or request_id,
            requested.get("outputs"),
            classes=served.signature.output.classes,
        )

    header_length = header_value(request.scope, b"inference-header-content-length")

    def decode(body: bytes, max_depth: int) -> Any:
        return decode_oip_body(body, header_length, max_depth)

    return await serve_prediction(
        request, request.path_params["name"], parse, encode, kind="oip", decode=decode
    )


async def oip_live(request: Request) -> Response:
    return ORJSONResponse({"live": True})


async def oip_ready(request: Request) -> Response:
    table: EndpointTable = request.state.table
    ready = table.ready and not request.state.lifecycle["draining"]
    return ORJSONResponse({"ready": ready}, status_code=200 if ready else 503)


def _served(request: Request) -> ServedModel | Response:
    name = request.path_params["name"]
    served = request.state.table.get(name)
    if served is None:
        return error_response(
            404, "not_found", f"model {name!r} not found", request.state.request_id
        )
    return served  # type: ignore[no-any-return]


async def oip_model(request: Request) -> Response:
    served = _served(request)
    if isinstance(served, Response):
        return served
    return ORJSONResponse(
        model_metadata(served.endpoint, [str(served.version.version)], served.signature)
    )


async def oip_model_ready(request: Request) -> Response:
    served = _served(request)
    if isinstance(served, Response):
        return served
    return ORJSONResponse({"name": served.endpoint, "ready": True})
