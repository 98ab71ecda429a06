"""Hostile input suite: each case checks the status, the message, and that nothing changed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from helpers import fitted_logreg
from modelyard.errors import IntegrityError, ModelLoadError
from modelyard.registry.bundles import materialize_bundle
from modelyard.security.keys import KeyService
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace

ROW = {"x1": 0.1, "x2": 0.2}


class Hostile:
    """A served home with a key per role, and a fingerprint of everything mutable."""

    def __init__(self, client: TestClient, keys: dict[str, str], settings: Settings) -> None:
        self.client = client
        self.keys = keys
        self.settings = settings

    def state(self) -> Any:
        admin = {"Authorization": f"Bearer {self.keys['admin']}"}
        audit = self.client.get("/v1/audit", headers=admin).json()["entries"]
        models = self.client.get("/v1/models", headers=admin).json()
        datasets = self.client.get("/v1/datasets", headers=admin).json()
        keys = self.client.get("/v1/keys", headers=admin).json()
        hooks = self.client.get("/v1/webhooks", headers=admin).json()
        jobs = self.client.get("/v1/jobs", headers=admin).json()
        return json.dumps(
            [len(audit), models, datasets, keys, hooks, jobs, self.files()], sort_keys=True
        )

    def files(self) -> list[str]:
        """Every file in the home but the database and the spool: artifacts, secrets."""
        home = self.settings.home
        return sorted(
            str(p.relative_to(home))
            for p in home.rglob("*")
            if p.is_file() and "spool" not in p.parts and ".db" not in p.name
        )


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hostile") / "home"
    with Workspace(Settings(home=home)) as ws:
        model, x, _ = fitted_logreg()
        ws.register_model(model, "m", input_example=x, target_example=(x["x1"] > 0).astype(int))
        ws.register_model(model, "m", input_example=x, target_example=(x["x1"] > 0).astype(int))
        ws.deploy("ep", "m:1")
    return home


@pytest.fixture
def hostile(base_home: Path, tmp_path: Path) -> Iterator[Hostile]:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    settings = Settings(
        home=home,
        max_body_bytes=10_000,
        max_upload_bytes=20_000,
        rate_limit_failed_auth="10000/second",
    )
    with Workspace(settings) as ws:
        service = KeyService(ws.store)
        keys = {
            r: service.create(name=f"k-{r}", role=r)[1]
            for r in ("admin", "deployer", "developer", "predictor", "viewer")
        }
        revoked = service.create(name="gone", role="admin")[1]
        service.revoke(revoked)
        keys["revoked"] = revoked
        keys["expired"] = service.create(name="old", role="admin", expires_in_days=1e-9)[1]
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield Hostile(client, keys, settings)


def _auth(h: Hostile, role: str | None) -> dict[str, str]:
    return {} if role is None else {"Authorization": f"Bearer {h.keys[role]}"}


CASES: list[tuple[str, str, str, str | None, Any, dict[str, str], int, str]] = [
    # (id, method, path, role, json body or raw bytes, extra headers, status, message part)
    # --- identities: missing, forged, revoked, malformed keys
    (
        "no-key-promote",
        "POST",
        "/v1/models/m/versions/2/promote",
        None,
        {"stage": "production"},
        {},
        401,
        "missing API key",
    ),
    (
        "revoked-admin",
        "POST",
        "/v1/keys",
        "revoked",
        {"name": "x", "role": "admin"},
        {},
        401,
        "revoked",
    ),
    (
        "forged-key",
        "POST",
        "/v1/keys",
        None,
        {"name": "x", "role": "admin"},
        {"Authorization": "Bearer my_aaaaaaaa_" + "A" * 32},
        401,
        "invalid",
    ),
    (
        "basic-scheme",
        "GET",
        "/v1/keys",
        None,
        None,
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        401,
        "missing API key",
    ),
    ("sql-in-key", "GET", "/v1/keys", None, None, {"X-API-Key": "' OR 1=1 --"}, 401, "invalid"),
    (
        "expired-admin",
        "POST",
        "/v1/keys",
        "expired",
        {"name": "x", "role": "admin"},
        {},
        401,
        "expired",
    ),
    (
        "revoked-admin-x-api-key",
        "DELETE",
        "/v1/subjects/u1",
        None,
        None,
        {"X-API-Key": "__revoked__"},
        401,
        "revoked",
    ),
    # --- role escalation
    (
        "developer-creates-key",
        "POST",
        "/v1/keys",
        "developer",
        {"name": "x", "role": "admin"},
        {},
        403,
        "may not admin",
    ),
    (
        "deployer-creates-key",
        "POST",
        "/v1/keys",
        "deployer",
        {"name": "x", "role": "admin"},
        {},
        403,
        "may not admin",
    ),
    (
        "predictor-promotes",
        "POST",
        "/v1/models/m/versions/2/promote",
        "predictor",
        {"stage": "production"},
        {},
        403,
        "may not deploy",
    ),
    (
        "viewer-deploys",
        "POST",
        "/v1/endpoints/ep/deploy",
        "viewer",
        {"model": "m:2"},
        {},
        403,
        "may not deploy",
    ),
    (
        "developer-deploys",
        "POST",
        "/v1/endpoints/ep/deploy",
        "developer",
        {"model": "m:2"},
        {},
        403,
        "may not deploy",
    ),
    (
        "viewer-uploads",
        "POST",
        "/v1/datasets/d/versions",
        "viewer",
        {"format": "csv", "data_base64": "YSxiCjEsMgo="},
        {},
        403,
        "may not develop",
    ),
    ("predictor-reads-audit", "GET", "/v1/audit", "predictor", None, {}, 403, "may not admin"),
    (
        "deployer-forgets-subject",
        "DELETE",
        "/v1/subjects/u1",
        "deployer",
        None,
        {},
        403,
        "may not admin",
    ),
    ("viewer-revokes", "DELETE", "/v1/keys/abcdefgh", "viewer", None, {}, 403, "may not admin"),
    (
        "developer-webhook",
        "POST",
        "/v1/webhooks",
        "developer",
        {"name": "h", "url": "https://example.com", "event_types": ["*"]},
        {},
        403,
        "may not admin",
    ),
    # --- traversal and odd names
    (
        "dataset-traversal",
        "POST",
        "/v1/datasets/..%2F..%2Fetc/versions",
        "admin",
        {"format": "csv", "data_base64": "YSxiCjEsMgo="},
        {},
        404,
        "not found",
    ),
    (
        "dataset-dotdot",
        "POST",
        "/v1/datasets/a..b/versions",
        "admin",
        {"format": "csv", "data_base64": "YSxiCjEsMgo="},
        {},
        422,
        "invalid dataset",
    ),
    ("model-null-byte", "GET", "/v1/models/m%00x", "admin", None, {}, 422, "invalid model"),
    ("model-unicode", "GET", "/v1/models/m%C3%A9", "admin", None, {}, 422, "invalid model"),
    (
        "endpoint-rtl",
        "POST",
        "/v1/endpoints/ep%E2%80%AE/deploy",
        "admin",
        {"model": "m:1"},
        {},
        422,
        "invalid endpoint",
    ),
    (
        "deploy-ref-traversal",
        "POST",
        "/v1/endpoints/ep/deploy",
        "admin",
        {"model": "../../m:1"},
        {},
        422,
        "invalid model",
    ),
    (
        "key-name-script",
        "POST",
        "/v1/keys",
        "admin",
        {"name": "<script>alert(1)</script>", "role": "viewer"},
        {},
        422,
        "invalid key name",
    ),
    (
        "version-not-number",
        "GET",
        "/v1/models/m/versions/1;DROP",
        "admin",
        None,
        {},
        422,
        "positive integer",
    ),
    # --- bodies: size, depth, NaN, types, content types
    (
        "predict-oversized",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        {"inputs": [ROW] * 1000},
        {},
        413,
        "limit",
    ),
    (
        "upload-oversized",
        "POST",
        "/v1/datasets/d/versions",
        "admin",
        {"format": "csv", "data_base64": "A" * 30_000},
        {},
        413,
        "limit",
    ),
    (
        "predict-deep",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        b'{"inputs": ' + b"[" * 60 + b"]" * 60 + b"}",
        {},
        400,
        "deeper",
    ),
    (
        "predict-nan",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        b'{"inputs": [{"x1": NaN, "x2": 1}]}',
        {},
        400,
        "malformed JSON",
    ),
    (
        "predict-infinity",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        b'{"inputs": [{"x1": Infinity, "x2": 1}]}',
        {},
        400,
        "malformed JSON",
    ),
    (
        "predict-huge-number",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        b'{"inputs": [{"x1": 1e999, "x2": 1}]}',
        {},
        400,
        "malformed JSON",
    ),
    (
        "predict-string-number",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        {"inputs": [{"x1": "1; rm -rf /", "x2": 1}]},
        {},
        422,
        "x1",
    ),
    (
        "predict-object-value",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        {"inputs": [{"x1": {"$gt": 1}, "x2": 1}]},
        {},
        422,
        "x1",
    ),
    (
        "predict-bool-as-number",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        {"inputs": [{"x1": True, "x2": 1}]},
        {},
        422,
        "x1",
    ),
    (
        "predict-null-byte-key",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        {"inputs": [{"x1\u0000": 1, "x2": 1}]},
        {},
        422,
        "missing column",
    ),
    (
        "predict-not-utf8",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        b"\xff\xfe{",
        {},
        400,
        "malformed JSON",
    ),
    (
        "predict-text-plain",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        b'{"inputs": []}',
        {"Content-Type": "text/plain"},
        415,
        "application/json",
    ),
    (
        "predict-form",
        "POST",
        "/v1/endpoints/ep/predict",
        "admin",
        b"inputs=1",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "application/json",
    ),
    (
        "promote-pickle",
        "POST",
        "/v1/models/m/versions/2/promote",
        "admin",
        b"\x80\x04\x95\x00",
        {"Content-Type": "application/python-pickle"},
        415,
        "application/json",
    ),
    (
        "promote-extra-field",
        "POST",
        "/v1/models/m/versions/2/promote",
        "admin",
        {"stage": "production", "override": True},
        {},
        422,
        "override",
    ),
    (
        "promote-bad-stage",
        "POST",
        "/v1/models/m/versions/2/promote",
        "admin",
        {"stage": "root"},
        {},
        422,
        "stage",
    ),
    (
        "upload-bad-base64",
        "POST",
        "/v1/datasets/d/versions",
        "admin",
        {"format": "csv", "data_base64": "%%%"},
        {},
        422,
        "base64",
    ),
    (
        "upload-garbage-parquet",
        "POST",
        "/v1/datasets/d/versions",
        "admin",
        {"format": "parquet", "data_base64": "bm90IHBhcnF1ZXQ="},
        {},
        422,
        "cannot read",
    ),
    (
        "key-role-escalation-field",
        "POST",
        "/v1/keys",
        "admin",
        {"name": "x", "role": "superuser"},
        {},
        422,
        "role",
    ),
    (
        "host-spoof",
        "GET",
        "/v1/models",
        "admin",
        None,
        {"Host": "attacker.example"},
        400,
        "not allowed",
    ),
    (
        "feedback-unknown-id",
        "POST",
        "/v1/endpoints/ep/feedback",
        "admin",
        {"request_id": "nope", "label": 1},
        {},
        404,
        "nope",
    ),
    (
        "subject-too-long",
        "DELETE",
        "/v1/subjects/" + "a" * 300,
        "admin",
        None,
        {},
        422,
        "1-128 characters",
    ),
    (
        "idempotency-key-control-chars",
        "POST",
        "/v1/models/m/versions/2/promote",
        "admin",
        {"stage": "staging"},
        {"Idempotency-Key": "a\tb"},
        400,
        "Idempotency-Key",
    ),
    # --- SSRF through webhooks
    (
        "ssrf-metadata",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "http://169.254.169.254/latest", "event_types": ["*"]},
        {},
        422,
        "cloud metadata",
    ),
    (
        "ssrf-decimal-ip",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "http://2130706433/", "event_types": ["*"]},
        {},
        422,
        "loopback",
    ),
    (
        "ssrf-file",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "file:///etc/shadow", "event_types": ["*"]},
        {},
        422,
        "scheme 'file' is not allowed",
    ),
    (
        "ssrf-mapped-loopback",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "http://[::ffff:127.0.0.1]:8000/", "event_types": ["*"]},
        {},
        422,
        "loopback",
    ),
    (
        "ssrf-cgnat",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "http://100.64.0.1/", "event_types": ["*"]},
        {},
        422,
        "CGNAT",
    ),
    (
        "ssrf-ipv6-unique-local",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "http://[fd00::1]/", "event_types": ["*"]},
        {},
        422,
        "unique-local",
    ),
    (
        "ssrf-localhost-name",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "http://localhost:8000/", "event_types": ["*"]},
        {},
        422,
        "loopback",
    ),
    (
        "ssrf-gopher",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "gopher://example.com/", "event_types": ["*"]},
        {},
        422,
        "scheme 'gopher' is not allowed",
    ),
    (
        "ssrf-credentials-in-url",
        "POST",
        "/v1/webhooks",
        "admin",
        {"name": "h", "url": "http://user:pw@example.com/", "event_types": ["*"]},
        {},
        422,
        "credentials",
    ),
    # --- model references are registry names, never URIs
    (
        "rollout-file-uri",
        "POST",
        "/v1/endpoints/ep/rollouts",
        "admin",
        {"model": "file:///etc/passwd"},
        {},
        422,
        "invalid version",
    ),
    (
        "deploy-s3-uri",
        "POST",
        "/v1/endpoints/ep/deploy",
        "admin",
        {"model": "s3://bucket/m"},
        {},
        422,
        "invalid version",
    ),
    (
        "fallback-file-uri",
        "POST",
        "/v1/endpoints/ep/fallback",
        "admin",
        {"model": "file:///etc/passwd"},
        {},
        422,
        "invalid version",
    ),
    # --- rollout approval and fallback: refusals change nothing
    (
        "approve-nothing-running",
        "POST",
        "/v1/endpoints/ep/rollouts/approve",
        "admin",
        {},
        {},
        409,
        "nothing to approve",
    ),
    (
        "approve-unknown-endpoint",
        "POST",
        "/v1/endpoints/ghost/rollouts/approve",
        "admin",
        {},
        {},
        404,
        "endpoint 'ghost' not found",
    ),
    (
        "approve-by-developer",
        "POST",
        "/v1/endpoints/ep/rollouts/approve",
        "developer",
        {},
        {},
        403,
        "deploy",
    ),
    (
        "approve-smuggled-principal",
        "POST",
        "/v1/endpoints/ep/rollouts/approve",
        "admin",
        {"approved_by": "someone-else"},
        {},
        422,
        "approved_by",
    ),
    (
        "fallback-unknown-endpoint",
        "POST",
        "/v1/endpoints/ghost/fallback",
        "admin",
        {"model": "m:2"},
        {},
        404,
        "endpoint 'ghost' not found",
    ),
    (
        "fallback-is-the-primary",
        "POST",
        "/v1/endpoints/ep/fallback",
        "admin",
        {"model": "m:1"},
        {},
        422,
        "is the primary version",
    ),
    (
        "fallback-missing-model",
        "POST",
        "/v1/endpoints/ep/fallback",
        "admin",
        {"reason": "no model key"},
        {},
        422,
        "model: field required",
    ),
    (
        "rollout-require-approval-string",
        "POST",
        "/v1/endpoints/ep/rollouts",
        "admin",
        {"model": "m:2", "require_approval": "yes"},
        {},
        422,
        "require_approval: input should be a valid boolean",
    ),
    # --- jobs: roles, traversal and unknown references in parameters
    (
        "predictor-submits-job",
        "POST",
        "/v1/jobs",
        "predictor",
        {"kind": "compile", "params": {"model": "m:1"}},
        {},
        403,
        "role 'predictor'",
    ),
    (
        "job-dataset-traversal",
        "POST",
        "/v1/jobs",
        "developer",
        {"kind": "batch_predict", "params": {"model": "m:1", "dataset": "../../etc/passwd"}},
        {},
        422,
        "params.dataset",
    ),
    (
        "job-output-traversal",
        "POST",
        "/v1/jobs",
        "developer",
        {"kind": "batch_predict", "params": {"model": "m:1", "dataset": "d", "output": "../x"}},
        {},
        422,
        "params.output",
    ),
    (
        "job-unknown-model",
        "POST",
        "/v1/jobs",
        "developer",
        {"kind": "compile", "params": {"model": "ghost:1"}},
        {},
        422,
        "params.model",
    ),
    (
        "job-cancel-unknown",
        "POST",
        "/v1/jobs/job_0123456789abcdef0123456789abcdef/cancel",
        "developer",
        {},
        {},
        404,
        "not found",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "role", "body", "headers", "status", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_hostile_request_is_refused_and_changes_nothing(
    hostile: Hostile,
    method: str,
    path: str,
    role: str | None,
    body: Any,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    before = hostile.state()
    headers = {k: v.replace("__revoked__", hostile.keys["revoked"]) for k, v in headers.items()}
    kwargs: dict[str, Any] = {"headers": {**_auth(hostile, role), **headers}}
    if isinstance(body, bytes):
        kwargs["content"] = body
        kwargs["headers"].setdefault("Content-Type", "application/json")
    elif body is not None:
        kwargs["json"] = body
    response = hostile.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message and message.lower() in error["message"].lower(), error
    assert error["request_id"]
    assert "Traceback" not in response.text
    assert hostile.state() == before


def test_at_least_forty_hostile_cases() -> None:
    assert len(CASES) >= 40


def test_zip_slip_in_a_model_bundle_is_refused(tmp_path: Path, hostile: Hostile) -> None:
    with Workspace(hostile.settings) as ws:
        manifest = {
            "format": 1,
            "flavor": "sklearn",
            "files": {"../../evil.py": ws.store.artifacts.put_bytes(b"x")},
        }
        digest = ws.store.artifacts.put_bytes(json.dumps(manifest).encode())
        target = tmp_path / "bundle"
        target.mkdir()
        with pytest.raises(IntegrityError, match="escapes"):
            materialize_bundle(ws.store.artifacts, digest, target)
    assert not (tmp_path / "evil.py").exists()


def test_untrusted_python_model_never_runs(tmp_path: Path) -> None:
    from helpers import PickyModel
    from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature

    sig = Signature(
        (ColumnSpec("x1", "float"), ColumnSpec("x2", "float")), OutputSpec("regression")
    )
    with Workspace(Settings(home=tmp_path / "h")) as ws:
        with pytest.raises(ModelLoadError, match="trusted"):
            ws.register_model(PickyModel(), "py", signature=sig, flavor="python")
        assert ws.models() == []


def test_racing_promotions_leave_one_production_version(hostile: Hostile) -> None:
    admin = _auth(hostile, "admin")

    def promote(version: int) -> int:
        return hostile.client.post(
            f"/v1/models/m/versions/{version}/promote", json={"stage": "production"}, headers=admin
        ).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(promote, [1, 2, 1, 2]))
    assert set(statuses) <= {200, 422}
    models = hostile.client.get("/v1/models", headers=admin).json()["models"]
    assert len(models[0]["stages"]["production"]) == 1


class _Payload:
    """Unpickling or rebuilding this object would create ``path``: code execution."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))

    def predict(self, x: Any) -> Any:
        return x


