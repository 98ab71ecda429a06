"""Drift of an endpoint's live traffic against its model version's training data.

The reference of a model version is built from the rows its training run fitted on,
never from rows it was evaluated on:

* a spec run (``modelyard train``) recorded its split in the stored evaluation report;
  the split is recomputed on the run's dataset version and accepted only when the
  digests of its training and holdout row ids match the recorded ones, so the
  reference is exactly the rows behind the run's stored training profile (holdout and
  validation rows excluded). If the split cannot be reproduced, the recorded holdout
  ids are dropped instead (validation rows then stay in);
* a quick run (``modelyard train --dataset``) recorded its seed and test size; its
  training rows are recomputed the same way and checked against the recorded count;
* otherwise -- a model registered from a file with dataset lineage but no run, or a
  run whose split no longer matches the data -- the whole dataset version is used,
  and the report says so (``reference.note``, also the last of ``reasons``).

:meth:`DriftService.summary` reports which rows were used under ``reference``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from modelyard.data.datasets import DatasetService
from modelyard.domain.drift import DriftConfig, DriftReference, DriftReport, detect_drift
from modelyard.domain.entities import ModelVersion, Run
from modelyard.domain.refs import check_name
from modelyard.domain.signature import to_json_scalar
from modelyard.domain.windows import parse_window
from modelyard.errors import InvalidInputError, ModelyardError
from modelyard.registry.service import RegistryService
from modelyard.runtime.base import LoadedModel
from modelyard.store.orm import PredictionRow
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.repositories.runs import RunRepository
from modelyard.store.store import Store
from modelyard.training.splits import holdout_split, ids_digest, row_ids, train_test_split_frame

PREDICTION = "__prediction__"
REFERENCE_ROWS = 20_000
_NUMERIC = {"integer", "float"}


def _categorical(version: ModelVersion) -> list[str]:
    return [c["name"] for c in version.signature["inputs"] if c["type"] not in _NUMERIC]


def window_frame(records: list[PredictionRow], version: ModelVersion) -> pd.DataFrame:
    """Logged rows of the window as a frame of the signature's columns plus predictions."""
    columns = [c["name"] for c in version.signature["inputs"]]
    rows: list[dict[str, Any]] = []
    for record in records:
        predictions = record.outputs.get("predictions", [])
        for i, row in enumerate(record.inputs):
            if isinstance(row, dict):
                rows.append({**row, PREDICTION: predictions[i] if i < len(predictions) else None})
    frame = pd.DataFrame(rows, columns=[*columns, PREDICTION])
    return _typed(frame, version)


def _typed(frame: pd.DataFrame, version: ModelVersion) -> pd.DataFrame:
    for col in version.signature["inputs"]:
        name = col["name"]
        if col["type"] in _NUMERIC:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        else:
            frame[name] = frame[name].astype(object)
    if version.signature["output"]["kind"] == "classification":
        frame[PREDICTION] = (
            frame[PREDICTION].astype(object).map(lambda v: None if v is None else str(v))
        )
    else:
        frame[PREDICTION] = pd.to_numeric(frame[PREDICTION], errors="coerce").astype(float)
    return frame


def prediction_sensitivity(model: LoadedModel, sample: pd.DataFrame) -> dict[str, float]:
    """Model-agnostic importance: how much predictions change when one column is shuffled.

    Drift in a column the model leans on matters more than drift in one it ignores;
    these weights feed the endpoint-level verdict.
    """
    base = model.predict(sample)
    rng = np.random.default_rng(0)
    scores: dict[str, float] = {}
    for column in sample.columns:
        shuffled = sample.copy()
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
        moved = model.predict(shuffled)
        if base.probabilities is not None and moved.probabilities is not None:
            change = float(
                np.mean(
                    [
                        sum(abs(a[k] - b.get(k, 0.0)) for k in a)
                        for a, b in zip(base.probabilities, moved.probabilities, strict=True)
                    ]
                )
            )
        else:
            before = np.asarray(base.predictions, dtype=float)
            after = np.asarray(moved.predictions, dtype=float)
            spread = float(np.std(before)) or 1.0
            change = float(np.mean(np.abs(after - before))) / spread
        scores[str(column)] = float(change)
    total = sum(scores.values())
    if total <= 0:
        return {c: 1.0 for c in scores}
    return {c: v / total for c, v in scores.items()}


