"""``modelyard init``, ``train``, ``runs …``, ``models card`` and ``datasets check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from modelyard.cli.context import console, err_console, print_json, workspace
from modelyard.data.expectations import check_expectations
from modelyard.data.profile import profile_frame
from modelyard.data.schema_diff import category_sets, diff_schemas
from modelyard.errors import InvalidInputError
from modelyard.reports.model_card import build_card, render_model_card
from modelyard.spec import SPEC_FILENAME, load_spec, spec_template
from modelyard.training.spec_service import SpecTrainingService

runs_app = typer.Typer(help="Training runs: list, compare, reproduce.", no_args_is_help=True)
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
    dataset: Annotated[str | None, typer.Option(help="Dataset (quick mode, no spec).")] = None,
    target: Annotated[str | None, typer.Option(help="Target column (quick mode).")] = None,
    model: Annotated[
        str, typer.Option(help="logistic_regression | random_forest | lightgbm (quick mode)")
    ] = "logistic_regression",
    name: Annotated[str | None, typer.Option(help="Model name (default: dataset name).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (quick mode).")] = 0,
    spec: Annotated[Path, typer.Option(help="Project spec file.")] = Path(SPEC_FILENAME),
    as_json: JsonFlag = False,
) -> None:
    """Train from modelyard.yaml (no flags), or quickly with --dataset/--target/--model."""
    if dataset is not None or target is not None:
        if dataset is None or target is None:
            raise typer.BadParameter("quick mode needs both --dataset and --target")
        _quick_train(dataset, target, model, name, seed, as_json)
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
            run, version, report = service.train(spec, name=name, actor=ws.actor)
    if as_json:
        print_json({"run": run.__dict__, "model": version.ref, "report": report})
        return
    _print_report(report)
    verdict = "[green]passed[/]" if report["gates_passed"] else "[red]FAILED[/]"
    console.print(f"run [bold]{run.id}[/]: gates {verdict}")
    console.print(f"registered [bold green]{version.ref}[/] (stage {version.stage})")
    if not report["gates_passed"]:
        console.print("it cannot be promoted to production without an admin override")


def _quick_train(
    dataset: str, target: str, model: str, name: str | None, seed: int, as_json: bool
) -> None:
    with workspace() as ws:
        with console.status(f"training {model} on {dataset}…"):
            run, version = ws.train(dataset, target, model, name, seed)
    if as_json:
        data = dict(version.__dict__)
        data["transitions"] = [t.__dict__ for t in version.transitions]
        print_json({"run": run.__dict__, "model": data})
        return
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


@runs_app.command("list")
def runs_list(as_json: JsonFlag = False) -> None:
    """List runs, newest first."""
    with workspace() as ws:
        runs = ws.training.list_runs()
    if as_json:
        print_json([r.__dict__ for r in runs])
        return
    table = Table("run", "kind", "dataset", "seed", "key metrics", "gates", "status", "started")
    for r in runs:
        keys = ", ".join(f"{k} {v:.3f}" for k, v in list(r.metrics.items())[:3])
        gates = r.params.get("gates_passed")
        table.add_row(
            r.id[:12],
            r.kind,
            f"{r.dataset}:{r.dataset_version}",
            str(r.seed),
            keys,
            "-" if gates is None else ("pass" if gates else "FAIL"),
            r.status,
            f"{r.started_at:%Y-%m-%d %H:%M}",
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
    with workspace() as ws:
        version = ws.model(ref)
        report = SpecTrainingService(ws.store, ws.registry).report_for_version(version)
        if report is None:
            raise InvalidInputError(
                f"{version.ref} has no evaluation report: train it from a spec "
                "(`modelyard init && modelyard train`)",
                field="model",
            )
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
    name, sep, raw = ref.partition(":")
    with workspace() as ws:
        if sep and not (raw.isdigit() and int(raw) >= 1):
            raise InvalidInputError(
                f"dataset reference {ref!r}: the version after ':' must be a number >= 1 "
                "(use NAME or NAME:VERSION)",
                field="ref",
            )
        project = load_spec(spec) if spec.exists() else None
        dv, frame = ws.datasets.load_frame(name, int(raw) if sep else None)
        previous = None
        if dv.version > 1:
            prev_dv, prev_frame = ws.datasets.load_frame(name, dv.version - 1)
            previous = diff_schemas(
                prev_dv.columns,
                dv.columns,
                old_categories=category_sets(prev_frame),
                new_categories=category_sets(frame),
            ).to_dict()
        target = project.data.target if project and project.data.dataset == name else None
        profile = profile_frame(frame, target=target)
        expectations = (
            check_expectations(frame, dict(project.expectations)).to_dict()
            if project and project.data.dataset == name and project.expectations
            else None
        )
    result = {
        "dataset": dv.ref,
        "profile": profile,
        "expectations": expectations,
        "schema_drift_from_previous": previous,
    }
    if as_json:
        print_json(result)
        if expectations is not None and not expectations["passed"]:
            raise typer.Exit(1)
        return
    console.print(f"[bold]{escape(dv.ref)}[/]: {dv.row_count} rows")
    table = Table("column", "type", "nulls", "summary")
    for col, info in profile["columns"].items():
        summary = info.get("summary") or ""
        if "min" in info:
            summary = f"min {info['min']}, max {info['max']}"
        elif info.get("top"):
            summary = ", ".join(f"{t['value']}: {t['count']}" for t in info["top"][:3])
        table.add_row(
            escape(col),
            str(info.get("type")),
            f"{info.get('null_rate', 0):.1%}",
            escape(str(summary)),
        )
    console.print(table)
    for hint in profile.get("leakage", []):
        score = hint.get("score")
        detail = f" (score {score:.3f})" if isinstance(score, float) else ""
        console.print(
            f"[yellow]leakage hint:[/] {escape(str(hint['column']))}: "
            f"{escape(str(hint['reason']))}{detail}"
        )
    if expectations is not None:
        ok = "[green]all expectations met[/]" if expectations["passed"] else "[red]violations[/]"
        console.print(ok)
        for v in expectations["violations"]:
            rows = ", ".join(map(str, v.get("examples") or []))
            where = f" (e.g. rows {rows})" if rows else ""
            console.print(f"  {escape(str(v['message']))}{escape(where)}")
    if profile.get("duplicate_rows"):
        console.print(f"duplicate rows: {profile['duplicate_rows']}")
    if profile.get("constant_columns"):
        console.print(f"constant columns: {escape(', '.join(profile['constant_columns']))}")
    if previous is not None and previous.get("changed"):
        console.print(f"schema drift from version {dv.version - 1}:")
        for line in _drift_lines(previous):
            console.print(f"  {escape(line)}")
    if expectations is not None and not expectations["passed"]:
        raise typer.Exit(1)


def _drift_lines(diff: dict[str, Any]) -> list[str]:
    """Readable lines for a schema diff (``SchemaDiff.to_dict()``)."""
    lines = [f"added column {c['name']} ({c['type']})" for c in diff.get("added", [])]
    lines += [f"removed column {c['name']} ({c['type']})" for c in diff.get("removed", [])]
    lines += [
        f"retyped column {c['name']}: {c['old_type']} -> {c['new_type']}"
        + (" (widening)" if c.get("widening") else "")
        for c in diff.get("retyped", [])
    ]
    for c in diff.get("nullability", []):
        now = "nullable" if c.get("new_nullable") else "not nullable"
        lines.append(f"column {c.get('name')} is now {now}")
    for kind, label in (("new_categories", "new"), ("dropped_categories", "dropped")):
        for column, values in (diff.get(kind) or {}).items():
            lines.append(f"{label} categories in {column}: {', '.join(map(str, values))}")
    if diff.get("breaking"):
        lines.append("breaking: models trained on the previous version may not accept this one")
    return lines
