"""Background jobs: kinds, states, legal transitions, parameters and retry (pure, no IO).

A job is durable work a caller submits and a worker runs later (``modelyard.jobs``)::

    queued ──claimed──► running ──► succeeded
      │  ▲                 │ ├────► failed       the job's code raised: at once, never retried
      │  └──worker lost────┘ └────► cancelled    cancel requested: the runner stops the worker
      └───────cancel──────────────► cancelled

A running job holds a lease its worker renews. A worker that disappears (killed, or its
lease expired) sends the job back to ``queued`` until it has been started
:data:`MAX_ATTEMPTS` times, then fails it (:class:`RetryPolicy`); a lost job whose
cancellation was requested is cancelled instead. Terminal states never change.

Parameters are declared per kind (:data:`PARAMS`); :func:`validate_params` fills
defaults, accepts whole-number strings for integers (the CLI passes ``key=value``
text) and raises :class:`~modelyard.errors.InvalidInputError` whose ``field`` is
``params.<name>``. Whether the named dataset, model or endpoint exists is checked by
the service, which can read the store.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from modelyard.domain.refs import check_name, parse_dataset_ref, parse_model_ref
from modelyard.domain.windows import parse_window
from modelyard.errors import ConflictError, InvalidInputError


class JobKind(StrEnum):
    TRAIN = "train"
    COMPILE = "compile"
    BATCH_PREDICT = "batch_predict"
    DRIFT_REPORT = "drift_report"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


E = TypeVar("E", JobKind, JobStatus)
KINDS: tuple[str, ...] = tuple(k.value for k in JobKind)
STATUSES: tuple[str, ...] = tuple(s.value for s in JobStatus)
TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
)
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}
#: The ``model`` of a train job (``modelyard.training.estimators.MODEL_KINDS``; a test
#: keeps the two equal, so submitting stays free of scikit-learn).
TRAIN_MODELS = ("logistic_regression", "random_forest", "lightgbm")
#: How many times a job is started before a lost worker fails it for good.
MAX_ATTEMPTS = 3
#: Webhook event type of each terminal state.
EVENTS: dict[JobStatus, str] = {
    JobStatus.SUCCEEDED: "job.succeeded",
    JobStatus.FAILED: "job.failed",
    JobStatus.CANCELLED: "job.cancelled",
}

_JOB_ID = re.compile(r"^job_[0-9a-f]{32}$")


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex}"


def is_job_id(value: str) -> bool:
    """Whether ``value`` has the shape of a job id (``job_`` and 32 hex digits)."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def parse_kind(value: object) -> JobKind:
    return _member(JobKind, value, "kind")


def parse_status(value: object) -> JobStatus:
    return _member(JobStatus, value, "status")


def _member(enum: type[E], value: object, field: str) -> E:
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInputError(
            f"unknown job {field} {value!r}; allowed: {allowed}", field=field
        ) from None


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(job_id: str, current: JobStatus, target: JobStatus) -> None:
    """Raise :class:`ConflictError` unless ``current → target`` is legal."""
    if not can_transition(current, target):
        raise ConflictError(f"job {job_id} is {current.value}; it cannot become {target.value}")


@dataclass(frozen=True)
class RetryPolicy:
    """What happens to a running job whose worker is gone (killed, lease expired).

    An error raised by the job's own code is final (:data:`JobStatus.FAILED` at once):
    running it again would raise again. A lost worker says nothing about the job, so
    it is queued again until it has been started ``max_attempts`` times.
    """

    max_attempts: int = MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInputError("max_attempts must be at least 1", field="max_attempts")

    def after_lost_worker(self, attempts: int, *, cancel_requested: bool = False) -> JobStatus:
        """The next state of a job started ``attempts`` times whose worker was lost."""
        if cancel_requested:
            return JobStatus.CANCELLED
        return JobStatus.QUEUED if attempts < self.max_attempts else JobStatus.FAILED

    def after_error(self) -> JobStatus:
        """The job's code raised: failed, not retried."""
        return JobStatus.FAILED


@dataclass(frozen=True)
class Job:
    """One unit of background work and where it is in its life."""

    id: str
    kind: str
    status: str
    params: dict[str, Any]
    attempts: int
    created_by: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return JobStatus(self.status) in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (datetimes in ISO 8601)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "params": dict(self.params),
            "attempts": self.attempts,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "result": self.result,
            "error": self.error,
            "cancel_requested": self.cancel_requested,
            "lease_owner": self.lease_owner,
            "lease_expires_at": iso(self.lease_expires_at),
        }


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """One parameter of a job kind: its type, default and a check of its value.

    ``check`` returns the normalised value or raises InvalidInputError (its message is
    kept, its field becomes ``params.<name>``). A callable ``default`` is computed from
    the other (already validated) parameters.
    """

    name: str
    type: type
    help: str
    required: bool = False
    default: Any = None
    check: Callable[[Any], Any] | None = None


