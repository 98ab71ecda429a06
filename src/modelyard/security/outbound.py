"""Safe outbound HTTP for webhooks and notifications (SSRF guard).

A URL given by a user is checked twice:

1. :func:`check_url` when it is accepted (registration, before a delivery): scheme,
   host syntax, no credentials, a sane port, and every address the host resolves to.
2. At connect time, by the network backend under :func:`safe_client`: the host is
   resolved again, every address is checked again, and the socket is opened to one of
   exactly those addresses. A name that re-binds to ``127.0.0.1`` between the two
   steps is refused. TLS still uses the original host name for SNI and certificate
   checks, and the ``Host`` header is untouched, because only the TCP dial is pinned.

Refused: private (RFC 1918), loopback, link-local (including the cloud metadata
address ``169.254.169.254``), shared CGNAT space, unique-local IPv6, unspecified,
multicast, reserved and otherwise non-global addresses, also when written as
IPv4-mapped, NAT64, 6to4 or Teredo IPv6, or in the numeric forms ``inet_aton``
accepts (``2130706433``, ``0x7f.1``, ``017700000001``, ``127.1``). An allowlist
(host names or CIDRs) lets chosen destinations through anyway, e.g. ``127.0.0.1/32``
in tests.

Redirects are never followed, proxies from the environment are ignored, and response
bodies are read only up to a cap.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpcore
import httpx

from modelyard.errors import InvalidInputError

__all__ = [
    "BlockedDestinationError",
    "OutboundPolicy",
    "OutboundResult",
    "SafeAsyncClient",
    "SafeClient",
    "apost_capped",
    "check_url",
    "post_capped",
    "safe_async_client",
    "safe_client",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
USER_AGENT = "modelyard-outbound"

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?\Z")
_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0[xX][0-9a-fA-F]*)\Z")
_IPV4_PART = re.compile(r"(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z")


class BlockedDestinationError(InvalidInputError):
    """The URL points somewhere outbound requests may not go (``field="url"``)."""

    code = "blocked_destination"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="url")


@dataclass(frozen=True)
class OutboundPolicy:
    """Where outbound requests may go and how much they may send, wait for and read.

    ``allowlist`` entries (host names, or addresses/CIDRs such as ``127.0.0.1/32``) pass
    even when private; ``allow_private`` lets every non-public address through except
    the cloud metadata endpoints. ``timeout_s`` bounds each network phase and the whole
    response read.
    """

    allowed_schemes: tuple[str, ...] = ("http", "https")
    allow_private: bool = False
    allowlist: tuple[str, ...] = ()
    timeout_s: float = 5.0
    max_response_bytes: int = 65_536
    max_request_bytes: int = 1_048_576

    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_schemes", tuple(s.lower() for s in self.allowed_schemes))
        object.__setattr__(self, "allowlist", tuple(self.allowlist))
        if not set(self.allowed_schemes) <= {"http", "https"}:
            raise InvalidInputError("only http and https can be allowed", field="allowed_schemes")
        for name in ("timeout_s", "max_response_bytes", "max_request_bytes"):
            if not getattr(self, name) > 0:
                raise InvalidInputError(f"{name} must be positive", field=name)
        networks: list[IPNetwork] = []
        names: set[str] = set()
        for entry in self.allowlist:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
                continue
            except ValueError:
                pass
            name = entry.strip().lower().rstrip(".")
            if not _HOST_NAME.match(name) or _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
                raise InvalidInputError(
                    f"allowlist entry {entry!r} is neither a host name nor an address/CIDR",
                    field="allowlist",
                )
            names.add(name)
        object.__setattr__(self, "_networks", tuple(networks))
        object.__setattr__(self, "_names", frozenset(names))

    def allows_name(self, host: str) -> bool:
        """Whether ``host`` is allowlisted by name (then its addresses are not checked)."""
        return host.lower().rstrip(".") in self._names


@dataclass(frozen=True)
class OutboundResult:
    """What came back from one delivery. A 3xx is a failed delivery (``ok`` is false)."""

    status: int
    body_prefix: bytes
    elapsed_s: float
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# --- address checks -------------------------------------------------------------------


def _normalise(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id:
            return ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    return ip


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4, Teredo or NAT64 IPv6 address leads to."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _is_metadata(ip: IPAddress) -> bool:
    return ip in _METADATA or _embedded_ipv4(ip) in _METADATA


def _category(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination, or ``None`` when it is."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None and (inner := _category(embedded)) is not None:
        return f"{inner} ({embedded} embedded in IPv6)"
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip in _METADATA:
        return "the cloud metadata address (link-local)"
    if ip.is_link_local:
        return "a link-local address"
    if ip in _CGNAT:
        return "in the shared CGNAT range 100.64.0.0/10"
    if ip in _UNIQUE_LOCAL:
        return "a unique-local IPv6 address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local IPv6 address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _blocked_reason(ip: IPAddress, policy: OutboundPolicy) -> str | None:
    """Why ``policy`` refuses ``ip`` (``allow_private`` still refuses cloud metadata)."""
    ip = _normalise(ip)
    if any(ip in net for net in policy._networks if net.version == ip.version):
        return None
    if policy.allow_private and not _is_metadata(ip):
        return None
    return _category(ip)


def _parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """Parse the numeric IPv4 forms ``inet_aton`` accepts; ``None`` if not numeric."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    values = [int(p, 16 if p[:2].lower() == "0x" else 8 if p[0] == "0" else 10) for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for i, v in enumerate(head):
        value |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal (any form) stands for."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise BlockedDestinationError(f"host {host!r} is not a valid IPv6 address") from exc
    ip = _parse_ipv4_loose(host)
    if ip is None and _NUMERIC_LABEL.match(host.rstrip(".").rsplit(".", 1)[-1]):
        raise BlockedDestinationError(f"host {host!r} is neither a host name nor an IPv4 address")
    return ip


