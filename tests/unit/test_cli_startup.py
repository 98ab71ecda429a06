"""The CLI starts without the data, storage and ML stacks: `--help` stays fast."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "pandas", "sqlalchemy", "alembic", "lightgbm", "onnxruntime")


def test_cli_import_loads_no_heavy_packages() -> None:
    code = (
        "import sys\n"
        "import modelyard.cli.main\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip()
    assert loaded == "", f"importing modelyard.cli.main loaded: {loaded}"
