"""Serving benchmark: modelyard's data plane against the thinnest Python server.

    .venv/bin/python bench/serving/run.py             # full run (~4 minutes)
    .venv/bin/python bench/serving/run.py --quick     # 3 s per measurement (~2 minutes)
    .venv/bin/python bench/serving/run.py --others    # plus mlflow / BentoML in side venvs

See README.md beside this file for what is measured, how fairly, and the results.

Generates a 20-feature numeric binary classification table (fixed seed), fits a
LogisticRegression and a 100-tree LGBMClassifier, registers both in a temporary
MODELYARD_HOME (with the table as their dataset lineage), deploys them, compiles them
to ONNX (``CompileService``) and creates a predictor API key. The LGBMClassifier is
registered twice: under the lightgbm flavor (``lgbm``: the raw booster) and under the
sklearn flavor (``lgbm-sk``: its scikit-learn ``predict_proba``, like a pipeline
ending in LightGBM), the model whose runtime dominates a request, on which the
batching target is measured. Then, one server at a
time, pinned to one core with ``taskset`` while wrk is pinned to another (both at
``nice -10`` when allowed, so other tenants of a shared machine disturb them less):

* ``modelyard serve`` (one worker) with auth, validation, metrics and prediction
  logging ON -- serving the original artifacts (MODELYARD_USE_COMPILED=false) and the
  compiled ones (the default) -- plus two comparison configurations: batching off
  (MODELYARD_BATCH_MAX_ROWS=1) and prediction logging off (MODELYARD_PREDICTION_LOG=false);
* the floor: ``bare_server.py``, a raw ASGI callable under the same uvicorn calling the
  estimator's ``predict_proba`` on one row;
* with ``--others``: ``mlflow models serve`` and a BentoML service (see ``others.py``).

Each measurement is wrk with single-row JSON bodies (64 distinct holdout rows, cycled)
for a short warm-up and then a fixed duration, at 32 and 256 connections. The script
prints req/s, p50 and p99, the ratios to the floor, PASS/FAIL for each target of
issue 7 (and the monitoring issue's logging-cost target), and writes everything to
``bench/serving/results/``. CPU used on the two cores by other processes is measured
during every run; a disturbed run is measured again (within a budget) and flagged
"(noisy)" if it stays disturbed. Servers listen on 127.0.0.1 only and are stopped
(their whole process tree) at the end, on errors, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
VENV_BIN = Path(sys.executable).parent
SEED = 7
N_ROWS = 20_000
N_FEATURES = 20
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
TARGET = "label"
BODY_ROWS = 64
MODELS = {
    "lr": "logistic regression",
    "lgbm": "LightGBM (100 trees)",
    # The same fitted LGBMClassifier registered under the sklearn flavor: served through
    # its scikit-learn API (predict_proba, the call the floor makes), as a scikit-learn
    # pipeline ending in LightGBM is. The lightgbm flavor calls the raw booster instead,
    # ~15x cheaper a row, so there the model is a few percent of a request and batching
    # has little to save; this is the model whose runtime dominates, batching's case.
    "lgbm-sk": "LightGBM (100 trees) via its scikit-learn API",
}
#: Models whose floor is another model's (the floor calls predict_proba either way).
FLOOR_MODEL = {"lgbm-sk": "lgbm"}
# Generous per-second windows: the limiter still runs on every request, it just never
# binds (the defaults, 200/s per key, would cap the benchmark at 200 req/s).
RATE_LIMIT = "1000000/second"


# --------------------------------------------------------------------------- processes

_RUNNING: list[subprocess.Popen[bytes]] = []


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def start(
    cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group (so stopping it stops its children too)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    _RUNNING.append(proc)
    return proc


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (servers such as BentoML start their own sessions)."""
    children = _children_map()
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group; SIGKILL it and any descendants still there after ``grace``."""
    tree = descendants(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group, if any
    for pid in tree:  # our own children that left the group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc in _RUNNING:
        _RUNNING.remove(proc)


def stop_all() -> None:
    for proc in list(_RUNNING):
        stop(proc, grace=5.0)


PRIORITY = {"nice": 0}
EXTRA_ENV: dict[str, str] = {}  # --set  # set from --nice when the OS allows it


def pinned(cmd: list[str], core: int | None) -> list[str]:
    """``cmd`` pinned to ``core`` (taskset) at the benchmark's CPU priority (nice)."""
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    if PRIORITY["nice"]:
        cmd = ["nice", "-n", str(PRIORITY["nice"]), *cmd]
    return cmd


