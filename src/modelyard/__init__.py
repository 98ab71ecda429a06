"""modelyard: take ML models to production and keep them healthy there.

    import modelyard
    ws = modelyard.Workspace()                      # uses MODELYARD_HOME etc.
    ws.add_dataset("data.csv", name="churn")
    ws.register_model(fitted, "churn", input_example=X_train)
    ws.deploy("churn", "churn:1")
    modelyard.Client("http://127.0.0.1:8000").predict("churn", rows)

Names are imported on first use, so ``import modelyard.domain`` stays free of the
database and web stacks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from modelyard._version import __version__

if TYPE_CHECKING:
    from modelyard.client import Client, ServerError
    from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature, infer_signature
    from modelyard.monitoring.drift_report import drift_report
    from modelyard.settings import Settings
    from modelyard.workspace import Workspace

_EXPORTS = {
    "Client": "modelyard.client",
    "ServerError": "modelyard.client",
    "ColumnSpec": "modelyard.domain.signature",
    "OutputSpec": "modelyard.domain.signature",
    "Signature": "modelyard.domain.signature",
    "infer_signature": "modelyard.domain.signature",
    "Settings": "modelyard.settings",
    "Workspace": "modelyard.workspace",
    "drift_report": "modelyard.monitoring.drift_report",
}

__all__ = [
    "Client",
    "ColumnSpec",
    "OutputSpec",
    "ServerError",
    "Settings",
    "Signature",
    "Workspace",
    "__version__",
    "drift_report",
    "infer_signature",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
