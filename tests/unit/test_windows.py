from datetime import timedelta

import pytest

from modelyard.domain.windows import parse_window
from modelyard.errors import InvalidInputError


def test_windows_parse_and_refuse_what_they_cannot_hold() -> None:
    assert parse_window("30m") == timedelta(minutes=30)
    assert parse_window("7D") == timedelta(days=7)
    for bad in ("24", "0d", "h", "1.5h", "3w"):
        with pytest.raises(InvalidInputError, match="use a number and a unit"):
            parse_window(bad)
    with pytest.raises(InvalidInputError, match="too long"):
        parse_window("999999999999d")
