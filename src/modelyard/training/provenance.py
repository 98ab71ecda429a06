"""Where a run's code came from: the git commit (and whether the tree was dirty)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from modelyard._version import __version__


def code_version(cwd: Path | None = None) -> str:
    """``<sha>`` or ``<sha>-dirty`` inside a git work tree, else ``modelyard-<version>``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"modelyard-{__version__}"
    return f"{sha}-dirty" if dirty else sha
