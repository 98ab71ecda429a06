"""``modelyard train`` refuses a dataset version that fails the spec's expectations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from modelyard.cli.main import app
from modelyard.data.quickstart import write_quickstart_csv
from modelyard.errors import InvalidInputError
from modelyard.settings import Settings
from modelyard.spec import spec_template
from modelyard.training.spec_service import SpecTrainingService
from modelyard.workspace import Workspace

#: What version 2 breaks: ``age`` max 100 on 3 rows, ``region`` allowed values on 2.
VIOLATIONS = [
    {"column": "age", "rule": "max", "count": 3},
    {"column": "region", "rule": "allowed", "count": 2},
]


def write_spec(path: Path, **data: Any) -> Path:
    """The template, made fast: one candidate, one seed, few bootstrap resamples."""
    spec = yaml.safe_load(spec_template())
    spec["candidates"] = [{"name": "logistic_regression", "params": {"C": 1.0}}]
    spec["seeds"] = 1
    spec["evaluation"]["n_boot"] = 50
    spec["gates"] = ["roc_auc.ci_low >= 0.5"]
    spec["data"].update(data)
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def bad_latest(cli: CliRunner, tmp_path: Path) -> Path:
    """quickstart:1 meets the template's expectations; quickstart:2 (the latest) does not."""
    csv = write_quickstart_csv(tmp_path / "q.csv", n_rows=600)
    frame = pd.read_csv(csv)
    frame.loc[[3, 7], "region"] = "mars"
    frame.loc[[1, 2, 5], "age"] = 150
    frame.to_csv(tmp_path / "bad.csv", index=False)
    for path in (csv, tmp_path / "bad.csv"):
        added = cli.invoke(app, ["datasets", "add", str(path), "--name", "quickstart"])
        assert added.exit_code == 0, added.output  # no spec yet: nothing to violate
    return write_spec(tmp_path / "modelyard.yaml")


def state(cli: CliRunner, home: Path) -> tuple[Any, Any, list[Path]]:
    """Runs, models and stored artifacts: what a refused train must leave unchanged."""
    runs = json.loads(cli.invoke(app, ["runs", "list", "--json"]).stdout)
    models = json.loads(cli.invoke(app, ["models", "list", "--json"]).stdout)
    return runs, models, sorted((home / "artifacts").rglob("*"))


def train(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, ["train", *args])


def test_spec_training_refuses_a_version_that_fails_its_expectations(
    cli: CliRunner, bad_latest: Path, tmp_path: Path
) -> None:
    before = state(cli, tmp_path / "home")
    for args in ([], ["--json"]):
        refused = train(cli, *args)
        assert refused.exit_code == 2, refused.output
        message = " ".join(refused.output.split())  # unwrap the console's line breaks
        assert message.startswith(
            "error: dataset quickstart:2 fails the expectations declared in modelyard.yaml: "
            "age: max (3 rows); region: allowed (2 rows). Nothing was trained or recorded"
        )
        assert "--allow-failed-expectations" in message
        assert refused.stdout == ""  # no report, no JSON
    assert state(cli, tmp_path / "home") == before  # no run, no model version, no artifact
    assert before[:2] == ([], [])
    with Workspace(Settings(home=tmp_path / "home")) as ws:
        with pytest.raises(InvalidInputError, match="quickstart:2 fails") as info:
            SpecTrainingService(ws.store, ws.registry).train(bad_latest)
        assert info.value.field == "expectations"


def test_the_override_trains_and_records_that_it_was_used(cli: CliRunner, bad_latest: Path) -> None:
    trained = train(cli, "--allow-failed-expectations")
    assert trained.exit_code == 0, trained.output
    out = " ".join(trained.output.split())
    assert (
        "warning: trained on quickstart:2 although it fails its expectations "
        "(age: max (3); region: allowed (2)); --allow-failed-expectations is recorded" in out
    )
    assert "registered quickstart:1" in out
    (run,) = json.loads(cli.invoke(app, ["runs", "list", "--json"]).stdout)
    recorded = run["params"]["expectations"]
    assert recorded == {
        "passed": False,
        "overridden": True,
        "source": "modelyard.yaml",
        "violations": VIOLATIONS,
    }
    assert run["dataset_version"] == 2
    shown = cli.invoke(app, ["runs", "show", run["id"]])
    assert '"overridden":true' in shown.output
    carded = cli.invoke(app, ["models", "card", "quickstart:1", "--output", "card.html"])
    assert carded.exit_code == 0, carded.output
    page = Path("card.html").read_text(encoding="utf-8")
    assert "FAILED: age: max (3 rows); region: allowed (2 rows) -- training forced" in page


def test_a_version_that_meets_them_trains_and_records_that(
    cli: CliRunner, bad_latest: Path, tmp_path: Path
) -> None:
    write_spec(bad_latest, version=1)  # pin the good version
    trained = train(cli, "--json")
    assert trained.exit_code == 0, trained.output
    body = json.loads(trained.stdout)
    expected = {"passed": True, "overridden": False, "source": "modelyard.yaml", "violations": []}
    assert body["run"]["params"]["expectations"] == expected
    assert body["report"]["expectations"] == expected
    assert "warning" not in trained.output


def test_quick_training_checks_the_spec_about_its_dataset(
    cli: CliRunner, bad_latest: Path, tmp_path: Path
) -> None:
    quick = ["--dataset", "quickstart", "--target", "target"]
    refused = train(cli, *quick)
    assert refused.exit_code == 2, refused.output
    assert "dataset quickstart:2 fails the expectations declared in modelyard.yaml" in " ".join(
        refused.output.split()
    )
    assert state(cli, tmp_path / "home")[:2] == ([], [])

    forced = train(cli, *quick, "--allow-failed-expectations", "--json")
    assert forced.exit_code == 0, forced.output
    params = json.loads(forced.stdout)["run"]["params"]
    assert params["expectations"]["overridden"] is True
    assert params["expectations"]["violations"] == VIOLATIONS
    human = train(cli, *quick, "--allow-failed-expectations")
    assert human.exit_code == 0, human.output
    assert (
        "warning: trained on quickstart:2 although it fails its expectations "
        "(age: max (3); region: allowed (2))" in " ".join(human.output.split())
    )

    # a spec about another dataset, or none, says nothing about quickstart
    write_spec(tmp_path / "other.yaml", dataset="other")
    elsewhere = train(cli, *quick, "--spec", "other.yaml", "--json")
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "expectations" not in json.loads(elsewhere.stdout)["run"]["params"]
    bad_latest.unlink()
    unchecked = train(cli, *quick, "--json")
    assert unchecked.exit_code == 0, unchecked.output
    assert "expectations" not in json.loads(unchecked.stdout)["run"]["params"]
