from __future__ import annotations

import pytest

from helpers import corrupt_model, fitted_logreg
from modelyard.deployments.service import EndpointService
from modelyard.domain.signature import example_row
from modelyard.errors import InvalidInputError, ModelLoadError, NotFoundError
from modelyard.registry.service import RegistryService
from modelyard.store.store import Store


def test_deploy_and_switch(store: Store) -> None:
    registry = RegistryService(store)
    endpoints = EndpointService(store, registry)
    model, x, signature = fitted_logreg()
    example = example_row(signature, x)
    registry.register(model, "m", signature=signature, example=example)
    registry.register(model, "m", signature=signature, example=example)
    first = endpoints.deploy("ep", "m:1")
    assert (first.model, first.version, first.revision) == ("m", 1, 1)
    second = endpoints.deploy("ep", "m:2")
    assert (second.version, second.revision) == (2, 2)
    described = endpoints.describe("ep")
    assert described["model"]["version"] == 2
    assert described["example"] == {"inputs": [example]}
    assert [e.name for e in endpoints.list()] == ["ep"]


def test_deploying_a_corrupted_version_keeps_the_previous(store: Store) -> None:
    registry = RegistryService(store)
    endpoints = EndpointService(store, registry)
    model, _, signature = fitted_logreg()
    registry.register(model, "m", signature=signature)
    other, _, _ = fitted_logreg(seed=1)
    bad = registry.register(other, "m", signature=signature)
    endpoints.deploy("ep", "m:1")
    corrupt_model(store, bad.artifact_digest)
    with pytest.raises(ModelLoadError, match="corrupted"):
        endpoints.deploy("ep", "m:2")
    current = endpoints.get("ep")
    assert (current.version, current.revision) == (1, 1)


def test_deploy_errors(store: Store) -> None:
    endpoints = EndpointService(store)
    with pytest.raises(NotFoundError, match="model 'nope' not found"):
        endpoints.deploy("ep", "nope:1")
    with pytest.raises(InvalidInputError):
        endpoints.deploy("bad/name", "nope:1")
    with pytest.raises(NotFoundError, match="endpoint 'ep' not found"):
        endpoints.get("ep")
