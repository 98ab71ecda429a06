"""``modelyard init``, ``train``, ``runs …``, ``models card`` and ``datasets check``.

Search trials are child runs (``params.parent_run_id``): ``runs list`` shows them
indented under their training run, ``runs show RUN`` lists a run's trials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli.context import console, err_console, print_json, workspace
from modelyard.cli.dataset_report import check_dict, checks_for, print_checked
from modelyard.domain.entities import Run
from modelyard.errors import InvalidInputError
from modelyard.spec import SPEC_FILENAME, spec_template

runs_app = typer.Typer(help="Training runs: list, show, compare, reproduce.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def init(
    output: Annotated[Path, typer.Option(help="Where to write the spec.")] = Path(SPEC_FILENAME),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented modelyard.yaml (for the quickstart dataset) to edit."""
    if output.exists() and not force:
        err_console.print(f"[red]error:[/] {output} exists; use --force to overwrite")
        raise typer.Exit(2)
    output.write_text(spec_template(), encoding="utf-8")
    console.print(f"wrote {output}; edit it, then run `modelyard train`")


def train(
    dataset: Annotated[
        str | None, typer.Option(help="Dataset (quick mode: no spec, but its expectations).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column (quick mode).")] = None,
    model: Annotated[
        str, typer.Option(help="logistic_regression | random_forest | lightgbm (quick mode)")
    ] = "logistic_regression",
    name: Annotated[str | None, typer.Option(help="Model name (default: dataset name).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (quick mode).")] = 0,
    spec: Annotated[Path, typer.Option(help="Project spec file.")] = Path(SPEC_FILENAME),
    allow_failed_expectations: Annotated[
        bool,
        typer.Option(
            "--allow-failed-expectations",
            help="Train on a dataset version that fails the spec's expectations (recorded "
            "in the run's params).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Train from modelyard.yaml (no flags), or quickly with --dataset/--target/--model.

    A dataset version that fails the spec's expectations is refused (exit 2, nothing
    recorded) unless --allow-failed-expectations; quick mode checks them too when the
    spec (if present) is about that dataset.
    """
    from modelyard.training.spec_service import SpecTrainingService

    if dataset is not None or target is not None:
        if dataset is None or target is None:
            raise typer.BadParameter("quick mode needs both --dataset and --target")
        _quick_train(dataset, target, model, name, seed, as_json, spec, allow_failed_expectations)
        return
    if not spec.exists():
        err_console.print(
            f"[red]error:[/] no {spec}: run `modelyard init` to write one, or pass "
            "--dataset and --target"
        )
        raise typer.Exit(2)
    with workspace() as ws:
        service = SpecTrainingService(ws.store, ws.registry)
        with console.status(f"training candidates from {spec}…"):
            run, version, report = service.train(
                spec,
                name=name,
                actor=ws.actor,
                allow_failed_expectations=allow_failed_expectations,
            )
    if as_json:
        print_json({"run": run.__dict__, "model": version.ref, "report": report})
        return
    _warn_if_overridden(
        f"{report['dataset']['name']}:{report['dataset']['version']}", report.get("expectations")
    )
    _print_report(report)
    verdict = "[green]passed[/]" if report["gates_passed"] else "[red]FAILED[/]"
    console.print(f"run [bold]{run.id}[/]: gates {verdict}")
    console.print(f"registered [bold green]{version.ref}[/] (stage {version.stage})")
    if not report["gates_passed"]:
        console.print("it cannot be promoted to production without an admin override")


def _warn_if_overridden(ref: str, expectations: dict[str, Any] | None) -> None:
    """Say so when a run trained on data that fails its expectations (the override)."""
    from modelyard.data.summary import violations_summary

    if not (expectations or {}).get("overridden"):
        return
    assert expectations is not None
    failed = violations_summary(expectations["violations"], rows=False)
    console.print(
        f"[yellow]warning:[/] trained on {escape(ref)} although it fails its expectations "
        f"({escape(failed)}); --allow-failed-expectations is recorded in the run"
    )


def _quick_train(
    dataset: str,
    target: str,
    model: str,
    name: str | None,
    seed: int,
    as_json: bool,
    spec: Path,
    allow_failed_expectations: bool,
) -> None:
    with workspace() as ws:
        checks = checks_for(dataset, spec)  # the spec's expectations, if it is about dataset
        with console.status(f"training {model} on {dataset}…"):
            run, version = ws.train(
                dataset,
                target,
                model,
                name,
                seed,
                checks=checks,
                allow_failed_expectations=allow_failed_expectations,
            )
    if as_json:
        data = dict(version.__dict__)
        data["transitions"] = [t.__dict__ for t in version.transitions]
        print_json({"run": run.__dict__, "model": data})
        return
    _warn_if_overridden(f"{run.dataset}:{run.dataset_version}", run.params.get("expectations"))
    console.print(f"run [bold]{run.id}[/] finished in {run.duration_s:.2f}s")
    table = Table("metric", "value", title="holdout metrics")
    for key, value in version.metrics.items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    console.print(f"registered [bold green]{version.ref}[/] (stage {version.stage})")


def _print_report(report: dict[str, Any]) -> None:
    table = Table("metric", "value", "95% CI", "mean ± sd over seeds", title="holdout metrics")
    for name, est in report["metrics"].items():
        seeds = report.get("seed_summary", {}).get(name) or {}
        spread = (
            f"{seeds['mean']:.4f} ± {seeds['sd']:.4f}"
            if isinstance(seeds.get("mean"), float) and isinstance(seeds.get("sd"), float)
            else "-"
        )
        ci = (
            f"[{est['ci_low']:.4f}, {est['ci_high']:.4f}]"
            if est.get("ci_low") is not None and est.get("ci_high") is not None
            else "-"
        )
        value = est.get("value")
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else "-", ci, spread)
    console.print(table)
    gates = Table("gate", "result", "actual", title="gates")
    for gate in report["gate_results"]:
        actual = gate.get("actual")
        gates.add_row(
            str(gate["expression"]),
            "[green]pass[/]" if gate["passed"] else f"[red]fail[/] {gate.get('message', '')}",
            f"{actual:.4f}" if isinstance(actual, float) else str(actual),
        )
    console.print(gates)
    if report.get("search"):
        console.print(_search_table(report["search"]))


def _search_table(searches: list[dict[str, Any]]) -> Table:
    """One row per searched candidate (the report's or the run's ``search`` entries)."""
    table = Table(
        "candidate", "trials", "stopped by", "metric", "best CV", "best params",
        title="hyperparameter search (CV on the training rows)",
    )  # fmt: skip
    for s in searches:
        best = s.get("best_score")
        table.add_row(
            escape(str(s["candidate"])),
            f"{s.get('n_trials')}/{s.get('trials_budget')}",
            str(s.get("stopped_by")),
            f"{s.get('metric')} ({s.get('direction')})",
            f"{best:.4f}" if isinstance(best, float) else "-",
            escape(_compact(s.get("best_params"))),
        )
    return table


def _compact(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run_row(table: Table, r: Run, *, child: bool = False) -> None:
    from modelyard.training.service import trial_number

    keys = ", ".join(f"{k} {v:.3f}" for k, v in list(r.metrics.items())[:3])
    gates = r.params.get("gates_passed")
    kind = r.kind
    if child:
        kind = f"{r.kind} #{trial_number(r)}" + (" (best)" if r.params.get("best") else "")
    table.add_row(
        f"  └ {r.id[:12]}" if child else r.id[:12],
        escape(kind),
        f"{r.dataset}:{r.dataset_version}",
        str(r.seed),
        keys,
        "-" if gates is None else ("pass" if gates else "FAIL"),
        r.status,
        f"{r.started_at:%Y-%m-%d %H:%M}",
    )


@runs_app.command("list")
def runs_list(
    trials: Annotated[
        bool, typer.Option("--trials/--no-trials", help="Show search trials under their run.")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """List runs, newest first; search trials indented under their training run."""
    from modelyard.training.service import parent_of, sort_trials

    with workspace() as ws:
        runs = ws.training.list_runs()
    if as_json:
        print_json(
            [
                {**r.__dict__, "parent_run_id": parent_of(r)}
                for r in runs
                if trials or parent_of(r) is None
            ]
        )
        return
    ids = {r.id for r in runs}
    children: dict[str, list[Run]] = {}
    for r in runs:
        parent = parent_of(r)
        if parent is not None and parent in ids:
            children.setdefault(parent, []).append(r)
    table = Table("run", "kind", "dataset", "seed", "key metrics", "gates", "status", "started")
    for r in runs:
        parent = parent_of(r)
        if parent is not None and parent in ids:
            continue  # listed under its parent
        _run_row(table, r)
        kids = sort_trials(r, children.get(r.id, []))
        if trials:
            for kid in kids:
                _run_row(table, kid, child=True)
        elif kids:
            table.add_row(f"  └ {len(kids)} search trials", "", "", "", "", "", "", "")
    console.print(table)


@runs_app.command("show")
def runs_show(
    run: Annotated[str, typer.Argument(help="Run id (prefix works).")],
    as_json: JsonFlag = False,
) -> None:
    """One run: params, metrics, its search trials (or, for a trial, its parent run)."""
    from modelyard.training.service import parent_of, trial_number

    with workspace() as ws:
        found = ws.training.get_run(_find_run(ws, run))
        trials = ws.training.trials_of(found.id)
    parent = parent_of(found)
    if as_json:
        print_json(
            {
                "run": {**found.__dict__, "parent_run_id": parent},
                "trials": [{**t.__dict__, "parent_run_id": found.id} for t in trials],
            }
        )
        return
    duration = f"{found.duration_s:.2f}s" if found.duration_s is not None else "-"
    console.print(
        f"run [bold]{found.id}[/] {escape(found.kind)} ({found.status}) on "
        f"{found.dataset}:{found.dataset_version}, seed {found.seed}, "
        f"started {found.started_at:%Y-%m-%d %H:%M:%S}, took {duration}, "
        f"code {escape(found.code_version)}"
    )
    if parent is not None:
        console.print(
            f"search trial {trial_number(found)} of candidate "
            f"{escape(str(found.params.get('candidate')))} in run [bold]{parent}[/]"
        )
    metrics = Table("metric", "value", title="metrics")
    for key, value in found.metrics.items():
        metrics.add_row(escape(key), f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(metrics)
    params = Table("param", "value", title="params")
    for key, value in found.params.items():
        if key == "search":
            continue
        params.add_row(escape(key), escape(_compact(value)))
    console.print(params)
    if found.params.get("search"):
        console.print(_search_table(found.params["search"]))
    if trials:
        table = Table(
            "trial", "run", "candidate", "state", "CV score", "params", "duration",
            title=f"search trials ({len(trials)})",
        )  # fmt: skip
        for t in trials:
            score = next(iter(t.metrics.values()), None)
            table.add_row(
                f"{trial_number(t)}" + (" (best)" if t.params.get("best") else ""),
                t.id[:12],
                escape(str(t.params.get("candidate"))),
                str(t.params.get("state")),
                f"{score:.4f}" if isinstance(score, float) else "-",
                escape(_compact(t.params.get("search_params"))),
                f"{t.duration_s:.2f}s" if t.duration_s is not None else "-",
            )
        console.print(table)


def _find_run(ws: Any, prefix: str) -> str:
    matches = [r.id for r in ws.training.list_runs() if r.id.startswith(prefix)]
    if len(matches) != 1:
        raise InvalidInputError(
            f"run {prefix!r} matches {len(matches)} runs; give more characters", field="run"
        )
    return str(matches[0])


@runs_app.command("compare")
def runs_compare(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids (prefixes work).")],
    as_json: JsonFlag = False,
) -> None:
    """Metrics of several runs side by side."""
    with workspace() as ws:
        found = [ws.training.get_run(_find_run(ws, r)) for r in runs]
    names = sorted({k for r in found for k in r.metrics})
    if as_json:
        print_json({r.id: r.metrics for r in found})
        return
    table = Table("metric", *[r.id[:12] for r in found])
    for name in names:
        table.add_row(
            name, *[f"{r.metrics[name]:.4f}" if name in r.metrics else "-" for r in found]
        )
    console.print(table)


@runs_app.command("reproduce")
def runs_reproduce(
    run: Annotated[str, typer.Argument(help="Run id (prefix works).")],
    tolerance: Annotated[float, typer.Option(help="Largest allowed metric difference.")] = 1e-6,
    as_json: JsonFlag = False,
) -> None:
    """Retrain a run from its recorded spec and dataset version; compare metrics."""
    from modelyard.training.spec_service import SpecTrainingService

    with workspace() as ws:
        run_id = _find_run(ws, run)
        with console.status(f"re-running {run_id[:12]}…"):
            result = SpecTrainingService(ws.store, ws.registry).reproduce(
                run_id, tolerance=tolerance
            )
    if as_json:
        print_json(result)
    else:
        verdict = "[green]reproduced[/]" if result["matched"] else "[red]differs[/]"
        console.print(f"run {run_id[:12]}: {verdict} (tolerance {tolerance:g})")
        for metric, (a, b, diff) in result["diffs"].items():
            console.print(f"  {metric}: {a} → {b} (Δ {diff:.2e})")
    if not result["matched"]:
        raise typer.Exit(1)


def models_card(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION")],
    output: Annotated[Path, typer.Option(help="HTML file to write.")],
    intended_use: Annotated[str | None, typer.Option(help="Intended use text.")] = None,
) -> None:
    """Write a self-contained HTML model card (opens offline)."""
    from modelyard.reports.model_card import CardTrialRun, build_card, render_model_card
    from modelyard.training.service import trial_number
    from modelyard.training.spec_service import SpecTrainingService

    with workspace() as ws:
        version = ws.model(ref)
        report = SpecTrainingService(ws.store, ws.registry).report_for_version(version)
        if report is None:
            raise InvalidInputError(
                f"{version.ref} has no evaluation report: train it from a spec "
                "(`modelyard init && modelyard train`)",
                field="model",
            )
        trial_runs: list[CardTrialRun] = []
        if report.get("search") and version.run_id is not None:
            trial_runs = [
                {
                    "candidate": str(t.params.get("candidate")),
                    "trial": trial_number(t),
                    "run_id": t.id,
                }
                for t in ws.training.trials_of(version.run_id)
            ]
        card = build_card(
            report,
            model_name=version.model,
            model_version=version.version,
            dataset=report.get("dataset"),
            intended_use=intended_use,
            created_at=version.created_at.isoformat(),
            run_id=version.run_id,
            code_version=version.code_version,
            stage=version.stage,
            trial_runs=trial_runs,
        )
    page = render_model_card(card)
    try:
        output.write_text(page, encoding="utf-8")
    except OSError as exc:
        err_console.print(f"[red]error:[/] cannot write {escape(str(output))}: {exc.strerror}")
        raise typer.Exit(2) from None
    console.print(f"wrote {output}")


def datasets_check(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION")],
    spec: Annotated[Path, typer.Option(help="Spec with expectations.")] = Path(SPEC_FILENAME),
    as_json: JsonFlag = False,
) -> None:
    """Profile a dataset version, check the spec's expectations, show schema drift.

    Exits 1 when an expectation is violated (so CI can stop on bad data).
    """
    from modelyard.domain.refs import parse_dataset_ref

    with workspace() as ws:
        name, version = parse_dataset_ref(ref)
        checks = checks_for(name, spec)
        report = ws.datasets.check(name, version, checks=checks)
    if as_json:
        print_json(check_dict(report))
    else:
        print_checked(report)
    if not report.passed:
        raise typer.Exit(1)
