"""An optional in-process response cache: LRU with a TTL, keyed by endpoint, model
version and the canonical request body, so it can never answer from another version."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import orjson


def cache_key(kind: str, endpoint: str, version: int, payload: Any) -> str:
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(canonical).hexdigest()
    return f"{kind}:{endpoint}:{version}:{digest}"


class ResponseCache:
    def __init__(self, *, max_entries: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> Any | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        self._items[key] = (time.monotonic() + (self.ttl_s if ttl_s is None else ttl_s), value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
