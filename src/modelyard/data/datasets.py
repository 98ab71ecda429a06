"""Dataset versioning: immutable, content-addressed tables with a schema and a profile.

Every version stores its schema in ``DatasetVersion.columns``: one entry per column,
``{"name", "type", "nullable", "profile"}``, where ``profile`` holds that column's
statistics from :func:`~modelyard.data.profile.profile_column` (null rate, min/max,
quantiles, histogram, category frequencies). Versions stored before profiles existed
have no ``profile`` key; :meth:`DatasetService.stored_profile` computes theirs.

:meth:`DatasetService.add_checked` (``modelyard datasets add``, ``POST
/v1/datasets/{name}/versions``) also reports what needs attention: duplicate rows,
constant columns, leakage hints (with a target), schema drift from the previous
version, and violated expectations. A violation does not refuse the version: data is
immutable and content-addressed, so the table is stored as received and the report
says what is wrong with it (the CLI then exits 1, like ``datasets check``). Training
is what refuses such a version (:func:`expectations_for_training`, the same check). Bad
*input* -- an unreadable file, a bad name, a target that is not a column -- raises
before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from modelyard.data.expectations import check_expectations
from modelyard.data.profile import profile_frame
from modelyard.data.readers import infer_schema, read_table_bytes
from modelyard.data.schema_diff import category_sets, diff_schemas
from modelyard.data.summary import profile_summary, violations_summary
from modelyard.domain.entities import DatasetVersion
from modelyard.domain.refs import check_name
from modelyard.errors import InvalidInputError
from modelyard.spec.model import ColumnExpectation, ProjectSpec
from modelyard.store.artifacts import sha256_bytes
from modelyard.store.orm import DatasetVersionRow
from modelyard.store.repositories.audit import AuditRepository
from modelyard.store.repositories.datasets import DatasetRepository, to_entity
from modelyard.store.store import Store

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_RETRIES = 5


def format_for(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise InvalidInputError(
            f"unsupported file type {path.suffix or '(none)'!r} for {path.name}; "
            f"use one of {', '.join(sorted(FORMATS))}",
            field="file",
        ) from None


#: The keys of a schema entry (``columns`` entries carry ``profile`` besides these).
SCHEMA_KEYS = ("name", "type", "nullable")


@dataclass(frozen=True)
class DatasetChecks:
    """What to check a table against when it is added or checked.

    ``target`` enables leakage hints; ``target_required`` makes a missing target column
    an error (a target given on the command line) rather than a note (one taken from a
    spec that may describe another version of the data). ``source`` names where the
    checks came from (the spec file) in messages; ``notes`` go into the report.
    """

    target: str | None = None
    expectations: Mapping[str, ColumnExpectation] = field(default_factory=dict)
    target_required: bool = True
    source: str | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def from_spec(
        cls,
        spec: ProjectSpec | None,
        dataset: str,
        *,
        target: str | None = None,
        source: str | None = None,
    ) -> DatasetChecks:
        """The spec's target and expectations when the spec is about ``dataset``.

        An explicit ``target`` wins over the spec's and must be a column of the table.
        """
        if spec is None:
            return cls(target=target, source=source)
        if spec.data.dataset != dataset:
            note = (
                f"{source or 'the spec'} describes dataset {spec.data.dataset!r}, not "
                f"{dataset!r}: its target and expectations were not used"
            )
            return cls(target=target, source=source, notes=(note,))
        return cls(
            target=target or spec.data.target,
            expectations=dict(spec.expectations),
            target_required=target is not None,
            source=source,
        )


@dataclass(frozen=True)
class DatasetReport:
    """A dataset version with its profile, schema drift and expectation results.

    ``created`` is True for a version this call stored, False when the same content
    was already a version, None for a check of an existing version.
    """

    version: DatasetVersion
    profile: dict[str, Any]
    schema_drift: dict[str, Any] | None
    previous_version: int | None
    expectations: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    created: bool | None = None

    @property
    def passed(self) -> bool:
        """False when a declared expectation is violated."""
        return self.expectations is None or bool(self.expectations["passed"])

    def summary(self) -> dict[str, Any]:
        """Rows, columns, nulls and warnings (:func:`~.summary.profile_summary`)."""
        return profile_summary(
            self.profile,
            schema_drift=self.schema_drift,
            previous_version=self.previous_version,
            notes=self.notes,
        )

    def to_dict(self) -> dict[str, Any]:
        """The version's fields plus ``created``, ``summary``, ``expectations`` and
        ``schema_drift_from_previous`` (JSON-able)."""
        return {
            **version_dict(self.version),
            "created": self.created,
            "summary": self.summary(),
            "expectations": self.expectations,
            "schema_drift_from_previous": self.schema_drift,
        }


def version_dict(version: DatasetVersion) -> dict[str, Any]:
    """A version as a plain dict (``created_at`` stays a datetime)."""
    return dict(version.__dict__)


def schema_of(version: DatasetVersion) -> list[dict[str, Any]]:
    """The version's schema entries without their statistics."""
    return [{k: c[k] for k in SCHEMA_KEYS if k in c} for c in version.columns]


