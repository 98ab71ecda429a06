"""The JSON response's headers are exactly the ones Starlette would build."""

from __future__ import annotations

import pytest
from starlette.responses import Response

from modelyard.serving.responses import ORJSONResponse, error_response


@pytest.mark.parametrize("status", [200, 201, 404, 503, 204, 304, 101])
@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"x-model-version": "3", "Retry-After": "1"},
        {"Content-Type": "application/problem+json"},
        {"content-length": "0"},
    ],
)
@pytest.mark.parametrize("media_type", [None, "text/plain"])
def test_headers_are_starlettes(
    status: int, headers: dict[str, str] | None, media_type: str | None
) -> None:
    ours = ORJSONResponse(
        {"a": [1, 2.5]}, status_code=status, headers=headers, media_type=media_type
    )
    starlettes = Response(
        ours.body,
        status_code=status,
        headers=headers,
        media_type=media_type or "application/json",
    )
    assert ours.raw_headers == starlettes.raw_headers


def test_error_envelope() -> None:
    response = error_response(429, "rate_limited", "slow down", "rid", headers={"retry-after": "2"})
    assert (
        response.body
        == b'{"error":{"code":"rate_limited","message":"slow down","request_id":"rid"}}'
    )
    assert response.raw_headers == [
        (b"retry-after", b"2"),
        (b"content-length", str(len(response.body)).encode()),
        (b"content-type", b"application/json"),
    ]
