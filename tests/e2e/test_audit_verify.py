"""``GET /v1/audit/verify`` and ``modelyard audit verify`` report tampering, the
truncated tail included, and pass again after a secret rotation."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from helpers import admin_client
from modelyard.cli.main import app
from modelyard.settings import Settings
from modelyard.store.orm import AuditRow, AuditSealRow
from modelyard.store.store import open_store


def _tamper(home: Path, statement: sa.Executable) -> None:
    store = open_store(Settings(home=home))
    try:
        with store.session() as session:
            session.execute(statement)
    finally:
        store.close()


def _cli(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, list(args), env={"MODELYARD_HOME": str(home), "COLUMNS": "300", "NO_COLOR": "1"}
    )
    return result.exit_code, result.output


def test_http_verify_reports_a_deleted_newest_entry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with admin_client(home) as client:
        for name in ("a", "b", "c"):
            assert client.post("/v1/keys", json={"name": name, "role": "viewer"}).status_code == 201
        intact = client.get("/v1/audit/verify").json()
        assert intact["intact"] is True and intact["problems"] == []
        last = intact["seal"]["last_id"]
        assert intact["seal"]["count"] == intact["entries"]
        _tamper(home, sa.delete(AuditRow).where(AuditRow.id == last))
        report = client.get("/v1/audit/verify").json()
    assert report["intact"] is False
    assert report["problems"] == [
        f"the newest entries after id {last - 1} were deleted (the seal names id {last})"
    ]


def test_cli_verify_exits_non_zero_on_any_problem(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("a", "b"):
        code, out = _cli(home, "keys", "create", "--role", "viewer", "--name", name, "-q")
        assert code == 0, out
    code, out = _cli(home, "audit", "verify")
    assert code == 0 and "audit log intact: 2 entries, sealed at entry 2" in out
    _tamper(home, sa.delete(AuditSealRow))
    code, out = _cli(home, "audit", "verify")
    assert code == 1 and "the audit seal is missing" in out


def test_cli_rotation_keeps_the_log_verifiable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out = _cli(home, "keys", "create", "--role", "viewer", "--name", "a", "-q")
    assert code == 0, out
    code, out = _cli(home, "keys", "rotate-secret", "--yes")
    assert code == 0 and "audit log re-chained and resealed" in out, out
    code, out = _cli(home, "audit", "verify")
    assert code == 0 and "audit log intact: 2 entries" in out, out
    _tamper(home, sa.update(AuditRow).where(AuditRow.id == 1).values(actor="mallory"))
    code, out = _cli(home, "keys", "rotate-secret", "--yes")
    assert code == 6 and "the audit log does not verify" in out, out
    code, out = _cli(home, "keys", "rotate-secret", "--yes", "--accept-audit-problems")
    assert code == 0, out
    code, out = _cli(home, "audit", "verify")
    assert code == 0, out
