"""Webhook subscriptions: SSRF refusals, signed delivery, durable retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from helpers import Receiver
from modelyard.monitoring.webhooks import WebhookService, backoff_delay, enqueue
from modelyard.security.credentials import read_credentials
from modelyard.security.outbound import OutboundPolicy
from modelyard.security.webhook_signing import verify
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.store.orm import DeliveryRow
from modelyard.store.store import open_store


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_subscribe_test_send_and_verify(tmp_path: Path, receiver: Receiver) -> None:
    settings = Settings(
        home=tmp_path / "home", outbound_allowlist=["127.0.0.1/32"], webhook_interval_s=0.05
    )
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        url = f"http://127.0.0.1:{receiver.port}/hook"
        created = client.post(
            "/v1/webhooks", json={"name": "ops", "url": url, "event_types": ["alert.firing"]}
        )
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        assert secret.startswith("whsec_")
        assert "secret" not in client.get("/v1/webhooks").json()["webhooks"][0]
        queued = client.post("/v1/webhooks/ops/test", json={}).json()["queued"]
        deadline = time.monotonic() + 10
        while not receiver.received:
            assert time.monotonic() < deadline, "test delivery never arrived"
            time.sleep(0.05)
        headers, body = receiver.received[0]
        verify(secret, headers, body)
        assert headers["webhook-id"] == queued
        statuses = client.get("/v1/webhooks/deliveries").json()["deliveries"]
        assert statuses[0]["status"] == "delivered"
        assert client.delete("/v1/webhooks/ops").status_code == 200
        assert client.get("/v1/webhooks").json()["webhooks"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/",
        "http://127.0.0.1:6379/",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
        "http://2130706433/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pass@example.com/",
    ],
)
def test_ssrf_targets_are_refused_and_nothing_is_written(tmp_path: Path, url: str) -> None:
    settings = Settings(home=tmp_path / "home")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        r = client.post("/v1/webhooks", json={"name": "x", "url": url, "event_types": ["*"]})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "url"
        assert client.get("/v1/webhooks").json()["webhooks"] == []


def test_deliveries_survive_a_down_receiver_and_a_restart(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    policy = OutboundPolicy(allowlist=("127.0.0.1/32",), timeout_s=1.0)
    down = Receiver()
    port = down.port
    down.close()  # nothing listens on the port now
    store = open_store(settings)
    service = WebhookService(store, policy)
    service.create(name="ops", url=f"http://127.0.0.1:{port}/h", event_types=["*"], actor="t")
    with store.session() as session:
        assert enqueue(session, "alert.firing", {"rule": "p99"}) == 1
    assert service.deliver_due() == 0
    pending = service.deliveries("pending")
    assert pending[0]["attempts"] == 1 and pending[0]["last_error"]
    store.close()

    # "Restart": a new store and service; the receiver comes back on the same port.
    up = Receiver(port)
    try:
        store = open_store(settings)
        with store.session() as session:
            session.execute(sa.update(DeliveryRow).values(next_attempt_at=sa.func.now()))
        restarted = WebhookService(store, policy)
        assert restarted.deliver_due() == 1
        assert up.received and b"p99" in up.received[0][1]
        assert restarted.deliveries("delivered")[0]["attempts"] == 2
        store.close()
    finally:
        up.close()


def test_backoff_grows_with_jitter() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(n, rng) for n in range(1, 8)]
    assert 1.0 <= delays[0] <= 2.0
    assert delays[-1] > delays[0] * 8
    assert backoff_delay(50, rng) <= 3600
