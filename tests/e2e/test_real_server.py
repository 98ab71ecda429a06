"""The whole path through a real uvicorn server on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

import modelyard
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.security.credentials import read_credentials
from modelyard.serving.server import BackgroundServer, make_server
from modelyard.settings import Settings


def test_sdk_to_served_prediction_over_http(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.1)
    with modelyard.Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=500), "d")
        ws.train("d", "target", "logistic_regression", "m")
        ws.deploy("ep", "m:1")
        background = BackgroundServer(make_server(settings, "127.0.0.1", 0))
        port = background.start()
        try:
            url = f"http://127.0.0.1:{port}"
            admin_key = read_credentials(settings)
            assert admin_key and settings.credentials_path.stat().st_mode & 0o777 == 0o600
            with modelyard.Client(url, settings=settings) as client:
                assert client.ready()
                row = client.endpoint("ep")["example"]["inputs"][0]
                answer = client.predict("ep", [row])
                assert answer["model"] == {"name": "m", "version": 1}
                with pytest.raises(modelyard.ServerError) as info:
                    client.predict("ep", [{"nope": 1}])
                assert info.value.status == 422
                ws.train("d", "target", "random_forest", "m", seed=3)
                ws.deploy("ep", "m:2")
                deadline = time.monotonic() + 20
                while client.predict("ep", [row])["model"]["version"] != 2:
                    assert time.monotonic() < deadline, "deploy not picked up"
                    time.sleep(0.1)
            metrics = httpx.get(f"{url}/metrics", headers={"X-API-Key": admin_key}).text
            assert 'modelyard_requests_total{endpoint="ep",status="200",version="2"}' in metrics
        finally:
            background.stop()
    assert not background.thread.is_alive()


def _batch_rows(url: str, key: str) -> tuple[float, float]:
    """(rows, model calls) the ``ep`` endpoint's batcher has made so far, from /metrics."""
    text = httpx.get(f"{url}/metrics", headers={"X-API-Key": key}).text
    totals = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in totals:
            if line.startswith(f"modelyard_batch_rows_{part}{{") and 'endpoint="ep"' in line:
                totals[part] += float(line.rsplit(" ", 1)[1])
    return totals["sum"], totals["count"]


def test_batching_is_configured_per_endpoint_under_the_issue_names(tmp_path: Path) -> None:
    """``max_batch_size`` / ``max_wait_ms`` (aliases of batch_max_rows / batch_max_wait_ms)
    change how a running server gathers concurrent requests of one endpoint."""
    settings = Settings(home=tmp_path / "home", refresh_interval_s=0.05)
    with modelyard.Workspace(settings) as ws:
        ws.add_dataset(write_quickstart_csv(tmp_path / "d.csv", n_rows=300), "d")
        ws.train("d", "target", "logistic_regression", "m")
        ws.deploy("ep", "m:1")
    background = BackgroundServer(make_server(settings, "127.0.0.1", 0, quiet=True))
    port = background.start()
    url, key = f"http://127.0.0.1:{port}", read_credentials(settings)
    auth = {"Authorization": f"Bearer {key}"}

    def configure(body: dict[str, object], stored: dict[str, object]) -> None:
        r = httpx.post(f"{url}/v1/endpoints/ep/config", json=body, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["config"] == stored  # kept under the canonical names
        time.sleep(0.5)  # ten refresh ticks: the served batcher now has the config

    async def burst(row: dict[str, object], n: int) -> None:
        async with httpx.AsyncClient(base_url=url, headers=auth) as client:
            answers = await asyncio.gather(
                *[client.post("/v1/endpoints/ep/predict", json={"inputs": [row]}) for _ in range(n)]
            )
        assert all(a.status_code == 200 for a in answers)

    try:
        row = httpx.get(f"{url}/v1/endpoints/ep", headers=auth).json()["example"]["inputs"][0]
        both = httpx.post(
            f"{url}/v1/endpoints/ep/config",
            json={"max_batch_size": 4, "batch_max_rows": 8},
            headers=auth,
        )
        assert both.status_code == 422 and "not both" in both.json()["error"]["message"]
        assert httpx.get(f"{url}/v1/endpoints/ep", headers=auth).json()["config"] == {}

        configure({"max_batch_size": 1}, {"batch_max_rows": 1})
        rows0, calls0 = _batch_rows(url, key)
        asyncio.run(burst(row, 30))
        rows1, calls1 = _batch_rows(url, key)
        assert rows1 - rows0 == 30 and calls1 - calls0 == 30  # one row per model call

        # A wait to fill: 30 requests sent at once share a few calls of up to 16 rows.
        configure(
            {"max_batch_size": 16, "max_wait_ms": 200},
            {"batch_max_rows": 16, "batch_max_wait_ms": 200.0},
        )
        asyncio.run(burst(row, 30))
        rows2, calls2 = _batch_rows(url, key)
        assert rows2 - rows1 == 30 and 2 <= calls2 - calls1 < 30
    finally:
        background.stop()
    assert not background.thread.is_alive()
