"""A real client library of another ecosystem against a real modelyard server.

``tritonclient.http`` (NVIDIA Triton's own Open Inference Protocol v2 client) talks over
real HTTP to a uvicorn server on an ephemeral loopback port: health, model readiness and
metadata, and inference with one tensor per column (INT64, FP64, BYTES, BOOL) or a single
2-D FP32/FP64 tensor for an all-float model, with the values in JSON
(``binary_data=False``) or, as the client sends them by default, in the binary tensor
data extension. Every prediction is compared with the native
``/v1/endpoints/{name}/predict`` answer for the same rows. The client is called as its
users call it: no Content-Type (it sends none), only the key added; errors come back as
OIP's ``{"error": "<message>"}``, which the client turns into its exception.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.data.quickstart import generate_quickstart_frame
from modelyard.security.credentials import read_credentials
from modelyard.serving.server import BackgroundServer, make_server
from modelyard.settings import Settings
from modelyard.workspace import Workspace

if TYPE_CHECKING:
    import tritonclient.http as triton_http
else:
    triton_http = pytest.importorskip(
        "tritonclient.http", reason="tritonclient[http] is not installed (dev extra)"
    )
from tritonclient.utils import InferenceServerException  # noqa: E402

MIXED = "churn"  # integer, float, string and boolean columns
FLOAT = "floats"  # float columns only
ROWS = 6

NUMPY_TYPES: dict[str, npt.DTypeLike] = {
    "INT64": np.int64,
    "FP64": np.float64,
    "FP32": np.float32,
    "BOOL": np.bool_,
    "BYTES": np.object_,
}


@dataclass(frozen=True)
class Served:
    port: int
    key: str
    mixed_rows: list[dict[str, Any]]
    float_rows: npt.NDArray[np.float64]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def _mixed_frame() -> pd.DataFrame:
    frame: pd.DataFrame = generate_quickstart_frame(n_rows=400, seed=11)
    frame["autopay"] = (frame["tenure_months"] % 3 == 0).to_numpy()  # a boolean column
    return frame


def _float_frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(5)
    features = pd.DataFrame(rng.normal(size=(300, 3)), columns=["x0", "x1", "x2"])
    target = pd.Series((features["x0"] - 0.5 * features["x2"] > 0).astype(np.int64))
    return features, target


def _scalar(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("interop-clients") / "home"
    settings = Settings(home=home)
    frame = _mixed_frame()
    features, target = _float_frame()
    with Workspace(settings) as ws:
        ws.add_dataset(frame, "churn")
        ws.train("churn", "target", "logistic_regression", MIXED)
        ws.deploy(MIXED, f"{MIXED}:1")
        model = LogisticRegression().fit(features, target)
        ws.register_model(model, FLOAT, input_example=features, target_example=target)
        ws.deploy(FLOAT, f"{FLOAT}:1")
        columns = [c["name"] for c in ws.model(f"{MIXED}:1").signature["inputs"]]
    sample = frame.loc[:, columns].dropna().head(ROWS)
    rows = [
        {str(name): _scalar(value) for name, value in record.items()}
        for record in sample.to_dict(orient="records")
    ]
    background = BackgroundServer(make_server(settings, "127.0.0.1", 0, quiet=True))
    port = background.start()
    try:
        yield Served(port, str(read_credentials(settings)), rows, features.head(ROWS).to_numpy())
    finally:
        background.stop()
    assert not background.thread.is_alive()


@pytest.fixture(scope="module")
def triton(served: Served) -> Iterator[triton_http.InferenceServerClient]:
    client = triton_http.InferenceServerClient(url=f"127.0.0.1:{served.port}")
    try:
        yield client
    finally:
        client.close()


def native(served: Served, endpoint: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The native predict answer for ``rows``."""
    r = httpx.post(
        f"{served.url}/v1/endpoints/{endpoint}/predict",
        json={"inputs": list(rows)},
        headers=served.auth,
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def native_proba(served: Served, endpoint: str, answer: dict[str, Any]) -> npt.NDArray[Any]:
    """Native probabilities as an [n, n_classes] matrix in the signature's class order."""
    signature = httpx.get(f"{served.url}/v1/endpoints/{endpoint}", headers=served.auth).json()
    classes = [str(c) for c in signature["signature"]["output"]["classes"]]
    return np.array([[row[c] for c in classes] for row in answer["probabilities"]])


def column_inputs(
    metadata: dict[str, Any], rows: Sequence[dict[str, Any]], *, binary: bool | str = False
) -> list[triton_http.InferInput]:
    """One InferInput per column, typed as the model metadata says, set from numpy:
    values in JSON, or (``binary=True``) in the binary extension, or (``"mixed"``)
    every other tensor binary."""
    inputs = []
    for position, tensor in enumerate(metadata["inputs"]):
        name, datatype = tensor["name"], tensor["datatype"]
        array = np.array([row[name] for row in rows], dtype=NUMPY_TYPES[datatype])
        infer_input = triton_http.InferInput(name, list(array.shape), datatype)
        if binary is True or (binary == "mixed" and position % 2 == 0):
            infer_input.set_data_from_numpy(array)  # the client's default: binary_data=True
        else:
            infer_input.set_data_from_numpy(array, binary_data=False)
        inputs.append(infer_input)
    return inputs


def test_health_and_model_readiness(
    served: Served, triton: triton_http.InferenceServerClient
) -> None:
    assert triton.is_server_live()  # liveness needs no key
    assert triton.is_server_ready(headers=served.auth)
    assert triton.is_model_ready(MIXED, headers=served.auth)
    assert triton.is_model_ready(FLOAT, headers=served.auth)
    assert not triton.is_model_ready("no-such-model", headers=served.auth)


def test_model_metadata_lists_typed_inputs(
    served: Served, triton: triton_http.InferenceServerClient
) -> None:
    metadata = triton.get_model_metadata(MIXED, headers=served.auth)
    assert metadata["name"] == MIXED and metadata["versions"] == ["1"]
    datatypes = {t["name"]: t["datatype"] for t in metadata["inputs"]}
    assert datatypes["age"] == "INT64"
    assert datatypes["income"] == "FP64"
    assert datatypes["region"] == "BYTES"
    assert datatypes["autopay"] == "BOOL"
    assert {o["name"] for o in metadata["outputs"]} == {"predict", "predict_proba"}
    floats = triton.get_model_metadata(FLOAT, headers=served.auth)
    assert [(t["name"], t["datatype"]) for t in floats["inputs"]] == [
        ("x0", "FP64"),
        ("x1", "FP64"),
        ("x2", "FP64"),
    ]


def test_infer_one_tensor_per_column_matches_native(
    served: Served, triton: triton_http.InferenceServerClient
) -> None:
    metadata = triton.get_model_metadata(MIXED, headers=served.auth)
    expected = native(served, MIXED, served.mixed_rows)
    outputs = [
        triton_http.InferRequestedOutput("predict", binary_data=False),
        triton_http.InferRequestedOutput("predict_proba", binary_data=False),
    ]
    result = triton.infer(
        MIXED,
        column_inputs(metadata, served.mixed_rows),
        request_id="req-7",
        outputs=outputs,
        headers=served.auth,
    )
    response = result.get_response()
    assert response["model_name"] == MIXED and response["id"] == "req-7"
    labels = result.as_numpy("predict")
    assert labels is not None and labels.shape == (ROWS,)
    assert labels.tolist() == expected["predictions"]
    proba = result.as_numpy("predict_proba")
    assert proba is not None and proba.shape == (ROWS, 2)
    np.testing.assert_allclose(proba, native_proba(served, MIXED, expected), rtol=1e-12)


def test_infer_with_only_the_auth_header(
    served: Served, triton: triton_http.InferenceServerClient
) -> None:
    """The client exactly as its users call it (plus the key): no extra headers."""
    metadata = triton.get_model_metadata(MIXED, headers=served.auth)
    inputs = column_inputs(metadata, served.mixed_rows)
    result = triton.infer(MIXED, inputs, headers=served.auth)
    labels = result.as_numpy("predict")
    assert labels is not None
    assert labels.tolist() == native(served, MIXED, served.mixed_rows)["predictions"]


def test_infer_with_client_defaults_for_outputs(
    served: Served, triton: triton_http.InferenceServerClient
) -> None:
    """No outputs named: the client asks for ``binary_data_output``; JSON comes back and
    ``as_numpy`` reads it. A requested output left at ``binary_data=True`` likewise."""
    metadata = triton.get_model_metadata(MIXED, headers=served.auth)
    expected = native(served, MIXED, served.mixed_rows)["predictions"]
    inputs = column_inputs(metadata, served.mixed_rows)
    result = triton.infer(MIXED, inputs, headers=served.auth)
    labels = result.as_numpy("predict")
    assert labels is not None and labels.tolist() == expected
    assert result.as_numpy("predict_proba") is not None
    result = triton.infer(
        MIXED, inputs, outputs=[triton_http.InferRequestedOutput("predict")], headers=served.auth
    )
    labels = result.as_numpy("predict")
    assert labels is not None and labels.tolist() == expected
    assert result.as_numpy("predict_proba") is None


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_binary_column_tensors_match_native(
    served: Served, triton: triton_http.InferenceServerClient, binary: bool
) -> None:
    """``set_data_from_numpy(array)`` with the client's default ``binary_data=True``:
    INT64, FP64, BYTES and BOOL columns as raw bytes after the JSON header."""
    metadata = triton.get_model_metadata(MIXED, headers=served.auth)
    assert {t["datatype"] for t in metadata["inputs"]} == {"INT64", "FP64", "BYTES", "BOOL"}
    expected = native(served, MIXED, served.mixed_rows)
    for layout in (True, "mixed") if binary else (False,):
        inputs = column_inputs(metadata, served.mixed_rows, binary=layout)
        assert any(i._get_binary_data() is not None for i in inputs) is binary
        result = triton.infer(MIXED, inputs, request_id="bin-1", headers=served.auth)
        assert result.get_response()["id"] == "bin-1"
        labels = result.as_numpy("predict")
        assert labels is not None and labels.tolist() == expected["predictions"]
        proba = result.as_numpy("predict_proba")
        assert proba is not None and proba.shape == (ROWS, 2)
        np.testing.assert_allclose(proba, native_proba(served, MIXED, expected), rtol=1e-12)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_infer_single_matrix_tensor_matches_native(
    served: Served, triton: triton_http.InferenceServerClient, datatype: str, binary: bool
) -> None:
    matrix = served.float_rows.astype(NUMPY_TYPES[datatype])
    infer_input = triton_http.InferInput("input__0", list(matrix.shape), datatype)
    if binary:
        infer_input.set_data_from_numpy(matrix)  # the client's default: binary_data=True
    else:
        infer_input.set_data_from_numpy(matrix, binary_data=False)
    result = triton.infer(FLOAT, [infer_input], headers=served.auth)
    # The server sees exactly the values the client sent (float32-rounded for FP32).
    sent = [dict(zip(["x0", "x1", "x2"], r, strict=True)) for r in matrix.astype(float).tolist()]
    expected = native(served, FLOAT, sent)
    labels = result.as_numpy("predict")
    assert labels is not None and labels.tolist() == expected["predictions"]
    proba = result.as_numpy("predict_proba")
    assert proba is not None and proba.shape == (ROWS, 2)
    np.testing.assert_allclose(proba, native_proba(served, FLOAT, expected), rtol=1e-12)


def _malformed(served: Served, kind: str) -> list[triton_http.InferInput]:
    """Column tensors for MIXED with the ``age`` tensor broken in one way."""
    rows = served.mixed_rows
    metadata = {"inputs": [{"name": k, "datatype": _datatype(v)} for k, v in rows[0].items()]}
    inputs = column_inputs(metadata, rows)
    age = next(i for i in inputs if i.name() == "age")
    if kind == "shape":  # declares more rows than it carries
        age.set_shape([ROWS + 1])
    else:  # strings sent for the integer column
        strings = np.array([str(row["age"]) for row in rows], dtype=np.object_)
        broken = triton_http.InferInput("age", [ROWS], "BYTES")
        broken.set_data_from_numpy(strings, binary_data=False)
        inputs[inputs.index(age)] = broken
    return inputs


def _datatype(value: object) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FP64"
    return "BYTES"


@pytest.mark.parametrize("kind", ["shape", "datatype"])
def test_malformed_tensor_raises_naming_the_tensor(
    served: Served, triton: triton_http.InferenceServerClient, kind: str
) -> None:
    with pytest.raises(InferenceServerException) as info:
        triton.infer(MIXED, _malformed(served, kind), headers=served.auth)
    assert info.value.status() == "400"
    assert "'age'" in info.value.message()


def test_malformed_tensor_error_follows_the_oip_error_shape(
    served: Served, triton: triton_http.InferenceServerClient
) -> None:
    with pytest.raises(InferenceServerException) as info:
        triton.infer(MIXED, _malformed(served, "shape"), headers=served.auth)
    assert info.value.status() == "400"
    assert isinstance(info.value.message(), str) and "age" in info.value.message()
    assert "age" in str(info.value)


@pytest.mark.parametrize("column", ["age", "income", "region", "autopay"])
def test_malformed_binary_tensor_raises_naming_the_tensor(
    served: Served, triton: triton_http.InferenceServerClient, column: str
) -> None:
    """A binary tensor whose shape claims more elements than its bytes hold."""
    metadata = triton.get_model_metadata(MIXED, headers=served.auth)
    inputs = column_inputs(metadata, served.mixed_rows, binary=True)
    broken = next(i for i in inputs if i.name() == column)
    broken.set_shape([ROWS + 1])
    with pytest.raises(InferenceServerException) as info:
        triton.infer(MIXED, inputs, headers=served.auth)
    assert info.value.status() == "400"
    message = str(info.value)
    assert f"({column!r})" in message and "binary_data_size" in message, message


def test_missing_key_and_unknown_model(
    served: Served, triton: triton_http.InferenceServerClient
) -> None:
    metadata = triton.get_model_metadata(MIXED, headers=served.auth)
    inputs = column_inputs(metadata, served.mixed_rows)
    with pytest.raises(InferenceServerException) as info:
        triton.infer(MIXED, inputs)
    assert info.value.status() == "401"
    assert "API key" in str(info.value)
    with pytest.raises(InferenceServerException) as info:
        triton.get_model_metadata("no-such-model", headers=served.auth)
    assert info.value.status() == "404"
    assert "no-such-model" in str(info.value)
    with pytest.raises(InferenceServerException) as info:
        triton.infer("no-such-model", inputs, headers=served.auth)
    assert info.value.status() == "404"
    assert "no-such-model" in str(info.value)


def test_oip_errors_keep_the_request_id_header(served: Served) -> None:
    """OIP's error body has no room for the request id: it is the X-Request-ID header."""
    body = {"inputs": [{"name": "age", "shape": [1], "datatype": "INT64", "data": ["x"]}]}
    for path, headers, status in [
        (f"/v2/models/{MIXED}/infer", served.auth, 400),
        ("/v2/models/no-such-model/infer", served.auth, 404),
        (f"/v2/models/{MIXED}/infer", {}, 401),
    ]:
        r = httpx.post(
            f"{served.url}{path}", json=body, headers={**headers, "X-Request-ID": "trace-9"}
        )
        assert r.status_code == status, r.text
        assert isinstance(r.json()["error"], str) and r.json()["error"]
        assert r.headers["x-request-id"] == "trace-9"
