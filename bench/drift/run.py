"""Drift benchmark: modelyard's drift report on 1M rows, optionally against Evidently.

    .venv/bin/python bench/drift/run.py                 # ours only
    .venv/bin/python bench/drift/run.py --evidently     # plus Evidently in a side venv

Generates a 100k-row reference and a 1M-row window (20 numeric + 5 categorical
columns; a few of them drifted), pins the process to one core, and times (best of
``--repeat``): building the reference profile, the per-column computation, the
multivariate domain classifier, and the whole report. With ``--evidently`` it creates
``bench/drift/.venv-evidently`` (``python -m venv`` + ``pip install evidently``), runs
Evidently's ``DataDriftPreset`` on the same data in a subprocess -- once with its
default methods (normalised Wasserstein / Jensen-Shannon at this size, the same
measures we compute) and once with KS / chi-square (to compare p-values) -- and prints
value differences and time ratios. Results go to ``bench/drift/results/``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from modelyard.domain.drift import (  # noqa: E402
    DriftConfig,
    DriftReference,
    domain_classifier_auc,
)
from modelyard.domain.drift.reference import subsample  # noqa: E402
from modelyard.monitoring.drift_report import drift_report  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SIDE_VENV = HERE / ".venv-evidently"
CARDINALITIES = (3, 5, 10, 20, 50)

EVIDENTLY_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

data = np.load(sys.argv[1], allow_pickle=False)
repeat = int(sys.argv[2])
numeric = [k[4:] for k in data.files if k.startswith("ref_") and data[k].dtype.kind == "f"]
categorical = [k[4:] for k in data.files if k.startswith("ref_") and data[k].dtype.kind == "U"]
def frame(prefix):
    cols = {c: data[prefix + c] for c in numeric}
    cols.update({c: data[prefix + c].astype(object) for c in categorical})
    return pd.DataFrame(cols)
ref, cur = frame("ref_"), frame("cur_")
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
out = {"version": evidently.__version__, "runs": {}}
for name, preset in (("default", DataDriftPreset()),
                     ("ks_chi2", DataDriftPreset(num_method="ks", cat_method="chisquare"))):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        snapshot = Report([preset]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
        best = min(best, time.perf_counter() - start)
    values, share = {}, None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if "column" in config:
            values[config["column"]] = {"method": config.get("method"), "value": metric["value"]}
        elif isinstance(metric["value"], dict):
            share = metric["value"].get("share")
    out["runs"][name] = {"seconds": best, "values": values, "drift_share": share}
print(json.dumps(out))
"""


