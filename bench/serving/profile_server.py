"""Where a modelyard server spends its CPU under load: py-spy on one variant.

    .venv/bin/python bench/serving/profile_server.py                       # LR, original, 32 conns
    .venv/bin/python bench/serving/profile_server.py --model lgbm --compiled
    .venv/bin/python bench/serving/profile_server.py --model lgbm --connections 256

Sets up the same models and home as ``run.py``, starts one ``modelyard serve`` (pinned
to the server core), drives it with wrk (pinned to the client core) and records it with
``py-spy record --gil`` (only the thread holding the GIL is sampled, so on one core the
samples are where the CPU goes). Prints the share of samples per stage of the request
(first matching rule in ``BUCKETS``), the top functions by self and inclusive samples,
and writes the raw collapsed stacks to ``results/``. py-spy comes from PATH or is
installed into ``bench/serving/.venv-pyspy`` on first use.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run as bench

HERE = Path(__file__).resolve().parent

# (bucket, substrings of a frame); the first bucket with a frame in the stack wins,
# scanning buckets in this order (so background work is split off first).
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("background: prediction log shipping (spool -> DB)", ("ship_pending", "shipper.py")),
    ("background: endpoint/key refresh", ("_sync (modelyard", "table.py")),
    ("background: drift / other app tasks", ("drift", "_every (modelyard")),
    ("rate limiting (limits)", ("limits/",)),
    ("auth (key check)", ("authenticate", "key_matches")),
    ("request validation (validate_records)", ("validate_records", "_native_parse")),
    (
        "model call incl. input/output conversion",
        ("predict_validated", "LoadedModel.predict", "_predict (modelyard"),
    ),
    ("batcher + thread-pool hand-off", ("batching.py", "run_in_threadpool", "to_thread", "anyio")),
    ("prediction log append (spool)", ("spool.py",)),
    ("Prometheus metrics", ("prometheus_client",)),
    ("response encoding", ("_native_encode", "ORJSONResponse", "orjson")),
    ("rest of the predict handler", ("dataplane.py", "guard.py", "operations.py")),
    ("HTTP/1.1 (uvicorn: httptools, or h11 without it)", ("h11", "httptools")),
    ("ASGI middleware (hygiene, Starlette)", ("hygiene.py", "starlette/")),
    ("event loop + sockets", ("asyncio/", "uvloop")),
]


def py_spy() -> str:
    found = shutil.which("py-spy")
    if found:
        return found
    venv = HERE / ".venv-pyspy"
    exe = venv / "bin" / "py-spy"
    if not exe.exists():
        print(f"installing py-spy into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return str(exe)


def analyse(raw: Path, top: int) -> str:
    buckets: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        for name, needles in BUCKETS:
            if any(n in f for f in frames for n in needles):
                buckets[name] += count
                break
        else:
            buckets["other"] += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    out = [f"{total} samples holding the GIL", "", "by stage:"]
    out += [f"  {c / total:6.1%}  {name}" for name, c in buckets.most_common()]
    out += ["", "top self:"]
    out += [f"  {c / total:6.1%}  {f}" for f, c in own.most_common(top)]
    out += ["", "top inclusive (modelyard, pandas, sklearn, lightgbm, onnxruntime, limits):"]
    wanted = ("modelyard/", "pandas/", "sklearn/", "lightgbm/", "onnx", "limits/", "sqlalchemy/")
    shown = [(f, c) for f, c in inclusive.most_common() if any(w in f for w in wanted)]
    out += [f"  {c / total:6.1%}  {f}" for f, c in shown[:top]]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description="py-spy profile of modelyard under wrk load")
    parser.add_argument("--model", choices=list(bench.MODELS), default="lr")
    parser.add_argument("--compiled", action="store_true")
    parser.add_argument("--no-log", action="store_true", help="MODELYARD_PREDICTION_LOG=false")
    parser.add_argument("--unbatched", action="store_true", help="MODELYARD_BATCH_MAX_ROWS=1")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get update && apt-get install -y wrk", file=sys.stderr)
        return 2
    spy = py_spy()
    bench.PRIORITY["nice"] = -10 if bench.can_nice(-10) else 0
    env = {"MODELYARD_USE_COMPILED": "true" if args.compiled else "false"}
    if args.no_log:
        env["MODELYARD_PREDICTION_LOG"] = "false"
    if args.unbatched:
        env["MODELYARD_BATCH_MAX_ROWS"] = "1"
    runtime = bench.COMPILED if args.compiled else bench.ORIGINAL
    spec = bench.ServerSpec("profile", "modelyard (profiled)", "modelyard", env, runtime)
    tag = (
        f"{args.model}-{'compiled' if args.compiled else 'original'}-c{args.connections}"
        + ("-nolog" if args.no_log else "")
        + ("-unbatched" if args.unbatched else "")
    )
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    raw = bench.RESULTS / f"profile-{tag}.txt"
    workdir = Path(tempfile.mkdtemp(prefix="modelyard-bench-profile-"))
    try:
        prep = bench.prepare(workdir)
        with bench.running_server(spec, prep, args.server_core, workdir) as (proc, base):
            bench.check_server(spec, base, prep, args.model)
            url_path = f"/v1/endpoints/{args.model}/predict"
            lua = workdir / "profile.lua"
            bench.write_lua(lua, url_path, prep.bodies, prep.predictor_key)
            warmup = 3.0
            load = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    str(args.client_core),
                    "wrk",
                    "-t1",
                    f"-c{args.connections}",
                    f"-d{round(args.seconds + warmup + 2)}s",
                    "--timeout",
                    "5s",
                    "--latency",
                    "-s",
                    str(lua),
                    f"{base}{url_path}",
                ],  # fmt: skip
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            bench._RUNNING.append(load)
            time.sleep(warmup)
            subprocess.run(
                [
                    spy,
                    "record",
                    "--gil",
                    "--nonblocking",
                    "-r",
                    str(args.rate),
                    "-d",
                    str(round(args.seconds)),
                    "-f",
                    "raw",
                    "-o",
                    str(raw),
                    "-p",
                    str(proc.pid),
                ],  # fmt: skip
                check=True,
                capture_output=True,
            )
            out, _ = load.communicate(timeout=args.seconds + 60)
            bench.stop(load)
        summary = [
            line.strip()
            for line in out.decode().splitlines()
            if line.strip().startswith(("Requests/sec", "50%", "99%", "Non-2xx"))
        ]
        text = f"modelyard {tag}: {'; '.join(summary)} (under py-spy)\n\n" + analyse(raw, args.top)
        print(text)
        (bench.RESULTS / f"profile-{tag}-summary.txt").write_text(text + "\n")
        print(f"\nraw stacks: {raw}")
    except KeyboardInterrupt:
        return 130
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
