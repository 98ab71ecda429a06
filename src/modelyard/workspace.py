"""The Python SDK over local state: the same actions as the CLI, as method calls."""

from __future__ import annotations

import getpass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelyard.data.datasets import DatasetChecks, DatasetService
from modelyard.deployments.service import EndpointService
from modelyard.domain.entities import DatasetVersion, Endpoint, ModelVersion, Run
from modelyard.domain.signature import Signature, example_row, infer_signature
from modelyard.errors import InvalidInputError
from modelyard.registry.service import RegistryService
from modelyard.settings import Settings
from modelyard.store.store import Store, open_store

if TYPE_CHECKING:
    from modelyard.training.service import TrainingService


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Workspace:
    """A handle on one modelyard home (or database + artifact store)."""

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store or open_store(self.settings)
        self.datasets = DatasetService(self.store)
        self.registry = RegistryService(self.store)
        self.endpoints = EndpointService(self.store, self.registry)
        self.actor = f"local:{_user()}"

    @cached_property
    def training(self) -> TrainingService:
        """Built on first use: it loads scikit-learn, which reading the registry doesn't need."""
        from modelyard.training.service import TrainingService

        return TrainingService(self.store, self.registry)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_dataset(self, source: str | Path | pd.DataFrame, name: str) -> DatasetVersion:
        """Version a CSV/Parquet file or a DataFrame under ``name``."""
        if isinstance(source, pd.DataFrame):
            return self.datasets.add_frame(source, name, actor=self.actor)
        return self.datasets.add_file(Path(source), name, actor=self.actor)

    def register_model(
        self,
        model: object,
        name: str,
        *,
        signature: Signature | None = None,
        input_example: pd.DataFrame | None = None,
        target_example: pd.Series | None = None,
        kind: str | None = None,
        flavor: str | None = None,
        metrics: dict[str, float] | None = None,
        trusted: bool = False,
    ) -> ModelVersion:
        """Register a fitted model; the signature is given or inferred from examples.

        Inference needs ``input_example`` plus ``target_example`` or ``kind``
        (``classification`` / ``regression``).
        """
        if signature is None:
            if input_example is None:
                raise InvalidInputError(
                    "give a signature or an input_example to infer it from",
                    field="signature",
                )
            signature = infer_signature(input_example, target_example, kind=kind)
        example = example_row(signature, input_example)
        return self.registry.register(
            model,
            name,
            signature=signature,
            flavor=flavor,
            metrics=metrics,
            example=example,
            trusted=trusted,
            actor=self.actor,
        )

    def train(
        self,
        dataset: str,
        target: str,
        model: str = "logistic_regression",
        name: str | None = None,
        seed: int = 0,
        *,
        checks: DatasetChecks | None = None,
        allow_failed_expectations: bool = False,
    ) -> tuple[Run, ModelVersion]:
        """Train ``model`` on the latest version of ``dataset``; with ``checks``, a
        version failing its expectations is refused unless ``allow_failed_expectations``."""
        return self.training.train(
            dataset=dataset,
            target=target,
            kind=model,
            name=name,
            seed=seed,
            actor=self.actor,
            checks=checks,
            allow_failed_expectations=allow_failed_expectations,
        )

    def promote(self, ref: str, to: str, reason: str = "") -> ModelVersion:
        return self.registry.promote(ref, to, reason=reason, actor=self.actor)

    def deploy(self, endpoint: str, model: str) -> Endpoint:
        """Point ``endpoint`` at ``NAME:VERSION`` (verified and warmed first)."""
        return self.endpoints.deploy(endpoint, model, actor=self.actor)

    def model(self, ref: str) -> ModelVersion:
        return self.registry.get(ref)

    def models(self) -> list[dict[str, Any]]:
        return self.registry.list_models()
