"""Per-route authentication, authorisation and rate limits for the HTTP edges.

Every route is wrapped by :func:`guarded` with the permission it needs (or ``None`` for
the few public ones), so a test can enumerate the app's routes and prove each is guarded.
Keys are checked against an in-memory table refreshed from the store, never a database
round trip per request.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.domain.security import Permission, Principal, Role, key_prefix
from modelyard.security.keys import KeyService, authenticate
from modelyard.serving.hygiene import header_value
from modelyard.serving.responses import error_response
from modelyard.settings import Settings

Handler = Callable[[Request], Awaitable[Response]]

ANONYMOUS_ADMIN = Principal(name="auth-disabled", prefix="none", role=Role.ADMIN)


@dataclass
class AuthTable:
    """Principals by key prefix, swapped wholesale by the refresher."""

    principals: dict[str, Principal] = field(default_factory=dict)
    #: The store's key fingerprint (:meth:`KeyService.fingerprint`) when
    #: ``principals`` were last loaded: the refresher reloads only when it changes.
    fingerprint: list[tuple[Any, ...]] | None = None


class LocalWindows:
    """Fixed-window counters in this process, for the ``memory://`` storage.

    The same algorithm as ``limits``' fixed window, without its asyncio memory
    storage's costs on the hot path: that storage starts an expiry task on every hit
    (and a thread hop per key it expires), about a tenth of a compiled model's
    request in this server. Counts live in a dict: the item's key -> (window end,
    count); expired windows are dropped when the dict grows (the failed-auth budget is
    keyed by client address, so its size is not bounded by the keys we issued).
    """

    MAX_ENTRIES = 10_000

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, tuple[str, ...]], tuple[float, int]] = {}
        #: Per limit item (by id; the item is kept so its id is not reused): its own
        #: key and window length, worked out once rather than on every hit.
        self._items: dict[int, tuple[RateLimitItem, str, int]] = {}

    def hit(self, item: RateLimitItem, *identifiers: str) -> float | None:
        """Count one hit: ``None`` if within the limit, else seconds until the window ends."""
        now = self._clock()
        known = self._items.get(id(item))
        if known is None or known[0] is not item:
            known = self._items[id(item)] = (item, item.key_for(), item.get_expiry())
        _, name, expiry = known
        end = now - now % expiry + expiry
        key = (name, identifiers)
        seen = self._counts.get(key)
        count = seen[1] + 1 if seen is not None and seen[0] == end else 1
        if count > item.amount:
            return end - now
        if seen is None and len(self._counts) >= self.MAX_ENTRIES:
            self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            if len(self._counts) >= self.MAX_ENTRIES:
                self._counts.clear()  # an address flood: forget counts rather than grow
        self._counts[key] = (end, count)
        return None


class RateLimits:
    """Limits per key, per endpoint and per client address (failed auth).

    Fixed-window counters: one counter per window (O(1) per hit; INCR in Redis), the
    cheapest strategy of ``limits``; a moving window keeps one entry per request. A
    caller may burst up to twice a limit across a window boundary, never more. With
    the default ``memory://`` storage the counters are :class:`LocalWindows` (this
    process only); any other storage goes through ``limits`` so that workers and
    replicas share one budget.
    """

    def __init__(self, settings: Settings) -> None:
        self.per_key: list[RateLimitItem] = parse_many(settings.rate_limit_per_key)
        self.per_endpoint: list[RateLimitItem] = parse_many(settings.rate_limit_per_endpoint)
        self.failed_auth: list[RateLimitItem] = parse_many(settings.rate_limit_failed_auth)
        uri = settings.rate_limit_storage
        self.local: LocalWindows | None = None
        if uri.split("://")[0] in ("memory", "async+memory"):
            self.local = LocalWindows()
            return
        if not uri.startswith("async+"):
            uri = f"async+{uri}"  # the hot path is async: use the asyncio storages
        # Redis through redis-py's asyncio client (the `redis` extra), not coredis.
        options = {"implementation": "redispy"} if "redis" in uri.split("://")[0] else {}
        storage = storage_from_string(uri, **options)
        assert isinstance(storage, Storage)
        self.storage = storage
        self.limiter = FixedWindowRateLimiter(self.storage)

    async def close(self) -> None:
        """Close a networked storage's connections (Redis); memory storage has none."""
        if self.local is not None:
            return
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        closer = getattr(client, "aclose", None)
        if closer is not None:
            await closer()

    async def check(self, items: list[RateLimitItem], *identifiers: str) -> float | None:
        """``None`` if allowed, else seconds until a retry may succeed."""
        if self.local is not None:
            for item in items:
                wait = self.local.hit(item, *identifiers)
                if wait is not None:
                    return wait
            return None
        for item in items:
            if not await self.limiter.hit(item, *identifiers):
                stats = await self.limiter.get_window_stats(item, *identifiers)
                return max(0.0, stats.reset_time - time.time())
        return None


