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
from modelyard.training.search import CandidateSearch, TrialRecord

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
    "Hyperparameter search",
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


# --- the hyperparameter search ------------------------------------------------------------


def search_of(
    candidate: str,
    scores: list[float | None],
    *,
    direction: str = "maximize",
    params: dict[str, Any] | None = None,
    stopped_by: str = "trials",
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """A report ``search`` entry (``CandidateSearch.to_dict()``): trial ``i`` scored
    ``scores[i]`` (None: failed) with ``depth = i`` and ``rate = i / 10``."""
    trials = tuple(
        TrialRecord(
            number=i,
            params=params or {"depth": i, "rate": i / 10},
            state="fail" if score is None else "complete",
            score=score,
            fold_scores=[] if score is None else [score - 0.01, score + 0.01],
            duration_s=0.5,
            rows_sha256="ab" * 32,
            n_rows=640,
            error="fit failed" if score is None else None,
        )
        for i, score in enumerate(scores)
    )
    complete = [(s, i) for i, s in enumerate(scores) if s is not None]
    best_score, best = max(complete) if direction == "maximize" else min(complete)
    return CandidateSearch(
        candidate=candidate,
        metric="roc_auc" if direction == "maximize" else "log_loss",
        direction=direction,
        cv_folds=3,
        seed=7,
        trials_budget=len(scores) + 1,
        timeout_s=timeout_s,
        stopped_by=stopped_by,
        trials=trials,
        best_trial=best,
        best_params=dict(trials[best].params),
        best_score=best_score,
        duration_s=12.5,
    ).to_dict()


def search_section(page: str) -> str:
    start = page.index('<section id="hyperparameter-search">')
    return page[start : page.index("</section>", start)]


def trial_rows(section: str) -> list[list[str]]:
    """The cells of each row of the trials tables (header rows excluded)."""
    tables = re.findall(r"<tbody>(.*?)</tbody>", section)
    return [
        re.findall(r"<td>(.*?)</td>", row)
        for table in tables
        for row in re.findall(r"<tr>(.*?)</tr>", table)
    ]


def test_search_section_shows_sampler_budget_best_trial_and_the_top_trials(
    binary_result: dict[str, Any],
) -> None:
    result = copy.deepcopy(binary_result)
    # 14 trials: 12 scored (trial 5 best), 2 failed; the run stopped at its timeout
    scores: list[float | None] = [0.80 + 0.001 * i for i in range(14)]
    scores[5], scores[3], scores[9] = 0.95, None, None
    searched = search_of("hist_gradient_boosting", scores, stopped_by="timeout", timeout_s=60.0)
    result["search"] = [searched]
    result["best_candidate"] = "hist_gradient_boosting"
    runs = [
        {"candidate": "hist_gradient_boosting", "trial": i, "run_id": f"run{i:02d}" + "f" * 26}
        for i in range(14)
    ]
    card = card_for(result, trial_runs=runs)
    page = render_model_card(card)
    section = search_section(page)
    for text in (
        "<h3>hist_gradient_boosting (selected)</h3>",
        "Optuna TPESampler, seed 7",
        "15 trials, no new trial after 60 s",
        "14 (stopped by the timeout); 2 failed",
        "roc_auc (maximize), 3-fold CV on 640 training rows",
        "#5 (run run05" + "f" * 26 + ")",
        "<td>0.9500</td>",
        "depth=5, rate=0.5",
        "The best 10 of 12 scored trials, best first; 2 more not shown; 2 failed trial(s)",
        "cross-validation on the training rows only",
    ):
        assert text in section, text
    rows = trial_rows(section)
    assert len(rows) == 10  # capped
    assert rows[0][:3] == ["1", "#5 ★ best", "0.9500"]
    shown = [float(r[2]) for r in rows]
    assert shown == sorted(shown, reverse=True)
    assert {r[1] for r in rows}.isdisjoint({"#3", "#9"})  # failed trials have no score
    assert rows[0][3] == "0.9400 – 0.9600"  # fold range
    assert rows[0][4:6] == ["5", "0.5"]  # one column per searched parameter
    assert rows[0][-1] == "run05fffffff"  # the trial's child run
    parse(page)


def test_search_section_ranks_a_minimised_metric_lowest_first(
    binary_result: dict[str, Any],
) -> None:
    result = copy.deepcopy(binary_result)
    result["search"] = [
        search_of("logistic_regression", [0.5, 0.3, 0.4], direction="minimize"),
        search_of("random_forest", [0.7, 0.9], params={"max_features": 1.0}),
    ]
    section = search_section(render_model_card(card_for(result)))
    first, second = section.split("<h3>")[1:]
    assert first.startswith("logistic_regression (selected)</h3>")
    assert "log_loss (minimize)" in first
    assert [r[1] for r in trial_rows(first)] == ["#1 ★ best", "#2", "#0"]
    assert "run" not in re.findall(r"<thead>(.*?)</thead>", first)[0]  # no child runs given
    assert "max_features=1.0" in second  # a float choice is not shown as the integer 1
    assert [r[1] for r in trial_rows(second)] == ["#1 ★ best", "#0"]


def test_search_section_says_when_there_was_no_search(binary_result: dict[str, Any]) -> None:
    result = copy.deepcopy(binary_result)
    assert result["search"] == []
    section = search_section(render_model_card(card_for(result)))
    assert "No hyperparameter search" in section and "<table" not in section
    result.pop("search")  # reports recorded before searches existed
    assert "No hyperparameter search" in search_section(render_model_card(card_for(result)))


def test_search_section_escapes_names_and_values(binary_result: dict[str, Any]) -> None:
    result = copy.deepcopy(binary_result)
    result["search"] = [search_of(HOSTILE, [0.8, 0.9], params={HOSTILE: HOSTILE})]
    card = card_for(result, trial_runs=[{"candidate": HOSTILE, "trial": 1, "run_id": HOSTILE}])
    page = render_model_card(card)
    section = search_section(page)
    assert "<script" not in page
    assert f"<h3>{ESCAPED}</h3>" in section
    assert f"<th>{ESCAPED}</th>" in section and f"{ESCAPED}={ESCAPED}" in section
    assert f"#1 (run {ESCAPED})" in section
    parse(page)


def test_card_records_training_on_data_that_failed_its_expectations(
    binary_result: dict[str, Any],
) -> None:
    result = copy.deepcopy(binary_result)
    result["expectations"] = {"passed": True, "overridden": False, "violations": []}
    page = render_model_card(card_for(result))
    assert "<th>declared expectations</th><td>all met</td>" in page
    assert not any("expectations" in b for b in card_limitations(card_for(result)))
    result["expectations"] = {
        "passed": False,
        "overridden": True,
        "source": "modelyard.yaml",
        "violations": [{"column": "region", "rule": "allowed", "count": 2}],
    }
    page = render_model_card(card_for(result))
    assert "FAILED: region: allowed (2 rows) -- training forced" in page
    assert any(
        "failed its declared expectations (region: allowed (2 rows))" in b
        for b in card_limitations(card_for(result))
    )