def can_nice(level: int) -> bool:
    if level >= 0:
        return True
    result = subprocess.run(["nice", "-n", str(level), "true"], capture_output=True, text=True)
    return result.returncode == 0 and not result.stderr.strip()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(
    method: str, url: str, *, body: bytes | None = None, key: str | None = None, timeout: float = 5
) -> tuple[int, bytes]:
    headers = {"content-type": "application/json"} if body is not None else {}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; log:\n{_tail(log)}")
        with contextlib.suppress(OSError):
            if http("GET", url, timeout=2)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout:.0f}s; log:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- CPU accounting

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_ticks() -> dict[str, tuple[int, int, int]]:
    """(busy, total, steal) jiffies per core (key ``"all"`` for the sum) from /proc/stat."""
    ticks = {}
    with open("/proc/stat") as fh:
        for line in fh:
            if not line.startswith("cpu"):
                break
            name, *rest = line.split()
            user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in rest[:8])
            busy = user + nice + system + irq + softirq
            ticks["all" if name == "cpu" else name[3:]] = (
                busy,
                busy + idle + iowait + steal,
                steal,
            )
    return ticks


def _proc_ticks(pid: int | None) -> int:
    """CPU jiffies (user + system, all threads) of ``pid`` and all its descendants."""
    if pid is None:
        return 0
    total = 0
    for one in (pid, *descendants(pid)):
        try:
            with open(f"/proc/{one}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total


def _children_ticks() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * TICK


class CpuWindow:
    """CPU use while a measurement runs: the server, wrk, and everyone else.

    ``server_core_foreign`` is busy time on the server's core that the (pinned) server
    did not use: other tenants of the machine taking the server's CPU, the number that
    matters. ``client_core_foreign`` is the same on wrk's core (wrk needs little CPU
    at these rates, so only a lot of it matters). All in cores (1.0 = one core).
    """

    def __init__(self, server_core: int | None, client_core: int | None, pid: int) -> None:
        self.server_core = "all" if server_core is None else str(server_core)
        self.client_core = None if client_core is None else str(client_core)
        self.pid = pid

    def __enter__(self) -> CpuWindow:
        self.t0 = time.monotonic()
        self.start = _cpu_ticks()
        self.proc0 = _proc_ticks(self.pid)
        self.children0 = _children_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> dict[str, float]:
        end = _cpu_ticks()
        wall = max(1e-3, (time.monotonic() - self.t0) * TICK)

        def delta(core: str, i: int) -> int:
            return end[core][i] - self.start[core][i]

        server = _proc_ticks(self.pid) - self.proc0
        client = _children_ticks() - self.children0  # wrk, once it has been waited for
        if self.client_core is None:  # unpinned: one pool of cores
            server_foreign: float = delta("all", 0) - server - client
            client_foreign = 0.0
        else:
            server_foreign = delta(self.server_core, 0) - server
            client_foreign = delta(self.client_core, 0) - client
        return {
            "server_cpu": server / wall,
            "wrk_cpu": client / wall,
            "server_core_foreign": max(0.0, server_foreign / wall),
            "client_core_foreign": max(0.0, client_foreign / wall),
            "steal": delta(self.server_core, 2) / wall,
        }


def noise_of(cpu: dict[str, float]) -> float:
    """How much other processes disturbed a measurement, in cores (see CpuWindow)."""
    return (
        cpu.get("server_core_foreign", 0.0)
        + cpu.get("steal", 0.0)
        + max(0.0, cpu.get("client_core_foreign", 0.0) - 0.5)
    )


def machine_foreign_load(pid: int | None, seconds: float = 0.5) -> float:
    """Cores' worth of CPU used by everything but ``pid`` over ``seconds``."""
    start, p0, t0 = _cpu_ticks(), _proc_ticks(pid), time.monotonic()
    time.sleep(seconds)
    end, p1 = _cpu_ticks(), _proc_ticks(pid)
    wall = max(1e-3, (time.monotonic() - t0) * TICK)
    return max(0.0, (end["all"][0] - start["all"][0] - (p1 - p0)) / wall)


def wait_quiet(pid: int | None, budget: float, threshold: float = 0.10) -> float:
    """Wait (up to ``budget`` s) until other processes use < ``threshold`` of a core."""
    deadline = time.monotonic() + budget
    load = machine_foreign_load(pid)
    while load >= threshold and time.monotonic() < deadline:
        load = machine_foreign_load(pid, 1.0)
    return load


def wait_settled(pid: int, timeout: float = 60.0, threshold: float = 0.05) -> float:
    """Wait until the server's own start-up work (e.g. a first drift check) is done."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        p0, t0 = _proc_ticks(pid), time.monotonic()
        time.sleep(0.5)
        if (_proc_ticks(pid) - p0) / ((time.monotonic() - t0) * TICK) < threshold:
            break
    return time.monotonic() - started


# --------------------------------------------------------------------------- wrk

LUA_TEMPLATE = r"""
local bodies = {
%(bodies)s
}
local path = "%(path)s"
local headers = {["Content-Type"] = "application/json"%(auth)s}
local requests = {}
local i = 0

init = function(args)
  for k, b in ipairs(bodies) do
    requests[k] = wrk.format("POST", path, headers, b)
  end
end

request = function()
  i = i %% #requests + 1
  return requests[i]
end

done = function(summary, latency, requests)
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"mean_us":%%.1f}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def write_lua(path: Path, url_path: str, bodies: list[bytes], key: str | None) -> None:
    rows = ",\n".join(f"  [==[{b.decode()}]==]" for b in bodies)
    auth = f', ["Authorization"] = "Bearer {key}"' if key else ""
    path.write_text(LUA_TEMPLATE % {"bodies": rows, "path": url_path, "auth": auth})