class _ResolutionError(Exception):
    pass


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _ResolutionError(f"host {host!r} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise _ResolutionError(f"host {host!r} resolves to no address")
    return addresses


def _vet_host(host: str, port: int, policy: OutboundPolicy, *, resolve: bool) -> list[str]:
    """Check a (raw, ASCII) host; return the addresses to connect to (if resolving)."""
    host = host.lower()
    ip = _literal_address(host)
    if ip is not None:
        reason = _blocked_reason(ip, policy)
        if reason is not None:
            shown = f"{host!r} ({_normalise(ip)})" if host != str(ip) else f"{host!r}"
            raise BlockedDestinationError(f"host {shown} is {reason}")
        return [str(ip)]
    if not _HOST_NAME.match(host):
        raise BlockedDestinationError(f"host {host!r} is not a valid host name")
    if policy.allows_name(host):
        return _resolve(host, port) if resolve else []
    bare = host.rstrip(".")
    if not policy.allow_private and (bare == "localhost" or bare.endswith(".localhost")):
        raise BlockedDestinationError(f"host {host!r} is a loopback name")
    if not resolve:
        return []
    addresses = _resolve(host, port)
    for address in addresses:
        reason = _blocked_reason(ipaddress.ip_address(address), policy)
        if reason is not None:
            raise BlockedDestinationError(f"host {host!r} resolves to {address}, which is {reason}")
    return addresses


def check_url(url: str, policy: OutboundPolicy | None = None, *, resolve: bool = True) -> None:
    """Refuse ``url`` (``InvalidInputError``, ``field="url"``) unless it is a safe target.

    With ``resolve=False`` the host name is not looked up (literal addresses are still
    checked); the connect-time check of :func:`safe_client` always resolves.
    """
    policy = policy or OutboundPolicy()
    if not isinstance(url, str) or not url:
        raise BlockedDestinationError("URL must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise BlockedDestinationError(f"URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise BlockedDestinationError(f"URL is malformed: {exc}") from exc
    _check_parsed(parsed, policy)
    try:
        netloc = urlsplit(url).netloc
    except ValueError as exc:
        raise BlockedDestinationError(f"URL is malformed: {exc}") from exc
    if "@" in netloc:
        raise BlockedDestinationError("URL must not contain credentials (user:pass@)")
    try:
        _vet_host(parsed.raw_host.decode("ascii"), _port_of(parsed), policy, resolve=resolve)
    except _ResolutionError as exc:
        raise BlockedDestinationError(str(exc)) from exc


def _port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _check_parsed(url: httpx.URL, policy: OutboundPolicy) -> None:
    scheme = url.scheme.lower()
    if scheme not in policy.allowed_schemes:
        allowed = " or ".join(policy.allowed_schemes)
        raise BlockedDestinationError(f"URL scheme {scheme!r} is not allowed (use {allowed})")
    if url.userinfo:
        raise BlockedDestinationError("URL must not contain credentials (user:pass@)")
    if not url.raw_host:
        raise BlockedDestinationError("URL has no host")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise BlockedDestinationError(f"URL port {url.port} is out of range")


# --- connect-time enforcement -----------------------------------------------------------


def _connect_addresses(host: str, port: int, policy: OutboundPolicy) -> list[str]:
    try:
        return _vet_host(host, port, policy, resolve=True)
    except _ResolutionError as exc:
        raise httpcore.ConnectError(str(exc)) from exc


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.001)


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves and checks the host itself, then dials one of the vetted addresses."""

    def __init__(self, policy: OutboundPolicy, inner: httpcore.NetworkBackend | None = None):
        self._policy = policy
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _connect_addresses(host, port, self._policy)
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, _remaining(deadline), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedDestinationError("Unix sockets are not outbound destinations")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """The async twin of :class:`_GuardedBackend` (resolution runs in a worker thread)."""

    def __init__(
        self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await anyio.to_thread.run_sync(_connect_addresses, host, port, self._policy)
        deadline = None if timeout is None else time.monotonic() + timeout
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, _remaining(deadline), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedDestinationError("Unix sockets are not outbound destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=10, keepalive_expiry=30)


class _SafeTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool dials through :class:`_GuardedBackend`."""

    def __init__(self, policy: OutboundPolicy, verify: ssl.SSLContext | str | bool = True):
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=_LIMITS)
        self._policy = policy
        self._pool.close()  # the default pool never opened a connection; replace it
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_GuardedBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _check_parsed(request.url, self._policy)
        return super().handle_request(request)


