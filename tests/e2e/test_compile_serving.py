"""`modelyard models compile` end to end: verified ONNX served in place of the original."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from modelyard.data.quickstart import write_quickstart_csv
from modelyard.errors import InvalidInputError, ModelLoadError
from modelyard.registry.compile import CompileService
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.store.orm import ModelVersionRow
from modelyard.workspace import Workspace


def test_compile_verify_and_serve(tmp_path: Path) -> None:
    kind = "logistic_regression"
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.05)
    with Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=600), "d")
        ws.train("d", "target", kind, "m")
        ws.deploy("ep", "m:1")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        described = client.get("/v1/endpoints/ep").json()
        assert described["runtime"] == "sklearn"
        row = described["example"]["inputs"][0]
        before = client.post("/v1/endpoints/ep/predict", json={"inputs": [row]}).json()
        with Workspace(settings) as ws:
            version, report = CompileService(ws.store).compile("m:1", max_rows=300)
        assert report["passed"] and report["n_rows"] == 300
        assert version.compiled_digest and version.compiled_signature
        deadline = time.monotonic() + 10
        while client.get("/v1/endpoints/ep").json()["runtime"] != "onnx":
            assert time.monotonic() < deadline, "compiled artifact not picked up"
            time.sleep(0.05)
        after = client.post("/v1/endpoints/ep/predict", json={"inputs": [row]}).json()
        assert after["predictions"] == before["predictions"]
        for cls, p in before["probabilities"][0].items():
            assert after["probabilities"][0][cls] == pytest.approx(p, abs=1e-4)


def test_compiled_model_that_drifts_from_the_original_is_not_stored(tmp_path: Path) -> None:
    """Float32 thresholds move a random forest's probabilities beyond the tolerance."""
    settings = Settings(home=tmp_path / "home")
    with Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=600), "d")
        ws.train("d", "target", "random_forest", "m")
        with pytest.raises(InvalidInputError, match="does not match m:1"):
            CompileService(ws.store).compile("m:1", max_rows=300)
        assert ws.model("m:1").compiled_digest is None


def test_compile_errors_store_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with Workspace(settings) as ws:
        from helpers import fitted_logreg

        model, x, _ = fitted_logreg()
        ws.register_model(
            model, "nolineage", input_example=x, target_example=(x["x1"] > 0).astype(int)
        )
        with pytest.raises(InvalidInputError, match="no dataset lineage"):
            CompileService(ws.store).compile("nolineage:1")
        assert ws.model("nolineage:1").compiled_digest is None


def test_tampered_compiled_signature_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=300), "d")
        ws.train("d", "target", "logistic_regression", "m")
        CompileService(ws.store).compile("m:1", max_rows=100)
        with ws.store.session() as session:
            session.execute(sa.update(ModelVersionRow).values(compiled_signature="0" * 64))
        with pytest.raises(ModelLoadError, match="invalid artifact signature"):
            ws.registry.load("m:1", prefer_compiled=True)
        ws.registry.load("m:1")  # the original is untouched
