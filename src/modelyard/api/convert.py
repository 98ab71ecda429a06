"""Entities to JSON-able dicts for responses."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any


def plain(entity: Any) -> dict[str, Any]:
    """A dataclass as a dict with datetimes in ISO-8601."""
    return {k: _value(v) for k, v in asdict(entity).items()}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return value
