"""``modelyard rollout start|status|history`` and ``modelyard rollback``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.context import console, print_json, workspace
from modelyard.deployments.rollout import STRATEGIES, RolloutService, canary_config
from modelyard.errors import InvalidInputError
from modelyard.monitoring.shipper import ship_pending

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
    steps: Annotated[
        str | None, typer.Option(help="Canary steps in percent, e.g. 5,25,50,100.")
    ] = None,
    share: Annotated[
        float | None,
        typer.Option(help="Shadow: percent mirrored (default 100); A/B: candidate weight (50)."),
    ] = None,
    canary: Annotated[
        str | None,
        typer.Option(
            help='Canary analysis settings as JSON, e.g. \'{"min_requests": 500, '
            '"min_duration_s": 120}\' (CanaryConfig fields).'
        ),
    ] = None,
) -> None:
    """Roll out a new version: blue-green (verified, warmed, atomic, reversible) or
    canary (stepwise, each step analysed against the primary by the servers)."""
    config = None
    if strategy == "canary":
        config = canary_config(_json_option(canary, "--canary"), _steps(steps))
    elif steps is not None or canary is not None:
        raise InvalidInputError("--steps and --canary apply to --strategy canary", field="steps")
    with workspace() as ws:
        ep = RolloutService(ws.store, ws.registry).start(
            endpoint,
            model,
            strategy=strategy,
            actor=ws.actor,
            force=force,
            override_reason=override_reason,
            reason=reason,
            config=config,
            share=share,
        )
    if strategy == "canary" and config is not None:
        console.print(
            f"[green]✓[/] canary of {model} on {endpoint} started at {config.steps[0]:g}% "
            f"(steps {', '.join(f'{s:g}' for s in config.steps)}; revision {ep.revision}); "
            f"`modelyard rollout status {endpoint}` shows the analysis"
        )
        return
    console.print(
        f"[green]✓[/] {endpoint} → {ep.model}:{ep.version} ({strategy}, revision {ep.revision}); "
        f"`modelyard rollback {endpoint}` returns to the previous version"
    )


def _steps(raw: str | None) -> list[float] | None:
    if raw is None:
        return None
    try:
        return [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise InvalidInputError(
            f"--steps must be comma-separated percentages, got {raw!r}", field="steps"
        ) from None


def _json_option(raw: str | None, option: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{option} is not valid JSON: {exc}", field=option) from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{option} must be a JSON object", field=option)
    return value


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
    rollout = info.get("rollout")
    if rollout:
        steps = ", ".join(f"{s:g}" for s in rollout["steps"])
        console.print(
            f"rollout: {rollout['strategy']} of {rollout['candidate']} is {rollout['status']} "
            f"at {rollout['share']:g}% (step {rollout['step'] + 1} of [{steps}], "
            f"{rollout['looks']} looks this step)"
            + (f", waiting for {rollout['waiting_for']}" if rollout["waiting_for"] else "")
        )
        last = rollout.get("last_analysis")
        if last:
            console.print(f"last analysis: {last['outcome']}: {last['reason']}")


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
        action = e["action"] + (f" → {e['outcome']}" if e.get("outcome") else "")
        table.add_row(
            e["at"][:19], e["actor"], action, e["from"] or "-", e["to"] or "-", e["reason"]
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


@rollout_app.command("report")
def report(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per-version results since the rollout started, with an accuracy significance test."""
    with workspace() as ws:
        ship_pending(ws.store, ws.settings.resolved_spool_dir)
        result = RolloutService(ws.store, ws.registry).report(endpoint)
    if as_json:
        print_json(result)
        return
    table = Table("version", "requests", "rows", "labelled", "accuracy")
    for name, arm in sorted(result["arms"].items()):
        acc = arm["accuracy"]
        table.add_row(
            name,
            str(arm["requests"]),
            str(arm["rows"]),
            str(arm["labelled"]),
            f"{acc:.3f}" if acc is not None else "-",
        )
    console.print(table)
    test = result["test"]
    if test is None:
        console.print("no significance test yet: both versions need labelled predictions")
    else:
        verdict = "significant" if test["significant_at_0.05"] else "not significant"
        console.print(
            f"accuracy difference {test['difference']:+.3f} (z {test['z']:.2f}, "
            f"p {test['p_value']:.3g}): {verdict} at 0.05"
        )
