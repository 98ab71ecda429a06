"""PII columns never reach the prediction log, the endpoint example or drift reports."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from modelyard.data.quickstart import write_quickstart_csv
from modelyard.security.credentials import read_credentials
from modelyard.security.pii import PiiProtector
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace


@pytest.mark.parametrize("encrypt", [False, True])
def test_pii_columns_are_protected_in_the_log(tmp_path: Path, encrypt: bool) -> None:
    key = Fernet.generate_key().decode() if encrypt else None
    settings = Settings(
        home=tmp_path / "home", pii_key=key, refresh_interval_s=0.05, ship_interval_s=0.05
    )
    with Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=400), "d")
        ws.train("d", "target", "logistic_regression", "m")
        ws.deploy("ep", "m:1")
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        client.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        bad = client.post("/v1/endpoints/ep/config", json={"pii_columns": ["ssn"]})
        assert bad.status_code == 422 and "ssn" in bad.json()["error"]["message"]
        ok = client.post("/v1/endpoints/ep/config", json={"pii_columns": ["income", "region"]})
        assert ok.status_code == 200 and ok.json()["config"]["pii_columns"] == ["income", "region"]
        deadline = time.monotonic() + 10
        while client.get("/v1/endpoints/ep").json()["config"].get("pii_columns") is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        example = client.get("/v1/endpoints/ep").json()["example"]["inputs"][0]
        assert example["income"] == 0.0 and example["region"] == "example"
        row = {**example, "income": 98765.43, "region": "north"}
        r = client.post("/v1/endpoints/ep/predict", json={"inputs": [row]})
        assert r.status_code == 200
        client.get("/v1/endpoints/ep/monitor")  # ships the spool
    with Workspace(settings) as ws, ws.store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT inputs FROM prediction_records")).scalar_one()
    logged = json.loads(stored) if isinstance(stored, str) else stored
    text = json.dumps(logged)
    assert "98765.43" not in text and "north" not in text
    assert logged[0]["age"] == row["age"]
    if encrypt:
        assert logged[0]["income"].startswith("fernet:")
        assert PiiProtector(key).reveal(logged[0]["income"]) == "98765.43"
    else:
        assert logged[0]["income"] == "[redacted]"
    spool_files = list(settings.resolved_spool_dir.glob("*"))
    for path in spool_files:
        assert b"98765.43" not in path.read_bytes()


def test_bad_pii_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="not a Fernet key"):
        PiiProtector("not-a-key")
