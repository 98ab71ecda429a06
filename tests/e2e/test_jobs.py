"""Durable jobs end to end: HTTP on the in-process app (its runner included), real
worker processes, a SIGKILLed worker, cancellation, webhooks and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from typer.testing import CliRunner

from helpers import Receiver, Through, admin_client, fitted_logreg, small_frame
from modelyard.cli.main import app as cli_app
from modelyard.client import Client, ServerError
from modelyard.data.datasets import DatasetService
from modelyard.data.quickstart import generate_quickstart_frame
from modelyard.domain.signature import example_row
from modelyard.jobs.runner import JobRunner
from modelyard.jobs.service import JobService
from modelyard.jobs.worker import run_claimed
from modelyard.security.webhook_signing import verify
from modelyard.settings import Settings
from modelyard.store.orm import JobRow
from modelyard.store.store import Store, open_store
from modelyard.workspace import Workspace

FAST = {"jobs_poll_interval_s": 0.05, "refresh_interval_s": 0.05}


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Datasets ``qs`` (quickstart churn), ``xy`` (x1, x2, y) and ``x1only``; model
    ``m:1`` (x1, x2; lineage ``xy:1``) served by endpoint ``ep``."""
    home = tmp_path_factory.mktemp("jobs") / "home"
    with Workspace(Settings(home=home)) as ws:
        ws.add_dataset(generate_quickstart_frame(300, seed=3), "qs")
        x, y = small_frame(n=120, seed=2)
        ws.add_dataset(x.assign(y=y), "xy")
        ws.add_dataset(x[["x1"]], "x1only")
        model, frame, signature = fitted_logreg()
        ws.registry.register(
            model,
            "m",
            signature=signature,
            dataset=("xy", 1),  # lineage: the drift reference and compile verification rows
            example=example_row(signature, frame),
        )
        ws.deploy("ep", "m:1")
    return home


