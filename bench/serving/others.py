"""``--others``: the same two models under ``mlflow models serve`` and BentoML.

Each tool gets a side venv next to this file (``.venv-mlflow``, ``.venv-bentoml``;
gitignored), created on first use with ``python -m venv`` and ``pip install`` of the tool
plus the exact scikit-learn / LightGBM / numpy / pandas versions of the main venv, so
the pickled estimators written by ``run.py`` load unchanged. An install that fails or
takes longer than ``INSTALL_TIMEOUT`` seconds skips that tool, with the reason printed.

* MLflow: both estimators saved with ``mlflow.sklearn.save_model(...,
  pyfunc_predict_fn="predict_proba")`` (so the pyfunc does the floor's work), served by
  ``mlflow models serve --env-manager local -w 1``, one server per model, and called
  with a ``dataframe_split`` payload (what MLflow's own clients send for a DataFrame)
  and with the column-wise ``inputs`` payload.
* BentoML: a ``@bentoml.service(workers=1)`` whose API takes the row as a numpy
  array and returns ``predict_proba``; once plain and once with
  ``@bentoml.api(batchable=True)`` (its adaptive batching).

Every server is pinned to the server core like the others, with access logs off
(uvicorn's for MLflow via ``UVICORN_NO_ACCESS_LOG``, BentoML's via its service config).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INSTALL_TIMEOUT = 420.0
PINNED = ("scikit-learn", "lightgbm", "numpy", "pandas", "scipy")

MLFLOW_EXPORT = r"""
import json, pickle, sys
from pathlib import Path
import numpy as np
import pandas as pd
import mlflow.sklearn
from mlflow.models import infer_signature

models_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
features = json.loads((models_dir / "features.json").read_text())
sample = pd.DataFrame(np.random.default_rng(0).normal(size=(8, len(features))), columns=features)
for name in ("lr", "lgbm"):
    with (models_dir / f"{name}.pkl").open("rb") as fh:
        model = pickle.load(fh)
    trusted = None
    if name == "lgbm":  # skops (MLflow's default format) asks to trust LightGBM's types
        trusted = ["collections.OrderedDict", "lightgbm.basic.Booster",
                   "lightgbm.sklearn.LGBMClassifier"]
    mlflow.sklearn.save_model(
        model, str(out / name),
        signature=infer_signature(sample, model.predict_proba(sample)),
        pyfunc_predict_fn="predict_proba",
        skops_trusted_types=trusted,
    )
print("exported")
"""

BENTO_SERVICE = r"""
import os, pickle, warnings
import numpy as np
import bentoml

warnings.filterwarnings("ignore", message="X does not have valid feature names")
MODEL = os.environ["BENCH_MODEL_PATH"]
BATCHABLE = os.environ.get("BENCH_BATCHABLE") == "1"


@bentoml.service(workers=1, logging={"access": {"enabled": False}})
class Model:
    def __init__(self) -> None:
        with open(MODEL, "rb") as fh:
            self.model = pickle.load(fh)

    @bentoml.api(batchable=BATCHABLE)
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(inputs)
"""


def _pins() -> list[str]:
    pins = []
    for name in PINNED:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return pins


def ensure_venv(name: str, package: str) -> tuple[Path | None, str]:
    """The side venv's bin directory (created and filled if needed), or None and why not."""
    venv = HERE / f".venv-{name}"
    bin_dir = venv / "bin"
    requirements = [package, *_pins()]
    marker = venv / "bench-requirements.txt"
    if marker.is_file() and marker.read_text() == "\n".join(requirements):
        return bin_dir, "reused"
    print(f"  installing {package} into {venv} (first run only; up to a few minutes) ...")
    started = time.monotonic()
    try:
        if not (bin_dir / "python").exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=True,
                capture_output=True,
                timeout=120,
            )
        result = subprocess.run(
            [str(bin_dir / "pip"), "install", "-q", "--disable-pip-version-check", *requirements],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return None, f"skipped: installing {package} took more than {INSTALL_TIMEOUT:.0f}s"
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"skipped: could not create the venv: {exc}"
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
        return None, f"skipped: pip install {package} failed: {last[0]}"
    marker.write_text("\n".join(requirements))
    return bin_dir, f"installed in {time.monotonic() - started:.0f}s"


def _version(bin_dir: Path, package: str) -> str:
    result = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            f"from importlib.metadata import version; print(version({package!r}))",
        ],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or "?"


@contextmanager
def _server(
    kit: Any,
    key: str,
    cmd: list[str],
    env: dict[str, str],
    ready_path: str,
    port: int,
    args: Any,
    workdir: Path,
    cwd: Path | None = None,
) -> Iterator[tuple[Any, str]]:
    base = f"http://127.0.0.1:{port}"
    log = workdir / f"server-{key}.log"
    cmd = kit.pinned(cmd, args.server_core)
    if cwd is not None:
        env = {**env, "PWD": str(cwd)}
    proc = kit.start(cmd, env, log, cwd=cwd)
    try:
        kit.wait_ready(proc, f"{base}{ready_path}", log, timeout=180)
        settle = kit.wait_settled(proc.pid)
        print(f"  ready; settled after {settle:.1f}s", flush=True)
        yield proc, base
    finally:
        kit.stop(proc)


