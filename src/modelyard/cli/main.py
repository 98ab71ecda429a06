"""Entry point: ``modelyard COMMAND``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from modelyard._version import __version__
from modelyard.cli.context import console, load_settings, print_json, reported, workspace
from modelyard.cli.dataset_report import checks_for, print_added
from modelyard.cli.export import export_app
from modelyard.cli.jobs import jobs_app
from modelyard.cli.monitoring import monitor, privacy_app
from modelyard.cli.quickstart import quickstart
from modelyard.cli.rollout import rollback, rollout_app
from modelyard.cli.security import audit_app, keys_app
from modelyard.cli.training import datasets_check, init, models_card, runs_app, train
from modelyard.domain.entities import ModelVersion
from modelyard.settings import Settings

app = typer.Typer(
    help="modelyard: from a dataset to a monitored, safely served model.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Metadata database.", no_args_is_help=True)
datasets_app = typer.Typer(help="Versioned datasets.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry.", no_args_is_help=True)
endpoints_app = typer.Typer(help="Serving endpoints.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(datasets_app, name="datasets")
app.add_typer(models_app, name="models")
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(keys_app, name="keys")
app.command()(monitor)
app.add_typer(privacy_app, name="privacy")
app.add_typer(audit_app, name="audit")
app.add_typer(export_app, name="export")
app.command()(quickstart)
app.command()(init)
app.command()(train)
app.add_typer(runs_app, name="runs")
app.add_typer(rollout_app, name="rollout")
app.add_typer(jobs_app, name="jobs")
app.command()(rollback)
models_app.command("card")(models_card)
datasets_app.command("check")(datasets_check)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.command()
def version() -> None:
    """Print the modelyard version."""
    console.print(__version__)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest schema."""
    from modelyard.store.db import create_db_engine
    from modelyard.store.migrate import upgrade

    settings = load_settings()
    with reported():
        engine = create_db_engine(settings.resolved_database_url)
        try:
            revision = upgrade(engine)
        finally:
            engine.dispose()
    console.print(f"database at revision [bold]{revision}[/]")