def has_stored_profile(version: DatasetVersion) -> bool:
    """False for versions stored before profiles were (their profile is computed)."""
    return all("profile" in c for c in version.columns)


def expectation_report(frame: pd.DataFrame, checks: DatasetChecks) -> dict[str, Any] | None:
    """``checks.expectations`` checked on ``frame``
    (:meth:`ExpectationReport.to_dict() <modelyard.data.expectations.ExpectationReport.to_dict>`;
    None without expectations): what ``datasets add``/``check`` report and training
    refuses on (:func:`expectations_for_training`)."""
    if not checks.expectations:
        return None
    return check_expectations(frame, dict(checks.expectations)).to_dict()


#: At most this many violations are summarised in the error that refuses training.
MAX_VIOLATIONS_NAMED = 8


def expectations_for_training(
    dv: DatasetVersion,
    frame: pd.DataFrame,
    checks: DatasetChecks,
    *,
    allow_failed: bool = False,
) -> dict[str, Any] | None:
    """Check the version about to be trained on; refuse it if it fails its expectations.

    Returns what the run records (None when nothing is declared): ``{"passed",
    "overridden", "source", "violations": [{"column", "rule", "count"}]}``. A version
    that violates an expectation raises InvalidInputError (``field="expectations"``)
    naming the version and each violation, unless ``allow_failed``; then the record
    says ``overridden: true``. Call it before anything is fitted or stored.
    """
    report = expectation_report(frame, checks)
    if report is None:
        return None
    violations = [
        {"column": v["column"], "rule": v["rule"], "count": v["count"]}
        for v in report["violations"]
    ]
    passed = bool(report["passed"])
    if not passed and not allow_failed:
        named = violations_summary(violations[:MAX_VIOLATIONS_NAMED])
        more = len(violations) - MAX_VIOLATIONS_NAMED
        if more > 0:
            named += f"; and {more} more"
        where = f" in {checks.source}" if checks.source else ""
        spec = f" --spec {checks.source}" if checks.source else ""
        raise InvalidInputError(
            f"dataset {dv.ref} fails the expectations declared{where}: {named}. Nothing was "
            f"trained or recorded; `modelyard datasets check {dv.ref}{spec}` shows the rows. "
            "Fix the data and add it again, pin a good version (data.version), or train "
            "anyway with --allow-failed-expectations (recorded in the run)",
            field="expectations",
        )
    return {
        "passed": passed,
        "overridden": not passed,
        "source": checks.source,
        "violations": violations,
    }


