from __future__ import annotations

import pandas as pd
import pytest

from helpers import corrupt_model, fitted_logreg
from modelyard.errors import InvalidInputError, ModelLoadError, NotFoundError
from modelyard.registry.service import RegistryService
from modelyard.store.store import Store


def test_register_versions_and_load(store: Store) -> None:
    registry = RegistryService(store)
    model, x, signature = fitted_logreg()
    v1 = registry.register(model, "churn", signature=signature, metrics={"auc": 0.9})
    v2 = registry.register(model, "churn", signature=signature)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.flavor == "sklearn"
    assert v1.stage == "candidate"
    assert len(v1.artifact_digest) == 64
    assert v1.signature["inputs"][0] == {"name": "x1", "type": "float", "nullable": False}
    assert [t.to_stage for t in v1.transitions] == ["candidate"]
    version, loaded = registry.load("churn:1")
    assert version.metrics == {"auc": 0.9}
    assert loaded.predict(x.head(5)).predictions == model.predict(x.head(5)).tolist()
    assert registry.get("churn").version == 2
    assert registry.get("churn:latest").version == 2


def test_promote_records_history_and_archives_previous(store: Store) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    registry.register(model, "m", signature=signature)
    registry.register(model, "m", signature=signature)
    registry.promote("m:1", "production", reason="first")
    promoted = registry.promote("m:2", "production", reason="better")
    assert promoted.stage == "production"
    first = registry.get("m:1")
    assert first.stage == "archived"
    assert [(t.from_stage, t.to_stage) for t in first.transitions] == [
        (None, "candidate"),
        ("candidate", "production"),
        ("production", "archived"),
    ]
    assert registry.get("m:production").version == 2
    summary = registry.list_models()
    assert summary[0]["stages"]["production"] == [2]


@pytest.mark.parametrize(
    ("ref", "stage", "error"),
    [
        ("m:1", "prod", InvalidInputError),
        ("m:9", "staging", NotFoundError),
        ("nope:1", "staging", NotFoundError),
        ("m", "staging", InvalidInputError),
        ("m:1", "candidate", InvalidInputError),
    ],
)
def test_bad_promotions_change_nothing(store: Store, ref: str, stage: str, error: type) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    registry.register(model, "m", signature=signature)
    with pytest.raises(error):
        registry.promote(ref, stage)
    assert registry.get("m:1").stage == "candidate"
    assert len(registry.get("m:1").transitions) == 1


def test_corrupted_artifact_refuses_to_load(store: Store) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    version = registry.register(model, "m", signature=signature)
    corrupt_model(store, version.artifact_digest)
    with pytest.raises(ModelLoadError, match="corrupted"):
        registry.load("m:1")


def test_failed_registration_leaves_nothing(store: Store) -> None:
    registry = RegistryService(store)
    model, _, signature = fitted_logreg()
    with pytest.raises(InvalidInputError):
        registry.register(pd.DataFrame(), "m", signature=signature)
    with pytest.raises(InvalidInputError):
        registry.register(model, "bad name!", signature=signature)
    assert registry.list_models() == []