@pytest.fixture
def home(base_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    return home


def _jobs(home: Path) -> list[tuple[str, str]]:
    engine = sa.create_engine(Settings(home=home).resolved_database_url)
    try:
        with engine.connect() as conn:
            return [(r.id, r.status) for r in conn.execute(sa.select(JobRow.id, JobRow.status))]
    finally:
        engine.dispose()


def _until_finished(client: TestClient, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}: {job}"
        time.sleep(0.1)


def test_a_train_job_over_http_registers_a_model_and_announces_it(home: Path) -> None:
    receiver = Receiver()
    try:
        with admin_client(
            home,
            outbound_allowlist=["127.0.0.1/32"],
            webhook_interval_s=0.05,
            **FAST,
        ) as client:
            hook = client.post(
                "/v1/webhooks",
                json={
                    "name": "jobs",
                    "url": f"http://127.0.0.1:{receiver.port}/hook",
                    "event_types": ["job.succeeded"],
                },
            )
            assert hook.status_code == 201, hook.text
            submitted = client.post(
                "/v1/jobs",
                json={
                    "kind": "train",
                    "params": {"dataset": "qs", "target": "target", "name": "churn", "seed": 1},
                },
            )
            assert submitted.status_code == 202, submitted.text
            job = submitted.json()
            assert job["status"] == "queued" and job["kind"] == "train"
            assert job["params"]["dataset"] == "qs:1" and job["params"]["model"] == (
                "logistic_regression"
            )
            assert job["links"]["self"] == f"/v1/jobs/{job['id']}"
            assert submitted.headers["location"] == job["links"]["self"]
            assert job["id"] in [j["id"] for j in client.get("/v1/jobs").json()["jobs"]]

            done = _until_finished(client, job["id"])
            assert done["status"] == "succeeded", done
            assert done["attempts"] == 1 and done["result"]["model"] == "churn:1"
            assert done["result"]["metrics"]["roc_auc"] > 0.5
            model = client.get("/v1/models/churn").json()
            assert model["versions"][0]["run_id"] == done["result"]["run_id"]

            deadline = time.monotonic() + 10
            while not receiver.received:
                assert time.monotonic() < deadline, "job.succeeded was never delivered"
                time.sleep(0.05)
            deliveries = client.get("/v1/webhooks/deliveries").json()["deliveries"]
            assert [d["event_type"] for d in deliveries] == ["job.succeeded"]
        headers, body = receiver.received[0]
        verify(hook.json()["secret"], headers, body)
        event = json.loads(body)
        assert event["type"] == "job.succeeded" and event["data"]["id"] == job["id"]
        assert event["data"]["result"]["model"] == "churn:1"
        assert "lease_owner" not in event["data"]
    finally:
        receiver.close()


def test_submit_is_idempotent_and_bad_input_queues_nothing(home: Path) -> None:
    with admin_client(home, jobs_enabled=False) as client:
        body = {"kind": "batch_predict", "params": {"model": "m:1", "dataset": "xy"}}
        key = {"Idempotency-Key": "score-xy"}
        first = client.post("/v1/jobs", json=body, headers=key)
        assert first.status_code == 202, first.text
        replay = client.post("/v1/jobs", json=body, headers=key)
        assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        other = {"kind": "batch_predict", "params": {"model": "m:1", "dataset": "qs"}}
        changed = client.post("/v1/jobs", json=other, headers=key)
        assert changed.status_code == 422
        assert changed.json()["error"]["code"] == "idempotency_mismatch"
        assert _jobs(home) == [(first.json()["id"], "queued")]

        bad = [
            ({"kind": "deploy", "params": {}}, "kind"),
            ({"kind": "train", "params": {"dataset": "qs"}}, "params.target"),
            ({"kind": "train", "params": {"dataset": "qs", "target": "tgt"}}, "params.target"),
            ({"kind": "train", "params": {"dataset": "nope", "target": "y"}}, "params.dataset"),
            ({"kind": "train", "params": {"dataset": "qs", "target": "y", "seed": "x"}},
             "params.seed"),
            ({"kind": "compile", "params": {"model": "m:7"}}, "params.model"),
            ({"kind": "batch_predict", "params": {"model": "m:1", "dataset": "xy", "lr": 1}},
             "params.lr"),
            ({"kind": "drift_report", "params": {"endpoint": "ep", "window": "1y"}},
             "params.window"),
            ({"kind": "drift_report", "params": {"endpoint": "ep"}, "extra": 1}, "extra"),
        ]  # fmt: skip
        for payload, field in bad:
            r = client.post("/v1/jobs", json=payload)
            assert r.status_code == 422, (payload, r.text)
            assert r.json()["error"]["field"] == field, (payload, r.json())
        assert len(_jobs(home)) == 1

        job_id = first.json()["id"]
        missing = client.get("/v1/jobs/job_0123")
        assert missing.status_code == 404 and "job_0123" in missing.json()["error"]["message"]
        assert client.get("/v1/jobs?status=done").status_code == 422
        assert client.get("/v1/jobs?kind=batch_predict").json()["jobs"][0]["id"] == job_id
        assert client.get("/v1/jobs?status=running").json()["jobs"] == []
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel", json={})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = client.post(f"/v1/jobs/{job_id}/cancel", json={})
        assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]
        audit = [e["action"] for e in client.get("/v1/audit").json()["entries"]]
        assert audit.count("job.submit") == 1 and audit.count("job.cancel") == 1

        key = client.headers["Authorization"].removeprefix("Bearer ")
        with Client("http://localhost", api_key=key, transport=Through(client)) as sdk:
            job = sdk.submit_job("drift_report", {"endpoint": "ep"}, idempotency_key="d-1")
            assert sdk.submit_job("drift_report", {"endpoint": "ep"}, idempotency_key="d-1") == job
            assert job["params"] == {"endpoint": "ep", "window": "24h"}
            assert sdk.job(job["id"])["status"] == "queued"
            assert [j["id"] for j in sdk.jobs(status="queued", kind="drift_report")] == [job["id"]]
            assert sdk.cancel_job(job["id"])["status"] == "cancelled"
            assert sdk.wait_for_job(job["id"], timeout=1)["status"] == "cancelled"
            with pytest.raises(ServerError) as exc:
                sdk.submit_job("drift_report", {"endpoint": "nope"})
            assert (exc.value.status, exc.value.field) == (422, "params.endpoint")


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store(Settings(home=home))
    yield s
    s.close()