def _check(kit: Any, base: str, path: str, body: bytes, expected: float, what: str) -> None:
    status, answer = kit.http("POST", f"{base}{path}", body=body, timeout=30)
    if status != 200:
        raise RuntimeError(f"{what}: HTTP {status}: {answer[:300]!r}")
    data = json.loads(answer)
    row = data["predictions"][0] if isinstance(data, dict) else data[0]
    p1 = float(row[1] if isinstance(row, list) else row["1"])
    if abs(p1 - expected) > 1e-3:
        raise RuntimeError(f"{what}: P(1)={p1}, the fitted model says {expected}")


def _bodies(prep: Any, kind: str) -> list[bytes]:
    out = []
    for body in prep.bodies:
        row = json.loads(body)["inputs"][0]
        columns = list(row)
        values = [row[c] for c in columns]
        if kind == "dataframe_split":
            payload: Any = {"dataframe_split": {"columns": columns, "data": [values]}}
        elif kind == "inputs_columns":
            payload = {"inputs": {c: [v] for c, v in row.items()}}
        else:  # a 2-D array for BentoML's numpy parameter
            payload = {"inputs": [values]}
        out.append(json.dumps(payload).encode())
    return out


def run_mlflow(prep: Any, args: Any, workdir: Path, kit: Any) -> tuple[list[Any], str]:
    bin_dir, note = ensure_venv("mlflow", "mlflow")
    if bin_dir is None:
        return [], note
    exported = workdir / "mlflow-models"
    result = subprocess.run(
        [str(bin_dir / "python"), "-c", MLFLOW_EXPORT, str(prep.models_dir), str(exported)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        return [], f"skipped: exporting the models failed: {result.stderr.strip()[-300:]}"
    version = _version(bin_dir, "mlflow")
    env = kit.base_env()
    env.update(
        PATH=f"{bin_dir}:{env.get('PATH', '')}",
        UVICORN_NO_ACCESS_LOG="true",
        MLFLOW_TRACKING_URI=f"file://{workdir / 'mlruns'}",
    )
    payloads = {kind: _bodies(prep, kind) for kind in ("dataframe_split", "inputs_columns")}
    cells = [("dataframe_split", 32), ("inputs_columns", 32), ("dataframe_split", 256)]
    measured = []
    for model in ("lr", "lgbm"):
        port = kit.free_port()
        spec = kit.ServerSpec(f"mlflow-{model}", f"mlflow models serve ({model})", "other")
        cmd = [
            str(bin_dir / "mlflow"), "models", "serve", "-m", str(exported / model),
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1",
        ]  # fmt: skip
        print(f"{spec.label}: starting ...", flush=True)
        with _server(kit, spec.key, cmd, env, "/ping", port, args, workdir) as (proc, base):
            _check(kit, base, "/invocations", payloads["dataframe_split"][0],
                   prep.expected[model], spec.label)  # fmt: skip
            for kind, conns in cells:
                m = kit.measure(
                    spec, proc, base, prep, model, conns, args, workdir,
                    url_path="/invocations", bodies=payloads[kind], key="",
                    variant=f"mlflow {'df_split' if kind == 'dataframe_split' else 'inputs'}",
                )  # fmt: skip
                kit.report_line(m)
                measured.append(m)
    return measured, f"mlflow {version}: {note}"


def run_bentoml(prep: Any, args: Any, workdir: Path, kit: Any) -> tuple[list[Any], str]:
    bin_dir, note = ensure_venv("bentoml", "bentoml")
    if bin_dir is None:
        return [], note
    version = _version(bin_dir, "bentoml")
    service_dir = workdir / "bento"
    service_dir.mkdir(exist_ok=True)
    (service_dir / "service.py").write_text(BENTO_SERVICE)
    bodies = _bodies(prep, "array")
    measured = []
    for model in ("lr", "lgbm"):
        for batchable in (False, True):
            port = kit.free_port()
            tag = "batched" if batchable else "unbatched"
            spec = kit.ServerSpec(f"bento-{model}-{tag}", f"BentoML {tag} ({model})", "other")
            env = kit.base_env()
            env.update(
                PATH=f"{bin_dir}:{env.get('PATH', '')}",
                BENTOML_DO_NOT_TRACK="true",
                BENTOML_HOME=str(workdir / "bentoml-home"),
                BENCH_MODEL_PATH=str(prep.models_dir / f"{model}.pkl"),
                BENCH_BATCHABLE="1" if batchable else "0",
            )
            cmd = [
                str(bin_dir / "bentoml"), "serve", "service:Model",
                "--host", "127.0.0.1", "--port", str(port),
            ]  # fmt: skip
            print(f"{spec.label}: starting ...", flush=True)
            with _server(
                kit, spec.key, cmd, env, "/readyz", port, args, workdir, cwd=service_dir
            ) as (proc, base):
                _check(kit, base, "/predict", bodies[0], prep.expected[model], spec.label)
                for conns in (32, 256):
                    m = kit.measure(
                        spec, proc, base, prep, model, conns, args, workdir,
                        url_path="/predict", bodies=bodies, key="", variant=f"BentoML {tag}",
                    )  # fmt: skip
                    kit.report_line(m)
                    measured.append(m)
    return measured, f"BentoML {version}: {note}"


def run_others(prep: Any, args: Any, workdir: Path, kit: Any) -> tuple[list[Any], dict[str, str]]:
    """Measurements for MLflow and BentoML, and a note per tool (version or why skipped)."""
    measured: list[Any] = []
    notes: dict[str, str] = {}
    for name, runner in (("mlflow", run_mlflow), ("bentoml", run_bentoml)):
        try:
            found, note = runner(prep, args, workdir, kit)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            found, note = [], f"skipped after an error: {exc}"
        measured.extend(found)
        notes[name] = note
        print(f"{name}: {note}", flush=True)
    return measured, notes
