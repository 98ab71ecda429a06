"""The training workflow: dataset version → run → registered model version."""

from __future__ import annotations

import uuid

from modelyard.data.datasets import DatasetChecks, DatasetService, expectations_for_training
from modelyard.domain.entities import ModelVersion, Run
from modelyard.domain.refs import check_name
from modelyard.domain.signature import example_row, infer_signature
from modelyard.registry.service import RegistryService
from modelyard.store.orm import RunRow
from modelyard.store.repositories.datasets import DatasetRepository
from modelyard.store.repositories.runs import RunRepository
from modelyard.store.store import Store
from modelyard.training.provenance import code_version
from modelyard.training.spec_service import PARENT_PARAM
from modelyard.training.trainer import train_model


class TrainingService:
    def __init__(self, store: Store, registry: RegistryService | None = None) -> None:
        self.store = store
        self.registry = registry or RegistryService(store)
        self.datasets = DatasetService(store)

    def train(
        self,
        *,
        dataset: str,
        target: str,
        kind: str,
        name: str | None = None,
        dataset_version: int | None = None,
        seed: int = 0,
        test_size: float = 0.2,
        actor: str = "local",
        checks: DatasetChecks | None = None,
        allow_failed_expectations: bool = False,
    ) -> tuple[Run, ModelVersion]:
        """Train on a dataset version, record the run, register the model as a candidate.

        With ``checks`` holding expectations, a version that fails them is refused
        before fitting, as spec training refuses it (see
        :func:`~modelyard.data.datasets.expectations_for_training`).
        """
        model_name = check_name(name or dataset, what="model")
        dv, frame = self.datasets.load_frame(dataset, dataset_version)
        expectations = expectations_for_training(
            dv, frame, checks or DatasetChecks(), allow_failed=allow_failed_expectations
        )
        result = train_model(frame, target=target, kind=kind, seed=seed, test_size=test_size)
        params = dict(result.params)
        if expectations is not None:
            params["expectations"] = expectations
        signature = infer_signature(result.train_frame_features, result.target, kind=result.task)
        version_of_code = code_version()
        run_id = uuid.uuid4().hex
        with self.store.session() as session:
            dv_row = DatasetRepository(session).version_row(dv.dataset, dv.version)
            RunRepository(session).add(
                RunRow(
                    id=run_id,
                    kind=kind,
                    status="finished",
                    seed=seed,
                    params=params,
                    metrics=result.metrics,
                    code_version=version_of_code,
                    dataset_version_id=dv_row.id,
                    duration_s=result.duration_s,
                )
            )
        version = self.registry.register(
            result.model,
            model_name,
            signature=signature,
            flavor=result.flavor,
            metrics=result.metrics,
            run_id=run_id,
            dataset=(dv.dataset, dv.version),
            code_version=version_of_code,
            example=example_row(signature, result.train_frame_features),
            actor=actor,
        )
        return self.get_run(run_id), version

    def get_run(self, run_id: str) -> Run:
        with self.store.session() as session:
            return RunRepository(session).get(run_id)

    def list_runs(self) -> list[Run]:
        with self.store.session() as session:
            return RunRepository(session).list()

    def trials_of(self, run_id: str) -> list[Run]:
        """The search-trial child runs of ``run_id``, by candidate and trial number."""
        runs = self.list_runs()
        parent = next((r for r in runs if r.id == run_id), None)
        trials = [r for r in runs if parent_of(r) == run_id]
        return sort_trials(parent, trials)


def sort_trials(parent: Run | None, trials: list[Run]) -> list[Run]:
    """``trials`` in the parent's candidate order (its ``params["search"]``), then by number."""
    summary = parent.params.get("search") if parent is not None else None
    order = [s.get("candidate") for s in summary if isinstance(s, dict)] if summary else []

    def key(run: Run) -> tuple[int, str, int]:
        candidate = run.params.get("candidate")
        rank = order.index(candidate) if candidate in order else len(order)
        return rank, str(candidate), trial_number(run)

    return sorted(trials, key=key)


def parent_of(run: Run) -> str | None:
    """The training run a search-trial run belongs to (``None``: not a trial)."""
    parent = run.params.get(PARENT_PARAM)
    return parent if isinstance(parent, str) else None


def trial_number(run: Run) -> int:
    """A search-trial run's trial number (-1 for other runs)."""
    number = run.params.get("trial")
    return number if isinstance(number, int) else -1