class _SafeAsyncTransport(httpx.AsyncHTTPTransport):
    """The async twin of :class:`_SafeTransport`."""

    def __init__(self, policy: OutboundPolicy, verify: ssl.SSLContext | str | bool = True):
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=_LIMITS)
        self._policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_GuardedAsyncBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _check_parsed(request.url, self._policy)
        return await super().handle_async_request(request)


_CLIENT_HEADERS = {"user-agent": USER_AGENT, "accept-encoding": "identity"}


class SafeClient(httpx.Client):
    """An ``httpx.Client`` whose every connection passes the outbound policy."""

    def __init__(self, policy: OutboundPolicy, verify: ssl.SSLContext | str | bool = True):
        super().__init__(
            transport=_SafeTransport(policy, verify),
            timeout=httpx.Timeout(policy.timeout_s),
            follow_redirects=False,
            trust_env=False,
            headers=_CLIENT_HEADERS,
        )
        self.policy = policy


class SafeAsyncClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose every connection passes the outbound policy."""

    def __init__(self, policy: OutboundPolicy, verify: ssl.SSLContext | str | bool = True):
        super().__init__(
            transport=_SafeAsyncTransport(policy, verify),
            timeout=httpx.Timeout(policy.timeout_s),
            follow_redirects=False,
            trust_env=False,
            headers=_CLIENT_HEADERS,
        )
        self.policy = policy


def safe_client(
    policy: OutboundPolicy | None = None, *, verify: ssl.SSLContext | str | bool = True
) -> SafeClient:
    """A client that re-checks every destination at connect time and never redirects.

    ``verify`` is passed to httpx (e.g. an ``ssl.SSLContext`` trusting a private CA).
    """
    return SafeClient(policy or OutboundPolicy(), verify)


def safe_async_client(
    policy: OutboundPolicy | None = None, *, verify: ssl.SSLContext | str | bool = True
) -> SafeAsyncClient:
    """The async variant of :func:`safe_client`."""
    return SafeAsyncClient(policy or OutboundPolicy(), verify)


# --- capped delivery ---------------------------------------------------------------------


def _prepare(
    client: httpx.Client | httpx.AsyncClient,
    url: str,
    content: bytes,
    policy: OutboundPolicy | None,
) -> OutboundPolicy:
    policy = policy or getattr(client, "policy", None) or OutboundPolicy()
    check_url(url, policy, resolve=False)  # addresses are checked when the socket opens
    if len(content) > policy.max_request_bytes:
        raise InvalidInputError(
            f"request body is {len(content)} bytes; the limit is {policy.max_request_bytes}",
            field="content",
        )
    return policy


class _Capped:
    """Collects at most ``limit`` bytes and enforces the whole-exchange deadline."""

    def __init__(self, policy: OutboundPolicy, started: float, request: httpx.Request):
        self.limit = policy.max_response_bytes
        self.deadline = started + policy.timeout_s
        self.request = request
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise httpx.ReadTimeout("response took longer than the timeout", request=self.request)

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; return ``True`` when enough has been read."""
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size > self.limit:
            self.truncated = True
            return True
        self.check_deadline()
        return False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)[: self.limit]


def post_capped(
    client: httpx.Client,
    url: str,
    content: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    policy: OutboundPolicy | None = None,
) -> OutboundResult:
    """POST ``content`` and read at most ``max_response_bytes`` of the answer.

    Use a client from :func:`safe_client` (its policy is the default here). Raises
    ``InvalidInputError`` for a refused URL or an oversized body, and ``httpx``
    transport errors (``httpx.TimeoutException`` included) for failed exchanges;
    ``timeout_s`` bounds each network phase and the whole response read.
    """
    policy = _prepare(client, url, content, policy)
    started = time.monotonic()
    with client.stream(
        "POST", url, content=content, headers=headers, follow_redirects=False
    ) as response:
        capped = _Capped(policy, started, response.request)
        capped.check_deadline()
        for chunk in response.iter_raw():
            if capped.add(chunk):
                break
        return OutboundResult(
            response.status_code, capped.body, time.monotonic() - started, capped.truncated
        )


async def apost_capped(
    client: httpx.AsyncClient,
    url: str,
    content: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    policy: OutboundPolicy | None = None,
) -> OutboundResult:
    """The async variant of :func:`post_capped`."""
    policy = _prepare(client, url, content, policy)
    started = time.monotonic()
    async with client.stream(
        "POST", url, content=content, headers=headers, follow_redirects=False
    ) as response:
        capped = _Capped(policy, started, response.request)
        capped.check_deadline()
        async for chunk in response.aiter_raw():
            if capped.add(chunk):
                break
        return OutboundResult(
            response.status_code, capped.body, time.monotonic() - started, capped.truncated
        )
