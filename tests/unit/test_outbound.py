"""Outbound HTTP guard: refused URL classes, connect-time re-checks, capped delivery.

Offline: names resolve through a fake ``socket.getaddrinfo``; the only real sockets
are to a throwaway HTTP(S) server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.errors import InvalidInputError
from modelyard.security.outbound import (
    BlockedDestinationError,
    OutboundPolicy,
    _parse_ipv4_loose,
    apost_capped,
    check_url,
    post_capped,
    safe_async_client,
    safe_client,
)
from modelyard.security.webhook_signing import generate_secret, headers_for, verify

LOOPBACK = OutboundPolicy(allowlist=("127.0.0.1/32",))
PUBLIC_IP = "93.184.216.34"

_real_getaddrinfo = socket.getaddrinfo


@dataclass
class FakeDNS:
    """Answers for test names; a list of answers is consumed one lookup at a time."""

    answers: dict[str, list[str] | list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = (host.decode() if isinstance(host, bytes) else str(host)).lower().rstrip(".")
        if name not in self.answers:
            # Literal addresses only: a real name never reaches the network.
            return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        self.lookups.append(name)
        answer = self.answers[name]
        addresses: list[Any] = answer
        if answer and isinstance(answer[0], list):
            addresses = answer.pop(0) if len(answer) > 1 else answer[0]
        result: list[Any] = []
        for address in addresses:
            assert isinstance(address, str)
            if ipaddress.ip_address(address).version == 6:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return result


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


# --- a loopback receiver -------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, httpx.Headers, bytes]] = []
        self.release = threading.Event()
        self.sni: list[str | None] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early are expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append((self.path, httpx.Headers(self.headers.items()), body))
        if self.path == "/hook":
            self._reply(200, b"received")
        elif self.path == "/redirect":
            self._reply(302, b"", Location="/hook")
        elif self.path == "/big":
            self._reply(200, b"x" * 1_000_000)
        elif self.path == "/slow":
            self.server.release.wait(10)
            self._reply(200, b"late")
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if self.server.release.wait(0.1):
                    break
                self.wfile.write(b"x")
                self.wfile.flush()
        else:
            self._reply(404, b"")


@pytest.fixture
def receiver() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def base(server: _Server, host: str = "127.0.0.1", scheme: str = "http") -> str:
    return f"{scheme}://{host}:{server.server_address[1]}"


# --- check_url: refused URL classes --------------------------------------------------------

REFUSED = [
    ("file:///etc/passwd", "scheme 'file'"),
    ("gopher://example.com/_GET", "scheme 'gopher'"),
    ("ftp://example.com/x", "scheme 'ftp'"),
    ("dict://example.com:11211/", "scheme 'dict'"),
    ("javascript:alert(1)", "scheme 'javascript'"),
    ("data:text/plain,hi", "scheme 'data'"),
    ("http:///no-host", "no host"),
    ("https://", "no host"),
    ("http://user:pass@example.com/", "credentials"),
    ("http://user@example.com/", "credentials"),
    ("http://@example.com/", "credentials"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://127.0.0.1/", "loopback"),
    ("http://127.255.255.254:8080/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("http://169.254.10.20/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://100.127.255.254/", "CGNAT"),
    ("http://[fc00::1]/", "unique-local"),
    ("http://[fd12:3456:789a::1]/", "unique-local"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0.1.2.3/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://255.255.255.255/", "reserved"),
    ("http://198.18.0.1/", "private"),  # benchmarking range
    ("http://192.0.2.1/", "private"),  # documentation range
    ("http://[2001:db8::1]/", "private"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::127.0.0.1]/", "reserved"),  # IPv4-compatible (deprecated)
    ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64
    ("http://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://0177.0.0.1/", "malformed"),
    ("http://127.1/", "loopback"),
    ("http://0/", "unspecified"),
    ("http://0xa9.254.169.254/", "cloud metadata"),
    ("http://3232235777/", "private"),  # 192.168.1.1
    ("http://127.0.0.1./", "loopback"),
    ("http://1.2.3.4.5/", "neither a host name nor an IPv4"),
    ("http://4294967296/", "neither a host name nor an IPv4"),
    ("http://example.123/", "neither a host name nor an IPv4"),
    ("http://localhost/", "loopback name"),
    ("http://LOCALHOST:8000/", "loopback name"),
    ("http://api.localhost/", "loopback name"),
    ("http://exa%6dple.com/", "not a valid host name"),
    ("http://example.com:0/", "out of range"),
    ("http://example.com:99999/", "out of range"),
    ("http://exa mple.com/", "not a valid host name"),
    ("http://[::1/", "malformed"),
    ("http://" + "a" * 2050 + ".com/", "longer than"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused_urls(url: str, reason: str, dns: FakeDNS) -> None:
    with pytest.raises(InvalidInputError, match=reason) as info:
        check_url(url, OutboundPolicy())
    assert info.value.field == "url"
    assert isinstance(info.value, BlockedDestinationError)
    assert dns.lookups == []  # refused before any DNS lookup


def test_refused_class_count() -> None:
    assert len(REFUSED) >= 20


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/",
        "https://1.1.1.1:8443/hook?x=1",
        "http://[2606:4700:4700::1111]/",
        "http://[::ffff:8.8.8.8]/",  # mapped public address
        "http://134744072/",  # 8.8.8.8 as one number: odd but public
        "https://good.test/hooks/1",
        "HTTPS://Good.Test./hooks/1",
    ],
)
def test_public_urls_pass(url: str, dns: FakeDNS) -> None:
    dns.answers["good.test"] = [PUBLIC_IP, "2606:2800:220:1:248:1893:25c8:1946"]
    check_url(url, OutboundPolicy())


def test_numeric_forms_follow_inet_aton() -> None:
    forms = ["0x7f.1", "017700000001", "2130706433", "127.1", "0", "0x7f.0x0.0.01", "1.2.65535"]
    for form in forms:
        assert _parse_ipv4_loose(form) == ipaddress.IPv4Address(socket.inet_aton(form))
    for bad in ["08", "0x", "4294967296", "1.2.65536", "1.2.3.256", "a.1"]:
        assert _parse_ipv4_loose(bad) is None


def test_schemes_can_be_narrowed() -> None:
    with pytest.raises(InvalidInputError, match="scheme 'http'"):
        check_url("http://8.8.8.8/", OutboundPolicy(allowed_schemes=("https",)))
    with pytest.raises(InvalidInputError):
        OutboundPolicy(allowed_schemes=("https", "ftp"))


# --- check_url: resolution --------------------------------------------------------------------


def test_name_resolving_to_a_private_address_is_refused(dns: FakeDNS) -> None:
    dns.answers["hooks.example.com"] = ["10.0.0.5"]
    with pytest.raises(InvalidInputError, match="resolves to 10.0.0.5, which is a private"):
        check_url("https://hooks.example.com/x", OutboundPolicy())
    assert dns.lookups == ["hooks.example.com"]


@pytest.mark.parametrize(
    ("addresses", "bad"),
    [
        ([PUBLIC_IP, "127.0.0.1"], "127.0.0.1"),
        (["2606:2800:220:1::1", "::1"], "::1"),
        ([PUBLIC_IP, "::ffff:169.254.169.254"], "::ffff:169.254.169.254"),
        (["fd00::5"], "fd00::5"),
    ],
)
def test_any_disallowed_resolved_address_refuses(
    addresses: list[str], bad: str, dns: FakeDNS
) -> None:
    dns.answers["multi.test"] = addresses
    with pytest.raises(InvalidInputError, match=f"resolves to {bad}"):
        check_url("http://multi.test/", OutboundPolicy())


def test_unresolvable_name_is_refused_unless_not_resolving() -> None:
    with pytest.raises(InvalidInputError, match="does not resolve"):
        check_url("https://nowhere.test/", OutboundPolicy())
    check_url("https://nowhere.test/", OutboundPolicy(), resolve=False)
    with pytest.raises(InvalidInputError, match="loopback"):
        check_url("https://127.0.0.1/", OutboundPolicy(), resolve=False)


def test_allowlist_by_cidr_and_by_name(dns: FakeDNS) -> None:
    dns.answers["internal.test"] = ["10.0.0.5"]
    check_url("http://127.0.0.1:9000/", LOOPBACK)
    check_url("http://[::ffff:127.0.0.1]:9000/", LOOPBACK)
    with pytest.raises(InvalidInputError):
        check_url("http://127.0.0.2/", LOOPBACK)
    policy = OutboundPolicy(allowlist=("10.0.0.0/8", "Internal.Test"))
    check_url("http://10.1.2.3/", policy)
    check_url("http://internal.test/", policy)
    with pytest.raises(InvalidInputError, match="private"):
        check_url("http://192.168.0.1/", policy)
    with pytest.raises(InvalidInputError, match="allowlist entry"):
        OutboundPolicy(allowlist=("10.0.0.300/8",))


def test_allow_private_still_refuses_cloud_metadata() -> None:
    policy = OutboundPolicy(allow_private=True)
    check_url("http://10.0.0.1/", policy)
    check_url("http://localhost:8080/", policy, resolve=False)
    for url in ["http://169.254.169.254/", "http://[::ffff:a9fe:a9fe]/", "http://2852039166/"]:
        with pytest.raises(InvalidInputError, match="metadata"):
            check_url(url, policy)


# --- delivery through the safe client -------------------------------------------------------


def test_successful_signed_delivery_to_allowlisted_loopback(receiver: _Server) -> None:
    secret = generate_secret()
    body = b'{"event": "deployment.rolled_back"}'
    headers = headers_for(secret, "msg_1", body)
    url = base(receiver) + "/hook"
    check_url(url, LOOPBACK)
    with safe_client(LOOPBACK) as client:
        result = post_capped(client, url, body, headers)
    assert result.ok and result.status == 200
    assert result.body_prefix == b"received" and not result.truncated
    assert result.elapsed_s >= 0
    [(path, seen_headers, seen_body)] = receiver.seen
    assert (path, seen_body) == ("/hook", body)
    assert seen_headers["User-Agent"] == "modelyard-outbound"
    verify(secret, seen_headers, seen_body)


def test_host_header_keeps_the_name_while_dialling_the_vetted_address(
    receiver: _Server, dns: FakeDNS
) -> None:
    dns.answers["hooks.test"] = ["127.0.0.1"]
    port = receiver.server_address[1]
    with safe_client(LOOPBACK) as client:
        assert post_capped(client, f"http://hooks.test:{port}/hook", b"{}").ok
    assert receiver.seen[0][1]["Host"] == f"hooks.test:{port}"


def test_rebinding_is_refused_at_connect_time(receiver: _Server, dns: FakeDNS) -> None:
    # Public when the URL is checked, loopback when the delivery connects.
    dns.answers["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    url = f"http://rebind.test:{receiver.server_address[1]}/hook"
    check_url(url, OutboundPolicy())
    with safe_client(OutboundPolicy()) as client:
        with pytest.raises(InvalidInputError, match="resolves to 127.0.0.1") as info:
            post_capped(client, url, b"{}")
    assert info.value.field == "url"
    assert dns.lookups == ["rebind.test", "rebind.test"]
    assert receiver.seen == []


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"])
def test_client_refuses_loopback_at_connect_even_without_check_url(
    receiver: _Server, host: str
) -> None:
    with safe_client(OutboundPolicy()) as client:
        with pytest.raises(BlockedDestinationError, match="loopback"):
            client.get(f"http://{host}:{receiver.server_address[1]}/hook")
    assert receiver.seen == []


def test_connect_refuses_when_any_address_is_disallowed(receiver: _Server, dns: FakeDNS) -> None:
    dns.answers["mixed.test"] = [PUBLIC_IP, "127.0.0.1"]
    with safe_client(OutboundPolicy()) as client:
        with pytest.raises(BlockedDestinationError, match="127.0.0.1"):
            client.post(f"http://mixed.test:{receiver.server_address[1]}/hook")
    assert receiver.seen == []


def test_client_refuses_credentials_and_unresolvable_names(receiver: _Server) -> None:
    with safe_client(LOOPBACK) as client:
        with pytest.raises(BlockedDestinationError, match="credentials"):
            client.get(f"http://u:p@127.0.0.1:{receiver.server_address[1]}/hook")
        with pytest.raises(httpx.ConnectError, match="does not resolve"):
            client.get("http://nowhere.test/")
    assert receiver.seen == []


def test_environment_proxies_are_ignored(
    receiver: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://10.9.9.9:3128")
    with safe_client(LOOPBACK) as client:
        assert post_capped(client, base(receiver) + "/hook", b"{}").ok


def test_redirects_are_not_followed(receiver: _Server) -> None:
    with safe_client(LOOPBACK) as client:
        result = post_capped(client, base(receiver) + "/redirect", b"{}")
    assert result.status == 302 and not result.ok
    assert [path for path, _, _ in receiver.seen] == ["/redirect"]


def test_response_is_capped(receiver: _Server) -> None:
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",), max_response_bytes=1000)
    with safe_client(policy) as client:
        result = post_capped(client, base(receiver) + "/big", b"{}")
    assert result.status == 200
    assert result.body_prefix == b"x" * 1000
    assert result.truncated


def test_request_body_is_capped(receiver: _Server) -> None:
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",), max_request_bytes=10)
    with safe_client(policy) as client:
        assert post_capped(client, base(receiver) + "/hook", b"x" * 10).ok
        with pytest.raises(InvalidInputError) as info:
            post_capped(client, base(receiver) + "/hook", b"x" * 11)
    assert info.value.field == "content"
    assert len(receiver.seen) == 1


def test_post_capped_checks_the_url_first(receiver: _Server) -> None:
    with safe_client(LOOPBACK) as client:
        with pytest.raises(InvalidInputError, match="scheme 'ftp'"):
            post_capped(client, "ftp://127.0.0.1/", b"{}")


def test_slow_receiver_times_out(receiver: _Server) -> None:
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",), timeout_s=0.3)
    started = time.monotonic()
    with safe_client(policy) as client:
        with pytest.raises(httpx.TimeoutException):
            post_capped(client, base(receiver) + "/slow", b"{}")
    assert time.monotonic() - started < 5


def test_dripping_receiver_hits_the_overall_deadline(receiver: _Server) -> None:
    # Each byte arrives well within the read timeout; the whole answer does not.
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",), timeout_s=0.5)
    started = time.monotonic()
    with safe_client(policy) as client:
        with pytest.raises(httpx.ReadTimeout, match="longer than the timeout"):
            post_capped(client, base(receiver) + "/drip", b"{}")
    assert time.monotonic() - started < 5


# --- TLS: SNI and certificate checks use the name, the socket uses the vetted address ------


def _certificates(tmp_path: Path) -> tuple[Path, Path, bytes]:
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelyard test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


def test_https_keeps_sni_and_certificate_name(
    receiver: _Server, dns: FakeDNS, tmp_path: Path
) -> None:
    cert_file, key_file, ca_pem = _certificates(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)

    def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        receiver.sni.append(name)

    server_ctx.sni_callback = record_sni
    receiver.socket = server_ctx.wrap_socket(receiver.socket, server_side=True)
    client_ctx = ssl.create_default_context(cadata=ca_pem.decode())
    dns.answers["hooks.test"] = ["127.0.0.1"]
    dns.answers["other.test"] = ["127.0.0.1"]
    port = receiver.server_address[1]
    with safe_client(LOOPBACK, verify=client_ctx) as client:
        result = post_capped(client, f"https://hooks.test:{port}/hook", b"{}")
        assert result.ok and result.body_prefix == b"received"
        # The certificate is checked against the name, not the dialled address.
        with pytest.raises(httpx.ConnectError, match="(?i)certificate"):
            post_capped(client, f"https://other.test:{port}/hook", b"{}")
    assert receiver.sni[0] == "hooks.test"
    assert receiver.seen[0][1]["Host"] == f"hooks.test:{port}"


# --- async variant --------------------------------------------------------------------------


def test_async_delivery_and_rebinding(receiver: _Server, dns: FakeDNS) -> None:
    dns.answers["rebind.test"] = [[PUBLIC_IP], ["127.0.0.1"]]
    port = receiver.server_address[1]

    async def scenario() -> None:
        async with safe_async_client(LOOPBACK) as client:
            result = await apost_capped(client, f"http://127.0.0.1:{port}/hook", b"{}")
            assert result.ok and result.body_prefix == b"received"
        check_url(f"http://rebind.test:{port}/hook", OutboundPolicy())
        async with safe_async_client(OutboundPolicy()) as client:
            with pytest.raises(BlockedDestinationError, match="resolves to 127.0.0.1"):
                await apost_capped(client, f"http://rebind.test:{port}/hook", b"{}")

    asyncio.run(scenario())
    assert [path for path, _, _ in receiver.seen] == ["/hook"]


def test_async_response_cap(receiver: _Server) -> None:
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",), max_response_bytes=10)

    async def scenario() -> None:
        async with safe_async_client(policy) as client:
            result = await apost_capped(client, base(receiver) + "/big", b"{}")
        assert result.body_prefix == b"x" * 10 and result.truncated

    asyncio.run(scenario())
