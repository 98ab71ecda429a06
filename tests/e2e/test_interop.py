"""Clients written for MLflow and for KServe/Triton (OIP v2) work unchanged: their
payloads (OIP's binary tensor data too), their Content-Type habits, their error shapes."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
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


def test_mlflow_client_nan_tokens(client: TestClient, frame: pd.DataFrame) -> None:
    """MLflow's client writes ``json.dumps({"dataframe_split": df.to_dict("split")})``,
    with a bare NaN token for a missing value: read as missing, as mlflow serve does."""
    body = json.dumps({"dataframe_split": frame.to_dict(orient="split")})
    r = client.post(
        "/v1/endpoints/qs/invocations",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": native(client, frame)}
    # balance is a nullable float of the quickstart signature, income is not.
    for column, status in (("balance", 200), ("income", 422)):
        holed = frame.astype({column: "float64"})
        holed.loc[0, column] = float("nan")
        body = json.dumps({"dataframe_split": holed.to_dict(orient="split")})
        assert "NaN" in body
        r = client.post(
            "/v1/endpoints/qs/invocations",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == status, r.text
        if status == 200:  # the same answer as a native request with a null there
            assert r.json() == {"predictions": native(client, holed)}
        else:  # a missing value the signature refuses: named, not "malformed JSON"
            assert r.json()["error"]["field"] == column


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


def oip_error(r: Any, status: int) -> str:
    """The message of an OIP v2 error answer: ``{"error": "<message>"}``, nothing else."""
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    assert r.headers["x-request-id"]
    return str(body["error"])


def test_oip_v2_bad_tensors_name_the_tensor(client: TestClient, frame: pd.DataFrame) -> None:
    tensors = v2_inputs(client, frame)
    name = tensors[0]["name"]
    tensors[0] = {**tensors[0], "shape": [3]}
    r = client.post("/v2/models/qs/infer", json={"inputs": tensors})
    assert f"({name!r})" in oip_error(r, 400)
    tensors = v2_inputs(client, frame)
    tensors[0] = {**tensors[0], "datatype": "BYTES", "data": ["a", "b"]}
    r = client.post("/v2/models/qs/infer", json={"inputs": tensors})
    assert repr(name) in oip_error(r, 400)  # the signature refuses it: names the column
    r = client.post(
        "/v2/models/qs/infer", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert "malformed JSON" in oip_error(r, 400)
    r = client.post("/v2/models/nope/infer", json={"inputs": tensors})
    assert "'nope'" in oip_error(r, 404)
    assert "'nope'" in oip_error(client.get("/v2/models/nope"), 404)
    assert "'nope'" in oip_error(client.get("/v2/models/nope/ready"), 404)
    assert oip_error(client.get("/v2/models/qs/infer"), 405)  # the router's own errors too
    assert oip_error(client.post("/v2/models/qs/versions/1/infer", json={}), 404)
    assert oip_error(client.get("/v2/models/qs", headers={"Authorization": ""}), 401)
    r = client.post("/v2/models/qs/infer", json={"inputs": []}, headers={"Authorization": ""})
    assert "API key" in oip_error(r, 401)
    assert r.headers["www-authenticate"]


def test_native_and_mlflow_errors_keep_modelyards_envelope(client: TestClient) -> None:
    for path in ("/v1/endpoints/qs/predict", "/v1/endpoints/qs/invocations"):
        r = client.post(path, json={"nope": 1})
        assert r.status_code == 422, r.text
        assert set(r.json()["error"]) >= {"code", "message", "request_id"}
    r = client.post("/v1/endpoints/nope/predict", json={"inputs": [{}]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_oip_v2_content_type(client: TestClient, frame: pd.DataFrame) -> None:
    """tritonclient sends no Content-Type: /v2 takes that as JSON; a wrong one is a 415
    there too, and elsewhere a body must still say application/json."""
    body = orjson.dumps({"inputs": v2_inputs(client, frame)})
    r = client.post("/v2/models/qs/infer", content=body)
    assert "content-type" not in r.request.headers
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == native(client, frame)
    r = client.post("/v2/models/qs/infer", content=body, headers={"Content-Type": "text/plain"})
    assert "application/json" in oip_error(r, 415)
    rows = json.loads(frame.to_json(orient="records"))
    for path, payload in [
        ("/v1/endpoints/qs/predict", {"inputs": rows}),
        ("/v1/endpoints/qs/invocations", {"dataframe_records": rows}),
    ]:
        r = client.post(path, content=orjson.dumps(payload))
        assert r.status_code == 415, r.text
        assert r.json()["error"]["code"] == "unsupported_media_type"


def binary_v2_body(client: TestClient, frame: pd.DataFrame) -> tuple[bytes, int, list[Any]]:
    """``set_data_from_numpy(array)`` (binary_data=True) for every column, as
    tritonclient sends it: the JSON header, then each tensor's raw bytes in order."""
    header, raw = [], []
    for tensor in v2_inputs(client, frame):
        if tensor["datatype"] == "BYTES":
            values = [str(v).encode() for v in tensor["data"]]  # type: ignore[attr-defined]
            data = b"".join(struct.pack("<I", len(v)) + v for v in values)
        else:
            dtype = {"INT64": "<i8", "FP64": "<f8", "BOOL": "?"}[str(tensor["datatype"])]
            data = np.array(tensor["data"], dtype=dtype).tobytes()
        header.append({**{k: v for k, v in tensor.items() if k != "data"},
                       "parameters": {"binary_data_size": len(data)}})  # fmt: skip
        raw.append(data)
    head = orjson.dumps({"inputs": header})
    return head + b"".join(raw), len(head), header


