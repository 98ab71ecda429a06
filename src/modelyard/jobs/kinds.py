"""What each job kind checks when it is submitted and does when it runs.

``resolve`` runs at submission, in the caller's process: it checks that the named
dataset, model or endpoint exists and pins ``NAME`` / ``NAME:latest`` / a stage to the
version it names now, so a retried job works on the same inputs. Nothing is stored
when it raises. ``execute`` runs in the worker child and calls the same services the
CLI uses; the job's submitter is the actor of everything it records.

The heavy stacks (pandas, scikit-learn, ONNX) are imported inside the functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from modelyard.domain.jobs import Job, JobKind
from modelyard.domain.refs import parse_dataset_ref, parse_model_ref
from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.settings import Settings
from modelyard.store.repositories.datasets import DatasetRepository
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.models import ModelRepository
from modelyard.store.repositories.models import to_entity as to_model
from modelyard.store.store import Store

if TYPE_CHECKING:
    from modelyard.data.datasets import DatasetChecks

#: Column of a batch prediction output holding each row's prediction.
PREDICTION_COLUMN = "prediction"
PROBABILITY_PREFIX = "probability_"


@contextlib.contextmanager
def _param(name: str) -> Iterator[None]:
    """Report a missing or invalid reference as bad input naming ``params.<name>``."""
    try:
        yield
    except (NotFoundError, InvalidInputError) as exc:
        raise InvalidInputError(f"params.{name}: {exc.message}", field=f"params.{name}") from None


def resolve(store: Store, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
    """Validated ``params`` with references checked and pinned (see the module docstring).

    Only the metadata store is read, so submitting loads no data or ML library.
    """
    out = dict(params)
    with store.session() as session:
        if "dataset" in out:
            with _param("dataset"):
                name, number = parse_dataset_ref(out["dataset"])
                row = DatasetRepository(session).version_row(name, number)
                out["dataset"] = f"{name}:{row.version}"
            columns = [str(c["name"]) for c in row.columns]
            if kind is JobKind.TRAIN and out["target"] not in columns:
                raise InvalidInputError(
                    f"params.target: column {out['target']!r} is not in dataset "
                    f"{out['dataset']} (columns: {', '.join(columns)})",
                    field="params.target",
                )
        if "model" in out and kind is not JobKind.TRAIN:
            with _param("model"):
                ref = parse_model_ref(out["model"])
                out["model"] = to_model(ModelRepository(session).resolve(ref)).ref
        if kind is JobKind.DRIFT_REPORT:
            with _param("endpoint"):
                EndpointRepository(session).get(out["endpoint"])
    return out


# --------------------------------------------------------------------------- execution


def _spec_checks(settings: Settings, dataset: str) -> DatasetChecks:
    """The expectations of the server's spec file for ``dataset`` (as dataset uploads
    are checked), if the server runs with one."""
    from modelyard.data.datasets import DatasetChecks
    from modelyard.spec import load_spec

    spec_file = settings.spec_file
    if spec_file is None or not spec_file.exists():
        return DatasetChecks()
    return DatasetChecks.from_spec(load_spec(spec_file), dataset, source=spec_file.name)


def _train(store: Store, settings: Settings, job: Job) -> dict[str, Any]:
    from modelyard.training.service import TrainingService

    params = job.params
    name, version = parse_dataset_ref(params["dataset"])
    run, model = TrainingService(store).train(
        dataset=name,
        dataset_version=version,
        target=params["target"],
        kind=params["model"],
        name=params.get("name"),
        seed=params["seed"],
        actor=job.created_by,
        checks=_spec_checks(settings, name),
    )
    return {
        "run_id": run.id,
        "model": model.ref,
        "stage": model.stage,
        "dataset": f"{run.dataset}:{run.dataset_version}",
        "metrics": model.metrics,
        "duration_s": run.duration_s,
    }


def _compile(store: Store, settings: Settings, job: Job) -> dict[str, Any]:
    from modelyard.registry.compile import CompileService

    params = job.params
    version, report = CompileService(store).compile(
        params["model"], actor=job.created_by, max_rows=params["rows"], atol=params["tolerance"]
    )
    return {
        "model": version.ref,
        "verified": bool(report["passed"]),
        "compiled_digest": version.compiled_digest,
        "report": report,
    }


def _batch_predict(store: Store, settings: Settings, job: Job) -> dict[str, Any]:
    """Score every row with the model as serving loads it (verified artifact, compiled
    form when ``use_compiled``, warm-up, signature validation), ``chunk_rows`` at a
    time, and store the rows with their predictions as a new dataset version."""
    import pandas as pd

    from modelyard.data.datasets import DatasetService
    from modelyard.deployments.service import warm
    from modelyard.registry.service import RegistryService

    params = job.params
    registry = RegistryService(store)
    version, loaded = registry.load(params["model"], prefer_compiled=settings.use_compiled)
    warm(version, loaded)
    datasets = DatasetService(store)
    name, number = parse_dataset_ref(params["dataset"])
    source, frame = datasets.load_frame(name, number)
    inputs = [c["name"] for c in version.signature["inputs"]]
    taken = [
        c for c in frame.columns if c == PREDICTION_COLUMN or str(c).startswith(PROBABILITY_PREFIX)
    ]
    if taken:
        raise InvalidInputError(
            f"dataset {source.ref} already has a column {taken[0]!r}; batch_predict adds "
            f"{PREDICTION_COLUMN!r} and {PROBABILITY_PREFIX}<class> columns",
            field="params.dataset",
        )
    features = frame[[c for c in frame.columns if c in set(inputs)]]
    chunk = int(params["chunk_rows"])
    predictions: list[Any] = []
    probabilities: list[dict[str, float]] = []
    chunks = 0
    for start in range(0, len(frame), chunk):
        # predict() validates each chunk against the signature, naming a bad column.
        result = loaded.predict(features.iloc[start : start + chunk])
        predictions.extend(result.predictions)
        if result.probabilities is not None:
            probabilities.extend(result.probabilities)
        chunks += 1
    out = frame.copy()
    out[PREDICTION_COLUMN] = predictions
    if probabilities:
        classes = list(probabilities[0])
        for label in classes:
            out[f"{PROBABILITY_PREFIX}{label}"] = pd.Series(
                [row.get(label) for row in probabilities], index=out.index, dtype="float64"
            )
    stored = datasets.add_frame(out, params["output"], actor=job.created_by)
    return {
        "model": version.ref,
        "dataset": source.ref,
        "output": stored.ref,
        "rows": len(out),
        "chunks": chunks,
        "columns": [str(c) for c in out.columns],
    }


def _drift_report(store: Store, settings: Settings, job: Job) -> dict[str, Any]:
    """The HTML drift report of ``monitor report``, stored as an artifact (by digest)."""
    from modelyard.monitoring.alerting import load_monitoring_config
    from modelyard.monitoring.drift_service import DriftService
    from modelyard.monitoring.shipper import ship_pending
    from modelyard.store.artifacts.local import LocalArtifactStore

    endpoint, window = job.params["endpoint"], job.params["window"]
    if settings.prediction_log:
        ship_pending(store, settings.resolved_spool_dir)  # records spooled but not shipped yet
    service = DriftService(store, config=load_monitoring_config(settings).drift)
    version, report, html = service.html_report(endpoint, window)
    page = html.encode("utf-8")
    digest = store.artifacts.put_bytes(page)
    location: dict[str, Any] = {
        "artifact": f"sha256:{digest}",
        "digest": digest,
        "bytes": len(page),
        "media_type": "text/html",
    }
    if isinstance(store.artifacts, LocalArtifactStore):
        location["path"] = str(store.artifacts.path_for(digest))
    return {
        "endpoint": endpoint,
        "model": version.ref,
        "window": window,
        "window_rows": report.n_cur,
        "verdict": report.status,
        "drivers": list(report.drivers),
        "report": location,
    }


EXECUTORS: dict[JobKind, Callable[[Store, Settings, Job], dict[str, Any]]] = {
    JobKind.TRAIN: _train,
    JobKind.COMPILE: _compile,
    JobKind.BATCH_PREDICT: _batch_predict,
    JobKind.DRIFT_REPORT: _drift_report,
}


def execute(store: Store, settings: Settings, job: Job) -> dict[str, Any]:
    """Run ``job`` and return its result (JSON-able); raises what its service raises."""
    return EXECUTORS[JobKind(job.kind)](store, settings, job)