def _started(runner: JobRunner, job_id: str) -> int:
    runner.tick()
    assert job_id in runner.children, runner.children
    return runner.children[job_id].pid


def _worker_of(parent: int) -> int | None:
    """The pid of a ``modelyard.jobs.worker`` child of ``parent``, if one runs."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"modelyard.jobs.worker" in cmdline:
            return int(entry.name)
    return None


def _modelyard(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MODELYARD_HOME": str(home),
        "MODELYARD_JOBS_POLL_INTERVAL_S": "0.05",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "modelyard", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker in /proc")
def test_cli_wait_and_work_once_survive_a_sigkilled_worker(home: Path, store: Store) -> None:
    """`jobs submit --wait` and `jobs work --once` as real processes: the worker is
    SIGKILLed mid-job, the job goes back to the queue, the second attempt completes it
    and the waiting command reports it."""
    waiting = _modelyard(
        home, "jobs", "submit", "batch_predict", "-p", "model=m:1", "-p", "dataset=xy",
        "-p", "chunk_rows=50", "--wait", "--timeout", "120", "--json",
    )  # fmt: skip
    working: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 60
        while not _jobs(home):
            assert waiting.poll() is None, waiting.communicate()
            assert time.monotonic() < deadline, "the job was never queued"
            time.sleep(0.05)
        working = _modelyard(home, "jobs", "work", "--once")
        worker = None
        while worker is None:
            assert working.poll() is None, working.communicate()
            assert time.monotonic() < deadline, "no worker started"
            worker = _worker_of(working.pid)
            time.sleep(0.02)
        [(job_id, status)] = _jobs(home)
        assert status == "running"
        os.kill(worker, signal.SIGKILL)
        out, err = working.communicate(timeout=120)
        waited, waited_err = waiting.communicate(timeout=60)
    finally:
        for process in (waiting, working):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert working.returncode == 0, (out, err)
    assert job_id in out and "succeeded" in out
    assert f"worker {worker} ended with signal SIGKILL" in err  # the retry was logged
    assert waiting.returncode == 0, (waited, waited_err)
    shown = json.loads(waited)
    assert (shown["id"], shown["status"], shown["attempts"]) == (job_id, "succeeded", 2)
    assert shown["error"] is None and shown["created_by"].startswith("local:")
    assert shown["result"]["output"] == "xy-predictions:1"
    assert shown["result"]["rows"] == 120 and shown["result"]["chunks"] == 3
    scored = DatasetService(store).load_frame("xy-predictions")[1]
    assert len(scored) == 120 and set(scored["prediction"]) <= {0, 1}
    assert {"x1", "x2", "y", "probability_0", "probability_1"} <= set(scored.columns)


def test_cancel_a_running_job_and_stop_requeues(home: Path, store: Store) -> None:
    settings = Settings(home=home, **FAST)
    service = JobService(store)
    params = {"model": "m:1", "dataset": "xy"}
    running = service.submit("batch_predict", params, actor="tester")
    runner = JobRunner(store, settings)
    try:
        _started(runner, running.id)
        flagged = service.cancel(running.id, actor="tester")
        assert flagged.status == "running" and flagged.cancel_requested
        runner.tick()  # stops the worker
        runner.children[running.id].process.wait(30)
        runner.tick()  # records the cancellation
        assert service.get(running.id).status == "cancelled"

        interrupted = service.submit("batch_predict", params, actor="tester")
        _started(runner, interrupted.id)
    finally:
        runner.stop()  # the server's shutdown: the worker stops, its job is queued again
    again = service.get(interrupted.id)
    assert (again.status, again.attempts, again.lease_owner) == ("queued", 0, None)


def test_drift_report_compile_and_a_raising_job_as_a_worker_runs_them(
    home: Path, store: Store
) -> None:
    """In this process (each worker start-up costs seconds), through the worker's code."""
    settings = Settings(home=home)
    service = JobService(store)
    with admin_client(home, jobs_enabled=False, ship_in_process=True) as client:
        rows = [{"x1": float(i % 7) - 3, "x2": 0.5} for i in range(30)]
        assert client.post("/v1/endpoints/ep/predict", json={"inputs": rows}).status_code == 200
    drift = service.submit("drift_report", {"endpoint": "ep", "window": "1h"}, actor="tester")
    compile_ = service.submit("compile", {"model": "m:latest"}, actor="tester")
    assert compile_.params["model"] == "m:1"
    raising = service.submit("batch_predict", {"model": "m:1", "dataset": "x1only"}, actor="t")
    for job in (drift, compile_, raising):
        claimed = service.claim_next("here", 60)
        assert claimed is not None and claimed.id == job.id
        assert run_claimed(store, settings, job.id, "here") is not None
    assert run_claimed(store, settings, drift.id, "here") is None  # finished: not run again
    report = service.get(drift.id)
    assert report.status == "succeeded", report.error
    assert report.result is not None and report.result["window_rows"] == 30
    assert report.result["verdict"] in ("ok", "drift", "insufficient_data")
    page = store.artifacts.get_bytes(report.result["report"]["digest"])
    assert page.startswith(b"<!DOCTYPE html>") or b"<html" in page[:200]
    compiled = service.get(compile_.id)
    assert compiled.status == "succeeded", compiled.error
    assert compiled.result is not None and compiled.result["verified"] is True
    assert compiled.result["compiled_digest"]
    failed = service.get(raising.id)  # the job's own error: failed at once, not retried
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.error is not None and "missing column 'x2'" in failed.error
    assert failed.result is None


