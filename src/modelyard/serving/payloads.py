"""Reading and decoding request bodies, with a size cap."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from modelyard.errors import InvalidInputError


class BodyTooLarge(InvalidInputError):
    code = "body_too_large"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInputError("invalid Content-Length header", field="content-length")
        if int(declared) > limit:
            raise BodyTooLarge(f"request body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """Parse JSON strictly (orjson refuses NaN and Infinity literals)."""
    if not body:
        raise InvalidInputError("request body is empty; send a JSON object", field="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"malformed JSON: {exc}", field="body") from None


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