def _text(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.strip() or len(value) > limit:
            raise InvalidInputError(f"must be 1-{limit} characters")
        return value

    return check


def _between(low: float, high: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not low <= value <= high:
            raise InvalidInputError(f"must be from {low:g} to {high:g}, got {value!r}")
        return value

    return check


def _model_version(value: str) -> str:
    return str(parse_model_ref(value, default=None))


def _dataset(value: str) -> str:
    name, version = parse_dataset_ref(value)
    return name if version is None else f"{name}:{version}"


def _window(value: str) -> str:
    parse_window(value)  # the drift report parses it the same way
    return value


def _train_model(value: str) -> str:
    if value not in TRAIN_MODELS:
        raise InvalidInputError(f"unknown model kind {value!r}; allowed: {', '.join(TRAIN_MODELS)}")
    return value


def _default_output(params: Mapping[str, Any]) -> str:
    name, _ = parse_dataset_ref(str(params["dataset"]))
    return f"{name}-predictions"


PARAMS: dict[JobKind, tuple[Param, ...]] = {
    JobKind.TRAIN: (
        Param("dataset", str, "Dataset to train on: NAME or NAME:VERSION.", True, None, _dataset),
        Param("target", str, "Target column.", True, None, _text(256)),
        Param(
            "model",
            str,
            "Model kind: logistic_regression, random_forest or lightgbm.",
            default="logistic_regression",
            check=_train_model,
        ),
        Param(
            "name",
            str,
            "Registered model name (default: the dataset's).",
            check=lambda v: check_name(v, what="model"),
        ),
        Param("seed", int, "Random seed.", default=0, check=_between(0, 2**32 - 1)),
    ),
    JobKind.COMPILE: (
        Param("model", str, "NAME:VERSION to compile to ONNX.", True, None, _model_version),
        Param("rows", int, "Training rows to verify on.", default=2000, check=_between(1, 100_000)),
        Param(
            "tolerance",
            float,
            "Largest allowed probability gap.",
            default=1e-4,
            check=_between(1e-12, 1.0),
        ),
    ),
    JobKind.BATCH_PREDICT: (
        Param("model", str, "NAME:VERSION to predict with.", True, None, _model_version),
        Param("dataset", str, "Rows to score: NAME or NAME:VERSION.", True, None, _dataset),
        Param(
            "output",
            str,
            "Dataset to store the predictions in (default: DATASET-predictions).",
            default=_default_output,
            check=lambda v: check_name(v, what="dataset"),
        ),
        Param(
            "chunk_rows",
            int,
            "Rows per prediction call.",
            default=10_000,
            check=_between(1, 1_000_000),
        ),
    ),
    JobKind.DRIFT_REPORT: (
        Param(
            "endpoint",
            str,
            "Endpoint whose traffic to compare with its training data.",
            True,
            None,
            lambda v: check_name(v, what="endpoint"),
        ),
        Param("window", str, "Window of traffic, e.g. 30m, 24h, 7d.", default="24h", check=_window),
    ),
}


def validate_params(kind: JobKind | str, params: Mapping[str, object]) -> dict[str, Any]:
    """``params`` checked against ``kind``'s declaration, with defaults filled in.

    Every error is an InvalidInputError whose ``field`` is ``params.<name>`` (``params``
    for a body that is not an object).
    """
    declared = PARAMS[parse_kind(kind)]
    if not isinstance(params, Mapping):
        raise InvalidInputError("params must be an object", field="params")
    names = {p.name for p in declared}
    for key in params:
        if key not in names:
            raise InvalidInputError(
                f"unknown parameter {key!r} for a {kind} job; allowed: {', '.join(sorted(names))}",
                field=f"params.{key}",
            )
    out: dict[str, Any] = {}
    deferred: list[Param] = []
    for param in declared:
        raw = params.get(param.name)
        if raw is None:
            if param.required:
                raise InvalidInputError(
                    f"a {kind} job needs params.{param.name} ({param.help})",
                    field=f"params.{param.name}",
                )
            if callable(param.default):
                deferred.append(param)
            elif param.default is not None:
                out[param.name] = param.default
            continue
        out[param.name] = _checked(param, raw)
    for param in deferred:
        out[param.name] = _checked(param, param.default(out))
    return out


def _checked(param: Param, raw: object) -> Any:
    field = f"params.{param.name}"
    value = _coerce(param, raw)
    if param.check is None:
        return value
    try:
        return param.check(value)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{field}: {exc.message}", field=field) from None


def _coerce(param: Param, raw: object) -> Any:
    field = f"params.{param.name}"
    if param.type is str:
        if not isinstance(raw, str):
            raise InvalidInputError(f"{field} must be a string, got {raw!r}", field=field)
        return raw
    if param.type is int:
        if isinstance(raw, bool):
            raise InvalidInputError(f"{field} must be a whole number, got {raw!r}", field=field)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"[+-]?[0-9]{1,12}", raw.strip()):
            return int(raw)
        raise InvalidInputError(f"{field} must be a whole number, got {raw!r}", field=field)
    if param.type is float:
        if isinstance(raw, bool):
            raise InvalidInputError(f"{field} must be a number, got {raw!r}", field=field)
        value: float
        if isinstance(raw, int | float):
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = float(raw.strip())
            except ValueError:
                raise InvalidInputError(
                    f"{field} must be a number, got {raw!r}", field=field
                ) from None
        else:
            raise InvalidInputError(f"{field} must be a number, got {raw!r}", field=field)
        if not math.isfinite(value):
            raise InvalidInputError(f"{field} must be a finite number", field=field)
        return value
    raise AssertionError(f"unsupported parameter type {param.type}")