TRAINING_ROWS = "training_rows"
DATASET_VERSION = "dataset_version"


@dataclass(frozen=True)
class ReferenceSource:
    """Which rows a version's drift reference was built from (see the module docstring).

    ``kind`` is :data:`TRAINING_ROWS` or :data:`DATASET_VERSION` (the fallback);
    ``n_rows`` rows of ``dataset`` were used (before sampling to
    :data:`REFERENCE_ROWS`) and ``n_excluded`` left out.
    """

    kind: str
    dataset: str
    run_id: str | None
    n_rows: int
    n_excluded: int
    note: str

    @property
    def is_fallback(self) -> bool:
        """True when the reference is the whole dataset version, not training rows."""
        return self.kind == DATASET_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "source": self.kind,
            "dataset": self.dataset,
            "run": self.run_id,
            "rows": self.n_rows,
            "excluded_rows": self.n_excluded,
            "note": self.note,
        }


class TrainingRowsError(Exception):
    """A run's records do not identify its training rows (the reference falls back)."""


def training_rows(
    frame: pd.DataFrame, run: Run, report: dict[str, Any] | None
) -> tuple[pd.DataFrame, str]:
    """The rows of ``frame`` (the run's dataset version) that ``run`` trained on.

    ``report`` is a spec run's stored evaluation report (None for a quick run). Returns
    the rows and a sentence saying how they were found; raises :class:`TrainingRowsError`
    when the run's records do not identify them.
    """
    if report is not None:
        return _spec_training_rows(frame, run, report)
    params = run.params
    if not {"target", "test_size", "seed"} <= set(params):
        raise TrainingRowsError(f"run {run.id} recorded no split")
    try:
        train, _ = train_test_split_frame(
            frame,
            str(params["target"]),
            test_size=float(params["test_size"]),
            seed=int(params["seed"]),
            stratify=params.get("task") == "classification",
        )
    except (ModelyardError, KeyError, TypeError, ValueError) as exc:
        raise TrainingRowsError(f"run {run.id}'s split cannot be recomputed: {exc}") from None
    if params.get("n_train") is not None and int(params["n_train"]) != len(train):
        raise TrainingRowsError(
            f"run {run.id} trained on {params['n_train']} rows, its recomputed split has "
            f"{len(train)}"
        )
    return train, (
        f"the {len(train)} training rows of run {run.id} (its recorded seed and test size); "
        f"the {len(frame) - len(train)} test rows are excluded"
    )


def _spec_training_rows(
    frame: pd.DataFrame, run: Run, report: dict[str, Any]
) -> tuple[pd.DataFrame, str]:
    try:
        held = report["holdout"]
        id_column = None if held["id_source"] == "index" else str(held["id_source"])
        grouped = held["strategy"] == "group" and held["column"] == id_column
        ids = row_ids(frame, id_column, allow_duplicates=grouped)
        parts = holdout_split(
            frame,
            strategy=held["strategy"],
            target=report["target"],
            holdout=float(held["fraction"]),
            validation=held["validation_fraction"],
            column=held["column"],
            seed=int(held["split_seed"]),
        )
    except (ModelyardError, KeyError, TypeError, ValueError) as exc:
        raise TrainingRowsError(f"run {run.id}'s split cannot be recomputed: {exc}") from None
    if (
        ids_digest(ids[parts.train]) == held["train_ids_sha256"]
        and ids_digest(ids[parts.holdout]) == held["ids_sha256"]
    ):
        n_out = len(frame) - len(parts.train)
        return frame.iloc[parts.train], (
            f"the {len(parts.train)} training rows of run {run.id}, the rows of its stored "
            f"training profile; {n_out} holdout and validation rows are excluded"
        )
    # The split did not reproduce (e.g. another library version): drop the recorded
    # holdout ids, which the report lists exactly.
    recorded = {json.dumps(v, default=str) for v in held.get("ids", [])}
    keys = [json.dumps(to_json_scalar(v), default=str) for v in ids]
    in_holdout = np.fromiter((k in recorded for k in keys), dtype=bool, count=len(keys))
    if (
        int(in_holdout.sum()) != int(held["n_holdout"])
        or ids_digest(ids[in_holdout]) != held["ids_sha256"]
    ):
        raise TrainingRowsError(
            f"the holdout ids recorded by run {run.id} do not match the rows of its dataset"
        )
    return frame[~in_holdout], (
        f"the rows of run {run.id}'s dataset minus its {int(in_holdout.sum())} recorded "
        "holdout rows (its split could not be reproduced exactly, so validation rows are "
        "included)"
    )


