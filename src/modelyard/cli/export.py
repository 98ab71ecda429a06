"""``modelyard export grafana|prometheus-rules``: monitoring as files for existing tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.context import err_console, reported, spec_settings
from modelyard.errors import InvalidInputError

export_app = typer.Typer(help="Export monitoring to Grafana and Prometheus.", no_args_is_help=True)

OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
]


def _emit(text: str, output: Path | None, what: str) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {what} to {output}")


@export_app.command("grafana")
def export_grafana(
    output: OutputOption = None,
    endpoint: Annotated[
        list[str] | None,
        typer.Option(help="Endpoint for the dashboard's picker (repeat; default: queried)."),
    ] = None,
    title: Annotated[str, typer.Option(help="Dashboard title.")] = "modelyard",
) -> None:
    """A Grafana dashboard (JSON model) over the server's Prometheus metrics."""
    from modelyard.domain.alerts import grafana_dashboard

    with reported():
        dashboard = grafana_dashboard(endpoint or None, title=title)
    _emit(json.dumps(dashboard, indent=2), output, "the Grafana dashboard")


@export_app.command("prometheus-rules")
def export_prometheus_rules(
    spec: Annotated[
        Path | None,
        typer.Option(
            help="Project spec with monitoring.alerts (default: MODELYARD_SPEC_FILE, "
            "else ./modelyard.yaml when it exists)."
        ),
    ] = None,
    output: OutputOption = None,
    group: Annotated[str, typer.Option(help="Rule group name.")] = "modelyard",
) -> None:
    """The spec's alert rules as Prometheus alerting rules (YAML)."""
    from modelyard.domain.alerts import prometheus_rules_yaml
    from modelyard.monitoring.alerting import load_monitoring_config
    from modelyard.spec.template import SPEC_FILENAME

    settings = spec_settings(spec)
    with reported():
        if settings.spec_file is None:
            raise InvalidInputError(
                f"no spec: give --spec FILE, set MODELYARD_SPEC_FILE or run in a folder "
                f"with {SPEC_FILENAME}",
                field="spec",
            )
        config = load_monitoring_config(settings)
        text = prometheus_rules_yaml(config.rules, group=group)
    _emit(text, output, f"{len(config.rules)} alert rule(s)")
