"""``Idempotency-Key`` on create, promote, deploy, rollout and rollback routes."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from helpers import admin_client, two_logreg_versions
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
}
EXEMPT = {"/v1/keys", "/v1/webhooks"}


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_logreg_versions(tmp_path_factory.mktemp("idem") / "home", "ep")


@pytest.fixture
def client(base_home: Path, tmp_path: Path) -> Iterator[TestClient]:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    with admin_client(home, refresh_interval_s=0.05) as c:
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
    assert creates <= IDEMPOTENT | EXEMPT, creates - IDEMPOTENT - EXEMPT
