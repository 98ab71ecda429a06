"""``modelyard datasets show NAME[:VERSION]``: header, schema and the stored profile."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from modelyard.cli.main import app
from modelyard.data.datasets import schema_of
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.settings import Settings
from modelyard.store.orm import DatasetVersionRow
from modelyard.workspace import Workspace


def add(cli: CliRunner, path: Path, name: str = "quickstart") -> None:
    added = cli.invoke(app, ["datasets", "add", str(path), "--name", name])
    assert added.exit_code == 0, added.output


def show(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, ["datasets", "show", *args])


@pytest.fixture
def quickstart(cli: CliRunner, tmp_path: Path) -> Path:
    """Version 1: the quickstart table; version 2: the same plus a constant column."""
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=400)
    add(cli, csv)
    pd.read_csv(csv).assign(country="nl").to_csv(tmp_path / "v2.csv", index=False)
    add(cli, tmp_path / "v2.csv")
    return csv


def test_show_prints_the_header_schema_and_profile(cli: CliRunner, quickstart: Path) -> None:
    record = json.loads(show(cli, "quickstart:1", "--json").output)
    result = show(cli, "quickstart:1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "dataset quickstart version 1: 400 rows, 12 columns" in out
    assert record["digest"] in out and len(record["digest"]) == 64  # the full sha256
    assert "q.csv (csv, " in out and f"{record['created_at'][:10]}" in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    # schema: type, dtype, nullable, nulls (count and rate), distinct values
    balance = record["columns"][3]["profile"]
    assert balance["null_count"] > 0
    assert f"{balance['null_count']} ({balance['null_rate']:.1%})" in out
    assert "income" in out and "float64" in out
    # numeric columns: min, quantiles, max, mean, std and a histogram sparkline
    for label in ("p1", "p5", "p25", "p50", "p75", "p95", "p99", "mean", "std", "histogram"):
        assert f" {label} " in out, label
    age = record["columns"][0]["profile"]
    age_cells = [c.strip() for c in lines["age"].split("│")[1:-1]]
    assert age_cells[:4] == [
        "age",
        f"{age['min']:g}",
        f"{age['quantiles']['0.01']:g}",
        f"{age['quantiles']['0.05']:g}",
    ]
    assert any(ch in age_cells[-1] for ch in "▁▂▃▄▅▆▇█")
    # categorical columns: the most frequent values with their share and count
    top = record["columns"][6]["profile"]["top"][0]
    assert f"{top['value']} {top['frequency']:.1%} ({top['count']})" in lines["region"]
    # datetime columns and the table-level lines
    assert "signup_at" in out and "2023-" in out
    assert "nulls: " in out and "balance" in out
    assert "constant columns: none" in out
    assert "duplicate rows and leakage hints: not stored with the version" in out
    assert "`modelyard datasets check quickstart:1` computes them" in out


def test_show_without_a_version_is_the_latest(cli: CliRunner, quickstart: Path) -> None:
    result = show(cli, "quickstart")
    assert result.exit_code == 0, result.output
    assert "dataset quickstart version 2: 400 rows, 13 columns" in result.output
    assert "constant columns (one value or all null): country" in result.output
    assert json.loads(show(cli, "quickstart", "--json").output)["version"] == 2


def test_show_json_is_the_stored_record_with_its_profile(cli: CliRunner, quickstart: Path) -> None:
    result = show(cli, "quickstart:2", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    listed = json.loads(cli.invoke(app, ["datasets", "list", "--json"]).output)
    stored = next(v for v in listed if v["version"] == 2)
    assert {k: body[k] for k in stored} == stored  # every stored field, profiles included
    assert body["ref"] == "quickstart:2" and body["profile_stored"] is True
    age = next(c for c in body["columns"] if c["name"] == "age")
    assert age["profile"]["quantiles"]["0.5"] and age["profile"]["histogram"]["counts"]
    profile = body["profile"]
    assert profile["n_rows"] == 400 and profile["n_columns"] == 13
    assert profile["constant_columns"] == ["country"]
    assert profile["columns"]["age"] == age["profile"]
    assert profile["columns"]["region"]["top"][0]["frequency"] > 0


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("quickstart:abc", "dataset reference 'quickstart:abc': the version after ':' must be"),
        ("quickstart:0", "dataset reference 'quickstart:0': the version after ':' must be"),
        ("quickstart:", "the version after ':' must be a number >= 1"),
        ("quickstart:-1", "the version after ':' must be a number >= 1"),
        ("quickstart:1.0", "the version after ':' must be a number >= 1"),
        ("quickstart:²", "the version after ':' must be a number >= 1"),
        ("quickstart:1:2", "the version after ':' must be a number >= 1"),
        ("", "dataset reference '' has no name"),
        (":1", "dataset reference ':1' has no name"),
        ("bad name!", "invalid dataset 'bad name!'"),
    ],
)
def test_a_malformed_reference_is_an_error_not_the_latest(
    cli: CliRunner, quickstart: Path, ref: str, message: str
) -> None:
    for args in ([ref], [ref, "--json"]):
        result = show(cli, *args)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "version 2" not in result.output and "{" not in result.output
    # and `datasets check` parses references the same way
    checked = cli.invoke(app, ["datasets", "check", ref])
    assert checked.exit_code == 2 and message in checked.output


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "dataset 'nope' not found"),
        ("nope:1", "dataset 'nope' not found"),
        ("quickstart:3", "version 3 of dataset 'quickstart' not found"),
    ],
)
def test_an_unknown_dataset_or_version_is_not_found(
    cli: CliRunner, quickstart: Path, ref: str, message: str
) -> None:
    result = show(cli, ref)
    assert result.exit_code == 4, result.output
    assert message in result.output


def test_names_and_values_print_as_written(cli: CliRunner, tmp_path: Path) -> None:
    frame = pd.DataFrame({"[bold]x[/]": [1, 2, 3, 4], "label": ["[red]a", "b", "b", "b"]})
    frame.to_csv(tmp_path / "odd.csv", index=False)
    add(cli, tmp_path / "odd.csv", name="odd")
    result = show(cli, "odd")
    assert result.exit_code == 0, result.output
    assert "[bold]x[/]" in result.output
    assert "[red]a 25.0% (1)" in result.output and "b 75.0% (3)" in result.output


def test_a_version_stored_before_profiles_gets_one_computed(cli: CliRunner, tmp_path: Path) -> None:
    add(cli, write_quickstart_csv(tmp_path / "q.csv", n_rows=200))
    with Workspace(Settings(home=tmp_path / "home")) as ws:
        dv = ws.datasets.get("quickstart", 1)
        with ws.store.session() as session:
            row = session.query(DatasetVersionRow).one()
            row.columns = schema_of(dv)  # as written before profiles were stored
    result = show(cli, "quickstart:1")
    assert result.exit_code == 0, result.output
    assert "its profile was computed from the data now" in result.output
    assert " p50 " in result.output and "north" in result.output
    body = json.loads(show(cli, "quickstart:1", "--json").output)
    assert body["profile_stored"] is False and "profile" not in body["columns"][0]
    assert body["profile"]["columns"]["age"]["quantiles"]
