"""``modelyard monitor`` and ``modelyard privacy``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.context import console, print_json, workspace
from modelyard.monitoring.service import MonitoringService
from modelyard.monitoring.shipper import ship_pending

privacy_app = typer.Typer(help="Subject data: the right to be forgotten.", no_args_is_help=True)


def monitor(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Summarise an endpoint's prediction log (ships any spooled records first)."""
    with workspace() as ws:
        ship_pending(ws.store, ws.settings.resolved_spool_dir)
        summary = MonitoringService(ws.store).summary(endpoint)
    if as_json:
        print_json(summary)
        return
    table = Table("measure", "value", title=f"endpoint {endpoint}")
    table.add_row("predictions logged", str(summary["prediction_count"]))
    table.add_row("rows", str(summary["rows"]))
    table.add_row("by version", ", ".join(f"v{k}: {v}" for k, v in summary["by_version"].items()))
    for q in ("p50", "p99"):
        value = summary["latency_ms"][q]
        table.add_row(f"latency {q}", f"{value:.2f} ms" if value is not None else "-")
    table.add_row("labelled rows", str(summary["feedback_count"]))
    accuracy = summary["live_accuracy"]
    table.add_row("live accuracy", f"{accuracy:.3f}" if accuracy is not None else "no feedback yet")
    console.print(table)


@privacy_app.command("forget")
def forget(subject_id: Annotated[str, typer.Argument(help="The subject id to erase.")]) -> None:
    """Delete a subject's predictions and feedback from every store; prints a receipt."""
    with workspace() as ws:
        ship_pending(ws.store, ws.settings.resolved_spool_dir)
        receipt = MonitoringService(ws.store).forget_subject(subject_id, actor=ws.actor)
    print_json(receipt)
