"""``Idempotency-Key`` on create, promote, deploy, rollout, approve, fallback and
rollback routes, and on key and webhook creation (whose replays redact the secret they
show once)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from helpers import admin_client, two_logreg_versions
from modelyard.deployments.rollout import RolloutService
from modelyard.security.keys import KeyService
from modelyard.settings import Settings
from modelyard.workspace import Workspace

CSV = base64.b64encode(b"a,b\n1,2\n3,4\n").decode()
OTHER_CSV = base64.b64encode(b"a,b\n5,6\n7,8\n").decode()

# Routes that must honour the header; key and webhook creation are exempt because a
# replay would have to store the plaintext secret they show once.
IDEMPOTENT = {
    "/v1/datasets/{name}/versions",
    "/v1/models/{name}/versions/{version}/promote",
    "/v1/endpoints/{name}/deploy",
    "/v1/endpoints/{name}/rollouts",
    "/v1/endpoints/{name}/rollback",
    "/v1/endpoints/{name}/rollouts/approve",
    "/v1/endpoints/{name}/fallback",
    "/v1/keys",
    "/v1/webhooks",
    "/v1/jobs",
}


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_logreg_versions(tmp_path_factory.mktemp("idem") / "home", "ep")


@pytest.fixture
def client(base_home: Path, tmp_path: Path) -> Iterator[TestClient]:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    with admin_client(home, refresh_interval_s=0.05, outbound_allowlist=["127.0.0.1/32"]) as c:
        yield c


def _audit_count(client: TestClient) -> int:
    return len(client.get("/v1/audit").json()["entries"])


def _exercise(
    client: TestClient, path: str, body: dict[str, Any], other: dict[str, Any], status: int
) -> dict[str, Any]:
    """First call runs; a replay returns the stored response; a new body is refused."""
    key = {"Idempotency-Key": f"idem-{path}"}
    first = client.post(path, json=body, headers=key)
    assert first.status_code == status, first.text
    assert "idempotent-replayed" not in first.headers
    audited = _audit_count(client)
    replay = client.post(path, json=body, headers=key)
    assert replay.status_code == status
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    changed = client.post(path, json=other, headers=key)
    assert changed.status_code == 422, changed.text
    error = changed.json()["error"]
    assert error["code"] == "idempotency_mismatch"
    assert "different request body" in error["message"] and error["request_id"]
    assert _audit_count(client) == audited, "a replay or a mismatch changed something"
    result: dict[str, Any] = first.json()
    return result


def test_dataset_create_is_idempotent(client: TestClient) -> None:
    path = "/v1/datasets/d/versions"
    _exercise(
        client,
        path,
        {"format": "csv", "data_base64": CSV},
        {"format": "csv", "data_base64": OTHER_CSV},
        201,
    )
    versions = client.get("/v1/datasets/d").json()["versions"]
    assert len(versions) == 1


def test_promote_is_idempotent(client: TestClient) -> None:
    _exercise(
        client,
        "/v1/models/m/versions/2/promote",
        {"stage": "staging", "reason": "a"},
        {"stage": "production", "reason": "a"},
        200,
    )
    assert client.get("/v1/models/m/versions/2").json()["stage"] == "staging"


def test_deploy_rollout_and_rollback_are_idempotent(client: TestClient) -> None:
    deployed = _exercise(client, "/v1/endpoints/ep/deploy", {"model": "m:2"}, {"model": "m:1"}, 200)
    revision = deployed["revision"]
    started = _exercise(
        client, "/v1/endpoints/ep/rollouts", {"model": "m:1"}, {"model": "m:2"}, 201
    )
    assert started["revision"] == revision + 1
    rolled = _exercise(
        client, "/v1/endpoints/ep/rollback", {"reason": "bad"}, {"reason": "worse"}, 200
    )
    # The replay did not roll back a second time: the next change is one revision on.
    after = client.post("/v1/endpoints/ep/deploy", json={"model": "m:2"})
    assert after.json()["revision"] == rolled["revision"] + 1


def test_fallback_is_idempotent(client: TestClient) -> None:
    path = "/v1/endpoints/ep/fallback"
    first = _exercise(client, path, {"model": "m:2"}, {"model": None}, 200)
    assert first["config"]["traffic"]["fallback"] == "m:2"
    status = client.get("/v1/endpoints/ep/rollouts").json()
    assert status["fallback"] == "m:2"
    sets = [h for h in status["history"] if h["action"] == "rollout.event.fallback"]
    assert len(sets) == 1  # the replay did not set it a second time


def test_approve_is_idempotent(client: TestClient, tmp_path: Path) -> None:
    with Workspace(Settings(home=tmp_path / "home")) as ws:
        RolloutService(ws.store, ws.registry).start(
            "ep", "m:2", actor="alice", require_approval=True
        )
    path = "/v1/endpoints/ep/rollouts/approve"
    first = _exercise(client, path, {"reason": "a"}, {"reason": "b"}, 200)
    assert first["serving"] == "m:2" and first["rollout"]["status"] == "promoted"
    status = client.get("/v1/endpoints/ep/rollouts").json()
    approvals = [h for h in status["history"] if h["action"] == "rollout.event.approved"]
    assert len(approvals) == 1 and status["revision"] == first["revision"]


def test_keys_are_scoped_to_the_caller(client: TestClient, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with Workspace(settings) as ws:
        other = KeyService(ws.store).create(name="other", role="admin")[1]
    path = "/v1/datasets/d/versions"
    body = {"format": "csv", "data_base64": CSV}
    key = {"Idempotency-Key": "shared"}
    first = client.post(path, json=body, headers=key)
    assert first.status_code == 201
    # Another principal's key space: not a mismatch, not someone else's stored response.
    del client.headers["Authorization"]
    theirs = client.post(
        path, json={**body, "data_base64": OTHER_CSV}, headers={**key, "X-API-Key": other}
    )
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["version"] != first.json()["version"]


def test_the_right_routes_declare_idempotency(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    declared = {
        path
        for path, item in doc["paths"].items()
        for op in item.values()
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
    }
    assert declared == IDEMPOTENT
    creates = {
        path
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method == "post" and "201" in op["responses"]
    }
    assert creates <= IDEMPOTENT, creates - IDEMPOTENT


def _idempotency_rows(home: Path) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(Settings(home=home).resolved_database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM idempotency_keys"))]
    finally:
        engine.dispose()


def _holds(rows: list[tuple[Any, ...]], secret: str) -> bool:
    """Whether any column of any row contains ``secret`` (text or bytes)."""
    for row in rows:
        for value in row:
            if isinstance(value, bytes) and secret.encode() in value:
                return True
            if secret in str(value):
                return True
    return False


def _redacted_replay(
    client: TestClient, path: str, body: dict[str, Any], other: dict[str, Any], field: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Like ``_exercise``, but the replay carries ``field`` (the secret) redacted."""
    key = {"Idempotency-Key": f"idem-{path}"}
    first = client.post(path, json=body, headers=key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert isinstance(first.json()[field], str) and first.json()[field]
    audited = _audit_count(client)
    replay = client.post(path, json=body, headers=key)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    shown, replayed = first.json(), replay.json()
    assert replayed[field] is None and replayed[f"{field}_redacted"] is True
    extra = {field, f"{field}_redacted", "message"}
    assert {k: v for k, v in replayed.items() if k not in extra} == {
        k: v for k, v in shown.items() if k != field
    }
    changed = client.post(path, json=other, headers=key)
    assert changed.status_code == 422, changed.text
    assert changed.json()["error"]["code"] == "idempotency_mismatch"
    assert _audit_count(client) == audited, "a replay or a mismatch changed something"
    return shown, replayed


def test_key_create_is_idempotent_and_the_key_is_never_stored(
    client: TestClient, tmp_path: Path
) -> None:
    before = len(client.get("/v1/keys").json()["keys"])
    shown, replayed = _redacted_replay(
        client,
        "/v1/keys",
        {"name": "ci", "role": "viewer"},
        {"name": "ci", "role": "admin"},
        "key",
    )
    assert f"DELETE /v1/keys/{shown['prefix']}" in replayed["message"]
    assert "shown only once" in replayed["message"]
    assert len(client.get("/v1/keys").json()["keys"]) == before + 1
    rows = _idempotency_rows(tmp_path / "home")
    assert rows
    assert not _holds(rows, shown["key"])
    assert not _holds(rows, shown["key"].rsplit("_", 1)[-1])  # not even the secret part
    # The key was created once and works: a viewer is authenticated, just not allowed.
    del client.headers["Authorization"]
    me = client.get("/v1/keys", headers={"Authorization": f"Bearer {shown['key']}"})
    assert me.status_code == 403


def test_webhook_create_is_idempotent_and_the_secret_is_never_stored(
    client: TestClient, tmp_path: Path
) -> None:
    hook = {"name": "ops", "url": "http://127.0.0.1:9/hook", "event_types": ["alert.firing"]}
    shown, replayed = _redacted_replay(
        client, "/v1/webhooks", hook, {**hook, "event_types": ["*"]}, "secret"
    )
    assert shown["secret"].startswith("whsec_")
    assert "DELETE /v1/webhooks/ops" in replayed["message"]
    assert len(client.get("/v1/webhooks").json()["webhooks"]) == 1
    assert not _holds(_idempotency_rows(tmp_path / "home"), shown["secret"])