def make_data(ref_rows: int, cur_rows: int, n_numeric: int, seed: int) -> tuple[pd.DataFrame, ...]:
    """Reference and window; numeric x0, x1 shift 0.5 sd, x2 widens 1.5x; categorical
    c0 changes its shares and c4 gains an unseen category."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 10, n_numeric)
    scales = rng.uniform(0.5, 5.0, n_numeric)

    def build(n: int, drift: bool) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        for i in range(n_numeric):
            mean, scale = means[i], scales[i]
            if drift and i in (0, 1):
                mean += 0.5 * scale
            if drift and i == 2:
                scale *= 1.5
            columns[f"x{i}"] = rng.normal(mean, scale, n)
        for j, k in enumerate(CARDINALITIES):
            labels = np.array([f"c{j}_{v}" for v in range(k)] + [f"c{j}_new"])
            p = 1.0 / np.arange(1, k + 1)
            p = np.append(p / p.sum(), 0.0)
            if drift and j == 0:
                p = np.append(p[:k][::-1], 0.0)
            if drift and j == 4:
                p = np.append(p[:k] * 0.98, 0.02)
            columns[f"c{j}"] = pd.array(labels[rng.choice(k + 1, size=n, p=p)], dtype="str")
        return pd.DataFrame(columns)

    return build(ref_rows, False), build(cur_rows, True)


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Minimum wall time over ``repeat`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_ours(ref: pd.DataFrame, cur: pd.DataFrame, repeat: int) -> dict[str, Any]:
    config = DriftConfig()
    columns_only = DriftConfig(multivariate=False)
    t_build, profile = best_of(repeat, lambda: DriftReference.from_frame(ref))
    t_columns, _ = best_of(repeat, lambda: drift_report(profile, cur, config=columns_only))

    def multivariate() -> Any:
        rows = subsample(len(cur), config.multivariate_max_rows, config.random_state)
        return domain_classifier_auc(profile.sample, profile.encode(cur.iloc[rows]), config)

    t_multi, _ = best_of(repeat, multivariate)
    t_full, report = best_of(repeat, lambda: drift_report(profile, cur, config=config))
    t_frame, _ = best_of(1, lambda: drift_report(ref, cur, config=config))
    return {
        "seconds": {
            "reference_profile": t_build,
            "columns": t_columns,
            "multivariate": t_multi,
            "report": t_full,
            "report_from_dataframe": t_frame,
        },
        "report": report.to_dict(),
    }


def ensure_side_venv() -> Path:
    python = SIDE_VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run([python, "-c", "import evidently"], capture_output=True)
        if probe.returncode == 0:
            return python
    print(f"creating {SIDE_VENV} and installing evidently ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(SIDE_VENV)], check=True)
    # Evidently 0.7 imports a pandas internal that pandas 3 removed.
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "evidently", "pandas<3"], check=True, timeout=900
    )
    return python


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, repeat: int) -> dict[str, Any]:
    python = ensure_side_venv()
    RESULTS.mkdir(parents=True, exist_ok=True)
    data_path = RESULTS / "data.npz"
    arrays: dict[str, np.ndarray] = {}
    for prefix, frame in (("ref_", ref), ("cur_", cur)):
        for name in frame.columns:
            series = frame[name]
            if pd.api.types.is_float_dtype(series.dtype):
                arrays[prefix + name] = series.to_numpy()
            else:
                arrays[prefix + name] = series.to_numpy(dtype="U16")
    np.savez(data_path, **arrays)
    script = RESULTS / "evidently_side.py"
    script.write_text(EVIDENTLY_SCRIPT)
    done = subprocess.run(
        [python, "-W", "ignore", str(script), str(data_path), str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def print_ours(ours: dict[str, Any]) -> None:
    seconds = ours["seconds"]
    print("\nmodelyard drift (one core, best of runs)")
    for key, label in (
        ("reference_profile", "build reference profile (once)"),
        ("columns", "per-column tests + quality"),
        ("multivariate", "multivariate domain classifier"),
        ("report", "full report (prebuilt reference)"),
        ("report_from_dataframe", "full report from a DataFrame"),
    ):
        print(f"  {label:<36} {seconds[key]:8.3f} s")
    report = ours["report"]
    auc = report["multivariate_auc"]
    print(f"  status={report['status']} drivers={report['drivers']} auc={auc:.3f}")
    for reason in report["reasons"]:
        print(f"    - {reason}")


def print_comparison(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    columns = {entry["column"]: entry for entry in ours["report"]["columns"]}
    print(f"\nEvidently {theirs['version']} vs modelyard")
    header = f"{'column':<7}{'evidently':<31}{'value':>11}{'ours':>11}{'|diff|':>10}"
    for run, ours_key in (("default", None), ("ks_chi2", "p_value")):
        print(f"\n  [{run}] evidently {theirs['runs'][run]['seconds']:.2f} s")
        print("  " + header)
        for name, found in theirs["runs"][run]["values"].items():
            entry = columns[name]
            method = str(found["method"])
            if ours_key is None:
                mine = (
                    entry["js_distance"]
                    if entry["kind"] == "categorical"
                    else entry["wasserstein_normalized"]
                )
            else:
                mine = entry[ours_key]
            diff = abs(float(found["value"]) - float(mine))
            note = " (GoF vs homogeneity)" if method == "chisquare" else ""
            print(
                f"  {name:<7}{method[:30]:<31}{found['value']:>11.4g}{mine:>11.4g}"
                f"{diff:>10.2g}{note}"
            )
    ratio_default = theirs["runs"]["default"]["seconds"] / ours["seconds"]["report"]
    ratio_columns = theirs["runs"]["default"]["seconds"] / ours["seconds"]["columns"]
    print(
        f"\n  time ratio evidently(default) / ours(full report) = {ratio_default:.1f}x, "
        f"/ ours(columns only) = {ratio_columns:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref-rows", type=int, default=100_000)
    parser.add_argument("--cur-rows", type=int, default=1_000_000)
    parser.add_argument("--numeric", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evidently", action="store_true", help="also run Evidently")
    parser.add_argument("--evidently-repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    ref, cur = make_data(args.ref_rows, args.cur_rows, args.numeric, args.seed)
    print(
        f"reference {len(ref):,} rows, window {len(cur):,} rows, "
        f"{args.numeric} numeric + {len(CARDINALITIES)} categorical columns"
    )
    ours = run_ours(ref, cur, args.repeat)
    print_ours(ours)
    results: dict[str, Any] = {"ours": ours}
    if args.evidently:
        theirs = run_evidently(ref, cur, args.evidently_repeat)
        print_comparison(ours, theirs)
        results["evidently"] = theirs
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
