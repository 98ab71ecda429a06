"""CLI error reporting: messages print as written, with the right exit code."""

from __future__ import annotations

import pytest
import typer

from modelyard.cli.context import reported
from modelyard.errors import ConflictError, InvalidInputError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInputError("region: expected one of [a, b], got [red]x[/red]"), 2),
        (ConflictError("rollout of [bold]m:2[/] is running"), 5),
    ],
)
def test_reported_prints_brackets_verbatim(
    capsys: pytest.CaptureFixture[str], error: Exception, code: int
) -> None:
    with pytest.raises(typer.Exit) as exit_, reported():
        raise error
    assert exit_.value.exit_code == code
    err = " ".join(capsys.readouterr().err.split())
    assert err == f"error: {error}"


def test_reported_keeps_a_trailing_backslash(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit), reported():
        raise InvalidInputError("path ends in C:\\data\\")
    assert capsys.readouterr().err.strip() == "error: path ends in C:\\data\\"