def test_pickle_payload_as_a_model_file_never_runs(tmp_path: Path) -> None:
    import pickle

    import skops.io as sio

    from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature
    from modelyard.errors import TrustError
    from modelyard.runtime.flavors import get_flavor

    sig = Signature((ColumnSpec("x1", "float"),), OutputSpec("regression"))
    flavor = get_flavor("sklearn")
    sentinel = tmp_path / "pwned"
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "model.skops").write_bytes(pickle.dumps(_Payload(str(sentinel))))
    with pytest.raises(ModelLoadError, match="model.skops"):
        flavor.load(raw, sig)
    assert not sentinel.exists()
    wrapped = tmp_path / "wrapped"
    wrapped.mkdir()
    (wrapped / "model.skops").write_bytes(sio.dumps(_Payload(str(sentinel))))
    with pytest.raises(TrustError, match="not trusted by default"):
        flavor.load(wrapped, sig)
    assert not sentinel.exists()


def test_spoofed_forwarding_headers_do_not_dodge_rate_limits(hostile: Hostile) -> None:
    limited = hostile.settings.model_copy(
        update={"rate_limit_per_key": "3/minute", "rate_limit_failed_auth": "3/minute"}
    )
    viewer = _auth(hostile, "viewer")
    with TestClient(create_app(limited), base_url="http://localhost") as client:
        statuses = [
            client.get(
                "/v1/models", headers={**viewer, "X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]
        failed = [
            client.get(
                "/v1/models",
                headers={"Authorization": "Bearer nope", "X-Real-IP": f"198.51.100.{i}"},
            )
            for i in range(5)
        ]
    assert [r.status_code for r in failed] == [401, 401, 401, 429, 429]
    assert "too many failed" in failed[-1].json()["error"]["message"]
    assert int(failed[-1].headers["retry-after"]) >= 1
