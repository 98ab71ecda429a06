"""Small builders shared by tests (imported as ``helpers``; tests/ is on sys.path)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
from starlette.testclient import TestClient

from modelyard.domain.signature import ColumnSpec, OutputSpec, Signature, infer_signature
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.store.artifacts.local import LocalArtifactStore
from modelyard.store.store import Store


def small_frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    y = pd.Series(
        (x["x1"] + 0.5 * x["x2"] + rng.normal(scale=0.5, size=n) > 0).astype(int), name="y"
    )
    return x, y


def fitted_logreg(seed: int = 0) -> tuple[LogisticRegression, pd.DataFrame, Signature]:
    x, y = small_frame(seed=seed)
    model = LogisticRegression().fit(x, y)
    return model, x, infer_signature(x, y)


#: Signature of :func:`fitted_linear` models.
LINEAR_SIG = Signature(
    inputs=(ColumnSpec("x1", "float"), ColumnSpec("x2", "float")),
    output=OutputSpec("regression"),
)


def fitted_linear(seed: int) -> LinearRegression:
    x, y = small_frame(seed=seed)
    return LinearRegression().fit(x, y.astype(float))


def two_logreg_versions(home: Path, *deploy: str) -> Path:
    """A home with model ``m`` at versions 1 and 2 (the same logistic regression) and
    every endpoint named in ``deploy`` serving ``m:1``."""
    from modelyard.workspace import Workspace

    with Workspace(Settings(home=home)) as ws:
        model, x, _ = fitted_logreg()
        y = (x["x1"] > 0).astype(int)
        ws.register_model(model, "m", input_example=x, target_example=y)
        ws.register_model(model, "m", input_example=x, target_example=y)
        for endpoint in deploy:
            ws.deploy(endpoint, "m:1")
    return home


def redis_url() -> str:
    """The test Redis (``MODELYARD_TEST_REDIS_URL``, default loopback 6379); skips the
    test when it is unreachable, or fails it under ``CI=true``, where it must run."""
    import pytest
    import redis

    url = os.environ.get("MODELYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    probe = redis.Redis.from_url(url, socket_timeout=1)
    try:
        probe.ping()
    except redis.exceptions.RedisError as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"Redis not reachable at {url} (CI=true requires it): {exc}")
        pytest.skip(f"Redis not reachable at {url}: {exc}")
    finally:
        probe.close()
    return url


@contextlib.contextmanager
def admin_client(home: Path, **settings: Any) -> Iterator[TestClient]:
    """A running app on ``home`` (lifespan included) with the admin key set."""
    configured = Settings(home=home, **settings)
    with TestClient(create_app(configured), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(configured)}"
        yield client


def corrupt_model(store: Store, artifact_digest: str) -> None:
    """Flip bytes in every file of a stored model bundle."""
    artifacts = store.artifacts
    assert isinstance(artifacts, LocalArtifactStore)
    manifest = json.loads(artifacts.get_bytes(artifact_digest))
    for digest in manifest["files"].values():
        path = artifacts.path_for(digest)
        os.chmod(path, 0o644)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


class SlowModel:
    """A python-flavor model that sleeps longer than any sane budget."""

    def predict(self, frame: pd.DataFrame) -> list[float]:
        import time

        time.sleep(1.5)
        return [0.0] * len(frame)


class PickyModel:
    """A python-flavor model that raises on any row with x1 > 100."""

    def predict(self, frame: pd.DataFrame) -> list[float]:
        if (frame["x1"] > 100).any():
            raise RuntimeError("secret internal detail: x1 out of range")
        return [float(v) for v in frame["x1"]]


class Receiver:
    """A loopback HTTP receiver recording what it gets."""

    def __init__(self, port: int = 0) -> None:
        received = self.received = []  # type: list[tuple[dict[str, str], bytes]]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class EchoModel:
    """A python-flavor regression model that answers x1 and never fails."""

    def predict(self, frame: pd.DataFrame) -> list[float]:
        return [float(v) for v in frame["x1"]]


class SluggishModel:
    """A python-flavor model that takes 60 ms on rows with x1 > 10 (over a tight budget)."""

    def predict(self, frame: pd.DataFrame) -> list[float]:
        import time

        if (frame["x1"] > 10).any():
            time.sleep(0.06)
        return [float(v) for v in frame["x1"]]


class Through(httpx.BaseTransport):
    """The SDK's requests, sent through a TestClient (the app in this process)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.request(
            request.method, str(request.url), content=request.read(), headers=request.headers
        )
        headers = {k: v for k, v in answer.headers.items() if k != "content-encoding"}
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)
