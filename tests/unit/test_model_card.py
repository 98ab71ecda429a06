"""The HTML model card: sections, self-containment and escaping."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from threadpoolctl import threadpool_limits

from modelyard.data.quickstart import generate_quickstart_frame
from modelyard.errors import InvalidInputError
from modelyard.reports import build_card, card_limitations, render_model_card
from modelyard.spec import QUICKSTART_TEMPLATE, loads_spec, parse_spec
from modelyard.training.pipeline import run_spec

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SECTIONS = (
    "Intended use",
    "Data lineage",
    "Metrics",
    "Curves",
    "Calibration",
    "Subgroups and fairness",
    "Gates",
    "Latency",
    "Limitations",
    "Candidates",
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Single-threaded native code: OpenMP boosting slows down sharply on a busy machine."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def binary_result() -> dict[str, Any]:
    spec = loads_spec(
        QUICKSTART_TEMPLATE.replace("n_boot: 1000", "n_boot: 200")
        .replace("seeds: 3 ", "seeds: 2 ")
        .replace("{max_iter: 200, learning_rate: 0.05}", "{max_iter: 30}")
    )
    frame = generate_quickstart_frame(1000)
    return run_spec(spec, frame, latency_calls=10).to_dict()


@pytest.fixture(scope="module")
def regression_result() -> dict[str, Any]:
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    spec = parse_spec(
        {
            "task": "regression",
            "data": {"dataset": "diabetes", "target": "target"},
            "candidates": [{"name": "linear_regression"}],
            "seeds": 1,
            "evaluation": {"n_boot": 100},
            "gates": ["r2.ci_low >= 0.9"],
        }
    )
    return run_spec(spec, frame, latency_calls=10).to_dict()


def card_for(result: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    card: dict[str, Any] = dict(
        build_card(
            result,
            model_name="churn",
            model_version=3,
            dataset={"name": "quickstart", "version": 2, "digest": "sha256:ab12", "rows": 1000},
            intended_use="Rank customers by churn risk for retention calls.",
            created_at="2025-01-31T12:00:00Z",
            run_id="run-1",
            code_version="abc123",
        )
    )
    card.update(overrides)
    return card


class _Collector(HTMLParser):
    """Collects tags and attributes; fails on unbalanced container tags."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "rect", "line", "circle", "polyline"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()


def parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    assert collector.stack == []
    return collector


def test_card_has_every_section(binary_result: dict[str, Any]) -> None:
    page = render_model_card(card_for(binary_result))
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Model card: churn:3</title>" in page
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == list(SECTIONS)
    for text in (
        "Rank customers by churn risk",
        "quickstart:2",
        "sha256:ab12",
        "ROC curve (AUC",
        "Precision-recall curve",
        "Reliability (calibration)",
        "Confusion matrix (holdout)",
        "mean ± sd across seeds",
        "baseline (majority)",
        "holdout excluded from training",
        "yes (checked)",
        "stratified",
        "p99 (ms)",
        "fairness.sex.dp_diff &lt;= 0.1",
    ):
        assert text in page, text
    assert page.count("<svg") == 3
    parse(page)


def test_metrics_table_shows_values_and_confidence_intervals(binary_result: dict[str, Any]) -> None:
    page = render_model_card(card_for(binary_result))
    roc = binary_result["metrics"]["roc_auc"]
    assert f"{roc['value']:.3f}" in page
    assert f"{roc['ci_low']:.3f} – {roc['ci_high']:.3f}" in page
    assert "roc_auc (primary)" in page
    summary = binary_result["seed_summary"]["roc_auc"]
    assert f"{summary['mean']:.3f} ± {summary['sd']:.3f} (n=2)" in page


def test_gate_results_show_pass_fail_actual_and_threshold(binary_result: dict[str, Any]) -> None:
    page = render_model_card(card_for(binary_result))
    rows = re.findall(r"<tr><td><span class=\"verdict-(pass|fail)\">.*?</tr>", page)
    assert len(rows) == len(binary_result["gate_results"])
    failed = [g for g in binary_result["gate_results"] if not g["passed"]]
    badge = (
        f"{len(failed)} of {len(rows)} gates failed" if failed else f"all {len(rows)} gates passed"
    )
    assert badge in page
    assert "0.700" in page  # the roc_auc.ci_low threshold


def test_card_loads_nothing_from_anywhere(binary_result: dict[str, Any]) -> None:
    page = render_model_card(card_for(binary_result))
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "@import" not in page and "url(" not in page
    for tag, attrs in parse(page).tags:
        assert tag not in ("script", "link", "img", "iframe", "object", "embed"), tag
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)