def bearer_key(request: Request) -> str | None:
    header = header_value(request.scope, b"authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    return header_value(request.scope, b"x-api-key")


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The caller's address; ``X-Forwarded-For`` counts only when a trusted proxy sent it."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _in_networks(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in_networks(hop, trusted_proxies):
            return hop
    return peer


def _in_networks(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


async def _fresh_key(
    request: Request, presented: str, limits: RateLimits, settings: Settings
) -> Principal | None:
    """A well-formed key the in-memory table does not know yet (created since the last
    refresh): look it up once. Spent against the failed-auth budget, so guessing
    prefixes cannot turn into a database flood."""
    prefix = key_prefix(presented)
    if prefix is None or prefix in request.state.auth.principals:
        return None
    address = client_address(request, settings.trusted_proxies)
    if await limits.check(limits.failed_auth, "auth-lookup", address) is not None:
        return None
    keys: KeyService = request.state.keys
    found = await run_in_threadpool(keys.principal, prefix)
    if found is None:
        return None
    request.state.auth.principals = {**request.state.auth.principals, prefix: found}
    return authenticate(request.state.auth.principals, presented)


def _retry(seconds: float) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(seconds)))}


def guarded(
    permission: Permission | None, handler: Handler, *, per_endpoint: bool = False
) -> Handler:
    """Wrap ``handler`` so it runs only for a caller holding ``permission``."""

    async def wrapper(request: Request) -> Response:
        if permission is None:
            return await handler(request)
        state = request.scope["state"]  # what request.state reads, without its lookups
        settings: Settings = state["settings"]
        request_id = state["request_id"]
        limits: RateLimits = state["rate_limits"]
        if not settings.auth_enabled:
            state["principal"] = ANONYMOUS_ADMIN
            return await handler(request)
        presented = bearer_key(request)
        principal = authenticate(state["auth"].principals, presented) if presented else None
        if principal is None and presented:
            principal = await _fresh_key(request, presented, limits, settings)
        if principal is None:
            address = client_address(request, settings.trusted_proxies)
            wait = await limits.check(limits.failed_auth, "auth-fail", address)
            if wait is not None:
                return error_response(
                    429,
                    "rate_limited",
                    "too many failed authentications",
                    request_id,
                    headers=_retry(wait),
                )
            message = (
                "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                if not presented
                else "invalid, expired or revoked API key"
            )
            return error_response(
                401,
                "unauthorized",
                message,
                request_id,
                headers={"www-authenticate": 'Bearer realm="modelyard"'},
            )
        endpoint = request.path_params.get("name") if per_endpoint else None
        if not principal.can(permission, endpoint):
            scope = f" on endpoint {endpoint!r}" if endpoint and principal.endpoints else ""
            return error_response(
                403,
                "forbidden",
                f"role {principal.role.value!r} may not {permission.value}{scope}",
                request_id,
            )
        wait = await limits.check(limits.per_key, "key", principal.prefix)
        if wait is None and endpoint is not None:
            wait = await limits.check(limits.per_endpoint, "endpoint", endpoint)
        if wait is not None:
            return error_response(
                429,
                "rate_limited",
                "rate limit exceeded; retry later",
                request_id,
                headers=_retry(wait),
            )
        state["principal"] = principal
        return await handler(request)

    wrapper.permission = permission  # type: ignore[attr-defined]
    wrapper.__name__ = getattr(handler, "__name__", "handler")
    return wrapper
