"""Monitoring windows written as a number and a unit (``30m``, ``24h``, ``7d``)."""

from __future__ import annotations

from datetime import timedelta

from modelyard.errors import InvalidInputError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_window(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d`` → a timedelta."""
    value, unit = text[:-1], text[-1:].lower()
    if unit not in _UNITS or not value.isdigit() or int(value) <= 0:
        raise InvalidInputError(
            f"invalid window {text!r}: use a number and a unit, e.g. 30m, 24h, 7d", field="window"
        )
    try:
        return timedelta(**{_UNITS[unit]: int(value)})
    except OverflowError:  # more days than a timedelta holds
        raise InvalidInputError("window is too long", field="window") from None
