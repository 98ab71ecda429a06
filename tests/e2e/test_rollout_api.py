"""Rollout approval and fallback over HTTP (parity with ``rollout approve|fallback``).

Each refusal checks the status, the field and the message, and that nothing changed:
the endpoint (revision, policy, rollout) and the audit log are as they were.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from helpers import Through, fitted_logreg, two_logreg_versions
from modelyard.client import Client, ServerError
from modelyard.security.keys import KeyService
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace

APPROVE = "/v1/endpoints/ep/rollouts/approve"
FALLBACK = "/v1/endpoints/ep/fallback"


class Api:
    def __init__(self, client: TestClient, keys: dict[str, str], actors: dict[str, str]) -> None:
        self.client = client
        self.keys = keys
        self.actors = actors

    def post(self, who: str, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.auth(who))

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def state(self) -> Any:
        """What a refused request must leave alone."""
        status = self.client.get("/v1/endpoints/ep/rollouts", headers=self.auth("admin")).json()
        audit = self.client.get("/v1/audit", headers=self.auth("admin")).json()["entries"]
        return (
            status["serving"],
            status["revision"],
            status["policy"],
            status["rollout"],
            len(status["history"]),
            len(audit),
        )


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = two_logreg_versions(tmp_path_factory.mktemp("rollout-api") / "home", "ep")
    with Workspace(Settings(home=home)) as ws:
        model, x, _ = fitted_logreg(seed=1)
        ws.register_model(model, "m", input_example=x, target_example=(x["x1"] > 0).astype(int))
    return home  # ep serves m:1; m:2 and m:3 are compatible versions


@pytest.fixture
def api(base_home: Path, tmp_path: Path) -> Iterator[Api]:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    settings = Settings(home=home, refresh_interval_s=0.05, rate_limit_failed_auth="1000/second")
    keys: dict[str, str] = {}
    actors: dict[str, str] = {}
    with Workspace(settings) as ws:
        service = KeyService(ws.store)
        for who, role in [
            ("alice", "deployer"),
            ("bob", "deployer"),
            ("dev", "developer"),
            ("admin", "admin"),
        ]:
            key, plaintext = service.create(name=who, role=role)
            keys[who] = plaintext
            actors[who] = f"key:{key.prefix}:{key.name}"
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield Api(client, keys, actors)


def _error(response: Any, status: int, field: str | None, message: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error.get("field") == field, error
    assert message.lower() in error["message"].lower(), error
    assert error["request_id"] and "Traceback" not in response.text
    return error


# ------------------------------------------------------------------ approve


def test_approval_over_http_needs_a_second_key(api: Api) -> None:
    started = api.post(
        "alice", "/v1/endpoints/ep/rollouts", {"model": "m:2", "require_approval": True}
    )
    assert started.status_code == 201, started.text
    assert started.json()["version"] == 1  # loaded and checked, not switched
    rollout = api.client.get("/v1/endpoints/ep/rollouts", headers=api.auth("bob")).json()["rollout"]
    assert rollout["waiting_for"] == "approval" and rollout["approval_required"] is True
    assert rollout["started_by"] == api.actors["alice"]

    before = api.state()
    own = api.post("alice", APPROVE, {})
    error = _error(own, 403, "approved_by", "another principal must approve it")
    assert error["code"] == "forbidden" and api.actors["alice"] in error["message"]
    assert api.state() == before
    _error(api.post("dev", APPROVE, {}), 403, None, "")  # developers cannot deploy at all
    assert api.state() == before

    approved = api.post("bob", APPROVE, {"reason": "read the report"})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["serving"] == "m:2" and body["rollout"]["status"] == "promoted"
    assert body["rollout"]["approved_by"] == api.actors["bob"]
    events = {e["kind"]: e for e in body["rollout"]["events"]}
    assert events["approved"]["reason"] == "full promotion approved: read the report"

    after = api.state()
    _error(api.post("admin", APPROVE, {}), 409, None, "no rollout is running on 'ep'")
    assert api.state() == after


def test_approve_refusals_change_nothing(api: Api) -> None:
    before = api.state()
    _error(
        api.post("bob", "/v1/endpoints/nope/rollouts/approve", {}), 404, None, "'nope' not found"
    )
    _error(api.post("bob", APPROVE, {}), 409, None, "nothing to approve")
    _error(api.post("bob", APPROVE, {"by": "bob"}), 422, "by", "extra inputs")
    _error(api.post("bob", APPROVE, {"reason": 7}), 422, "reason", "valid string")
    _error(
        api.post("bob", "/v1/endpoints/bad%20name/rollouts/approve", {}),
        422,
        "endpoint",
        "invalid endpoint 'bad name'",
    )
    assert api.state() == before
    canary = {"model": "m:2", "strategy": "canary", "steps": [50, 100]}
    assert api.post("alice", "/v1/endpoints/ep/rollouts", canary).status_code == 201
    running = api.state()
    _error(api.post("bob", APPROVE, {}), 409, None, "does not require approval; nothing to approve")
    assert api.state() == running


@pytest.mark.parametrize("value", ["yes", 1, None, "true"])
def test_require_approval_must_be_a_boolean(api: Api, value: object) -> None:
    before = api.state()
    response = api.post(
        "alice", "/v1/endpoints/ep/rollouts", {"model": "m:2", "require_approval": value}
    )
    _error(response, 422, "require_approval", "valid boolean")
    assert api.state() == before


# ------------------------------------------------------------------ fallback


def test_fallback_over_http_set_and_clear(api: Api) -> None:
    response = api.post("bob", FALLBACK, {"model": "m:3", "reason": "last good"})
    assert response.status_code == 200, response.text
    ep = response.json()
    assert (
        ep["config"]["traffic"]["fallback"] == "m:3" and ep["config"]["traffic"]["primary"] == "m:1"
    )
    status = api.client.get("/v1/endpoints/ep/rollouts", headers=api.auth("bob")).json()
    assert status["fallback"] == "m:3"
    event = status["history"][-1]
    assert event["action"] == "rollout.event.fallback" and event["actor"] == api.actors["bob"]
    assert event["reason"] == "fallback set to m:3: last good"
    _error(api.post("bob", FALLBACK, {"model": "m:3"}), 409, None, "already is the fallback")

    # Switching to the fallback over HTTP clears it, and the history says why.
    switched = api.post("alice", "/v1/endpoints/ep/rollouts", {"model": "m:3"})
    assert switched.status_code == 201 and "traffic" not in switched.json()["config"]
    status = api.client.get("/v1/endpoints/ep/rollouts", headers=api.auth("bob")).json()
    assert status["serving"] == "m:3" and status["fallback"] is None
    cleared = [h for h in status["history"] if h["action"] == "rollout.event.fallback"][-1]
    assert cleared["reason"].startswith("fallback m:3 cleared: it is now the primary")

    assert api.post("bob", FALLBACK, {"model": "m:1"}).status_code == 200
    cleared_ep = api.post("bob", FALLBACK, {"model": None, "reason": "retired"})
    assert cleared_ep.status_code == 200, cleared_ep.text
    assert "traffic" not in cleared_ep.json()["config"]
    status = api.client.get("/v1/endpoints/ep/rollouts", headers=api.auth("bob")).json()
    assert status["fallback"] is None
    assert status["history"][-1]["reason"] == "fallback m:1 cleared: retired"


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "message"),
    [
        ("/v1/endpoints/nope/fallback", {"model": "m:2"}, 404, None, "endpoint 'nope' not found"),
        (FALLBACK, {"model": "file:///etc/passwd"}, 422, "model", "'file:///etc/passwd'"),
        (FALLBACK, {"model": "m:latest:x"}, 422, "model", "invalid version"),
        (FALLBACK, {"model": "m:0"}, 422, "model", "versions start at 1"),
        (FALLBACK, {"model": "m:99"}, 404, None, "model version m:99 not found"),
        (FALLBACK, {"model": "ghost:1"}, 404, None, "model 'ghost' not found"),
        (FALLBACK, {"model": "m:1"}, 422, "model", "fallback m:1 is the primary version"),
        (FALLBACK, {"model": ""}, 422, "model", "at least 1 character"),
        (FALLBACK, {"model": 5}, 422, "model", "valid string"),
        (FALLBACK, {}, 422, "model", "field required"),
        (FALLBACK, {"model": None}, 409, None, "no fallback version to clear"),
        (FALLBACK, {"model": "m:2", "force": "yes"}, 422, "force", "valid boolean"),
        (FALLBACK, {"model": "m:2", "primary": "m:2"}, 422, "primary", "extra inputs"),
        (FALLBACK, {"model": "m:2", "reason": "x" * 2001}, 422, "reason", "at most 2000"),
    ],
    ids=[
        "unknown-endpoint",
        "uri-ref",
        "bad-selector",
        "version-zero",
        "unknown-version",
        "unknown-model",
        "the-primary",
        "empty-ref",
        "number-ref",
        "missing-model",
        "nothing-to-clear",
        "force-not-bool",
        "unknown-key",
        "long-reason",
    ],
)
def test_fallback_refusals_change_nothing(
    api: Api, path: str, body: dict[str, Any], status: int, field: str | None, message: str
) -> None:
    before = api.state()
    _error(api.post("bob", path, body), status, field, message)
    assert api.state() == before


def test_fallback_needs_deploy_permission(api: Api) -> None:
    before = api.state()
    _error(api.post("dev", FALLBACK, {"model": "m:2"}), 403, None, "")
    missing = api.client.post(FALLBACK, json={"model": "m:2"})
    assert missing.status_code == 401
    assert api.state() == before


def test_fallback_during_a_rollout_is_refused(api: Api) -> None:
    canary = {"model": "m:2", "strategy": "canary", "steps": [50, 100]}
    assert api.post("alice", "/v1/endpoints/ep/rollouts", canary).status_code == 201
    before = api.state()
    _error(api.post("bob", FALLBACK, {"model": "m:3"}), 409, None, "after it ends")
    assert api.state() == before


# ------------------------------------------------------------------ the Python client


def test_client_methods_drive_the_same_routes(api: Api) -> None:
    transport = Through(api.client)

    def client(who: str) -> Client:
        return Client("http://localhost", api_key=api.keys[who], transport=transport)

    with client("alice") as alice, client("bob") as bob:
        ep = alice.start_rollout("ep", "m:2", require_approval=True, reason="new features")
        assert ep["version"] == 1
        with pytest.raises(ServerError) as exc:
            alice.approve_rollout("ep")
        assert exc.value.status == 403 and exc.value.code == "forbidden"
        assert exc.value.field == "approved_by"
        status = bob.approve_rollout("ep", reason="ok", idempotency_key="approve-1")
        assert status["serving"] == "m:2" and status["rollout"]["status"] == "promoted"
        assert bob.approve_rollout("ep", reason="ok", idempotency_key="approve-1") == status

        ep = bob.set_fallback("ep", "m:1", reason="previous")
        assert ep["config"]["traffic"] == {
            **ep["config"]["traffic"],
            "primary": "m:2",
            "fallback": "m:1",
        }
        assert bob.rollout_status("ep")["fallback"] == "m:1"
        with pytest.raises(ServerError) as exc:
            bob.set_fallback("ep", "file:///etc/passwd")
        assert exc.value.status == 422 and exc.value.field == "model"
        assert "file:///etc/passwd" in str(exc.value)
        ep = bob.set_fallback("ep", None)
        assert "traffic" not in ep["config"]

        back = alice.rollback("ep", reason="undo")
        assert back["version"] == 1
        canary = alice.start_rollout("ep", "m:3", strategy="canary", steps=[50, 100])
        assert canary["version"] == 1 and canary["config"]["rollout"]["strategy"] == "canary"
