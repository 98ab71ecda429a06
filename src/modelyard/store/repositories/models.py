"""Registered models, their versions and stage history."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.domain.entities import ModelVersion, StageTransition
from modelyard.domain.refs import ModelRef
from modelyard.domain.stages import Stage
from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.store.orm import ModelVersionRow, RegisteredModelRow, StageTransitionRow


def to_entity(row: ModelVersionRow) -> ModelVersion:
    dv = row.dataset_version
    return ModelVersion(
        model=row.model.name,
        version=row.version,
        flavor=row.flavor,
        signature=dict(row.signature),
        artifact_digest=row.artifact_digest,
        artifact_signature=row.artifact_signature,
        compiled_digest=row.compiled_digest,
        compiled_signature=row.compiled_signature,
        compile_report=dict(row.compile_report) if row.compile_report else None,
        metrics=dict(row.metrics),
        stage=row.stage,
        trusted=row.trusted,
        run_id=row.run_id,
        dataset=dv.dataset.name if dv else None,
        dataset_version=dv.version if dv else None,
        code_version=row.code_version,
        example=dict(row.example) if row.example else None,
        created_at=row.created_at,
        transitions=[
            StageTransition(
                from_stage=t.from_stage,
                to_stage=t.to_stage,
                actor=t.actor,
                reason=t.reason,
                at=t.at,
            )
            for t in row.transitions
        ],
    )


class ModelRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def model(self, name: str) -> RegisteredModelRow | None:
        return self.session.scalars(
            select(RegisteredModelRow).where(RegisteredModelRow.name == name)
        ).first()

    def ensure_model(self, name: str) -> RegisteredModelRow:
        row = self.model(name)
        if row is None:
            row = RegisteredModelRow(name=name)
            self.session.add(row)
            self.session.flush()
        return row

    def next_version(self, model: RegisteredModelRow) -> int:
        current = self.session.scalar(
            select(func.max(ModelVersionRow.version)).where(ModelVersionRow.model_id == model.id)
        )
        return int(current or 0) + 1

    def add_version(self, row: ModelVersionRow) -> ModelVersionRow:
        self.session.add(row)
        self.session.flush()
        return row

    def resolve(self, ref: ModelRef) -> ModelVersionRow:
        """The version a ref names: a number, ``latest`` or a stage (newest in it)."""
        model = self.model(ref.name)
        if model is None:
            raise NotFoundError(f"model {ref.name!r} not found")
        query = select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
        if ref.version is not None:
            query = query.where(ModelVersionRow.version == ref.version)
        elif ref.selector == "latest":
            query = query.order_by(ModelVersionRow.version.desc())
        else:
            try:
                stage = Stage(ref.selector)
            except ValueError:
                raise InvalidInputError(
                    f"unknown version selector {ref.selector!r}: use a number, 'latest' "
                    f"or a stage ({', '.join(s.value for s in Stage)})",
                    field="model",
                ) from None
            query = query.where(ModelVersionRow.stage == stage.value).order_by(
                ModelVersionRow.version.desc()
            )
        row = self.session.scalars(query).first()
        if row is None:
            raise NotFoundError(f"model version {ref} not found")
        return row

    def in_stage(self, model: RegisteredModelRow, stage: Stage) -> list[ModelVersionRow]:
        return list(
            self.session.scalars(
                select(ModelVersionRow).where(
                    ModelVersionRow.model_id == model.id, ModelVersionRow.stage == stage.value
                )
            ).all()
        )

    def add_transition(
        self, row: ModelVersionRow, to_stage: Stage, *, actor: str, reason: str
    ) -> None:
        self.session.add(
            StageTransitionRow(
                model_version_id=row.id,
                from_stage=row.stage if row.id and row.stage != to_stage.value else None,
                to_stage=to_stage.value,
                actor=actor,
                reason=reason,
            )
        )
        row.stage = to_stage.value
        self.session.flush()

    def list_models(self) -> list[RegisteredModelRow]:
        return list(
            self.session.scalars(select(RegisteredModelRow).order_by(RegisteredModelRow.name))
        )

    def versions(self, name: str) -> list[ModelVersion]:
        model = self.model(name)
        if model is None:
            raise NotFoundError(f"model {name!r} not found")
        rows = self.session.scalars(
            select(ModelVersionRow)
            .where(ModelVersionRow.model_id == model.id)
            .order_by(ModelVersionRow.version)
        ).all()
        return [to_entity(r) for r in rows]
