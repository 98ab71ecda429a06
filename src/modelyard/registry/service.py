"""Registering, finding, promoting and loading model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from modelyard.domain.entities import ModelVersion
from modelyard.domain.refs import ModelRef, check_name, parse_model_ref
from modelyard.domain.signature import Signature
from modelyard.domain.stages import Stage, check_transition, parse_stage
from modelyard.errors import ConflictError, InvalidInputError, ModelLoadError, ModelyardError
from modelyard.registry.bundles import materialize_bundle, save_bundle, temporary_dir
from modelyard.runtime.base import LoadedModel
from modelyard.runtime.flavors import detect_flavor, get_flavor
from modelyard.security.signing import sign_artifact, verify_artifact
from modelyard.store.orm import ModelVersionRow, RegisteredModelRow, RunRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.datasets import DatasetRepository
from modelyard.store.repositories.models import ModelRepository, to_entity
from modelyard.store.store import Store

_RETRIES = 5


class RegistryService:
    """The model registry's workflows over the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def register(
        self,
        model: object,
        name: str,
        *,
        signature: Signature,
        flavor: str | None = None,
        metrics: dict[str, float] | None = None,
        run_id: str | None = None,
        dataset: tuple[str, int] | None = None,
        code_version: str = "unknown",
        example: dict[str, Any] | None = None,
        trusted: bool = False,
        actor: str = "local",
    ) -> ModelVersion:
        """Save ``model`` with its flavor and record a new ``candidate`` version.

        The artifact is written and verified to load before any row is written, so a
        failure leaves no half-registered version behind.
        """
        check_name(name, what="model")
        flavor_name = flavor or detect_flavor(model)
        impl = get_flavor(flavor_name)
        with temporary_dir("modelyard-save-") as tmp:
            impl.save(model, Path(tmp), signature)
            digest = save_bundle(self.store.artifacts, Path(tmp), flavor_name)
        self._load_digest(digest, flavor_name, signature, trusted=trusted, label=name)
        artifact_signature = sign_artifact(self.store.secret, digest)
        for attempt in range(_RETRIES):
            try:
                with self.store.session() as session:
                    repo = ModelRepository(session)
                    registered = repo.ensure_model(name)
                    dataset_version_id = None
                    if dataset is not None:
                        dataset_version_id = (
                            DatasetRepository(session).version_row(dataset[0], dataset[1]).id
                        )
                    row = repo.add_version(
                        ModelVersionRow(
                            model_id=registered.id,
                            version=repo.next_version(registered),
                            flavor=flavor_name,
                            signature=signature.to_dict(),
                            artifact_digest=digest,
                            artifact_signature=artifact_signature,
                            metrics=dict(metrics or {}),
                            stage=Stage.CANDIDATE.value,
                            trusted=trusted,
                            run_id=run_id,
                            dataset_version_id=dataset_version_id,
                            code_version=code_version,
                            example=example,
                        )
                    )
                    repo.add_transition(row, Stage.CANDIDATE, actor=actor, reason="registered")
                    AuditRepository(session).append(
                        actor=actor,
                        action="model.register",
                        target=f"model:{name}:{row.version}",
                        after={"flavor": flavor_name, "digest": digest, "trusted": trusted},
                    )
                    return to_entity(row)
            except DBIntegrityError:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, ref: str | ModelRef) -> ModelVersion:
        parsed = parse_model_ref(ref) if isinstance(ref, str) else ref
        with self.store.session() as session:
            return to_entity(ModelRepository(session).resolve(parsed))

    def list_models(self) -> list[dict[str, Any]]:
        """One summary per registered model: latest version and who holds each stage."""
        with self.store.session() as session:
            repo = ModelRepository(session)
            out = []
            for model in repo.list_models():
                versions = repo.versions(model.name)
                out.append(
                    {
                        "name": model.name,
                        "latest_version": versions[-1].version if versions else None,
                        "versions": len(versions),
                        "stages": {
                            s.value: [v.version for v in versions if v.stage == s.value]
                            for s in Stage
                        },
                        "flavor": versions[-1].flavor if versions else None,
                    }
                )
            return out

    def versions(self, name: str) -> list[ModelVersion]:
        with self.store.session() as session:
            return ModelRepository(session).versions(name)

    def promote(
        self,
        ref: str,
        to: str,
        *,
        actor: str = "local",
        reason: str = "",
        override_reason: str | None = None,
    ) -> ModelVersion:
        """Move a version to a stage; promoting to production archives the previous one.

        A version whose run failed its gates reaches production only with an
        ``override_reason`` (callers must make sure only admins can give one).
        """
        parsed = parse_model_ref(ref, default=None)
        target = parse_stage(to)
        if override_reason is not None and not override_reason.strip():
            raise InvalidInputError("an override needs a reason", field="override_reason")
        with self.store.session() as session:
            repo = ModelRepository(session)
            row = repo.resolve(parsed)
            check_transition(Stage(row.stage), target)
            failed = failed_gates(session, row.run_id)
            if target is Stage.PRODUCTION and failed and override_reason is None:
                raise ConflictError(
                    f"{row.model.name}:{row.version} failed its gates ({'; '.join(failed)}); "
                    "only an admin can promote it to production, with --override-reason"
                )
            if target is Stage.PRODUCTION and failed:
                reason = f"{reason} [gates overridden: {override_reason}]".strip()
            if target is Stage.PRODUCTION:
                model: RegisteredModelRow = row.model
                for other in repo.in_stage(model, Stage.PRODUCTION):
                    if other.id != row.id:
                        repo.add_transition(
                            other,
                            Stage.ARCHIVED,
                            actor=actor,
                            reason=f"replaced by version {row.version}",
                        )
            before = row.stage
            repo.add_transition(row, target, actor=actor, reason=reason)
            AuditRepository(session).append(
                actor=actor,
                action="model.promote",
                target=f"model:{row.model.name}:{row.version}",
                before={"stage": before},
                after={
                    "stage": target.value,
                    "reason": reason,
                    "failed_gates": failed,
                    "override_reason": override_reason if failed else None,
                },
            )
            session.refresh(row)
            return to_entity(row)

    def load(
        self, ref: str | ModelVersion, *, prefer_compiled: bool = False
    ) -> tuple[ModelVersion, LoadedModel]:
        """Load a version after verifying its signature and every byte of its artifact.

        With ``prefer_compiled``, a verified compiled (ONNX) artifact is used when the
        version has one.
        """
        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        compiled = prefer_compiled and version.compiled_digest is not None
        digest = version.compiled_digest if compiled else version.artifact_digest
        signature_hex = version.compiled_signature if compiled else version.artifact_signature
        assert digest is not None
        try:
            verify_artifact(self.store.secret, digest, signature_hex, label=version.ref)
        except ModelyardError as exc:
            raise ModelLoadError(f"model {version.ref} cannot be loaded: {exc.message}") from exc
        loaded = self._load_digest(
            digest,
            "onnx" if compiled else version.flavor,
            Signature.from_dict(version.signature),
            trusted=version.trusted,
            label=version.ref,
        )
        return version, loaded

    def _load_digest(
        self, digest: str, flavor: str, signature: Signature, *, trusted: bool, label: str
    ) -> LoadedModel:
        impl = get_flavor(flavor)
        try:
            with temporary_dir("modelyard-load-") as tmp:
                materialize_bundle(self.store.artifacts, digest, Path(tmp))
                return impl.load(Path(tmp), signature, trusted=trusted)
        except ModelyardError as exc:
            raise ModelLoadError(f"model {label} cannot be loaded: {exc.message}") from exc


def failed_gates(session: Session, run_id: str | None) -> list[str]:
    """Expressions of the gates the version's run failed (empty: passed or no gates)."""
    if run_id is None:
        return []
    run = session.get(RunRow, run_id)
    if run is None or run.params.get("gates_passed", True):
        return []
    return [
        str(g.get("expression"))
        for g in run.params.get("gate_results", [])
        if isinstance(g, dict) and not g.get("passed", False)
    ]
