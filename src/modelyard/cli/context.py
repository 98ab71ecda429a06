"""Shared CLI plumbing: settings, the workspace, error reporting and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from modelyard import errors
from modelyard.settings import Settings

if TYPE_CHECKING:  # the workspace loads the storage and data stack: only commands need it
    from modelyard.workspace import Workspace

console = Console()
err_console = Console(stderr=True)

EXIT_CODES: list[tuple[type[errors.ModelyardError], int]] = [
    (errors.InvalidInputError, 2),
    (errors.NotFoundError, 4),
    (errors.ConflictError, 5),
    (errors.IntegrityError, 6),
    (errors.ModelLoadError, 6),
    (errors.TrustError, 7),
]

T = TypeVar("T")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "MODELYARD_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        err_console.print(_error_line(f"invalid setting {field}: {first['msg']}"), highlight=False)
        raise typer.Exit(2) from None


def spec_settings(spec: Path | None) -> Settings:
    """Settings whose ``spec_file`` is ``spec``, else ``MODELYARD_SPEC_FILE``, else
    ``./modelyard.yaml`` when it exists (as ``train`` and ``datasets add`` find it)."""
    from modelyard.spec.template import SPEC_FILENAME

    settings = load_settings()
    if spec is None and settings.spec_file is None and Path(SPEC_FILENAME).is_file():
        spec = Path(SPEC_FILENAME)
    if spec is not None:
        settings = settings.model_copy(update={"spec_file": spec})
    return settings


@contextmanager
def workspace(settings: Settings | None = None) -> Iterator[Workspace]:
    """Open the workspace of ``settings`` (default: the environment's); map errors to
    messages and exit codes."""
    from modelyard.workspace import Workspace

    with reported():
        ws = Workspace(settings or load_settings())
        try:
            yield ws
        finally:
            ws.close()


@contextmanager
def reported() -> Iterator[None]:
    try:
        yield
    except errors.ModelyardError as exc:
        code = next((c for cls, c in EXIT_CODES if isinstance(exc, cls)), 1)
        err_console.print(_error_line(exc.message), highlight=False)
        raise typer.Exit(code) from None


def _error_line(message: str) -> Text:
    """``error: message`` with the message as plain text, never markup: "[a, b]" or a
    trailing backslash in it print as written."""
    return Text.assemble(("error:", "red"), " ", message)


def print_json(data: Any) -> None:
    sys.stdout.write(
        orjson.dumps(
            data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        ).decode()
        + "\n"
    )


def run_with(fn: Callable[[Workspace], T]) -> T:
    with workspace() as ws:
        return fn(ws)
