"""The project spec (``modelyard.yaml``) as pydantic models, and its canonical hash.

Every section forbids unknown keys. :func:`parse_spec` validates a plain mapping (the
parsed YAML) and turns pydantic's errors into one :class:`InvalidInputError` whose
message lists each problem as ``<key path>: <what is wrong>; allowed: ...`` and whose
``field`` is the first key path (e.g. ``split.strategy``).

Normalisation (what :meth:`ProjectSpec.model_dump` and :func:`spec_hash` see):
feature names become ``{name, role: null}``; ``seeds: 3`` becomes ``[0, 1, 2]``;
``split.strategy`` defaults to ``stratified`` (classification) or ``random``
(regression); ``metrics`` defaults to every metric of the task; with a ``search``
section, every built-in candidate without a declared ``search.space`` entry gets its
default space (:data:`DEFAULT_SEARCH_SPACES`, minus the parameters fixed in its
``params``); a spec without ``search`` dumps (and hashes) as if the section did not exist.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from modelyard.domain.evaluation.classification import CLASSIFICATION_METRICS
from modelyard.domain.evaluation.regression import REGRESSION_METRICS
from modelyard.domain.gates import parse_gate
from modelyard.errors import InvalidInputError

Task = Literal["binary_classification", "multiclass_classification", "regression"]
FeatureRole = Literal["categorical", "sensitive", "identifier", "timestamp", "numeric"]
SplitStrategy = Literal["stratified", "random", "time", "group"]
CalibrationMethodName = Literal["isotonic", "sigmoid"]

TASKS: tuple[str, ...] = get_args(Task)
FEATURE_ROLES: tuple[str, ...] = get_args(FeatureRole)
BUILTIN_CANDIDATES: tuple[str, ...] = (
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
)
CLASSIFICATION_ONLY = frozenset({"logistic_regression"})
REGRESSION_ONLY = frozenset({"linear_regression"})
#: Gate roots besides the task's metric names.
GATE_SECTIONS: tuple[str, ...] = ("fairness", "latency", "improvement")
METRIC_FIELDS: tuple[str, ...] = ("value", "ci_low", "ci_high", "n")
MAX_SEEDS = 100
MAX_TRIALS = 1000
MAX_CV_FOLDS = 10
#: Search spaces of the built-in candidates (``search: {trials: 20}`` tunes these).
DEFAULT_SEARCH_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "logistic_regression": {"C": {"low": 1e-3, "high": 100.0, "log": True}},
    "random_forest": {
        "n_estimators": {"low": 50, "high": 300},
        "max_depth": {"low": 2, "high": 20},
        "min_samples_leaf": {"low": 1, "high": 20},
        "max_features": {"choices": ["sqrt", "log2", 1.0]},
    },
    "hist_gradient_boosting": {
        "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
        "max_iter": {"low": 50, "high": 300},
        "max_leaf_nodes": {"low": 8, "high": 64, "log": True},
        "min_samples_leaf": {"low": 5, "high": 50},
        "l2_regularization": {"low": 1e-6, "high": 10.0, "log": True},
    },
    "lightgbm": {
        "n_estimators": {"low": 50, "high": 300},
        "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
        "num_leaves": {"low": 8, "high": 64, "log": True},
        "min_child_samples": {"low": 5, "high": 50},
        "colsample_bytree": {"low": 0.5, "high": 1.0},
        "reg_lambda": {"low": 1e-6, "high": 10.0, "log": True},
    },
    "xgboost": {
        "n_estimators": {"low": 50, "high": 300},
        "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
        "max_depth": {"low": 2, "high": 10},
        "min_child_weight": {"low": 1.0, "high": 10.0, "log": True},
        "subsample": {"low": 0.5, "high": 1.0},
        "colsample_bytree": {"low": 0.5, "high": 1.0},
        "reg_lambda": {"low": 1e-3, "high": 10.0, "log": True},
    },
}
_CALLABLE_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


class SpecProblem(ValueError):
    """A validator's complaint about ``path`` (relative to where the validator runs)."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataSpec(_Section):
    """Which dataset version to train on and which column is the label."""

    dataset: str = Field(min_length=1)
    version: int | None = Field(default=None, ge=1)
    target: str = Field(min_length=1)


