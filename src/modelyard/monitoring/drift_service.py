"""Drift of an endpoint's live traffic against its model version's training data."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from modelyard.data.datasets import DatasetService
from modelyard.domain.drift import DriftConfig, DriftReference, DriftReport, detect_drift
from modelyard.domain.entities import ModelVersion
from modelyard.domain.refs import check_name
from modelyard.errors import InvalidInputError
from modelyard.registry.service import RegistryService
from modelyard.runtime.base import LoadedModel
from modelyard.store.orm import PredictionRow
from modelyard.store.repositories.endpoints import EndpointRepository
from modelyard.store.repositories.predictions import PredictionRepository
from modelyard.store.store import Store

PREDICTION = "__prediction__"
REFERENCE_ROWS = 20_000
_NUMERIC = {"integer", "float"}


def parse_window(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d`` → a timedelta."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    value, unit = text[:-1], text[-1:].lower()
    if unit not in units or not value.isdigit() or int(value) <= 0:
        raise InvalidInputError(
            f"invalid window {text!r}: use a number and a unit, e.g. 30m, 24h, 7d", field="window"
        )
    return timedelta(**{units[unit]: int(value)})


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
            str, tuple[DriftReference, dict[str, float], pd.DataFrame]
        ] = OrderedDict()

    def reference(
        self, version: ModelVersion, exclude: tuple[str, ...] = ()
    ) -> tuple[DriftReference, dict[str, float]]:
        """The version's drift reference and how much each input moves its predictions."""
        reference, importance, _ = self._build(version, exclude)
        return reference, importance

    def reference_frame(self, version: ModelVersion, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
        """The typed reference sample (inputs plus predictions) behind the reference."""
        return self._build(version, exclude)[2]

    def _build(
        self, version: ModelVersion, exclude: tuple[str, ...] = ()
    ) -> tuple[DriftReference, dict[str, float], pd.DataFrame]:
        """Reference sample, its profile and sensitivities; ``exclude`` drops PII columns."""
        cache_key = f"{version.ref}|{','.join(sorted(exclude))}"
        cached = self._references.get(cache_key)
        if cached is not None:
            return cached
        if version.dataset is None or version.dataset_version is None:
            raise InvalidInputError(
                f"no drift reference for {version.ref}: it has no training dataset lineage. "
                "Train it with `modelyard train` (which records the dataset) or register it "
                "with Workspace.register_model(..., dataset=(name, version)); or call "
                "modelyard.drift_report(reference_df, window_df) yourself",
                field="reference",
            )
        _, data = DatasetService(self.store).load_frame(version.dataset, version.dataset_version)
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
        self._references[cache_key] = (reference, importance, typed)
        while len(self._references) > 16:
            self._references.popitem(last=False)
        return reference, importance, typed

    def endpoint_drift(
        self, endpoint: str, window: timedelta | None = None, config: DriftConfig | None = None
    ) -> tuple[ModelVersion, DriftReport, pd.DataFrame]:
        """Drift of the endpoint's current version over ``window`` (default: all records)."""
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
        reference, importance = self.reference(version, exclude)
        report = detect_drift(reference, frame, importance=importance, config=config or self.config)
        return version, report, frame

    def summary(self, endpoint: str, window: timedelta | None = None) -> dict[str, Any]:
        version, report, frame = self.endpoint_drift(endpoint, window)
        out = report.to_dict()
        out["endpoint"] = endpoint
        out["model"] = {"name": version.model, "version": version.version}
        out["window_rows"] = len(frame)
        return out
