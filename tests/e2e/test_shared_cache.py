"""With MODELYARD_CACHE_STORAGE=redis://…, servers (or --workers) share one response
cache: an answer cached by one is a hit on the other, never across versions, and a
Redis outage only turns the cache off."""

from __future__ import annotations

import uuid
from pathlib import Path

from starlette.testclient import TestClient

from helpers import admin_client, redis_url, two_logreg_versions
from modelyard.settings import Settings
from modelyard.workspace import Workspace


def _cache_counts(client: TestClient, endpoint: str) -> dict[str, float]:
    counts = {"hit": 0.0, "miss": 0.0, "error": 0.0}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("modelyard_cache_requests_total{") and f'endpoint="{endpoint}"' in line:
            for result in counts:
                if f'result="{result}"' in line:
                    counts[result] += float(line.rsplit(" ", 1)[1])
    return counts


def test_two_servers_share_one_redis_cache(tmp_path: Path) -> None:
    url = redis_url()
    endpoint = f"ep{uuid.uuid4().hex[:8]}"  # keys are per endpoint: no other run's entries
    home = two_logreg_versions(tmp_path / "home", endpoint)
    shared = {"cache_storage": url, "cache_ttl_s": 60.0, "refresh_interval_s": 0.05}
    with admin_client(home, **shared) as first, admin_client(home, **shared) as second:
        row = first.get(f"/v1/endpoints/{endpoint}").json()["example"]["inputs"][0]
        body = {"inputs": [row]}
        one = first.post(f"/v1/endpoints/{endpoint}/predict", json=body)
        assert one.status_code == 200
        assert _cache_counts(first, endpoint) == {"hit": 0, "miss": 1, "error": 0}
        two = second.post(f"/v1/endpoints/{endpoint}/predict", json=body)
        assert two.status_code == 200
        assert _cache_counts(second, endpoint) == {"hit": 1, "miss": 0, "error": 0}
        assert two.json()["predictions"] == one.json()["predictions"]
        assert two.json()["probabilities"] == one.json()["probabilities"]
        assert two.json()["model"] == {"name": "m", "version": 1}
        assert two.json()["request_id"] != one.json()["request_id"]

        # m:2 is the same artifact, yet its answers are its own: a miss, then served as 2.
        with Workspace(Settings(home=home)) as ws:
            ws.deploy(endpoint, "m:2")
        for client in (first, second):
            for _ in range(200):
                answer = client.post(f"/v1/endpoints/{endpoint}/predict", json=body).json()
                if answer["model"]["version"] == 2:
                    break
            assert answer["model"] == {"name": "m", "version": 2}
        assert _cache_counts(first, endpoint)["miss"] >= 2


def test_a_redis_outage_only_turns_the_cache_off(tmp_path: Path) -> None:
    home = two_logreg_versions(tmp_path / "home", "ep")
    down = {"cache_storage": "redis://127.0.0.1:1/0", "cache_ttl_s": 60.0}
    with admin_client(home, **down) as client:
        row = client.get("/v1/endpoints/ep").json()["example"]["inputs"][0]
        for _ in range(3):
            r = client.post("/v1/endpoints/ep/predict", json={"inputs": [row]})
            assert r.status_code == 200 and r.json()["predictions"]
        counts = _cache_counts(client, "ep")
        assert counts["hit"] == 0 and counts["error"] >= 3
