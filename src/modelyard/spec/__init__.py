"""The project spec, ``modelyard.yaml``: models, loader, canonical hash and template."""

from modelyard.spec.loader import load_spec, loads_spec
from modelyard.spec.model import (
    BUILTIN_CANDIDATES,
    FEATURE_ROLES,
    TASKS,
    CalibrationSpec,
    CandidateSpec,
    ColumnExpectation,
    DataSpec,
    EvaluationSpec,
    FeatureSpec,
    ProjectSpec,
    SplitSpec,
    parse_spec,
    spec_hash,
)
from modelyard.spec.template import QUICKSTART_TEMPLATE, SPEC_FILENAME, spec_template

__all__ = [
    "BUILTIN_CANDIDATES",
    "FEATURE_ROLES",
    "QUICKSTART_TEMPLATE",
    "SPEC_FILENAME",
    "TASKS",
    "CalibrationSpec",
    "CandidateSpec",
    "ColumnExpectation",
    "DataSpec",
    "EvaluationSpec",
    "FeatureSpec",
    "ProjectSpec",
    "SplitSpec",
    "load_spec",
    "loads_spec",
    "parse_spec",
    "spec_hash",
    "spec_template",
]