def test_hostile_text_is_escaped(binary_result: dict[str, Any]) -> None:
    result = copy.deepcopy(binary_result)
    result["fairness"]["sex"]["groups"][HOSTILE] = {"n": 3, "small": True, "tpr": 0.5}
    result["fairness"]["sex"]["small_groups"] = [HOSTILE]
    result["candidates"][0]["key"] = HOSTILE
    result["gate_results"].append(
        {"expression": HOSTILE, "passed": False, "actual": None, "threshold": 1, "message": HOSTILE}
    )
    result["feature_columns"].append(HOSTILE)
    result["notes"] = [HOSTILE]
    result["curves"]["roc"][HOSTILE] = {"fpr": [0, 1], "tpr": [0, 1]}
    result["curves"]["confusion_matrix"]["labels"] = [HOSTILE, "1"]
    card = card_for(
        result,
        model={"name": HOSTILE, "version": HOSTILE},
        intended_use=HOSTILE,
        dataset={"name": HOSTILE, "digest": '"><svg onload=alert(1)>'},
        run_id=HOSTILE,
    )
    page = render_model_card(card)
    assert "<script" not in page
    assert "<svg onload" not in page
    assert ESCAPED in page
    assert f"<title>Model card: {ESCAPED}:{ESCAPED}</title>" in page
    parse(page)


def test_limitations_are_generated(binary_result: dict[str, Any]) -> None:
    result = copy.deepcopy(binary_result)
    result["gate_results"].append(
        {
            "expression": "roc_auc >= 0.99",
            "passed": False,
            "actual": 0.8,
            "threshold": 0.99,
            "message": "roc_auc = 0.8, needs >= 0.99",
        }
    )
    result["fairness"]["sex"]["small_groups"] = ["female"]
    result["fairness"]["sex"]["groups"]["female"]["small"] = True
    result["metrics"]["pr_auc"].update(ci_low=0.4, ci_high=0.8)
    result["metrics"]["ece"]["value"] = 0.12
    card = card_for(result, intended_use=None)
    bullets = card_limitations(card)
    text = "\n".join(bullets)
    assert "No intended use was documented" in text
    assert "Gate 'roc_auc >= 0.99' failed" in text
    assert "Group(s) female of sex have fewer than 30 holdout rows" in text
    assert "CI of pr_auc is wide (0.400 to 0.800)" in text
    assert "Expected calibration error is 0.120" in text
    assert "measured in-process on single rows" in text
    page = render_model_card(card)
    assert "Gate &#x27;roc_auc &gt;= 0.99&#x27; failed" in page
    assert "⚠ small" in page


def test_calibration_section_reports_ece_before_and_after(binary_result: dict[str, Any]) -> None:
    result = copy.deepcopy(binary_result)
    result["calibration"] = {
        "method": "isotonic",
        "ece_before": 0.08,
        "ece_after": 0.02,
        "n": 200,
        "n_bins": 10,
        "fitted_on": "validation",
        "n_fit": 100,
    }
    page = render_model_card(card_for(result))
    assert "ECE before (holdout)" in page and "0.080" in page and "0.020" in page
    assert "isotonic" in page
    assert any("calibrated (isotonic)" in b for b in card_limitations(card_for(result)))


def test_regression_card(regression_result: dict[str, Any]) -> None:
    page = render_model_card(card_for(regression_result))
    assert "Predicted vs actual" in page and page.count("<svg") == 1
    assert "ROC curve" not in page and "Confusion matrix" not in page
    assert "baseline (mean)" in page and "r2 (primary)" in page
    assert "mae ↓" in page
    assert "No sensitive column was declared" in page
    assert "Trained with a single seed" in page
    assert "1 of 1 gates failed" in page
    parse(page)


def test_minimal_card_renders_with_placeholders() -> None:
    page = render_model_card({"model": {"name": "m", "version": 1}, "result": {}})
    assert page.count("Not available.") >= 4
    assert "No gates were declared." in page
    assert "no gates declared" in page
    parse(page)


@pytest.mark.parametrize("card", [{}, {"model": {"name": "m"}}, {"model": "m:1", "result": {}}])
def test_card_needs_a_model_identity(card: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as info:
        render_model_card(card)
    assert info.value.field == "model"


def test_beats_gate_reference_is_named_as_a_limitation(binary_result: dict[str, Any]) -> None:
    result = copy.deepcopy(binary_result)
    assert not any(
        "beats" in b for b in card_limitations(card_for(result))
    )  # no production reference recorded: nothing to say
    result["production_reference"] = {"ref": "churn:1", "source": "registered metrics"}
    text = "\n".join(card_limitations(card_for(result)))
    assert (
        "'beats' gates compared with churn:1 using its registered metrics, measured on its "
        "own holdout rather than this one" in text
    )
