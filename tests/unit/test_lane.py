"""The direct lane for prediction routes: same handlers as the router, by path shape."""

from __future__ import annotations

import pytest

from modelyard.serving.lane import endpoint_name


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/endpoints/churn/predict", "churn"),
        ("/v1/endpoints/a.b-c_1/predict", "a.b-c_1"),
        ("/v1/endpoints//predict", None),
        ("/v1/endpoints/a/b/predict", None),
        ("/v1/endpoints/churn/predictx", None),
        ("/v1/endpointsx/churn/predict", None),
        ("/v1/endpoints/predict", None),
    ],
)
def test_endpoint_name_matches_only_the_route_shape(path: str, expected: str | None) -> None:
    assert endpoint_name(path, "/v1/endpoints/", "/predict") == expected
