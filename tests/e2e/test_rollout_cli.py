"""``modelyard rollout approve|fallback|start`` and ``modelyard rollback`` in-process.

The CLI calls the services directly (like every rollout command); these check the
messages, the exit codes and what was recorded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from helpers import fitted_logreg, two_logreg_versions
from modelyard.cli.main import app
from modelyard.deployments.rollout import RolloutService
from modelyard.settings import Settings
from modelyard.workspace import Workspace


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = two_logreg_versions(tmp_path_factory.mktemp("rollout-cli") / "home", "ep")
    with Workspace(Settings(home=home)) as ws:
        model, x, _ = fitted_logreg(seed=1)
        ws.register_model(model, "m", input_example=x, target_example=(x["x1"] > 0).astype(int))
    return home  # ep serves m:1; m:2 and m:3 are compatible versions


@pytest.fixture
def home(base_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    monkeypatch.setenv("MODELYARD_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    return home


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def text(result: Result) -> str:
    """Output with rich's wrapping undone."""
    return " ".join(result.output.split())


def test_approve_by_another_principal_with_a_reason(home: Path) -> None:
    with Workspace(Settings(home=home)) as ws:
        RolloutService(ws.store, ws.registry).start(
            "ep", "m:2", actor="alice", require_approval=True
        )
    result = cli("rollout", "approve", "ep", "--reason", "checked the report")
    assert result.exit_code == 0, result.output
    assert "approved; ep now serves m:2" in text(result)
    with Workspace(Settings(home=home)) as ws:
        service = RolloutService(ws.store, ws.registry)
        status = service.status("ep")
        assert status["rollout"]["approved_by"] == ws.actor
        approved = next(e for e in status["rollout"]["events"] if e["kind"] == "approved")
        assert approved["reason"] == "full promotion approved: checked the report"
    again = cli("rollout", "approve", "ep")
    assert again.exit_code == 5 and "nothing to approve" in text(again)


def test_approving_your_own_rollout_is_refused(home: Path) -> None:
    started = cli("rollout", "start", "ep", "-m", "m:2", "--require-approval")
    assert started.exit_code == 0, started.output
    assert "waits for approval by a principal other than" in text(started)
    own = cli("rollout", "approve", "ep")
    assert own.exit_code == 2, own.output
    assert "another principal must approve it" in text(own)
    with Workspace(Settings(home=home)) as ws:
        status = RolloutService(ws.store, ws.registry).status("ep")
    assert status["serving"] == "m:1" and status["rollout"]["waiting_for"] == "approval"


def test_fallback_then_switching_to_it_says_it_was_cleared(home: Path) -> None:
    wrong = cli("rollout", "fallback", "ep", "--model", "m:1")
    assert wrong.exit_code == 2 and "fallback m:1 is the primary version" in text(wrong)
    both = cli("rollout", "fallback", "ep", "--model", "m:2", "--clear")
    assert both.exit_code == 2 and "either --model NAME:VERSION or --clear" in text(both)

    set_ = cli("rollout", "fallback", "ep", "--model", "m:2", "--reason", "known good")
    assert set_.exit_code == 0, set_.output
    assert "ep: fallback m:2" in text(set_)
    switched = cli("rollout", "start", "ep", "-m", "m:2")
    assert switched.exit_code == 0, switched.output
    out = text(switched)
    assert "ep → m:2" in out
    assert "m:2 was the fallback and now is the primary, so ep has no fallback" in out
    status = cli("rollout", "status", "ep")
    assert status.exit_code == 0 and "fallback:" not in status.output
    history = cli("rollout", "history", "ep", "--json")
    assert "fallback m:2 cleared: it is now the primary" in history.output

    cli("rollout", "fallback", "ep", "--model", "m:3")
    kept = cli("rollout", "start", "ep", "-m", "m:1")
    assert kept.exit_code == 0 and "no fallback" not in text(kept)
    cli("rollout", "fallback", "ep", "--clear")
    cli("rollout", "fallback", "ep", "--model", "m:2")
    back = cli("rollback", "ep")
    assert back.exit_code == 0, back.output
    assert "rolled back to m:2" in text(back) and "m:2 was the fallback" in text(back)
