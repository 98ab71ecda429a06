"""Spec-driven training: modelyard.yaml → run (recorded, reproducible) → gated version.

With a ``search`` section every search trial is recorded as a *child run* of the
training run. The runs table has no parent column, so the link lives in the child's
``params``: ``parent_run_id`` (plus ``candidate``, ``trial``, ``state``, the sampled
``search_params``, ``cv_folds``, ``metric`` and ``rows_sha256``, the digest of the
training-row ids the trial fitted and scored on); its ``metrics`` hold ``cv_<metric>``.
Children have ``kind`` ``trial:<candidate>`` and status ``finished`` or ``failed``.
The parent's ``params["search"]`` summarises each candidate's search.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import uuid
from pathlib import Path
from typing import Any

from modelyard.data.datasets import DatasetChecks, DatasetService, expectations_for_training
from modelyard.data.profile import profile_frame
from modelyard.domain.entities import ModelVersion, Run
from modelyard.domain.refs import check_name
from modelyard.domain.signature import example_row, infer_signature
from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.registry.service import RegistryService
from modelyard.spec import ProjectSpec, load_spec, loads_spec, spec_hash
from modelyard.store.orm import RunRow
from modelyard.store.repositories.datasets import DatasetRepository
from modelyard.store.repositories.runs import RunRepository
from modelyard.store.store import Store
from modelyard.training.pipeline import run_spec
from modelyard.training.provenance import code_version
from modelyard.training.reproduce import compare_metrics
from modelyard.training.search import CandidateSearch

PACKAGES = (
    "modelyard",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "lightgbm",
    "xgboost",
    "optuna",
)
#: Where a search-trial run names its training run (the runs table has no parent column).
PARENT_PARAM = "parent_run_id"
TRIAL_KIND_PREFIX = "trial:"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def flat_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Holdout point estimates as ``{metric: value}`` (CIs live in the stored report)."""
    out: dict[str, float] = {}
    for name, estimate in result["metrics"].items():
        value = estimate.get("value") if isinstance(estimate, dict) else estimate
        if isinstance(value, int | float):
            out[name] = float(value)
    return out