def wrk(
    url: str, lua: Path, connections: int, seconds: float, core: int | None, log: Path
) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]
    cmd = pinned(cmd, core)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    _RUNNING.append(proc)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    finally:
        stop(proc, grace=2)
    text = out.decode(errors="replace")
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n{text}\n")
    for line in text.splitlines():
        if line.startswith("BENCHJSON "):
            stats: dict[str, Any] = json.loads(line[len("BENCHJSON ") :])
            seconds_run = stats["duration_us"] / 1e6
            errors = sum(stats[k] for k in ("connect", "read", "write", "timeout"))
            return {
                "rps": stats["requests"] / seconds_run if seconds_run else 0.0,
                "p50_ms": stats["p50_us"] / 1000,
                "p90_ms": stats["p90_us"] / 1000,
                "p99_ms": stats["p99_us"] / 1000,
                "max_ms": stats["max_us"] / 1000,
                "mean_ms": stats["mean_us"] / 1000,
                "requests": stats["requests"],
                "non_2xx": stats["status"],
                "socket_errors": errors,
                "seconds": seconds_run,
            }
    raise RuntimeError(f"could not read wrk's output:\n{text}")


# --------------------------------------------------------------------------- data and models


@dataclass
class Prepared:
    home: Path
    models_dir: Path
    bodies: list[bytes]
    expected: dict[str, float]  # P(class 1) of bodies[0], per model, from the original
    predictor_key: str
    viewer_key: str
    info: dict[str, Any] = field(default_factory=dict)


