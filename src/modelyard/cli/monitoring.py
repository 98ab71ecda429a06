"""``modelyard monitor`` and ``modelyard privacy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.context import console, print_json, spec_settings, workspace
from modelyard.errors import InvalidInputError
from modelyard.settings import Settings

privacy_app = typer.Typer(help="Subject data: the right to be forgotten.", no_args_is_help=True)


def monitor(
    target: Annotated[str, typer.Argument(help="An endpoint, or 'report' then an endpoint.")],
    endpoint: Annotated[str | None, typer.Argument(help="Endpoint (after 'report').")] = None,
    window: Annotated[str, typer.Option(help="Drift window, e.g. 30m, 24h, 7d.")] = "24h",
    output: Annotated[Path | None, typer.Option(help="HTML file for 'report'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    spec: Annotated[
        Path | None,
        typer.Option(
            help="Spec whose monitoring section (cost models, drift thresholds) applies "
            "(default: MODELYARD_SPEC_FILE, else ./modelyard.yaml when it exists)."
        ),
    ] = None,
) -> None:
    """Summarise an endpoint (`monitor EP`) or write its drift report (`monitor report EP`).

    The cost models and drift thresholds come from the same spec the server runs with,
    so the numbers match the server's."""
    from modelyard.monitoring.alerting import load_monitoring_config
    from modelyard.monitoring.drift_service import DriftService, parse_window
    from modelyard.monitoring.service import MonitoringService
    from modelyard.monitoring.shipper import ship_pending

    if target == "report":
        if endpoint is None or output is None:
            raise typer.BadParameter("usage: modelyard monitor report ENDPOINT --output FILE.html")
        _report(endpoint, window, output, spec_settings(spec))
        return
    if endpoint is not None:
        raise typer.BadParameter(f"unexpected extra argument {endpoint!r}")
    with workspace(spec_settings(spec)) as ws:
        ship_pending(ws.store, ws.settings.resolved_spool_dir, include_held=True)
        config = load_monitoring_config(ws.settings)
        summary = MonitoringService(
            ws.store, cost_models=config.cost_models, min_labels=ws.settings.quality_min_labels
        ).summary(target)
        try:
            drift = DriftService(ws.store, ws.registry, config.drift).summary(
                target, parse_window(window)
            )
            summary["drift"] = {
                "status": drift["status"],
                "drivers": list(drift["drivers"]),
                "drifted_columns": list(drift["drifted_columns"]),
                "reasons": list(drift["reasons"]),
                "window": window,
            }
        except InvalidInputError as exc:
            summary["drift"] = {"status": "unavailable", "reason": exc.message}
    if as_json:
        print_json(summary)
        return
    table = Table("measure", "value", title=f"endpoint {target}")
    table.add_row("predictions logged", str(summary["prediction_count"]))
    table.add_row("rows", str(summary["rows"]))
    table.add_row("by version", ", ".join(f"v{k}: {v}" for k, v in summary["by_version"].items()))
    for q in ("p50", "p99"):
        value = summary["latency_ms"][q]
        table.add_row(f"latency {q}", f"{value:.2f} ms" if value is not None else "-")
    table.add_row("labelled rows", str(summary["feedback_count"]))
    accuracy = summary["live_accuracy"]
    table.add_row("live accuracy", f"{accuracy:.3f}" if accuracy is not None else "no feedback yet")
    quality = summary["live_quality"]
    table.add_row(
        "live quality (accuracy)",
        f"{quality['value']:.3f} ({quality['source']})"
        if quality["value"] is not None
        else quality.get("reason", "not enough data"),
    )
    cost = summary["cost"]
    if cost["priced"]:
        per_request = cost["total"]["cost_per_request"]
        shown = f"${cost['total']['cost_usd']:.6f}"
        if per_request is not None:
            shown += f" (${per_request:.8f} per request)"
        table.add_row("cost", shown)
    else:
        table.add_row("cost", "no cost model (monitoring.cost in the spec)")
    drift_info = summary["drift"]
    shown = drift_info["status"]
    if drift_info.get("drivers"):
        shown += f" (drivers: {', '.join(drift_info['drivers'])})"
    elif drift_info.get("drifted_columns"):  # drifted, but in columns the model barely uses
        shown += f": {'; '.join(drift_info['reasons'])}"
    elif drift_info.get("reason"):
        shown += f": {drift_info['reason']}"
    table.add_row(f"drift ({window})", shown)
    console.print(table)


def _report(endpoint: str, window: str, output: Path, settings: Settings) -> None:
    from modelyard.monitoring.alerting import load_monitoring_config
    from modelyard.monitoring.drift_service import DriftService
    from modelyard.monitoring.shipper import ship_pending

    with workspace(settings) as ws:
        ship_pending(ws.store, ws.settings.resolved_spool_dir, include_held=True)
        config = load_monitoring_config(ws.settings)
        _, report, page = DriftService(ws.store, ws.registry, config.drift).html_report(
            endpoint, window
        )
    output.write_text(page, encoding="utf-8")
    console.print(f"wrote {output} (verdict: {report.status})")


@privacy_app.command("forget")
def forget(subject_id: Annotated[str, typer.Argument(help="The subject id to erase.")]) -> None:
    """Delete a subject's predictions and feedback from every store; prints a receipt."""
    from modelyard.monitoring.service import MonitoringService
    from modelyard.monitoring.shipper import ship_all_or_fail

    with workspace() as ws:
        ship_all_or_fail(ws.store, ws.settings.resolved_spool_dir)
        receipt = MonitoringService(ws.store).forget_subject(subject_id, actor=ws.actor)
    print_json(receipt)