class SpecTrainingService:
    def __init__(self, store: Store, registry: RegistryService | None = None) -> None:
        self.store = store
        self.registry = registry or RegistryService(store)
        self.datasets = DatasetService(store)

    def train(
        self,
        spec_path: Path,
        *,
        name: str | None = None,
        actor: str = "local",
        allow_failed_expectations: bool = False,
    ) -> tuple[Run, ModelVersion, dict[str, Any]]:
        """Run the spec, record the run and its report, register the chosen model.

        A dataset version that fails the spec's ``expectations`` is refused before
        anything is fitted or stored (InvalidInputError naming the violations), unless
        ``allow_failed_expectations``: then the run's ``params["expectations"]`` and the
        report record ``overridden: true``.
        """
        spec_text = Path(spec_path).read_text(encoding="utf-8")
        spec = load_spec(spec_path)
        # the code version is that of the project holding the spec (git sha, dirty flag)
        code_dir = Path(spec_path).resolve().parent
        return self._train(
            spec,
            spec_text,
            name=name,
            actor=actor,
            code_dir=code_dir,
            source=str(spec_path),
            allow_failed_expectations=allow_failed_expectations,
        )

    def _train(
        self,
        spec: ProjectSpec,
        spec_text: str,
        *,
        name: str | None,
        actor: str,
        code_dir: Path | None = None,
        source: str | None = None,
        allow_failed_expectations: bool = False,
    ) -> tuple[Run, ModelVersion, dict[str, Any]]:
        model_name = check_name(name or spec.data.dataset, what="model")
        dv, frame = self.datasets.load_frame(spec.data.dataset, spec.data.version)
        expectations = expectations_for_training(
            dv,
            frame,
            DatasetChecks(expectations=spec.expectations, source=source),
            allow_failed=allow_failed_expectations,
        )
        reference = self._production_reference(model_name)
        result = run_spec(spec, frame, production=reference["metrics"] if reference else None)
        report = result.to_dict()
        report["dataset"] = {
            "name": dv.dataset,
            "version": dv.version,
            "digest": dv.digest,
            "rows": dv.row_count,
        }
        report["production_reference"] = (
            {k: v for k, v in reference.items() if k != "metrics"} if reference else None
        )
        if expectations is not None:
            report["expectations"] = expectations
        # The training rows' profile: the drift reference of the version (stored apart).
        profile = profile_frame(
            result.train_features.assign(**{result.target: result.train_target.to_numpy()}),
            target=result.target,
        )
        profile_digest = self.store.artifacts.put_bytes(
            json.dumps(profile, sort_keys=True, default=str).encode()
        )
        report_digest = self.store.artifacts.put_bytes(
            json.dumps(report, sort_keys=True, default=str).encode()
        )
        spec_digest = self.store.artifacts.put_bytes(spec_text.encode())
        run_id = uuid.uuid4().hex
        version_of_code = code_version(code_dir)
        holdout_ids = json.dumps(sorted(map(str, result.holdout_ids))).encode()
        params: dict[str, Any] = {
            "spec_hash": spec_hash(spec),
            "spec_digest": spec_digest,
            "report_digest": report_digest,
            "training_profile_digest": profile_digest,
            "candidate": result.best_candidate,
            "seeds": result.seeds,
            "packages": package_versions(),
            "pii_columns": sorted(
                f.name for f in spec.features if f.pii and f.name in result.feature_columns
            ),
            "gates_passed": result.gates_passed,
            "gate_results": result.gate_results,
            "holdout_ids_sha256": hashlib.sha256(holdout_ids).hexdigest(),
            "holdout_excluded": result.holdout_excluded,
            "durations": result.durations,
            **{f"model.{k}": v for k, v in report["params"].items() if _scalar(v)},
        }
        if result.search:
            params["search"] = [_search_summary(s) for s in result.search]
        if expectations is not None:
            params["expectations"] = expectations
        metrics = flat_metrics(report)
        with self.store.session() as session:
            dv_row = DatasetRepository(session).version_row(dv.dataset, dv.version)
            RunRepository(session).add(
                RunRow(
                    id=run_id,
                    kind=f"spec:{result.best_candidate}",
                    status="finished",
                    seed=result.best_seed,
                    params=params,
                    metrics=metrics,
                    code_version=version_of_code,
                    dataset_version_id=dv_row.id,
                    duration_s=float(result.durations.get("total_s", 0.0) or 0.0),
                )
            )
            for search in result.search:
                for row in _trial_rows(search, run_id, version_of_code, dv_row.id):
                    RunRepository(session).add(row)
        signature = infer_signature(
            result.train_features,
            result.train_target,
            kind="regression" if result.task == "regression" else "classification",
        )
        try:
            version = self.registry.register(
                result.model,
                model_name,
                signature=signature,
                flavor=result.flavor,
                metrics=metrics,
                run_id=run_id,
                dataset=(dv.dataset, dv.version),
                code_version=version_of_code,
                example=example_row(signature, result.train_features),
                actor=actor,
            )
        except Exception as exc:
            # registration is all-or-nothing; the run stays, marked failed with the cause
            self._mark_failed(run_id, exc)
            raise
        with self.store.session() as session:
            run = RunRepository(session).get(run_id)
        return run, version, report

    def _mark_failed(self, run_id: str, exc: Exception) -> None:
        message = getattr(exc, "message", None) or str(exc)
        with self.store.session() as session:
            row = session.get(RunRow, run_id)
            if row is not None:
                row.status = "failed"
                row.params = {**row.params, "error": f"{type(exc).__name__}: {message}"[:2000]}

    def _production_reference(self, model_name: str) -> dict[str, Any] | None:
        """What ``beats: production`` gates compare against, or None (nothing in production).

        The production version's gate metrics when it was trained from a spec, else its
        registered holdout metrics (point values only; no fairness or latency).
        """
        try:
            production = self.registry.get(f"{model_name}:production")
        except NotFoundError:
            return None
        report = self.report_for_version(production)
        if report and report.get("gate_metrics"):
            source, metrics = "evaluation report", dict(report["gate_metrics"])
        else:
            source, metrics = "registered metrics", dict(production.metrics)
        return {"ref": production.ref, "source": source, "metrics": metrics}

    def training_profile(self, run_id: str) -> dict[str, Any]:
        """The stored profile of a spec run's training rows (its drift reference)."""
        _, data = self._run_artifact(
            run_id, "training_profile_digest", "has no stored training profile"
        )
        profile: dict[str, Any] = json.loads(data)
        return profile

    def report(self, run_id: str) -> dict[str, Any]:
        _, data = self._run_artifact(run_id, "report_digest", "has no evaluation report")
        report: dict[str, Any] = json.loads(data)
        return report

    def _run_artifact(self, run_id: str, param: str, missing: str) -> tuple[Run, bytes]:
        """The run and the artifact its ``param`` names; a clear error for a run that
        was not trained from a spec (it has no such artifact)."""
        with self.store.session() as session:
            run = RunRepository(session).get(run_id)
        digest = run.params.get(param)
        parent = run.params.get(PARENT_PARAM)
        if not digest and parent:
            raise InvalidInputError(
                f"run {run_id} is search trial {run.params.get('trial')} of run {parent}; "
                "use the parent run",
                field="run",
            )
        if not digest:
            raise InvalidInputError(
                f"run {run_id} {missing} (it was not trained from a spec)", field="run"
            )
        return run, self.store.artifacts.get_bytes(str(digest))

    def report_for_version(self, version: ModelVersion) -> dict[str, Any] | None:
        if version.run_id is None:
            return None
        try:
            return self.report(version.run_id)
        except InvalidInputError:
            return None

    def reproduce(self, run_id: str, *, tolerance: float = 1e-6) -> dict[str, Any]:
        """Re-run a run's exact spec on its dataset version; compare holdout metrics."""
        run, text = self._run_artifact(run_id, "spec_digest", "has no stored spec")
        spec = loads_spec(text.decode())
        pinned = spec.model_copy(
            update={"data": spec.data.model_copy(update={"version": run.dataset_version})}
        )
        result = run_spec(
            pinned, self.datasets.load_frame(pinned.data.dataset, pinned.data.version)[1]
        )
        rerun = flat_metrics(result.to_dict())
        report = compare_metrics(run.metrics, rerun, tolerance)
        return {
            "run": run_id,
            "matched": report.matched,
            "tolerance": tolerance,
            "diffs": {k: list(v) for k, v in report.diffs.items()},
            "original": run.metrics,
            "rerun": rerun,
        }


