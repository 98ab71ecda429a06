"""``modelyard rollout start|status|history|report|approve|fallback`` and ``modelyard rollback``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.context import console, print_json, reported, workspace
from modelyard.domain.rollout.policy import STRATEGIES
from modelyard.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from modelyard.deployments.rollout import RolloutService

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
    require_approval: Annotated[
        bool,
        typer.Option(
            help="Full promotion waits for another principal's `rollout approve` "
            "(always on when the version's spec says approval_required: true)."
        ),
    ] = False,
) -> None:
    """Roll out a new version: blue-green (verified, warmed, atomic, reversible) or
    canary (stepwise, each step analysed against the primary by the servers)."""
    from modelyard.deployments.rollout import RolloutService, canary_config

    config = None
    with reported():
        if strategy == "canary" and (steps is not None or canary is not None):
            config = canary_config(_json_option(canary, "--canary"), _steps(steps))
        elif steps is not None or canary is not None:
            raise InvalidInputError(
                "--steps and --canary apply to --strategy canary", field="steps"
            )
    with workspace() as ws:
        service = RolloutService(ws.store, ws.registry)
        fallback_before = _fallback(service, endpoint)
        ep = service.start(
            endpoint,
            model,
            strategy=strategy,
            actor=ws.actor,
            force=force,
            override_reason=override_reason,
            reason=reason,
            config=config,
            share=share,
            require_approval=require_approval,
        )
        state = RolloutService._state(ep)
        fallback_after = _fallback(service, endpoint)
    if state is not None and state.active:
        waits = (
            f"; 100% waits for approval by a principal other than {state.started_by} "
            f"(`modelyard rollout approve {endpoint}`)"
            if state.approval_required
            else ""
        )
        if state.strategy == "canary":
            steps_ = state.config.steps
            console.print(
                f"[green]✓[/] canary of {state.candidate} on {endpoint} started at "
                f"{steps_[0]:g}% (steps {', '.join(f'{s:g}' for s in steps_)}; revision "
                f"{ep.revision}){waits}; `modelyard rollout status {endpoint}` shows the analysis"
            )
        elif state.strategy == "blue-green":
            console.print(
                f"[green]✓[/] {state.candidate} is loaded and checked; {endpoint} keeps serving "
                f"{state.baseline.primary}{waits}"
            )
        else:
            console.print(
                f"[green]✓[/] {state.strategy} rollout of {state.candidate} on {endpoint} "
                f"started (revision {ep.revision}){waits}"
            )
        return
    console.print(
        f"[green]✓[/] {endpoint} → {ep.model}:{ep.version} ({strategy}, revision {ep.revision}); "
        f"`modelyard rollback {endpoint}` returns to the previous version"
    )
    _note_fallback_cleared(endpoint, fallback_before, fallback_after)


def _fallback(service: RolloutService, endpoint: str) -> str | None:
    try:
        return service.status(endpoint)["fallback"]  # type: ignore[no-any-return]
    except NotFoundError:
        return None


def _note_fallback_cleared(endpoint: str, before: str | None, after: str | None) -> None:
    """Say so when a switch made the fallback the primary (which clears the fallback)."""
    if before is not None and after is None:
        console.print(
            f"[yellow]![/] {before} was the fallback and now is the primary, so {endpoint} has "
            f"no fallback; set one with `modelyard rollout fallback {endpoint} --model ...`",
            highlight=False,
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
    from modelyard.deployments.rollout import RolloutService

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
        if rollout["strategy"] == "canary":
            steps = ", ".join(f"{s:g}" for s in rollout["steps"])
            where = (
                f"at {rollout['share']:g}% (step {rollout['step'] + 1} of [{steps}], "
                f"{rollout['looks']} looks this step)"
            )
        elif rollout["strategy"] == "shadow":
            where = f"(mirrored {rollout['candidate_share']:g}%, never answers)"
        else:
            where = f"at {rollout['share']:g}%"
        console.print(
            f"rollout: {rollout['strategy']} of {rollout['candidate']} is {rollout['status']} "
            f"{where}"
            + (f", waiting for {rollout['waiting_for']}" if rollout["waiting_for"] else "")
        )
        if rollout["approval_required"] and rollout["status"] in ("running", "paused"):
            approved = rollout["approved_by"]
            console.print(
                f"approval: {'given by ' + approved if approved else 'required, not yet given'}"
            )
        last = rollout.get("last_analysis")
        if last:
            console.print(f"last analysis: {last['outcome']}: {last['reason']}")
    if info["fallback"]:
        console.print(f"fallback: {info['fallback']} (answers while the primary's breaker is open)")


@rollout_app.command("history")
def history(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every change of the endpoint with who, when and why."""
    from modelyard.deployments.rollout import RolloutService

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


@rollout_app.command("approve")
def approve(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Approve full promotion of the running rollout (not by the principal who started it)."""
    from modelyard.deployments.rollout import RolloutService

    with workspace() as ws:
        state = RolloutService(ws.store, ws.registry).approve(
            endpoint, actor=ws.actor, reason=reason
        )
    if state.status.value == "promoted":
        console.print(f"[green]✓[/] approved; {endpoint} now serves {state.candidate}")
    else:
        console.print(
            f"[green]✓[/] approved; {state.candidate} is promoted to 100% when its analysis "
            f"passes (now at {state.share:g}%)"
        )


@rollout_app.command("fallback")
def fallback(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="NAME:VERSION that answers instead.")
    ] = None,
    clear: Annotated[bool, typer.Option(help="Remove the fallback version.")] = False,
    force: Annotated[bool, typer.Option(help="Accept a breaking signature.")] = False,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Set the version that answers while the primary's circuit breaker is open."""
    from modelyard.deployments.rollout import RolloutService

    with reported():
        if (model is None) == (not clear):
            raise InvalidInputError("give either --model NAME:VERSION or --clear", field="model")
    with workspace() as ws:
        ep = RolloutService(ws.store, ws.registry).set_fallback(
            endpoint, model, actor=ws.actor, force=force, reason=reason
        )
    target = (ep.config.get("traffic") or {}).get("fallback")
    console.print(
        f"[green]✓[/] {endpoint}: fallback {target or 'cleared'} (revision {ep.revision})"
    )


def rollback(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:
    """Return an endpoint to the version it served before its last change."""
    from modelyard.deployments.rollout import RolloutService

    with workspace() as ws:
        service = RolloutService(ws.store, ws.registry)
        fallback_before = _fallback(service, endpoint)
        ep = service.rollback(endpoint, actor=ws.actor, reason=reason)
        fallback_after = _fallback(service, endpoint)
    console.print(f"[green]✓[/] {endpoint} rolled back to {ep.model}:{ep.version}")
    _note_fallback_cleared(endpoint, fallback_before, fallback_after)


@rollout_app.command("report")
def report(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per-version results since the rollout started, with an accuracy significance test."""
    from modelyard.deployments.rollout import RolloutService
    from modelyard.monitoring.shipper import ship_pending

    with workspace() as ws:
        ship_pending(ws.store, ws.settings.resolved_spool_dir, include_held=True)
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
