"""Standard Webhooks signatures (https://www.standardwebhooks.com).

Every delivery carries three headers:

- ``webhook-id``: the message id (the same on every retry of one message);
- ``webhook-timestamp``: unix seconds when it was signed;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>``;
  several space-separated entries may be present (e.g. while a secret is rotated).

A secret is ``whsec_<base64 key>``; the HMAC key is the decoded part (24 to 64 bytes).
Any Standard Webhooks library verifies these deliveries. Receiver-side check
(Python standard library only)::

    import base64, hashlib, hmac, time

    def verify_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        h = {k.lower(): v for k, v in headers.items()}
        msg_id, ts = h["webhook-id"], h["webhook-timestamp"]
        if abs(time.time() - int(ts)) > 300:  # replay window: five minutes
            return False
        mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        expected = base64.b64encode(mac).decode()
        return any(
            version == "v1" and hmac.compare_digest(sig, expected)
            for version, _, sig in (p.partition(",") for p in h["webhook-signature"].split())
        )

Pass the raw request body bytes, not re-serialised JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping

from modelyard.errors import InvalidInputError

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SECRET_PREFIX",
    "generate_secret",
    "headers_for",
    "sign",
    "verify",
]

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)

_MSG_ID = re.compile(r"[!-~]{1,256}\Z")  # visible ASCII
_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")


def generate_secret(nbytes: int = 32) -> str:
    """A new random ``whsec_`` secret with an ``nbytes`` key."""
    if not MIN_KEY_BYTES <= nbytes <= MAX_KEY_BYTES:
        raise InvalidInputError(
            f"key size must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes", field="nbytes"
        )
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def _key(secret: str) -> bytes:
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidInputError(f"secret must start with {SECRET_PREFIX!r}", field="secret")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(
            "secret is not valid base64 after the prefix", field="secret"
        ) from exc
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise InvalidInputError(
            f"secret key is {len(key)} bytes; it must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES}",
            field="secret",
        )
    return key


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one message."""
    # No "." in ids we sign, so "{id}.{timestamp}." has exactly one reading.
    if not isinstance(msg_id, str) or not _MSG_ID.match(msg_id) or "." in msg_id:
        raise InvalidInputError(
            "message id must be 1-256 visible ASCII characters without '.'", field="msg_id"
        )
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise InvalidInputError("timestamp must be non-negative unix seconds", field="timestamp")
    if not isinstance(body, bytes | bytearray | memoryview):
        raise InvalidInputError("body must be bytes", field="body")
    digest = _digest(_key(secret), msg_id, str(timestamp), bytes(body))
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers_for(secret: str, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed at ``now`` (default: now)."""
    timestamp = int(time.time() if now is None else now)
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Accept a delivery or raise ``InvalidInputError`` naming the header that failed.

    Refuses missing headers, a timestamp further than ``tolerance_s`` from ``now`` in
    either direction, and a signature header with no matching ``v1`` entry.
    """
    key = _key(secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        if not lowered.get(name, "").strip():
            raise InvalidInputError(f"missing {name} header", field=name)
    msg_id = lowered[ID_HEADER].strip()
    if not _MSG_ID.match(msg_id):
        raise InvalidInputError("webhook-id is malformed", field=ID_HEADER)
    raw_timestamp = lowered[TIMESTAMP_HEADER].strip()
    if not _TIMESTAMP.match(raw_timestamp):
        raise InvalidInputError("webhook-timestamp must be unix seconds", field=TIMESTAMP_HEADER)
    timestamp = int(raw_timestamp)
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise InvalidInputError("webhook-timestamp is too old", field=TIMESTAMP_HEADER)
    if timestamp > current + tolerance_s:
        raise InvalidInputError("webhook-timestamp is in the future", field=TIMESTAMP_HEADER)
    expected = _digest(key, msg_id, raw_timestamp, bytes(body))
    matched = False
    for entry in lowered[SIGNATURE_HEADER].split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise InvalidInputError("no webhook-signature matches", field=SIGNATURE_HEADER)
