"""Clients written for MLflow and for KServe/Triton (OIP v2) work unchanged."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from modelyard.data.quickstart import write_quickstart_csv
from modelyard.security.credentials import read_credentials
from modelyard.serving.app import create_app
from modelyard.settings import Settings
from modelyard.workspace import Workspace


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("interop") / "home"
    with Workspace(Settings(home=home)) as ws:
        ws.add_dataset(write_quickstart_csv(home / "d.csv", n_rows=400), "d")
        ws.train("d", "target", "logistic_regression", "qs")
        ws.deploy("qs", "qs:1")
    return home


@pytest.fixture
def client(base_home: Path, tmp_path: Path) -> Iterator[TestClient]:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    settings = Settings(home=home)
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        yield c


@pytest.fixture
def frame(client: TestClient) -> pd.DataFrame:
    example = client.get("/v1/endpoints/qs").json()["example"]["inputs"][0]
    rows = [example, {**example, "age": example["age"] + 10}]
    return pd.DataFrame(rows)


def native(client: TestClient, frame: pd.DataFrame) -> list[int]:
    rows = json.loads(frame.to_json(orient="records"))
    return list(
        client.post("/v1/endpoints/qs/predict", json={"inputs": rows}).json()["predictions"]
    )


@pytest.mark.parametrize("shape", ["split", "records", "instances", "inputs_columns"])
def test_mlflow_payloads(client: TestClient, frame: pd.DataFrame, shape: str) -> None:
    if shape == "split":  # what mlflow's client sends: DataFrame.to_json(orient="split")
        body = {"dataframe_split": json.loads(frame.to_json(orient="split"))}
    elif shape == "records":
        body = {"dataframe_records": json.loads(frame.to_json(orient="records"))}
    elif shape == "instances":
        body = {"instances": json.loads(frame.to_json(orient="records"))}
    else:
        body = {"inputs": {c: json.loads(frame[c].to_json(orient="values")) for c in frame}}
    r = client.post("/v1/endpoints/qs/invocations", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": native(client, frame)}


def test_mlflow_errors_name_the_field(client: TestClient, frame: pd.DataFrame) -> None:
    split = json.loads(frame.to_json(orient="split"))
    split["columns"] = split["columns"][:-1]
    r = client.post("/v1/endpoints/qs/invocations", json={"dataframe_split": split})
    assert r.status_code == 422
    assert r.json()["error"]["field"]
    r = client.post("/v1/endpoints/qs/invocations", json={"unknown_format": []})
    assert r.status_code in (400, 422)


DATATYPES = {
    "integer": ("INT64", np.int64),
    "float": ("FP64", np.float64),
    "string": ("BYTES", object),
    "boolean": ("BOOL", bool),
}


def v2_inputs(client: TestClient, frame: pd.DataFrame) -> list[dict[str, object]]:
    """Tensors as tritonclient's InferInput(...).set_data_from_numpy(...) serialises them."""
    signature = client.get("/v1/endpoints/qs").json()["signature"]["inputs"]
    tensors = []
    for col in signature:
        datatype, dtype = DATATYPES[col["type"]]
        array = frame[col["name"]].to_numpy().astype(dtype)
        tensors.append(
            {
                "name": col["name"],
                "shape": list(array.shape),
                "datatype": datatype,
                "data": array.flatten().tolist(),
            }
        )
    return tensors


def test_oip_v2_infer_metadata_and_health(client: TestClient, frame: pd.DataFrame) -> None:
    assert client.get("/v2/health/live", headers={"Authorization": ""}).json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    meta = client.get("/v2/models/qs").json()
    assert meta["name"] == "qs" and meta["versions"] == ["1"]
    assert {i["name"] for i in meta["inputs"]} >= {"age", "region"}
    assert client.get("/v2/models/qs/ready").json()["ready"] is True
    body = {"id": "req-7", "inputs": v2_inputs(client, frame)}
    r = client.post("/v2/models/qs/infer", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_name"] == "qs" and out["id"] == "req-7"
    outputs = {o["name"]: o for o in out["outputs"]}
    assert outputs["predict"]["data"] == native(client, frame)
    assert outputs["predict_proba"]["shape"] == [2, 2]


def test_oip_v2_bad_tensors_name_the_tensor(client: TestClient, frame: pd.DataFrame) -> None:
    tensors = v2_inputs(client, frame)
    tensors[0] = {**tensors[0], "shape": [3]}
    r = client.post("/v2/models/qs/infer", json={"inputs": tensors})
    assert r.status_code in (400, 422)
    assert tensors[0]["name"] in r.json()["error"]["message"] or r.json()["error"]["field"]
    tensors = v2_inputs(client, frame)
    tensors[0] = {**tensors[0], "datatype": "BYTES", "data": ["a", "b"]}
    r = client.post("/v2/models/qs/infer", json={"inputs": tensors})
    assert r.status_code in (400, 422)
    assert client.post("/v2/models/nope/infer", json={"inputs": tensors}).status_code == 404


def test_interop_predictions_are_logged(client: TestClient, frame: pd.DataFrame) -> None:
    client.post(
        "/v1/endpoints/qs/invocations",
        json={"dataframe_records": json.loads(frame.to_json(orient="records"))},
    )
    summary = client.get("/v1/endpoints/qs/monitor").json()
    assert summary["prediction_count"] == 1 and summary["rows"] == 2
