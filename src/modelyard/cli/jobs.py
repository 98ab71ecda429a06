"""``modelyard jobs submit|list|show|cancel|work``: background jobs on the local store.

Jobs are queued in the metadata store; a server (``modelyard serve``) runs them, and
so does ``modelyard jobs work`` without a server.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from modelyard.cli.context import (
    console,
    err_console,
    load_settings,
    print_json,
    reported,
    workspace,
)
from modelyard.domain.jobs import KINDS, STATUSES

if TYPE_CHECKING:
    from modelyard.domain.jobs import Job

jobs_app = typer.Typer(
    help="Background jobs (train, compile, batch_predict, drift_report), run by servers "
    "or `modelyard jobs work`.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` options as a dict (values are text; the job kind converts them)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        if key.strip() in out:
            raise typer.BadParameter(f"{key.strip()!r} given twice", param_hint="--param")
        out[key.strip()] = value
    return out


def _summary(job: Job) -> str:
    """One line about the outcome: the error, or what the job produced."""
    if job.status != "succeeded":
        return job.error or ""
    result = job.result or {}
    if job.kind == "batch_predict":
        return f"{result.get('output')} ({result.get('rows')} rows)"
    if job.kind == "drift_report":
        digest = str(result.get("report", {}).get("digest", ""))
        return f"verdict {result.get('verdict')} (report sha256:{digest[:12]}…)"
    if job.kind == "compile":
        return f"compiled {result.get('model')} to ONNX"
    return f"registered {result.get('model')}"


def _print_job(job: Job) -> None:
    import json

    color = {"succeeded": "green", "failed": "red", "cancelled": "yellow"}.get(job.status, "cyan")
    console.print(f"[bold]{job.id}[/]  {job.kind}  [{color}]{job.status}[/]")
    console.print(f"submitted by {escape(job.created_by)} at {job.created_at:%Y-%m-%d %H:%M:%S}")
    console.print(
        f"attempts {job.attempts}" + ("; cancel requested" if job.cancel_requested else "")
    )
    console.print("params: " + escape(json.dumps(job.params, sort_keys=True)), highlight=False)
    if job.result is not None:
        console.print("result: " + escape(json.dumps(job.result, indent=2, default=str)))
    if job.error:
        console.print(f"[red]error:[/] {escape(job.error)}", highlight=False)


@jobs_app.command("submit")
def submit(
    kind: Annotated[str, typer.Argument(help=" | ".join(KINDS))],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="KEY=VALUE, repeatable. train: dataset, target, model, name, seed; compile: "
            "model, rows, tolerance; batch_predict: model, dataset, output, chunk_rows; "
            "drift_report: endpoint, window.",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the job is finished.")] = False,
    timeout: Annotated[float, typer.Option(min=0, help="Seconds --wait waits.")] = 3600.0,
    as_json: JsonFlag = False,
) -> None:
    """Queue a job (its parameters and what they name are checked first: exit 2 and
    nothing queued if they are wrong). With --wait, exit 1 unless it succeeds."""
    from modelyard.jobs.service import JobService

    params = parse_params(param)
    with workspace() as ws:
        service = JobService(ws.store)
        job = service.submit(kind, params, actor=ws.actor)
        if wait:
            if as_json:
                job = service.wait(job.id, timeout)
            else:
                with console.status(f"job {job.id} ({job.kind}) is queued; waiting…"):
                    job = service.wait(job.id, timeout)
    if as_json:
        print_json(job.to_dict())
    elif wait:
        _print_job(job)
    else:
        console.print(
            f"queued [bold]{job.id}[/] ({job.kind}); `modelyard jobs show {job.id}` for its "
            "status (a server or `modelyard jobs work` runs it)"
        )
    if wait and not job.terminal:
        err_console.print(
            f"job {job.id} is still {job.status} after {timeout:g}s: is a server or "
            "`modelyard jobs work` running on this store?"
        )
        raise typer.Exit(1)
    if wait and job.status != "succeeded":
        raise typer.Exit(1)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option(help=" | ".join(STATUSES))] = None,
    kind: Annotated[str | None, typer.Option(help=" | ".join(KINDS))] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest N jobs.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    from modelyard.jobs.service import JobService

    with workspace() as ws:
        jobs = JobService(ws.store).list(status=status, kind=kind, limit=limit)
    if as_json:
        print_json([j.to_dict() for j in jobs])
        return
    table = Table(Column("job", no_wrap=True), "kind", "status", "attempts", "submitted", "by")
    table.add_column("outcome")
    for j in jobs:
        table.add_row(
            j.id,
            j.kind,
            j.status + (" (cancel requested)" if j.cancel_requested and not j.terminal else ""),
            str(j.attempts),
            f"{j.created_at:%Y-%m-%d %H:%M:%S}",
            escape(j.created_by),
            escape(_summary(j)),
        )
    console.print(table)


@jobs_app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job id (job_…).")],
    as_json: JsonFlag = False,
) -> None:
    """Show a job: status, attempts, parameters, result or error."""
    from modelyard.jobs.service import JobService

    with workspace() as ws:
        job = JobService(ws.store).get(job_id)
    if as_json:
        print_json(job.to_dict())
        return
    _print_job(job)


@jobs_app.command("cancel")
def cancel(job_id: Annotated[str, typer.Argument(metavar="ID", help="The job id.")]) -> None:
    """Cancel a job: a queued one at once, a running one by stopping its worker
    (exit 5 if it already finished)."""
    from modelyard.jobs.service import JobService

    with workspace() as ws:
        job = JobService(ws.store).cancel(job_id, actor=ws.actor)
    if job.terminal:
        console.print(f"job [bold]{job.id}[/] cancelled")
    else:
        console.print(f"job [bold]{job.id}[/] is running: its runner stops it and cancels it")


@jobs_app.command("work")
def work(
    once: Annotated[
        bool, typer.Option("--once", help="Run the queued jobs, then exit (no polling).")
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Jobs at once [default: MODELYARD_JOBS_CONCURRENCY]."),
    ] = None,
) -> None:
    """Run queued jobs here, each in a child process at low priority, until interrupted
    (jobs then running go back to the queue). --once exits 1 if a job it ran failed."""
    import signal
    import threading

    from modelyard.errors import InvalidInputError
    from modelyard.jobs.runner import JobRunner, runs_in_children
    from modelyard.store.store import open_store

    settings = load_settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"jobs_concurrency": concurrency})
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(message)s")
    finished: dict[str, str] = {}
    with reported():
        if not runs_in_children(settings):
            raise InvalidInputError(
                "jobs need a database their worker processes can open, not in-memory SQLite",
                field="MODELYARD_DATABASE_URL",
            )
        store = open_store(settings)
        runner = JobRunner(store, settings)
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            if once:
                finished = runner.drain()
            else:
                console.print(
                    f"running jobs (up to {settings.jobs_concurrency} at once) on "
                    f"{settings.home}; Ctrl-C to stop"
                )
                runner.start()
                while not stop.wait(0.5):
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            runner.stop()
            signal.signal(signal.SIGTERM, previous)
            store.close()
    if once:
        _print_finished(finished)
        if any(status != "succeeded" for status in finished.values()):
            raise typer.Exit(1)


def _print_finished(finished: dict[str, Any]) -> None:
    if not finished:
        console.print("no queued jobs")
        return
    table = Table("job", "status")
    for job_id, status in finished.items():
        color = "green" if status == "succeeded" else "red"
        table.add_row(job_id, f"[{color}]{status}[/]")
    console.print(table)
