"""The response cache's Redis store (the in-process one: tests/unit)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from helpers import redis_url
from modelyard.runtime.base import Prediction
from modelyard.serving.cache import REDIS_PREFIX, RedisCache, open_cache

ANSWER = Prediction(["yes"], [{"no": 0.25, "yes": 0.75}])


def test_redis_cache_round_trip_expiry_and_json_only() -> None:
    url = redis_url()
    key = f"test:{uuid.uuid4().hex}"

    async def scenario() -> None:
        cache = open_cache(url, max_entries=1)
        assert isinstance(cache, RedisCache)
        try:
            assert await cache.get(key) is None
            await cache.put(key, ANSWER, 0.3)
            assert await cache.get(key) == ANSWER
            raw = await cache._redis.get(REDIS_PREFIX + key)
            assert raw is not None and raw.startswith(b"{")  # JSON, never pickle
            await asyncio.sleep(0.5)
            assert await cache.get(key) is None  # expired in Redis itself
            # A foreign or damaged value is a miss, not an error for the caller.
            await cache._redis.set(REDIS_PREFIX + key, b"\x80not json", px=5000)
            assert await cache.get(key) is None and cache.errors == 1
        finally:
            await cache._redis.delete(REDIS_PREFIX + key)
            await cache.close()

    asyncio.run(scenario())


def test_unreachable_redis_is_a_miss_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> RedisCache:
        # Nothing listens on port 1: the first call fails, and the cache is then
        # skipped (not retried) until retry_s has passed.
        cache = RedisCache("redis://:hunter2@127.0.0.1:1/0", retry_s=0.2)
        calls = 0
        real_get = cache._redis.get

        async def counting_get(*args: object) -> object:
            nonlocal calls
            calls += 1
            return await real_get(*args)

        cache._redis.get = counting_get  # type: ignore[method-assign]
        for _ in range(3):
            assert await cache.get("k") is None
            await cache.put("k", ANSWER, 5)
        assert calls == 1 and cache.errors == 6
        await asyncio.sleep(0.3)
        assert await cache.get("k") is None and calls == 2  # retried after retry_s
        await cache.close()
        return cache

    with caplog.at_level(logging.WARNING, logger="modelyard.serving"):
        cache = asyncio.run(scenario())
    assert cache.errors == 7
    warnings = [r for r in caplog.records if "response cache" in r.getMessage()]
    assert len(warnings) == 1
    assert "hunter2" not in warnings[0].getMessage() and "***@127.0.0.1:1" in (
        warnings[0].getMessage()
    )