class FeatureSpec(_Section):
    """A feature column; ``role`` ``None`` means inferred from the data.

    ``numeric`` and ``categorical`` (and ``None``) features are model inputs;
    ``sensitive`` ones are only used for fairness reports, ``identifier`` and
    ``timestamp`` ones for splitting and lineage.
    """

    name: str = Field(min_length=1)
    role: FeatureRole | None = None
    pii: bool = Field(
        default=False,
        description="Personal data: redacted or encrypted in the prediction log of any "
        "endpoint that serves a model trained from this spec.",
    )


class SplitSpec(_Section):
    """How rows are divided into train / validation (calibration) / holdout."""

    strategy: SplitStrategy | None = None
    column: str | None = Field(default=None, min_length=1)
    holdout: float = Field(default=0.2, gt=0.0, le=0.5)
    validation: float | None = Field(default=None, gt=0.0, le=0.5)

    @model_validator(mode="after")
    def _check(self) -> SplitSpec:
        if self.strategy in ("time", "group") and self.column is None:
            raise SpecProblem(("column",), f"strategy {self.strategy!r} needs a column")
        if self.strategy in ("stratified", "random") and self.column is not None:
            raise SpecProblem(("column",), "column is only used by strategies 'time' and 'group'")
        if self.holdout + (self.validation or 0.0) >= 0.9:
            raise SpecProblem(
                ("validation",), "holdout + validation must leave at least 10% for training"
            )
        return self


