"""The optional response cache: predictions keyed by endpoint, the exact artifact
served and the canonical request body, so it can never answer from another version.

Two stores behind one interface: an in-process LRU with a TTL (the default), and
Redis (``MODELYARD_CACHE_STORAGE=redis://…``), shared by every worker and server that
points at it. Only the model's answer is cached, as JSON (never pickle: whoever can
write to Redis must not be able to run code in the server); the request is still
validated on a hit. A cache must never fail a request: a Redis error is a miss,
counted as ``error`` in the metrics and logged at most once a minute.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

import orjson

from modelyard.errors import InvalidInputError
from modelyard.runtime.base import Prediction

log = logging.getLogger("modelyard.serving")

#: Redis keys of the cache start with this (``FLUSH`` by prefix to clear it).
REDIS_PREFIX = "modelyard:cache:"


def cache_key(kind: str, endpoint: str, ref: str, artifact: str, payload: Any) -> str:
    """The key of ``payload`` as sent to ``endpoint`` in the ``kind`` format, answered
    by model ``ref`` (NAME:VERSION) from the artifact with digest ``artifact``."""
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(canonical).hexdigest()
    return f"{kind}:{endpoint}:{ref}:{artifact}:{digest}"


class ResponseCache(Protocol):
    """Where cached predictions live. ``get`` is ``None`` on a miss; ``errors`` counts
    lookups and stores that failed (each one served as a miss)."""

    errors: int

    async def get(self, key: str) -> Prediction | None: ...

    async def put(self, key: str, value: Prediction, ttl_s: float) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    """An LRU of at most ``max_entries`` predictions, each expiring after its TTL."""

    def __init__(self, *, max_entries: int) -> None:
        self.max_entries = max_entries
        self.errors = 0
        self._items: OrderedDict[str, tuple[float, Prediction]] = OrderedDict()

    async def get(self, key: str) -> Prediction | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    async def put(self, key: str, value: Prediction, ttl_s: float) -> None:
        self._items[key] = (time.monotonic() + ttl_s, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    """Predictions in Redis as JSON under :data:`REDIS_PREFIX`, expiring by TTL (Redis's
    own eviction policy bounds its memory). ``timeout_s`` bounds what a slow or
    unreachable Redis adds to a request; after a failure the cache is skipped (each
    skip counted as an error) for ``retry_s``, so an outage costs one such wait per
    ``retry_s``, not one per request."""

    def __init__(self, url: str, *, timeout_s: float = 0.05, retry_s: float = 1.0) -> None:
        import redis.asyncio as aioredis  # noqa: PLC0415 - the redis extra, only when used

        self.url = url
        self.errors = 0
        self.retry_s = retry_s
        self._down_until = float("-inf")
        self._last_warning = float("-inf")
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    def _skipping(self) -> bool:
        if time.monotonic() < self._down_until:
            self.errors += 1
            return True
        return False

    async def get(self, key: str) -> Prediction | None:
        if self._skipping():
            return None
        try:
            raw = await self._redis.get(REDIS_PREFIX + key)
        except Exception as exc:  # noqa: BLE001 - any Redis failure is a miss
            self._failed("read", exc)
            return None
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            return Prediction(data["predictions"], data.get("probabilities"))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._failed("decode", exc)
            return None

    async def put(self, key: str, value: Prediction, ttl_s: float) -> None:
        body = orjson.dumps(
            {"predictions": value.predictions, "probabilities": value.probabilities}
        )
        if self._skipping():
            return
        try:
            await self._redis.set(REDIS_PREFIX + key, body, px=max(1, round(ttl_s * 1000)))
        except Exception as exc:  # noqa: BLE001 - a failed store only loses the entry
            self._failed("write", exc)

    async def close(self) -> None:
        await self._redis.aclose()

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        now = time.monotonic()
        if what != "decode":  # a bad entry says nothing about Redis being up
            self._down_until = now + self.retry_s
        if now - self._last_warning >= 60:
            self._last_warning = now
            log.warning(
                "response cache: %s failed at %s (%s: %s); serving without the cache",
                what,
                _redacted(self.url),
                type(exc).__name__,
                exc,
            )


def _redacted(url: str) -> str:
    """``url`` without a password (``redis://:secret@host`` → ``redis://***@host``)."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"


def open_cache(storage: str, *, max_entries: int) -> ResponseCache:
    """The cache ``storage`` names (``Settings.cache_storage``, already checked): ``memory``
    or a Redis URL (InvalidInputError when the redis package is missing)."""
    if storage == "memory":
        return MemoryCache(max_entries=max_entries)
    try:
        return RedisCache(storage)
    except ImportError as exc:
        raise InvalidInputError(
            "MODELYARD_CACHE_STORAGE is a Redis URL but the redis package is missing: "
            "pip install 'modelyard[redis]'",
            field="cache_storage",
        ) from exc
