"""Compiling a registered version to ONNX: convert, verify against the original on
the version's own data, then store the compiled artifact beside the original."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import update

from modelyard.data.datasets import DatasetService
from modelyard.domain.entities import ModelVersion
from modelyard.domain.refs import parse_model_ref
from modelyard.domain.signature import Signature
from modelyard.errors import InvalidInputError
from modelyard.registry.bundles import save_bundle
from modelyard.registry.service import RegistryService
from modelyard.runtime.base import LoadedModel
from modelyard.runtime.compile import compile_to_onnx, load_compiled, verify_compiled
from modelyard.runtime.flavors import get_flavor
from modelyard.security.signing import sign_artifact
from modelyard.store.orm import EndpointRow, utcnow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.models import ModelRepository, to_entity
from modelyard.store.store import Store


def fitted_object(loaded: LoadedModel) -> object:
    """The library object inside a loaded sklearn or LightGBM model."""
    for attribute in ("model", "booster"):
        if hasattr(loaded, attribute):
            return getattr(loaded, attribute)
    raise InvalidInputError(
        f"flavor {loaded.flavor!r} cannot be compiled; only sklearn and lightgbm can",
        field="model",
    )


class CompileService:
    def __init__(self, store: Store, registry: RegistryService | None = None) -> None:
        self.store = store
        self.registry = registry or RegistryService(store)

    def verification_rows(
        self, version: ModelVersion, max_rows: int, seed: int = 0
    ) -> pd.DataFrame:
        """Rows of the version's training dataset (its lineage), restricted to its inputs."""
        if version.dataset is None or version.dataset_version is None:
            raise InvalidInputError(
                f"model {version.ref} has no dataset lineage to verify the compiled model on",
                field="model",
            )
        _, frame = DatasetService(self.store).load_frame(version.dataset, version.dataset_version)
        columns = [c["name"] for c in version.signature["inputs"]]
        rows = frame[columns]
        if len(rows) > max_rows:
            rows = rows.sample(n=max_rows, random_state=seed)
        return rows.reset_index(drop=True)

    def compile(
        self, ref: str, *, actor: str = "local", max_rows: int = 2000, atol: float = 1e-4
    ) -> tuple[ModelVersion, dict[str, Any]]:
        """Compile, verify, and record the ONNX artifact; nothing is stored on failure."""
        version, original = self.registry.load(ref, prefer_compiled=False)
        signature = Signature.from_dict(version.signature)
        rows = self.verification_rows(version, max_rows)
        proto = compile_to_onnx(fitted_object(original), version.flavor, signature, rows)
        report = verify_compiled(original, load_compiled(proto, signature), rows, atol=atol)
        report_dict = dataclasses.asdict(report)
        if not report.passed:
            raise InvalidInputError(
                f"compiled model does not match {version.ref} on {report.n_rows} rows: "
                f"{report.reason}; not stored",
                field="model",
            )
        with tempfile.TemporaryDirectory(prefix="modelyard-compile-") as tmp:
            get_flavor("onnx").save(proto, Path(tmp), signature)
            digest = save_bundle(self.store.artifacts, Path(tmp), "onnx")
        with self.store.session() as session:
            row = ModelRepository(session).resolve(parse_model_ref(version.ref))
            row.compiled_digest = digest
            row.compiled_signature = sign_artifact(self.store.secret, digest)
            row.compile_report = report_dict
            AuditRepository(session).append(
                actor=actor,
                action="model.compile",
                target=f"model:{version.ref}",
                after={"compiled_digest": digest, **report_dict},
            )
            # Endpoints serving this version switch to the compiled artifact (after the
            # usual load and warm-up) on their next refresh.
            session.execute(
                update(EndpointRow)
                .where(EndpointRow.model_version_id == row.id)
                .values(revision=EndpointRow.revision + 1, updated_at=utcnow())
            )
            session.flush()
            return to_entity(row), report_dict