@datasets_app.command("add")
def datasets_add(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    spec: Annotated[
        Path | None,
        typer.Option(help="Spec with the target and expectations [default: ./modelyard.yaml]."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Target column, for leakage hints (default: the spec's).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Store an immutable, content-addressed version of a table, with its profile.

    Prints rows, columns, nulls and warnings (duplicates, constant columns, leakage
    hints, schema drift from the previous version), and checks the spec's expectations
    when the spec is about this dataset. A violation does not undo the add -- the data
    is stored as received -- but the command exits 1 with the report, like `datasets
    check`. Bad input (unreadable file, bad spec, unknown --target) stores nothing.
    """
    with workspace() as ws:
        checks = checks_for(name, spec, target=target, required=spec is not None)
        report = ws.datasets.add_file_checked(file, name, checks=checks, actor=ws.actor)
    if as_json:
        print_json(report.to_dict())
    else:
        print_added(report)
    if not report.passed:
        raise typer.Exit(1)


@datasets_app.command("list")
def datasets_list(as_json: JsonFlag = False) -> None:
    """List dataset versions."""
    with workspace() as ws:
        versions = ws.datasets.list()
    if as_json:
        print_json([v.__dict__ for v in versions])
        return
    table = Table("dataset", "version", "rows", "columns", "sha256", "source", "created")
    for v in versions:
        table.add_row(
            v.dataset,
            str(v.version),
            str(v.row_count),
            str(len(v.columns)),
            v.digest[:12],
            v.source_name,
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@datasets_app.command("show")
def datasets_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one dataset version: its schema and stored profile (latest without VERSION).

    Per column: type, nulls, distinct values; min, quantiles, max, mean, std and a
    histogram of numeric columns; the most frequent values of categorical ones; constant
    columns. --json prints the stored record with the profile.
    """
    from modelyard.cli.dataset_show import print_shown, show_dict
    from modelyard.data.datasets import has_stored_profile
    from modelyard.domain.refs import parse_dataset_ref

    with reported():  # a malformed reference is an error, never the latest version
        name, version = parse_dataset_ref(ref)
    with workspace() as ws:
        dv = ws.datasets.get(name, version)
        profile = ws.datasets.profile_of(dv)
    stored = has_stored_profile(dv)
    if as_json:
        print_json(show_dict(dv, profile, stored=stored))
    else:
        print_shown(dv, profile, stored=stored)


@models_app.command("list")
def models_list(as_json: JsonFlag = False) -> None:
    """List registered models."""
    with workspace() as ws:
        models = ws.models()
    if as_json:
        print_json(models)
        return
    table = Table("model", "latest", "versions", "flavor", "production", "staging")
    for m in models:
        table.add_row(
            m["name"],
            str(m["latest_version"]),
            str(m["versions"]),
            m["flavor"] or "",
            ",".join(map(str, m["stages"]["production"])),
            ",".join(map(str, m["stages"]["staging"])),
        )
    console.print(table)


@models_app.command("show")
def models_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (number, stage or latest).")],
    as_json: JsonFlag = False,
) -> None:
    """Show a model version: signature, metrics, lineage and stage history."""
    with workspace() as ws:
        version = ws.model(ref)
    if as_json:
        print_json(_version_dict(version))
        return
    console.print(f"[bold]{version.ref}[/]  flavor {version.flavor}  stage {version.stage}")
    console.print(f"checksum sha256 {version.artifact_digest}")
    lineage = f"dataset {version.dataset}:{version.dataset_version}" if version.dataset else "-"
    console.print(f"lineage: {lineage}, run {version.run_id or '-'}, code {version.code_version}")
    sig = Table("input column", "type", "nullable", title="signature")
    for col in version.signature["inputs"]:
        sig.add_row(col["name"], col["type"], "yes" if col.get("nullable") else "no")
    console.print(sig)
    console.print(f"output: {version.signature['output']}")
    _print_metrics(version.metrics)
    hist = Table("at", "from", "to", "by", "reason", title="stage history")
    for t in version.transitions:
        hist.add_row(
            f"{t.at:%Y-%m-%d %H:%M:%S}", t.from_stage or "-", t.to_stage, t.actor, t.reason
        )
    console.print(hist)


@models_app.command("promote")
def models_promote(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION")],
    to: Annotated[str, typer.Option("--to", help="candidate | staging | production | archived")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the history).")] = "",
    override_reason: Annotated[
        str | None, typer.Option(help="Admin override for a version that failed its gates.")
    ] = None,
) -> None:
    """Move a model version to a stage (production archives the previous one)."""
    with workspace() as ws:
        version = ws.registry.promote(
            ref, to, reason=reason, override_reason=override_reason, actor=ws.actor
        )
    console.print(f"[bold]{version.ref}[/] is now in stage [bold green]{version.stage}[/]")


@models_app.command("compile")
def models_compile(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION")],
    rows: Annotated[int, typer.Option(help="Rows of the training data to verify on.")] = 2000,
    tolerance: Annotated[float, typer.Option(help="Largest allowed probability gap.")] = 1e-4,
    as_json: JsonFlag = False,
) -> None:
    """Convert to ONNX, verify against the original, store it beside the original."""
    from modelyard.registry.compile import CompileService

    with workspace() as ws:
        with console.status(f"compiling {ref} to ONNX…"):
            version, report = CompileService(ws.store, ws.registry).compile(
                ref, actor=ws.actor, max_rows=rows, atol=tolerance
            )
    if as_json:
        print_json({"model": version.ref, "compiled_digest": version.compiled_digest, **report})
        return
    console.print(
        f"[green]✓[/] {version.ref} compiled to ONNX: labels agree on "
        f"{report['label_agreement']:.2%} of {report['n_rows']} rows, largest probability gap "
        f"{report['max_abs_diff_proba'] if report['max_abs_diff_proba'] is not None else '-'}"
    )
    console.print("endpoints serving this version switch to it within a second")


@app.command()
def deploy(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[str, typer.Option("--model", "-m", help="NAME:VERSION to serve.")],
) -> None:
    """Point an endpoint at a model version (verified and warmed first)."""
    with workspace() as ws:
        ep = ws.deploy(endpoint, model)
    console.print(
        f"endpoint [bold]{ep.name}[/] → [bold green]{ep.model}:{ep.version}[/] "
        f"(revision {ep.revision}); running servers switch within a second"
    )


@endpoints_app.command("configure")
def endpoints_configure(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    pii: Annotated[
        list[str] | None, typer.Option(help="Input column to redact/encrypt in the log.")
    ] = None,
    batch_max_rows: Annotated[
        int | None,
        typer.Option("--batch-max-rows", "--max-batch-size", help="Largest adaptive batch."),
    ] = None,
    batch_max_wait_ms: Annotated[
        float | None, typer.Option("--batch-max-wait-ms", "--max-wait-ms", help="Wait to fill.")
    ] = None,
    cache_ttl_s: Annotated[float | None, typer.Option(help="Response cache TTL; 0 off.")] = None,
    low_confidence: Annotated[float | None, typer.Option(help="Flag threshold.")] = None,
    timeout_s: Annotated[float | None, typer.Option(help="Prediction time budget.")] = None,
    latency_budget_ms: Annotated[
        float | None, typer.Option(help="Calls slower than this count as slow for the breaker.")
    ] = None,
    breaker: Annotated[
        list[str] | None,
        typer.Option(
            help="Circuit breaker option KEY=VALUE (enabled, consecutive_failures, window, "
            "min_calls, failure_rate, consecutive_slow, cooldown_s, half_open_probes)."
        ),
    ] = None,
) -> None:
    """Set serving options of one endpoint; running servers apply them within a second."""
    updates: dict[str, object] = {
        "batch_max_rows": batch_max_rows,
        "batch_max_wait_ms": batch_max_wait_ms,
        "cache_ttl_s": cache_ttl_s,
        "low_confidence_threshold": low_confidence,
        "timeout_s": timeout_s,
        "latency_budget_ms": latency_budget_ms,
        "breaker": _breaker_options(breaker) if breaker else None,
    }
    updates = {k: v for k, v in updates.items() if v is not None}
    if pii is not None:
        updates["pii_columns"] = pii
    with workspace() as ws:
        endpoint = ws.endpoints.configure(name, updates, actor=ws.actor)
    print_json({"endpoint": endpoint.name, "revision": endpoint.revision, **endpoint.config})


def _breaker_options(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` options as JSON values (``true``/``false``, numbers)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--breaker")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            raise typer.BadParameter(
                f"{key}: {raw!r} is not a number or true/false", param_hint="--breaker"
            ) from None
    return out


@endpoints_app.command("list")
def endpoints_list(as_json: JsonFlag = False) -> None:
    """List endpoints and the versions they serve."""
    with workspace() as ws:
        endpoints = ws.endpoints.list()
    if as_json:
        print_json([e.__dict__ for e in endpoints])
        return
    table = Table("endpoint", "model", "version", "revision", "updated")
    for e in endpoints:
        table.add_row(
            e.name, e.model, str(e.version), str(e.revision), f"{e.updated_at:%Y-%m-%d %H:%M:%S}"
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    spec: Annotated[
        Path | None, typer.Option(help="Project spec with monitoring alerts, cost, webhooks.")
    ] = None,
) -> None:
    """Serve every endpoint over HTTP until interrupted."""
    from modelyard.monitoring.alerting import load_monitoring_config
    from modelyard.serving.server import check_bind, make_server

    settings = load_settings()
    if spec is not None:
        settings = settings.model_copy(update={"spec_file": spec.resolve()})
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(message)s")
    with reported():
        load_monitoring_config(settings)  # a bad spec stops here, naming the key
        if workers == 1:
            make_server(settings, host, port).run()
            return
        _serve_workers(settings, host, port, workers, check_bind)


def _serve_workers(settings: Settings, host: str, port: int, workers: int, check_bind: Any) -> None:
    """N processes behind one socket (uvicorn's supervisor); each builds its own app."""
    import os

    import uvicorn

    from modelyard.security.keys import KeyService
    from modelyard.serving.app import allowed_hosts_for
    from modelyard.store.store import open_store

    check_bind(settings, host)
    store = open_store(settings)  # migrate and bootstrap once, before the workers race
    try:
        if settings.auth_enabled:
            KeyService(store).ensure_admin_credentials(settings)
    finally:
        store.close()
    hosts = allowed_hosts_for(settings, host)
    if hosts is not None and "MODELYARD_ALLOWED_HOSTS" not in os.environ:
        os.environ["MODELYARD_ALLOWED_HOSTS"] = json.dumps(hosts)
    uvicorn.run(
        "modelyard.serving.factory:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
        # uvicorn kills a worker that misses a 5 s ping; loading and warming models
        # on a busy machine can hold the GIL longer than that.
        timeout_worker_healthcheck=60,
    )


def _version_dict(version: ModelVersion) -> dict[str, object]:
    data = dict(version.__dict__)
    data["transitions"] = [t.__dict__ for t in version.transitions]
    return data


def _print_metrics(metrics: dict[str, float]) -> None:
    table = Table("metric", "value", title="holdout metrics")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)


def main() -> None:
    app()