def test_oip_v2_binary_tensor_data(client: TestClient, frame: pd.DataFrame) -> None:
    body, length, _ = binary_v2_body(client, frame)
    r = client.post(
        "/v2/models/qs/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(length)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == native(client, frame)


def test_oip_v2_malformed_binary_bodies_name_the_tensor_and_change_nothing(
    client: TestClient, frame: pd.DataFrame
) -> None:
    body, length, header = binary_v2_body(client, frame)
    first, last = header[0]["name"], header[-1]["name"]
    cases: list[tuple[bytes, dict[str, str], str]] = [
        (body + b"\0\0", {"Inference-Header-Content-Length": str(length)}, "left over"),
        (body[:-1], {"Inference-Header-Content-Length": str(length)}, f"({last!r})"),
        (body, {"Inference-Header-Content-Length": str(len(body) + 1)}, "body has only"),
        (body, {"Inference-Header-Content-Length": "twelve"}, "positive length"),
        (body, {}, f"inputs[0] ({first!r}) uses the binary data extension"),
        (body, {"Content-Type": "application/json"}, "Inference-Header-Content-Length header"),
    ]
    before = client.get("/v1/endpoints/qs/monitor").json()["prediction_count"]
    for content, headers, match in cases:
        r = client.post("/v2/models/qs/infer", content=content, headers=headers)
        assert match in oip_error(r, 400), (headers, r.text)
    assert client.get("/v1/endpoints/qs/monitor").json()["prediction_count"] == before


def test_oip_v2_binary_bodies_have_the_body_size_limit(base_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    settings = Settings(home=home, max_body_bytes=4096)
    with TestClient(create_app(settings), base_url="http://localhost") as c:
        c.headers["Authorization"] = f"Bearer {read_credentials(settings)}"
        example = c.get("/v1/endpoints/qs").json()["example"]["inputs"][0]
        big = pd.DataFrame([example] * 200)
        body, length, _ = binary_v2_body(c, big)
        assert len(body) > 4096 and length < 4096
        headers = {"Inference-Header-Content-Length": str(length)}
        r = c.post("/v2/models/qs/infer", content=body, headers=headers)
        assert "4096-byte limit" in oip_error(r, 413)
        small, length, _ = binary_v2_body(c, big.head(2))
        headers = {"Inference-Header-Content-Length": str(length)}
        assert c.post("/v2/models/qs/infer", content=small, headers=headers).status_code == 200


def test_interop_predictions_are_logged(client: TestClient, frame: pd.DataFrame) -> None:
    client.post(
        "/v1/endpoints/qs/invocations",
        json={"dataframe_records": json.loads(frame.to_json(orient="records"))},
    )
    summary = client.get("/v1/endpoints/qs/monitor").json()
    assert summary["prediction_count"] == 1 and summary["rows"] == 2
