"""The response cache's keys and its in-process store (LRU with a TTL)."""

from __future__ import annotations

import asyncio

import pytest

from modelyard.runtime.base import Prediction
from modelyard.serving.cache import MemoryCache, cache_key, open_cache
from modelyard.settings import Settings

ANSWER = Prediction(["yes"], [{"no": 0.25, "yes": 0.75}])


def test_keys_are_canonical_and_tied_to_the_artifact() -> None:
    one = cache_key("native", "ep", "m:1", "sha256:a", {"inputs": [{"x": 1, "y": 2}]})
    assert one == cache_key("native", "ep", "m:1", "sha256:a", {"inputs": [{"y": 2, "x": 1}]})
    others = {
        cache_key("mlflow", "ep", "m:1", "sha256:a", {"inputs": [{"x": 1, "y": 2}]}),
        cache_key("native", "ep2", "m:1", "sha256:a", {"inputs": [{"x": 1, "y": 2}]}),
        cache_key("native", "ep", "m:2", "sha256:a", {"inputs": [{"x": 1, "y": 2}]}),
        cache_key("native", "ep", "m:1", "sha256:b", {"inputs": [{"x": 1, "y": 2}]}),
        cache_key("native", "ep", "m:1", "sha256:a", {"inputs": [{"x": 1, "y": 3}]}),
    }
    assert one not in others and len(others) == 5


def test_memory_cache_is_an_lru_with_a_ttl() -> None:
    async def scenario() -> None:
        cache = MemoryCache(max_entries=2)
        await cache.put("a", ANSWER, 60)
        await cache.put("b", ANSWER, 60)
        assert await cache.get("a") == ANSWER  # a is now the most recent
        await cache.put("c", ANSWER, 60)  # evicts b, the least recently used
        assert await cache.get("b") is None
        assert await cache.get("a") == ANSWER and await cache.get("c") == ANSWER
        await cache.put("short", ANSWER, 0.01)
        await asyncio.sleep(0.03)
        assert await cache.get("short") is None

    asyncio.run(scenario())


def test_cache_storage_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="cache_storage"):
        Settings(cache_storage="memcached://x")
    assert isinstance(open_cache("memory", max_entries=5), MemoryCache)
