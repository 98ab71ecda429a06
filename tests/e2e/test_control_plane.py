"""The control plane over HTTP: datasets, registry, deploy, keys, audit, idempotency."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from helpers import admin_client, two_logreg_versions
from modelyard.data.quickstart import write_quickstart_csv


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_logreg_versions(tmp_path_factory.mktemp("cp") / "home")


@pytest.fixture
def client(base_home: Path, tmp_path: Path) -> Iterator[TestClient]:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    with admin_client(home, refresh_interval_s=0.05) as c:
        yield c


def test_dataset_upload_is_content_addressed(client: TestClient, tmp_path: Path) -> None:
    csv = write_quickstart_csv(tmp_path / "d.csv", n_rows=100).read_bytes()
    body = {"format": "csv", "data_base64": base64.b64encode(csv).decode()}
    first = client.post("/v1/datasets/loans/versions", json=body)
    assert first.status_code == 201, first.text
    again = client.post("/v1/datasets/loans/versions", json=body)
    assert again.json()["version"] == first.json()["version"] == 1
    listing = client.get("/v1/datasets/loans").json()
    assert [v["version"] for v in listing["versions"]] == [1]
    assert client.get("/v1/datasets").json()["datasets"][0]["row_count"] == 100


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "csv"}, "data_base64"),
        ({"format": "xlsx", "data_base64": "eA=="}, "format"),
        ({"format": "csv", "data_base64": "!!notbase64"}, "data_base64"),
        ({"format": "csv", "data_base64": "eA==", "extra": 1}, "extra"),
    ],
)
def test_bad_uploads_name_the_field(client: TestClient, body: dict, field: str) -> None:  # type: ignore[type-arg]
    r = client.post("/v1/datasets/loans/versions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert client.get("/v1/datasets").json()["datasets"] == []


def test_registry_promote_deploy_and_idempotency(client: TestClient) -> None:
    assert client.get("/v1/models").json()["models"][0]["versions"] == 2
    assert client.get("/v1/models/m/versions/2").json()["version"] == 2
    assert client.get("/v1/models/m/versions/9").status_code == 404
    assert client.get("/v1/models/m/versions/x").status_code == 422
    headers = {"Idempotency-Key": "promote-1"}
    body = {"stage": "production", "reason": "ship it"}
    first = client.post("/v1/models/m/versions/1/promote", json=body, headers=headers)
    assert first.status_code == 200 and first.json()["stage"] == "production"
    replay = client.post("/v1/models/m/versions/1/promote", json=body, headers=headers)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    changed = client.post(
        "/v1/models/m/versions/1/promote", json={**body, "reason": "other"}, headers=headers
    )
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_mismatch"
    history = client.get("/v1/models/m/versions/1").json()["transitions"]
    assert [t["to_stage"] for t in history] == ["candidate", "production"]
    deployed = client.post("/v1/endpoints/ep/deploy", json={"model": "m:1"})
    assert deployed.status_code == 200 and deployed.json()["revision"] == 1
    missing = client.post("/v1/endpoints/ep/deploy", json={"model": "nope:1"})
    assert missing.status_code == 404


def test_keys_and_audit_over_http(client: TestClient) -> None:
    created = client.post("/v1/keys", json={"name": "ci", "role": "viewer"})
    assert created.status_code == 201
    key = created.json()["key"]
    prefix = created.json()["prefix"]
    assert all(k.get("key") is None for k in client.get("/v1/keys").json()["keys"])
    assert client.delete(f"/v1/keys/{prefix}").json()["revoked_at"]
    assert client.delete(f"/v1/keys/{prefix}").status_code == 409
    actions = [e["action"] for e in client.get("/v1/audit").json()["entries"]]
    assert actions[-2:] == ["key.create", "key.revoke"]
    verify = client.get("/v1/audit/verify").json()
    assert verify["intact"] is True and verify["problems"] == []
    assert key.startswith(f"my_{prefix}_")


def test_openapi_document_lists_every_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    routes = {(r.path, m) for r in client.app.routes for m in r.methods if m != "HEAD"}  # type: ignore[attr-defined]
    documented = {(p, m.upper()) for p, item in doc["paths"].items() for m in item}
    assert routes == documented
    predict = doc["paths"]["/v1/endpoints/{name}/predict"]["post"]
    assert predict["x-modelyard-permission"] == "predict"
