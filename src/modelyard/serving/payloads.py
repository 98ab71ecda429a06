"""Reading and decoding request bodies, with a size cap."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from modelyard.errors import InvalidInputError, PayloadTooLargeError
from modelyard.serving.hygiene import header_value
from modelyard.serving.protocols import (
    read_binary_inputs,
    split_binary_body,
    unframed_binary_error,
)

BodyTooLarge = PayloadTooLargeError


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before reading them all."""
    declared = header_value(request.scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInputError("invalid Content-Length header", field="content-length")
        if int(declared) > limit:
            raise BodyTooLarge(f"request body of {declared} bytes exceeds the {limit}-byte limit")
    if hasattr(request, "_body") or request._stream_consumed:
        # Read before (e.g. by the idempotency check): Starlette replays it, or refuses.
        return await _read_stream(request, limit)
    # What request.stream() does, without an async generator per request (creating and
    # finalising one costs more than the rest of this function); Starlette's flags are
    # set as it sets them, so a later stream() or body() behaves the same.
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if not message.get("more_body", False):
                request._stream_consumed = True
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body exceeds the {limit}-byte limit")
            if chunk:
                chunks.append(chunk)
            if request._stream_consumed:
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect()


async def _read_stream(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes, max_depth: int = 32) -> Any:
    """Parse JSON strictly (orjson refuses NaN and Infinity literals) and bound its nesting."""
    if not body:
        raise InvalidInputError("request body is empty; send a JSON object", field="body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"malformed JSON: {exc}", field="body") from None
    return _bounded(value, body, max_depth)


def decode_python_json(body: bytes, max_depth: int = 32) -> Any:
    """JSON as Python's ``json.dumps`` writes it, with the ``NaN`` / ``Infinity`` tokens
    it emits for missing and infinite floats: what MLflow's client sends for a frame
    with missing values, and what ``mlflow models serve`` reads. ``NaN`` is then a
    missing value for the signature to allow or refuse; infinities are refused by it.
    Strict JSON takes the fast path; anything else gets the strict parser's error."""
    try:
        return decode_json(body, max_depth)
    except InvalidInputError as strict:
        if b"NaN" not in body and b"Infinity" not in body:
            raise
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            raise strict from None
    return _bounded(value, body, max_depth)


def _bounded(value: Any, body: bytes, max_depth: int) -> Any:
    """``value`` (decoded from ``body``), unless its containers nest deeper than
    ``max_depth``. Nesting cannot exceed the number of opening brackets (those inside
    strings only add to the count), so bodies with few of them need no walk."""
    if body.count(b"[") + body.count(b"{") > max_depth and _too_deep(value, max_depth):
        raise InvalidInputError(f"JSON nested deeper than {max_depth} levels", field="body")
    return value


def decode_oip_body(body: bytes, header_length: str | None, max_depth: int = 32) -> Any:
    """An OIP v2 inference body: JSON, or (with an ``Inference-Header-Content-Length``
    header, ``header_length``) a JSON header followed by binary tensor data, whose
    values are put in each binary input's ``data``."""
    if header_length is None:
        try:
            return decode_json(body, max_depth)
        except InvalidInputError:
            unframed = unframed_binary_error(body) if body else None
            if unframed is not None:
                raise unframed from None
            raise
    header, binary = split_binary_body(body, header_length)
    return read_binary_inputs(decode_json(header, max_depth), binary)


def _too_deep(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than ``limit`` (scalars are never descended into)."""
    level: list[Any] = [value]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        nxt: list[Any] = []
        for item in level:
            if type(item) is dict:
                nxt.extend(v for v in item.values() if type(v) is dict or type(v) is list)
            elif type(item) is list:
                nxt.extend(v for v in item if type(v) is dict or type(v) is list)
        level = nxt
    return False


def predict_inputs(payload: Any, max_rows: int) -> list[Any]:
    """The ``inputs`` list of a native predict request."""
    if not isinstance(payload, dict):
        raise InvalidInputError(
            'expected a JSON object like {"inputs": [{"column": value, ...}]}', field="body"
        )
    unknown = sorted(set(payload) - {"inputs"})
    if unknown:
        raise InvalidInputError(f"unexpected key {unknown[0]!r} in request", field=unknown[0])
    if "inputs" not in payload:
        raise InvalidInputError("missing 'inputs': a list of row objects", field="inputs")
    inputs = payload["inputs"]
    if not isinstance(inputs, list):
        raise InvalidInputError("'inputs' must be a list of row objects", field="inputs")
    if not inputs:
        raise InvalidInputError("'inputs' is empty; send at least one row", field="inputs")
    if len(inputs) > max_rows:
        raise InvalidInputError(
            f"'inputs' has {len(inputs)} rows; the limit is {max_rows}", field="inputs"
        )
    return inputs
