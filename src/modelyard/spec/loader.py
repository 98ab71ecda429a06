"""Read ``modelyard.yaml``: YAML (safe subset only) → validated :class:`ProjectSpec`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelyard.errors import InvalidInputError, NotFoundError
from modelyard.spec.model import ProjectSpec, parse_spec


def _check_duplicate_keys(node: Any) -> None:
    """Raise yaml.MarkedYAMLError for a key repeated within one mapping (YAML keeps the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[tuple[str, str]] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.MarkedYAMLError(
                        problem=f"duplicate key {key_node.value!r}",
                        problem_mark=key_node.start_mark,
                    )
                seen.add(key)
            _check_duplicate_keys(value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item)


def loads_spec(text: str, *, source: str = "modelyard.yaml") -> ProjectSpec:
    """Parse and validate spec text; InvalidInputError for bad YAML or a bad spec."""
    try:
        _check_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInputError(f"{source}: invalid YAML{where}: {problem}", field=None) from None
    if data is None:
        raise InvalidInputError(f"{source} is empty", field=None)
    return parse_spec(data, source=source)


def load_spec(path: str | Path) -> ProjectSpec:
    """Read and validate the spec file at ``path``.

    Raises NotFoundError when the file does not exist and InvalidInputError (naming
    the key path) when it is not valid YAML or not a valid spec.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(
            f"spec file {file} not found (create one with modelyard init)"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{file} is not UTF-8 text", field=None) from None
    return loads_spec(text, source=str(file))
