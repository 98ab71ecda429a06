"""In-process fixed-window rate limits (the memory storage's hot path)."""

from __future__ import annotations

import pytest
from limits import parse

from modelyard.serving.guard import LocalWindows


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_window_allows_its_amount_then_says_when_it_ends() -> None:
    clock = Clock(1000.25)
    windows = LocalWindows(clock)
    item = parse("3/second")
    assert [windows.hit(item, "key", "a") for _ in range(3)] == [None, None, None]
    assert windows.hit(item, "key", "a") == pytest.approx(0.75)
    assert windows.hit(item, "key", "b") is None  # another identifier, another budget
    clock.now = 1001.0  # the next window
    assert windows.hit(item, "key", "a") is None


def test_refused_hits_do_not_extend_the_window() -> None:
    clock = Clock(0.0)
    windows = LocalWindows(clock)
    item = parse("1/minute")
    assert windows.hit(item, "k") is None
    for _ in range(5):
        clock.now += 1
        assert windows.hit(item, "k") == pytest.approx(60 - clock.now)
    clock.now = 60.0
    assert windows.hit(item, "k") is None


def test_many_addresses_do_not_grow_it_without_bound() -> None:
    clock = Clock(0.0)
    windows = LocalWindows(clock)
    windows.MAX_ENTRIES = 100
    item = parse("5/second")
    for i in range(1000):
        windows.hit(item, "auth-fail", f"10.0.{i // 256}.{i % 256}")
    assert len(windows._counts) <= 100