class DatasetService:
    """Adds and reads dataset versions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_file(self, path: Path, name: str, *, actor: str = "local") -> DatasetVersion:
        """Register the file as a version of ``name``; same content → same version."""
        return self.add_file_checked(path, name, actor=actor).version

    def add_frame(self, frame: pd.DataFrame, name: str, *, actor: str = "local") -> DatasetVersion:
        """Register an in-memory frame (stored as Parquet)."""
        check_name(name, what="dataset")
        data = frame.to_parquet(index=False)
        return self.add_bytes(data, name, fmt="parquet", source="<dataframe>", actor=actor)

    def add_bytes(
        self, data: bytes, name: str, *, fmt: str, source: str, actor: str = "local"
    ) -> DatasetVersion:
        """Register ``data`` (``csv`` or ``parquet``) as a version of ``name``, with its
        profile; :meth:`add_checked` also reports warnings, drift and violations."""
        check_name(name, what="dataset")
        frame = _read(data, fmt, source)
        profile = profile_frame(frame)
        return self._store(data, frame, profile, name, fmt=fmt, source=source, actor=actor)[0]

    def add_file_checked(
        self,
        path: Path,
        name: str,
        *,
        checks: DatasetChecks | None = None,
        actor: str = "local",
    ) -> DatasetReport:
        """:meth:`add_checked` for a CSV or Parquet file."""
        check_name(name, what="dataset")
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"no such file: {path}", field="file")
        fmt = format_for(path)
        return self.add_checked(
            path.read_bytes(), name, fmt=fmt, source=path.name, checks=checks, actor=actor
        )

    def add_checked(
        self,
        data: bytes,
        name: str,
        *,
        fmt: str,
        source: str,
        checks: DatasetChecks | None = None,
        actor: str = "local",
    ) -> DatasetReport:
        """Store a version with its profile; report warnings, drift and violations.

        Everything that can be wrong with the *input* (name, format, content, target)
        is checked before anything is stored. Violated expectations are reported, not
        refused (see the module docstring).
        """
        check_name(name, what="dataset")
        checks = checks or DatasetChecks()
        frame = _read(data, fmt, source)
        profile, expectations, notes = _inspect(frame, checks)
        dv, created = self._store(data, frame, profile, name, fmt=fmt, source=source, actor=actor)
        drift, previous = self._drift_from_previous(dv, frame)
        return DatasetReport(dv, profile, drift, previous, expectations, notes, created)

    def check(
        self, name: str, version: int | None = None, *, checks: DatasetChecks | None = None
    ) -> DatasetReport:
        """Profile a stored version, check expectations and schema drift (stores nothing)."""
        checks = checks or DatasetChecks()
        dv, frame = self.load_frame(name, version)
        profile, expectations, notes = _inspect(frame, checks)
        drift, previous = self._drift_from_previous(dv, frame)
        return DatasetReport(dv, profile, drift, previous, expectations, notes)

    def stored_profile(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Per-column statistics stored with the version (``{"n_rows", "n_columns",
        "constant_columns", "columns": {name: stats}}``), computed from the data for
        versions stored before profiles were."""
        return self.profile_of(self.get(name, version))

    def profile_of(self, dv: DatasetVersion) -> dict[str, Any]:
        """:meth:`stored_profile` of a version already read."""
        if has_stored_profile(dv):
            columns = {str(c["name"]): dict(c["profile"]) for c in dv.columns}
        else:
            _, frame = self.load_frame(dv.dataset, dv.version)
            columns = profile_frame(frame)["columns"]
        return {
            "n_rows": dv.row_count,
            "n_columns": len(dv.columns),
            "constant_columns": [n for n, c in columns.items() if c.get("n_unique", 0) <= 1],
            "columns": columns,
        }

    def _store(
        self,
        data: bytes,
        frame: pd.DataFrame,
        profile: dict[str, Any],
        name: str,
        *,
        fmt: str,
        source: str,
        actor: str,
    ) -> tuple[DatasetVersion, bool]:
        """The version holding ``data`` and whether this call created it."""
        digest = sha256_bytes(data)
        columns = [
            {**entry, "profile": profile["columns"][entry["name"]]} for entry in infer_schema(frame)
        ]
        self.store.artifacts.put_bytes(data)
        for attempt in range(_RETRIES):
            try:
                with self.store.session() as session:
                    repo = DatasetRepository(session)
                    dataset = repo.ensure_dataset(name)
                    existing = repo.by_digest(dataset, digest)
                    if existing is not None:
                        return to_entity(existing), False
                    row = repo.add_version(
                        DatasetVersionRow(
                            dataset_id=dataset.id,
                            version=repo.next_version(dataset),
                            digest=digest,
                            format=fmt,
                            row_count=len(frame),
                            columns=columns,
                            size_bytes=len(data),
                            source_name=source[:512],
                        )
                    )
                    AuditRepository(session).append(
                        actor=actor,
                        action="dataset.add",
                        target=f"dataset:{name}:{row.version}",
                        after={"digest": digest, "rows": len(frame), "source": source[:200]},
                    )
                    return to_entity(row), True
            except DBIntegrityError:
                # A concurrent add won the race for the name or version number: retry,
                # which finds its row (same content) or takes the next number.
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _drift_from_previous(
        self, dv: DatasetVersion, frame: pd.DataFrame
    ) -> tuple[dict[str, Any] | None, int | None]:
        """Schema drift from version ``dv.version - 1`` (None for a first version)."""
        if dv.version <= 1:
            return None, None
        previous, previous_frame = self.load_frame(dv.dataset, dv.version - 1)
        diff = diff_schemas(
            schema_of(previous),
            schema_of(dv),
            old_categories=category_sets(previous_frame),
            new_categories=category_sets(frame),
        )
        return diff.to_dict(), previous.version

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        with self.store.session() as session:
            return to_entity(DatasetRepository(session).version_row(name, version))

    def list(self, name: str | None = None) -> list[DatasetVersion]:
        with self.store.session() as session:
            return DatasetRepository(session).list_versions(name)

    def load_frame(
        self, name: str, version: int | None = None
    ) -> tuple[DatasetVersion, pd.DataFrame]:
        """The version's table, read from verified bytes."""
        dv = self.get(name, version)
        data = self.store.artifacts.get_bytes(dv.digest)
        return dv, read_table_bytes(data, dv.format)


def _read(data: bytes, fmt: str, source: str) -> pd.DataFrame:
    frame = read_table_bytes(data, fmt)  # validates readability and non-emptiness
    if frame.empty or len(frame.columns) == 0:
        raise InvalidInputError(f"{source} has no rows", field="file")
    return frame


def _inspect(
    frame: pd.DataFrame, checks: DatasetChecks
) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """The profile, the expectation report (None without expectations) and notes."""
    notes = list(checks.notes)
    target = checks.target
    if target is not None and target not in frame.columns:
        where = f" (from {checks.source})" if checks.source and not checks.target_required else ""
        if checks.target_required:
            raise InvalidInputError(
                f"target column {target!r}{where} is not a column of the table; columns: "
                f"{', '.join(map(str, frame.columns[:20]))}",
                field="target",
            )
        notes.append(f"target column {target!r}{where} is missing: no leakage hints")
        target = None
    profile = profile_frame(frame, target=target)
    return profile, expectation_report(frame, checks), notes
