"""App factory for multi-process serving (``uvicorn --factory``): settings from the
environment, as every worker process must build its own app."""

from __future__ import annotations

from starlette.applications import Starlette

from modelyard.serving.app import create_app
from modelyard.settings import Settings


def app_from_environment() -> Starlette:
    return create_app(Settings(), bind_host=None)
