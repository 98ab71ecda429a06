"""Standard Webhooks signing: the published vector, round trips and every refusal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import textwrap
import time
from typing import Any

import pytest

from modelyard.errors import InvalidInputError
from modelyard.security import webhook_signing
from modelyard.security.webhook_signing import generate_secret, headers_for, sign, verify

# The Standard Webhooks specification's test vector (also in the svix/standardwebhooks tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NOW = 1_700_000_000
BODY = b'{"event": "model.promoted", "version": 3}'


def vector_headers(**overrides: str) -> dict[str, str]:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    headers.update(overrides)
    return headers


def independent_signature(secret: str, msg_id: str, ts: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_sign_reproduces_the_specification_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_verify_accepts_the_specification_vector() -> None:
    verify(VECTOR_SECRET, vector_headers(), VECTOR_BODY, now=VECTOR_TS + 10)


def test_sign_matches_an_independent_computation() -> None:
    secret = generate_secret()
    assert sign(secret, "msg_1", NOW, BODY) == independent_signature(
        secret, "msg_1", str(NOW), BODY
    )


def test_generate_secret_format() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:], validate=True)) == 32
    assert secret != generate_secret()
    assert len(base64.b64decode(generate_secret(24)[6:])) == 24
    with pytest.raises(InvalidInputError):
        generate_secret(16)


def test_round_trip_with_headers_for() -> None:
    secret = generate_secret()
    headers = headers_for(secret, "msg_abc", BODY, now=NOW + 0.9)
    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["webhook-id"] == "msg_abc"
    verify(secret, headers, BODY, now=NOW)


def test_headers_for_defaults_to_the_current_time() -> None:
    secret = generate_secret()
    before = int(time.time())
    headers = headers_for(secret, "msg_abc", BODY)
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    verify(secret, headers, BODY)


def test_header_names_are_case_insensitive() -> None:
    headers = {k.title(): v for k, v in vector_headers().items()}
    verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"body": VECTOR_BODY + b" "}, "webhook-signature"),
        ({"body": b'{"test": 2432232315}'}, "webhook-signature"),
        ({"webhook-id": "msg_other"}, "webhook-signature"),
        ({"webhook-timestamp": str(VECTOR_TS + 1)}, "webhook-signature"),
        ({"webhook-signature": "v1,AAAA" + VECTOR_SIGNATURE[7:]}, "webhook-signature"),
        ({"webhook-signature": "v2," + VECTOR_SIGNATURE[3:]}, "webhook-signature"),
        ({"webhook-signature": VECTOR_SIGNATURE[3:]}, "webhook-signature"),
        ({"webhook-signature": "v1,not base64!!"}, "webhook-signature"),
        ({"secret": "whsec_" + base64.b64encode(b"k" * 24).decode()}, "webhook-signature"),
    ],
)
def test_tampering_is_refused(change: dict[str, Any], field: str) -> None:
    secret = change.pop("secret", VECTOR_SECRET)
    body = change.pop("body", VECTOR_BODY)
    with pytest.raises(InvalidInputError) as info:
        verify(secret, vector_headers(**change), body, now=VECTOR_TS)
    assert info.value.field == field


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_refused(missing: str) -> None:
    headers = vector_headers()
    del headers[missing]
    with pytest.raises(InvalidInputError, match="missing") as info:
        verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS)
    assert info.value.field == missing


@pytest.mark.parametrize("value", ["", "   ", "-5", "1.5", "+1614265330", "1_614_265_330", "abc"])
def test_malformed_timestamps_are_refused(value: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        verify(VECTOR_SECRET, vector_headers(**{"webhook-timestamp": value}), VECTOR_BODY)
    assert info.value.field == "webhook-timestamp"


@pytest.mark.parametrize(
    ("offset", "reason"), [(301, "too old"), (-301, "in the future"), (10**6, "too old")]
)
def test_timestamps_outside_the_tolerance_are_refused(offset: int, reason: str) -> None:
    secret = generate_secret()
    headers = headers_for(secret, "msg_1", BODY, now=NOW)
    with pytest.raises(InvalidInputError, match=reason) as info:
        verify(secret, headers, BODY, now=NOW + offset)
    assert info.value.field == "webhook-timestamp"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_at_the_tolerance_edge_are_accepted(offset: int) -> None:
    secret = generate_secret()
    verify(secret, headers_for(secret, "msg_1", BODY, now=NOW), BODY, now=NOW + offset)


def test_custom_tolerance() -> None:
    secret = generate_secret()
    headers = headers_for(secret, "msg_1", BODY, now=NOW)
    verify(secret, headers, BODY, tolerance_s=3600, now=NOW + 3000)
    with pytest.raises(InvalidInputError):
        verify(secret, headers, BODY, tolerance_s=10, now=NOW + 11)


def test_any_of_several_signatures_may_match() -> None:
    old, new = generate_secret(), generate_secret()
    headers = headers_for(new, "msg_rot", BODY, now=NOW)
    old_sig = sign(old, "msg_rot", NOW, BODY)
    both = f"v1a,ignoredasymmetric== {old_sig}  {headers['webhook-signature']}"
    verify(new, {**headers, "webhook-signature": both}, BODY, now=NOW)
    verify(old, {**headers, "webhook-signature": both}, BODY, now=NOW)
    with pytest.raises(InvalidInputError):
        verify(generate_secret(), {**headers, "webhook-signature": both}, BODY, now=NOW)


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_",  # empty key
        "whsec_not base64!",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # bad padding
        "whsec_" + base64.b64encode(b"short").decode(),  # 5-byte key
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # 65-byte key
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ],
)
def test_secret_format_errors(secret: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        sign(secret, "msg_1", NOW, BODY)
    assert info.value.field == "secret"
    with pytest.raises(InvalidInputError) as info:
        verify(secret, vector_headers(), VECTOR_BODY, now=VECTOR_TS)
    assert info.value.field == "secret"


@pytest.mark.parametrize("msg_id", ["", "msg.1", "msg 1", "msg\n1", "x" * 257, "msg_é"])
def test_sign_refuses_unsafe_message_ids(msg_id: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        sign(generate_secret(), msg_id, NOW, BODY)
    assert info.value.field == "msg_id"


@pytest.mark.parametrize("timestamp", [-1, True, 1.5])
def test_sign_refuses_bad_timestamps(timestamp: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        sign(generate_secret(), "msg_1", timestamp, BODY)
    assert info.value.field == "timestamp"


def test_docstring_receiver_snippet_works() -> None:
    doc = webhook_signing.__doc__
    assert doc is not None
    start = doc.index("::\n") + 3
    end = doc.index("\nPass the raw request body")
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(doc[start:end]), namespace)
    receiver = namespace["verify_webhook"]
    secret = generate_secret()
    headers = headers_for(secret, "msg_doc", BODY)
    assert receiver(secret, headers, BODY) is True
    assert receiver(secret, headers, BODY + b"x") is False
    assert receiver(generate_secret(), headers, BODY) is False
    stale = headers_for(secret, "msg_doc", BODY, now=time.time() - 3600)
    assert receiver(secret, stale, BODY) is False
