"""The whole path through a real uvicorn server on an ephemeral loopback port."""

from __future__ import annotations

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
