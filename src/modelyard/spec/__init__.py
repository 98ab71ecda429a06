"""The project spec, ``modelyard.yaml``: models, loader, canonical hash and template.

Names load lazily (PEP 562): the CLI reads ``SPEC_FILENAME`` from the template at
startup, and must not pull in the models (and through them numpy and pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard._lazy import lazy_exports

if TYPE_CHECKING:
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

_SUBMODULE_OF = {
    "BUILTIN_CANDIDATES": "model",
    "FEATURE_ROLES": "model",
    "QUICKSTART_TEMPLATE": "template",
    "SPEC_FILENAME": "template",
    "TASKS": "model",
    "CalibrationSpec": "model",
    "CandidateSpec": "model",
    "ColumnExpectation": "model",
    "DataSpec": "model",
    "EvaluationSpec": "model",
    "FeatureSpec": "model",
    "ProjectSpec": "model",
    "SplitSpec": "model",
    "load_spec": "loader",
    "loads_spec": "loader",
    "parse_spec": "model",
    "spec_hash": "model",
    "spec_template": "template",
}

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

__getattr__ = lazy_exports(__name__, _SUBMODULE_OF)