def _search_summary(search: CandidateSearch) -> dict[str, Any]:
    data = search.to_dict()
    data.pop("trials")
    return data


def _trial_rows(
    search: CandidateSearch, parent_id: str, code: str, dataset_version_id: int
) -> list[RunRow]:
    """One child run per trial of ``search``, linked to ``parent_id`` in its params."""
    rows = []
    for trial in search.trials:
        record = trial.to_dict()
        rows.append(
            RunRow(
                id=uuid.uuid4().hex,
                kind=f"{TRIAL_KIND_PREFIX}{search.candidate}"[:64],
                status="finished" if trial.state == "complete" else "failed",
                seed=search.seed,
                params={
                    PARENT_PARAM: parent_id,
                    "candidate": search.candidate,
                    "trial": trial.number,
                    "state": trial.state,
                    "best": trial.number == search.best_trial,
                    "search_params": record["params"],
                    "metric": search.metric,
                    "direction": search.direction,
                    "cv_folds": search.cv_folds,
                    "fold_scores": record["fold_scores"],
                    "rows_sha256": trial.rows_sha256,
                    "n_rows": trial.n_rows,
                    "holdout_excluded": True,
                    "error": trial.error,
                },
                metrics={} if trial.score is None else {f"cv_{search.metric}": trial.score},
                code_version=code,
                dataset_version_id=dataset_version_id,
                duration_s=trial.duration_s,
            )
        )
    return rows


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