def prepare(workdir: Path) -> Prepared:
    """Train both models and set up a modelyard home serving them (plus compiled twins)."""
    import lightgbm as lgb
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from modelyard.domain.signature import example_row, infer_signature
    from modelyard.registry.compile import CompileService
    from modelyard.security.keys import KeyService
    from modelyard.settings import Settings
    from modelyard.workspace import Workspace

    started = time.perf_counter()
    x, y = make_classification(
        n_samples=N_ROWS,
        n_features=N_FEATURES,
        n_informative=12,
        n_redundant=4,
        class_sep=0.8,
        flip_y=0.02,
        random_state=SEED,
    )
    table = pd.DataFrame(x, columns=FEATURES)
    table[TARGET] = y.astype("int64")
    train, holdout = table.iloc[: N_ROWS * 4 // 5], table.iloc[N_ROWS * 4 // 5 :]
    x_train, y_train = train[FEATURES], train[TARGET]
    x_hold, y_hold = holdout[FEATURES], holdout[TARGET]
    fitted = {
        "lr": LogisticRegression(max_iter=1000).fit(x_train, y_train),
        "lgbm": lgb.LGBMClassifier(n_estimators=100, random_state=SEED, n_jobs=1, verbose=-1).fit(
            x_train, y_train
        ),
    }
    auc = {
        name: float(roc_auc_score(y_hold, model.predict_proba(x_hold)[:, 1]))
        for name, model in fitted.items()
    }
    models_dir = workdir / "bare-models"
    models_dir.mkdir()
    for name, model in fitted.items():
        with (models_dir / f"{name}.pkl").open("wb") as fh:
            pickle.dump(model, fh)
    (models_dir / "features.json").write_text(json.dumps(FEATURES))

    rows = x_hold.iloc[:BODY_ROWS]
    bodies = [
        json.dumps({"inputs": [{c: float(v) for c, v in row.items()}]}).encode()
        for _, row in rows.iterrows()
    ]
    expected = {
        name: float(model.predict_proba(rows.iloc[:1])[0, 1]) for name, model in fitted.items()
    }
    expected["lgbm-sk"] = expected["lgbm"]

    home = workdir / "home"
    settings = Settings(home=home)
    compile_reports: dict[str, Any] = {}
    with Workspace(settings) as ws:
        dataset = ws.add_dataset(table, "bench-table")
        signature = infer_signature(x_train, y_train)
        for name, (fit, flavor) in {
            "lr": ("lr", "sklearn"),
            "lgbm": ("lgbm", "lightgbm"),
            "lgbm-sk": ("lgbm", "sklearn"),
        }.items():
            ws.registry.register(
                fitted[fit],
                name,
                signature=signature,
                flavor=flavor,
                metrics={"auc": auc[fit]},
                dataset=(dataset.dataset, dataset.version),
                example=example_row(signature, x_train),
                # LightGBM's estimator is not a stock scikit-learn type for skops.
                trusted=name == "lgbm-sk",
                actor=ws.actor,
            )
            ws.deploy(name, f"{name}:1")
            if name in COMPILED:
                compile_reports[name] = CompileService(ws.store, ws.registry).compile(
                    f"{name}:1", actor=ws.actor
                )[1]
        keys = KeyService(ws.store)
        _, predictor = keys.create(
            name="bench-predictor", role="predictor", endpoints=list(MODELS), actor=ws.actor
        )
        _, viewer = keys.create(name="bench-viewer", role="viewer", actor=ws.actor)
    return Prepared(
        home=home,
        models_dir=models_dir,
        bodies=bodies,
        expected=expected,
        predictor_key=predictor,
        viewer_key=viewer,
        info={
            "rows": N_ROWS,
            "features": N_FEATURES,
            "holdout_auc": auc,
            "compile_reports": compile_reports,
            "setup_seconds": time.perf_counter() - started,
        },
    )


# --------------------------------------------------------------------------- servers


@dataclass
class ServerSpec:
    key: str
    label: str
    kind: str  # "modelyard" | "bare"
    env: dict[str, str] = field(default_factory=dict)
    runtime: dict[str, str] = field(default_factory=dict)  # expected flavor per model


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


@contextlib.contextmanager
def running_server(
    spec: ServerSpec, prep: Prepared, core: int | None, logdir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = logdir / f"server-{spec.key}.log"
    env = base_env()
    if spec.kind == "modelyard":
        env.update(
            MODELYARD_HOME=str(prep.home),
            MODELYARD_LOG_LEVEL="warning",
            MODELYARD_RATE_LIMIT_PER_KEY=RATE_LIMIT,
            MODELYARD_RATE_LIMIT_PER_ENDPOINT=RATE_LIMIT,
            **spec.env,
        )
        env.update(EXTRA_ENV)
        cmd = [str(VENV_BIN / "modelyard"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        ready = f"{base}/readyz"
    else:
        cmd = [
            sys.executable,
            str(HERE / "bare_server.py"),
            "--port",
            str(port),
            "--models",
            str(prep.models_dir),
        ]
        ready = f"{base}/healthz"
    proc = start(pinned(cmd, core), env, log)
    try:
        wait_ready(proc, ready, log, timeout=120)
        settle = wait_settled(proc.pid)
        print(f"  ready; settled after {settle:.1f}s", flush=True)
        yield proc, base
    finally:
        stop(proc)


def check_server(spec: ServerSpec, base: str, prep: Prepared, model: str) -> None:
    """One request by hand: right status, right answer, right runtime behind it."""
    status, body = http(
        "POST",
        f"{base}/v1/endpoints/{model}/predict",
        body=prep.bodies[0],
        key=prep.predictor_key,
    )
    if status != 200:
        raise RuntimeError(f"{spec.label}/{model}: HTTP {status}: {body[:300]!r}")
    answer = json.loads(body)
    p1 = float(answer["probabilities"][0]["1"])
    if abs(p1 - prep.expected[model]) > 1e-3:
        raise RuntimeError(
            f"{spec.label}/{model}: P(1)={p1} but the fitted model says {prep.expected[model]}"
        )
    want = spec.runtime.get(model)
    if want:
        status, body = http("GET", f"{base}/v1/endpoints/{model}", key=prep.viewer_key)
        runtime = json.loads(body).get("runtime") if status == 200 else f"HTTP {status}"
        if runtime != want:
            raise RuntimeError(f"{spec.label}/{model}: serving runtime {runtime!r}, not {want!r}")


_LABEL = re.compile(r'(\w+)="([^"]*)"')


def scrape_metrics(base: str, key: str | None, endpoint: str) -> dict[str, float]:
    """Request counts by status and batch-size totals of one endpoint, from /metrics."""
    values: dict[str, float] = {}
    if not key:
        return values
    with contextlib.suppress(OSError):
        status, body = http("GET", f"{base}/metrics", key=key)
        if status != 200:
            return values
        for line in body.decode().splitlines():
            if line.startswith("#") or "{" not in line:
                continue
            name, _, rest = line.partition("{")
            labels_text, _, value = rest.rpartition("} ")
            labels = dict(_LABEL.findall(labels_text))
            if labels.get("endpoint") != endpoint:
                continue
            if name == "modelyard_requests_total":
                what = f"status_{labels.get('status')}"
            elif name in ("modelyard_batch_rows_sum", "modelyard_batch_rows_count"):
                what = name.removeprefix("modelyard_")
            else:
                continue
            with contextlib.suppress(ValueError):
                values[what] = values.get(what, 0.0) + float(value)
    return values


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    delta = {k: v - before.get(k, 0.0) for k, v in after.items()}
    count = delta.pop("batch_rows_count", 0.0)
    rows = delta.pop("batch_rows_sum", 0.0)
    if count:
        delta["mean_batch_rows"] = rows / count
        delta["model_calls"] = count
    return {k: v for k, v in delta.items() if v}


# --------------------------------------------------------------------------- plan


@dataclass
class Measurement:
    variant: str
    server: str
    model: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    p90_ms: float = 0.0
    max_ms: float = 0.0
    requests: int = 0
    non_2xx: int = 0
    socket_errors: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    source: str = ""  # modelyard source digest when the measurement ended
    repeats: list[dict[str, float]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and self.requests > 0


ORIGINAL = {"lr": "sklearn", "lgbm": "lightgbm", "lgbm-sk": "sklearn"}
COMPILED = {"lr": "onnx", "lgbm": "onnx"}
SERVERS = [
    ServerSpec("bare", "bare ASGI floor", "bare"),
    ServerSpec(
        "my-original",
        "modelyard",
        "modelyard",
        {"MODELYARD_USE_COMPILED": "false"},
        ORIGINAL,
    ),
    ServerSpec(
        "my-unbatched",
        "modelyard, batching off",
        "modelyard",
        {"MODELYARD_USE_COMPILED": "false", "MODELYARD_BATCH_MAX_ROWS": "1"},
        ORIGINAL,
    ),
    ServerSpec(
        "my-nolog",
        "modelyard, prediction log off",
        "modelyard",
        {"MODELYARD_USE_COMPILED": "false", "MODELYARD_PREDICTION_LOG": "false"},
        ORIGINAL,
    ),
    ServerSpec("my-compiled", "modelyard, compiled", "modelyard", {}, COMPILED),
]
# (server, model, connections)
PLAN: list[tuple[str, str, int]] = [
    ("bare", "lr", 32),
    ("bare", "lr", 256),
    ("bare", "lgbm", 32),
    ("bare", "lgbm", 256),
    ("my-original", "lr", 32),
    ("my-original", "lr", 256),
    ("my-original", "lgbm", 32),
    ("my-original", "lgbm", 256),
    ("my-original", "lgbm-sk", 256),
    ("my-unbatched", "lgbm", 256),
    ("my-unbatched", "lgbm-sk", 256),
    ("my-nolog", "lr", 32),
    ("my-compiled", "lr", 32),
    ("my-compiled", "lr", 256),
    ("my-compiled", "lgbm", 32),
    ("my-compiled", "lgbm", 256),
]
VARIANT_NAMES = {
    "bare": "bare floor",
    "my-original": "modelyard",
    "my-unbatched": "modelyard, batching off",
    "my-nolog": "modelyard, log off",
    "my-compiled": "modelyard compiled",
}


def measure(
    spec: ServerSpec,
    proc: subprocess.Popen[bytes],
    base: str,
    prep: Prepared,
    model: str,
    connections: int,
    args: argparse.Namespace,
    workdir: Path,
    *,
    url_path: str | None = None,
    bodies: list[bytes] | None = None,
    key: str | None = None,
    variant: str | None = None,
) -> Measurement:
    """wrk against one server: warm up, then measure ``args.repeat`` times (median).

    Before each measurement the machine must be quiet (other processes using < 10% of
    a core, waiting up to ``--quiet-wait`` s); a measurement during which other
    processes used more than ``--noise-limit`` of a core on the benchmark cores is
    repeated (within the ``--retries`` budget) and the quietest attempt is kept.
    """
    url_path = url_path or f"/v1/endpoints/{model}/predict"
    if key is None and spec.kind == "modelyard":
        key = prep.predictor_key
    lua = workdir / f"{spec.key}-{model}-{connections}.lua"
    write_lua(lua, url_path, bodies or prep.bodies, key)
    log = workdir / "wrk.log"
    url = f"{base}{url_path}"
    runs: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        attempts: list[dict[str, Any]] = []
        while True:
            waited = time.monotonic()
            quiet = wait_quiet(proc.pid, min(args.quiet_wait, QUIET["left"]))
            QUIET["left"] = max(0.0, QUIET["left"] - (time.monotonic() - waited - 0.5))
            if args.warmup > 0:
                wrk(url, lua, connections, args.warmup, args.client_core, log)
            viewer = prep.viewer_key if spec.kind == "modelyard" else None
            before = scrape_metrics(base, viewer, model)
            with CpuWindow(args.server_core, args.client_core, proc.pid) as window:
                stats = wrk(url, lua, connections, args.duration, args.client_core, log)
                stats["cpu"] = window.read()
            stats["metrics"] = metrics_delta(before, scrape_metrics(base, viewer, model))
            stats["cpu"]["foreign_before"] = quiet
            attempts.append(stats)
            noisy = noise_of(stats["cpu"]) > args.noise_limit
            if not noisy or RETRIES["left"] <= 0 or len(attempts) > 2:
                break
            RETRIES["left"] -= 1
            print(
                f"    noisy (other processes took {stats['cpu']['server_core_foreign']:.0%} of "
                f"the server's core and {stats['cpu']['client_core_foreign']:.0%} of wrk's; "
                f"{stats['cpu']['steal']:.0%} steal): measuring again",
                flush=True,
            )
        best = min(attempts, key=lambda r: noise_of(r["cpu"]))
        best["attempts"] = len(attempts)
        runs.append(best)
    if proc.poll() is not None:
        raise RuntimeError(f"{spec.label} died during the run")
    runs.sort(key=lambda r: r["rps"])
    median = runs[len(runs) // 2]
    result = Measurement(
        variant=variant or VARIANT_NAMES[spec.key],
        server=spec.key,
        model=model,
        connections=connections,
        rps=median["rps"],
        p50_ms=median["p50_ms"],
        p99_ms=median["p99_ms"],
        p90_ms=median["p90_ms"],
        max_ms=median["max_ms"],
        requests=sum(r["requests"] for r in runs),
        non_2xx=sum(r["non_2xx"] for r in runs),
        socket_errors=sum(r["socket_errors"] for r in runs),
        seconds=median["seconds"],
        cpu=median["cpu"] | {"attempts": median["attempts"]},
        metrics=median["metrics"],
        repeats=[{k: v for k, v in r.items() if k not in ("cpu", "metrics")} for r in runs]
        if args.repeat > 1
        else [],
    )
    result.source = source_digest()
    return result


RETRIES = {"left": 0}
QUIET = {"left": 60.0}  # seconds of waiting for a quiet machine, in total
NOISE = {"limit": 0.10}


def noisy(m: Measurement) -> bool:
    """Other processes took more than the noise limit of a core during the measurement."""
    return noise_of(m.cpu) > NOISE["limit"]


# --------------------------------------------------------------------------- report


def report_line(m: Measurement) -> None:
    print(
        f"  {m.variant:<24} {m.model:<7} @{m.connections:<3}  {m.rps:8.0f} req/s  "
        f"p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms  (server {m.cpu.get('server_cpu', 0):.0%}"
        f" of its core; others took {m.cpu.get('server_core_foreign', 0):.0%} of it and "
        f"{m.cpu.get('client_core_foreign', 0):.0%} of wrk's)"
        + ("" if m.valid else f"  INVALID: {m.non_2xx} non-2xx, {m.socket_errors} errors"),
        flush=True,
    )


def find(results: list[Measurement], server: str, model: str, conns: int) -> Measurement | None:
    for m in results:
        if m.server == server and m.model == model and m.connections == conns:
            return m
    return None


def floor_of(results: list[Measurement], m: Measurement) -> Measurement | None:
    return find(results, "bare", FLOOR_MODEL.get(m.model, m.model), m.connections)


def print_table(results: list[Measurement], others: list[Measurement]) -> str:
    """The results table; ratios are req/s (p99 for 'p99 x fl') over the same model's
    floor at the same connection count, and req/s over modelyard (not compiled)."""
    header = (
        f"{'variant':<26} {'model':<7} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'x floor':>8} {'p99 x fl':>8} {'x my':>6} {'batch':>5} {'noise':>6}"
    )
    lines = [header, "-" * len(header)]
    for m in [*results, *others]:
        floor = floor_of(results, m)
        mine = find(results, "my-original", m.model, m.connections)
        ratio = f"{m.rps / floor.rps:.2f}" if floor and floor.rps else "-"
        p99r = f"{m.p99_ms / floor.p99_ms:.2f}" if floor and floor.p99_ms else "-"
        vs_my = f"{m.rps / mine.rps:.2f}" if mine and mine.rps else "-"
        noise = noise_of(m.cpu)
        mean_batch = m.metrics.get("mean_batch_rows")
        batch = f"{mean_batch:.1f}" if mean_batch else "-"
        flag = "" if m.valid else f"  INVALID: {m.non_2xx} non-2xx, {m.socket_errors} errors"
        flag += "  (noisy)" if noisy(m) else ""
        lines.append(
            f"{m.variant:<26} {m.model:<7} {m.connections:>5} {m.rps:>8.0f} {m.p50_ms:>8.2f} "
            f"{m.p99_ms:>8.2f} {ratio:>8} {p99r:>8} {vs_my:>6} {batch:>5} {noise:>6.0%}{flag}"
        )
    text = "\n".join(lines)
    print(text)
    return text


@dataclass
class Target:
    name: str
    measured: str
    threshold: str
    passed: bool | None  # None: could not be measured


def check_targets(results: list[Measurement]) -> list[Target]:
    targets: list[Target] = []

    def ratio_target(
        name: str,
        a: Measurement | None,
        b: Measurement | None,
        need: float,
        field_: str = "rps",
        at_most: bool = False,
    ) -> None:
        if a is None or b is None:
            targets.append(Target(name, "not measured", "", None))
            return
        va, vb = getattr(a, field_), getattr(b, field_)
        value = va / vb if vb else float("inf")
        valid = a.valid and b.valid
        passed = (value <= need if at_most else value >= need) and valid
        sign = "<=" if at_most else ">="
        note = "" if valid else " (invalid run: errors)"
        if noisy(a) or noisy(b):
            note += " (noisy: other processes were busy; re-run to confirm)"
        targets.append(Target(name, f"{value:.2f}x{note}", f"{sign} {need:.2f}x", passed))

    bare_lr = find(results, "bare", "lr", 32)
    orig_lr = find(results, "my-original", "lr", 32)
    comp_lr = find(results, "my-compiled", "lr", 32)
    ratio_target("LR @32: modelyard req/s vs floor (not compiled)", orig_lr, bare_lr, 0.75)
    ratio_target("LR @32: modelyard compiled req/s vs floor", comp_lr, bare_lr, 1.00)
    ratio_target(
        "LR @32: modelyard p99 vs floor p99 (not compiled)",
        orig_lr,
        bare_lr,
        1.5,
        "p99_ms",
        at_most=True,
    )
    ratio_target(
        "LR @32: modelyard compiled p99 vs floor p99", comp_lr, bare_lr, 1.5, "p99_ms", at_most=True
    )
    ratio_target(
        "LightGBM @32: modelyard compiled req/s vs sklearn floor",
        find(results, "my-compiled", "lgbm", 32),
        find(results, "bare", "lgbm", 32),
        2.0,
    )
    ratio_target(
        "LightGBM via scikit-learn API @256 (not compiled): batched vs unbatched req/s",
        find(results, "my-original", "lgbm-sk", 256),
        find(results, "my-unbatched", "lgbm-sk", 256),
        2.0,
    )
    ratio_target(
        "LightGBM booster flavor @256 (not compiled): batched vs unbatched req/s "
        "(a cheap model: batching must not cost)",
        find(results, "my-original", "lgbm", 256),
        find(results, "my-unbatched", "lgbm", 256),
        0.95,
    )
    ratio_target(
        "LR @32 (not compiled): prediction log on vs off req/s (cost <= 5%)",
        orig_lr,
        find(results, "my-nolog", "lr", 32),
        0.95,
    )
    return targets


def print_targets(targets: list[Target]) -> str:
    lines = []
    for t in targets:
        verdict = "SKIP" if t.passed is None else ("PASS" if t.passed else "FAIL")
        lines.append(f"{verdict}  {t.name}: {t.measured} (target {t.threshold})")
    text = "\n".join(lines)
    print(text)
    return text


def source_digest() -> str:
    """sha256 over modelyard's source files that the serving process runs (not the
    control-plane API, CLI, training or data code): which state of the tree was measured."""
    import hashlib

    import modelyard

    root = Path(modelyard.__file__).resolve().parent
    digest = hashlib.sha256()
    skip = {"api", "cli", "training", "data", "spec"}
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in skip:
            continue
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    packages: dict[str, str | None] = {}
    for name in (
        "modelyard",
        "uvicorn",
        "starlette",
        "orjson",
        "numpy",
        "pandas",
        "scikit-learn",
        "lightgbm",
        "onnxruntime",
        "skl2onnx",
        "onnxmltools",
        "prometheus_client",
        "limits",
        "uvloop",
        "httptools",
    ):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    wrk_out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    wrk_version = wrk_out.splitlines()[0] if wrk_out else "?"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
        "wrk": wrk_version.strip(),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        "modelyard_source_sha256": source_digest(),
    }


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="modelyard serving benchmark (issue 7)")
    parser.add_argument("--quick", action="store_true", help="3 s per measurement, 1 s warm-up")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per cell (median)")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="CPU priority of servers and wrk (negative needs root; other tenants of the "
        "machine then disturb the measurement less); 0 to leave it",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="max seconds to wait for other processes to go quiet before each measurement",
    )
    parser.add_argument(
        "--noise-limit",
        type=float,
        default=0.10,
        help="re-measure when other processes used more than this share of a core",
    )
    parser.add_argument(
        "--retries", type=int, default=4, help="noisy re-measurements allowed in total"
    )
    parser.add_argument(
        "--others", action="store_true", help="also mlflow models serve and BentoML (side venvs)"
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated server keys to run (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODELYARD_X=VALUE",
        help="extra setting for every modelyard server (experiments; repeatable)",
    )
    args = parser.parse_args()
    RETRIES["left"] = args.retries
    PRIORITY["nice"] = args.nice if can_nice(args.nice) else 0
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("MODELYARD_"):
            parser.error(f"--set takes MODELYARD_NAME=VALUE, not {item!r}")
        EXTRA_ENV[name] = value
    NOISE["limit"] = args.noise_limit
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    if args.no_pin:
        args.server_core = args.client_core = None
    return args


def check_tools(args: argparse.Namespace) -> bool:
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed; this benchmark needs it as the load generator.\n"
            "Install it with:  apt-get update && apt-get install -y wrk",
            file=sys.stderr,
        )
        return False
    if args.server_core is not None:
        if shutil.which("taskset") is None:
            print("taskset is missing (util-linux); run with --no-pin", file=sys.stderr)
            return False
        cores = os.sched_getaffinity(0)
        if args.server_core not in cores or args.client_core not in cores:
            print(
                f"cores {args.server_core}/{args.client_core} are not both available "
                f"(have {sorted(cores)}); pass --server-core/--client-core or --no-pin",
                file=sys.stderr,
            )
            return False
    return True


def main() -> int:
    args = parse_args()
    if not check_tools(args):
        return 2
    signal.signal(signal.SIGTERM, _on_sigterm)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="modelyard-bench-serving-"))
    results: list[Measurement] = []
    others: list[Measurement] = []
    others_notes: dict[str, str] = {}
    info = machine_info()
    print(
        f"machine: {info['nproc']} cores, {info['cpu_model']}, Python {info['python']}; "
        f"server on core {args.server_core}, wrk on core {args.client_core}, "
        f"nice {PRIORITY['nice']}; "
        f"{args.duration:g}s per measurement after {args.warmup:g}s warm-up"
    )
    info["nice"] = PRIORITY["nice"]
    only = set(args.only.split(",")) if args.only else None
    try:
        print("preparing data, models and a modelyard home ...", flush=True)
        prep = prepare(workdir)
        print(
            f"  done in {prep.info['setup_seconds']:.1f}s; holdout AUC "
            + ", ".join(f"{k} {v:.3f}" for k, v in prep.info["holdout_auc"].items())
        )
        specs = {s.key: s for s in SERVERS}
        order = list(dict.fromkeys(server for server, _, _ in PLAN))
        for key in order:
            if only is not None and key not in only:
                continue
            spec = specs[key]
            cells = [(m, c) for s, m, c in PLAN if s == key]
            print(f"{spec.label}: starting ...", flush=True)
            with running_server(spec, prep, args.server_core, workdir) as (proc, base):
                for model in dict.fromkeys(m for m, _ in cells):
                    check_server(spec, base, prep, model)
                for model, conns in cells:
                    m = measure(spec, proc, base, prep, model, conns, args, workdir)
                    results.append(m)
                    report_line(m)
        if args.others:
            from others import run_others  # noqa: PLC0415 - optional part

            others, others_notes = run_others(prep, args, workdir, sys.modules[__name__])
    except KeyboardInterrupt:
        print("\ninterrupted: stopping servers", file=sys.stderr)
        stop_all()
        return 130
    finally:
        stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")

    print()
    table = print_table(results, others)
    print()
    targets = check_targets(results)
    verdicts = print_targets(targets)
    for name, note in others_notes.items():
        print(f"{name}: {note}")
    elapsed = time.monotonic() - started
    print(f"\ntotal {elapsed:.0f}s")
    digests = {info["modelyard_source_sha256"], *(m.source for m in results if m.source)}
    if len(digests) > 1:
        print(
            "WARNING: modelyard's source changed while the benchmark ran "
            f"({len(digests)} versions seen); rows are not comparable: run it again"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = {
        "when": stamp,
        "args": {k: v for k, v in vars(args).items()},
        "machine": {**info, "loadavg_end": Path("/proc/loadavg").read_text().split()[:3]},
        "setup": prep.info,
        "rate_limits": RATE_LIMIT,
        "results": [asdict(m) | {"valid": m.valid} for m in results],
        "others": [asdict(m) | {"valid": m.valid} for m in others],
        "others_notes": others_notes,
        "targets": [asdict(t) for t in targets],
        "table": table,
        "verdicts": verdicts,
        "seconds": elapsed,
    }
    name = f"results-{'quick-' if args.quick else ''}{stamp}.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2, default=str))
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {RESULTS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
