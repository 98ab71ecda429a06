"""The server's refresh: a narrow query per table each time, a full reload on a change."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from helpers import fitted_logreg
from modelyard.deployments.service import EndpointService
from modelyard.domain.signature import example_row
from modelyard.registry.service import RegistryService
from modelyard.security.keys import KeyService
from modelyard.serving.app import _sync
from modelyard.serving.guard import AuthTable
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.table import EndpointTable
from modelyard.store.store import Store


@pytest.fixture
def refresher(store: Store) -> tuple[dict[str, Any], Counter[str]]:
    """What ``_sync`` reads from the lifespan state, with the full reloads counted."""
    registry = RegistryService(store)
    model, x, signature = fitted_logreg()
    for _ in range(2):
        registry.register(model, "m", signature=signature, example=example_row(signature, x))
    endpoints = EndpointService(store, registry)
    endpoints.deploy("ep", "m:1")
    keys = KeyService(store)
    reloads: Counter[str] = Counter()

    def counted(name: str, load: Any) -> Any:
        def wrapper() -> Any:
            reloads[name] += 1
            return load()

        return wrapper

    keys.principals = counted("keys", keys.principals)
    endpoints.list = counted("endpoints", endpoints.list)
    state = {
        "auth": AuthTable(),
        "keys": keys,
        "endpoints": endpoints,
        "table": EndpointTable(registry=registry, metrics=ServingMetrics()),
    }
    return state, reloads


def test_unchanged_store_is_not_reloaded(refresher: tuple[dict[str, Any], Counter[str]]) -> None:
    state, reloads = refresher
    _sync(state)
    assert reloads == {"keys": 1, "endpoints": 1}
    assert state["table"].served["ep"].version.version == 1
    for _ in range(3):
        _sync(state)
    assert reloads == {"keys": 1, "endpoints": 1}


def test_key_changes_reload_the_keys(refresher: tuple[dict[str, Any], Counter[str]]) -> None:
    state, reloads = refresher
    keys: KeyService = state["keys"]
    _sync(state)
    info, _ = keys.create(name="caller", role="predictor")
    _sync(state)
    assert reloads["keys"] == 2 and info.prefix in state["auth"].principals
    assert not state["auth"].principals[info.prefix].revoked
    keys.revoke(info.prefix)
    _sync(state)
    assert reloads["keys"] == 3 and state["auth"].principals[info.prefix].revoked
    _sync(state)
    assert reloads == {"keys": 3, "endpoints": 1}  # keys never reload the endpoints


def test_endpoint_changes_reload_the_table(
    refresher: tuple[dict[str, Any], Counter[str]],
) -> None:
    state, reloads = refresher
    endpoints: EndpointService = state["endpoints"]
    table: EndpointTable = state["table"]
    _sync(state)
    endpoints.deploy("ep", "m:2")
    _sync(state)
    assert reloads["endpoints"] == 2 and table.served["ep"].version.version == 2
    endpoints.configure("ep", {"cache_ttl_s": 5.0})
    _sync(state)
    assert reloads["endpoints"] == 3 and table.served["ep"].config.cache_ttl_s == 5.0
    endpoints.deploy("other", "m:1")
    _sync(state)
    assert reloads["endpoints"] == 4 and set(table.served) == {"ep", "other"}
    _sync(state)
    assert reloads == {"keys": 1, "endpoints": 4}  # endpoints never reload the keys


def test_a_failed_reload_is_retried(refresher: tuple[dict[str, Any], Counter[str]]) -> None:
    state, reloads = refresher
    endpoints: EndpointService = state["endpoints"]
    counted_list = endpoints.list

    def flaky() -> Any:
        endpoints.list = counted_list
        raise OSError("store hiccup")

    endpoints.list = flaky
    with pytest.raises(OSError):
        _sync(state)
    assert "ep" not in state["table"].served
    _sync(state)
    assert state["table"].served["ep"].version.version == 1


def test_table_is_current_only_at_the_revisions_it_holds(
    refresher: tuple[dict[str, Any], Counter[str]],
) -> None:
    state, _ = refresher
    table: EndpointTable = state["table"]
    assert table.current([])  # nothing known, nothing stored
    assert not table.current([("ep", 1)])
    _sync(state)
    assert table.current([("ep", 1)])
    assert not table.current([("ep", 2)])  # redeployed or reconfigured
    assert not table.current([])  # deleted
    assert not table.current([("ep", 1), ("new", 1)])  # created
    table.errors["new"] = (1, "does not load")  # failed at this revision: not retried
    table.known.add("new")
    assert table.current([("ep", 1), ("new", 1)])
    assert not table.current([("ep", 1), ("new", 2)])