class DriftService:
    """Builds (and caches) references per model version and scores windows against them."""

    def __init__(
        self,
        store: Store,
        registry: RegistryService | None = None,
        config: DriftConfig | None = None,
    ) -> None:
        self.store = store
        self.registry = registry or RegistryService(store)
        self.config = config or DriftConfig()
        self._references: OrderedDict[
            str, tuple[DriftReference, dict[str, float], pd.DataFrame, ReferenceSource]
        ] = OrderedDict()

    def reference(
        self, version: ModelVersion, exclude: tuple[str, ...] = ()
    ) -> tuple[DriftReference, dict[str, float]]:
        """The version's drift reference and how much each input moves its predictions."""
        reference, importance, _, _ = self._build(version, exclude)
        return reference, importance

    def reference_source(
        self, version: ModelVersion, exclude: tuple[str, ...] = ()
    ) -> ReferenceSource:
        """Which rows the version's reference was built from."""
        return self._build(version, exclude)[3]

    def reference_frame(self, version: ModelVersion, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
        """The typed reference sample (inputs plus predictions) behind the reference."""
        return self._build(version, exclude)[2]

    def _build(
        self, version: ModelVersion, exclude: tuple[str, ...] = ()
    ) -> tuple[DriftReference, dict[str, float], pd.DataFrame, ReferenceSource]:
        """Reference sample, its profile and sensitivities; ``exclude`` drops PII columns."""
        cache_key = f"{version.ref}|{','.join(sorted(exclude))}"
        cached = self._references.get(cache_key)
        if cached is not None:
            return cached
        data, source = self._reference_rows(version)
        columns = [c["name"] for c in version.signature["inputs"]]
        sample = data[columns]
        if len(sample) > REFERENCE_ROWS:
            sample = sample.sample(n=REFERENCE_ROWS, random_state=0)
        sample = sample.reset_index(drop=True)
        _, model = self.registry.load(version, prefer_compiled=True)
        importance = prediction_sensitivity(model, sample.head(2000))
        sample[PREDICTION] = model.predict(sample).predictions
        typed = _typed(sample, version).drop(columns=list(exclude))
        importance = {k: v for k, v in importance.items() if k not in exclude}
        categorical = [c for c in _categorical(version) if c not in exclude]
        reference = DriftReference.from_frame(typed, categorical=categorical, prediction=PREDICTION)
        built = (reference, importance, typed, source)
        self._references[cache_key] = built
        while len(self._references) > 16:
            self._references.popitem(last=False)
        return built

    def _reference_rows(self, version: ModelVersion) -> tuple[pd.DataFrame, ReferenceSource]:
        """The training rows of the version's run, else its whole dataset version."""
        if version.dataset is None or version.dataset_version is None:
            raise InvalidInputError(
                f"no drift reference for {version.ref}: it has no training dataset lineage. "
                "Train it with `modelyard train` (which records the dataset) or register it "
                "with Workspace.register_model(..., dataset=(name, version)); or call "
                "modelyard.drift_report(reference_df, window_df) yourself",
                field="reference",
            )
        dv, data = DatasetService(self.store).load_frame(version.dataset, version.dataset_version)
        why = f"{version.ref} has no training run"
        if version.run_id is not None:
            try:
                run, report = self._run_records(version.run_id)
                rows, how = training_rows(data, run, report)
            except TrainingRowsError as exc:
                why = str(exc)
            else:
                return rows, ReferenceSource(
                    TRAINING_ROWS, dv.ref, run.id, len(rows), len(data) - len(rows), how
                )
        note = (
            f"{why}: the drift reference is the whole dataset version {dv.ref} "
            f"({len(data)} rows), which may include rows the model was evaluated on"
        )
        return data, ReferenceSource(DATASET_VERSION, dv.ref, version.run_id, len(data), 0, note)

    def _run_records(self, run_id: str) -> tuple[Run, dict[str, Any] | None]:
        """The run and, for a spec run, its stored evaluation report."""
        try:
            with self.store.session() as session:
                run = RunRepository(session).get(run_id)
        except ModelyardError as exc:
            raise TrainingRowsError(f"the training run {run_id} is unavailable: {exc}") from None
        digest = run.params.get("report_digest")
        if not digest:
            return run, None
        try:
            report: dict[str, Any] = json.loads(self.store.artifacts.get_bytes(str(digest)))
        except (ModelyardError, ValueError) as exc:
            raise TrainingRowsError(
                f"run {run_id}'s evaluation report is unreadable: {exc}"
            ) from None
        return run, report

    def endpoint_drift(
        self, endpoint: str, window: timedelta | None = None, config: DriftConfig | None = None
    ) -> tuple[ModelVersion, DriftReport, pd.DataFrame]:
        """Drift of the endpoint's current version over ``window`` (default: all records)."""
        version, report, frame, _ = self._endpoint_drift(endpoint, window, config)
        return version, report, frame

    def _endpoint_drift(
        self, endpoint: str, window: timedelta | None, config: DriftConfig | None
    ) -> tuple[ModelVersion, DriftReport, pd.DataFrame, ReferenceSource]:
        check_name(endpoint, what="endpoint")
        with self.store.session() as session:
            current = EndpointRepository(session).get(endpoint)
        version = self.registry.get(f"{current.model}:{current.version}")
        since = datetime.now(UTC) - window if window else None
        with self.store.session() as session:
            records = [
                r
                for r in PredictionRepository(session).window(endpoint, since)
                if r.version == version.version and r.model == version.model
            ]
        exclude = tuple(current.config.get("pii_columns", ()))
        frame = window_frame(records, version).drop(columns=list(exclude))
        reference, importance, _, source = self._build(version, exclude)
        report = detect_drift(reference, frame, importance=importance, config=config or self.config)
        if source.is_fallback:
            report = replace(report, reasons=(*report.reasons, source.note))
        return version, report, frame, source

    def html_report(self, endpoint: str, window: str) -> tuple[ModelVersion, DriftReport, str]:
        """The offline HTML drift report (per-feature plots, no external resources) of
        ``endpoint`` over ``window`` (e.g. ``24h``): what ``monitor report`` writes."""
        from modelyard.reports.drift_html import render_drift_report

        version, report, frame, _ = self._endpoint_drift(endpoint, parse_window(window), None)
        with self.store.session() as session:
            pii = tuple(EndpointRepository(session).get(endpoint).config.get("pii_columns", ()))
        page = render_drift_report(
            report.to_dict(),
            self.reference_frame(version, pii),
            frame,
            title=f"Drift report: endpoint {endpoint} ({version.ref}), last {window}",
            prediction_column=PREDICTION,
        )
        return version, report, page

    def summary(self, endpoint: str, window: timedelta | None = None) -> dict[str, Any]:
        """The drift report as a dict, with the endpoint, model, window size and
        ``reference`` (:meth:`ReferenceSource.to_dict`)."""
        version, report, frame, source = self._endpoint_drift(endpoint, window, None)
        out = report.to_dict()
        out["endpoint"] = endpoint
        out["model"] = {"name": version.model, "version": version.version}
        out["window_rows"] = len(frame)
        out["reference"] = source.to_dict()
        return out
