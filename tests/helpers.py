"""Small builders shared by tests (imported as ``helpers``; tests/ is on sys.path)."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pandas as pd
from sklearn.linear_model import LogisticRegression

from modelyard.domain.signature import Signature, infer_signature
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
