"""``modelyard datasets add`` and ``POST /v1/datasets/{name}/versions``: profile on add."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from helpers import admin_client
from modelyard.cli.main import app
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.spec import spec_template


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def bad_version(csv: Path, out: Path) -> Path:
    """The quickstart table with two unknown regions, a leaking column, a dropped
    column and two duplicate rows."""
    frame = pd.read_csv(csv)
    frame.loc[[3, 7], "region"] = "mars"
    frame["leak"] = frame["target"] * 2.0
    frame = pd.concat([frame, frame.iloc[[10, 11]]], ignore_index=True)
    frame.drop(columns=["channel"]).to_csv(out, index=False)
    return out


def versions(cli: CliRunner) -> list[int]:
    listed = cli.invoke(app, ["datasets", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    return [v["version"] for v in json.loads(listed.output)]


def test_add_prints_a_summary_and_stores_the_profile(cli: CliRunner, tmp_path: Path) -> None:
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=400)
    added = cli.invoke(app, ["datasets", "add", str(csv), "--name", "loans"])
    assert added.exit_code == 0, added.output
    assert "dataset loans version 1 stored: 400 rows, 12 columns" in added.output
    assert "nulls: " in added.output and "balance" in added.output
    assert "warnings: none" in added.output
    again = cli.invoke(app, ["datasets", "add", str(csv), "--name", "loans", "--json"])
    assert again.exit_code == 0, again.output
    body = json.loads(again.output)
    assert body["version"] == 1 and body["row_count"] == 400 and body["created"] is False
    assert body["summary"]["rows"] == 400 and body["summary"]["warnings"] == []
    assert body["expectations"] is None and body["schema_drift_from_previous"] is None
    age = next(c for c in body["columns"] if c["name"] == "age")
    assert age["profile"]["histogram"]["counts"] and age["profile"]["quantiles"]["0.5"]
    assert versions(cli) == [1]


def test_a_violation_is_reported_and_exits_1_but_the_version_is_stored(
    cli: CliRunner, tmp_path: Path
) -> None:
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=500)
    assert cli.invoke(app, ["init"]).exit_code == 0  # modelyard.yaml: dataset quickstart
    first = cli.invoke(app, ["datasets", "add", str(csv), "--name", "quickstart"])
    assert first.exit_code == 0, first.output
    assert "all expectations met" in first.output
    bad = bad_version(csv, tmp_path / "v2.csv")
    result = cli.invoke(app, ["datasets", "add", str(bad), "--name", "quickstart"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "dataset quickstart version 2 stored: 502 rows" in out
    assert (
        "region: 2 rows not in allowed [north, south, east, west, central] (e.g. rows 3, 7)" in out
    )
    assert "2 duplicate rows repeat an earlier row" in out
    assert "leakage hint: leak: correlated_with_target" in out
    assert "schema drift from version 1: removed column channel (string)" in out
    assert "schema drift from version 1: new categories in region: mars" in out
    assert "quickstart:2 violates the declared expectations; the version is stored" in out
    assert versions(cli) == [1, 2]
    as_json = cli.invoke(app, ["datasets", "add", str(bad), "--name", "quickstart", "--json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.output)
    assert body["created"] is False and body["expectations"]["passed"] is False
    (violation,) = body["expectations"]["violations"]
    assert (violation["column"], violation["count"], violation["examples"]) == ("region", 2, [3, 7])
    # datasets check keeps agreeing with add
    checked = cli.invoke(app, ["datasets", "check", "quickstart:2"])
    assert checked.exit_code == 1 and "region: 2 rows not in allowed" in checked.output


def test_an_explicit_spec_and_target(cli: CliRunner, tmp_path: Path) -> None:
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=300)
    spec = yaml.safe_load(spec_template())
    spec["data"]["dataset"] = "loans"
    spec["expectations"] = {"age": {"max": 30}}
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "loans.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = cli.invoke(app, ["datasets", "add", str(csv), "-n", "loans", "--spec", str(path)])
    assert result.exit_code == 1, result.output
    assert "age: " in result.output and "above max 30" in result.output
    leak = pd.read_csv(csv).assign(copy=lambda f: f["target"])
    leak.to_csv(tmp_path / "leak.csv", index=False)
    hinted = cli.invoke(
        app, ["datasets", "add", str(tmp_path / "leak.csv"), "-n", "other", "--target", "target"]
    )
    assert hinted.exit_code == 0, hinted.output
    assert "leakage hint: copy: identical_to_target" in hinted.output


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--spec", "missing.yaml"], 4, "spec file missing.yaml not found"),
        (["--spec", "broken.yaml"], 2, "broken.yaml"),
        (["--target", "nope"], 2, "target column 'nope' is not a column of the table"),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(
    cli: CliRunner, tmp_path: Path, extra: list[str], code: int, message: str
) -> None:
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=100)
    (tmp_path / "broken.yaml").write_text("task: binary_classification\ndata: [oops\n")
    result = cli.invoke(app, ["datasets", "add", str(csv), "--name", "d", *extra])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert versions(cli) == []


def test_an_invalid_spec_in_the_directory_stops_the_add(cli: CliRunner, tmp_path: Path) -> None:
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=100)
    spec = yaml.safe_load(spec_template())
    spec["expectations"] = {"age": {"min": 10, "max": 5}}
    (tmp_path / "modelyard.yaml").write_text(yaml.safe_dump(spec))
    result = cli.invoke(app, ["datasets", "add", str(csv), "--name", "quickstart"])
    assert result.exit_code == 2, result.output
    assert "expectations.age" in result.output and "greater than max" in result.output
    assert versions(cli) == []


def test_the_http_route_returns_the_same_summary(tmp_path: Path) -> None:
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=300)
    bad = bad_version(csv, tmp_path / "v2.csv")
    spec = tmp_path / "modelyard.yaml"
    spec.write_text(spec_template())

    def upload(path: Path) -> dict[str, object]:
        return {"format": "csv", "data_base64": base64.b64encode(path.read_bytes()).decode()}

    with admin_client(tmp_path / "home") as client:
        plain = client.post("/v1/datasets/loans/versions", json=upload(csv))
        assert plain.status_code == 201, plain.text
        body = plain.json()
        assert body["version"] == 1 and body["created"] is True
        assert body["summary"]["rows"] == 300 and body["summary"]["warnings"] == []
        assert body["expectations"] is None
    with admin_client(tmp_path / "home", spec_file=spec) as client:
        first = client.post("/v1/datasets/quickstart/versions", json=upload(csv))
        assert first.status_code == 201, first.text
        assert first.json()["expectations"]["passed"] is True
        second = client.post("/v1/datasets/quickstart/versions", json=upload(bad))
        assert second.status_code == 201, second.text
        body = second.json()
        assert body["version"] == 2 and body["expectations"]["passed"] is False
        assert body["expectations"]["violations"][0]["examples"] == [3, 7]
        assert body["summary"]["duplicate_rows"] == 2
        assert [h["column"] for h in body["summary"]["leakage"]] == ["leak"]
        assert (
            "schema drift from version 1: removed column channel (string)"
            in (body["summary"]["warnings"])
        )
        assert body["schema_drift_from_previous"]["removed"][0]["name"] == "channel"
