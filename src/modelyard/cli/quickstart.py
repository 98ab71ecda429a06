"""``modelyard quickstart``: dataset → trained model → endpoint → a served prediction."""

from __future__ import annotations

import json
import logging
import shlex
import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from modelyard.cli.context import console, load_settings, reported

NAME = "quickstart"
TARGET = "target"


def quickstart(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind (0 picks a free one).")] = 8000,
    model: Annotated[str, typer.Option(help="Model kind to train.")] = "logistic_regression",
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Exit after checking the served predictions.")
    ] = False,
) -> None:
    """Build the whole loop on a bundled dataset and serve it."""
    from modelyard.client import Client
    from modelyard.data.quickstart import write_quickstart_csv
    from modelyard.security.keys import KeyService
    from modelyard.serving.server import BackgroundServer, make_server
    from modelyard.workspace import Workspace

    settings = load_settings()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    with reported():
        console.rule("[bold]modelyard quickstart")
        console.print(f"home: {settings.home}")
        with Workspace(settings) as ws:
            with console.status("generating the quickstart dataset…"):
                csv_path = write_quickstart_csv(settings.home / "quickstart.csv")
            dv = ws.add_dataset(csv_path, NAME)
            console.print(
                f"[green]✓[/] dataset [bold]{dv.ref}[/]: {dv.row_count} rows, "
                f"{len(dv.columns)} columns (sha256 {dv.digest[:12]}…)"
            )
            with console.status(f"training {model}…"):
                run, version = ws.train(NAME, TARGET, model, NAME)
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in version.metrics.items())
            console.print(f"[green]✓[/] trained run {run.id[:12]}: {metrics}")
            console.print(f"[green]✓[/] registered model [bold]{version.ref}[/]")
            ws.promote(version.ref, "production", reason="quickstart")
            console.print(f"[green]✓[/] promoted {version.ref} to production")
            with console.status("loading and warming the model…"):
                endpoint = ws.deploy(NAME, version.ref)
            console.print(
                f"[green]✓[/] endpoint [bold]{endpoint.name}[/] → {endpoint.model}:"
                f"{endpoint.version}"
            )
            keys = KeyService(ws.store)
            keys.ensure_admin_credentials(settings)
            _, predict_key = keys.create(
                name="quickstart-predictor", role="predictor", endpoints=[NAME], actor=ws.actor
            )
            console.print(
                f"[green]✓[/] admin key saved in {settings.credentials_path} (mode 0600); "
                f"created a predictor key for endpoint {NAME}"
            )
            _, sample = ws.datasets.load_frame(NAME, dv.version)
            columns = [c["name"] for c in version.signature["inputs"]]
            rows = _json_rows(sample[columns].head(3))

        with console.status(f"starting the server on {host}:{port}…"):
            background = BackgroundServer(make_server(settings, host, port, quiet=True))
            bound = background.start()
        url = f"http://{host}:{bound}"
        if not no_serve:
            console.print(f"[green]✓[/] serving at [bold]{url}[/]")
        checked = False
        try:
            with Client(url, api_key=predict_key) as client:
                answer = client.predict(NAME, rows)
            checked = True
            _show_predictions(rows, answer)
            body = json.dumps({"inputs": rows[:1]})
            console.print("\nTry it yourself:")
            console.print(
                f"curl -s -X POST {url}/v1/endpoints/{NAME}/predict "
                f"-H 'Authorization: Bearer {predict_key}' "
                f"-H 'Content-Type: application/json' -d {shlex.quote(body)}",
                highlight=False,
                soft_wrap=True,
            )
            if no_serve:
                return
            console.print("\nServer running; press Ctrl-C to stop.")
            _wait_for_interrupt()
        finally:
            background.stop()
            if no_serve and checked:
                console.print(
                    f"\n[green]✓[/] checked at [bold]{url}[/] (server stopped: --no-serve); "
                    f"`modelyard serve --host {host} --port {bound}` serves the curl above",
                    highlight=False,
                )


def _json_rows(frame: Any) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))  # type: ignore[no-any-return]


def _show_predictions(rows: list[dict[str, Any]], answer: dict[str, Any]) -> None:
    model = answer["model"]
    table = Table(
        "row",
        "prediction",
        "probabilities",
        title=f"predictions from {model['name']}:{model['version']} "
        f"(request {answer['request_id'][:12]})",
    )
    probabilities = answer.get("probabilities") or [None] * len(rows)
    for i, (pred, proba) in enumerate(zip(answer["predictions"], probabilities, strict=True)):
        shown = ", ".join(f"{k}: {v:.3f}" for k, v in proba.items()) if proba else "-"
        table.add_row(str(i), str(pred), shown)
    console.print(table)


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
