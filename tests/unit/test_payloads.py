"""Reading request bodies (as Starlette's stream does) and decoding JSON with a depth cap."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest
from starlette.requests import ClientDisconnect, Request

from modelyard.errors import InvalidInputError, PayloadTooLargeError
from modelyard.serving.payloads import (
    _too_deep,
    decode_json,
    decode_oip_body,
    decode_python_json,
    read_body,
)


def _request(messages: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Request:
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    return Request(scope, receive)


def _chunks(*parts: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


def test_read_body_joins_chunks_and_leaves_the_stream_consumed() -> None:
    request = _request([{"type": "http.other"}, *_chunks(b'{"a"', b"", b": 1}")])
    assert asyncio.run(read_body(request, 100)) == b'{"a": 1}'
    with pytest.raises(RuntimeError, match="Stream consumed"):  # as after request.stream()
        asyncio.run(request.body())


def test_read_body_after_the_body_was_read_replays_it() -> None:
    request = _request(_chunks(b"[1, ", b"2]"))

    async def twice() -> tuple[bytes, bytes]:
        first = await request.body()  # e.g. the idempotency check
        return first, await read_body(request, 100)

    assert asyncio.run(twice()) == (b"[1, 2]", b"[1, 2]")


def test_read_body_limits() -> None:
    with pytest.raises(PayloadTooLargeError, match="of 500 bytes exceeds the 100-byte"):
        asyncio.run(read_body(_request([], {"content-length": "500"}), 100))
    with pytest.raises(InvalidInputError, match="Content-Length"):
        asyncio.run(read_body(_request([], {"content-length": "-1"}), 100))
    with pytest.raises(PayloadTooLargeError, match="exceeds the 4-byte limit"):
        asyncio.run(read_body(_request(_chunks(b"abc", b"de")), 4))


def test_read_body_disconnect() -> None:
    request = _request([*_chunks(b"ab", b"c")[:1], {"type": "http.disconnect"}])
    with pytest.raises(ClientDisconnect):
        asyncio.run(read_body(request, 100))
    assert asyncio.run(request.is_disconnected())


@pytest.mark.parametrize(
    "value",
    [
        1,
        "[[[[",  # brackets in strings count, but nest nothing
        {"inputs": [{"a": 1.0, "b": "{[{["}]},
        [[[]]],
        [[[[]]]],
        {"a": [{"b": [{}]}]},
        [[1], [2], [3], [4], [5]],
    ],
)
def test_decode_json_depth_cap_matches_the_walk(value: Any) -> None:
    body = json.dumps(value).encode()
    for limit in range(1, 6):
        if _too_deep(value, limit):
            with pytest.raises(InvalidInputError, match="nested deeper"):
                decode_json(body, limit)
        else:
            assert decode_json(body, limit) == value


def test_decode_oip_body_json_binary_and_unframed() -> None:
    tensor = {"name": "n", "shape": [2], "datatype": "INT32"}
    header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": 8}}]})
    body = header.encode() + struct.pack("<2i", 3, -4)
    assert decode_oip_body(body, str(len(header))) == {"inputs": [{**tensor, "data": [3, -4]}]}
    plain = json.dumps({"inputs": [{**tensor, "data": [1, 2]}]}).encode()
    assert decode_oip_body(plain, None) == json.loads(plain)
    with pytest.raises(
        InvalidInputError, match=r"inputs\[0\] \('n'\).*no Inference-Header"
    ) as info:
        decode_oip_body(body, None)
    assert info.value.field == "n"
    with pytest.raises(InvalidInputError, match="malformed JSON") as info:
        decode_oip_body(b"\x80\x04 pickle", None)
    assert info.value.field == "body"
    with pytest.raises(InvalidInputError, match="nested deeper") as info:
        decode_oip_body(b"[" * 40 + b"]" * 40 + b"xx", "80", max_depth=32)


def test_decode_python_json_takes_what_json_dumps_writes() -> None:
    # MLflow's client: json.dumps({"dataframe_split": df.to_dict(orient="split")}).
    body = json.dumps({"data": [[1.0, float("nan")], [float("inf"), -float("inf")]]}).encode()
    assert b"NaN" in body and b"Infinity" in body
    with pytest.raises(InvalidInputError):
        decode_json(body)  # strict JSON refuses the tokens
    value = decode_python_json(body)
    row0, row1 = value["data"]
    assert row0[0] == 1.0 and row0[1] != row0[1]  # NaN: a missing value downstream
    assert row1 == [float("inf"), -float("inf")]  # refused later, by the signature
    assert decode_python_json(b'{"a": [1, null]}') == {"a": [1, None]}


@pytest.mark.parametrize("body", [b"", b"{not json", b'{"a": NaN', b"[" * 40 + b"NaN" + b"]" * 40])
def test_decode_python_json_errors_are_the_strict_ones(body: bytes) -> None:
    with pytest.raises(InvalidInputError) as info:
        decode_python_json(body, max_depth=32)
    assert info.value.field == "body"
