"""Architecture guards: the domain stays pure and the public surface is pinned."""

from __future__ import annotations

import subprocess
import sys

import modelyard

FRAMEWORKS = ("sqlalchemy", "starlette", "uvicorn", "httpx", "alembic", "skops")


def test_domain_imports_no_io_frameworks() -> None:
    code = (
        "import sys\n"
        "import modelyard.domain.signature, modelyard.domain.entities\n"
        "import modelyard.domain.refs, modelyard.domain.stages, modelyard.domain.drift\n"
        "import modelyard.domain.evaluation, modelyard.domain.gates, modelyard.domain.audit\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_api() -> None:
    assert sorted(modelyard.__all__) == [
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
    for name in modelyard.__all__:
        assert getattr(modelyard, name) is not None