def test_cli_submit_show_list_cancel_and_bad_input(
    home: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_HOME", str(home))
    queued = cli.invoke(
        cli_app, ["jobs", "submit", "batch_predict", "-p", "model=m:1", "-p", "dataset=xy"]
    )
    assert queued.exit_code == 0, queued.output
    assert "queued job_" in queued.output
    job_id = queued.output.split()[1]
    shown = json.loads(cli.invoke(cli_app, ["jobs", "show", job_id, "--json"]).output)
    assert shown["status"] == "queued" and shown["params"]["output"] == "xy-predictions"
    assert job_id in cli.invoke(cli_app, ["jobs", "show", job_id]).output
    listed = json.loads(cli.invoke(cli_app, ["jobs", "list", "--json"]).output)
    assert [j["id"] for j in listed] == [job_id]
    table = cli.invoke(cli_app, ["jobs", "list", "--status", "queued"])
    assert table.exit_code == 0 and job_id in table.output
    assert cli.invoke(cli_app, ["jobs", "list", "--status", "done"]).exit_code == 2

    cancelled = cli.invoke(cli_app, ["jobs", "cancel", job_id])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    again = cli.invoke(cli_app, ["jobs", "cancel", job_id])
    assert again.exit_code == 5 and "already cancelled" in again.output
    missing = cli.invoke(cli_app, ["jobs", "show", "job_nope"])
    assert missing.exit_code == 4 and "job 'job_nope' not found" in missing.output
    idle = cli.invoke(cli_app, ["jobs", "work", "--once"])
    assert idle.exit_code == 0 and "no queued jobs" in idle.output

    bad = cli.invoke(cli_app, ["jobs", "submit", "train", "-p", "dataset=qs"])
    assert bad.exit_code == 2 and "params.target" in bad.output
    assert cli.invoke(cli_app, ["jobs", "submit", "train", "-p", "dataset"]).exit_code == 2
    assert cli.invoke(cli_app, ["jobs", "submit", "fit"]).exit_code == 2
    seed = cli.invoke(
        cli_app, ["jobs", "submit", "train", "-p", "dataset=qs", "-p", "target=target",
                  "-p", "seed=x"]
    )  # fmt: skip
    assert seed.exit_code == 2 and "params.seed" in seed.output
    assert [j for j in _jobs(home)] == [(job_id, "cancelled")]
