"""Security on every route: keys, roles, limits, hygiene (in-process, real store)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from helpers import fitted_logreg
from modelyard.domain.security import Permission
from modelyard.security.credentials import read_credentials
from modelyard.security.keys import KeyService
from modelyard.serving.app import create_app
from modelyard.serving.server import check_bind
from modelyard.settings import Settings
from modelyard.workspace import Workspace

ROLES = ["admin", "deployer", "developer", "predictor", "viewer"]


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("sec") / "home"
    with Workspace(Settings(home=home)) as ws:
        model, x, _ = fitted_logreg()
        y = (x["x1"] > 0).astype(int)
        ws.register_model(model, "m", input_example=x, target_example=y)
        ws.deploy("ep", "m:1")
        ws.deploy("other", "m:1")
    return home


@pytest.fixture
def settings(base_home: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    return Settings(home=home, refresh_interval_s=0.05)


def make_keys(settings: Settings) -> dict[str, str]:
    with Workspace(settings) as ws:
        service = KeyService(ws.store)
        keys = {role: service.create(name=f"k-{role}", role=role)[1] for role in ROLES}
        keys["predictor-ep"] = service.create(name="k-ep", role="predictor", endpoints=["ep"])[1]
    return keys


@pytest.fixture
def keys(settings: Settings) -> dict[str, str]:
    return make_keys(settings)


@pytest.fixture
def client(settings: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        yield c


ROW = {"x1": 0.5, "x2": -1.0}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def concrete(path: str) -> str:
    return path.replace("{name}", "ep").replace("{version}", "1").replace("{prefix}", "nokey123")


def body_for(path: str) -> dict[str, Any] | None:
    return {"inputs": [ROW]} if path.endswith("/predict") else {}


# For each permission, a role that lacks it.
WEAKER = {
    Permission.READ: "predictor",
    Permission.PREDICT: "viewer",
    Permission.DEVELOP: "deployer",
    Permission.DEPLOY: "developer",
    Permission.ADMIN: "deployer",
}


def test_every_route_is_guarded(settings: Settings, keys: dict[str, str]) -> None:
    roomy = settings.model_copy(update={"rate_limit_failed_auth": "10000/second"})
    with TestClient(create_app(roomy), base_url="http://localhost") as client:
        _check_every_route(client, keys)


def _check_every_route(client: TestClient, keys: dict[str, str]) -> None:
    routes = [r for r in client.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    assert len(routes) >= 15
    public = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"}
    for route in routes:
        permission = getattr(route.endpoint, "permission", "missing")
        assert permission != "missing", f"{route.path} is not wrapped by guarded()"
        for method in sorted(route.methods or []):
            if method == "HEAD":
                continue
            path = concrete(route.path)
            kwargs: dict[str, Any] = {"json": body_for(path)} if method == "POST" else {}
            response = client.request(method, path, **kwargs)
            if route.path in public:
                assert permission is None
                assert response.status_code in (200, 503), route.path
                continue
            assert response.status_code == 401, (route.path, response.text)
            if route.path.startswith("/v2/"):  # the Open Inference Protocol's error body
                assert "API key" in response.json()["error"], response.text
            else:
                assert response.json()["error"]["code"] == "unauthorized"
            weak = WEAKER[permission]
            denied = client.request(method, path, headers=auth(keys[weak]), **kwargs)
            assert denied.status_code == 403, (route.path, weak, denied.text)
            allowed = client.request(method, path, headers=auth(keys["admin"]), **kwargs)
            assert allowed.status_code not in (401, 403, 500), (route.path, allowed.text)


@pytest.mark.parametrize(
    ("role", "path", "expected"),
    [
        ("viewer", "/v1/endpoints", 200),
        ("predictor", "/v1/endpoints", 403),
        ("developer", "/v1/endpoints", 200),
        ("deployer", "/v1/endpoints/ep", 200),
    ],
)
def test_roles_on_reads(
    client: TestClient, keys: dict[str, str], role: str, path: str, expected: int
) -> None:
    assert client.get(path, headers=auth(keys[role])).status_code == expected


def test_predictor_limited_to_named_endpoints(client: TestClient, keys: dict[str, str]) -> None:
    key = keys["predictor-ep"]
    ok = client.post("/v1/endpoints/ep/predict", json={"inputs": [ROW]}, headers=auth(key))
    assert ok.status_code == 200
    denied = client.post("/v1/endpoints/other/predict", json={"inputs": [ROW]}, headers=auth(key))
    assert denied.status_code == 403
    assert "'other'" in denied.json()["error"]["message"]


def test_x_api_key_header_and_bad_keys(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/v1/endpoints", headers={"X-API-Key": keys["viewer"]}).status_code == 200
    forged = keys["viewer"][:-4] + "AAAA"
    for bad in [forged, "my_zzzzzzzz_" + "A" * 32, "garbage", "", keys["viewer"] + "x"]:
        r = client.get("/v1/endpoints", headers=auth(bad) if bad else {"Authorization": "Bearer"})
        assert r.status_code == 401, bad
    r = client.get("/v1/endpoints", headers={"Authorization": f"Basic {keys['viewer']}"})
    assert r.status_code == 401


def test_revoked_and_expired_keys_are_refused(
    client: TestClient, settings: Settings, keys: dict[str, str]
) -> None:
    key = keys["viewer"]
    assert client.get("/v1/endpoints", headers=auth(key)).status_code == 200
    with Workspace(settings) as ws:
        KeyService(ws.store).revoke(key)
        _, short = KeyService(ws.store).create(name="short", role="viewer", expires_in_days=1e-6)
    deadline = time.monotonic() + 5
    while client.get("/v1/endpoints", headers=auth(key)).status_code != 401:
        assert time.monotonic() < deadline, "revocation not applied"
        time.sleep(0.05)
    time.sleep(0.3)
    assert client.get("/v1/endpoints", headers=auth(short)).status_code == 401


def test_metrics_need_a_key_unless_public(settings: Settings, keys: dict[str, str]) -> None:
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=auth(keys["viewer"])).status_code == 200
    public = settings.model_copy(update={"metrics_public": True})
    with TestClient(create_app(public), base_url="http://localhost") as c:
        assert c.get("/metrics").status_code == 200


def test_json_only_and_host_allowlist(client: TestClient, keys: dict[str, str]) -> None:
    headers = auth(keys["admin"])
    r = client.post(
        "/v1/endpoints/ep/predict",
        content=b'{"inputs": []}',
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    r = client.post("/v1/endpoints/ep/predict", data={"inputs": "x"}, headers=headers)
    assert r.status_code == 415
    r = client.post("/v1/endpoints/ep/predict", content=b'{"inputs": []}', headers=headers)
    assert r.status_code == 415  # a body must say it is JSON (only /v2 may leave it out)
    assert "got 'none'" in r.json()["error"]["message"]
    r = client.post(
        "/v2/models/ep/infer",
        content=b'{"inputs": []}',
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    assert "application/json" in r.json()["error"]
    r = client.post(
        "/v1/endpoints/ep/predict",
        content=b"\x80\x04",
        headers={**headers, "Content-Type": "application/python-pickle"},
    )
    assert r.status_code == 415
    r = client.get("/v1/endpoints", headers={**headers, "Host": "evil.example"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "host_not_allowed"


def test_security_headers_and_request_id(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "trace-1"})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-request-id"] == "trace-1"
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/healthz", headers={"X-Request-ID": "bad id; <script>"})
    assert r.headers["x-request-id"] != "bad id; <script>"
    assert len(r.headers["x-request-id"]) == 32


def test_rate_limit_per_key_with_retry_after(settings: Settings, keys: dict[str, str]) -> None:
    limited = settings.model_copy(update={"rate_limit_per_key": "3/minute"})
    with TestClient(create_app(limited), base_url="http://localhost") as c:
        statuses = [
            c.get("/v1/endpoints", headers=auth(keys["viewer"])).status_code for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        r = c.get("/v1/endpoints", headers=auth(keys["viewer"]))
        assert int(r.headers["retry-after"]) >= 1
        # Another key has its own budget.
        assert c.get("/v1/endpoints", headers=auth(keys["developer"])).status_code == 200


def test_forwarded_for_does_not_dodge_failed_auth_limit(settings: Settings) -> None:
    # An hour's window: 25 requests must not straddle a window boundary (a 1 s window
    # restarts the count whenever the requests take longer than the remaining second).
    hourly = settings.model_copy(update={"rate_limit_failed_auth": "20/hour"})
    with TestClient(create_app(hourly), base_url="http://localhost") as c:
        statuses = [
            c.get(
                "/v1/endpoints",
                headers={"X-Forwarded-For": f"10.0.0.{i}", "Authorization": "Bearer nope"},
            ).status_code
            for i in range(25)
        ]
    assert statuses.count(401) == 20 and statuses[-1] == 429


def test_deep_json_and_nan_are_rejected(client: TestClient, keys: dict[str, str]) -> None:
    headers = {**auth(keys["admin"]), "Content-Type": "application/json"}
    deep = b'{"inputs": ' + b"[" * 40 + b"]" * 40 + b"}"
    r = client.post("/v1/endpoints/ep/predict", content=deep, headers=headers)
    assert r.status_code == 400 and "deeper" in r.json()["error"]["message"]
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"inputs": [{"x1": ' + literal + b', "x2": 1}]}'
        assert (
            client.post("/v1/endpoints/ep/predict", content=body, headers=headers).status_code
            == 400
        )


def test_first_start_creates_a_private_admin_credential(
    settings: Settings, client: TestClient
) -> None:
    key = read_credentials(settings)
    assert key is not None
    assert settings.credentials_path.stat().st_mode & 0o777 == 0o600
    assert settings.secret_path.stat().st_mode & 0o777 == 0o600


def test_no_auth_on_a_public_address_is_refused(settings: Settings) -> None:
    open_settings = settings.model_copy(update={"auth_enabled": False})
    check_bind(open_settings, "127.0.0.1")
    check_bind(settings, "0.0.0.0")
    with pytest.raises(Exception, match="refusing to serve on 0.0.0.0"):
        check_bind(open_settings, "0.0.0.0")


def test_a_key_created_while_serving_works_at_once(client: TestClient, settings: Settings) -> None:
    with Workspace(settings) as ws:
        _, fresh = KeyService(ws.store).create(name="fresh", role="viewer")
    assert client.get("/v1/endpoints", headers=auth(fresh)).status_code == 200
    assert client.get("/v1/endpoints", headers=auth("my_zzzzzzzz_" + "B" * 32)).status_code == 401