class CandidateSpec(_Section):
    """A model to try: a built-in kind or a ``module.path:function`` factory."""

    name: str
    label: str | None = Field(default=None, min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if value in BUILTIN_CANDIDATES or _CALLABLE_RE.fullmatch(value):
            return value
        raise SpecProblem(
            (),
            f"unknown candidate {value!r}; allowed: {', '.join(BUILTIN_CANDIDATES)} "
            "or 'package.module:function'",
        )

    @property
    def key(self) -> str:
        """How runs name this candidate: ``label``, else ``name``."""
        return self.label or self.name


class SearchParam(_Section):
    """One searched parameter: a range ``{low, high, log}`` or ``{choices: [...]}``.

    A range of two integers samples integers, any other range floats; ``log: true``
    samples on a log scale (``low`` must then be > 0).
    """

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: list[str | int | float | bool | None] | None = None

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise SpecProblem(
                (), f"expected {{low, high, log}} or {{choices: [...]}}, got {_show(value)}"
            )
        return value

    @field_validator("low", "high", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SpecProblem((), f"expected a number, got {_show(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecProblem((), f"expected a finite number, got {value!r}")
        return value

    @field_validator("choices", mode="before")
    @classmethod
    def _scalars(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise SpecProblem((), f"choices must be a non-empty list, got {_show(value)}")
        for i, item in enumerate(value):
            if item is not None and not isinstance(item, str | int | float | bool):
                raise SpecProblem(
                    (i,), f"a choice must be a string, number, boolean or null, got {_show(item)}"
                )
        if len({json.dumps(item) for item in value}) != len(value):
            raise SpecProblem((), f"choices must be distinct, got {_show(value)}")
        return value

    @model_validator(mode="after")
    def _check(self) -> SearchParam:
        has_range = self.low is not None or self.high is not None
        if self.choices is not None:
            if has_range or self.log:
                raise SpecProblem((), "use either {low, high, log} or {choices: [...]}, not both")
            return self
        if self.low is None or self.high is None:
            missing = "high" if self.high is None else "low"
            raise SpecProblem(
                (missing,),
                f"a range needs both low and high (or give choices: [...]); {missing} is missing",
            )
        if not self.low < self.high:
            raise SpecProblem((), f"low ({self.low}) must be less than high ({self.high})")
        if self.log and self.low <= 0:
            raise SpecProblem(("low",), f"a log range needs low > 0, got {self.low}")
        return self

    @property
    def kind(self) -> Literal["int", "float", "categorical"]:
        """How the parameter is sampled."""
        if self.choices is not None:
            return "categorical"
        return "int" if isinstance(self.low, int) and isinstance(self.high, int) else "float"


class SearchSpec(_Section):
    """Hyperparameter search (needs ``modelyard[tune]``) within a budget per candidate.

    Each candidate with a (default or declared) space gets at most ``trials`` trials and
    ``timeout_s`` seconds (a running trial finishes); each trial is scored by
    ``cv_folds``-fold cross-validation on the training rows only, by ``metric``
    (default: the primary metric; maximised or minimised as the metric says). An empty
    space (``space: {random_forest: {}}``) leaves that candidate untuned.
    """

    trials: int = Field(default=20, ge=1, le=MAX_TRIALS)
    timeout_s: float | None = Field(default=None, gt=0.0)
    metric: str | None = Field(default=None, min_length=1)
    cv_folds: int = Field(default=3, ge=2, le=MAX_CV_FOLDS)
    space: dict[str, dict[str, SearchParam]] = Field(default_factory=dict)


class ColumnExpectation(_Section):
    """Declared expectations for one column (every rule is optional)."""

    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = None
    max_null_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    unique: bool = False

    @field_validator("allowed")
    @classmethod
    def _check_allowed(cls, value: list[Any] | None) -> list[Any] | None:
        if value is None:
            return None
        if not value:
            raise SpecProblem((), "allowed must list at least one value")
        for i, item in enumerate(value):
            if item is None or not isinstance(item, str | int | float | bool):
                raise SpecProblem((i,), f"allowed values must be strings or numbers, got {item!r}")
        return value

    @model_validator(mode="after")
    def _check_range(self) -> ColumnExpectation:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecProblem(("min",), f"min ({self.min}) is greater than max ({self.max})")
        return self


class CalibrationSpec(_Section):
    """Post-hoc calibration fitted on the validation split."""

    method: CalibrationMethodName = "isotonic"


class EvaluationSpec(_Section):
    """How the holdout is scored."""

    n_boot: int = Field(default=1000, ge=0, le=100_000)
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    recall_target: float = Field(default=0.8, gt=0.0, le=1.0)
    precision_target: float = Field(default=0.8, gt=0.0, le=1.0)
    n_bins: int = Field(default=10, ge=2, le=100)
    min_group_size: int = Field(default=30, ge=1)


class ProjectSpec(_Section):
    """The whole ``modelyard.yaml``."""

    task: Task
    data: DataSpec
    features: list[FeatureSpec] = Field(default_factory=list)
    split: SplitSpec = Field(default_factory=SplitSpec)
    candidates: list[CandidateSpec] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0])
    metrics: list[str] = Field(default_factory=list)
    gates: list[str] = Field(default_factory=list)
    latency_budget_ms: float | None = Field(default=None, gt=0.0)
    expectations: dict[str, ColumnExpectation] = Field(default_factory=dict)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    calibration: CalibrationSpec | None = None
    search: SearchSpec | None = None
    approval_required: bool = False
    monitoring: dict[str, Any] = Field(default_factory=dict)
    rollout: dict[str, Any] = Field(default_factory=dict)

    @field_validator("features", mode="before")
    @classmethod
    def _names_to_features(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_SEEDS:
                raise SpecProblem(
                    (), f"a seed count must be between 1 and {MAX_SEEDS}, got {value}"
                )
            return list(range(value))
        if isinstance(value, list):
            if not value:
                raise SpecProblem((), "list at least one seed")
            for i, seed in enumerate(value):
                if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                    raise SpecProblem((i,), f"seeds must be integers >= 0, got {seed!r}")
            if len(set(value)) != len(value):
                raise SpecProblem((), f"seeds must be distinct, got {value}")
            return value
        raise SpecProblem((), f"expected a seed count or a list of seeds, got {value!r}")

    @field_validator("gates", mode="before")
    @classmethod
    def _beats_mappings(cls, value: Any) -> Any:
        # unquoted YAML `- beats: production by ...` arrives as {"beats": "production by ..."}
        if isinstance(value, list):
            return [
                f"beats: {item['beats']}"
                if isinstance(item, dict) and list(item) == ["beats"]
                else item
                for item in value
            ]
        return value

    @field_validator("gates")
    @classmethod
    def _parse_gates(cls, value: list[str]) -> list[str]:
        for i, expression in enumerate(value):
            try:
                parse_gate(expression)
            except InvalidInputError as exc:
                raise SpecProblem((i,), exc.message) from None
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> ProjectSpec:
        classification = self.task != "regression"
        for i, candidate in enumerate(self.candidates):
            if classification and candidate.name in REGRESSION_ONLY:
                raise SpecProblem(
                    ("candidates", i, "name"), f"{candidate.name!r} is for regression tasks"
                )
            if not classification and candidate.name in CLASSIFICATION_ONLY:
                raise SpecProblem(
                    ("candidates", i, "name"), f"{candidate.name!r} is for classification tasks"
                )
        keys = [c.key for c in self.candidates]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise SpecProblem(
                    ("candidates", i, "label"),
                    f"candidate {key!r} appears twice; give one a distinct label",
                )

        names = [f.name for f in self.features]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise SpecProblem(("features", i, "name"), f"feature {name!r} is listed twice")
            if name == self.data.target:
                raise SpecProblem(("features", i, "name"), f"{name!r} is the target")

        strategy = self.split.strategy
        if strategy is None:
            strategy = "stratified" if classification else "random"
            object.__setattr__(self, "split", self.split.model_copy(update={"strategy": strategy}))
        elif strategy == "stratified" and not classification:
            raise SpecProblem(
                ("split", "strategy"),
                "'stratified' needs a classification task; allowed: random, time, group",
            )

        known = CLASSIFICATION_METRICS if classification else REGRESSION_METRICS
        if not self.metrics:
            object.__setattr__(self, "metrics", list(known))
        for i, metric in enumerate(self.metrics):
            if metric not in known:
                raise SpecProblem(
                    ("metrics", i),
                    f"unknown metric {metric!r} for {self.task}; allowed: {', '.join(known)}",
                )
        for i, expression in enumerate(self.gates):
            problem = self._gate_problem(expression, known)
            if problem:
                raise SpecProblem(("gates", i), f"{expression!r}: {problem}")

        if self.calibration is not None:
            if not classification:
                raise SpecProblem(("calibration",), "calibration needs a classification task")
            if self.split.validation is None:
                raise SpecProblem(
                    ("split", "validation"),
                    "calibration needs a validation fraction (the calibration split)",
                )
        return self

    @model_validator(mode="after")
    def _check_search(self) -> ProjectSpec:
        search = self.search
        if search is None:
            return self
        known = CLASSIFICATION_METRICS if self.is_classification else REGRESSION_METRICS
        if search.metric is not None and search.metric not in known:
            raise SpecProblem(
                ("search", "metric"),
                f"unknown metric {search.metric!r} for {self.task}; allowed: {', '.join(known)}",
            )
        keys = [c.key for c in self.candidates]
        for key, params in search.space.items():
            if key not in keys:
                raise SpecProblem(
                    ("search", "space", key),
                    f"{key!r} is not a candidate of this spec; candidates: {', '.join(keys)}",
                )
            index = keys.index(key)
            for param in params:
                if param in self.candidates[index].params:
                    raise SpecProblem(
                        ("search", "space", key, param),
                        f"{param!r} is fixed in candidates.{index}.params; "
                        "fix it or search it, not both",
                    )
        space: dict[str, dict[str, SearchParam]] = {}
        for candidate in self.candidates:
            if candidate.key in search.space:
                space[candidate.key] = dict(search.space[candidate.key])
            elif candidate.name in DEFAULT_SEARCH_SPACES:
                space[candidate.key] = {
                    param: SearchParam.model_validate(bounds)
                    for param, bounds in DEFAULT_SEARCH_SPACES[candidate.name].items()
                    if param not in candidate.params
                }
        if not any(space.values()):
            raise SpecProblem(
                ("search", "space"),
                "no candidate has anything to search; declare parameters under "
                f"search.space.<candidate> (candidates: {', '.join(keys)}) or drop search",
            )
        object.__setattr__(self, "search", search.model_copy(update={"space": space}))
        return self

    @model_serializer(mode="wrap")
    def _drop_absent_search(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a spec without search hashes as it did before the section existed
        data: dict[str, Any] = handler(self)
        if data.get("search", ...) is None:
            data.pop("search")
        return data

    def _gate_problem(self, expression: str, known: tuple[str, ...]) -> str | None:
        gate = parse_gate(expression)
        root, *rest = gate.path
        if root in known:
            if len(rest) > 1 or (rest and rest[0] not in METRIC_FIELDS):
                return f"after {root!r} use one of: {', '.join(METRIC_FIELDS)}"
            return None
        if root == "improvement":
            if not rest or rest[0] not in known:
                return f"improvement.<metric> needs a metric: {', '.join(known)}"
            return None
        if gate.against is not None:
            return f"beats compares a metric: {', '.join(known)}"
        if root == "fairness":
            if len(rest) < 2:
                return "use fairness.<sensitive column>.<gap>, e.g. fairness.sex.dp_diff"
            declared = self.sensitive_features
            if self.features and rest[0] not in declared:
                return (
                    f"{rest[0]!r} is not a feature with role 'sensitive'; "
                    f"sensitive features: {', '.join(declared) or 'none'}"
                )
            return None
        if root == "latency":
            if len(rest) != 1:
                return "use latency.<percentile>, e.g. latency.p99_ms"
            return None
        return f"unknown metric {root!r}; allowed: {', '.join((*known, *GATE_SECTIONS))}"

    @property
    def feature_names(self) -> list[str]:
        """Declared feature names, in order (empty: every non-target column)."""
        return [f.name for f in self.features]

    @property
    def input_features(self) -> list[str]:
        """Declared features that feed the model: roles ``numeric``, ``categorical`` or none."""
        return [f.name for f in self.features if f.role in (None, "numeric", "categorical")]

    @property
    def sensitive_features(self) -> list[str]:
        """Names of features with role ``sensitive``."""
        return self.features_with_role("sensitive")

    def features_with_role(self, role: FeatureRole) -> list[str]:
        """Names of the features declared with ``role``."""
        return [f.name for f in self.features if f.role == role]

    @property
    def is_classification(self) -> bool:
        """True for binary and multiclass classification."""
        return self.task != "regression"


def parse_spec(data: object, *, source: str = "modelyard.yaml") -> ProjectSpec:
    """Validate a parsed spec mapping; InvalidInputError listing every problem."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"{source}: the spec must be a mapping of sections (task, data, ...), "
            f"got {type(data).__name__}",
            field=None,
        )
    try:
        return ProjectSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise spec_error(exc, source) from None


def spec_error(exc: ValidationError, source: str) -> InvalidInputError:
    """One readable InvalidInputError from a pydantic ValidationError."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = error["msg"]
        kind = error["type"]
        ctx = error.get("ctx") or {}
        cause = ctx.get("error")
        if isinstance(cause, SpecProblem):
            loc = loc + cause.path
            message = cause.message
        elif kind == "literal_error":
            message = f"{_show(error['input'])} is not allowed; allowed: {ctx.get('expected')}"
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            message = f"unknown key {loc[-1]!r}" + (
                f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            )
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"expected a mapping, got {_show(error['input'])}"
        else:
            message = f"{message.removeprefix('Value error, ')} (got {_show(error['input'])})"
        problems.append((_path(loc), message))
    lines = [f"  {path}: {message}" for path, message in problems]
    noun = "problem" if len(problems) == 1 else "problems"
    return InvalidInputError(
        f"invalid project spec {source} ({len(problems)} {noun}):\n" + "\n".join(lines),
        field=problems[0][0] if problems else None,
    )


def spec_hash(spec: ProjectSpec) -> str:
    """sha256 of the canonical JSON of the normalised spec (sorted keys, no spaces)."""
    canonical = json.dumps(
        spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the section at ``loc`` (empty if it is not a known section)."""
    current: Any = ProjectSpec
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
            continue
        origin = get_origin(current)
        args = get_args(current)
        if origin is list and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
