"""``modelyard rollout start|status|history`` and ``modelyard rollback``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from modelyard.cli.context import console, print_json, workspace
from modelyard.deployments.rollout import STRATEGIES, RolloutService

rollout_app = typer.Typer(help="Roll out model versions safely.", no_args_is_help=True)


@rollout_app.command("start")
def start(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[str, typer.Option("--model", "-m", help="NAME:VERSION to roll out.")],
    strategy: Annotated[str, typer.Option(help=" | ".join(STRATEGIES))] = "blue-green",
    force: Annotated[bool, typer.Option(help="Switch despite a breaking signature.")] = False,
    override_reason: Annotated[
        str | None, typer.Option(help="Admin override for a version that failed its gates.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Switch an endpoint to a new version: verified, warmed, atomic, reversible."""
    with workspace() as ws:
        ep = RolloutService(ws.store, ws.registry).start(
            endpoint,
            model,
            strategy=strategy,
            actor=ws.actor,
            force=force,
            override_reason=override_reason,
            reason=reason,
        )
    console.print(
        f"[green]✓[/] {endpoint} → {ep.model}:{ep.version} ({strategy}, revision {ep.revision}); "
        f"`modelyard rollback {endpoint}` returns to the previous version"
    )


@rollout_app.command("status")
def status(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What the endpoint serves, its traffic split and its rollback target."""
    with workspace() as ws:
        info = RolloutService(ws.store, ws.registry).status(endpoint)
    if as_json:
        print_json(info)
        return
    console.print(
        f"[bold]{endpoint}[/]: serving {info['serving']} (revision {info['revision']}), "
        f"traffic {info['traffic']}, rollback target {info['rollback_target'] or '-'}"
    )


@rollout_app.command("history")
def history(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every change of the endpoint with who, when and why."""
    with workspace() as ws:
        events = RolloutService(ws.store, ws.registry).history(endpoint)
    if as_json:
        print_json(events)
        return
    table = Table("at", "by", "action", "from", "to", "reason")
    for e in events:
        table.add_row(
            e["at"][:19], e["actor"], e["action"], e["from"] or "-", e["to"] or "-", e["reason"]
        )
    console.print(table)


def rollback(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Return an endpoint to the version it served before its last change."""
    with workspace() as ws:
        ep = RolloutService(ws.store, ws.registry).rollback(endpoint, actor=ws.actor, reason=reason)
    console.print(f"[green]✓[/] {endpoint} rolled back to {ep.model}:{ep.version}")
