"""Schemathesis fuzzes every documented operation of a real server: never a 5xx."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from helpers import fitted_logreg
from modelyard.security.credentials import read_credentials
from modelyard.serving.server import BackgroundServer, make_server
from modelyard.settings import Settings
from modelyard.workspace import Workspace

MAX_EXAMPLES = 25


@pytest.mark.slow
def test_no_operation_answers_5xx(tmp_path: Path) -> None:
    cfg = Settings(home=tmp_path / "home", rate_limit_per_key="100000/second")
    with Workspace(cfg) as ws:
        model, x, _ = fitted_logreg()
        ws.register_model(model, "ep", input_example=x, target_example=(x["x1"] > 0).astype(int))
        ws.deploy("ep", "ep:1")
    background = BackgroundServer(make_server(cfg, "127.0.0.1", 0, quiet=True))
    port = background.start()
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {read_credentials(cfg)}"}
        document = httpx.get(f"{base}/openapi.json", headers=headers).json()
        schema = schemathesis.openapi.from_dict(document)
        failures: list[str] = []
        seen: list[int] = []
        session = httpx.Client(base_url=base, headers=headers, timeout=10)
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def fuzz(case: schemathesis.Case) -> None:
                kwargs = case.as_transport_kwargs(base_url=base, headers=headers)
                response = session.request(
                    kwargs["method"],
                    kwargs["url"],
                    headers=kwargs.get("headers"),
                    params=kwargs.get("params"),
                    json=kwargs.get("json"),
                    content=kwargs.get("data") if isinstance(kwargs.get("data"), bytes) else None,
                )
                seen.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.operation.label}: {response.status_code} {response.text[:200]}"
                    )

            fuzz()
        session.close()
    finally:
        background.stop()
    assert failures == []
    assert len(seen) > 100 and len(set(seen)) > 3, seen
