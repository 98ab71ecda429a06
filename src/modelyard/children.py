"""Child processes that run a modelyard module with the server's settings.

The settings (secrets included) travel as JSON on the child's stdin, never in argv
where ``ps`` shows them; children lower their own CPU priority so serving keeps the
core. Used by the prediction shipper and the job runner.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys

from modelyard.settings import Settings

log = logging.getLogger("modelyard")
NICENESS = 10


def spawn(
    module: str, args: list[str], settings: Settings, *, quiet: bool = False
) -> subprocess.Popen[bytes]:
    """``python -m MODULE ARGS`` with ``settings`` as JSON on stdin (``quiet``: no stdout)."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL if quiet else None,
    )
    assert process.stdin is not None
    try:
        process.stdin.write(settings.model_dump_json().encode())
        process.stdin.close()
    except OSError:
        process.kill()
        process.wait()
        raise
    return process


def read_settings() -> Settings:
    """In the child: the settings its parent wrote to stdin."""
    return Settings.model_validate_json(sys.stdin.buffer.read())


def terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``; reaps it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def lower_priority(*, idle: bool = False) -> None:
    """``nice`` +10, then the idle scheduling class if asked for and available."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as exc:
            log.warning("cannot use idle CPU priority (%s); running at nice +10", exc)
