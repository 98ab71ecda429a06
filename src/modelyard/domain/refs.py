"""Parsing of the names and references users type (``NAME``, ``NAME:VERSION``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.errors import InvalidInputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_name(value: str, *, what: str = "name") -> str:
    """Return ``value`` if it is a safe resource name (letters, digits, ``_ . -``)."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        raise InvalidInputError(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            field=what,
        )
    return value


@dataclass(frozen=True)
class ModelRef:
    """``NAME:VERSION`` where VERSION is a number, a stage name or ``latest``."""

    name: str
    selector: str

    @property
    def version(self) -> int | None:
        return int(self.selector) if self.selector.isdigit() else None

    def __str__(self) -> str:
        return f"{self.name}:{self.selector}"


def parse_model_ref(value: str, *, default: str | None = "latest") -> ModelRef:
    """Parse ``NAME[:VERSION]``; VERSION may be a number, a stage or ``latest``."""
    name, sep, selector = value.partition(":")
    if not sep:
        if default is None:
            raise InvalidInputError(f"expected NAME:VERSION, got {value!r}", field="model")
        selector = default
    check_name(name, what="model")
    selector = selector.strip().lower()
    if not selector or not (selector.isdigit() or selector.isalpha()):
        raise InvalidInputError(
            f"invalid version {selector!r} in {value!r}: use a number, a stage or 'latest'",
            field="model",
        )
    if selector.isdigit() and int(selector) < 1:
        raise InvalidInputError(f"versions start at 1, got {selector!r}", field="model")
    return ModelRef(name=name, selector=selector)


def parse_dataset_ref(value: str) -> tuple[str, int | None]:
    """Parse ``NAME[:VERSION]`` into the name and the version (``None``: the latest).

    VERSION must be a whole number >= 1; anything else (``quickstart:abc``,
    ``quickstart:0``, ``quickstart:``) is an error rather than the latest version.
    """
    name, sep, raw = value.partition(":")
    if not name.strip():
        raise InvalidInputError(
            f"dataset reference {value!r} has no name: use NAME or NAME:VERSION", field="ref"
        )
    check_name(name, what="dataset")
    if not sep:
        return name, None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise InvalidInputError(
            f"dataset reference {value!r}: the version after ':' must be a number >= 1 "
            "(use NAME or NAME:VERSION)",
            field="ref",
        )
    return name, int(raw)
